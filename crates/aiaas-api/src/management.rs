//! The management API under `/api/v1`: datasets, jobs, models. Each handler parses the request,
//! calls one service function and maps the result.

use crate::body::{FileBody, JsonBody};
use crate::error::{ApiError, ErrorBody, ErrorCode};
use aiaas_service::{
    DatasetRecord, EpochRow, JobRecord, ModelRecord, ModelSummary, Platform, VersionPage,
    VersionRecord,
};
use aiaas_types::{
    AliasName, DatasetName, JobId, JobSpec, JobState, ModelName, Task, Version, parse_version,
};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{FromRef, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::convert::Infallible;
use tokio::sync::OwnedSemaphorePermit;
use utoipa::{IntoParams, ToSchema};

type Result<T> = std::result::Result<T, ApiError>;

/// A place among the uploads in progress, taken before the body is read (extractors run in
/// argument order, the body last), so that a flood of large uploads is refused with 429
/// instead of buffered.
pub struct UploadSlot {
    _permit: OwnedSemaphorePermit,
}

impl<S: Send + Sync> FromRequestParts<S> for UploadSlot
where
    Platform: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(_: &mut Parts, state: &S) -> Result<Self> {
        Ok(UploadSlot {
            _permit: Platform::from_ref(state).upload_slot()?,
        })
    }
}

/// `GET /api/v1/health`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// A job with its per-epoch metric history.
#[derive(Serialize, ToSchema)]
pub struct JobDetail {
    #[serde(flatten)]
    pub job: JobRecord,
    pub history: Vec<EpochRow>,
    /// Its `report` event's data, once it has one: a training run's figures, baseline and
    /// diagnosis; an optimization's variant against its parent; a retrain's comparison.
    pub report: Option<serde_json::Value>,
}

/// Where an alias points now.
#[derive(Serialize, ToSchema)]
pub struct AliasMoved {
    pub model: ModelName,
    pub alias: AliasName,
    pub version: Version,
}

#[utoipa::path(get, path = "/api/v1/health", tag = "platform",
    responses((status = 200, description = "The process is up and its store answers", body = Health)))]
pub async fn health(State(p): State<Platform>) -> Result<Json<Health>> {
    p.health().await?;
    Ok(Json(Health {
        status: "ok".into(),
    }))
}

#[derive(Deserialize)]
pub struct UploadQuery {
    name: String,
    target: Option<String>,
    task: Option<Task>,
}

#[utoipa::path(post, path = "/api/v1/datasets", tag = "datasets",
    params(
        ("name" = DatasetName, Query, description = "Dataset name"),
        ("target" = Option<String>, Query, description = "Column to predict (default: `target`)"),
        ("task" = Option<Task>, Query, description = "Default: inferred"),
    ),
    request_body(content(
        (String = "text/csv"),
        (Vec<u8> = "application/octet-stream"),
        (String = "multipart/form-data"),
    ), description = "The file, the body itself or a form's file part (`curl -F file=@iris.csv`): a CSV file with a header row, a Parquet file of flat columns, or a tar (gzipped or not) or zip archive holding the four MNIST IDX files or one folder of PNG or JPEG images per class"),
    responses(
        (status = 400, description = "Malformed request or invalid name", body = ErrorBody),
        (status = 429, description = "Too many uploads or event streams in progress; retry later", body = ErrorBody),
        (status = 201, description = "Registered: schema, rows, digest, profile", body = DatasetRecord),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 413, description = "Larger than the upload limit", body = ErrorBody),
        (status = 422, description = "Not a usable dataset (the message says why)", body = ErrorBody),
    ))]
pub async fn upload_dataset(
    _slot: UploadSlot,
    State(p): State<Platform>,
    query: std::result::Result<Query<UploadQuery>, QueryRejection>,
    body: std::result::Result<FileBody, ApiError>,
) -> Result<(StatusCode, Json<DatasetRecord>)> {
    let Query(q) = query?;
    let name = DatasetName::new(q.name)?;
    let record = p.upload_dataset(&name, q.target, q.task, body?.0).await?;
    Ok((StatusCode::CREATED, Json(record)))
}

/// A dataset in a listing: everything but its schema and profile, which can be large.
#[derive(Serialize, ToSchema)]
pub struct DatasetSummary {
    pub name: DatasetName,
    pub digest: String,
    pub target: String,
    pub task: Task,
    pub rows: u64,
    pub size_bytes: u64,
    pub created_at_ms: i64,
}

impl From<DatasetRecord> for DatasetSummary {
    fn from(d: DatasetRecord) -> Self {
        DatasetSummary {
            name: d.name,
            digest: d.digest,
            target: d.target,
            task: d.task,
            rows: d.rows,
            size_bytes: d.size_bytes,
            created_at_ms: d.created_at_ms,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/datasets", tag = "datasets",
    responses((status = 200, description = "Every registered dataset (schema and profile: show one)", body = Vec<DatasetSummary>)))]
pub async fn list_datasets(State(p): State<Platform>) -> Result<Json<Vec<DatasetSummary>>> {
    let datasets = p.datasets().await?;
    Ok(Json(datasets.into_iter().map(Into::into).collect()))
}

#[utoipa::path(get, path = "/api/v1/datasets/{name}", tag = "datasets",
    params(("name" = String, Path, description = "Dataset name")),
    responses(
        (status = 400, description = "Malformed request or invalid name", body = ErrorBody),
        (status = 200, description = "Schema, rows, digest and profile", body = DatasetRecord),
        (status = 404, description = "No such dataset", body = ErrorBody),
    ))]
pub async fn show_dataset(
    State(p): State<Platform>,
    Path(name): Path<String>,
) -> Result<Json<DatasetRecord>> {
    Ok(Json(p.dataset(&DatasetName::new(name)?).await?))
}

#[utoipa::path(delete, path = "/api/v1/datasets/{name}", tag = "datasets",
    params(("name" = String, Path, description = "Dataset name")),
    responses(
        (status = 400, description = "Malformed request or invalid name", body = ErrorBody),
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such dataset", body = ErrorBody),
        (status = 409, description = "A model version was trained on it", body = ErrorBody),
    ))]
pub async fn delete_dataset(
    State(p): State<Platform>,
    Path(name): Path<String>,
) -> Result<StatusCode> {
    p.delete_dataset(&DatasetName::new(name)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/jobs", tag = "jobs",
    request_body(content = JobSpec, description = "`{\"kind\": \"train\", \"dataset\": NAME, ...}` with \
        the fields of `aiaas train`: name (model to register under), val_split, test_split, model \
        (linear|logistic|mlp), hidden, activation, loss, optimizer (gd|sgd|adam|adamw|lbfgs; default \
        lbfgs for linear and logistic models, else adam), lr, momentum, nesterov, weight_decay, c \
        (lbfgs's L2 penalty as scikit-learn's C), tolerance (lbfgs's gradient tolerance), schedule, \
        batch_size, epochs, patience, restore_best, seed"),
    responses(
        (status = 201, description = "Queued", body = JobRecord),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 404, description = "Unknown dataset", body = ErrorBody),
        (status = 422, description = "Invalid fields or hyperparameters", body = ErrorBody),
    ))]
pub async fn submit_job(
    State(p): State<Platform>,
    JsonBody(spec): JsonBody<JobSpec>,
) -> Result<(StatusCode, Json<JobRecord>)> {
    Ok((StatusCode::CREATED, Json(p.submit_job(spec).await?)))
}

#[derive(Deserialize)]
pub struct JobsQuery {
    state: Option<JobState>,
}

#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs",
    params(("state" = Option<JobState>, Query, description = "Only jobs in this state")),
    responses((status = 200, description = "Jobs, newest first", body = Vec<JobRecord>)))]
pub async fn list_jobs(
    State(p): State<Platform>,
    query: std::result::Result<Query<JobsQuery>, QueryRejection>,
) -> Result<Json<Vec<JobRecord>>> {
    let Query(q) = query?;
    Ok(Json(p.jobs(q.state).await?))
}

/// An alias to set: a name that starts with a letter.
fn alias_name(alias: String) -> Result<AliasName> {
    let alias = AliasName::new(alias)?;
    if !aiaas_types::is_alias(&alias) {
        return Err(ApiError::bad_request(format!(
            "alias {alias:?} does not start with a letter; an alias must, so that it never reads \
             as a version number"
        )));
    }
    Ok(alias)
}

/// A tag key, checked.
fn tag_key(key: &str) -> Result<&str> {
    if !aiaas_types::is_tag_key(key) {
        return Err(ApiError::bad_request(format!(
            "a tag key is 1 to {} of A-Z a-z 0-9 _ . : -; {:?} is not",
            aiaas_types::MAX_TAG_KEY_LEN,
            key.chars().take(40).collect::<String>()
        )));
    }
    Ok(key)
}

fn job_id(id: String) -> Result<JobId> {
    Ok(JobId::new(id)?)
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 400, description = "Malformed request or invalid name", body = ErrorBody),
        (status = 200, description = "The job, with its per-epoch metric history and its report", body = JobDetail),
        (status = 404, description = "No such job", body = ErrorBody),
    ))]
pub async fn show_job(
    State(p): State<Platform>,
    Path(id): Path<String>,
) -> Result<Json<JobDetail>> {
    let id = job_id(id)?;
    let job = p.job(&id).await?;
    let history = p.job_metrics(&id).await?;
    let report = p.job_report(&id).await?;
    Ok(Json(JobDetail {
        job,
        history,
        report,
    }))
}

#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 400, description = "Malformed request or invalid name", body = ErrorBody),
        (status = 200, description = "Cancelled, or cancelling at the next batch", body = JobRecord),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "The job has already finished", body = ErrorBody),
    ))]
pub async fn cancel_job(
    State(p): State<Platform>,
    Path(id): Path<String>,
) -> Result<Json<JobRecord>> {
    Ok(Json(p.cancel_job(&job_id(id)?).await?))
}

#[derive(Deserialize)]
pub struct EventsQuery {
    after: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}/events", tag = "jobs",
    params(
        ("id" = String, Path, description = "Job id"),
        ("after" = Option<i64>, Query, description = "Only events after this sequence number (or send Last-Event-ID)"),
    ),
    responses(
        (status = 400, description = "Malformed request or invalid name", body = ErrorBody),
        (status = 429, description = "Too many uploads or event streams in progress; retry later", body = ErrorBody),
        (status = 200, description = "Server-sent events: queued, started, resumed, epoch, checkpoint, \
            suspended, requeued, report (a train or optimize job's report), succeeded, failed, cancelled; \
            each `data` is the event as JSON, its `id` the sequence number. The stream ends after the final event.", content_type = "text/event-stream"),
        (status = 404, description = "No such job", body = ErrorBody),
    ))]
pub async fn job_events(
    State(p): State<Platform>,
    Path(id): Path<String>,
    headers: HeaderMap,
    query: std::result::Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Response> {
    let Query(q) = query?;
    let last_seen = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let after = q.after.or(last_seen).unwrap_or(0);
    let events = p.job_events(&job_id(id)?, after).await?;
    let stream = events.map(|event| {
        Ok::<_, Infallible>(match event {
            Ok(e) => Event::default()
                .id(e.seq.to_string())
                .event(e.kind.clone())
                .json_data(&e)
                .expect("events serialize"),
            Err(e) => Event::default()
                .event("error")
                .json_data(json!({"error": e.to_string()}))
                .expect("errors serialize"),
        })
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/models", tag = "models",
    responses((status = 200, description = "Every model: task, latest version, aliases", body = Vec<ModelSummary>)))]
pub async fn list_models(State(p): State<Platform>) -> Result<Json<Vec<ModelSummary>>> {
    Ok(Json(p.models().await?))
}

/// Which versions a model's listing holds (all by default).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionsQuery {
    /// Only versions numbered below this one.
    #[param(minimum = 1, maximum = 2_147_483_647)]
    before: Option<u32>,
    /// At most this many versions, the newest; `version_count` says how many exist.
    #[param(minimum = 1, maximum = 1_000_000)]
    limit: Option<u32>,
}

/// The most versions one listing is asked for.
const MAX_LISTED_VERSIONS: u32 = 1_000_000;

#[utoipa::path(get, path = "/api/v1/models/{name}", tag = "models",
    params(
        ("name" = String, Path, description = "Model name"),
        VersionsQuery,
    ),
    responses(
        (status = 400, description = "Malformed request or invalid name", body = ErrorBody),
        (status = 200, description = "The model with its versions (summaries: lineage, size, metrics; no manifests), oldest first, and aliases", body = ModelRecord),
        (status = 404, description = "No such model", body = ErrorBody),
    ))]
pub async fn show_model(
    State(p): State<Platform>,
    Path(name): Path<String>,
    query: std::result::Result<Query<VersionsQuery>, QueryRejection>,
) -> Result<Json<ModelRecord>> {
    let name = ModelName::new(name)?;
    let Query(q) = query?;
    if q.limit
        .is_some_and(|l| !(1..=MAX_LISTED_VERSIONS).contains(&l))
    {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("limit must be 1 to {MAX_LISTED_VERSIONS} (leave it out for every version)"),
        ));
    }
    if q.before.is_some_and(|b| b == 0 || b > i32::MAX as u32) {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "before must be a version number, 1 to 2147483647",
        ));
    }
    let page = VersionPage {
        before: q.before.map(Version::new),
        limit: q.limit,
    };
    Ok(Json(p.model_page(&name, page).await?))
}

#[utoipa::path(get, path = "/api/v1/models/{name}/versions/{version}", tag = "models",
    params(
        ("name" = String, Path, description = "Model name"),
        ("version" = String, Path, description = "Version number or alias"),
    ),
    responses(
        (status = 400, description = "Malformed request or invalid name", body = ErrorBody),
        (status = 200, description = "The version: metrics, lineage, and its manifest without the training data's profile (at .../profile; the whole manifest at .../manifest)", body = VersionRecord),
        (status = 404, description = "No such model or version", body = ErrorBody),
    ))]
pub async fn show_version(
    State(p): State<Platform>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<VersionRecord>> {
    let mut record = p.version(&ModelName::new(name)?, &version).await?;
    if let Some(manifest) = record.manifest.as_object_mut() {
        manifest.remove(PROFILE);
    }
    Ok(Json(record))
}

/// The manifest's field that holds the training data's profile: per feature, the quantiles,
/// histograms and counts drift is measured against (most of a manifest's size).
const PROFILE: &str = "profile";

#[utoipa::path(get, path = "/api/v1/models/{name}/versions/{version}/manifest", tag = "models",
    params(
        ("name" = String, Path, description = "Model name"),
        ("version" = String, Path, description = "Version number or alias"),
    ),
    responses(
        (status = 400, description = "Malformed request or invalid name", body = ErrorBody),
        (status = 200, description = "The version's manifest.json, whole (schema, training, metrics, lineage, profile)", body = Object),
        (status = 404, description = "No such model or version", body = ErrorBody),
    ))]
pub async fn show_manifest(
    State(p): State<Platform>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>> {
    Ok(Json(
        p.version(&ModelName::new(name)?, &version).await?.manifest,
    ))
}

#[utoipa::path(get, path = "/api/v1/models/{name}/versions/{version}/profile", tag = "models",
    params(
        ("name" = String, Path, description = "Model name"),
        ("version" = String, Path, description = "Version number or alias"),
    ),
    responses(
        (status = 400, description = "Malformed request or invalid name", body = ErrorBody),
        (status = 200, description = "The training data's profile, per feature: what drift is measured against", body = Vec<Object>),
        (status = 404, description = "No such model or version", body = ErrorBody),
    ))]
pub async fn show_profile(
    State(p): State<Platform>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>> {
    let mut record = p.version(&ModelName::new(name)?, &version).await?;
    let profile = record
        .manifest
        .as_object_mut()
        .and_then(|m| m.remove(PROFILE));
    Ok(Json(profile.unwrap_or_else(|| json!([]))))
}

/// Where an alias should point.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AliasBody {
    pub version: Version,
}

#[utoipa::path(put, path = "/api/v1/models/{name}/aliases/{alias}", tag = "models",
    params(
        ("name" = String, Path, description = "Model name"),
        ("alias" = String, Path, description = "Alias, e.g. champion"),
    ),
    request_body = AliasBody,
    responses(
        (status = 400, description = "Malformed request or invalid name", body = ErrorBody),
        (status = 415, description = "The body is not sent as application/json", body = ErrorBody),
        (status = 200, description = "The alias points at the version", body = AliasMoved),
        (status = 404, description = "No such model or version", body = ErrorBody),
    ))]
pub async fn set_alias(
    State(p): State<Platform>,
    Path((name, alias)): Path<(String, String)>,
    JsonBody(body): JsonBody<AliasBody>,
) -> Result<Json<AliasMoved>> {
    let (model, alias) = (ModelName::new(name)?, alias_name(alias)?);
    p.set_alias(&model, &alias, body.version).await?;
    Ok(Json(AliasMoved {
        model,
        alias,
        version: body.version,
    }))
}

#[utoipa::path(delete, path = "/api/v1/models/{name}/aliases/{alias}", tag = "models",
    params(
        ("name" = String, Path, description = "Model name"),
        ("alias" = String, Path, description = "Alias to remove"),
    ),
    responses(
        (status = 204, description = "Removed; the version stays"),
        (status = 400, description = "Invalid name", body = ErrorBody),
        (status = 404, description = "No such model or alias", body = ErrorBody),
    ))]
pub async fn delete_alias(
    State(p): State<Platform>,
    Path((name, alias)): Path<(String, String)>,
) -> Result<StatusCode> {
    p.delete_alias(&ModelName::new(name)?, &AliasName::new(alias)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The model a path names, and the number of the version (or alias) it names.
async fn version_number(p: &Platform, name: String, version: &str) -> Result<(ModelName, Version)> {
    let name = ModelName::new(name)?;
    let number = p.version(&name, version).await?.summary.version;
    Ok((name, number))
}

/// A tag's new value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagBody {
    pub value: String,
}

#[utoipa::path(get, path = "/api/v1/models/{name}/versions/{version}/tags", tag = "models",
    params(
        ("name" = String, Path, description = "Model name"),
        ("version" = String, Path, description = "Version number or alias"),
    ),
    responses(
        (status = 200, description = "The version's tags, by key", body = BTreeMap<String, String>),
        (status = 400, description = "Malformed request or invalid name", body = ErrorBody),
        (status = 404, description = "No such model or version", body = ErrorBody),
    ))]
pub async fn list_tags(
    State(p): State<Platform>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<BTreeMap<String, String>>> {
    let (name, number) = version_number(&p, name, &version).await?;
    Ok(Json(p.tags(&name, number).await?))
}

#[utoipa::path(put, path = "/api/v1/models/{name}/versions/{version}/tags/{key}", tag = "models",
    params(
        ("name" = String, Path, description = "Model name"),
        ("version" = String, Path, description = "Version number or alias"),
        ("key" = String, Path, description = "Tag key; serve.max_batch, serve.max_delay_us and serve.queue_capacity tune how the version is served"),
    ),
    request_body = TagBody,
    responses(
        (status = 204, description = "Set"),
        (status = 400, description = "Malformed request or invalid name", body = ErrorBody),
        (status = 404, description = "No such model or version", body = ErrorBody),
        (status = 415, description = "The body is not sent as application/json", body = ErrorBody),
        (status = 422, description = "A serving tag out of range, or a key or value too long", body = ErrorBody),
    ))]
pub async fn set_tag(
    State(p): State<Platform>,
    Path((name, version, key)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<TagBody>,
) -> Result<StatusCode> {
    let (name, number) = version_number(&p, name, &version).await?;
    p.set_tag(&name, number, tag_key(&key)?, &body.value)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/models/{name}/versions/{version}/tags/{key}", tag = "models",
    params(
        ("name" = String, Path, description = "Model name"),
        ("version" = String, Path, description = "Version number or alias"),
        ("key" = String, Path, description = "Tag key"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "Malformed request or invalid name", body = ErrorBody),
        (status = 404, description = "No such model, version or tag", body = ErrorBody),
    ))]
pub async fn delete_tag(
    State(p): State<Platform>,
    Path((name, version, key)): Path<(String, String, String)>,
) -> Result<StatusCode> {
    let (name, number) = version_number(&p, name, &version).await?;
    p.delete_tag(&name, number, tag_key(&key)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/models/{name}/versions/{version}", tag = "models",
    params(
        ("name" = String, Path, description = "Model name"),
        ("version" = u32, Path, description = "Version number"),
    ),
    responses(
        (status = 400, description = "Malformed request or invalid name", body = ErrorBody),
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such model or version", body = ErrorBody),
        (status = 409, description = "An alias points at it", body = ErrorBody),
    ))]
pub async fn delete_version(
    State(p): State<Platform>,
    Path((name, version)): Path<(String, String)>,
) -> Result<StatusCode> {
    let number = parse_version(&version).ok_or_else(|| {
        let shown: String = version.chars().take(80).collect();
        ApiError::bad_request(format!(
            "version {shown:?} is not a version number; delete by number, not alias"
        ))
    })?;
    p.delete_version(&ModelName::new(name)?, number).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/models/{name}/versions/{version}/archive", tag = "models",
    params(
        ("name" = String, Path, description = "Model name"),
        ("version" = String, Path, description = "Version number or alias"),
    ),
    responses(
        (status = 400, description = "Malformed request or invalid name", body = ErrorBody),
        (status = 200, description = "The bundle as a tar archive (manifest.json, weights.safetensors)", content_type = "application/x-tar"),
        (status = 404, description = "No such model or version", body = ErrorBody),
    ))]
pub async fn export_version(
    State(p): State<Platform>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response> {
    let name = ModelName::new(name)?;
    let archive = p.export_version(&name, &version).await?;
    let file = format!("attachment; filename=\"{name}-{version}.tar\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-tar".to_string()),
            (header::CONTENT_DISPOSITION, file),
        ],
        archive,
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct ImportQuery {
    dataset: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/models/{name}/versions", tag = "models",
    params(
        ("name" = String, Path, description = "Model to register the upload under"),
        ("dataset" = Option<DatasetName>, Query, description = "For an ONNX graph that is a plain dense network: adopt it as a model trained here, scored on this registered dataset's default split (its columns as they are, its classes named by the labels), so that it can be optimized, monitored and retrained"),
    ),
    request_body(description = "A model archive: a tar of a bundle's manifest.json and weights.safetensors (from the export endpoint, or `tar -czf` of a bundle folder), or of model.onnx (with the manifest of an exported ONNX version, or with an optional labels.txt, one class label per line, preprocess.json for an image model and tokenizer.json for a text model): at its top, under ./ or in one folder, gzip-compressed or not. Or an ONNX file alone, as application/octet-stream. An ONNX graph is read and checked before anything is stored: a model the runtime cannot run is refused, naming the operators it lacks, and so are labels that fit none of its outputs, preprocessing that does not fit its input and a tokenizer it cannot use",
        content((Vec<u8> = "application/x-tar"), (Vec<u8> = "application/octet-stream"))),
    responses(
        (status = 400, description = "Malformed request or invalid name", body = ErrorBody),
        (status = 429, description = "Too many uploads or event streams in progress; retry later", body = ErrorBody),
        (status = 201, description = "Registered as a new version", body = VersionRecord),
        (status = 409, description = "The model already has these weights (the message names the version), or is of another task", body = ErrorBody),
        (status = 413, description = "Larger than the upload limit, compressed or not", body = ErrorBody),
        (status = 404, description = "No such dataset", body = ErrorBody),
        (status = 422, description = "Not a model archive or an ONNX model the runtime can run (the message names the operators it lacks), labels, preprocessing or a tokenizer that do not fit the graph, a digest does not match, or, with a dataset, a graph that is not a plain dense network or does not fit the dataset's columns and classes", body = ErrorBody),
    ))]
pub async fn import_version(
    _slot: UploadSlot,
    State(p): State<Platform>,
    Path(name): Path<String>,
    query: std::result::Result<Query<ImportQuery>, QueryRejection>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<VersionRecord>)> {
    let name = ModelName::new(name)?;
    let Query(q) = query?;
    let dataset = q.dataset.map(DatasetName::new).transpose()?;
    let record = p.import_version(body?, &name, dataset.as_ref()).await?;
    Ok((StatusCode::CREATED, Json(record)))
}
