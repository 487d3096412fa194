//! The model pool: which versions are loaded, and which version a name or alias means right
//! now. At start the pool reads the source's index (every model, what its aliases and its name
//! alone mean) and loads the hot set, the versions tagged `serve.pinned=true` (or every
//! aliased version, with [`Preload::Aliased`]), several at once; every other version loads on
//! its first request, each version once however many requests wait for it, beside other
//! loads. When a model's aliases or versions change, the pool loads the version a reference
//! now means beside the old one and then swaps the reference, so requests in flight finish on
//! the version they started with and none fail.
//!
//! Every version's batches run on one [`ComputePool`] sized to the cores: a loaded version costs
//! a queue, not a thread. The loaded versions together hold at most `max_loaded_bytes` (by their
//! weights and compute buffers): loading one past that unloads the least recently used others
//! first, never a pinned one nor one with requests in flight (the next request for an unloaded
//! one loads it again: a cold start, not an error).
//!
//! The pool keeps the gauges of what it holds (`aiaas_models_loaded` and, per version,
//! `aiaas_model_memory_bytes`) and counts loads with their duration, evictions and cold starts.

use crate::loaded::{InUse, LoadedModel, Opener, with_settings};
use crate::metrics;
use crate::{
    Arrivals, Arriving, BatcherConfig, ComputePool, ModelSource, PredictionLog, ServeError,
};
use aiaas_types::{ModelName, Version, parse_version};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Instant;
use tokio::sync::{Semaphore, broadcast};

/// What the pool loads before it says it is ready.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Preload {
    /// The versions tagged `serve.pinned=true`: ready at once however many models are
    /// registered; the others load on their first request.
    #[default]
    Pinned,
    /// Those, and the version every alias and every model name alone means.
    Aliased,
}

/// How the pool runs its versions, and how much it may hold.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolConfig {
    /// Each version's batcher (before its `serve.` tags).
    pub batcher: BatcherConfig,
    /// Bytes the loaded versions may hold together (default 2 GiB).
    pub max_loaded_bytes: usize,
    /// Threads that compute every version's batches (0, the default: one per core).
    pub compute_threads: usize,
    /// What [`ModelPool::preload`] loads.
    pub preload: Preload,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            batcher: BatcherConfig::default(),
            max_loaded_bytes: 2 << 30,
            compute_threads: 0,
            preload: Preload::default(),
        }
    }
}

/// Where a version stands in the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionState {
    /// Not loaded: its first request loads it.
    Unloaded,
    /// Being loaded now.
    Loading,
    /// Loaded: requests are answered at once.
    Ready,
    /// Unloaded to keep the loaded versions within the memory budget: its next request loads
    /// it again.
    Evicted,
}

impl VersionState {
    /// `unloaded`, `loading`, `ready` or `evicted`.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionState::Unloaded => "unloaded",
            VersionState::Loading => "loading",
            VersionState::Ready => "ready",
            VersionState::Evicted => "evicted",
        }
    }
}

/// What a request names: a model, and a version number, an alias, or neither.
type Reference = (ModelName, Option<String>);

/// A version of a model.
type Key = (ModelName, Version);

/// One gate per version being loaded: the first caller loads while holding it, the others wait
/// on it and then find the version loaded (or try again if the load failed).
type Gate = Arc<tokio::sync::Mutex<()>>;

/// The loaded model versions and what each reference means; see the module documentation.
pub struct ModelPool {
    source: Arc<dyn ModelSource>,
    config: BatcherConfig,
    max_loaded_bytes: usize,
    preload: Preload,
    /// The threads that compute every version's batches.
    compute: ComputePool,
    /// What `last_used_ms` counts from.
    epoch: Instant,
    loaded: RwLock<HashMap<Key, Arc<LoadedModel>>>,
    /// The versions being loaded now, each with its gate.
    loading: Mutex<HashMap<Key, Gate>>,
    /// Loads that run at once (four per core: a small model's load is mostly waiting on the
    /// database and the blob store, so two per core left first requests queued behind each
    /// other, 55 ms at p50 against 20 ms now in the density bench): what keeps a burst of
    /// first requests from starting a thousand loads, and holding their bundles, together.
    load_slots: Semaphore,
    /// Versions unloaded over the budget since they were last loaded.
    evicted: Mutex<HashSet<Key>>,
    /// What each reference resolved to, until the model changes.
    resolved: RwLock<HashMap<Reference, Version>>,
    /// Each model's version numbers, until the model changes: V2 metadata at any load without
    /// a trip to the registry.
    versions: RwLock<HashMap<ModelName, Arc<[Version]>>>,
    /// Counts changes seen, so that a list read from the source while a change arrived is not
    /// kept (it may predate the change).
    changes_seen: AtomicU64,
    /// Where answered requests are logged (none when sampling is off).
    log: Option<PredictionLog>,
    /// Infer calls on their way, per model (by name): what that model's batchers wait for
    /// before they compute a batch, so a flood of calls to one model never holds back a lone
    /// call to another.
    arrivals: RwLock<HashMap<String, Arrivals>>,
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
        let compute = ComputePool::new(config.compute_threads, "pool");
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let pool = Arc::new(ModelPool {
            log,
            source,
            config: config.batcher,
            max_loaded_bytes: config.max_loaded_bytes,
            preload: config.preload,
            compute,
            epoch: Instant::now(),
            loaded: RwLock::new(HashMap::new()),
            loading: Mutex::new(HashMap::new()),
            load_slots: Semaphore::new(4 * cores),
            evicted: Mutex::new(HashSet::new()),
            resolved: RwLock::new(HashMap::new()),
            versions: RwLock::new(HashMap::new()),
            changes_seen: AtomicU64::new(0),
            arrivals: RwLock::new(HashMap::new()),
        });
        tokio::spawn(follow_changes(Arc::downgrade(&pool), changes));
        // Registers the series, so a scrape shows 0 rather than nothing before the first load
        // or the first logged row.
        metrics::models_loaded().increment(0.0);
        metrics::evictions().increment(0);
        metrics::cold_starts().increment(0);
        metrics::prediction_log_written().increment(0);
        metrics::prediction_log_dropped().increment(0);
        pool
    }

    /// Count an infer call to `model` from its arrival (before its body is parsed) until the
    /// guard is dropped, by [`crate::infer`] as it queues the call: a model's batchers wait for
    /// company only while some call to it is on its way.
    pub fn arriving(&self, model: &str) -> Arriving {
        match self.arrivals.read().expect("arrivals lock").get(model) {
            Some(arrivals) => arrivals.arriving(),
            // A model never loaded: no batcher waits for it (its first call loads it).
            None => Arrivals::default().arriving(),
        }
    }

    /// The counter of calls on their way to `name`, made at its first load.
    fn arrivals_of(&self, name: &ModelName) -> Arrivals {
        let mut arrivals = self.arrivals.write().expect("arrivals lock");
        arrivals.entry(name.to_string()).or_default().clone()
    }

    /// The prediction log, unless sampling is off.
    pub fn log(&self) -> Option<&PredictionLog> {
        self.log.as_ref()
    }

    /// Threads computing the versions' batches.
    pub fn compute_threads(&self) -> usize {
        self.compute.threads()
    }

    /// Read the source's index (what each model's aliases and name mean, kept so first
    /// requests need no trip to the source) and load the hot set (see [`Preload`]), several
    /// versions at once. Returns how many versions the hot set holds; the first failed load's
    /// error once every load has ended.
    pub async fn preload(self: &Arc<Self>) -> Result<usize, ServeError> {
        let seen = self.changes_seen.load(Ordering::SeqCst);
        let (models, pinned) = tokio::try_join!(self.source.models(), self.source.pinned())?;
        let mut index = Vec::new();
        for m in &models {
            index.extend(m.default.map(|v| ((m.name.clone(), None), v)));
            index.extend(
                m.aliases
                    .iter()
                    .map(|(alias, v)| ((m.name.clone(), Some(alias.to_string())), *v)),
            );
        }
        let mut hot: BTreeSet<Key> = pinned.into_iter().collect();
        if self.preload == Preload::Aliased {
            hot.extend(index.iter().map(|((name, _), v)| (name.clone(), *v)));
        }
        {
            // Kept only if no change arrived meanwhile (the index may predate it).
            let mut resolved = self.resolved.write().expect("resolved lock");
            if self.changes_seen.load(Ordering::SeqCst) == seen {
                resolved.extend(index);
            }
        }
        let mut loads = tokio::task::JoinSet::new();
        for (name, version) in hot.iter().cloned() {
            let pool = self.clone();
            loads.spawn(async move { pool.load(&name, version, true).await.map(drop) });
        }
        let mut first_error = None;
        while let Some(done) = loads.join_next().await {
            let result = done.map_err(|e| ServeError::Internal(format!("a load failed: {e}")));
            if let Err(e) = result.and_then(|r| r) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(hot.len()), Err)
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
        self.find(name, version, false).await
    }

    /// [`ModelPool::get`] for a request that computes: the version is counted in flight (never
    /// unloaded to make room) until the guard is dropped, and a wait for its load counts as a
    /// cold start.
    pub async fn acquire(
        &self,
        name: &ModelName,
        version: Option<&str>,
    ) -> Result<InUse, ServeError> {
        self.find(name, version, true).await.map(InUse::new)
    }

    async fn find(
        &self,
        name: &ModelName,
        version: Option<&str>,
        request: bool,
    ) -> Result<Arc<LoadedModel>, ServeError> {
        let key = (name.clone(), version.map(str::to_string));
        let cached = self
            .resolved
            .read()
            .expect("resolved lock")
            .get(&key)
            .copied();
        let number = match cached {
            Some(number) => number,
            None => self.resolve(name, version).await?,
        };
        let loaded = self.loaded_version(&(name.clone(), number));
        let model = match loaded {
            Some(model) => model,
            None => {
                if request {
                    metrics::cold_starts().increment(1);
                }
                self.load(name, number, !request).await?
            }
        };
        self.touch(&model);
        if cached.is_none() {
            // Only references that led to a version are remembered: a stream of requests for
            // versions that do not exist must not grow the cache.
            self.resolved
                .write()
                .expect("resolved lock")
                .insert(key, number);
        }
        Ok(model)
    }

    fn loaded_version(&self, key: &Key) -> Option<Arc<LoadedModel>> {
        self.loaded.read().expect("loaded lock").get(key).cloned()
    }

    fn touch(&self, model: &LoadedModel) {
        let now = self.epoch.elapsed().as_millis() as u64;
        model.last_used_ms.store(now, Ordering::Relaxed);
    }

    /// Unloads the least recently used versions, but `kept`, pinned ones and ones with requests
    /// in flight, while the loaded ones hold more than the budget.
    fn unload_over_budget(&self, kept: &Key) {
        let mut loaded = self.loaded.write().expect("loaded lock");
        let mut held: usize = loaded.values().map(|m| m.memory_bytes).sum();
        while held > self.max_loaded_bytes {
            let Some(oldest) = loaded
                .iter()
                .filter(|(key, m)| *key != kept && !m.pinned() && m.in_flight() == 0)
                .min_by_key(|(_, m)| m.last_used_ms.load(Ordering::Relaxed))
                .map(|(key, _)| key.clone())
            else {
                tracing::warn!(model = %kept.0, version = %kept.1, held, budget = self.max_loaded_bytes, "over the memory budget, with nothing that may be unloaded (pinned, in use, or the version just loaded)");
                return;
            };
            if let Some(m) = loaded.remove(&oldest) {
                held -= m.memory_bytes;
                tracked(&m, false);
                metrics::evictions().increment(1);
                self.evicted.lock().expect("evicted lock").insert(oldest);
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

    /// Every version the pool knows that is not loaded, with its state (`Loading` or
    /// `Evicted`), by model and version. (A loaded version whose new settings are being applied
    /// is behind a load gate too; it is loaded, so not here.)
    pub fn not_loaded(&self) -> Vec<(ModelName, Version, VersionState)> {
        let loaded = self.loaded.read().expect("loaded lock");
        let mut all: Vec<_> = (self.loading.lock().expect("loading lock").keys())
            .filter(|key| !loaded.contains_key(*key))
            .map(|(n, v)| (n.clone(), *v, VersionState::Loading))
            .collect();
        all.extend(
            (self.evicted.lock().expect("evicted lock").iter())
                .map(|(n, v)| (n.clone(), *v, VersionState::Evicted)),
        );
        all.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        // A version being loaded again after its eviction is `Loading`.
        all.dedup_by(|a, b| (&a.0, a.1) == (&b.0, b.1));
        all
    }

    /// Where version `version` of `name` stands.
    pub fn state(&self, name: &ModelName, version: Version) -> VersionState {
        let key = (name.clone(), version);
        if self.loaded.read().expect("loaded lock").contains_key(&key) {
            VersionState::Ready
        } else if self
            .loading
            .lock()
            .expect("loading lock")
            .contains_key(&key)
        {
            VersionState::Loading
        } else if self.evicted.lock().expect("evicted lock").contains(&key) {
            VersionState::Evicted
        } else {
            VersionState::Unloaded
        }
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

    /// The gate of `key`'s load, made if no load of it is under way.
    fn gate(&self, key: &Key) -> Gate {
        let mut loading = self.loading.lock().expect("loading lock");
        loading.entry(key.clone()).or_default().clone()
    }

    /// Forgets `key`'s gate if it is still `gate` (a later load may have made its own).
    fn ungate(&self, key: &Key, gate: &Gate) {
        let mut loading = self.loading.lock().expect("loading lock");
        if loading.get(key).is_some_and(|g| Arc::ptr_eq(g, gate)) {
            loading.remove(key);
        }
    }

    fn opener(&self, name: &ModelName, warm: bool) -> Opener<'_> {
        Opener {
            source: &*self.source,
            base: &self.config,
            compute: &self.compute,
            arrivals: self.arrivals_of(name),
            warm,
        }
    }

    /// Version `version` of `name`, loaded by this call unless it is loaded or another call
    /// loads it now (then this one waits for that load); `warm`: with one pass before it is
    /// handed out (see [`Opener::warm`]).
    async fn load(
        &self,
        name: &ModelName,
        version: Version,
        warm: bool,
    ) -> Result<Arc<LoadedModel>, ServeError> {
        let key = (name.clone(), version);
        if let Some(m) = self.loaded_version(&key) {
            return Ok(m);
        }
        let gate = self.gate(&key);
        let result = self.load_behind(&key, &gate, warm).await;
        self.ungate(&key, &gate);
        result
    }

    async fn load_behind(
        &self,
        key: &Key,
        gate: &Gate,
        warm: bool,
    ) -> Result<Arc<LoadedModel>, ServeError> {
        let _turn = gate.lock().await;
        if let Some(m) = self.loaded_version(key) {
            return Ok(m);
        }
        let _slot = self.load_slots.acquire().await;
        let started = Instant::now();
        let opened = self.opener(&key.0, warm).open(&key.0, key.1).await;
        metrics::record_load(opened.is_ok(), started.elapsed());
        let model = opened?;
        // Under the gate nobody else inserts this key: the entry is new.
        self.loaded
            .write()
            .expect("loaded lock")
            .insert(key.clone(), model.clone());
        self.evicted.lock().expect("evicted lock").remove(key);
        tracked(&model, true);
        tracing::info!(model = %key.0, version = %key.1, ms = started.elapsed().as_millis() as u64, "model loaded");
        self.touch(&model);
        self.unload_over_budget(key);
        Ok(model)
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
                    if let Err(e) = self.load(&model, number, true).await {
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
        self.load_pinned(name).await;
    }

    /// Loads the pinned versions of `name` (all models when `None`) that are not loaded: a
    /// version pinned while the server runs joins the hot set at once.
    async fn load_pinned(&self, name: Option<&ModelName>) {
        let Ok(pinned) = self.source.pinned().await else {
            return;
        };
        for (model, version) in pinned {
            if name.is_none_or(|name| *name == model)
                && let Err(e) = self.load(&model, version, true).await
            {
                tracing::warn!(model = %model, %version, error = %e, "could not load a pinned version");
            }
        }
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
            old.set_pinned(settings.pinned);
            if with_settings(&self.config, settings) == old.config {
                continue;
            }
            let key = (old.name.clone(), old.version);
            let gate = self.gate(&key);
            let turn = gate.lock().await;
            let opened = self
                .opener(&old.name, true)
                .open(&old.name, old.version)
                .await;
            drop(turn);
            self.ungate(&key, &gate);
            match opened {
                Ok(new) => {
                    self.loaded
                        .write()
                        .expect("loaded lock")
                        .insert(key, new.clone());
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
