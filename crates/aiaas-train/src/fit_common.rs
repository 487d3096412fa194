//! What both training loops share, the mini-batch one ([`fit`](crate::fit)) and the full-batch
//! L-BFGS one: the rows they train on, what may guide them, what they return, which weights they
//! settle on, and the loss and metric of a model on held-out rows.

use crate::lbfgs::End;
use crate::loss::loss;
use crate::observer::StopReason;
use crate::run_state::{EpochProgress, Record};
use aiaas_engine::{Mlp, Workspace, argmax_rows};
use aiaas_types::{LossKind, TrainSpec};
use serde::{Deserialize, Serialize};

/// Rows evaluated per forward pass outside training, so evaluation memory stays bounded.
const EVAL_CHUNK: usize = 4096;

/// Model-ready rows: scaled inputs and the training target of each row (class index, or the
/// scaled value for regression).
#[derive(Clone, Debug, Default)]
pub struct Part {
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    pub rows: usize,
}

#[derive(Clone, Debug)]
pub struct FitResult {
    pub mlp: Mlp,
    pub history: Vec<EpochProgress>,
    /// 1-based epoch whose weights `mlp` holds (the last one when nothing was restored; a
    /// suspended run holds the weights at the point of suspension).
    pub best_epoch: usize,
    pub stop: StopReason,
    /// How an L-BFGS fit went; `None` for the mini-batch optimizers.
    pub convergence: Option<Convergence>,
}

/// What guides a [`fit_guided`](crate::fit_guided) run beyond the plain loss; the default guides nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Guide<'a> {
    /// One flag per parameter (as [`Mlp::params`] orders them): `false` prunes it, holding it at
    /// exactly zero from before the first step to the returned weights.
    pub mask: Option<&'a [bool]>,
    /// Distil from a teacher's logits instead of learning from the labels alone.
    pub teacher: Option<Teacher<'a>>,
}

/// A teacher's logits on the training rows, and how to distil from them (see
/// [`distill_loss_and_grad`](crate::distill_loss_and_grad)).
#[derive(Clone, Copy, Debug)]
pub struct Teacher<'a> {
    /// `train.rows x cols` logits, row-aligned with the training [`Part`].
    pub logits: &'a [f32],
    /// Softening temperature, finite and > 0.
    pub temperature: f32,
    /// Weight of the soft (teacher) term, in [0, 1]; the labels get `1 - alpha`.
    pub alpha: f32,
}

/// How an L-BFGS fit went, for its report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Convergence {
    pub iterations: usize,
    /// Evaluations of the loss and its gradient, the line searches' included.
    pub evaluations: usize,
    /// Why it stopped before its last epoch; `None` when it used them all.
    pub end: Option<End>,
    /// The largest gradient entry at the last iterate (what `tolerance_grad` is compared with).
    pub grad_max: f64,
    /// The Euclidean norm of that gradient.
    pub grad_norm: f64,
}

/// Puts the best epoch's weights into `params` when the spec asks for them and a later epoch
/// ended the run, but never for a suspended run, whose weights are where it will carry on from.
/// Returns the 1-based epoch whose weights `params` now hold.
pub(crate) fn settle(
    spec: &TrainSpec,
    stop: StopReason,
    record: &Record,
    params: &mut [f32],
) -> usize {
    let last_epoch = record.history.len();
    let best_epoch = record.best_epoch;
    if stop != StopReason::Suspended
        && spec.restore_best
        && best_epoch > 0
        && best_epoch != last_epoch
    {
        params.copy_from_slice(&record.best_params);
        best_epoch
    } else {
        last_epoch
    }
}

/// The parameters `guide`'s mask prunes.
pub(crate) fn pruned_indices(guide: &Guide) -> Vec<usize> {
    guide.mask.map_or_else(Vec::new, |mask| {
        (0..mask.len()).filter(|&i| !mask[i]).collect()
    })
}

/// Mean loss and headline metric (accuracy, or R² of the scaled target) of `mlp` on `part`.
pub fn evaluate_loss(
    mlp: &Mlp,
    kind: LossKind,
    part: &Part,
    ws: &mut Workspace,
    scratch: &mut Vec<f32>,
) -> (f64, f64) {
    let width = mlp.inputs();
    let cols = mlp.outputs();
    let mut total = 0.0;
    let mut hits = 0usize;
    let mut sq_err = 0.0f64;
    for start in (0..part.rows).step_by(EVAL_CHUNK) {
        let rows = EVAL_CHUNK.min(part.rows - start);
        let x = &part.x[start * width..(start + rows) * width];
        let y = &part.y[start..start + rows];
        let out = mlp.forward(x, rows, ws);
        total += loss(kind, out, y, cols, scratch) * rows as f64;
        match kind {
            LossKind::Mse => {
                sq_err += out
                    .iter()
                    .zip(y)
                    .map(|(o, y)| ((o - y) as f64).powi(2))
                    .sum::<f64>()
            }
            LossKind::Bce => {
                hits += out
                    .iter()
                    .zip(y)
                    .filter(|(z, y)| (**z > 0.0) == (**y > 0.5))
                    .count()
            }
            LossKind::CrossEntropy => {
                hits += argmax_rows(out, cols)
                    .iter()
                    .zip(y)
                    .filter(|(p, y)| **p == **y as usize)
                    .count()
            }
        }
    }
    let n = part.rows.max(1) as f64;
    let metric = match kind {
        LossKind::Mse => {
            let mean = part.y.iter().map(|&y| y as f64).sum::<f64>() / n;
            let ss_tot: f64 = part.y.iter().map(|&y| (y as f64 - mean).powi(2)).sum();
            if ss_tot > 0.0 {
                1.0 - sq_err / ss_tot
            } else {
                0.0
            }
        }
        _ => hits as f64 / n,
    };
    (total / n, metric)
}
