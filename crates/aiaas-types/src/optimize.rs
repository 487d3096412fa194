//! Model optimization as users ask for it and as its result is reported: a [`Recipe`] (prune,
//! quantize or distill, with its settings) and the [`OptimizeReport`] that compares the variant
//! with its parent.

use serde::{Deserialize, Serialize};

/// Default temperature of distillation (Hinton et al. 2015 use 1-20; 4 is a common middle).
pub const DEFAULT_TEMPERATURE: f32 = 4.0;
/// Default weight of the soft (teacher) loss in distillation.
pub const DEFAULT_ALPHA: f32 = 0.7;
/// Default largest accuracy drop (absolute) a variant may show against its parent.
pub const DEFAULT_MAX_ACCURACY_DROP: f64 = 0.01;
/// Default largest RMSE rise (relative) a regression variant may show against its parent.
pub const DEFAULT_MAX_RMSE_RISE: f64 = 0.05;

/// How to derive a variant from a model, tagged by `method`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Recipe {
    Prune(PruneRecipe),
    Quantize(QuantizeRecipe),
    Distill(DistillRecipe),
}

impl Recipe {
    /// The method's name, as in `aiaas optimize <method>`.
    pub fn method(&self) -> &'static str {
        match self {
            Recipe::Prune(_) => "prune",
            Recipe::Quantize(_) => "quantize",
            Recipe::Distill(_) => "distill",
        }
    }
}

/// Magnitude pruning. Unstructured: zero the `sparsity` fraction of weights with the smallest
/// magnitude (per layer or over the whole model). Structured: remove the `sparsity` fraction of
/// every hidden layer's neurons, those with the smallest weight norm, so the layers shrink.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneRecipe {
    /// Fraction removed, strictly between 0 and 1: of the weights, or with `structured` of each
    /// hidden layer's neurons.
    pub sparsity: f64,
    /// Remove whole hidden neurons instead of single weights.
    #[serde(default)]
    pub structured: bool,
    /// Where the unstructured threshold is taken (default `layer`).
    #[serde(default)]
    pub scope: PruneScope,
    /// Fine-tuning epochs on the parent's training rows with the parent's optimizer settings;
    /// pruned weights stay zero throughout (default 0: no fine-tuning).
    #[serde(default)]
    pub epochs: usize,
}

/// Where the magnitude threshold of unstructured pruning is taken.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PruneScope {
    /// Each layer loses the same fraction of its weights.
    #[default]
    Layer,
    /// One threshold over the whole model.
    Global,
}

/// Storing (and running) the weights with fewer bits.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantizeRecipe {
    #[serde(default)]
    pub scheme: QuantScheme,
}

/// How quantized weights are stored.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuantScheme {
    /// int8 weights with one symmetric scale per output channel; served by the int8 kernel.
    #[default]
    Int8,
    /// Half-precision storage; computed in f32 after loading.
    F16,
}

/// Knowledge distillation: train a smaller student on the parent's (teacher's) soft targets.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistillRecipe {
    /// The student's hidden layer sizes, e.g. `[32]`.
    pub hidden: Vec<usize>,
    /// Softmax temperature of the soft targets (default 4).
    #[serde(default = "default_temperature")]
    pub temperature: f32,
    /// Weight of the soft loss; `1 - alpha` weighs the cross-entropy on labels (default 0.7).
    #[serde(default = "default_alpha")]
    pub alpha: f32,
    /// Training epochs (default: the teacher's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<usize>,
    /// Seed of the student's initialisation and shuffles (default: the teacher's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

fn default_temperature() -> f32 {
    DEFAULT_TEMPERATURE
}

fn default_alpha() -> f32 {
    DEFAULT_ALPHA
}

/// One model's figures in an [`OptimizeReport`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VariantFigures {
    /// Bytes of the stored weights file.
    pub size_bytes: u64,
    /// Weights and biases.
    pub params: usize,
    /// Parameters that are not zero.
    pub nonzero: usize,
    /// Median in-process forward time of one row, one thread, in milliseconds.
    pub latency_ms_batch1: f64,
    /// Median in-process forward time of 64 rows, one thread, in milliseconds.
    pub latency_ms_batch64: f64,
    /// On the parent's test split (classification).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub f1_macro: Option<f64>,
    /// On the parent's test split, in target units (regression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rmse: Option<f64>,
}

/// What an optimization produced, against its parent, and whether the guard let it through.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizeReport {
    pub recipe: Recipe,
    /// The parent, as `name@version` (or a bundle path for local runs).
    pub parent_ref: String,
    pub parent: VariantFigures,
    pub variant: VariantFigures,
    /// For distillation: the same student trained from scratch (same epochs and seed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scratch: Option<VariantFigures>,
    /// The guard: the largest accuracy drop (absolute), or RMSE rise (relative), allowed.
    pub max_drop: f64,
    /// Whether the variant passed the guard (only accepted variants are registered).
    pub accepted: bool,
    /// One sentence: why the variant was accepted or refused.
    pub verdict: String,
}
