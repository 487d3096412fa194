//! Hyperparameter sweeps (`/api/v1/sweeps`): submit, list, show with the trials' table, cancel.

use crate::body::JsonBody;
use crate::error::{ApiError, ErrorBody};
use aiaas_service::{Platform, SweepDetail, SweepRecord};
use aiaas_types::{SweepId, SweepSpec};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

type Result<T> = std::result::Result<T, ApiError>;

#[utoipa::path(post, path = "/api/v1/sweeps", tag = "jobs",
    request_body(content = SweepSpec, description = "`{\"dataset\": NAME, \"base\": {TRAIN OPTIONS}, \
        \"grid\": {\"lr\": [0.1, 0.01], \"hidden\": [[32], [32, 32]]}}`, or `\"random\": {\"trials\": N, \
        \"seed\": S, \"space\": {\"lr\": {\"log_uniform\": [LOW, HIGH]}, \"batch_size\": {\"int_uniform\": \
        [LOW, HIGH]}, \"hidden\": {\"choice\": [[32], [64]]}}}` instead of `grid`; optional name (model \
        to register the best trial under), val_split, test_split, metric (accuracy|f1_macro|log_loss \
        for a classifier, r2|rmse|mae for a regression, on the validation split)"),
    responses(
        (status = 201, description = "Queued: the sweep and one train job per trial", body = SweepDetail),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 404, description = "Unknown dataset", body = ErrorBody),
        (status = 422, description = "An invalid search, option or metric", body = ErrorBody),
    ))]
pub async fn submit_sweep(
    State(p): State<Platform>,
    JsonBody(spec): JsonBody<SweepSpec>,
) -> Result<(StatusCode, Json<SweepDetail>)> {
    Ok((StatusCode::CREATED, Json(p.submit_sweep(spec).await?)))
}

#[utoipa::path(get, path = "/api/v1/sweeps", tag = "jobs",
    responses((status = 200, description = "Sweeps, newest first", body = Vec<SweepRecord>)))]
pub async fn list_sweeps(State(p): State<Platform>) -> Result<Json<Vec<SweepRecord>>> {
    Ok(Json(p.sweeps().await?))
}

#[utoipa::path(get, path = "/api/v1/sweeps/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Sweep id")),
    responses(
        (status = 200, description = "The sweep with its trials, best first", body = SweepDetail),
        (status = 400, description = "Malformed request or invalid name", body = ErrorBody),
        (status = 404, description = "No such sweep", body = ErrorBody),
    ))]
pub async fn show_sweep(
    State(p): State<Platform>,
    Path(id): Path<String>,
) -> Result<Json<SweepDetail>> {
    Ok(Json(p.sweep(&SweepId::new(id)?).await?))
}

#[utoipa::path(post, path = "/api/v1/sweeps/{id}/cancel", tag = "jobs",
    params(("id" = String, Path, description = "Sweep id")),
    responses(
        (status = 200, description = "Cancelled: queued trials at once, running ones at their next batch", body = SweepDetail),
        (status = 400, description = "Malformed request or invalid name", body = ErrorBody),
        (status = 404, description = "No such sweep", body = ErrorBody),
        (status = 409, description = "The sweep has already ended", body = ErrorBody),
    ))]
pub async fn cancel_sweep(
    State(p): State<Platform>,
    Path(id): Path<String>,
) -> Result<Json<SweepDetail>> {
    Ok(Json(p.cancel_sweep(&SweepId::new(id)?).await?))
}
