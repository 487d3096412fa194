//! The model pool: which versions are loaded, and which version a name or alias means right
//! now. A version is loaded (bundle read and verified, batcher started, one warm-up pass) on
//! first use or at start for the aliased ones. When a model's aliases or versions change, the
//! pool loads the version a reference now means beside the old one and then swaps the
//! reference, so requests in flight finish on the version they started with and none fail.
//!
//! The loaded versions together hold at most `max_loaded_bytes` (by their weights and compute
//! buffers): loading one past that unloads the least recently used others first (requests in
//! flight on them finish; the next request for one loads it again).
//!
//! The pool keeps the gauges of what it holds: `aiaas_models_loaded` and, per version,
//! `aiaas_model_memory_bytes` (raised on load, lowered on unload and when the pool is dropped).

use crate::graph::{Graph, GraphSignature};
use crate::metrics::{self, ModelMetrics};
use crate::signature::Signature;
use crate::v2::TensorMetadata;
use crate::{Arrivals, Arriving, Batcher, BatcherConfig, ModelSource, PredictionLog, ServeError};
use aiaas_artifact::{Artifact, Bundle, Manifest, OnnxBundle};
use aiaas_onnx::OnnxModel;
use aiaas_types::{ModelName, ServingSettings, Version, parse_version};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Instant;
use tokio::sync::{Mutex, broadcast};

/// One loaded model version, ready to infer.
pub struct LoadedModel {
    /// The model's name.
    pub name: ModelName,
    /// Its version number.
    pub version: Version,
    /// What computes its answers.
    pub runtime: Runtime,
    /// Bytes held by its weights and compute buffers (approximate).
    pub memory_bytes: usize,
    /// Its metric handles (labels `model`, `version`), shared with its batcher.
    pub metrics: ModelMetrics,
    /// How its batcher runs (the server's defaults, overridden by its `serve.` tags; a graph
    /// that cannot join requests runs them one at a time whatever `max_batch` says).
    pub config: BatcherConfig,
    /// When a request last used it (ms after the pool started), for unloading the least
    /// recently used first.
    last_used_ms: AtomicU64,
}

/// How a loaded version computes: a network trained here or an imported ONNX graph, each with
/// its signature and its batcher.
// One per loaded version, behind its `Arc`: not worth a box.
#[allow(clippy::large_enum_variant)]
pub enum Runtime {
    Dense(DenseModel),
    Graph(GraphModel),
}

/// A version trained here.
pub struct DenseModel {
    /// The manifest of its bundle.
    pub manifest: Manifest,
    /// The V2 tensors it takes and gives.
    pub signature: Signature,
    /// Its queue and compute thread.
    pub batcher: Batcher,
    /// Outputs per row (logit columns).
    pub outputs: usize,
}

/// An imported ONNX version.
pub struct GraphModel {
    /// Shared with the blocking threads that prepare its image requests.
    pub signature: Arc<GraphSignature>,
    pub batcher: Batcher<Graph>,
}

impl LoadedModel {
    /// The V2 tensors it takes.
    pub fn inputs(&self) -> &[TensorMetadata] {
        match &self.runtime {
            Runtime::Dense(m) => &m.signature.inputs,
            Runtime::Graph(m) => &m.signature.inputs,
        }
    }

    /// The V2 tensors it gives.
    pub fn outputs(&self) -> &[TensorMetadata] {
        match &self.runtime {
            Runtime::Dense(m) => &m.signature.outputs,
            Runtime::Graph(m) => &m.signature.outputs,
        }
    }
}

/// How the pool runs its versions, and how much it may hold.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolConfig {
    /// Each version's batcher (before its `serve.` tags).
    pub batcher: BatcherConfig,
    /// Bytes the loaded versions may hold together (default 2 GiB).
    pub max_loaded_bytes: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            batcher: BatcherConfig::default(),
            max_loaded_bytes: 2 << 30,
        }
    }
}

/// What a request names: a model, and a version number, an alias, or neither.
type Reference = (ModelName, Option<String>);

/// The loaded model versions and what each reference means; see the module documentation.
pub struct ModelPool {
    source: Arc<dyn ModelSource>,
    config: BatcherConfig,
    max_loaded_bytes: usize,
    /// What `last_used_ms` counts from.
    epoch: Instant,
    loaded: RwLock<HashMap<(ModelName, Version), Arc<LoadedModel>>>,
    /// What each reference resolved to, until the model changes.
    resolved: RwLock<HashMap<Reference, Version>>,
    /// Each model's version numbers, until the model changes: V2 metadata at any load without
    /// a trip to the registry.
    versions: RwLock<HashMap<ModelName, Arc<[Version]>>>,
    /// Counts changes seen, so that a list read from the source while a change arrived is not
    /// kept (it may predate the change).
    changes_seen: AtomicU64,
    /// One load at a time, so concurrent first requests load a version once.
    loading: Mutex<()>,
    /// Where answered requests are logged (none when sampling is off).
    log: Option<PredictionLog>,
    /// Infer calls on their way to a batcher, whatever their model: what every batcher waits
    /// for before it computes a batch.
    arrivals: Arrivals,
}

impl ModelPool {
    /// A pool over the models of `source`, following its changes in the background, logging
    /// answered requests to `log` if given. Needs a tokio runtime.
    pub fn start(
        source: Arc<dyn ModelSource>,
        config: PoolConfig,
        log: Option<PredictionLog>,
    ) -> Arc<ModelPool> {
        let changes = source.changes();
        let pool = Arc::new(ModelPool {
            log,
            source,
            config: config.batcher,
            max_loaded_bytes: config.max_loaded_bytes,
            epoch: Instant::now(),
            loaded: RwLock::new(HashMap::new()),
            resolved: RwLock::new(HashMap::new()),
            versions: RwLock::new(HashMap::new()),
            changes_seen: AtomicU64::new(0),
            loading: Mutex::new(()),
            arrivals: Arrivals::default(),
        });
        tokio::spawn(follow_changes(Arc::downgrade(&pool), changes));
        // Registers the series, so a scrape shows 0 rather than nothing before the first load
        // or the first logged row.
        metrics::models_loaded().increment(0.0);
        metrics::prediction_log_written().increment(0);
        metrics::prediction_log_dropped().increment(0);
        pool
    }

    /// Count an infer call from its arrival (before its body is parsed) until the guard is
    /// dropped, by [`crate::infer`] as it queues the call: batchers wait for company only
    /// while some call is on its way.
    pub fn arriving(&self) -> Arriving {
        self.arrivals.arriving()
    }

    /// The prediction log, unless sampling is off.
    pub fn log(&self) -> Option<&PredictionLog> {
        self.log.as_ref()
    }

    /// Load the version every alias of every model points at (or the newest, for models
    /// without aliases), so the first requests find them warm. Returns how many versions that
    /// is (a version two references name counts once).
    pub async fn preload(&self) -> Result<usize, ServeError> {
        let models = self.source.models().await?;
        let mut loaded = std::collections::BTreeSet::new();
        for m in models {
            let mut references: Vec<Option<String>> = vec![None];
            references.extend(m.aliases.iter().map(|a| Some(a.to_string())));
            for reference in references {
                let model = self.get(&m.name, reference.as_deref()).await?;
                loaded.insert((m.name.clone(), model.version));
            }
        }
        Ok(loaded.len())
    }

    /// The numbers of `name`'s versions, oldest first: from memory once read, until the model
    /// changes.
    pub async fn versions(&self, name: &ModelName) -> Result<Arc<[Version]>, ServeError> {
        if let Some(versions) = self.versions.read().expect("versions lock").get(name) {
            return Ok(versions.clone());
        }
        let seen = self.changes_seen.load(Ordering::SeqCst);
        let versions: Arc<[Version]> = self.source.versions(name).await?.into();
        // Kept only if no change arrived meanwhile; unknown names (an error above) never are.
        let mut cache = self.versions.write().expect("versions lock");
        if self.changes_seen.load(Ordering::SeqCst) == seen {
            cache.insert(name.clone(), versions.clone());
        }
        Ok(versions)
    }

    /// The loaded model a request names, loading it if needed.
    pub async fn get(
        &self,
        name: &ModelName,
        version: Option<&str>,
    ) -> Result<Arc<LoadedModel>, ServeError> {
        let key = (name.clone(), version.map(str::to_string));
        let cached = self
            .resolved
            .read()
            .expect("resolved lock")
            .get(&key)
            .copied();
        if let Some(number) = cached {
            let model = self.load(name, number).await?;
            self.touch(&model);
            return Ok(model);
        }
        let number = self.resolve(name, version).await?;
        let model = self.load(name, number).await?;
        self.touch(&model);
        // Only references that led to a version are remembered: a stream of requests for
        // versions that do not exist must not grow the cache.
        self.resolved
            .write()
            .expect("resolved lock")
            .insert(key, number);
        Ok(model)
    }

    fn touch(&self, model: &LoadedModel) {
        let now = self.epoch.elapsed().as_millis() as u64;
        model.last_used_ms.store(now, Ordering::Relaxed);
    }

    /// Unloads the least recently used versions but `kept` while the loaded ones hold more
    /// than the budget.
    fn unload_over_budget(&self, kept: &(ModelName, Version)) {
        let mut loaded = self.loaded.write().expect("loaded lock");
        loop {
            let held: usize = loaded.values().map(|m| m.memory_bytes).sum();
            if held <= self.max_loaded_bytes {
                return;
            }
            let Some(oldest) = loaded
                .iter()
                .filter(|(key, _)| *key != kept)
                .min_by_key(|(_, m)| m.last_used_ms.load(Ordering::Relaxed))
                .map(|(key, _)| key.clone())
            else {
                tracing::warn!(model = %kept.0, version = %kept.1, held, budget = self.max_loaded_bytes, "one version alone is over the memory budget");
                return;
            };
            if let Some(m) = loaded.remove(&oldest) {
                tracked(&m, false);
                tracing::info!(model = %m.name, version = %m.version, "model unloaded: the least recently used, over the memory budget");
            }
        }
    }

    /// The most bytes the loaded versions may hold together.
    pub fn budget_bytes(&self) -> usize {
        self.max_loaded_bytes
    }

    /// Every loaded version.
    pub fn loaded(&self) -> Vec<Arc<LoadedModel>> {
        let loaded = self.loaded.read().expect("loaded lock");
        let mut all: Vec<_> = loaded.values().cloned().collect();
        all.sort_by(|a, b| (&a.name, a.version).cmp(&(&b.name, b.version)));
        all
    }

    /// Unload every version of `name` (requests in flight finish first: they hold their model).
    pub fn unload(&self, name: &ModelName) -> usize {
        let mut loaded = self.loaded.write().expect("loaded lock");
        let before = loaded.len();
        loaded.retain(|(n, _), m| {
            let keep = n != name;
            if !keep {
                tracked(m, false);
            }
            keep
        });
        self.resolved
            .write()
            .expect("resolved lock")
            .retain(|(n, _), _| n != name);
        before - loaded.len()
    }

    /// Whether some version of `name` is loaded.
    pub(crate) fn has_loaded(&self, name: &ModelName) -> bool {
        self.loaded
            .read()
            .expect("loaded lock")
            .keys()
            .any(|(n, _)| n == name)
    }

    /// The version number a reference means now.
    async fn resolve(
        &self,
        name: &ModelName,
        version: Option<&str>,
    ) -> Result<Version, ServeError> {
        match version.and_then(parse_version) {
            Some(number) => Ok(number),
            None => self.source.resolve(name, version).await,
        }
    }

    async fn load(
        &self,
        name: &ModelName,
        version: Version,
    ) -> Result<Arc<LoadedModel>, ServeError> {
        let key = (name.clone(), version);
        if let Some(m) = self.loaded.read().expect("loaded lock").get(&key) {
            return Ok(m.clone());
        }
        let _one_at_a_time = self.loading.lock().await;
        if let Some(m) = self.loaded.read().expect("loaded lock").get(&key) {
            return Ok(m.clone());
        }
        let model = self.open(name, version).await?;
        // Under the `loading` lock nobody else inserts this key: the entry is new.
        self.loaded
            .write()
            .expect("loaded lock")
            .insert(key.clone(), model.clone());
        tracked(&model, true);
        tracing::info!(model = %name, %version, "model loaded");
        self.touch(&model);
        self.unload_over_budget(&key);
        Ok(model)
    }

    /// Read, start and warm version `version` of `name`, with its serving settings.
    async fn open(
        &self,
        name: &ModelName,
        version: Version,
    ) -> Result<Arc<LoadedModel>, ServeError> {
        let artifact = self.source.artifact(name, version).await?;
        let metrics = ModelMetrics::new(name.as_str(), &version.to_string());
        let settings = self.source.settings(name, version).await?;
        let config = with_settings(&self.config, settings);
        let thread = format!("{name}-v{version}");
        let (runtime, memory_bytes, config) = match artifact {
            Artifact::Native(bundle) => self.open_dense(bundle, &thread, config, &metrics).await,
            Artifact::Onnx(bundle) => self.open_graph(bundle, &thread, config, &metrics).await,
        }
        .map_err(|e| match e {
            // Whatever the source, a version the runtime cannot serve is refused here rather
            // than met by a request.
            ServeError::Internal(why) => {
                ServeError::Internal(format!("{name} version {version} cannot be served: {why}"))
            }
            other => other,
        })?;
        Ok(Arc::new(LoadedModel {
            name: name.clone(),
            version,
            runtime,
            memory_bytes,
            metrics,
            config,
            last_used_ms: AtomicU64::new(0),
        }))
    }

    /// A network trained here, started and warmed; with the bytes it holds.
    async fn open_dense(
        &self,
        bundle: Bundle,
        thread: &str,
        config: BatcherConfig,
        metrics: &ModelMetrics,
    ) -> Result<(Runtime, usize, BatcherConfig), ServeError> {
        // A label for every output, inputs the schema encodes, ...
        bundle
            .check()
            .map_err(|e| ServeError::Internal(e.to_string()))?;
        let network = Arc::new(bundle.network);
        let batcher = Batcher::start_with(
            network.clone(),
            config.clone(),
            thread,
            metrics.clone(),
            self.arrivals.clone(),
        );
        // One pass before the first caller, so its latency is not the cold one.
        batcher.infer(vec![0.0; network.inputs()], 1, None).await?;
        let memory = network.param_count() * 4
            + config.max_batch * (network.inputs() + network.outputs()) * 4 * 2;
        let model = DenseModel {
            signature: Signature::of(&bundle.manifest.schema),
            manifest: bundle.manifest,
            batcher,
            outputs: network.outputs(),
        };
        Ok((Runtime::Dense(model), memory, config))
    }

    /// An imported ONNX graph, read and optimized (on a blocking thread: seconds for a large
    /// graph), started and warmed; with the bytes it holds (its file's size, twice: the weights
    /// as tract holds them and the plan's buffers, roughly).
    async fn open_graph(
        &self,
        bundle: OnnxBundle,
        thread: &str,
        config: BatcherConfig,
        metrics: &ModelMetrics,
    ) -> Result<(Runtime, usize, BatcherConfig), ServeError> {
        let memory = bundle.model.len() * 2;
        let manifest = &bundle.manifest;
        let (classes, preprocess) = (manifest.classes.clone(), manifest.preprocess.clone());
        let token_inputs = manifest.token_inputs.clone();
        let tokenizer = match &bundle.tokenizer {
            Some(bytes) => Some(
                tokenizers::Tokenizer::from_bytes(bytes)
                    .map_err(|e| ServeError::Internal(format!("reading the tokenizer: {e}")))?,
            ),
            None => None,
        };
        let model = tokio::task::spawn_blocking(move || OnnxModel::read(&bundle.model))
            .await
            .map_err(|e| ServeError::Internal(format!("reading the graph: {e}")))?
            .map_err(|e| ServeError::Internal(e.to_string()))?;
        let signature = GraphSignature::of(
            model.inputs(),
            model.outputs(),
            classes.as_ref(),
            preprocess.as_ref(),
            tokenizer.map(|t| (t, token_inputs.as_slice())),
        )?;
        // A graph that cannot join requests takes them one at a time, whatever its settings
        // say (the model keeps them as asked, so that a change of them is seen as one).
        let one_at_a_time = BatcherConfig {
            max_batch: 1,
            ..config.clone()
        };
        let batcher = Batcher::spawn(
            Graph::new(model, signature.clone()),
            if signature.batched() {
                config.clone()
            } else {
                one_at_a_time
            },
            thread,
            metrics.clone(),
            self.arrivals.clone(),
        );
        // Warmed on zeros; a graph that refuses them (an index past a table) is still served,
        // and its first real request pays the cold pass.
        if let Err(e) = batcher.infer(signature.zeros(), 1, None).await {
            tracing::debug!(model = thread, error = %e, "the warm-up pass on zeros failed");
        }
        Ok((
            Runtime::Graph(GraphModel {
                signature: Arc::new(signature),
                batcher,
            }),
            memory,
            config,
        ))
    }

    /// Re-resolve the references of `name` (all models when `None`).
    async fn refresh(&self, name: Option<&ModelName>) {
        {
            let mut versions = self.versions.write().expect("versions lock");
            self.changes_seen.fetch_add(1, Ordering::SeqCst);
            match name {
                Some(name) => {
                    versions.remove(name);
                }
                None => versions.clear(),
            }
        }
        let references: Vec<Reference> = self
            .resolved
            .read()
            .expect("resolved lock")
            .keys()
            .filter(|(n, _)| name.is_none_or(|name| n == name))
            .cloned()
            .collect();
        for (model, version) in references {
            match self.resolve(&model, version.as_deref()).await {
                Ok(number) => {
                    if let Err(e) = self.load(&model, number).await {
                        tracing::warn!(model = %model, version = %number, error = %e, "could not load the new version; keeping the old");
                        continue;
                    }
                    self.resolved
                        .write()
                        .expect("resolved lock")
                        .insert((model, version), number);
                }
                // The alias or the model is gone: forget the reference.
                Err(_) => {
                    self.resolved
                        .write()
                        .expect("resolved lock")
                        .remove(&(model, version));
                }
            }
        }
        self.apply_settings(name).await;
    }

    /// Restart the loaded versions of `name` (all when `None`) whose `serve.` tags changed: the
    /// new batcher is started and warmed before it replaces the old one, whose requests in
    /// flight finish on it.
    async fn apply_settings(&self, name: Option<&ModelName>) {
        let loaded: Vec<Arc<LoadedModel>> = self
            .loaded()
            .into_iter()
            .filter(|m| name.is_none_or(|n| *n == m.name))
            .collect();
        for old in loaded {
            let Ok(settings) = self.source.settings(&old.name, old.version).await else {
                continue;
            };
            if with_settings(&self.config, settings) == old.config {
                continue;
            }
            let _one_at_a_time = self.loading.lock().await;
            match self.open(&old.name, old.version).await {
                Ok(new) => {
                    self.loaded
                        .write()
                        .expect("loaded lock")
                        .insert((old.name.clone(), old.version), new.clone());
                    tracked(&old, false);
                    tracked(&new, true);
                    tracing::info!(
                        model = %old.name,
                        version = %old.version,
                        max_batch = new.config.max_batch,
                        max_delay_us = new.config.max_delay.as_micros(),
                        queue_capacity = new.config.queue_capacity,
                        "serving settings applied"
                    );
                }
                Err(e) => {
                    tracing::warn!(model = %old.name, error = %e, "could not apply new serving settings")
                }
            }
        }
    }
}

impl Drop for ModelPool {
    fn drop(&mut self) {
        let loaded = self.loaded.get_mut().unwrap_or_else(|e| e.into_inner());
        for m in loaded.values() {
            tracked(m, false);
        }
    }
}

/// Raise (`loaded`) or lower the gauges of what the pool holds by `model`. Adding rather than
/// setting keeps them right when several pools share a recorder (tests).
fn tracked(model: &LoadedModel, loaded: bool) {
    let sign = if loaded { 1.0 } else { -1.0 };
    metrics::models_loaded().increment(sign);
    model
        .metrics
        .memory_bytes
        .increment(sign * model.memory_bytes as f64);
}

/// Re-resolve a model's references whenever it changes, for as long as the pool lives.
async fn follow_changes(pool: Weak<ModelPool>, mut changes: broadcast::Receiver<ModelName>) {
    loop {
        let changed = match changes.recv().await {
            Ok(name) => Some(name),
            // Missed some: look at everything again.
            Err(broadcast::error::RecvError::Lagged(_)) => None,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let Some(pool) = pool.upgrade() else { return };
        pool.refresh(changed.as_ref()).await;
        // A model that just got its first version (or a new champion) is loaded now rather than
        // by its first request.
        if let Some(name) = changed
            && let Err(e) = pool.get(&name, None).await
        {
            tracing::debug!(model = %name, error = %e, "nothing to load for the changed model");
        }
    }
}

/// `base` with what a version's tags override.
fn with_settings(base: &BatcherConfig, settings: ServingSettings) -> BatcherConfig {
    BatcherConfig {
        max_batch: settings.max_batch.unwrap_or(base.max_batch),
        max_delay: settings
            .max_delay_us
            .map_or(base.max_delay, std::time::Duration::from_micros),
        queue_capacity: settings.queue_capacity.unwrap_or(base.queue_capacity),
        threads: base.threads,
    }
}
