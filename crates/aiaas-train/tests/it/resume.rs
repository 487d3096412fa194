//! Suspend, checkpoint and resume: a run resumed from a checkpoint, after a trip through bytes,
//! ends bit for bit where the uninterrupted run with the same seed ends; checkpoints of another
//! run are refused.

use crate::fit::{blobs, mlp, spec};
use aiaas_data::{Column, Dataset, Target};
use aiaas_engine::{Mlp, stack};
use aiaas_train::{
    Checkpoint, Control, EpochProgress, FitResult, Observer, Part, Silent, StopReason, TrainError,
    fit, resolve, train,
};
use aiaas_types::{
    Activation, ModelSpec, OptimizerKind, Schedule, SplitSpec, TrainOptions, TrainSpec,
};

/// Counts batches from the start of its own run, suspends before batch `suspend_at`, asks for a
/// checkpoint every `every` epochs, and keeps everything it is given.
#[derive(Default)]
struct Recorder {
    suspend_at: Option<usize>,
    every: Option<usize>,
    batches: usize,
    asked: Vec<usize>,
    epochs: Vec<EpochProgress>,
    checkpoints: Vec<Checkpoint>,
}

impl Recorder {
    fn suspending_at(batch: usize) -> Self {
        Recorder {
            suspend_at: Some(batch),
            ..Recorder::default()
        }
    }

    fn checkpointing_every(epochs: usize) -> Self {
        Recorder {
            every: Some(epochs),
            ..Recorder::default()
        }
    }

    /// The only checkpoint, after a round trip through bytes.
    fn stored(&self) -> Checkpoint {
        assert_eq!(self.checkpoints.len(), 1, "one checkpoint");
        through_bytes(&self.checkpoints[0])
    }
}

impl Observer for Recorder {
    fn on_epoch(&mut self, progress: &EpochProgress) {
        self.epochs.push(progress.clone());
    }
    fn control(&mut self) -> Control {
        self.batches += 1;
        if self.suspend_at == Some(self.batches - 1) {
            Control::Suspend
        } else {
            Control::Continue
        }
    }
    fn checkpoint_due(&mut self, completed_epochs: usize) -> bool {
        self.asked.push(completed_epochs);
        self.every
            .is_some_and(|k| completed_epochs.is_multiple_of(k))
    }
    fn on_checkpoint(&mut self, checkpoint: &Checkpoint) {
        self.checkpoints.push(checkpoint.clone());
    }
}

fn through_bytes(c: &Checkpoint) -> Checkpoint {
    let back = Checkpoint::from_bytes(&c.to_bytes()).expect("a checkpoint reads back");
    assert_eq!(&back, c, "the byte round trip changes nothing");
    back
}

/// 200 training rows in batches of 16: 13 batches an epoch, the last one of 8 rows.
fn data() -> (Part, Part) {
    (blobs(200, 0), blobs(60, 5000))
}

const BATCHES_PER_EPOCH: usize = 13;

fn resumable_spec(kind: OptimizerKind, schedule: Schedule) -> TrainSpec {
    let mut s = spec(kind, 0.01, 8, None);
    s.batch_size = 16;
    s.schedule = schedule;
    if kind == OptimizerKind::Sgd {
        s.optimizer.lr = 0.05;
        s.optimizer.momentum = 0.9;
    }
    s
}

fn run(s: &TrainSpec, observer: &mut dyn Observer, resume: Option<&Checkpoint>) -> FitResult {
    let (train, val) = data();
    fit(mlp(), s, &train, &val, 1, observer, resume).expect("training runs")
}

fn assert_same_run(resumed: &FitResult, whole: &FitResult) {
    assert_eq!(resumed.mlp.params(), whole.mlp.params(), "weights differ");
    assert_eq!(resumed.history, whole.history);
    assert_eq!(resumed.best_epoch, whole.best_epoch);
    assert_eq!(resumed.stop, whole.stop);
}

/// Suspends in the middle of epoch 3 (0-based: three epochs done, two batches of the fourth),
/// resumes from the stored bytes, and compares with the uninterrupted run.
fn suspend_mid_epoch_and_resume(kind: OptimizerKind, schedule: Schedule) {
    let s = resumable_spec(kind, schedule);
    let whole = run(&s, &mut Silent, None);

    let mut first = Recorder::suspending_at(3 * BATCHES_PER_EPOCH + 2);
    let suspended = run(&s, &mut first, None);
    assert_eq!(suspended.stop, StopReason::Suspended);
    assert_eq!(suspended.history, whole.history[..3]);
    let checkpoint = first.stored();
    assert_eq!(checkpoint.completed_epochs(), 3);
    assert_eq!(checkpoint.batches_done(), 2);
    assert_eq!(checkpoint.history(), &whole.history[..3]);
    assert_eq!(checkpoint.param_count(), mlp().param_count());

    let mut second = Recorder::default();
    let resumed = run(&s, &mut second, Some(&checkpoint));
    assert_same_run(&resumed, &whole);
    assert_eq!(
        second.epochs,
        whole.history[3..],
        "progress resumes at epoch 4"
    );
    assert_eq!(
        second.batches,
        8 * BATCHES_PER_EPOCH - (3 * BATCHES_PER_EPOCH + 2)
    );
}

#[test]
fn adam_resumes_mid_epoch_bit_for_bit() {
    suspend_mid_epoch_and_resume(OptimizerKind::Adam, Schedule::Constant);
}

#[test]
fn sgd_with_momentum_resumes_mid_epoch_bit_for_bit() {
    let step = Schedule::Step {
        step_size: 2,
        gamma: 0.5,
    };
    suspend_mid_epoch_and_resume(OptimizerKind::Sgd, step);
}

#[test]
fn adamw_resumes_mid_epoch_bit_for_bit() {
    let cosine = Schedule::Cosine {
        t_max: 8,
        eta_min: 0.001,
    };
    suspend_mid_epoch_and_resume(OptimizerKind::AdamW, cosine);
}

#[test]
fn a_run_suspended_twice_still_ends_where_the_whole_run_ends() {
    let s = resumable_spec(OptimizerKind::Adam, Schedule::Constant);
    let whole = run(&s, &mut Silent, None);
    // At the very first batch, at an epoch's first batch, and mid-epoch after a resume.
    let mut a = Recorder::suspending_at(0);
    run(&s, &mut a, None);
    let mut b = Recorder::suspending_at(2 * BATCHES_PER_EPOCH);
    run(&s, &mut b, Some(&a.stored()));
    let mut c = Recorder::suspending_at(BATCHES_PER_EPOCH + 7);
    run(&s, &mut c, Some(&b.stored()));
    assert_eq!(c.stored().completed_epochs(), 3);
    assert_eq!(c.stored().batches_done(), 7);
    let resumed = run(&s, &mut Silent, Some(&c.stored()));
    assert_same_run(&resumed, &whole);
}

#[test]
fn epoch_boundary_checkpoints_resume_bit_for_bit() {
    let s = resumable_spec(OptimizerKind::AdamW, Schedule::Constant);
    let whole = run(&s, &mut Silent, None);

    let mut every_two = Recorder::checkpointing_every(2);
    let checkpointed = run(&s, &mut every_two, None);
    assert_same_run(&checkpointed, &whole);
    // Asked after every epoch but the last; checkpoints after epochs 2, 4 and 6.
    assert_eq!(every_two.asked, (1..8).collect::<Vec<_>>());
    let done: Vec<_> = every_two
        .checkpoints
        .iter()
        .map(|c| c.completed_epochs())
        .collect();
    assert_eq!(done, [2, 4, 6]);
    for c in &every_two.checkpoints {
        assert_eq!(c.batches_done(), 0);
        let resumed = run(&s, &mut Silent, Some(&through_bytes(c)));
        assert_same_run(&resumed, &whole);
    }
}

#[test]
fn early_stopping_state_survives_a_resume() {
    // The early-stopping setup of the fit tests: validation loss soon climbs.
    let (train, val) = (blobs(40, 0), blobs(40, 1000));
    let s = spec(OptimizerKind::Adam, 0.05, 300, Some(5));
    let go = |observer: &mut dyn Observer, resume: Option<&Checkpoint>| {
        fit(mlp(), &s, &train, &val, 1, observer, resume).expect("training runs")
    };
    let whole = go(&mut Silent, None);
    assert_eq!(whole.stop, StopReason::EarlyStopped);
    let stopped_at = whole.history.len();

    let mut every = Recorder::checkpointing_every(1);
    assert_same_run(&go(&mut every, None), &whole);
    // Not asked after the epoch that stops training.
    assert_eq!(every.checkpoints.len(), stopped_at - 1);
    // Two epochs before the stop: the best epoch lies behind, patience is partly used up.
    let late = through_bytes(&every.checkpoints[stopped_at - 3]);
    assert_eq!(late.completed_epochs(), stopped_at - 2);
    assert!(whole.best_epoch < late.completed_epochs());
    assert_same_run(&go(&mut Silent, Some(&late)), &whole);

    // The same in the middle of the epoch before the stop (5 batches of 8 rows an epoch).
    let mut suspend = Recorder::suspending_at((stopped_at - 1) * 5 + 3);
    assert_eq!(go(&mut suspend, None).stop, StopReason::Suspended);
    assert_same_run(&go(&mut Silent, Some(&suspend.stored())), &whole);
}

fn suspended_checkpoint() -> Checkpoint {
    let s = resumable_spec(OptimizerKind::Adam, Schedule::Constant);
    let mut r = Recorder::suspending_at(20);
    run(&s, &mut r, None);
    r.stored()
}

fn refusal(result: Result<FitResult, TrainError>) -> String {
    match result {
        Err(e @ TrainError::Checkpoint(_)) => e.to_string(),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a foreign checkpoint was accepted"),
    }
}

#[test]
fn a_checkpoint_of_another_architecture_is_refused() {
    let checkpoint = suspended_checkpoint();
    let mut s = resumable_spec(OptimizerKind::Adam, Schedule::Constant);
    s.model = ModelSpec {
        hidden: vec![32],
        ..s.model
    };
    let small = Mlp::new(stack(2, &[32], 2, Activation::Relu), 3).unwrap();
    let (train, val) = data();
    let message = refusal(fit(
        small,
        &s,
        &train,
        &val,
        1,
        &mut Silent,
        Some(&checkpoint),
    ));
    assert!(
        message.contains("2-64-2 network with 322 parameters")
            && message.contains("this model is 2-32-2 with 162"),
        "{message}"
    );
}

#[test]
fn a_checkpoint_of_another_spec_or_split_is_refused() {
    let checkpoint = suspended_checkpoint();
    let (train, val) = data();
    let s = resumable_spec(OptimizerKind::Adam, Schedule::Constant);
    let other_seed = TrainSpec {
        seed: 9,
        ..s.clone()
    };
    let message = refusal(fit(
        mlp(),
        &other_seed,
        &train,
        &val,
        1,
        &mut Silent,
        Some(&checkpoint),
    ));
    assert!(message.contains("differing in seed"), "{message}");
    let fewer = blobs(199, 0);
    let message = refusal(fit(
        mlp(),
        &s,
        &fewer,
        &val,
        1,
        &mut Silent,
        Some(&checkpoint),
    ));
    assert!(
        message.contains("200 training and 60 validation rows"),
        "{message}"
    );
}

#[test]
fn damaged_checkpoint_bytes_are_an_error() {
    let bytes = suspended_checkpoint().to_bytes();
    for cut in [0, 7, 8, 100, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            Checkpoint::from_bytes(&bytes[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    let mut flipped = bytes.clone();
    flipped[12] ^= 0x55; // inside the JSON header
    assert!(Checkpoint::from_bytes(&flipped).is_err());
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert!(Checkpoint::from_bytes(&garbage).is_err());
    let mut longer = bytes;
    longer.push(0);
    assert!(Checkpoint::from_bytes(&longer).is_err());
}

/// 300 rows, two numeric columns, two classes.
pub fn dataset() -> Dataset {
    let part = blobs(300, 11);
    Dataset {
        name: "blobs".into(),
        digest: String::new(),
        columns: vec![
            Column::Numeric { name: "a".into() },
            Column::Numeric { name: "b".into() },
        ],
        target: Target::Classification {
            name: "class".into(),
            labels: vec!["left".into(), "right".into()],
        },
        rows: part.rows,
        x: part.x,
        y: part.y,
        test_rows: None,
    }
}

#[test]
fn the_pipeline_suspends_without_scoring_and_resumes_to_the_same_model() {
    let ds = dataset();
    let options = TrainOptions {
        hidden: Some(vec![16]),
        batch_size: Some(16),
        epochs: Some(6),
        seed: Some(5),
        ..TrainOptions::default()
    };
    let s = resolve(&options, &ds).unwrap();
    let split = SplitSpec::default();
    let trained = |outcome| match outcome {
        Ok(Some(t)) => t,
        Ok(None) => panic!("suspended"),
        Err(e) => panic!("{e}"),
    };
    let whole = trained(train(&ds, &s, &split, 1, &mut Silent, None));

    let mut r = Recorder::suspending_at(25);
    let outcome = train(&ds, &s, &split, 1, &mut r, None).unwrap();
    assert!(outcome.is_none(), "suspended runs are not scored");
    let checkpoint = r.stored();
    let resumed = trained(train(&ds, &s, &split, 1, &mut Silent, Some(&checkpoint)));
    assert_eq!(resumed.mlp.params(), whole.mlp.params());
    assert_eq!(resumed.history, whole.history);
    assert_eq!(resumed.metrics, whole.metrics);

    // Another split of the same data is another run.
    let other = SplitSpec {
        val_fraction: split.val_fraction + 0.05,
        ..split.clone()
    };
    let refused = train(&ds, &s, &other, 1, &mut Silent, Some(&checkpoint));
    assert!(matches!(refused, Err(TrainError::Checkpoint(_))));
}
