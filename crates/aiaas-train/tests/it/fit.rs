use aiaas_engine::{Mlp, Workspace, stack};
use aiaas_train::{Control, EpochProgress, Observer, Part, Silent, StopReason, evaluate_loss, fit};
use aiaas_types::{
    Activation, LossKind, ModelKind, ModelSpec, OptimizerKind, OptimizerSpec, Schedule, TrainSpec,
};

/// Two noisy Gaussian blobs in 2-D with labels 0/1, from a fixed integer recipe.
pub(crate) fn blobs(rows: usize, offset: usize) -> Part {
    let mut x = Vec::with_capacity(rows * 2);
    let mut y = Vec::with_capacity(rows);
    for i in 0..rows {
        let class = (i + offset) % 2;
        let noise = |k: usize| (((i + offset) * 7919 + k * 104_729) % 1000) as f32 / 500.0 - 1.0;
        let centre = if class == 0 { -0.5 } else { 0.5 };
        x.push(centre + 1.5 * noise(1));
        x.push(centre + 1.5 * noise(2));
        y.push(class as f32);
    }
    Part { x, y, rows }
}

pub(crate) fn spec(
    kind: OptimizerKind,
    lr: f32,
    epochs: usize,
    patience: Option<usize>,
) -> TrainSpec {
    TrainSpec {
        model: ModelSpec {
            kind: ModelKind::Mlp,
            hidden: vec![64],
            activation: Activation::Relu,
        },
        loss: LossKind::CrossEntropy,
        optimizer: OptimizerSpec {
            lr,
            ..OptimizerSpec::defaults(kind)
        },
        schedule: Schedule::Constant,
        batch_size: 8,
        epochs,
        patience,
        restore_best: true,
        seed: 3,
    }
}

pub(crate) fn mlp() -> Mlp {
    Mlp::new(stack(2, &[64], 2, Activation::Relu), 3).unwrap()
}

#[test]
fn early_stopping_keeps_the_weights_of_the_best_validation_epoch() {
    // A big model, few noisy rows and a high learning rate: validation loss soon climbs.
    let (train, val) = (blobs(40, 0), blobs(40, 1000));
    let s = spec(OptimizerKind::Adam, 0.05, 300, Some(5));
    let r = fit(mlp(), &s, &train, &val, 1, &mut Silent, None).unwrap();
    assert_eq!(r.stop, StopReason::EarlyStopped);
    assert_eq!(r.history.len(), r.best_epoch + 5);
    let best = r.history[r.best_epoch - 1].val_loss.unwrap();
    assert!(r.history.iter().all(|h| h.val_loss.unwrap() >= best));
    let (now, _) = evaluate_loss(
        &r.mlp,
        s.loss,
        &val,
        &mut Workspace::new(1),
        &mut Vec::new(),
    );
    assert!(
        (now - best).abs() < 1e-9,
        "restored loss {now} vs best {best}"
    );
}

#[test]
fn an_observer_can_stop_training_between_batches() {
    struct StopAfter(usize, usize);
    impl Observer for StopAfter {
        fn on_epoch(&mut self, _: &EpochProgress) {
            self.1 += 1;
        }
        fn control(&mut self) -> Control {
            self.0 = self.0.saturating_sub(1);
            if self.0 == 0 {
                Control::Cancel
            } else {
                Control::Continue
            }
        }
    }
    let train = blobs(64, 0);
    let mut observer = StopAfter(20, 0); // 8 batches per epoch: stops in epoch 3
    let r = fit(
        mlp(),
        &spec(OptimizerKind::Sgd, 0.1, 50, None),
        &train,
        &Part::default(),
        1,
        &mut observer,
        None,
    )
    .unwrap();
    assert_eq!(r.stop, StopReason::Cancelled);
    assert_eq!(observer.1, 2);
    assert_eq!(r.history.len(), 2);
}

#[test]
fn gd_uses_the_whole_training_set_whatever_the_batch_size() {
    let train = blobs(64, 0);
    let mut a = spec(OptimizerKind::Gd, 0.1, 5, None);
    let mut b = a.clone();
    a.batch_size = 1;
    b.batch_size = 1000;
    let ra = fit(mlp(), &a, &train, &Part::default(), 1, &mut Silent, None).unwrap();
    let rb = fit(mlp(), &b, &train, &Part::default(), 1, &mut Silent, None).unwrap();
    assert_eq!(ra.mlp.params(), rb.mlp.params());
    assert!(ra.history[4].train_loss < ra.history[0].train_loss);
}

#[test]
fn a_seed_reproduces_a_run_exactly_and_another_seed_does_not() {
    let (train, val) = (blobs(64, 0), blobs(32, 7));
    let s = spec(OptimizerKind::AdamW, 0.01, 10, Some(3));
    let a = fit(mlp(), &s, &train, &val, 1, &mut Silent, None).unwrap();
    let b = fit(mlp(), &s, &train, &val, 2, &mut Silent, None).unwrap();
    assert_eq!(a.history, b.history);
    assert_eq!(a.mlp.params(), b.mlp.params());
    let other = TrainSpec { seed: 4, ..s };
    let c = fit(mlp(), &other, &train, &val, 1, &mut Silent, None).unwrap();
    assert_ne!(a.mlp.params(), c.mlp.params());
}

#[test]
fn a_run_that_overflows_is_an_error_naming_the_epoch_not_nan_metrics() {
    let train = blobs(64, 0);
    for (kind, lr) in [(OptimizerKind::Sgd, 3e38), (OptimizerKind::Adam, 1e30)] {
        let s = spec(kind, lr, 5, None);
        let mut seen = Vec::new();
        struct Record<'a>(&'a mut Vec<f64>);
        impl Observer for Record<'_> {
            fn on_epoch(&mut self, p: &EpochProgress) {
                self.0.push(p.train_loss);
            }
        }
        let err = fit(
            mlp(),
            &s,
            &train,
            &Part::default(),
            1,
            &mut Record(&mut seen),
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("diverged"), "{err}");
        assert!(err.to_string().contains("learning rate"), "{err}");
        assert!(seen.iter().all(|l| l.is_finite()), "{seen:?}");
    }
}
