//! The KServe V2 / Open Inference Protocol endpoints under `/v2`: health, server and model
//! metadata, readiness, infer, and the model repository extension. Each handler parses, calls
//! the serving runtime once and maps the result; compute happens on the model's batcher thread.

use crate::AppState;
use crate::error::ApiError;
use aiaas_serve::v2::{InferRequest, InferResponse, ModelMetadata};
use aiaas_serve::{LoadedModel, ModelPool, ServeError};
use aiaas_types::ModelName;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;

type Result<T> = std::result::Result<T, ApiError>;

/// The platform name models report.
const PLATFORM: &str = "aiaas";

impl From<ServeError> for ApiError {
    fn from(e: ServeError) -> Self {
        let status = match &e {
            ServeError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ServeError::NotFound(_) => StatusCode::NOT_FOUND,
            ServeError::Overloaded(_) => StatusCode::TOO_MANY_REQUESTS,
            ServeError::DeadlineExceeded(_) => StatusCode::GATEWAY_TIMEOUT,
            ServeError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ServeError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!(error = %e, "inference failed");
        }
        ApiError::new(status, e.to_string())
    }
}

fn model_name(name: String) -> Result<ModelName> {
    ModelName::new(name).map_err(|e| ApiError::new(StatusCode::NOT_FOUND, e.to_string()))
}

pub async fn live() -> Json<Value> {
    Json(json!({"live": true}))
}

/// Ready once the models the registry aliases are loaded and warm.
pub async fn ready(State(s): State<AppState>) -> Result<Json<Value>> {
    if !s.ready.load(Ordering::SeqCst) {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the registered models are still loading",
        ));
    }
    s.platform.health().await?;
    Ok(Json(json!({"ready": true})))
}

pub async fn server_metadata() -> Json<Value> {
    Json(json!({
        "name": "aiaas",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": ["model_repository"],
    }))
}

async fn metadata(
    s: &AppState,
    name: String,
    version: Option<String>,
) -> Result<Json<ModelMetadata>> {
    let name = model_name(name)?;
    let model = s.pool.get(&name, version.as_deref()).await?;
    let record = s.platform.model(&name).await?;
    Ok(Json(ModelMetadata {
        name: name.to_string(),
        versions: record
            .versions
            .iter()
            .map(|v| v.version.to_string())
            .collect(),
        platform: PLATFORM,
        inputs: model.signature.inputs.clone(),
        outputs: model.signature.outputs.clone(),
    }))
}

pub async fn model_metadata(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ModelMetadata>> {
    metadata(&s, name, None).await
}

pub async fn version_metadata(
    State(s): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<ModelMetadata>> {
    metadata(&s, name, Some(version)).await
}

fn readiness(model: &LoadedModel) -> Json<Value> {
    Json(json!({"name": model.name, "version": model.version.to_string(), "ready": true}))
}

pub async fn model_ready(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>> {
    Ok(readiness(&*s.pool.get(&model_name(name)?, None).await?))
}

pub async fn version_ready(
    State(s): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Value>> {
    Ok(readiness(
        &*s.pool.get(&model_name(name)?, Some(&version)).await?,
    ))
}

async fn run(
    pool: &ModelPool,
    name: String,
    version: Option<String>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Json<InferResponse>> {
    let name = model_name(name)?;
    let request: InferRequest = serde_json::from_slice(&body?).map_err(|e| {
        ApiError::bad_request(format!("the request body is not a V2 infer request: {e}"))
    })?;
    Ok(Json(
        aiaas_serve::infer(pool, &name, version.as_deref(), request).await?,
    ))
}

pub async fn model_infer(
    State(s): State<AppState>,
    Path(name): Path<String>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Json<InferResponse>> {
    run(&s.pool, name, None, body).await
}

pub async fn version_infer(
    State(s): State<AppState>,
    Path((name, version)): Path<(String, String)>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Json<InferResponse>> {
    run(&s.pool, name, Some(version), body).await
}

/// Repository extension: every model with its default version and whether it is loaded.
pub async fn repository_index(State(s): State<AppState>) -> Result<Json<Value>> {
    let loaded: Vec<Arc<LoadedModel>> = s.pool.loaded();
    let models = s.platform.models().await?;
    let index: Vec<Value> = models
        .iter()
        .map(|m| {
            let ready = loaded.iter().any(|l| l.name == m.name);
            json!({
                "name": m.name,
                "version": m.latest_version.map(|v| v.to_string()),
                "state": if ready { "READY" } else { "UNAVAILABLE" },
                "reason": if ready { "" } else { "not loaded" },
            })
        })
        .collect();
    Ok(Json(Value::Array(index)))
}

pub async fn repository_load(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>> {
    let model = s.pool.get(&model_name(name)?, None).await?;
    Ok(readiness(&model))
}

pub async fn repository_unload(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>> {
    let name = model_name(name)?;
    s.platform.model(&name).await?;
    let versions = s.pool.unload(&name);
    Ok(Json(json!({"name": name, "unloaded_versions": versions})))
}
