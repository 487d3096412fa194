//! `manifest.json`: what the model is, what it takes and gives, where it came from.

use aiaas_data::FeatureProfile;
use aiaas_stats::Metrics;
use aiaas_types::{LayerSpec, Schema, SplitSpec, Task, TrainSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The bundle layout this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub name: String,
    pub task: Task,
    /// Dense layers in order; the last one outputs logits.
    pub layers: Vec<LayerSpec>,
    /// Inputs (names, types, vocabularies, scaling) and outputs (labels or target scaling).
    pub schema: Schema,
    pub weights: WeightsInfo,
    pub lineage: Lineage,
    /// Per-feature profile of the training rows: the reference for drift.
    pub profile: Vec<FeatureProfile>,
    /// SHA-256 of every other file of the bundle, by file name.
    pub files: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightsInfo {
    /// Element type of the stored weights (`f32`).
    pub dtype: String,
    /// Quantization scheme, if any.
    pub quantization: Option<String>,
}

impl Default for WeightsInfo {
    fn default() -> Self {
        WeightsInfo {
            dtype: "f32".into(),
            quantization: None,
        }
    }
}

/// Where the model came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lineage {
    pub dataset: DatasetRef,
    /// The training job that produced the model (none for local CLI runs).
    pub job: Option<String>,
    pub spec: TrainSpec,
    pub split: SplitSpec,
    /// Rows per split part: `train`, `val`, `test`.
    pub split_rows: BTreeMap<String, usize>,
    pub epochs_run: usize,
    pub best_epoch: usize,
    /// Metrics per split part.
    pub metrics: BTreeMap<String, Metrics>,
    /// The version this one was derived from, for optimized variants.
    pub parent: Option<String>,
    pub created_at_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetRef {
    pub name: String,
    /// SHA-256 of the dataset's source bytes.
    pub digest: String,
    pub rows: usize,
}
