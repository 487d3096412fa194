//! Monitoring under `/api/v1/models/{name}`: feedback (labels for logged predictions by id), the
//! realised quality and the input drift of a version over a window of them (quality figures are
//! also set as Prometheus gauges when computed), the monitoring policy, the model's events and
//! rollback.

use crate::AppState;
use crate::body::{JsonBody, JsonList};
use crate::error::{ApiError, ErrorBody};
use aiaas_serve::metrics;
use aiaas_service::{
    DriftReport, Feedback, FeedbackOutcome, ModelEvent, MonitorPolicy, Platform, PolicyState,
    QualityReport, WindowSpec,
};
use aiaas_types::{ModelName, Version};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;

/// Longest a feedback call waits for the prediction log to write what it holds.
const FLUSH_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Waits (at most [`FLUSH_WAIT`]) until the prediction log has written every answered request.
pub(crate) async fn flush_log(state: &AppState) {
    if let Some(log) = state.pool.log() {
        log.flush(FLUSH_WAIT).await;
    }
}

type Result<T> = std::result::Result<T, ApiError>;

#[utoipa::path(post, path = "/api/v1/models/{name}/feedback", tag = "monitoring",
    params(("name" = String, Path, description = "Model name")),
    request_body(content = Vec<Feedback>, description = "`[{\"id\": ..., \"label\": ...}]`: the true \
        class label (or value, for regression) of logged predictions, by the inference \
        response's id (`<id>/<row>` for a row of a request of several rows). Labels may come \
        long after the prediction."),
    responses(
        (status = 200, description = "`matched` labels stored; `unknown` ids counted, the first \
            listed in `unknown_ids`", body = Object),
        (status = 400, description = "Malformed JSON or invalid name", body = ErrorBody),
        (status = 404, description = "No such model", body = ErrorBody),
        (status = 413, description = "More labels than one call takes", body = ErrorBody),
        (status = 422, description = "A label of the wrong type or not a class of the model \
            (nothing stored)", body = ErrorBody),
    ))]
pub async fn feedback(
    State(s): State<AppState>,
    Path(name): Path<String>,
    JsonList(items): JsonList<Feedback>,
) -> Result<Json<FeedbackOutcome>> {
    let model = ModelName::new(name)?;
    // Labels may follow their predictions at once: the rows still queued for the log are
    // written first, so none of them counts as unknown.
    flush_log(&s).await;
    let outcome = s.platform.feedback(&model, items).await?;
    metrics::feedback_unknown(&model, outcome.unknown);
    Ok(Json(outcome))
}

/// The window of a quality or drift report, from the query string.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WindowQuery {
    /// Version (default: champion, else newest).
    version: Option<Version>,
    /// Only predictions from this time on (ms since the Unix epoch).
    since: Option<i64>,
    /// Only the most recent this many predictions.
    #[param(minimum = 1, maximum = 10_000_000)]
    last: Option<usize>,
    /// Drift of an imported classifier: how many of its earliest logged predictions are the
    /// reference (default 1,000); the window is what follows them.
    #[param(minimum = 1, maximum = 10_000_000)]
    reference: Option<usize>,
}

impl From<WindowQuery> for WindowSpec {
    fn from(q: WindowQuery) -> Self {
        WindowSpec {
            version: q.version,
            since: q.since,
            last: q.last,
            reference: q.reference,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/models/{name}/quality", tag = "monitoring",
    params(("name" = String, Path, description = "Model name"), WindowQuery),
    responses(
        (status = 200, description = "Accuracy, precision, recall and F1 per class, macro and \
            weighted, the confusion matrix and label coverage (MAE, RMSE, R² for regression), \
            with the weakest classes and the gap to training, and `over_time`: the headline \
            figure (accuracy, or R²) over up to ten consecutive stretches of the labelled \
            predictions, each of as many rows (at least 20)", body = Object),
        (status = 400, description = "Malformed query or invalid name", body = ErrorBody),
        (status = 404, description = "No such model or version", body = ErrorBody),
        (status = 422, description = "No labelled predictions in the window", body = ErrorBody),
    ))]
pub async fn quality(
    State(p): State<Platform>,
    Path(name): Path<String>,
    query: std::result::Result<Query<WindowQuery>, QueryRejection>,
) -> Result<Json<QualityReport>> {
    let Query(window) = query?;
    let model = ModelName::new(name)?;
    let report = p.quality(&model, &window.into()).await?;
    metrics::record_quality(&report.model, report.version, &report.figures());
    Ok(Json(report))
}

#[utoipa::path(get, path = "/api/v1/models/{name}/drift", tag = "monitoring",
    params(("name" = String, Path, description = "Model name"), WindowQuery),
    responses(
        (status = 200, description = "Per input feature against the training profile: PSI over \
            ten quantile bins and KS (numbers) or chi-square (categories), the test that decides \
            at this window size (p-value below 0.01, Bonferroni-corrected over the features, \
            under 2,000 rows; PSI above 0.2 from 2,000 rows) and whether it drifted; the same \
            for the predicted classes; the window drifted when half its features did. An \
            imported classifier has no training profile: its window (what follows its first \
            `reference` logged predictions) is compared with those, on what its rows keep of \
            their inputs (`tokens`, the token count of a text; `<input> mean`, the mean of an \
            input's values, for an image its mean intensity as preprocessed) and its predicted \
            classes. Each feature's `overlay` (and `predictions_overlay`) counts the window on \
            its reference's bins for a plot: `numeric` with the histogram's `edges`, `reference` \
            and `production` counts and the values `below` and `above` its range; `categorical` \
            with the reference's `categories` and the window's `unseen` values", body = Object),
        (status = 400, description = "Malformed query or invalid name", body = ErrorBody),
        (status = 404, description = "No such model or version", body = ErrorBody),
        (status = 422, description = "No predictions in the window (or, for an imported classifier, in its reference), or no training profile", body = ErrorBody),
    ))]
pub async fn drift(
    State(p): State<Platform>,
    Path(name): Path<String>,
    query: std::result::Result<Query<WindowQuery>, QueryRejection>,
) -> Result<Json<DriftReport>> {
    let Query(window) = query?;
    let model = ModelName::new(name)?;
    Ok(Json(p.drift(&model, &window.into()).await?))
}

#[utoipa::path(put, path = "/api/v1/models/{name}/policy", tag = "monitoring",
    params(("name" = String, Path, description = "Model name")),
    request_body(content = MonitorPolicy, description = "`accuracy_floor` (classification) or \
        `rmse_ceiling` (regression), `drift_share` (default 0.5; 0: off), `min_labelled` \
        (default 100), `window` (the last N predictions of the champion, default 1,000), \
        `check_interval_s` (default 300)"),
    responses(
        (status = 200, description = "The policy and its next check (at once)", body = Object),
        (status = 400, description = "Malformed JSON, unknown field or invalid name", body = ErrorBody),
        (status = 404, description = "No such model", body = ErrorBody),
        (status = 422, description = "A setting out of range", body = ErrorBody),
    ))]
pub async fn set_policy(
    State(p): State<Platform>,
    Path(name): Path<String>,
    JsonBody(policy): JsonBody<MonitorPolicy>,
) -> Result<Json<PolicyState>> {
    Ok(Json(p.set_policy(&ModelName::new(name)?, policy).await?))
}

#[utoipa::path(get, path = "/api/v1/models/{name}/policy", tag = "monitoring",
    params(("name" = String, Path, description = "Model name")),
    responses(
        (status = 200, description = "The policy and its next check", body = Object),
        (status = 404, description = "No such model, or no policy", body = ErrorBody),
    ))]
pub async fn show_policy(
    State(p): State<Platform>,
    Path(name): Path<String>,
) -> Result<Json<PolicyState>> {
    Ok(Json(p.policy(&ModelName::new(name)?).await?))
}

#[utoipa::path(delete, path = "/api/v1/models/{name}/policy", tag = "monitoring",
    params(("name" = String, Path, description = "Model name")),
    responses(
        (status = 204, description = "No longer watched"),
        (status = 404, description = "No such policy", body = ErrorBody),
    ))]
pub async fn delete_policy(
    State(p): State<Platform>,
    Path(name): Path<String>,
) -> Result<StatusCode> {
    p.delete_policy(&ModelName::new(name)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `?after=` of the events list.
#[derive(Deserialize)]
pub struct EventsQuery {
    after: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/models/{name}/events", tag = "monitoring",
    params(
        ("name" = String, Path, description = "Model name"),
        ("after" = Option<i64>, Query, description = "Only events after this sequence number"),
    ),
    responses(
        (status = 200, description = "The model's history: `breach` (reason, value, limit, \
            version, rows), `rolled_back` (from, to)", body = Vec<ModelEvent>),
        (status = 404, description = "No such model", body = ErrorBody),
    ))]
pub async fn events(
    State(p): State<Platform>,
    Path(name): Path<String>,
    query: std::result::Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<Vec<ModelEvent>>> {
    let Query(q) = query?;
    let model = ModelName::new(name)?;
    Ok(Json(p.model_events(&model, q.after.unwrap_or(0)).await?))
}

#[utoipa::path(post, path = "/api/v1/models/{name}/rollback", tag = "monitoring",
    params(("name" = String, Path, description = "Model name")),
    responses(
        (status = 200, description = "`champion` and `previous` swapped: `from` (the version \
            that was champion) and `to` (the one serving now)", body = Object),
        (status = 404, description = "No such model", body = ErrorBody),
        (status = 409, description = "The model has no champion and previous aliases", body = ErrorBody),
    ))]
pub async fn rollback(
    State(p): State<Platform>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>> {
    let model = ModelName::new(name)?;
    let (from, to) = p.rollback(&model).await?;
    Ok(Json(
        serde_json::json!({"model": model, "from": from, "to": to}),
    ))
}
