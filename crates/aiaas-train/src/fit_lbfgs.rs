//! The training loop for L-BFGS: full-batch, one [`Lbfgs`] iteration per epoch, run until the
//! optimum (torch's tolerances) or the epochs run out.
//!
//! The objective is the mean loss over every training row plus `weight_decay / 2 · ‖W‖²` over
//! the weights (not the biases, as scikit-learn leaves the intercept unpenalised); a pruning
//! mask holds its parameters at zero and a teacher is distilled from, as in
//! [`fit_guided`](crate::fit_guided). Validation, early stopping and the observer work as in the mini-batch
//! loop, but runs are not checkpointed: a suspended run starts again from the beginning, which
//! for a convex model takes seconds.

use crate::TrainError;
use crate::fit_common::{
    Convergence, FitResult, Guide, Part, Teacher, evaluate_loss, pruned_indices, settle,
};
use crate::lbfgs::{End, Lbfgs, Settings};
use crate::loss::{distill_loss_and_grad, loss_and_grad};
use crate::observer::{Control, Observer, StopReason};
use crate::run_state::{EpochProgress, Record};
use aiaas_engine::{Mlp, Workspace};
use aiaas_types::{LossKind, TrainSpec};

/// Rows per forward and backward pass, so that a full batch of any size needs bounded memory.
const CHUNK: usize = 4096;

/// Train `mlp` on `train` with L-BFGS as `spec` says, validating on `val`.
pub(crate) fn fit_lbfgs(
    mut mlp: Mlp,
    spec: &TrainSpec,
    train: &Part,
    val: &Part,
    threads: usize,
    observer: &mut dyn Observer,
    guide: &Guide,
) -> Result<FitResult, TrainError> {
    let pruned = pruned_indices(guide);
    let mut params = mlp.params().to_vec();
    pruned.iter().for_each(|&i| params[i] = 0.0);
    let o = &spec.optimizer;
    let settings = Settings {
        lr: f64::from(o.lr),
        history_size: o.history_size,
        tolerance_grad: o.tolerance_grad,
        tolerance_change: o.tolerance_change,
        max_eval: (spec.epochs.saturating_mul(5) / 4).max(1),
    };
    let weights = (0..mlp.layers().len())
        .map(|l| mlp.weight_range(l))
        .collect();
    let mut batch = FullBatch {
        l2: o.l2_strength(train.rows),
        loss: spec.loss,
        train,
        teacher: guide.teacher,
        pruned: &pruned,
        weights,
        ws: Workspace::new(threads),
        chunk_grads: vec![0.0; params.len()],
        mlp: mlp.clone(),
    };
    let (mut run, mut end) = Lbfgs::start(settings, &params, &mut |p, g| batch.evaluate(p, g));
    let mut record = Record::new(&params, spec.epochs);
    let mut eval_ws = Workspace::new(threads);
    let mut scratch = Vec::new();
    let mut stop = StopReason::Completed;
    for epoch in 0..spec.epochs {
        if end.is_some() {
            break;
        }
        match observer.control() {
            Control::Continue => {}
            Control::Cancel => {
                stop = StopReason::Cancelled;
                break;
            }
            Control::Suspend => {
                stop = StopReason::Suspended;
                break;
            }
        }
        end = run.iterate(&mut params, &mut |p, g| batch.evaluate(p, g));
        let train_loss = run.loss();
        if !train_loss.is_finite() {
            return Err(TrainError::Diverged {
                epoch: epoch + 1,
                loss: train_loss,
            });
        }
        mlp.params_mut().copy_from_slice(&params);
        let (val_loss, val_metric) = match val.rows {
            0 => (None, None),
            _ => {
                let (l, m) = evaluate_loss(&mlp, spec.loss, val, &mut eval_ws, &mut scratch);
                (Some(l), Some(m))
            }
        };
        let best = record.note(val_loss.unwrap_or(train_loss), epoch + 1, &params);
        let progress = EpochProgress {
            epoch: epoch + 1,
            epochs: spec.epochs,
            train_loss,
            val_loss,
            val_metric,
            lr: o.lr,
            best,
        };
        observer.on_epoch(&progress);
        record.history.push(progress);
        if spec
            .patience
            .is_some_and(|p| val.rows > 0 && record.since_best >= p)
        {
            stop = StopReason::EarlyStopped;
            break;
        }
    }
    if end.is_some_and(End::converged) && stop == StopReason::Completed {
        stop = StopReason::Converged;
    }
    let convergence = Convergence {
        iterations: run.iterations(),
        evaluations: run.evaluations(),
        end,
        grad_max: run
            .grad()
            .iter()
            .fold(0.0f64, |m, g| m.max(f64::from(g.abs()))),
        grad_norm: run
            .grad()
            .iter()
            .map(|g| f64::from(*g).powi(2))
            .sum::<f64>()
            .sqrt(),
    };
    mlp.params_mut().copy_from_slice(&params);
    let best_epoch = settle(spec, stop, &record, mlp.params_mut());
    Ok(FitResult {
        mlp,
        history: record.history,
        best_epoch,
        stop,
        convergence: Some(convergence),
    })
}

/// The L-BFGS objective over every training row.
struct FullBatch<'a> {
    mlp: Mlp,
    train: &'a Part,
    loss: LossKind,
    teacher: Option<Teacher<'a>>,
    pruned: &'a [usize],
    /// Where the weights lie in the parameters: the L2 penalty's domain.
    weights: Vec<std::ops::Range<usize>>,
    l2: f32,
    ws: Workspace,
    chunk_grads: Vec<f32>,
}

impl FullBatch<'_> {
    /// The objective at `params`, its gradient written into `grad`.
    fn evaluate(&mut self, params: &[f32], grad: &mut [f32]) -> f64 {
        self.mlp.params_mut().copy_from_slice(params);
        let (n, width, cols) = (self.train.rows, self.mlp.inputs(), self.mlp.outputs());
        let mut total = 0.0;
        grad.fill(0.0);
        for start in (0..n).step_by(CHUNK) {
            let rows = CHUNK.min(n - start);
            let x = &self.train.x[start * width..(start + rows) * width];
            let y = &self.train.y[start..start + rows];
            self.mlp.forward(x, rows, &mut self.ws);
            let (out, out_grad) = self.ws.output_and_grad_mut();
            let chunk_loss = match &self.teacher {
                Some(t) => {
                    let soft = &t.logits[start * cols..(start + rows) * cols];
                    distill_loss_and_grad(out, soft, y, cols, t.temperature, t.alpha, out_grad)
                }
                None => loss_and_grad(self.loss, out, y, cols, out_grad),
            };
            // Each chunk's loss and gradient are means over its rows: weigh them by its share.
            let share = rows as f64 / n as f64;
            total += chunk_loss * share;
            if rows == n {
                self.mlp.backward(x, &mut self.ws, grad);
            } else {
                self.mlp.backward(x, &mut self.ws, &mut self.chunk_grads);
                let share = share as f32;
                grad.iter_mut()
                    .zip(&self.chunk_grads)
                    .for_each(|(g, c)| *g += share * c);
            }
        }
        if self.l2 > 0.0 {
            let mut squares = 0.0f64;
            for range in &self.weights {
                for (g, p) in grad[range.clone()].iter_mut().zip(&params[range.clone()]) {
                    *g += self.l2 * p;
                    squares += f64::from(*p).powi(2);
                }
            }
            total += 0.5 * f64::from(self.l2) * squares;
        }
        self.pruned.iter().for_each(|&i| grad[i] = 0.0);
        total
    }
}
