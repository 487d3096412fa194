//! The serving runtime's two seams to the rest of the platform, kept narrow so that the runtime
//! stands on engine, data and artifact alone and can be run (and tested) without a database:
//! a [`ModelSource`] says what a model reference means and hands over verified artifacts, and a
//! [`PredictionSink`] takes the prediction log's rows. The service implements both over its
//! registry (wired in `aiaas-api`); tests implement them in memory.

use crate::ServeError;
use aiaas_artifact::Artifact;
use aiaas_types::{AliasName, ModelName, NewPrediction, ServingSettings, Version};
use std::future::Future;
use std::pin::Pin;
use tokio::sync::broadcast;

/// A boxed future, as the seams return them (trait objects cannot have `async fn`s).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A model the source holds, with what its references mean now: one entry of the index the
/// pool reads at start, so a first request needs no trip to the source to resolve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceModel {
    pub name: ModelName,
    /// Each alias and the version it points at.
    pub aliases: Vec<(AliasName, Version)>,
    /// The version the name alone means (as [`ModelSource::resolve`] with `None` answers); `None`
    /// when the model has no version.
    pub default: Option<Version>,
}

/// Where the model pool finds models.
pub trait ModelSource: Send + Sync {
    /// Every model with its aliases and default version: the index the pool reads at start.
    fn models(&self) -> BoxFuture<'_, Result<Vec<SourceModel>, ServeError>>;

    /// The versions tagged `serve.pinned=true`: the hot set the pool loads before it says it is
    /// ready, and never unloads to make room.
    fn pinned(&self) -> BoxFuture<'_, Result<Vec<(ModelName, Version)>, ServeError>>;

    /// The version `alias` points at; with `None`, the version a model name alone means.
    /// `NotFound` when the model, the alias or any version is missing.
    fn resolve<'a>(
        &'a self,
        name: &'a ModelName,
        alias: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Version, ServeError>>;

    /// The numbers of a model's versions, oldest first (`NotFound` for an unknown model).
    fn versions<'a>(
        &'a self,
        name: &'a ModelName,
    ) -> BoxFuture<'a, Result<Vec<Version>, ServeError>>;

    /// The verified artifact of a version, trained here or imported (`NotFound` when there is
    /// no such version).
    fn artifact<'a>(
        &'a self,
        name: &'a ModelName,
        version: Version,
    ) -> BoxFuture<'a, Result<Artifact, ServeError>>;

    /// How a version should be served (its `serve.` tags).
    fn settings<'a>(
        &'a self,
        name: &'a ModelName,
        version: Version,
    ) -> BoxFuture<'a, Result<ServingSettings, ServeError>>;

    /// Names of models as their versions, aliases or settings change. A receiver that lags
    /// must look at every model again.
    fn changes(&self) -> broadcast::Receiver<ModelName>;
}

/// Where the prediction log's writer puts rows.
pub trait PredictionSink: Send + Sync {
    /// Write `rows` (one transaction where the sink has them).
    fn write<'a>(&'a self, rows: &'a [NewPrediction]) -> BoxFuture<'a, Result<(), ServeError>>;
}
