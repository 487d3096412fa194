//! The vocabulary every aiaas crate speaks: what a task, a model, an optimizer and a feature
//! schema are. Plain data with serde, no I/O and no behaviour beyond defaults and small queries,
//! so that the manifest, the CLI and (later) the API describe the same things the same way.

mod access;
mod ids;
mod jobs;
mod optimize;
mod prediction;
mod serving;
mod sweeps;
mod tensor;

pub use access::{KeySpec, Role};
pub use ids::{
    ALIAS_PATTERN, AliasName, DatasetName, JobId, JobState, KeyId, KeyName, MAX_NAME_LEN,
    MAX_TAG_KEY_LEN, ModelName, NAME_PATTERN, NameError, Resource, SweepId, TAG_KEY_PATTERN,
    Version, is_alias, is_tag_key, parse_version,
};
pub use jobs::{JobSpec, OptimizeJob, RetrainJob, TrainJob};
pub use optimize::{
    DEFAULT_ALPHA, DEFAULT_MAX_ACCURACY_DROP, DEFAULT_MAX_RMSE_RISE, DEFAULT_TEMPERATURE,
    DistillRecipe, OptimizeReport, PruneRecipe, PruneScope, QuantScheme, QuantizeRecipe, Recipe,
    VariantFigures,
};
pub use prediction::{Erasure, LoggingPolicy, NewPrediction, PredictionRow, TargetValue};
pub use serving::{PINNED_TAG, SERVE_TAG_PREFIX, ServingSettings};
pub use sweeps::{Distribution, ParamValue, RandomSearch, SweepMetric, SweepSpec};
pub use tensor::{DataType, GraphEngine, OnnxSource, TensorSpec};

use serde::{Deserialize, Serialize};
use std::fmt;

/// Widest hidden layer a model may have.
pub const MAX_HIDDEN_WIDTH: usize = 65_536;
/// Most parameters a model may have, trained or imported: with gradients, optimizer state and
/// the best weights kept, training holds about five copies (400 MB at this size).
pub const MAX_PARAMETERS: usize = 20_000_000;

/// What a model predicts.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    Classification,
    Regression,
    /// An imported model whose outputs the platform passes on without reading them (an
    /// encoder's embeddings, a detector's boxes): no labels, no quality figures. Datasets and
    /// training never have it.
    Other,
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Task::Classification => "classification",
            Task::Regression => "regression",
            Task::Other => "other",
        })
    }
}

/// Element-wise activation applied after a dense layer.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Relu,
    Tanh,
    Sigmoid,
    Identity,
}

/// The model families `aiaas train` offers. Linear and logistic models are MLPs without hidden
/// layers; the family still matters for defaults and for what a user asked for.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Linear,
    Logistic,
    Mlp,
}

/// Architecture of a model before its input and output widths are known.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub kind: ModelKind,
    /// Hidden layer widths (empty for linear and logistic).
    pub hidden: Vec<usize>,
    /// Activation of the hidden layers; the output layer is always identity (logits).
    pub activation: Activation,
}

/// One dense layer of a concrete architecture, as the manifest records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerSpec {
    pub inputs: usize,
    pub outputs: usize,
    pub activation: Activation,
}

/// Training loss. Cross-entropy losses take logits (they apply sigmoid / softmax themselves).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    Mse,
    Bce,
    CrossEntropy,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Full-batch gradient descent: SGD whose batch is the whole training set.
    Gd,
    Sgd,
    Adam,
    #[serde(rename = "adamw")]
    AdamW,
    /// Full-batch L-BFGS with a strong-Wolfe line search (`torch.optim.LBFGS`): the default for
    /// linear and logistic models, whose loss is convex.
    Lbfgs,
}

/// An optimizer with every hyper-parameter resolved. Field meanings follow `torch.optim`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerSpec {
    pub kind: OptimizerKind,
    pub lr: f32,
    /// SGD momentum factor (0 disables the buffer).
    pub momentum: f32,
    /// SGD dampening of the gradient added to the momentum buffer.
    pub dampening: f32,
    pub nesterov: bool,
    /// L2 penalty added to the gradient (SGD, Adam), decoupled decay (AdamW), or for L-BFGS
    /// `weight_decay / 2 · ‖W‖²` added to the loss, on the weights but not the biases.
    pub weight_decay: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// L-BFGS: the L2 penalty as scikit-learn's inverse strength `C`, which stands for a weight
    /// decay of `1 / (C · training rows)`; set instead of `weight_decay`, never with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c: Option<f32>,
    /// L-BFGS: curvature pairs kept (torch's `history_size`).
    #[serde(default = "lbfgs::history_size")]
    pub history_size: usize,
    /// L-BFGS: converged once no gradient entry exceeds this (torch's `tolerance_grad`).
    #[serde(default = "lbfgs::tolerance_grad")]
    pub tolerance_grad: f64,
    /// L-BFGS: stops once the loss or the step changes by less than this (torch's
    /// `tolerance_change`).
    #[serde(default = "lbfgs::tolerance_change")]
    pub tolerance_change: f64,
}

/// `torch.optim.LBFGS`'s defaults, for specs recorded before L-BFGS existed too.
mod lbfgs {
    pub fn history_size() -> usize {
        100
    }
    pub fn tolerance_grad() -> f64 {
        1e-7
    }
    pub fn tolerance_change() -> f64 {
        1e-9
    }
}

impl OptimizerSpec {
    /// PyTorch's defaults for `kind` (`torch.optim.SGD`, `Adam`, `AdamW`, `LBFGS`).
    pub fn defaults(kind: OptimizerKind) -> Self {
        let weight_decay = match kind {
            OptimizerKind::AdamW => 1e-2,
            _ => 0.0,
        };
        OptimizerSpec {
            kind,
            lr: if kind == OptimizerKind::Lbfgs {
                1.0
            } else {
                1e-3
            },
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            c: None,
            history_size: lbfgs::history_size(),
            tolerance_grad: lbfgs::tolerance_grad(),
            tolerance_change: lbfgs::tolerance_change(),
        }
    }

    /// The L-BFGS weight decay over `rows` training rows: `weight_decay`, or `1 / (C · rows)`.
    pub fn l2_strength(&self, rows: usize) -> f32 {
        match self.c {
            Some(c) => (1.0 / (f64::from(c) * rows.max(1) as f64)) as f32,
            None => self.weight_decay,
        }
    }
}

/// Learning-rate schedule, stepped once per epoch (PyTorch `StepLR`, `CosineAnnealingLR`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Schedule {
    Constant,
    Step {
        step_size: usize,
        gamma: f32,
    },
    /// Cosine annealing from the base rate to `eta_min` over `t_max` epochs.
    Cosine {
        t_max: usize,
        eta_min: f32,
    },
}

impl Schedule {
    /// Learning rate for `epoch` (0-based) given the base rate.
    pub fn lr_at(&self, base: f32, epoch: usize) -> f32 {
        match *self {
            Schedule::Constant => base,
            Schedule::Step { step_size, gamma } => {
                base * gamma.powi((epoch / step_size.max(1)) as i32)
            }
            Schedule::Cosine { t_max, eta_min } => {
                let t = (epoch.min(t_max)) as f64 / t_max.max(1) as f64;
                let cos = (1.0 + (std::f64::consts::PI * t).cos()) / 2.0;
                (eta_min as f64 + (base as f64 - eta_min as f64) * cos) as f32
            }
        }
    }
}

/// Everything that decides how a model is trained, recorded in the manifest's lineage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainSpec {
    pub model: ModelSpec,
    pub loss: LossKind,
    pub optimizer: OptimizerSpec,
    pub schedule: Schedule,
    /// Rows per step; `gd` uses the whole training set whatever this says.
    pub batch_size: usize,
    pub epochs: usize,
    /// Epochs without a better validation loss before training stops; `None` disables it.
    pub patience: Option<usize>,
    /// Put back the weights of the best validation epoch at the end.
    pub restore_best: bool,
    pub seed: u64,
}

/// What a user may say about a training run; everything left out takes its default when the
/// options are resolved against a dataset. The CLI flags of `aiaas train` and the fields of a
/// training job are these (a job refuses unknown fields itself: `deny_unknown_fields` does not
/// work inside `#[serde(flatten)]`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    pub model: Option<ModelKind>,
    pub hidden: Option<Vec<usize>>,
    pub activation: Option<Activation>,
    pub loss: Option<LossKind>,
    pub optimizer: Option<OptimizerKind>,
    pub lr: Option<f32>,
    pub momentum: Option<f32>,
    pub nesterov: Option<bool>,
    pub weight_decay: Option<f32>,
    /// L-BFGS's L2 penalty as scikit-learn's `C` (default 1 for a logistic model).
    pub c: Option<f32>,
    /// L-BFGS's `tolerance_grad`: converged once no gradient entry exceeds it.
    pub tolerance: Option<f64>,
    pub schedule: Option<Schedule>,
    pub batch_size: Option<usize>,
    pub epochs: Option<usize>,
    /// Early-stopping patience in epochs; 0 turns early stopping off.
    pub patience: Option<usize>,
    pub restore_best: Option<bool>,
    pub seed: Option<u64>,
}

impl TrainOptions {
    /// The optimizer these options train with: the one asked for, else L-BFGS for a linear or
    /// logistic model (convex: the optimum is what people expect) and Adam for an MLP.
    pub fn optimizer_kind(&self) -> OptimizerKind {
        match (self.optimizer, self.model) {
            (Some(kind), _) => kind,
            (None, Some(ModelKind::Linear | ModelKind::Logistic)) => OptimizerKind::Lbfgs,
            (None, _) => OptimizerKind::Adam,
        }
    }

    /// The validation fraction when none is given: none for L-BFGS, which runs to the optimum
    /// without early stopping (a validation part would only take rows from training), else
    /// [`SplitSpec::default`]'s.
    pub fn default_val_fraction(&self) -> f64 {
        match self.optimizer_kind() {
            OptimizerKind::Lbfgs => 0.0,
            _ => SplitSpec::default().val_fraction,
        }
    }
}

/// How a dataset is cut into train, validation and test parts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitSpec {
    pub val_fraction: f64,
    pub test_fraction: f64,
    pub seed: u64,
}

impl Default for SplitSpec {
    fn default() -> Self {
        SplitSpec {
            val_fraction: 0.1,
            test_fraction: 0.2,
            seed: 42,
        }
    }
}

/// One input column and how it becomes model inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    pub name: String,
    #[serde(flatten)]
    pub kind: FeatureKind,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum FeatureKind {
    /// A number, fed to the model as `(x - mean) / scale`.
    Numeric { mean: f64, scale: f64 },
    /// A string, one-hot encoded over `vocabulary` (an unseen value encodes as all zeros).
    Categorical { vocabulary: Vec<String> },
}

impl Feature {
    /// Number of model inputs this feature occupies.
    pub fn width(&self) -> usize {
        match &self.kind {
            FeatureKind::Numeric { .. } => 1,
            FeatureKind::Categorical { vocabulary } => vocabulary.len(),
        }
    }
}

/// The column a model predicts and how its values map to model outputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "task")]
pub enum TargetSchema {
    /// Class `i` of the model is `labels[i]`.
    Classification { name: String, labels: Vec<String> },
    /// The model predicts `(y - mean) / scale`.
    Regression { name: String, mean: f64, scale: f64 },
}

impl TargetSchema {
    pub fn task(&self) -> Task {
        match self {
            TargetSchema::Classification { .. } => Task::Classification,
            TargetSchema::Regression { .. } => Task::Regression,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            TargetSchema::Classification { name, .. } | TargetSchema::Regression { name, .. } => {
                name
            }
        }
    }

    /// A target value as the model learns it: `(y - mean) / scale` for regression, the class
    /// index unchanged for classification.
    pub fn to_model(&self, y: f64) -> f64 {
        match *self {
            TargetSchema::Regression { mean, scale, .. } => (y - mean) / usable_scale(scale),
            TargetSchema::Classification { .. } => y,
        }
    }

    /// The inverse of [`TargetSchema::to_model`]: a model output in the target's units.
    pub fn from_model(&self, output: f64) -> f64 {
        match *self {
            TargetSchema::Regression { mean, scale, .. } => output * usable_scale(scale) + mean,
            TargetSchema::Classification { .. } => output,
        }
    }
}

/// A scale of 0 or not finite (a constant column, a hand-edited manifest) divides by 1 instead.
pub fn usable_scale(scale: f64) -> f64 {
    if scale.is_finite() && scale != 0.0 {
        scale
    } else {
        1.0
    }
}

/// Input and output description of a model: enough to turn raw rows into model inputs and
/// model outputs back into labels or values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    pub features: Vec<Feature>,
    pub target: TargetSchema,
}

impl Schema {
    /// Width of the encoded input row.
    pub fn input_width(&self) -> usize {
        self.features.iter().map(Feature::width).sum()
    }

    pub fn task(&self) -> Task {
        self.target.task()
    }

    /// Number of classes (classification) or 1 (regression).
    pub fn num_classes(&self) -> usize {
        match &self.target {
            TargetSchema::Classification { labels, .. } => labels.len(),
            TargetSchema::Regression { .. } => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_schedule_decays_every_step_size_epochs() {
        let s = Schedule::Step {
            step_size: 2,
            gamma: 0.5,
        };
        let lrs: Vec<f32> = (0..5).map(|e| s.lr_at(1.0, e)).collect();
        assert_eq!(lrs, vec![1.0, 1.0, 0.5, 0.5, 0.25]);
    }

    #[test]
    fn cosine_schedule_runs_from_base_to_eta_min() {
        let s = Schedule::Cosine {
            t_max: 4,
            eta_min: 0.0,
        };
        assert!((s.lr_at(1.0, 0) - 1.0).abs() < 1e-7);
        assert!((s.lr_at(1.0, 2) - 0.5).abs() < 1e-7);
        assert!(s.lr_at(1.0, 4).abs() < 1e-7);
        assert!(s.lr_at(1.0, 9).abs() < 1e-7);
    }

    #[test]
    fn adamw_defaults_match_pytorch() {
        let s = OptimizerSpec::defaults(OptimizerKind::AdamW);
        assert_eq!((s.lr, s.beta1, s.beta2, s.eps), (1e-3, 0.9, 0.999, 1e-8));
        assert_eq!(s.weight_decay, 1e-2);
        assert_eq!(
            OptimizerSpec::defaults(OptimizerKind::Adam).weight_decay,
            0.0
        );
    }
}
