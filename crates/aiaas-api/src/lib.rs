//! The aiaas HTTP API. Only this crate knows HTTP: routes, status codes, body limits, the
//! OpenAPI document. Every handler calls one function of [`aiaas_service::Platform`].

mod docs;
mod error;
mod management;

pub use docs::ApiDoc;
pub use error::{ApiError, ErrorBody};

use aiaas_service::Platform;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use management as m;
use std::future::Future;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

/// Largest JSON request body (job requests, alias moves).
pub const MAX_JSON_BYTES: usize = 1 << 20;

/// Every route of the API, over `platform`.
pub fn router(platform: Platform) -> Router {
    let config = platform.config().clone();
    let api = Router::new()
        .route("/health", get(m::health))
        .route(
            "/datasets",
            post(m::upload_dataset)
                .layer(DefaultBodyLimit::max(config.max_dataset_bytes))
                .get(m::list_datasets),
        )
        .route(
            "/datasets/{name}",
            get(m::show_dataset).delete(m::delete_dataset),
        )
        .route("/jobs", post(m::submit_job).get(m::list_jobs))
        .route("/jobs/{id}", get(m::show_job))
        .route("/jobs/{id}/cancel", post(m::cancel_job))
        .route("/jobs/{id}/events", get(m::job_events))
        .route("/models", get(m::list_models))
        .route("/models/{name}", get(m::show_model))
        .route(
            "/models/{name}/versions",
            post(m::import_version).layer(DefaultBodyLimit::max(config.max_archive_bytes)),
        )
        .route(
            "/models/{name}/versions/{version}",
            get(m::show_version).delete(m::delete_version),
        )
        .route(
            "/models/{name}/versions/{version}/archive",
            get(m::export_version),
        )
        .route(
            "/models/{name}/aliases/{alias}",
            put(m::set_alias).delete(m::delete_alias),
        )
        .route("/openapi.json", get(docs::openapi_json));
    Router::new()
        .nest("/api/v1", api)
        .route("/docs", get(docs::page))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES))
        // One span per request (method, path, status, latency); visible with
        // AIAAS_LOG=tower_http=debug.
        .layer(TraceLayer::new_for_http())
        .with_state(platform)
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such endpoint; the API is described at /api/v1/openapi.json and /docs",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "this endpoint does not take that method; see /docs",
    )
}

/// Serve the API on `listener` until `shutdown` completes, then finish the requests in flight.
pub async fn serve(
    listener: TcpListener,
    platform: Platform,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(platform))
        .with_graceful_shutdown(shutdown)
        .await
}
