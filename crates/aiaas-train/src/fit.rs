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
use crate::fit_common::{FitResult, Guide, Part, Teacher, evaluate_loss, pruned_indices, settle};
use crate::fit_lbfgs::fit_lbfgs;
use crate::loss::{distill_loss_and_grad, loss_and_grad};
use crate::observer::{Control, Observer, StopReason};
use crate::optim::Optimizer;
use crate::run_state::{EpochProgress, Position, Record};
use aiaas_engine::{Mlp, Workspace};
use aiaas_types::{LossKind, OptimizerKind, TrainSpec};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::ops::ControlFlow;

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
/// spec and row counts, else the error says what differs and nothing is trained. L-BFGS runs
/// are never checkpointed, so they take no `resume`.
pub fn fit(
    mlp: Mlp,
    spec: &TrainSpec,
    train: &Part,
    val: &Part,
    threads: usize,
    observer: &mut dyn Observer,
    resume: Option<&Checkpoint>,
) -> Result<FitResult, TrainError> {
    if spec.optimizer.kind == OptimizerKind::Lbfgs {
        if resume.is_some() {
            return Err(TrainError::Checkpoint(
                "L-BFGS runs are not checkpointed; train again from the start".into(),
            ));
        }
        return fit_lbfgs(mlp, spec, train, val, threads, observer, &UNGUIDED);
    }
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
    if spec.optimizer.kind == OptimizerKind::Lbfgs {
        return fit_lbfgs(mlp, spec, train, val, threads, observer, guide);
    }
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

/// The loop behind [`fit`] and [`fit_guided`]: set up (or resume), train epoch after epoch until
/// the spec's epochs are done or something stops the run, then settle on the weights to return.
fn run(
    mlp: Mlp,
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
    let mut state = Loop::new(mlp, spec, train, val, threads, guide, checkpoints);
    let mut shuffle = Shuffle::new(spec.seed, train.rows);
    let start = match resume {
        Some(checkpoint) => state.resume_from(checkpoint, &mut shuffle)?,
        None => Position::default(),
    };
    let stop = state.run_epochs(start, &mut shuffle, observer)?;
    Ok(state.finish(stop))
}

/// Everything one run of the loop owns, allocated before the first step so that steps do not
/// allocate.
struct Loop<'a> {
    spec: &'a TrainSpec,
    train: &'a Part,
    val: &'a Part,
    teacher: Option<Teacher<'a>>,
    /// Whether the run hands out checkpoints: a guided run does not, since a checkpoint does not
    /// record the guide.
    checkpoints: bool,
    /// Parameters the mask prunes, zeroed again after every step. Indices rather than the mask
    /// itself: re-zeroing then costs nothing where little is pruned.
    pruned: Vec<usize>,
    batch_rows: usize,
    mlp: Mlp,
    optimizer: Optimizer,
    batch: Batch,
    ws: Workspace,
    grads: Vec<f32>,
    eval_ws: Workspace,
    eval_scratch: Vec<f32>,
    record: Record,
}

impl<'a> Loop<'a> {
    /// A run starting from `mlp`'s weights, with the pruned ones zeroed first.
    fn new(
        mut mlp: Mlp,
        spec: &'a TrainSpec,
        train: &'a Part,
        val: &'a Part,
        threads: usize,
        guide: &Guide<'a>,
        checkpoints: bool,
    ) -> Loop<'a> {
        let pruned = pruned_indices(guide);
        zero_pruned(mlp.params_mut(), &pruned);
        let batch_rows = batch_rows(spec, train.rows);
        let teacher = guide.teacher;
        Loop {
            spec,
            train,
            val,
            teacher,
            checkpoints,
            pruned,
            batch_rows,
            optimizer: Optimizer::new(spec.optimizer.clone(), mlp.param_count())
                .with_threads(threads),
            batch: Batch::new(batch_rows, mlp.inputs(), mlp.outputs(), teacher.is_some()),
            ws: Workspace::new(threads),
            eval_ws: Workspace::new(threads),
            grads: vec![0.0; mlp.param_count()],
            eval_scratch: Vec::new(),
            record: Record::new(mlp.params(), spec.epochs),
            mlp,
        }
    }

    /// Takes the run's state from `checkpoint`, once it has checked that the checkpoint belongs
    /// to this run, and replays the shuffles of the epochs it had done. Returns where to go on.
    fn resume_from(
        &mut self,
        checkpoint: &Checkpoint,
        shuffle: &mut Shuffle,
    ) -> Result<Position, TrainError> {
        let batches = self.train.rows.div_ceil(self.batch_rows);
        checkpoint.check(&self.fingerprint(), batches)?;
        self.optimizer.restore(&checkpoint.optimizer)?;
        self.mlp.params_mut().copy_from_slice(&checkpoint.params);
        self.record = checkpoint.record.clone();
        shuffle.replay(checkpoint.position.epoch);
        Ok(checkpoint.position)
    }

    /// The epochs from `start` to the spec's last, unless the observer, early stopping or a
    /// diverged loss ends the run first. Returns why the loop stopped.
    fn run_epochs(
        &mut self,
        start: Position,
        shuffle: &mut Shuffle,
        observer: &mut dyn Observer,
    ) -> Result<StopReason, TrainError> {
        for epoch in start.epoch..self.spec.epochs {
            let lr = self.spec.schedule.lr_at(self.spec.optimizer.lr, epoch);
            let order = shuffle.next_epoch();
            let from = if epoch == start.epoch {
                start
            } else {
                Position {
                    epoch,
                    ..Position::default()
                }
            };
            let total_loss = match self.train_epoch(order, from, lr, observer) {
                ControlFlow::Continue(total_loss) => total_loss,
                ControlFlow::Break(stop) => return Ok(stop),
            };
            let progress = self.close_epoch(epoch, total_loss, lr)?;
            observer.on_epoch(&progress);
            self.record.history.push(progress);
            if self.patience_ran_out() {
                return Ok(StopReason::EarlyStopped);
            }
            let completed = epoch + 1;
            if self.checkpoints
                && completed < self.spec.epochs
                && observer.checkpoint_due(completed)
            {
                let boundary = Position {
                    epoch: completed,
                    ..Position::default()
                };
                observer.on_checkpoint(&self.checkpoint(boundary));
            }
        }
        Ok(StopReason::Completed)
    }

    /// The batches of one epoch in `order`, from `from.batches_done` on. Continues with the sum
    /// over the epoch's batches of the batch loss times its rows, or breaks with why the observer
    /// stopped the run.
    fn train_epoch(
        &mut self,
        order: &[usize],
        from: Position,
        lr: f32,
        observer: &mut dyn Observer,
    ) -> ControlFlow<StopReason, f64> {
        let mut total_loss = from.partial_loss;
        let batches = order.chunks(self.batch_rows).enumerate();
        for (done, rows) in batches.skip(from.batches_done) {
            let here = Position {
                epoch: from.epoch,
                batches_done: done,
                partial_loss: total_loss,
            };
            if let Some(stop) = self.stop_asked(observer, here) {
                return ControlFlow::Break(stop);
            }
            total_loss += self.train_batch(rows, lr);
        }
        ControlFlow::Continue(total_loss)
    }

    /// Asks the observer, before the batch at `here`, whether to go on: `None` to go on, else why
    /// the run stops. A suspended plain run hands over a checkpoint of `here` first.
    fn stop_asked(&self, observer: &mut dyn Observer, here: Position) -> Option<StopReason> {
        match observer.control() {
            Control::Continue => None,
            Control::Cancel => Some(StopReason::Cancelled),
            Control::Suspend => {
                if self.checkpoints {
                    observer.on_checkpoint(&self.checkpoint(here));
                }
                Some(StopReason::Suspended)
            }
        }
    }

    /// One optimizer step on the training rows `rows`. Returns the batch loss times its rows.
    fn train_batch(&mut self, rows: &[usize], lr: f32) -> f64 {
        let (n, width, cols) = (rows.len(), self.mlp.inputs(), self.mlp.outputs());
        self.batch
            .gather(self.train, self.teacher.as_ref(), rows, width, cols);
        let x = &self.batch.x[..n * width];
        self.mlp.forward(x, n, &mut self.ws);
        let (out, grad) = self.ws.output_and_grad_mut();
        let y = &self.batch.y[..n];
        let batch_loss = match &self.teacher {
            Some(t) => {
                let soft = &self.batch.teacher[..n * cols];
                distill_loss_and_grad(out, soft, y, cols, t.temperature, t.alpha, grad)
            }
            None => loss_and_grad(self.spec.loss, out, y, cols, grad),
        };
        self.mlp.backward(x, &mut self.ws, &mut self.grads);
        self.optimizer.step(self.mlp.params_mut(), &self.grads, lr);
        zero_pruned(self.mlp.params_mut(), &self.pruned);
        batch_loss * n as f64
    }

    /// The report of the 0-based `epoch` once its batches are done: its mean training loss
    /// (an error if that overflowed), its validation figures, and whether it is the best so far
    /// (then its weights are kept).
    fn close_epoch(
        &mut self,
        epoch: usize,
        total_loss: f64,
        lr: f32,
    ) -> Result<EpochProgress, TrainError> {
        let train_loss = total_loss / self.train.rows.max(1) as f64;
        // Nothing useful comes after an overflow, and NaN must not reach reports or the store.
        if !train_loss.is_finite() {
            return Err(TrainError::Diverged {
                epoch: epoch + 1,
                loss: train_loss,
            });
        }
        let (val_loss, val_metric) = self.validate();
        // Without validation data the training loss decides what "best" means.
        let watched = val_loss.unwrap_or(train_loss);
        let best = self.record.note(watched, epoch + 1, self.mlp.params());
        Ok(EpochProgress {
            epoch: epoch + 1,
            epochs: self.spec.epochs,
            train_loss,
            val_loss,
            val_metric,
            lr,
            best,
        })
    }

    /// Loss and metric on the validation rows, if there are any.
    fn validate(&mut self) -> (Option<f64>, Option<f64>) {
        if self.val.rows == 0 {
            return (None, None);
        }
        let (loss, metric) = evaluate_loss(
            &self.mlp,
            self.spec.loss,
            self.val,
            &mut self.eval_ws,
            &mut self.eval_scratch,
        );
        (Some(loss), Some(metric))
    }

    /// Whether early stopping ends the run: `patience` epochs without a better validation loss.
    fn patience_ran_out(&self) -> bool {
        self.spec
            .patience
            .is_some_and(|patience| self.val.rows > 0 && self.record.since_best >= patience)
    }

    fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(self.spec, &self.mlp, self.train.rows, self.val.rows)
    }

    /// The run's state at `position`, to resume from.
    fn checkpoint(&self, position: Position) -> Checkpoint {
        Checkpoint::capture(
            self.fingerprint(),
            position,
            &self.mlp,
            &self.optimizer,
            &self.record,
        )
    }

    /// The result once the loop stopped for `stop`, with the weights [`settle`] chooses.
    fn finish(mut self, stop: StopReason) -> FitResult {
        let best_epoch = settle(self.spec, stop, &self.record, self.mlp.params_mut());
        FitResult {
            mlp: self.mlp,
            history: self.record.history,
            best_epoch,
            stop,
            convergence: None,
        }
    }
}

/// Rows per batch: every training row for full-batch gradient descent, else the spec's batch
/// size, never more than there are rows and never 0.
fn batch_rows(spec: &TrainSpec, rows: usize) -> usize {
    match spec.optimizer.kind {
        OptimizerKind::Gd | OptimizerKind::Lbfgs => rows,
        _ => spec.batch_size.min(rows),
    }
    .max(1)
}

/// Holds the pruned parameters at exactly zero.
fn zero_pruned(params: &mut [f32], pruned: &[usize]) {
    pruned.iter().for_each(|&i| params[i] = 0.0);
}

/// The order the training rows are visited in, reshuffled every epoch.
struct Shuffle {
    rng: ChaCha8Rng,
    order: Vec<usize>,
}

impl Shuffle {
    fn new(seed: u64, rows: usize) -> Shuffle {
        Shuffle {
            // The shuffle stream is seeded apart from the initialisation stream.
            rng: ChaCha8Rng::seed_from_u64(seed.wrapping_add(1)),
            order: (0..rows).collect(),
        }
    }

    /// The order for the next epoch.
    fn next_epoch(&mut self) -> &[usize] {
        self.order.shuffle(&mut self.rng);
        &self.order
    }

    /// Moves past the shuffles of `epochs` epochs already done: a checkpoint does not store the
    /// stream, so a resumed run replays it.
    fn replay(&mut self, epochs: usize) {
        for _ in 0..epochs {
            self.order.shuffle(&mut self.rng);
        }
    }
}

/// Reused buffers one batch is gathered into: its inputs, its targets and, when distilling, the
/// teacher's logits for its rows.
struct Batch {
    x: Vec<f32>,
    y: Vec<f32>,
    teacher: Vec<f32>,
}

impl Batch {
    fn new(rows: usize, width: usize, cols: usize, teacher: bool) -> Batch {
        Batch {
            x: vec![0.0; rows * width],
            y: vec![0.0; rows],
            teacher: vec![0.0; if teacher { rows * cols } else { 0 }],
        }
    }

    /// Copies the training rows `rows` (and their teacher's logits) to the front of the buffers.
    fn gather(
        &mut self,
        train: &Part,
        teacher: Option<&Teacher>,
        rows: &[usize],
        width: usize,
        cols: usize,
    ) {
        for (i, &r) in rows.iter().enumerate() {
            self.x[i * width..(i + 1) * width]
                .copy_from_slice(&train.x[r * width..(r + 1) * width]);
            self.y[i] = train.y[r];
        }
        if let Some(teacher) = teacher {
            for (i, &r) in rows.iter().enumerate() {
                self.teacher[i * cols..(i + 1) * cols]
                    .copy_from_slice(&teacher.logits[r * cols..(r + 1) * cols]);
            }
        }
    }
}
