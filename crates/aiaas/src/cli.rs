//! Command-line interface: every command and flag, with help text.

use aiaas_types::{Activation, LossKind, ModelKind, OptimizerKind, Task};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "aiaas",
    version,
    about = "AI models as a service: train, evaluate and predict"
)]
pub struct Cli {
    /// Compute threads (default: all cores).
    #[arg(long, global = true, env = "AIAAS_THREADS", value_parser = clap::value_parser!(usize))]
    pub threads: Option<usize>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Train a model on a CSV file or a bundled sample and write a model bundle.
    Train(TrainArgs),
    /// Score a model bundle on a CSV file with the same columns.
    Eval(EvalArgs),
    /// Predict with a model bundle for every row of a CSV file.
    Predict(PredictArgs),
}

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
    /// Optimizer (default: adam).
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerArg>,
    /// Learning rate (default: PyTorch's, 0.001).
    #[arg(long, allow_hyphen_values = true)]
    pub lr: Option<f32>,
    /// SGD momentum (default: 0).
    #[arg(long, allow_hyphen_values = true)]
    pub momentum: Option<f32>,
    /// Nesterov momentum for sgd.
    #[arg(long)]
    pub nesterov: bool,
    /// Weight decay: L2 for sgd and adam, decoupled for adamw (default: 0, adamw 0.01).
    #[arg(long, allow_hyphen_values = true)]
    pub weight_decay: Option<f32>,
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
    /// Maximum epochs (default: 200).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Epochs without a better validation loss before stopping; 0 disables (default: 10).
    #[arg(long)]
    pub patience: Option<usize>,
    /// Keep the last epoch's weights instead of the best validation epoch's.
    #[arg(long)]
    pub no_restore_best: bool,
    /// Fraction of rows held out for validation.
    #[arg(long, default_value_t = 0.1)]
    pub val_split: f64,
    /// Fraction of rows held out for the test report (MNIST uses its official test set).
    #[arg(long, default_value_t = 0.2)]
    pub test_split: f64,
    /// Seed of the split, the initial weights and the shuffling.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Bundle directory to write (default: models/<dataset name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print one JSON object instead of the report.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct EvalArgs {
    /// Model bundle directory.
    #[arg(long)]
    pub model: PathBuf,
    /// CSV file with the model's feature columns and its target column (or a bundled sample).
    #[arg(long)]
    pub data: String,
    /// Print one JSON object instead of the report.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct PredictArgs {
    /// Model bundle directory.
    #[arg(long)]
    pub model: PathBuf,
    /// CSV file with the model's feature columns (or a bundled sample).
    #[arg(long)]
    pub data: String,
    /// Write the predictions here instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Mirrors of the shared enums, so that clap can list their values in help and errors.
macro_rules! value_enum {
    ($arg:ident => $target:ty { $($variant:ident $(= $name:literal)? => $value:expr),* $(,)? }) => {
        #[derive(Clone, Copy, ValueEnum)]
        pub enum $arg { $($(#[value(name = $name)])? $variant),* }
        impl From<$arg> for $target {
            fn from(a: $arg) -> $target {
                match a { $($arg::$variant => $value),* }
            }
        }
    };
}

value_enum!(TaskArg => Task { Classification => Task::Classification, Regression => Task::Regression });
value_enum!(ModelArg => ModelKind { Linear => ModelKind::Linear, Logistic => ModelKind::Logistic, Mlp => ModelKind::Mlp });
value_enum!(ActivationArg => Activation {
    Relu => Activation::Relu, Tanh => Activation::Tanh, Sigmoid => Activation::Sigmoid, Identity => Activation::Identity,
});
value_enum!(LossArg => LossKind {
    Mse => LossKind::Mse, Bce => LossKind::Bce, CrossEntropy = "cross_entropy" => LossKind::CrossEntropy,
});
value_enum!(OptimizerArg => OptimizerKind {
    Gd => OptimizerKind::Gd, Sgd => OptimizerKind::Sgd, Adam => OptimizerKind::Adam, Adamw = "adamw" => OptimizerKind::AdamW,
});

#[derive(Clone, Copy, ValueEnum)]
pub enum ScheduleArg {
    Constant,
    Step,
    Cosine,
}
