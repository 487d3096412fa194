//! What the training loop carries from batch to batch and epoch to epoch: where it is
//! ([`Position`]), its memory of the best epoch and the epochs so far ([`Record`]), and the
//! report of each finished epoch ([`EpochProgress`]). The loop (`fit`) updates this state and a
//! [`Checkpoint`](crate::Checkpoint) saves and restores it; both build on this module, neither on
//! the other's internals.

use serde::{Deserialize, Serialize};

/// What one epoch did, streamed to the caller as it ends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochProgress {
    /// 1-based.
    pub epoch: usize,
    pub epochs: usize,
    pub train_loss: f64,
    pub val_loss: Option<f64>,
    /// Validation accuracy (classification) or R² on the scaled target (regression).
    pub val_metric: Option<f64>,
    pub lr: f32,
    /// The validation loss is the best so far.
    pub best: bool,
}

/// Where in the run the loop is (and, in a checkpoint, where it was taken).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Position {
    /// 0-based epoch in progress (equal to the number of epochs fully done).
    pub epoch: usize,
    /// Batches of that epoch already done.
    pub batches_done: usize,
    /// Sum over those batches of the batch loss times its rows.
    pub partial_loss: f64,
}

/// The loop's memory of the best epoch and of the epochs so far.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Record {
    pub best_params: Vec<f32>,
    /// Best watched loss so far (`inf` before the first epoch).
    pub best_loss: f64,
    /// 1-based; 0 before the first epoch.
    pub best_epoch: usize,
    pub since_best: usize,
    pub history: Vec<EpochProgress>,
}

impl Record {
    /// The record before the first epoch: `params` stand as the best weights so far.
    pub fn new(params: &[f32], epochs: usize) -> Record {
        Record {
            best_params: params.to_vec(),
            best_loss: f64::INFINITY,
            best_epoch: 0,
            since_best: 0,
            history: Vec::with_capacity(epochs.min(1024)),
        }
    }

    /// Notes the watched loss of the 1-based `epoch`, which ended with weights `params`. Returns
    /// whether it is the best so far; then its weights are kept.
    pub fn note(&mut self, watched: f64, epoch: usize, params: &[f32]) -> bool {
        let best = watched < self.best_loss;
        if best {
            self.best_loss = watched;
            self.best_epoch = epoch;
            self.since_best = 0;
            self.best_params.copy_from_slice(params);
        } else {
            self.since_best += 1;
        }
        best
    }
}
