//! A loaded model version and how one is opened: its artifact read from the source, checked,
//! its batcher started on the pool's compute threads and warmed by one pass (unless a caller
//! waits for the load), its memory counted.
//! [`InUse`] counts the requests holding a version, which the pool never unloads to make room.

use crate::graph::{Graph, GraphSignature};
use crate::metrics::ModelMetrics;
use crate::signature::Signature;
use crate::v2::TensorMetadata;
use crate::{Arrivals, Batcher, BatcherConfig, ComputePool, Dense, ModelSource, ServeError};
use aiaas_artifact::{Artifact, Bundle, Manifest, OnnxBundle};
use aiaas_onnx::OnnxModel;
use aiaas_types::{ModelName, ServingSettings, Version};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

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
    /// Tagged `serve.pinned=true`: never unloaded to make room (follows the tag).
    pinned: AtomicBool,
    /// When a request last used it (ms after the pool started), for unloading the least
    /// recently used first.
    pub(crate) last_used_ms: AtomicU64,
    /// Requests using it now ([`InUse`] guards): a version with any is never unloaded to make
    /// room.
    in_flight: AtomicUsize,
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
    /// Its queue, computed on the pool's threads.
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
    /// Whether it is pinned: never unloaded to make room.
    pub fn pinned(&self) -> bool {
        self.pinned.load(Ordering::Relaxed)
    }

    pub(crate) fn set_pinned(&self, pinned: bool) {
        self.pinned.store(pinned, Ordering::Relaxed);
    }

    /// Requests using it now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

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

/// A loaded version held by a request: counted in [`LoadedModel::in_flight`] until dropped.
pub struct InUse(Arc<LoadedModel>);

impl InUse {
    pub(crate) fn new(model: Arc<LoadedModel>) -> InUse {
        model.in_flight.fetch_add(1, Ordering::Relaxed);
        InUse(model)
    }

    /// The version it holds.
    pub fn model(&self) -> &Arc<LoadedModel> {
        &self.0
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What opening a version needs from the pool: where versions come from, the server's batcher
/// settings, the threads that compute and the calls on their way to its model.
pub(crate) struct Opener<'a> {
    pub source: &'a dyn ModelSource,
    pub base: &'a BatcherConfig,
    pub compute: &'a ComputePool,
    pub arrivals: Arrivals,
    /// Run one pass before the version is handed out, so that its first caller does not pay
    /// the cold one; not when a caller waits for the load (its own pass is that first pass,
    /// and on a busy pool the warm-up would wait for a compute thread in front of it).
    pub warm: bool,
}

impl Opener<'_> {
    /// Read, start and warm version `version` of `name`, with its serving settings.
    pub async fn open(
        &self,
        name: &ModelName,
        version: Version,
    ) -> Result<Arc<LoadedModel>, ServeError> {
        let artifact = self.source.artifact(name, version).await?;
        let metrics = ModelMetrics::new(name.as_str(), &version.to_string());
        let settings = self.source.settings(name, version).await?;
        let config = with_settings(self.base, settings);
        let label = format!("{name}-v{version}");
        let (runtime, memory_bytes, config) = match artifact {
            Artifact::Native(bundle) => self.open_dense(bundle, &label, config, &metrics).await,
            Artifact::Onnx(bundle) => self.open_graph(bundle, &label, config, &metrics).await,
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
            pinned: AtomicBool::new(settings.pinned),
            last_used_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }))
    }

    /// A network trained here, started and warmed; with the bytes it holds.
    async fn open_dense(
        &self,
        bundle: Bundle,
        label: &str,
        config: BatcherConfig,
        metrics: &ModelMetrics,
    ) -> Result<(Runtime, usize, BatcherConfig), ServeError> {
        // A label for every output, inputs the schema encodes, ...
        bundle
            .check()
            .map_err(|e| ServeError::Internal(e.to_string()))?;
        let network = Arc::new(bundle.network);
        let batcher = Batcher::in_pool(
            self.compute,
            Dense(network.clone()),
            config.clone(),
            label,
            metrics.clone(),
            self.arrivals.clone(),
        );
        // One pass before the first caller, so its latency is not the cold one.
        if self.warm {
            batcher.infer(vec![0.0; network.inputs()], 1, None).await?;
        }
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
        label: &str,
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
        let batcher = Batcher::in_pool(
            self.compute,
            Graph::new(model, signature.clone()),
            if signature.batched() {
                config.clone()
            } else {
                one_at_a_time
            },
            label,
            metrics.clone(),
            self.arrivals.clone(),
        );
        // Warmed on zeros; a graph that refuses them (an index past a table) is still served,
        // and its first real request pays the cold pass.
        if self.warm
            && let Err(e) = batcher.infer(signature.zeros(), 1, None).await
        {
            tracing::debug!(model = label, error = %e, "the warm-up pass on zeros failed");
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
}

/// `base` with what a version's tags override.
pub(crate) fn with_settings(base: &BatcherConfig, settings: ServingSettings) -> BatcherConfig {
    BatcherConfig {
        max_batch: settings.max_batch.unwrap_or(base.max_batch),
        max_delay: settings
            .max_delay_us
            .map_or(base.max_delay, std::time::Duration::from_micros),
        queue_capacity: settings.queue_capacity.unwrap_or(base.queue_capacity),
        threads: base.threads,
        share: settings.share.unwrap_or(base.share),
    }
}
