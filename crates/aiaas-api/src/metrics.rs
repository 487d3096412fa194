//! `GET /metrics`: every series the process records, in the Prometheus text exposition format
//! (DESIGN.md section 9), and the one place that builds the Prometheus recorder, so the binary
//! and the tests render histograms with the same buckets. The series themselves are declared by
//! the crates that record them (`aiaas_serve::metrics`).

use crate::AppState;
use crate::error::{ApiError, ErrorCode};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use std::time::Duration;

pub use metrics_exporter_prometheus::{BuildError, PrometheusHandle};

/// The content type of the text exposition format, version 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How often histogram samples recorded since the last scrape are folded into their buckets, so
/// that they do not pile up in memory when nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Install the Prometheus recorder as the process's `metrics` recorder, with the buckets and
/// descriptions of every aiaas series, and start its upkeep thread. Returns the handle that
/// renders the scrape (give it to [`AppState::metrics`]).
///
/// A process has one recorder: call this once. Errors: a recorder is already installed.
pub fn install_recorder() -> Result<PrometheusHandle, BuildError> {
    let mut builder = PrometheusBuilder::new();
    for (name, buckets) in aiaas_serve::metrics::HISTOGRAMS {
        builder = builder.set_buckets_for_metric(Matcher::Full((*name).to_string()), buckets)?;
    }
    let handle = builder.install_recorder()?;
    aiaas_serve::metrics::describe();
    let upkeep = handle.clone();
    // A thread rather than a task: the recorder outlives any one runtime (tests start several).
    let spawned = std::thread::Builder::new()
        .name("aiaas-metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            }
        });
    if let Err(e) = spawned {
        // Scrapes still fold samples in; only an unscraped server grows.
        tracing::warn!(error = %e, "could not start the metrics upkeep thread");
    }
    Ok(handle)
}

/// `GET /metrics`: the scrape, or 404 when the server records no metrics.
pub(crate) async fn scrape(State(s): State<AppState>) -> Result<Response, ApiError> {
    let handle = s.metrics.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::RouteNotFound,
            "this server does not record metrics",
        )
    })?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], handle.render()).into_response())
}
