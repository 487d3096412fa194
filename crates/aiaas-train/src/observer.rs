//! How a caller watches and steers a training run: the [`Observer`] the loop reports each epoch
//! and each checkpoint to, the [`Control`] it answers before every batch, and the [`StopReason`]
//! the run ends with.

use crate::checkpoint::Checkpoint;
use crate::run_state::EpochProgress;
use serde::{Deserialize, Serialize};

/// Why the training loop stopped: the one name in this crate for how a run ended, carried by
/// [`FitResult::stop`](crate::FitResult) and [`Trained::stop`](crate::Trained) (a suspended run
/// gets no `Trained`: [`train`](crate::train) returns `None` for it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    Completed,
    /// L-BFGS reached the optimum within its tolerances before its last epoch.
    Converged,
    EarlyStopped,
    Cancelled,
    /// Stopped at a batch boundary after handing a checkpoint to the observer; resume from it.
    Suspended,
}

/// What the training loop does next, as the observer decides before every batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Control {
    #[default]
    Continue,
    /// End training now; the best weights so far are kept.
    Cancel,
    /// End training now after handing a checkpoint of the state before this batch to
    /// [`Observer::on_checkpoint`], for a later resume.
    Suspend,
}

/// Receives progress, may stop or suspend training between batches, and decides when to
/// checkpoint.
pub trait Observer {
    fn on_epoch(&mut self, _progress: &EpochProgress) {}

    /// Asked before every batch.
    fn control(&mut self) -> Control {
        Control::Continue
    }

    /// Asked after each epoch's [`Observer::on_epoch`] when another epoch follows (not after the
    /// last epoch nor after one that ends training early): `true` makes the loop checkpoint that
    /// epoch boundary. `completed_epochs` counts the epochs done, from the first.
    fn checkpoint_due(&mut self, _completed_epochs: usize) -> bool {
        false
    }

    /// Receives every checkpoint: those asked for by [`Observer::checkpoint_due`] and the one of
    /// a [`Control::Suspend`]. Storing it is the observer's business.
    fn on_checkpoint(&mut self, _checkpoint: &Checkpoint) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}
