//! A model source and a prediction sink in memory, and the helpers the pool's tests share: the
//! pool runs without a database or HTTP.

use crate::mlp;
use aiaas_artifact::{Artifact, Bundle, DatasetRef, Lineage, Manifest, WeightsInfo};
use aiaas_serve::v2::{InferRequest, InferResponse, OutputData};
use aiaas_serve::{
    BoxFuture, DenseModel, LoadedModel, ModelPool, ModelSource, PoolConfig, PredictionLog,
    PredictionSink, Runtime, ServeError, SourceModel,
};
use aiaas_types::{
    Activation, AliasName, Feature, FeatureKind, LossKind, ModelKind, ModelName, ModelSpec,
    NewPrediction, OptimizerKind, OptimizerSpec, Schedule, Schema, ServingSettings, SplitSpec,
    TargetSchema, TrainSpec, Version,
};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;

pub const INPUTS: usize = 3;
pub const LABELS: [&str; 2] = ["no", "yes"];

/// A registry in memory: bundles by version, aliases, settings, and a change feed.
#[derive(Default)]
pub struct Memory {
    pub versions: HashMap<(ModelName, Version), Bundle>,
    pub aliases: HashMap<(ModelName, AliasName), Version>,
    pub settings: HashMap<(ModelName, Version), ServingSettings>,
}

pub struct MemorySource {
    pub memory: Mutex<Memory>,
    changes: broadcast::Sender<ModelName>,
    /// Bundles handed out, to see what the pool loads and when.
    pub loads: AtomicUsize,
    /// Version lists handed out, to see when the pool asks.
    pub listings: AtomicUsize,
    /// References resolved, to see when the pool asks.
    pub resolves: AtomicUsize,
}

impl MemorySource {
    pub fn new() -> Arc<MemorySource> {
        Arc::new(MemorySource {
            memory: Mutex::default(),
            changes: broadcast::channel(16).0,
            loads: AtomicUsize::new(0),
            listings: AtomicUsize::new(0),
            resolves: AtomicUsize::new(0),
        })
    }

    /// Changes what `name` means with `edit`, then announces the change as a registry would.
    pub fn change(&self, name: &ModelName, edit: impl FnOnce(&mut Memory)) {
        edit(&mut self.memory.lock().unwrap());
        let _ = self.changes.send(name.clone());
    }

    /// Registers version `version` of `name`, a small classifier whose weights depend on `seed`.
    pub fn publish(&self, name: &ModelName, version: u32, seed: u64) {
        let key = (name.clone(), Version::new(version));
        self.change(name, |m| {
            m.versions.insert(key, bundle(name, seed));
        });
    }

    pub fn set_alias(&self, name: &ModelName, alias: &str, version: u32) {
        let key = (name.clone(), AliasName::new(alias).unwrap());
        self.change(name, |m| {
            m.aliases.insert(key, Version::new(version));
        });
    }

    pub fn set_settings(&self, name: &ModelName, version: u32, settings: ServingSettings) {
        let key = (name.clone(), Version::new(version));
        self.change(name, |m| {
            m.settings.insert(key, settings);
        });
    }
}

impl ModelSource for MemorySource {
    fn models(&self) -> BoxFuture<'_, Result<Vec<SourceModel>, ServeError>> {
        let memory = self.memory.lock().unwrap();
        let mut models: BTreeMap<ModelName, SourceModel> = BTreeMap::new();
        fn entry<'m>(
            models: &'m mut BTreeMap<ModelName, SourceModel>,
            name: &ModelName,
        ) -> &'m mut SourceModel {
            models.entry(name.clone()).or_insert_with(|| SourceModel {
                name: name.clone(),
                aliases: Vec::new(),
                default: None,
            })
        }
        for (name, version) in memory.versions.keys() {
            let m = entry(&mut models, name);
            m.default = m.default.max(Some(*version));
        }
        for ((name, alias), version) in &memory.aliases {
            entry(&mut models, name)
                .aliases
                .push((alias.clone(), *version));
        }
        for m in models.values_mut() {
            m.aliases.sort();
            if let Some((_, champion)) = m.aliases.iter().find(|(a, _)| a.as_str() == "champion") {
                m.default = Some(*champion);
            }
        }
        let models = models.into_values().collect();
        Box::pin(async move { Ok(models) })
    }

    fn pinned(&self) -> BoxFuture<'_, Result<Vec<(ModelName, Version)>, ServeError>> {
        let memory = self.memory.lock().unwrap();
        let mut pinned: Vec<_> = (memory.settings.iter())
            .filter(|(_, s)| s.pinned)
            .map(|(key, _)| key.clone())
            .collect();
        pinned.sort();
        Box::pin(async move { Ok(pinned) })
    }

    fn resolve<'a>(
        &'a self,
        name: &'a ModelName,
        alias: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Version, ServeError>> {
        self.resolves.fetch_add(1, Ordering::SeqCst);
        let memory = self.memory.lock().unwrap();
        let aliased = |alias: &str| {
            memory
                .aliases
                .iter()
                .find(|((n, a), _)| n == name && a.as_str() == alias)
                .map(|(_, v)| *v)
        };
        let newest = memory
            .versions
            .keys()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| *v)
            .max();
        let found = match alias {
            Some(alias) => aliased(alias),
            None => aliased("champion").or(newest),
        };
        let result = found.ok_or_else(|| ServeError::NotFound(format!("{name} has no {alias:?}")));
        Box::pin(async move { result })
    }

    fn versions<'a>(
        &'a self,
        name: &'a ModelName,
    ) -> BoxFuture<'a, Result<Vec<Version>, ServeError>> {
        let mut versions: Vec<Version> = (self.memory.lock().unwrap().versions.keys())
            .filter(|(n, _)| n == name)
            .map(|(_, v)| *v)
            .collect();
        versions.sort();
        self.listings.fetch_add(1, Ordering::SeqCst);
        let result = if versions.is_empty() {
            Err(ServeError::NotFound(format!("no model {name}")))
        } else {
            Ok(versions)
        };
        Box::pin(async move { result })
    }

    fn artifact<'a>(
        &'a self,
        name: &'a ModelName,
        version: Version,
    ) -> BoxFuture<'a, Result<Artifact, ServeError>> {
        let found = self
            .memory
            .lock()
            .unwrap()
            .versions
            .get(&(name.clone(), version))
            .cloned();
        self.loads.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            (found.map(Artifact::from))
                .ok_or_else(|| ServeError::NotFound(format!("{name} has no version {version}")))
        })
    }

    fn settings<'a>(
        &'a self,
        name: &'a ModelName,
        version: Version,
    ) -> BoxFuture<'a, Result<ServingSettings, ServeError>> {
        let settings = self
            .memory
            .lock()
            .unwrap()
            .settings
            .get(&(name.clone(), version))
            .copied()
            .unwrap_or_default();
        Box::pin(async move { Ok(settings) })
    }

    fn changes(&self) -> broadcast::Receiver<ModelName> {
        self.changes.subscribe()
    }
}

/// Logged rows, in memory.
#[derive(Default)]
pub struct MemorySink {
    pub rows: Mutex<Vec<NewPrediction>>,
}

impl PredictionSink for MemorySink {
    fn write<'a>(&'a self, rows: &'a [NewPrediction]) -> BoxFuture<'a, Result<(), ServeError>> {
        self.rows.lock().unwrap().extend_from_slice(rows);
        Box::pin(async { Ok(()) })
    }
}

/// A classifier over three numeric features (already scaled), its network from `seed`.
pub fn bundle(name: &ModelName, seed: u64) -> Bundle {
    let feature = |i: usize| Feature {
        name: format!("x{i}"),
        kind: FeatureKind::Numeric {
            mean: 0.0,
            scale: 1.0,
        },
    };
    let schema = Schema {
        features: (0..INPUTS).map(feature).collect(),
        target: TargetSchema::Classification {
            name: "y".into(),
            labels: LABELS.map(String::from).to_vec(),
        },
    };
    let spec = TrainSpec {
        model: ModelSpec {
            kind: ModelKind::Mlp,
            hidden: vec![8],
            activation: Activation::Relu,
        },
        loss: LossKind::CrossEntropy,
        optimizer: OptimizerSpec::defaults(OptimizerKind::Adam),
        schedule: Schedule::Constant,
        batch_size: 32,
        epochs: 1,
        patience: None,
        restore_best: false,
        seed,
    };
    let manifest = Manifest {
        format_version: aiaas_artifact::FORMAT_VERSION,
        name: name.to_string(),
        task: schema.task(),
        layers: Vec::new(),
        schema,
        weights: WeightsInfo::default(),
        lineage: Lineage {
            dataset: DatasetRef {
                name: "memory".into(),
                digest: "0".repeat(64),
                rows: 0,
            },
            job: None,
            sweep: None,
            spec,
            split: SplitSpec::default(),
            split_rows: BTreeMap::new(),
            epochs_run: 0,
            best_epoch: 0,
            metrics: BTreeMap::new(),
            parent: None,
            optimization: None,
            imported: None,
            created_at_ms: 0,
        },
        profile: Vec::new(),
        files: BTreeMap::new(),
    };
    let network = Arc::try_unwrap(mlp(INPUTS, &[8], LABELS.len(), seed)).unwrap();
    Bundle::new(manifest, network)
}

/// The loaded version as the network trained here it is.
pub fn dense(model: &LoadedModel) -> &DenseModel {
    match &model.runtime {
        Runtime::Dense(dense) => dense,
        Runtime::Graph(_) => panic!("{} is an imported graph", model.name),
    }
}

pub fn name(s: &str) -> ModelName {
    ModelName::new(s).unwrap()
}

pub fn request(id: Option<&str>, rows: usize) -> InferRequest {
    let data: Vec<f32> = (0..rows * INPUTS).map(|i| i as f32 / 10.0 - 0.5).collect();
    serde_json::from_value(json!({
        "id": id,
        "inputs": [{"name": "input", "shape": [rows, INPUTS], "datatype": "FP32", "data": data}],
    }))
    .unwrap()
}

pub fn probabilities(response: &InferResponse) -> Vec<f32> {
    let output = response
        .outputs
        .iter()
        .find(|o| o.name == "probabilities")
        .expect("a probabilities output");
    match &output.data {
        Some(OutputData::Fp32(values)) => values.clone(),
        other => panic!("probabilities as {other:?}"),
    }
}

/// `request` answered by `name`'s default version, counted on its way as the REST API does.
pub async fn infer(
    pool: &ModelPool,
    name: &ModelName,
    request: InferRequest,
) -> Result<InferResponse, ServeError> {
    aiaas_serve::infer(pool, name, None, request, pool.arriving(name.as_str())).await
}

pub fn start(source: &Arc<MemorySource>, log: Option<PredictionLog>) -> Arc<ModelPool> {
    start_with_budget(source, log, PoolConfig::default().max_loaded_bytes)
}

pub fn start_with_budget(
    source: &Arc<MemorySource>,
    log: Option<PredictionLog>,
    max_loaded_bytes: usize,
) -> Arc<ModelPool> {
    let config = PoolConfig {
        max_loaded_bytes,
        ..PoolConfig::default()
    };
    ModelPool::start(source.clone(), config, log)
}

/// Waits (bounded) until `check` holds.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..500 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what} never happened");
}
