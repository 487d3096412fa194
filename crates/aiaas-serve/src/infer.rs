//! One inference call end to end: find the model, check and encode the request's tensors, queue
//! the rows on the model's batcher, decode the logits into the requested outputs. Every call is
//! counted here, by outcome, with its duration (`aiaas_inference_requests_total`,
//! `aiaas_inference_request_duration_seconds`).

use crate::metrics::{self, Outcome};
use crate::prediction_log::Answered;
use crate::v2::{InferRequest, InferResponse};
use crate::{Arriving, LoadedModel, ModelPool, Runtime, ServeError};
use aiaas_types::ModelName;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Answer `request` with model `name` (version number, alias, or the default). `arriving`
/// ([`ModelPool::arriving`], taken when the call arrived) is dropped as the rows are queued.
///
/// Counts the call under the version that answered it; a call that failed before a version was
/// found counts under `name` with version `""` if `name` has a version loaded, else under model
/// `unknown`. A call whose future is dropped before it ends is not counted.
#[tracing::instrument(level = "debug", skip_all, fields(model = %name, version = version.unwrap_or("default")))]
pub async fn infer(
    pool: &ModelPool,
    name: &ModelName,
    version: Option<&str>,
    request: InferRequest,
    arriving: Arriving,
) -> Result<InferResponse, ServeError> {
    let started = Instant::now();
    let mut model = None;
    let result = answer(pool, name, version, request, arriving, &mut model, started).await;
    let outcome = Outcome::of(&result);
    match model {
        Some(m) => m.metrics.record_request(outcome, started.elapsed()),
        None => {
            let known = pool.has_loaded(name).then_some(name.as_str());
            metrics::record_unresolved(known, outcome, started.elapsed());
        }
    }
    result
}

/// Count a call refused before it could be handed to [`infer`] (a body that is not a V2
/// request, an invalid model name), so `aiaas_inference_requests_total` sees every call.
pub fn count_refused(
    pool: &ModelPool,
    name: Option<&ModelName>,
    error: &ServeError,
    started: Instant,
) {
    let known = name.filter(|n| pool.has_loaded(n)).map(ModelName::as_str);
    metrics::record_unresolved(known, Outcome::from(error), started.elapsed());
}

/// [`infer`] without the counting; leaves the version that took the call in `model`.
async fn answer(
    pool: &ModelPool,
    name: &ModelName,
    version: Option<&str>,
    request: InferRequest,
    arriving: Arriving,
    model: &mut Option<Arc<LoadedModel>>,
    started: Instant,
) -> Result<InferResponse, ServeError> {
    let deadline = deadline(&request)?;
    if let Some(id) = &request.id
        && id.len() > MAX_ID_LEN
    {
        return Err(ServeError::BadRequest(format!(
            "the request id has {} bytes; at most {MAX_ID_LEN}",
            id.len()
        )));
    }
    let in_use = pool.acquire(name, version).await?;
    let model = model.insert(in_use.model().clone());
    let requested = request.outputs.as_deref();
    let id = request.id.unwrap_or_else(new_id);
    let outputs = match &model.runtime {
        Runtime::Dense(dense) => {
            let schema = &dense.manifest.schema;
            // The prediction log takes the raw values from the same pass that encodes them.
            let log = pool.log().filter(|log| log.wants_next());
            let mut raw = log.map(|_| Vec::new());
            let (x, rows) = dense
                .signature
                .prepare(schema, &request.inputs, raw.as_mut())?;
            // Dropped before the rows are queued: a batcher that finds them queued and no one
            // else on the way computes at once.
            drop(arriving);
            let logits = dense.batcher.infer(x, rows, deadline).await?;
            let outputs = (dense.signature).respond(schema, &logits, dense.outputs, requested)?;
            if let (Some(log), Some(raw)) = (log, raw) {
                log.submit(model, &id, Answered::Logits { raw, logits }, started);
            }
            outputs
        }
        Runtime::Graph(graph) => {
            let (x, rows) = if graph.signature.takes_images() {
                // Decoding images is CPU work of unbounded length: off the async threads.
                let (signature, inputs) = (graph.signature.clone(), request.inputs);
                tokio::task::spawn_blocking(move || signature.prepare(&inputs))
                    .await
                    .map_err(|e| ServeError::Internal(format!("preparing the images: {e}")))??
            } else {
                graph.signature.prepare(&request.inputs)?
            };
            drop(arriving);
            // A classifier's answers are logged by label with its inputs' summaries; other
            // graphs' outputs are not read.
            let log =
                (pool.log()).filter(|log| graph.signature.is_classifier() && log.wants_next());
            let summaries = log.map(|_| graph.signature.summaries(&x, rows));
            let answer = graph.batcher.infer(x, rows, deadline).await?;
            let classes = graph.signature.classes(&answer);
            let outputs = graph
                .signature
                .respond(answer, classes.as_deref(), requested)?;
            if let (Some(log), Some(classes), Some(summaries)) = (log, classes, summaries) {
                let labels = graph.signature.labels(&classes);
                log.submit(model, &id, Answered::Classes { labels, summaries }, started);
            }
            outputs
        }
    };
    Ok(InferResponse {
        model_name: name.to_string(),
        model_version: model.version.to_string(),
        id,
        outputs,
    })
}

/// Longest request id taken (ids key the prediction log and feedback).
const MAX_ID_LEN: usize = 256;

/// The request's `timeout` parameter (microseconds, as Triton reads it) as a deadline.
fn deadline(request: &InferRequest) -> Result<Option<Instant>, ServeError> {
    let Some(timeout) = request.parameters.as_ref().and_then(|p| p.get("timeout")) else {
        return Ok(None);
    };
    let micros = timeout.as_u64().ok_or_else(|| {
        ServeError::BadRequest(format!(
            "parameter \"timeout\" is {timeout}; give whole microseconds, e.g. 5000"
        ))
    })?;
    Ok(Some(Instant::now() + Duration::from_micros(micros)))
}

/// A response id unique within this process and unlikely to repeat across restarts.
fn new_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    format!("{now:x}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}
