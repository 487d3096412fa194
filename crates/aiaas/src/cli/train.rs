//! `aiaas train`'s flags.

use super::{ActivationArg, LossArg, ModelArg, OptimizerArg, ScheduleArg, TaskArg};
use aiaas_types::ModelName;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct TrainArgs {
    /// CSV file, MNIST directory, or bundled sample: iris, wine, breast_cancer, digits, diabetes, mnist.
    #[arg(long)]
    pub data: String,
    /// Column to predict (default: the column named `target`).
    #[arg(long)]
    pub target: Option<String>,
    /// Override the inferred task.
    #[arg(long, value_enum)]
    pub task: Option<TaskArg>,
    /// Model family (default: mlp).
    #[arg(long, value_enum)]
    pub model: Option<ModelArg>,
    /// Hidden layer sizes of an mlp, e.g. 64,32 (default: 64).
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// Activation of hidden layers (default: relu).
    #[arg(long, value_enum)]
    pub activation: Option<ActivationArg>,
    /// Loss (default: mse for regression, bce for two classes, else cross_entropy).
    #[arg(long, value_enum)]
    pub loss: Option<LossArg>,
    /// Optimizer (default: lbfgs for linear and logistic models, else adam).
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerArg>,
    /// Learning rate (default: PyTorch's, 0.001; lbfgs 1).
    #[arg(long, allow_hyphen_values = true)]
    pub lr: Option<f32>,
    /// SGD momentum (default: 0).
    #[arg(long, allow_hyphen_values = true)]
    pub momentum: Option<f32>,
    /// Nesterov momentum for sgd.
    #[arg(long)]
    pub nesterov: bool,
    /// Weight decay: L2 for sgd and adam, decoupled for adamw, L2 on the weights (not the
    /// biases) for lbfgs (default: 0, adamw 0.01).
    #[arg(long, allow_hyphen_values = true)]
    pub weight_decay: Option<f32>,
    /// The lbfgs L2 penalty as scikit-learn's inverse strength C: weight decay 1 / (C · rows)
    /// (default for a logistic model: 1, as scikit-learn's LogisticRegression).
    #[arg(long, visible_alias = "C", allow_hyphen_values = true)]
    pub c: Option<f32>,
    /// Lbfgs stops once no gradient entry exceeds this (default: torch's, 1e-7).
    #[arg(long, allow_hyphen_values = true)]
    pub tolerance: Option<f64>,
    /// Learning-rate schedule (default: constant).
    #[arg(long, value_enum)]
    pub schedule: Option<ScheduleArg>,
    /// Epochs between learning-rate drops of the step schedule (default: 30).
    #[arg(long)]
    pub step_size: Option<usize>,
    /// Factor of each drop of the step schedule (default: 0.1).
    #[arg(long, allow_hyphen_values = true)]
    pub gamma: Option<f32>,
    /// Rows per step (default: 32; gd uses all rows).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Maximum epochs, or lbfgs iterations (default: 200; lbfgs 1000).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Epochs without a better validation loss before stopping; 0 disables (default: 10; lbfgs 0).
    #[arg(long)]
    pub patience: Option<usize>,
    /// Keep the last epoch's weights instead of the best validation epoch's.
    #[arg(long)]
    pub no_restore_best: bool,
    /// Fraction of rows held out for validation (default: 0.1; lbfgs, which does not stop
    /// early, 0).
    #[arg(long)]
    pub val_split: Option<f64>,
    /// Fraction of rows held out for the test report (MNIST uses its official test set).
    #[arg(long, default_value_t = 0.2)]
    pub test_split: f64,
    /// Seed of the split, the initial weights and the shuffling.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Bundle directory to write (default: models/<dataset name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print one JSON object instead of the report (with a server: the final job record).
    #[arg(long)]
    pub json: bool,
    /// Train on this aiaas server instead of locally (default: local, unless AIAAS_URL is set).
    #[arg(long, env = "AIAAS_URL")]
    pub server: Option<String>,
    /// With a server: model to register the new version under (default: the dataset's name).
    #[arg(long)]
    pub name: Option<ModelName>,
}
