//! The serving runtime's metrics (DESIGN.md section 9), declared once: their names, units,
//! descriptions and histogram buckets, the [`Outcome`] of an inference call, and
//! [`ModelMetrics`], the handles of one loaded model version.
//!
//! Everything is recorded through the `metrics` facade and kept only if the binary installed a
//! recorder (`aiaas-api` installs the Prometheus one and serves `GET /metrics`); without one every
//! handle is a no-op. Per-model handles are resolved once, when a version is loaded, so the hot
//! path formats no labels and looks nothing up: recording is an atomic add or a histogram push.
//!
//! Every per-model series carries the labels `model` and `version`. Label values are never
//! arbitrary request strings: a request that names no loaded model counts under
//! [`UNKNOWN_MODEL`], so the number of series stays bounded by the models actually served.

use crate::ServeError;
use ::metrics::{Counter, Gauge, Histogram, SharedString, Unit};
use aiaas_types::{ModelName, Version};
use std::sync::Once;
use std::time::Duration;

/// Counter `{model, version, outcome}`: inference calls answered, by [`Outcome`].
pub const INFERENCE_REQUESTS_TOTAL: &str = "aiaas_inference_requests_total";
/// Histogram `{model, version}`, seconds: one inference call, from its arrival in the runtime to
/// its answer (finding the model, encoding, queue, compute, decoding).
pub const INFERENCE_REQUEST_DURATION_SECONDS: &str = "aiaas_inference_request_duration_seconds";
/// Histogram `{model, version}`, seconds: from a request's arrival in its model's queue until the
/// forward pass of its batch starts (the wait in the queue and the wait for a batch to fill).
pub const INFERENCE_QUEUE_DURATION_SECONDS: &str = "aiaas_inference_queue_duration_seconds";
/// Histogram `{model, version}`, seconds: the compute of one batch (one forward pass, or the
/// passes of one request larger than `max_batch`).
pub const INFERENCE_COMPUTE_DURATION_SECONDS: &str = "aiaas_inference_compute_duration_seconds";
/// Histogram `{model, version}`, rows: the rows of each forward pass.
pub const INFERENCE_BATCH_SIZE: &str = "aiaas_inference_batch_size";
/// Gauge `{model, version}`: requests waiting in the model's queue.
pub const INFERENCE_QUEUE_DEPTH: &str = "aiaas_inference_queue_depth";
/// Gauge: model versions loaded in the pool.
pub const MODELS_LOADED: &str = "aiaas_models_loaded";
/// Gauge `{model, version}`, bytes: memory held by a loaded version's weights and compute
/// buffers (approximate; 0 once it is unloaded).
pub const MODEL_MEMORY_BYTES: &str = "aiaas_model_memory_bytes";
/// Histogram, seconds: loading one version (reading and verifying its bundle, starting it, one
/// warm-up pass), whether at start, on a first request or on a change.
pub const MODEL_LOAD_DURATION_SECONDS: &str = "aiaas_model_load_duration_seconds";
/// Counter `{outcome}`: version loads that ended, `ok` or `error`.
pub const MODEL_LOADS_TOTAL: &str = "aiaas_model_loads_total";
/// Counter: versions unloaded to keep the loaded ones within the memory budget.
pub const MODEL_EVICTIONS_TOTAL: &str = "aiaas_model_evictions_total";
/// Counter: inference calls that found their version unloaded and waited for its load.
pub const MODEL_COLD_STARTS_TOTAL: &str = "aiaas_model_cold_starts_total";

/// Counter: rows written to the prediction log.
pub const PREDICTION_LOG_ROWS_TOTAL: &str = "aiaas_prediction_log_rows_total";
/// Counter: requests the prediction log dropped (its queue was full, or a write failed).
pub const PREDICTION_LOG_DROPPED_TOTAL: &str = "aiaas_prediction_log_dropped_total";

/// Gauge `{model, version, metric}`: a version's production quality when last computed
/// (`accuracy`, `f1_macro`, `precision_macro`, `recall_macro`; `mae`, `rmse`, `r2`).
pub const MODEL_QUALITY: &str = "aiaas_model_quality";
/// Counter `{model}`: feedback labels whose id had no logged prediction.
pub const FEEDBACK_UNKNOWN_IDS_TOTAL: &str = "aiaas_feedback_unknown_ids_total";

/// The `model` label of a request that names no loaded model.
pub const UNKNOWN_MODEL: &str = "unknown";

/// Buckets of the duration histograms, in seconds: 100 µs to 10 s. A small model's forward pass
/// takes microseconds, a request that waits on a busy queue may take seconds.
pub const DURATION_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Buckets of [`MODEL_LOAD_DURATION_SECONDS`], in seconds: 1 ms (a small network) to 60 s (a
/// large ONNX graph).
pub const LOAD_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Buckets of [`INFERENCE_BATCH_SIZE`], in rows: powers of two up to 128, past the default
/// `max_batch` of 64.
pub const BATCH_SIZE_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0];

/// Every histogram of this crate with its buckets, for the exporter to render them as
/// Prometheus histograms (rather than summaries).
pub const HISTOGRAMS: &[(&str, &[f64])] = &[
    (INFERENCE_REQUEST_DURATION_SECONDS, DURATION_BUCKETS),
    (INFERENCE_QUEUE_DURATION_SECONDS, DURATION_BUCKETS),
    (INFERENCE_COMPUTE_DURATION_SECONDS, DURATION_BUCKETS),
    (INFERENCE_BATCH_SIZE, BATCH_SIZE_BUCKETS),
    (MODEL_LOAD_DURATION_SECONDS, LOAD_BUCKETS),
];

/// Give the installed recorder the unit and description of every series above (its `# HELP`
/// lines). Call once the recorder is installed; later calls do nothing.
pub fn describe() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        ::metrics::describe_counter!(
            INFERENCE_REQUESTS_TOTAL,
            Unit::Count,
            "Inference calls answered, by model, version and outcome."
        );
        ::metrics::describe_histogram!(
            INFERENCE_REQUEST_DURATION_SECONDS,
            Unit::Seconds,
            "Duration of an inference call, from arrival to answer."
        );
        ::metrics::describe_histogram!(
            INFERENCE_QUEUE_DURATION_SECONDS,
            Unit::Seconds,
            "Time a request waits, queued, until the forward pass of its batch starts."
        );
        ::metrics::describe_histogram!(
            INFERENCE_COMPUTE_DURATION_SECONDS,
            Unit::Seconds,
            "Compute time of one batch."
        );
        ::metrics::describe_histogram!(
            INFERENCE_BATCH_SIZE,
            Unit::Count,
            "Rows in one forward pass."
        );
        ::metrics::describe_gauge!(
            INFERENCE_QUEUE_DEPTH,
            Unit::Count,
            "Requests waiting in a model's queue."
        );
        ::metrics::describe_gauge!(MODELS_LOADED, Unit::Count, "Model versions loaded.");
        ::metrics::describe_histogram!(
            MODEL_LOAD_DURATION_SECONDS,
            Unit::Seconds,
            "Time to load one model version: read, verify, start and warm it."
        );
        ::metrics::describe_counter!(
            MODEL_LOADS_TOTAL,
            Unit::Count,
            "Model version loads that ended, by outcome (ok, error)."
        );
        ::metrics::describe_counter!(
            MODEL_EVICTIONS_TOTAL,
            Unit::Count,
            "Model versions unloaded to stay within the memory budget."
        );
        ::metrics::describe_counter!(
            MODEL_COLD_STARTS_TOTAL,
            Unit::Count,
            "Inference calls that waited for their model version to load."
        );
        ::metrics::describe_gauge!(
            MODEL_QUALITY,
            Unit::Count,
            "Production quality of a model version over its labelled predictions, when last computed."
        );
        ::metrics::describe_counter!(
            FEEDBACK_UNKNOWN_IDS_TOTAL,
            Unit::Count,
            "Feedback labels whose id had no logged prediction."
        );
        ::metrics::describe_counter!(
            PREDICTION_LOG_ROWS_TOTAL,
            Unit::Count,
            "Predicted rows written to the prediction log."
        );
        ::metrics::describe_counter!(
            PREDICTION_LOG_DROPPED_TOTAL,
            Unit::Count,
            "Requests the prediction log dropped because its writer fell behind or failed."
        );
        ::metrics::describe_gauge!(
            MODEL_MEMORY_BYTES,
            Unit::Bytes,
            "Approximate memory held by a loaded model version."
        );
    });
}

/// How an inference call ended: the `outcome` label of [`INFERENCE_REQUESTS_TOTAL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Answered with outputs.
    Ok,
    /// [`ServeError::BadRequest`].
    BadRequest,
    /// [`ServeError::NotFound`].
    NotFound,
    /// [`ServeError::Overloaded`].
    Overloaded,
    /// [`ServeError::DeadlineExceeded`].
    Deadline,
    /// [`ServeError::Unavailable`].
    Unavailable,
    /// [`ServeError::Internal`].
    Error,
}

impl Outcome {
    /// Every outcome, in declaration order.
    pub const ALL: [Outcome; 7] = [
        Outcome::Ok,
        Outcome::BadRequest,
        Outcome::NotFound,
        Outcome::Overloaded,
        Outcome::Deadline,
        Outcome::Unavailable,
        Outcome::Error,
    ];

    /// The label value: `ok`, `bad_request`, `not_found`, `overloaded`, `deadline`,
    /// `unavailable` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::BadRequest => "bad_request",
            Outcome::NotFound => "not_found",
            Outcome::Overloaded => "overloaded",
            Outcome::Deadline => "deadline",
            Outcome::Unavailable => "unavailable",
            Outcome::Error => "error",
        }
    }

    /// The outcome of a finished call.
    pub fn of<T>(result: &Result<T, ServeError>) -> Outcome {
        match result {
            Ok(_) => Outcome::Ok,
            Err(e) => Outcome::from(e),
        }
    }

    /// Position in [`Outcome::ALL`].
    fn index(self) -> usize {
        self as usize
    }
}

impl From<&ServeError> for Outcome {
    fn from(e: &ServeError) -> Outcome {
        // No wildcard: a new error variant must choose its outcome here.
        match e {
            ServeError::BadRequest(_) => Outcome::BadRequest,
            ServeError::NotFound(_) => Outcome::NotFound,
            ServeError::Overloaded(_) => Outcome::Overloaded,
            ServeError::DeadlineExceeded(_) => Outcome::Deadline,
            ServeError::Unavailable(_) => Outcome::Unavailable,
            ServeError::Internal(_) => Outcome::Error,
        }
    }
}

/// The metric handles of one model version (labels `model` and `version`), resolved once.
/// Cloning is cheap: handles are shared.
#[derive(Clone)]
pub struct ModelMetrics {
    /// One counter per outcome, indexed by [`Outcome::index`].
    requests: [Counter; 7],
    request_duration: Histogram,
    pub(crate) queue_duration: Histogram,
    pub(crate) compute_duration: Histogram,
    pub(crate) batch_size: Histogram,
    pub(crate) queue_depth: Gauge,
    pub(crate) memory_bytes: Gauge,
}

impl ModelMetrics {
    /// Resolve the handles of `model` at `version` (`""` when there is none) with the installed
    /// recorder. Call it once per loaded version, not per request.
    pub fn new(model: &str, version: &str) -> ModelMetrics {
        ModelMetrics::labelled(
            SharedString::from(model.to_string()),
            SharedString::from(version.to_string()),
        )
    }

    fn labelled(model: SharedString, version: SharedString) -> ModelMetrics {
        let m = || model.clone();
        let v = || version.clone();
        ModelMetrics {
            requests: Outcome::ALL.map(|o| {
                ::metrics::counter!(
                    INFERENCE_REQUESTS_TOTAL,
                    "model" => m(),
                    "version" => v(),
                    "outcome" => o.as_str()
                )
            }),
            request_duration: ::metrics::histogram!(
                INFERENCE_REQUEST_DURATION_SECONDS, "model" => m(), "version" => v()
            ),
            queue_duration: ::metrics::histogram!(
                INFERENCE_QUEUE_DURATION_SECONDS, "model" => m(), "version" => v()
            ),
            compute_duration: ::metrics::histogram!(
                INFERENCE_COMPUTE_DURATION_SECONDS, "model" => m(), "version" => v()
            ),
            batch_size: ::metrics::histogram!(
                INFERENCE_BATCH_SIZE, "model" => m(), "version" => v()
            ),
            queue_depth: ::metrics::gauge!(
                INFERENCE_QUEUE_DEPTH, "model" => m(), "version" => v()
            ),
            memory_bytes: ::metrics::gauge!(MODEL_MEMORY_BYTES, "model" => m(), "version" => v()),
        }
    }

    /// Count one inference call and its duration.
    pub fn record_request(&self, outcome: Outcome, duration: Duration) {
        self.requests[outcome.index()].increment(1);
        self.request_duration.record(duration);
    }
}

/// Count a call that failed before its model version was known (no such model or version, a
/// malformed deadline, a failed load). It counts under `model` when that model has a version
/// loaded (so the label stays one of the models served), else under [`UNKNOWN_MODEL`]; the
/// version is `""` either way, since the request's reference is an arbitrary string. Resolves
/// its handles on every call: this is the error path, not the hot one.
pub(crate) fn record_unresolved(model: Option<&str>, outcome: Outcome, duration: Duration) {
    let model = model.map_or(SharedString::const_str(UNKNOWN_MODEL), |m| {
        SharedString::from(m.to_string())
    });
    let version = SharedString::const_str("");
    ::metrics::counter!(
        INFERENCE_REQUESTS_TOTAL,
        "model" => model.clone(),
        "version" => version.clone(),
        "outcome" => outcome.as_str()
    )
    .increment(1);
    ::metrics::histogram!(
        INFERENCE_REQUEST_DURATION_SECONDS, "model" => model, "version" => version
    )
    .record(duration);
}

/// The pool-wide gauge of loaded versions.
pub(crate) fn models_loaded() -> Gauge {
    ::metrics::gauge!(MODELS_LOADED)
}

/// Counts a load that ended and, when it succeeded, how long it took.
pub(crate) fn record_load(ok: bool, duration: Duration) {
    let outcome = if ok { "ok" } else { "error" };
    ::metrics::counter!(MODEL_LOADS_TOTAL, "outcome" => outcome).increment(1);
    if ok {
        ::metrics::histogram!(MODEL_LOAD_DURATION_SECONDS).record(duration);
    }
}

/// Versions unloaded over the memory budget.
pub(crate) fn evictions() -> Counter {
    ::metrics::counter!(MODEL_EVICTIONS_TOTAL)
}

/// Calls that waited for a load.
pub(crate) fn cold_starts() -> Counter {
    ::metrics::counter!(MODEL_COLD_STARTS_TOTAL)
}

/// Rows the prediction log wrote.
pub(crate) fn prediction_log_written() -> Counter {
    ::metrics::counter!(PREDICTION_LOG_ROWS_TOTAL)
}

/// Sets the quality gauges of one version.
pub fn record_quality(model: &ModelName, version: Version, figures: &[(&'static str, f64)]) {
    for &(metric, value) in figures {
        ::metrics::gauge!(
            MODEL_QUALITY,
            "model" => model.to_string(),
            "version" => version.to_string(),
            "metric" => metric
        )
        .set(value);
    }
}

/// Counts feedback labels with unknown ids.
pub fn feedback_unknown(model: &ModelName, unknown: u64) {
    if unknown > 0 {
        ::metrics::counter!(FEEDBACK_UNKNOWN_IDS_TOTAL, "model" => model.to_string())
            .increment(unknown);
    }
}

/// Requests the prediction log dropped.
pub(crate) fn prediction_log_dropped() -> Counter {
    ::metrics::counter!(PREDICTION_LOG_DROPPED_TOTAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_listed_in_index_order_with_distinct_labels() {
        for (i, o) in Outcome::ALL.iter().enumerate() {
            assert_eq!(o.index(), i);
        }
        let labels: std::collections::HashSet<_> = Outcome::ALL.map(Outcome::as_str).into();
        assert_eq!(labels.len(), Outcome::ALL.len());
    }

    #[test]
    fn every_error_has_its_outcome() {
        let cases = [
            (ServeError::BadRequest(String::new()), "bad_request"),
            (ServeError::NotFound(String::new()), "not_found"),
            (ServeError::Overloaded(String::new()), "overloaded"),
            (ServeError::DeadlineExceeded(String::new()), "deadline"),
            (ServeError::Unavailable(String::new()), "unavailable"),
            (ServeError::Internal(String::new()), "error"),
        ];
        for (e, label) in cases {
            assert_eq!(Outcome::from(&e).as_str(), label);
        }
        assert_eq!(Outcome::of::<()>(&Ok(())), Outcome::Ok);
    }

    #[test]
    fn metric_names_follow_the_convention() {
        let all = [
            INFERENCE_REQUESTS_TOTAL,
            INFERENCE_REQUEST_DURATION_SECONDS,
            INFERENCE_QUEUE_DURATION_SECONDS,
            INFERENCE_COMPUTE_DURATION_SECONDS,
            INFERENCE_BATCH_SIZE,
            INFERENCE_QUEUE_DEPTH,
            MODELS_LOADED,
            MODEL_MEMORY_BYTES,
            MODEL_LOAD_DURATION_SECONDS,
            MODEL_LOADS_TOTAL,
            MODEL_EVICTIONS_TOTAL,
            MODEL_COLD_STARTS_TOTAL,
            PREDICTION_LOG_ROWS_TOTAL,
            PREDICTION_LOG_DROPPED_TOTAL,
            MODEL_QUALITY,
            FEEDBACK_UNKNOWN_IDS_TOTAL,
        ];
        for name in all {
            assert!(name.starts_with("aiaas_"), "{name}");
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{name}"
            );
        }
        for (name, buckets) in HISTOGRAMS {
            assert!(buckets.is_sorted() && !buckets.is_empty(), "{name}");
        }
        assert!(INFERENCE_REQUESTS_TOTAL.ends_with("_total"));
    }
}
