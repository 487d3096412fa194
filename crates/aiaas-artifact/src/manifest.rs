//! `manifest.json`: what the model is, what it takes and gives, where it came from.

use crate::ArtifactError;
use crate::ImportLineage;
use aiaas_data::FeatureProfile;
use aiaas_stats::Metrics;
use aiaas_types::{
    LayerSpec, MAX_PARAMETERS, OptimizeReport, Schema, SplitSpec, TargetSchema, Task, TrainSpec,
};
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

impl Manifest {
    /// Checks that the model this manifest describes can exist and be served, before anything
    /// is allocated for it: at least one feature; a chain of non-empty layers from the schema's
    /// encoded inputs to the outputs its target needs (one value for regression; one per class,
    /// or one for two classes); at most [`MAX_PARAMETERS`] parameters, as training allows.
    /// Every size is checked arithmetic: a manifest is untrusted input (an imported archive).
    pub fn check_structure(&self) -> Result<(), ArtifactError> {
        let bad = |m: String| Err(ArtifactError::Manifest(m));
        if self.schema.features.is_empty() {
            return bad("the model has no input features".into());
        }
        let Some((first, last)) = self.layers.first().zip(self.layers.last()) else {
            return bad("the model has no layers".into());
        };
        let width = self.schema.input_width();
        if first.inputs != width {
            return bad(format!(
                "the schema encodes {width} inputs but the first layer takes {}",
                first.inputs
            ));
        }
        let mut params: usize = 0;
        for (i, l) in self.layers.iter().enumerate() {
            if l.inputs == 0 || l.outputs == 0 {
                return bad(format!(
                    "layer {i} is empty ({} -> {})",
                    l.inputs, l.outputs
                ));
            }
            if let Some(next) = self.layers.get(i + 1)
                && next.inputs != l.outputs
            {
                return bad(format!(
                    "layer {i} gives {} outputs but layer {} takes {} inputs",
                    l.outputs,
                    i + 1,
                    next.inputs
                ));
            }
            params = l
                .inputs
                .checked_mul(l.outputs)
                .and_then(|w| w.checked_add(l.outputs))
                .and_then(|p| params.checked_add(p))
                .filter(|&p| p <= MAX_PARAMETERS)
                .ok_or_else(|| {
                    ArtifactError::Manifest(format!(
                        "the layers declare more than {MAX_PARAMETERS} parameters"
                    ))
                })?;
        }
        let outputs_ok = match &self.schema.target {
            TargetSchema::Regression { .. } => last.outputs == 1,
            TargetSchema::Classification { labels, .. } => {
                labels.len() >= 2
                    && (last.outputs == labels.len() || (last.outputs == 1 && labels.len() == 2))
            }
        };
        if !outputs_ok {
            let wants = match &self.schema.target {
                TargetSchema::Regression { .. } => "regression needs 1".to_string(),
                TargetSchema::Classification { labels, .. } => format!(
                    "{} class labels need {} (or 1 for two classes)",
                    labels.len(),
                    labels.len()
                ),
            };
            return bad(format!(
                "the last layer gives {} outputs; {wants}",
                last.outputs
            ));
        }
        if self.task != self.schema.task() {
            return bad("the manifest's task and its target disagree".into());
        }
        Ok(())
    }
}

/// How `weights.safetensors` stores the weights (see the `weights` module for each format).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightsInfo {
    /// Element type of the stored weights.
    pub dtype: WeightDtype,
    /// Quantization scheme, for int8 weights.
    pub quantization: Option<Quantization>,
    /// Dense tensors, or only the nonzero weights with their positions.
    #[serde(default)]
    pub layout: Layout,
}

impl Default for WeightsInfo {
    fn default() -> Self {
        WeightsInfo {
            dtype: WeightDtype::F32,
            quantization: None,
            layout: Layout::Dense,
        }
    }
}

impl WeightsInfo {
    /// Whether the weights are int8 (served by the int8 kernel).
    pub fn is_int8(&self) -> bool {
        self.dtype == WeightDtype::Int8
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightDtype {
    F32,
    F16,
    Int8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Quantization {
    /// Symmetric int8 with one f32 scale per output channel (row of the weight matrix).
    #[serde(rename = "int8-per-channel")]
    Int8PerChannel,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    #[default]
    Dense,
    /// Nonzero weights and their positions: a pruned model's size reflects its sparsity.
    Sparse,
}

/// Where the model came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lineage {
    pub dataset: DatasetRef,
    /// The training job that produced the model (none for local CLI runs).
    pub job: Option<String>,
    /// The hyperparameter sweep whose best trial the model is (`job` is that trial).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<String>,
    pub spec: TrainSpec,
    pub split: SplitSpec,
    /// Rows per split part: `train`, `val`, `test`.
    pub split_rows: BTreeMap<String, usize>,
    pub epochs_run: usize,
    pub best_epoch: usize,
    /// Metrics per split part.
    pub metrics: BTreeMap<String, Metrics>,
    /// The version this one was derived from, for optimized variants (`name@version`).
    pub parent: Option<String>,
    /// For an optimized variant: the recipe and the report against its parent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimization: Option<OptimizeReport>,
    /// For a model made elsewhere and adopted with a dataset (an ONNX dense network): the file
    /// it was imported from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<ImportLineage>,
    pub created_at_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetRef {
    pub name: String,
    /// SHA-256 of the dataset's source bytes.
    pub digest: String,
    pub rows: usize,
}

/// What a bundle's manifest says its model is made of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// Dense layers with weights in `weights.safetensors` (trained here); what a manifest
    /// without the field means.
    #[default]
    Dense,
    /// An ONNX graph in `model.onnx` (imported).
    Onnx,
}

/// The `architecture` a manifest declares (dense when it declares none).
pub(crate) fn architecture(json: &[u8]) -> Result<Architecture, ArtifactError> {
    #[derive(Deserialize)]
    struct Declared {
        #[serde(default)]
        architecture: Architecture,
    }
    serde_json::from_slice::<Declared>(json)
        .map(|d| d.architecture)
        .map_err(|e| ArtifactError::Manifest(e.to_string()))
}
