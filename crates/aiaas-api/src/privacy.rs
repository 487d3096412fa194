//! What the prediction log keeps of a model's inputs (`/api/v1/models/{name}/logging`), and
//! erasing logged predictions (`DELETE /api/v1/models/{name}/predictions`).

use crate::AppState;
use crate::body::JsonBody;
use crate::error::{ApiError, ErrorBody};
use crate::monitoring::flush_log;
use aiaas_service::Platform;
use aiaas_types::{Erasure, LoggingPolicy, ModelName};
use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;

type Result<T> = std::result::Result<T, ApiError>;

/// How many logged predictions an erasure removed.
#[derive(Serialize, ToSchema)]
pub struct Erased {
    pub erased: u64,
}

#[utoipa::path(put, path = "/api/v1/models/{name}/logging", tag = "monitoring",
    params(("name" = String, Path, description = "Model name")),
    request_body(content = LoggingPolicy, description = "`{\"inputs\": \"all\"}`, \
        `{\"inputs\": \"none\"}` or `{\"inputs\": \"all_but\", \"except\": [FEATURE, ...]}`"),
    responses(
        (status = 200, description = "The policy, applied from the next logged row", body = LoggingPolicy),
        (status = 400, description = "Malformed JSON or invalid name", body = ErrorBody),
        (status = 404, description = "No such model, or one without versions", body = ErrorBody),
        (status = 422, description = "A feature the model does not have", body = ErrorBody),
    ))]
pub async fn set_logging(
    State(p): State<Platform>,
    Path(name): Path<String>,
    JsonBody(policy): JsonBody<LoggingPolicy>,
) -> Result<Json<LoggingPolicy>> {
    Ok(Json(
        p.set_logging_policy(&ModelName::new(name)?, policy).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/models/{name}/logging", tag = "monitoring",
    params(("name" = String, Path, description = "Model name")),
    responses(
        (status = 200, description = "What the prediction log keeps of the model's inputs", body = LoggingPolicy),
        (status = 400, description = "Invalid name", body = ErrorBody),
    ))]
pub async fn show_logging(
    State(p): State<Platform>,
    Path(name): Path<String>,
) -> Result<Json<LoggingPolicy>> {
    Ok(Json(p.logging_policy(&ModelName::new(name)?)))
}

#[utoipa::path(delete, path = "/api/v1/models/{name}/predictions", tag = "monitoring",
    params(("name" = String, Path, description = "Model name")),
    request_body(content = Erasure, description = "`{\"ids\": [...]}`, `{\"from_ms\", \"to_ms\"}` \
        or both: the rows that match every condition given"),
    responses(
        (status = 200, description = "Erased from the log, its quality and drift windows and the \
            database file", body = Erased),
        (status = 400, description = "Malformed JSON or invalid name", body = ErrorBody),
        (status = 404, description = "No such model", body = ErrorBody),
        (status = 422, description = "No condition, or conditions that cannot hold", body = ErrorBody),
    ))]
pub async fn erase_predictions(
    State(s): State<AppState>,
    Path(name): Path<String>,
    JsonBody(which): JsonBody<Erasure>,
) -> Result<Json<Erased>> {
    let model = ModelName::new(name)?;
    // Rows still queued for the log are written first, so that none escapes the erasure.
    flush_log(&s).await;
    let erased = s.platform.erase_predictions(&model, &which).await?;
    Ok(Json(Erased { erased }))
}
