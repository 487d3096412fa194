//! The training loop: shuffled mini-batches, one optimizer step per batch, a learning-rate
//! schedule per epoch, validation after each epoch, early stopping that keeps the best weights.
//!
//! Every buffer (batch, workspace, gradients, best weights) is allocated before the first step,
//! so steps themselves do not allocate. Between batches the observer may cancel or suspend the
//! run; a suspended run, or one checkpointed at an epoch boundary, resumes from its
//! [`Checkpoint`] to exactly the weights an uninterrupted run would have reached.
//!
//! The same loop also runs guided fits ([`fit_guided`]) for model optimization: a pruning mask
//! that holds parameters at zero, and a teacher's logits to distil from.

use crate::TrainError;
use crate::checkpoint::{Checkpoint, Fingerprint};
use crate::loss::{distill_loss_and_grad, loss, loss_and_grad};
use crate::optim::Optimizer;
use crate::run_state::{EpochProgress, Position, Record};
use aiaas_engine::{Mlp, Workspace, argmax_rows};
use aiaas_types::{LossKind, OptimizerKind, TrainSpec};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
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

/// Why training ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    Completed,
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

#[derive(Clone, Debug)]
pub struct FitResult {
    pub mlp: Mlp,
    pub history: Vec<EpochProgress>,
    /// 1-based epoch whose weights `mlp` holds (the last one when nothing was restored; a
    /// suspended run holds the weights at the point of suspension).
    pub best_epoch: usize,
    pub stop: StopReason,
}

/// What guides a [`fit_guided`] run beyond the plain loss; the default guides nothing.
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

const UNGUIDED: Guide<'static> = Guide {
    mask: None,
    teacher: None,
};

/// How the shared loop runs: plainly (checkpointable, maybe resumed) or guided (never
/// checkpointed, since a checkpoint does not record the guide).
#[derive(Clone, Copy)]
enum Mode<'a> {
    Plain(Option<&'a Checkpoint>),
    Guided(&'a Guide<'a>),
}

/// Train `mlp` on `train`, validating on `val` (which may be empty: then no early stopping).
///
/// With `resume`, training continues from that checkpoint instead of from `mlp`'s weights (only
/// `mlp`'s architecture is used); the checkpoint must come from a run of the same architecture,
/// spec and row counts, else the error says what differs and nothing is trained.
pub fn fit(
    mlp: Mlp,
    spec: &TrainSpec,
    train: &Part,
    val: &Part,
    threads: usize,
    observer: &mut dyn Observer,
    resume: Option<&Checkpoint>,
) -> Result<FitResult, TrainError> {
    run(
        mlp,
        spec,
        train,
        val,
        threads,
        observer,
        Mode::Plain(resume),
    )
}

/// [`fit`] from `mlp`'s weights, guided by a pruning mask and/or a teacher.
///
/// With a mask, pruned parameters are zeroed before the first step and after every optimizer
/// step, so neither momentum nor weight decay revives them. With a teacher (cross-entropy only),
/// the training loss is the distillation loss on each batch's rows; validation stays plain
/// cross-entropy, so early stopping watches the real task. Guided runs are not checkpointed:
/// [`Observer::checkpoint_due`] is never asked, and a [`Control::Suspend`] ends the run as
/// [`StopReason::Suspended`] without a checkpoint (rerun it from the start).
pub fn fit_guided(
    mlp: Mlp,
    spec: &TrainSpec,
    train: &Part,
    val: &Part,
    threads: usize,
    observer: &mut dyn Observer,
    guide: &Guide,
) -> Result<FitResult, TrainError> {
    check_guide(guide, spec, &mlp, train)?;
    run(
        mlp,
        spec,
        train,
        val,
        threads,
        observer,
        Mode::Guided(guide),
    )
}

fn check_guide(guide: &Guide, spec: &TrainSpec, mlp: &Mlp, train: &Part) -> Result<(), TrainError> {
    let bad = |m: String| Err(TrainError::InvalidSpec(m));
    if let Some(mask) = guide.mask
        && mask.len() != mlp.param_count()
    {
        return bad(format!(
            "the pruning mask has {} entries but the model has {} parameters",
            mask.len(),
            mlp.param_count()
        ));
    }
    let Some(teacher) = guide.teacher else {
        return Ok(());
    };
    if spec.loss != LossKind::CrossEntropy {
        return bad(format!(
            "distillation needs the cross_entropy loss, not {:?}",
            spec.loss
        )
        .to_lowercase());
    }
    let want = train.rows * mlp.outputs();
    if teacher.logits.len() != want {
        return bad(format!(
            "the teacher has {} logits; the {} training rows x {} classes need {want}",
            teacher.logits.len(),
            train.rows,
            mlp.outputs()
        ));
    }
    if !(teacher.temperature.is_finite() && teacher.temperature > 0.0) {
        return bad(format!(
            "the distillation temperature must be a finite number > 0, not {}",
            teacher.temperature
        ));
    }
    if !(0.0..=1.0).contains(&teacher.alpha) {
        return bad(format!(
            "the distillation alpha must lie in [0, 1], not {}",
            teacher.alpha
        ));
    }
    if teacher.logits.iter().any(|v| !v.is_finite()) {
        return bad("the teacher's logits must all be finite".into());
    }
    Ok(())
}

/// The loop behind [`fit`] and [`fit_guided`].
fn run(
    mut mlp: Mlp,
    spec: &TrainSpec,
    train: &Part,
    val: &Part,
    threads: usize,
    observer: &mut dyn Observer,
    mode: Mode,
) -> Result<FitResult, TrainError> {
    let (resume, guide) = match mode {
        Mode::Plain(resume) => (resume, &UNGUIDED),
        Mode::Guided(guide) => (None, guide),
    };
    let checkpoints = matches!(mode, Mode::Plain(_));
    let width = mlp.inputs();
    let cols = mlp.outputs();
    // Indices rather than the mask itself: re-zeroing after each step then costs nothing
    // where little is pruned.
    let pruned: Vec<usize> = guide.mask.map_or_else(Vec::new, |mask| {
        (0..mask.len()).filter(|&i| !mask[i]).collect()
    });
    let prune = |params: &mut [f32]| pruned.iter().for_each(|&i| params[i] = 0.0);
    prune(mlp.params_mut());
    let batch = match spec.optimizer.kind {
        OptimizerKind::Gd => train.rows,
        _ => spec.batch_size.min(train.rows),
    }
    .max(1);
    let mut optimizer = Optimizer::new(spec.optimizer.clone(), mlp.param_count());
    // The shuffle stream is seeded apart from the initialisation stream.
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed.wrapping_add(1));
    let mut order: Vec<usize> = (0..train.rows).collect();
    let mut bx = vec![0.0f32; batch * width];
    let mut by = vec![0.0f32; batch];
    let mut bt = vec![
        0.0f32;
        if guide.teacher.is_some() {
            batch * cols
        } else {
            0
        }
    ];
    let mut ws = Workspace::new(threads);
    let mut eval_ws = Workspace::new(threads);
    let mut grads = vec![0.0f32; mlp.param_count()];
    let mut scratch = Vec::new();
    let mut record = Record {
        best_params: mlp.params().to_vec(),
        best_loss: f64::INFINITY,
        best_epoch: 0,
        since_best: 0,
        history: Vec::with_capacity(spec.epochs.min(1024)),
    };
    let mut start = Position::default();
    if let Some(checkpoint) = resume {
        let batches = train.rows.div_ceil(batch);
        checkpoint.check(&Fingerprint::of(spec, &mlp, train.rows, val.rows), batches)?;
        optimizer.restore(&checkpoint.optimizer)?;
        mlp.params_mut().copy_from_slice(&checkpoint.params);
        record = checkpoint.record.clone();
        // The shuffle stream is not stored: replay the shuffles of the epochs already done.
        for _ in 0..checkpoint.position.epoch {
            order.shuffle(&mut rng);
        }
        start = checkpoint.position;
    }
    let mut stop = StopReason::Completed;

    'epochs: for epoch in start.epoch..spec.epochs {
        let lr = spec.schedule.lr_at(spec.optimizer.lr, epoch);
        order.shuffle(&mut rng);
        let (skip, mut total) = if epoch == start.epoch {
            (start.batches_done, start.partial_loss)
        } else {
            (0, 0.0)
        };
        for (done, chunk) in order.chunks(batch).enumerate().skip(skip) {
            match observer.control() {
                Control::Continue => {}
                Control::Cancel => {
                    stop = StopReason::Cancelled;
                    break 'epochs;
                }
                Control::Suspend if !checkpoints => {
                    stop = StopReason::Suspended;
                    break 'epochs;
                }
                Control::Suspend => {
                    let position = Position {
                        epoch,
                        batches_done: done,
                        partial_loss: total,
                    };
                    let fingerprint = Fingerprint::of(spec, &mlp, train.rows, val.rows);
                    let checkpoint =
                        Checkpoint::capture(fingerprint, position, &mlp, &optimizer, &record);
                    observer.on_checkpoint(&checkpoint);
                    stop = StopReason::Suspended;
                    break 'epochs;
                }
            }
            let rows = chunk.len();
            for (i, &r) in chunk.iter().enumerate() {
                bx[i * width..(i + 1) * width]
                    .copy_from_slice(&train.x[r * width..(r + 1) * width]);
                by[i] = train.y[r];
            }
            if let Some(teacher) = &guide.teacher {
                for (i, &r) in chunk.iter().enumerate() {
                    bt[i * cols..(i + 1) * cols]
                        .copy_from_slice(&teacher.logits[r * cols..(r + 1) * cols]);
                }
            }
            let x = &bx[..rows * width];
            mlp.forward(x, rows, &mut ws);
            let (out, grad) = ws.output_and_grad_mut();
            let y = &by[..rows];
            let batch_loss = match &guide.teacher {
                Some(t) => {
                    let soft = &bt[..rows * cols];
                    distill_loss_and_grad(out, soft, y, cols, t.temperature, t.alpha, grad)
                }
                None => loss_and_grad(spec.loss, out, y, cols, grad),
            };
            total += batch_loss * rows as f64;
            mlp.backward(x, &mut ws, &mut grads);
            optimizer.step(mlp.params_mut(), &grads, lr);
            prune(mlp.params_mut());
        }
        let train_loss = total / train.rows.max(1) as f64;
        // Nothing useful comes after an overflow, and NaN must not reach reports or the store.
        if !train_loss.is_finite() {
            return Err(TrainError::Diverged {
                epoch: epoch + 1,
                loss: train_loss,
            });
        }
        let (val_loss, val_metric) = if val.rows > 0 {
            let (l, m) = evaluate_loss(&mlp, spec.loss, val, &mut eval_ws, &mut scratch);
            (Some(l), Some(m))
        } else {
            (None, None)
        };
        // Without validation data the training loss decides what "best" means.
        let watched = val_loss.unwrap_or(train_loss);
        let best = watched < record.best_loss;
        if best {
            record.best_loss = watched;
            record.best_epoch = epoch + 1;
            record.since_best = 0;
            record.best_params.copy_from_slice(mlp.params());
        } else {
            record.since_best += 1;
        }
        let progress = EpochProgress {
            epoch: epoch + 1,
            epochs: spec.epochs,
            train_loss,
            val_loss,
            val_metric,
            lr,
            best,
        };
        observer.on_epoch(&progress);
        record.history.push(progress);
        if let Some(patience) = spec.patience
            && val.rows > 0
            && record.since_best >= patience
        {
            stop = StopReason::EarlyStopped;
            break;
        }
        if checkpoints && epoch + 1 < spec.epochs && observer.checkpoint_due(epoch + 1) {
            let position = Position {
                epoch: epoch + 1,
                ..Position::default()
            };
            let fingerprint = Fingerprint::of(spec, &mlp, train.rows, val.rows);
            let checkpoint = Checkpoint::capture(fingerprint, position, &mlp, &optimizer, &record);
            observer.on_checkpoint(&checkpoint);
        }
    }

    let last_epoch = record.history.len();
    let mut best_epoch = record.best_epoch;
    if stop != StopReason::Suspended
        && spec.restore_best
        && best_epoch > 0
        && best_epoch != last_epoch
    {
        mlp.params_mut().copy_from_slice(&record.best_params);
    } else {
        best_epoch = last_epoch;
    }
    Ok(FitResult {
        mlp,
        history: record.history,
        best_epoch,
        stop,
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
