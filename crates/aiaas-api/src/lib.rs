//! The aiaas HTTP API. Only this crate knows HTTP: routes, status codes, body limits, the
//! OpenAPI document. Management handlers call one function of [`aiaas_service::Platform`];
//! inference handlers call the serving runtime ([`aiaas_serve`]).

mod audit;
mod auth;
mod body;
mod contract;
mod dashboard;
mod docs;
mod error;
pub mod grpc;
mod guard;
mod inference;
mod keys;
mod management;
pub mod metrics;
mod monitoring;
mod privacy;
mod rate;
mod server;
mod serving;
mod sweeps;
mod tls;

pub use auth::{Access, AuthConfig, DEFAULT_RATE_LIMIT, RULES, access_rule};
pub use docs::ApiDoc;
pub use error::{ApiError, ErrorBody, ErrorCode, GrpcCode};
pub use server::ServerLimits;
pub use serving::{Registry, model_pool};
pub use tls::Tls;

use aiaas_serve::ModelPool;
use aiaas_service::Platform;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::routing::{get, post, put};
use inference as v2;
use management as m;
use server::Protocol;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::trace::TraceLayer;

/// Largest JSON request body (job requests, alias moves).
pub const MAX_JSON_BYTES: usize = 1 << 20;

/// Largest inference request body.
pub const MAX_INFER_BYTES: usize = 32 << 20;

/// What the handlers share: the platform, the serving runtime, and whether the models that
/// should be served are loaded.
#[derive(Clone)]
pub struct AppState {
    pub platform: Platform,
    pub pool: Arc<ModelPool>,
    /// Set once the aliased models are loaded and warm (`/v2/health/ready`).
    pub ready: Arc<AtomicBool>,
    /// Renders `GET /metrics` (see [`metrics::install_recorder`]); `None`: the server records no
    /// metrics and `/metrics` is 404.
    pub metrics: Option<metrics::PrometheusHandle>,
    /// Whether calls need API keys.
    pub auth: AuthConfig,
    /// Whether this process serves the API and inference (a whole server or an API replica);
    /// a worker (`aiaas serve --role worker`) answers health checks and `/metrics` only.
    pub serves_api: bool,
}

impl FromRef<AppState> for Platform {
    fn from_ref(state: &AppState) -> Platform {
        state.platform.clone()
    }
}

/// Every route of the API, over `state`.
pub fn router(state: AppState) -> Router {
    routes(auth::Gate::new(state))
}

/// Every route of the API, behind `gate`; a worker's few.
fn routes(gate: auth::Gate) -> Router {
    let state = gate.state.clone();
    let app = match state.serves_api {
        true => api_routes(&state),
        false => Router::new()
            .route("/v2/health/live", get(v2::live))
            .route("/v2/health/ready", get(v2::ready))
            .route("/metrics", get(metrics::scrape)),
    };
    app
        // After every route, so that it guards them all (and sees their templates).
        .route_layer(axum::middleware::from_fn_with_state(gate, auth::authorize))
        // Outside the key check, so that refused calls are counted too.
        .route_layer(axum::middleware::from_fn(metrics::count_api_call))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES))
        // One span per request (method, path, status, latency); visible with
        // AIAAS_LOG=tower_http=debug.
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// The routes of the API, the V2 protocol, the docs and the dashboard.
fn api_routes(state: &AppState) -> Router<AppState> {
    let config = state.platform.config().clone();
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
        .route(
            "/sweeps",
            post(sweeps::submit_sweep).get(sweeps::list_sweeps),
        )
        .route("/sweeps/{id}", get(sweeps::show_sweep))
        .route("/sweeps/{id}/cancel", post(sweeps::cancel_sweep))
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
            "/models/{name}/versions/{version}/manifest",
            get(m::show_manifest),
        )
        .route(
            "/models/{name}/versions/{version}/profile",
            get(m::show_profile),
        )
        .route("/models/{name}/versions/{version}/tags", get(m::list_tags))
        .route(
            "/models/{name}/versions/{version}/tags/{key}",
            put(m::set_tag).delete(m::delete_tag),
        )
        .route(
            "/models/{name}/aliases/{alias}",
            put(m::set_alias).delete(m::delete_alias),
        )
        .route("/models/{name}/feedback", post(monitoring::feedback))
        .route("/models/{name}/quality", get(monitoring::quality))
        .route("/models/{name}/drift", get(monitoring::drift))
        .route(
            "/models/{name}/policy",
            put(monitoring::set_policy)
                .get(monitoring::show_policy)
                .delete(monitoring::delete_policy),
        )
        .route("/models/{name}/events", get(monitoring::events))
        .route(
            "/models/{name}/logging",
            put(privacy::set_logging).get(privacy::show_logging),
        )
        .route(
            "/models/{name}/predictions",
            axum::routing::delete(privacy::erase_predictions),
        )
        .route("/models/{name}/rollback", post(monitoring::rollback))
        .route("/keys", post(keys::create_key).get(keys::list_keys))
        .route("/session", get(keys::session))
        .route("/serving", get(serving::loaded))
        .route("/keys/{id}", axum::routing::delete(keys::revoke_key))
        .route("/audit", get(audit::read))
        .route("/openapi.json", get(docs::openapi_json));
    let infer_limit = DefaultBodyLimit::max(MAX_INFER_BYTES);
    let inference = Router::new()
        .route("/health/live", get(v2::live))
        .route("/health/ready", get(v2::ready))
        .route("/models/{name}", get(v2::model_metadata))
        .route("/models/{name}/ready", get(v2::model_ready))
        .route(
            "/models/{name}/infer",
            post(v2::model_infer).layer(infer_limit),
        )
        .route(
            "/models/{name}/versions/{version}",
            get(v2::version_metadata),
        )
        .route(
            "/models/{name}/versions/{version}/ready",
            get(v2::version_ready),
        )
        .route(
            "/models/{name}/versions/{version}/infer",
            post(v2::version_infer).layer(infer_limit),
        )
        .route("/repository/index", post(v2::repository_index))
        .route("/repository/models/{name}/load", post(v2::repository_load))
        .route(
            "/repository/models/{name}/unload",
            post(v2::repository_unload),
        );
    Router::new()
        .nest("/api/v1", api)
        .route("/v2", get(v2::server_metadata))
        .nest("/v2", inference)
        .route("/docs", get(docs::page))
        .route("/", get(dashboard::page))
        .route("/ui/app.js", get(dashboard::script))
        .route("/ui/app.css", get(dashboard::style))
        .route("/metrics", get(metrics::scrape))
}

async fn not_found() -> ApiError {
    ApiError::new(
        ErrorCode::RouteNotFound,
        "no such endpoint; the API is described at /api/v1/openapi.json and /docs",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this endpoint does not take that method; see /docs",
    )
}

/// Serve the API on `listener`, and V2 over gRPC on `grpc` if given (both over TLS when `tls`
/// is given; keys, roles and rates shared), until `shutdown` completes, then finish the
/// requests in flight on both.
pub async fn serve(
    listener: TcpListener,
    grpc: Option<TcpListener>,
    state: AppState,
    limits: ServerLimits,
    tls: Option<Tls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let gate = auth::Gate::new(state);
    let (stop, stopped) = watch::channel(false);
    let stopping = || {
        let mut stopped = stopped.clone();
        async move {
            // An error means the sender is gone: stopping too.
            let _ = stopped.wait_for(|stop| *stop).await;
        }
    };
    let http = server::run(
        listener,
        routes(gate.clone()),
        Protocol::Http1,
        limits,
        tls.clone(),
        stopping(),
    );
    let grpc = async {
        match grpc {
            Some(listener) => {
                let app = grpc::router(gate);
                server::run(listener, app, Protocol::Grpc, limits, tls, stopping()).await
            }
            None => Ok(()),
        }
    };
    let signal = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    let ((), http, grpc) = tokio::join!(signal, http, grpc);
    http.and(grpc)
}
