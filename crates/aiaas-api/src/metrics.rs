//! `GET /metrics`: every series the process records, in the Prometheus text exposition format
//! (DESIGN.md section 9), and the one place that builds the Prometheus recorder, so the binary
//! and the tests render histograms with the same buckets. The series are declared by the crates
//! that record them (`aiaas_serve::metrics`, `aiaas_service::metrics`); this one adds the
//! standard `process_*` series (read at each scrape), `aiaas_build_info` and the management
//! API's calls by route, method and status.

use crate::AppState;
use crate::error::{ApiError, ErrorCode};
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::Unit;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use std::time::Duration;

pub use metrics_exporter_prometheus::{BuildError, PrometheusHandle};

/// The content type of the text exposition format, version 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Management API calls answered, by `route` (its template, e.g. `/api/v1/models/{name}`),
/// `method` and `status`, refusals by the key check included.
pub const API_REQUESTS_TOTAL: &str = "aiaas_api_requests_total";
/// Always 1, labelled with the running binary's `version`.
pub const BUILD_INFO: &str = "aiaas_build_info";

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
    let histograms = aiaas_serve::metrics::HISTOGRAMS.iter();
    for (name, buckets) in histograms.chain(aiaas_service::metrics::HISTOGRAMS) {
        builder = builder.set_buckets_for_metric(Matcher::Full((*name).to_string()), buckets)?;
    }
    let handle = builder.install_recorder()?;
    aiaas_serve::metrics::describe();
    aiaas_service::metrics::describe();
    metrics_process::Collector::default().describe();
    metrics::describe_counter!(
        API_REQUESTS_TOTAL,
        Unit::Count,
        "Management API calls answered, by route, method and status."
    );
    metrics::describe_gauge!(
        BUILD_INFO,
        "The running aiaas binary (always 1), by version."
    );
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
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
    // CPU, memory, open files and start time, read from the OS now.
    metrics_process::Collector::default().collect();
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], handle.render()).into_response())
}

/// Counts a management API call (a route under `/api/v1`) once it is answered: layered outside
/// the key check, so refused calls count too.
pub(crate) async fn count_api_call(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .filter(|p| p.as_str().starts_with("/api/v1/"))
        .cloned();
    // Other routes (V2 inference above all) pass with nothing allocated.
    let Some(route) = route else {
        return next.run(request).await;
    };
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let (route, status) = (
        route.as_str().to_owned(),
        response.status().as_str().to_owned(),
    );
    metrics::counter!(
        API_REQUESTS_TOTAL, "route" => route, "method" => method, "status" => status
    )
    .increment(1);
    response
}
