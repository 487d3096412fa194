//! Guided fits: a pruning mask holds its parameters at exactly zero through fine-tuning with
//! every stateful optimizer (and through restoring the best epoch), distillation lowers the
//! distillation loss while validation stays plain cross-entropy, and a bad guide is refused.

use crate::fit::{blobs, mlp, spec};
use aiaas_engine::{Mlp, Workspace, stack};
use aiaas_train::{
    FitResult, Guide, Part, Silent, StopReason, Teacher, TrainError, distill_loss_and_grad,
    evaluate_loss, fit, fit_guided,
};
use aiaas_types::{Activation, LossKind, OptimizerKind, TrainSpec};

/// Prunes every third parameter.
fn mask(params: usize) -> Vec<bool> {
    (0..params).map(|i| i % 3 != 0).collect()
}

fn fine_tune_keeps_the_mask(s: &TrainSpec) -> FitResult {
    let (train, val) = (blobs(120, 0), blobs(60, 7000));
    let start = mlp();
    let keep = mask(start.param_count());
    let guide = Guide {
        mask: Some(&keep),
        teacher: None,
    };
    let r = fit_guided(start.clone(), s, &train, &val, 1, &mut Silent, &guide).unwrap();
    let mut still = 0;
    for (i, ((&p, &p0), &k)) in r
        .mlp
        .params()
        .iter()
        .zip(start.params())
        .zip(&keep)
        .enumerate()
    {
        if k {
            still += usize::from(p == p0);
        } else {
            assert_eq!(p.to_bits(), 0.0f32.to_bits(), "pruned parameter {i} is {p}");
        }
    }
    // A ReLU unit that never fires gets no gradient, so a few kept weights may stay put.
    let kept = keep.iter().filter(|&&k| k).count();
    assert!(
        still * 10 < kept,
        "{still} of {kept} kept parameters did not train"
    );
    r
}

#[test]
fn a_mask_survives_fine_tuning_with_adam() {
    // A high rate and patience: early stopping restores an earlier epoch's weights.
    let s = spec(OptimizerKind::Adam, 0.05, 200, Some(3));
    let r = fine_tune_keeps_the_mask(&s);
    assert_eq!(r.stop, StopReason::EarlyStopped);
    assert!(r.best_epoch < r.history.len());
}

#[test]
fn a_mask_survives_fine_tuning_with_adamw() {
    let mut s = spec(OptimizerKind::AdamW, 0.05, 200, Some(3));
    s.optimizer.weight_decay = 0.1;
    fine_tune_keeps_the_mask(&s);
}

#[test]
fn a_mask_survives_fine_tuning_with_sgd_momentum() {
    let mut s = spec(OptimizerKind::Sgd, 0.05, 30, Some(3));
    s.optimizer.momentum = 0.9;
    s.optimizer.nesterov = true;
    s.optimizer.weight_decay = 1e-3;
    fine_tune_keeps_the_mask(&s);
}

#[test]
fn an_empty_guide_trains_exactly_like_fit() {
    let (train, val) = (blobs(100, 0), blobs(40, 3000));
    let s = spec(OptimizerKind::Adam, 0.01, 5, None);
    let plain = fit(mlp(), &s, &train, &val, 1, &mut Silent, None).unwrap();
    let guided = fit_guided(mlp(), &s, &train, &val, 1, &mut Silent, &Guide::default()).unwrap();
    assert_eq!(plain.mlp.params(), guided.mlp.params());
    assert_eq!(plain.history, guided.history);
}

/// Mean distillation loss of `student` over `part` against `teacher` logits.
fn distill_loss(student: &Mlp, part: &Part, teacher: &[f32], t: f32, alpha: f32) -> f64 {
    let out = student.predict(&part.x, part.rows, 1);
    let mut grad = vec![0.0; out.len()];
    distill_loss_and_grad(
        &out,
        teacher,
        &part.y,
        student.outputs(),
        t,
        alpha,
        &mut grad,
    )
}

#[test]
fn distillation_lowers_the_distillation_loss_and_validates_on_cross_entropy() {
    let (train, val) = (blobs(200, 0), blobs(80, 9000));
    let s = spec(OptimizerKind::Adam, 0.01, 30, None);
    let big = fit(mlp(), &s, &train, &val, 1, &mut Silent, None)
        .unwrap()
        .mlp;
    let logits = big.predict(&train.x, train.rows, 1);
    let (t, alpha) = (4.0, 0.7);

    let mut small_spec = spec(OptimizerKind::Adam, 0.01, 20, Some(5));
    small_spec.model.hidden = vec![4];
    let student = Mlp::new(stack(2, &[4], 2, Activation::Relu), 9).unwrap();
    let before = distill_loss(&student, &train, &logits, t, alpha);
    let guide = Guide {
        mask: None,
        teacher: Some(Teacher {
            logits: &logits,
            temperature: t,
            alpha,
        }),
    };
    let r = fit_guided(student, &small_spec, &train, &val, 1, &mut Silent, &guide).unwrap();
    let after = distill_loss(&r.mlp, &train, &logits, t, alpha);
    assert!(
        after < 0.8 * before,
        "distillation loss {before} -> {after}"
    );
    // The reported training loss is the distillation loss; validation is plain cross-entropy.
    let last = r.history.last().unwrap();
    assert!(last.train_loss < r.history[0].train_loss);
    let (val_ce, _) = evaluate_loss(
        &r.mlp,
        LossKind::CrossEntropy,
        &val,
        &mut Workspace::new(1),
        &mut Vec::new(),
    );
    let best = r.history[r.best_epoch - 1].val_loss.unwrap();
    assert!((val_ce - best).abs() < 1e-9, "{val_ce} vs {best}");
}

fn refusal(guide: &Guide, s: &TrainSpec) -> String {
    let train = blobs(20, 0);
    match fit_guided(mlp(), s, &train, &Part::default(), 1, &mut Silent, guide) {
        Err(TrainError::InvalidSpec(m)) => m,
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a bad guide was accepted"),
    }
}

#[test]
fn a_bad_guide_is_an_invalid_spec() {
    let s = spec(OptimizerKind::Adam, 0.01, 2, None);
    let short = vec![true; mlp().param_count() - 1];
    let m = refusal(
        &Guide {
            mask: Some(&short),
            teacher: None,
        },
        &s,
    );
    assert!(m.contains("mask") && m.contains("parameters"), "{m}");

    let logits = vec![0.0f32; 20 * 2];
    let teacher = |logits, temperature, alpha| Guide {
        mask: None,
        teacher: Some(Teacher {
            logits,
            temperature,
            alpha,
        }),
    };
    let m = refusal(&teacher(&logits[..39], 2.0, 0.5), &s);
    assert!(m.contains("teacher") && m.contains("40"), "{m}");
    let m = refusal(&teacher(&logits, 2.0, 1.5), &s);
    assert!(m.contains("alpha"), "{m}");
    let m = refusal(&teacher(&logits, 0.0, 0.5), &s);
    assert!(m.contains("temperature"), "{m}");
    let m = refusal(&teacher(&logits, f32::NAN, 0.5), &s);
    assert!(m.contains("temperature"), "{m}");
    let mut nan = logits.clone();
    nan[3] = f32::INFINITY;
    let m = refusal(&teacher(&nan, 2.0, 0.5), &s);
    assert!(m.contains("finite"), "{m}");
    let mut mse = s.clone();
    mse.loss = LossKind::Mse;
    let m = refusal(&teacher(&logits, 2.0, 0.5), &mse);
    assert!(m.contains("cross_entropy"), "{m}");
}
