//! Training for aiaas: losses, optimizers with PyTorch semantics, the training loop with
//! schedules and early stopping, evaluation against baselines, and the pipeline that takes a
//! dataset to a trained, scored model.

mod bundle;
mod checkpoint;
mod diagnosis;
mod evaluate;
mod fit;
mod fit_common;
mod fit_lbfgs;
mod lbfgs;
mod loss;
mod observer;
mod optim;
mod pipeline;
mod report;
mod run_state;
mod spec;
mod sweep;

pub use checkpoint::Checkpoint;
pub use diagnosis::Diagnosis;
pub use evaluate::{Baseline, evaluate, metrics, predict};
pub use fit::{fit, fit_guided};
pub use fit_common::{Convergence, FitResult, Guide, Part, Teacher, evaluate_loss};
pub use lbfgs::{End as LbfgsEnd, Lbfgs, Settings as LbfgsSettings};
pub use loss::{distill_loss_and_grad, loss, loss_and_grad};
pub use observer::{Control, Observer, Silent, StopReason};
pub use optim::{Optimizer, OptimizerState};
pub use pipeline::{Prepared, SplitMetrics, SplitRows, Trained, adopt, prepare, train};
pub use report::TrainReport;
pub use run_state::EpochProgress;
pub use spec::{
    DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS, DEFAULT_HIDDEN, DEFAULT_PATIENCE, DEFAULT_SEED, MAX_EPOCHS,
    MAX_HIDDEN_WIDTH, MAX_PARAMETERS, check_against, default_loss, resolve, validate,
};
pub use sweep::{MAX_TRIALS, default_metric, metric_fits, score, trial_options};

/// Why training could not start or could not go on.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{0}")]
    InvalidSpec(String),
    /// The training loss stopped being a finite number: the weights are lost to overflow.
    #[error(
        "training diverged: the training loss became {loss} in epoch {epoch}; \
         lower the learning rate (or scale the inputs)"
    )]
    Diverged { epoch: usize, loss: f64 },
    /// A checkpoint is unreadable, or belongs to another run (model, spec or data).
    #[error("cannot resume from this checkpoint: {0}")]
    Checkpoint(String),
    #[error(transparent)]
    Data(#[from] aiaas_data::DataError),
}
