//! The KServe V2 / Open Inference Protocol endpoints under `/v2`: health, server and model
//! metadata, readiness, infer, and the model repository extension. Each handler parses, calls
//! the serving runtime once and maps the result; compute happens on the model's batcher thread.

use crate::AppState;
use crate::error::{ApiError, ErrorCode};
use aiaas_serve::v2::{InferRequest, ModelMetadata};
use aiaas_serve::{LoadedModel, ModelPool, ServeError, VersionState};
use aiaas_types::{ModelName, Version};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

type Result<T> = std::result::Result<T, V2Error>;

/// The platform name models report.
const PLATFORM: &str = "aiaas";

/// An error of a V2 endpoint: the status comes from the one error table, the body keeps
/// Triton's shape, `{"error": "..."}`, which V2 clients read.
#[derive(Debug)]
pub struct V2Error(ApiError);

impl<E: Into<ApiError>> From<E> for V2Error {
    fn from(e: E) -> Self {
        V2Error(e.into())
    }
}

impl IntoResponse for V2Error {
    fn into_response(self) -> Response {
        (self.0.status(), Json(json!({"error": self.0.message}))).into_response()
    }
}

fn model_name(name: String) -> std::result::Result<ModelName, ApiError> {
    ModelName::new(name).map_err(|e| ApiError::new(ErrorCode::ModelNotFound, e.to_string()))
}

/// The version of model `name` that would answer (loaded now if it is not), for readiness and
/// the repository's load (REST and gRPC).
pub(crate) async fn loaded(
    s: &AppState,
    name: String,
    version: Option<&str>,
) -> std::result::Result<Arc<LoadedModel>, ApiError> {
    Ok(s.pool.get(&model_name(name)?, version).await?)
}

pub async fn live() -> Json<Value> {
    Json(json!({"live": true}))
}

/// Ready once the models the registry aliases are loaded and warm.
pub async fn ready(State(s): State<AppState>) -> Result<Json<Value>> {
    check_ready(&s).await?;
    Ok(Json(json!({"ready": true})))
}

/// Whether the server is ready (REST and gRPC): the aliased models loaded, the registry up.
pub(crate) async fn check_ready(s: &AppState) -> std::result::Result<(), ApiError> {
    if !s.ready.load(Ordering::SeqCst) {
        return Err(ApiError::new(
            ErrorCode::Unavailable,
            "not ready: the registered models are still loading",
        ));
    }
    Ok(s.platform.health().await?)
}

/// The server's name, as its metadata gives it.
pub(crate) const SERVER_NAME: &str = "aiaas";

pub async fn server_metadata() -> Json<Value> {
    Json(json!({
        "name": SERVER_NAME,
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": ["model_repository", "binary_tensor_data"],
    }))
}

/// A model's metadata (REST and gRPC): the loaded version's signature, the model's versions.
pub(crate) async fn metadata(
    s: &AppState,
    name: String,
    version: Option<String>,
) -> std::result::Result<ModelMetadata, ApiError> {
    let name = model_name(name)?;
    // Both from memory once read: the loaded version and the model's version numbers.
    let model = s.pool.get(&name, version.as_deref()).await?;
    let versions = s.pool.versions(&name).await?;
    Ok(ModelMetadata {
        name: name.to_string(),
        versions: versions.iter().map(Version::to_string).collect(),
        platform: PLATFORM,
        inputs: model.inputs().to_vec(),
        outputs: model.outputs().to_vec(),
    })
}

pub async fn model_metadata(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ModelMetadata>> {
    Ok(Json(metadata(&s, name, None).await?))
}

pub async fn version_metadata(
    State(s): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<ModelMetadata>> {
    Ok(Json(metadata(&s, name, Some(version)).await?))
}

fn readiness(model: &LoadedModel) -> Json<Value> {
    Json(json!({"name": model.name, "version": model.version.to_string(), "ready": true}))
}

pub async fn model_ready(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>> {
    Ok(readiness(&*loaded(&s, name, None).await?))
}

pub async fn version_ready(
    State(s): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Value>> {
    Ok(readiness(&*loaded(&s, name, Some(&version)).await?))
}

/// The header of Triton's binary tensor extension: the JSON part's length.
const HEADER_LENGTH: &str = "inference-header-content-length";

async fn run(
    pool: &ModelPool,
    name: String,
    version: Option<String>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let started = std::time::Instant::now();
    let arriving = pool.arriving(&name);
    let body = match body {
        Ok(body) => body,
        // Over the limit (413) or unreadable: counted as a bad request, answered as axum says.
        Err(e) => {
            let counted = ServeError::BadRequest(e.body_text());
            aiaas_serve::count_refused(pool, None, &counted, started);
            return Err(e.into());
        }
    };
    let parsed = parse_call(name, &headers, &body);
    let (name, request) = match parsed {
        Ok(call) => call,
        Err((name, e)) => {
            aiaas_serve::count_refused(pool, name.as_ref(), &e, started);
            return Err(e.into());
        }
    };
    let binary_outputs = request.binary_outputs();
    let mut response =
        aiaas_serve::infer(pool, &name, version.as_deref(), request, arriving).await?;
    let binary = response.take_binary(&binary_outputs);
    let json = serde_json::to_vec(&response).expect("responses serialize");
    if binary.is_empty() {
        return Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response());
    }
    let json_length = json.len().to_string();
    let mut body = json;
    body.extend_from_slice(&binary);
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (HeaderName::from_static(HEADER_LENGTH), json_length),
        ],
        body,
    )
        .into_response())
}

/// The model name and request of an infer call, or why it cannot be one (with the name, when
/// it was valid, for counting).
fn parse_call(
    name: String,
    headers: &HeaderMap,
    body: &[u8],
) -> std::result::Result<(ModelName, InferRequest), (Option<ModelName>, ServeError)> {
    let name = ModelName::new(name).map_err(|e| (None, ServeError::NotFound(e.to_string())))?;
    let refuse = |m: String| (Some(name.clone()), ServeError::BadRequest(m));
    let header_length = match headers.get(HEADER_LENGTH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| {
                    refuse("Inference-Header-Content-Length must be a byte count".into())
                })?,
        ),
    };
    let mut request = InferRequest::parse(body, header_length).map_err(refuse)?;
    // A `timeout` header (microseconds) stands for the parameter when the body has none.
    if let Some(timeout) = headers.get("timeout") {
        let micros: u64 = timeout
            .to_str()
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| {
                refuse("the timeout header must be whole microseconds, e.g. 5000".into())
            })?;
        request
            .parameters
            .get_or_insert_with(Default::default)
            .entry("timeout")
            .or_insert(json!(micros));
    }
    Ok((name, request))
}

pub async fn model_infer(
    State(s): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    run(&s.pool, name, None, headers, body).await
}

pub async fn version_infer(
    State(s): State<AppState>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    run(&s.pool, name, Some(version), headers, body).await
}

/// One version in the repository's index.
pub(crate) struct IndexEntry {
    pub name: ModelName,
    /// The version, if the model has any.
    pub version: Option<Version>,
    pub state: VersionState,
    /// Bytes it holds, when loaded.
    pub memory_bytes: Option<usize>,
}

impl IndexEntry {
    /// Triton's `state`: `READY`, `LOADING` or `UNAVAILABLE`.
    pub fn triton_state(&self) -> &'static str {
        match self.state {
            VersionState::Ready => "READY",
            VersionState::Loading => "LOADING",
            VersionState::Unloaded | VersionState::Evicted => "UNAVAILABLE",
        }
    }

    /// Triton's `reason`: why it is not ready, empty when it is.
    pub fn reason(&self) -> &'static str {
        match self.state {
            VersionState::Ready => "",
            VersionState::Loading => "loading",
            VersionState::Unloaded => "unloaded: its first request loads it",
            VersionState::Evicted => {
                "evicted: unloaded to stay within the memory budget; its next request loads it"
            }
        }
    }
}

/// Every model's versions the pool knows (loaded, loading or evicted) and its newest version,
/// each with its state, by model and version (REST and gRPC).
pub(crate) async fn index(s: &AppState) -> std::result::Result<Vec<IndexEntry>, ApiError> {
    let models = s.platform.models().await?;
    let known = s.pool.loaded().into_iter().map(|m| {
        let entry = (VersionState::Ready, Some(m.memory_bytes));
        ((m.name.clone(), Some(m.version)), entry)
    });
    let others = (s.pool.not_loaded().into_iter())
        .map(|(name, version, state)| ((name, Some(version)), (state, None)));
    let mut index: BTreeMap<(ModelName, Option<Version>), (VersionState, Option<usize>)> =
        known.chain(others).collect();
    // Only registered models, each with its newest version even when the pool never saw it.
    let registered: HashSet<&ModelName> = models.iter().map(|m| &m.name).collect();
    index.retain(|(name, _), _| registered.contains(name));
    for m in &models {
        let newest = (m.name.clone(), m.latest_version);
        index
            .entry(newest)
            .or_insert((VersionState::Unloaded, None));
    }
    Ok(index
        .into_iter()
        .map(|((name, version), (state, memory_bytes))| IndexEntry {
            name,
            version,
            state,
            memory_bytes,
        })
        .collect())
}

/// Repository extension: every model's known versions and newest version, with their state;
/// beside Triton's fields, `memory_bytes` for a loaded version.
pub async fn repository_index(State(s): State<AppState>) -> Result<Json<Value>> {
    let index: Vec<Value> = index(&s)
        .await?
        .iter()
        .map(|m| {
            let mut entry = json!({
                "name": m.name,
                "version": m.version.map(|v| v.to_string()),
                "state": m.triton_state(),
                "reason": m.reason(),
            });
            if let Some(bytes) = m.memory_bytes {
                entry["memory_bytes"] = json!(bytes);
            }
            entry
        })
        .collect();
    Ok(Json(Value::Array(index)))
}

pub async fn repository_load(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>> {
    Ok(readiness(&*loaded(&s, name, None).await?))
}

/// Unloads every loaded version of a registered model (REST and gRPC); how many there were.
pub(crate) async fn unload(
    s: &AppState,
    name: String,
) -> std::result::Result<(ModelName, usize), ApiError> {
    let name = model_name(name)?;
    s.platform.model(&name).await?;
    let versions = s.pool.unload(&name);
    Ok((name, versions))
}

pub async fn repository_unload(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>> {
    let (name, versions) = unload(&s, name).await?;
    Ok(Json(json!({"name": name, "unloaded_versions": versions})))
}
