//! The serving runtime over the registry: [`Registry`] puts the platform behind the two seams of
//! `aiaas-serve` (what a model reference means and its verified bundle; where logged
//! predictions go), and [`model_pool`] starts the pool the V2 handlers use; [`loaded`] shows
//! what the pool holds. The runtime itself knows no database; this is the one place the two
//! meet.

use crate::AppState;
use aiaas_artifact::Artifact;
use aiaas_serve::{
    BoxFuture, ModelPool, ModelSource, PoolConfig, PredictionLog, PredictionSink, Runtime,
    ServeError, SourceModel, VersionState,
};
use aiaas_service::{Platform, ServiceError, default_version_of};
use aiaas_types::{ModelName, NewPrediction, ServingSettings, Version};
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use std::sync::Arc;
use tokio::sync::broadcast;
use utoipa::ToSchema;

/// The platform's registry as the serving runtime's model source and prediction sink.
#[derive(Clone)]
pub struct Registry(pub Platform);

/// The model pool over `platform`'s registry with `config`, logging predictions when the
/// platform's sampling is on.
pub fn model_pool(platform: &Platform, config: PoolConfig) -> Arc<ModelPool> {
    let registry = Arc::new(Registry(platform.clone()));
    let sample = platform.config().prediction_sample;
    let log = (sample > 0.0).then(|| PredictionLog::start(registry.clone(), sample));
    ModelPool::start(registry, config, log)
}

impl ModelSource for Registry {
    fn models(&self) -> BoxFuture<'_, Result<Vec<SourceModel>, ServeError>> {
        Box::pin(async move {
            let models = self.0.models().await.map_err(to_serve)?;
            Ok(models
                .into_iter()
                .map(|m| SourceModel {
                    default: default_version_of(&m.aliases, m.latest_version),
                    aliases: m.aliases.into_iter().collect(),
                    name: m.name,
                })
                .collect())
        })
    }

    fn pinned(&self) -> BoxFuture<'_, Result<Vec<(ModelName, Version)>, ServeError>> {
        Box::pin(async move { self.0.pinned_versions().await.map_err(to_serve) })
    }

    fn resolve<'a>(
        &'a self,
        name: &'a ModelName,
        alias: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Version, ServeError>> {
        Box::pin(async move {
            let version = match alias {
                Some(alias) => self.0.version(name, alias).await.map(|v| v.summary.version),
                None => self.0.default_version(name).await,
            };
            version.map_err(to_serve)
        })
    }

    fn versions<'a>(
        &'a self,
        name: &'a ModelName,
    ) -> BoxFuture<'a, Result<Vec<Version>, ServeError>> {
        // The model's summary reads no manifest.
        Box::pin(async move {
            let model = self.0.model(name).await.map_err(to_serve)?;
            Ok(model.versions.iter().map(|v| v.version).collect())
        })
    }

    fn artifact<'a>(
        &'a self,
        name: &'a ModelName,
        version: Version,
    ) -> BoxFuture<'a, Result<Artifact, ServeError>> {
        Box::pin(async move { self.0.load_artifact(name, version).await.map_err(to_serve) })
    }

    fn settings<'a>(
        &'a self,
        name: &'a ModelName,
        version: Version,
    ) -> BoxFuture<'a, Result<ServingSettings, ServeError>> {
        Box::pin(async move {
            self.0
                .serving_settings(name, version)
                .await
                .map_err(to_serve)
        })
    }

    fn changes(&self) -> broadcast::Receiver<ModelName> {
        self.0.model_changes()
    }
}

impl PredictionSink for Registry {
    fn write<'a>(&'a self, rows: &'a [NewPrediction]) -> BoxFuture<'a, Result<(), ServeError>> {
        Box::pin(async move { self.0.record_predictions(rows).await.map_err(to_serve) })
    }
}

/// A registry error as the runtime reports it: a missing model or version stays `NotFound`,
/// anything else is the server's own failure.
fn to_serve(e: ServiceError) -> ServeError {
    match e {
        ServiceError::NotFound(_, m) => ServeError::NotFound(m),
        other => ServeError::Internal(other.to_string()),
    }
}

/// What the server holds for serving: the loaded versions and their memory against the budget,
/// the versions loading or evicted, and the threads that compute.
#[derive(Serialize, ToSchema)]
pub struct ServingBody {
    /// The most bytes the loaded versions may hold together (`serve --max-loaded-mb`); past it
    /// the least recently used are unloaded (never a pinned one, nor one with requests in
    /// flight).
    pub budget_bytes: u64,
    /// Bytes the loaded versions hold now.
    pub held_bytes: u64,
    /// Threads that compute every version's batches.
    pub compute_threads: usize,
    /// Every loaded version, by model and version (state `ready`).
    pub loaded: Vec<LoadedBody>,
    /// Versions being loaded now (`loading`) or unloaded over the budget since they were last
    /// loaded (`evicted`); every other registered version is `unloaded`.
    pub not_loaded: Vec<NotLoadedBody>,
}

/// One loaded version.
#[derive(Serialize, ToSchema)]
pub struct LoadedBody {
    pub model: ModelName,
    pub version: Version,
    /// `ready`.
    pub state: &'static str,
    /// `network` (trained here, or adopted from a dense ONNX graph) or `onnx` (an imported
    /// graph run as it is).
    pub runtime: &'static str,
    /// Bytes its weights and compute buffers hold (approximate).
    pub memory_bytes: u64,
    /// Most rows its batcher joins in one forward pass.
    pub max_batch: usize,
    /// Its weight in the compute threads' round robin (`serve.share`).
    pub share: u32,
    /// Tagged `serve.pinned=true`: loaded before ready, never unloaded to make room.
    pub pinned: bool,
    /// Requests using it now.
    pub in_flight: usize,
}

/// A version that is not loaded, and why.
#[derive(Serialize, ToSchema)]
pub struct NotLoadedBody {
    pub model: ModelName,
    pub version: Version,
    /// `loading` or `evicted`.
    pub state: &'static str,
}

#[utoipa::path(get, path = "/api/v1/serving", tag = "serving",
    responses((status = 200, description = "The loaded versions and their memory, the versions loading or evicted", body = ServingBody)))]
pub async fn loaded(State(state): State<AppState>) -> Json<ServingBody> {
    let pool = &state.pool;
    let loaded: Vec<LoadedBody> = pool
        .loaded()
        .iter()
        .map(|m| LoadedBody {
            model: m.name.clone(),
            version: m.version,
            state: VersionState::Ready.as_str(),
            runtime: match m.runtime {
                Runtime::Dense(_) => "network",
                Runtime::Graph(_) => "onnx",
            },
            memory_bytes: m.memory_bytes as u64,
            max_batch: m.config.max_batch,
            share: m.config.share,
            pinned: m.pinned(),
            in_flight: m.in_flight(),
        })
        .collect();
    let not_loaded = pool
        .not_loaded()
        .into_iter()
        .map(|(model, version, state)| NotLoadedBody {
            model,
            version,
            state: state.as_str(),
        })
        .collect();
    Json(ServingBody {
        budget_bytes: pool.budget_bytes() as u64,
        held_bytes: loaded.iter().map(|m| m.memory_bytes).sum(),
        compute_threads: pool.compute_threads(),
        loaded,
        not_loaded,
    })
}
