//! L-BFGS against `torch.optim.LBFGS(line_search_fn="strong_wolfe")`, iteration by iteration, on
//! the fixed problems of `tests/torch/lbfgs_reference.py` (softmax regression with L2, logistic
//! regression with L2, least squares): after k iterations (torch: a fresh run with
//! `max_iter=k`, so the evaluation budget `max_iter · 5 / 4` is torch's too) the weights and the
//! objective agree to float32 rounding.

use aiaas_engine::{Mlp, stack};
use aiaas_train::{Part, Silent, StopReason, fit};
use aiaas_types::{
    Activation, LossKind, ModelKind, ModelSpec, OptimizerKind, OptimizerSpec, Schedule, TrainSpec,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    features: usize,
    problems: Vec<Problem>,
}

#[derive(Deserialize)]
struct Problem {
    name: String,
    loss: LossKind,
    outputs: usize,
    l2: f32,
    x: Vec<f32>,
    y: Vec<f32>,
    params: Vec<f32>,
    iterates: Vec<Iterate>,
}

#[derive(Deserialize)]
struct Iterate {
    params: Vec<f32>,
    loss: f64,
    iterations: usize,
}

fn spec(p: &Problem, iterations: usize) -> TrainSpec {
    TrainSpec {
        model: ModelSpec {
            kind: ModelKind::Linear,
            hidden: Vec::new(),
            activation: Activation::Identity,
        },
        loss: p.loss,
        optimizer: OptimizerSpec {
            weight_decay: p.l2,
            history_size: 5,
            ..OptimizerSpec::defaults(OptimizerKind::Lbfgs)
        },
        schedule: Schedule::Constant,
        batch_size: 1,
        epochs: iterations,
        patience: None,
        restore_best: false,
        seed: 0,
    }
}

#[test]
fn lbfgs_follows_torch_iteration_by_iteration() {
    let reference: Reference =
        serde_json::from_str(include_str!("../data/lbfgs_torch.json")).unwrap();
    for p in &reference.problems {
        let layers = stack(reference.features, &[], p.outputs, Activation::Identity);
        let train = Part {
            x: p.x.clone(),
            y: p.y.clone(),
            rows: p.y.len(),
        };
        for (k, want) in p.iterates.iter().enumerate() {
            let mlp = Mlp::from_params(layers.clone(), p.params.clone()).unwrap();
            let s = spec(p, k + 1);
            let r = fit(mlp, &s, &train, &Part::default(), 1, &mut Silent, None).unwrap();
            let conv = r
                .convergence
                .expect("an L-BFGS fit reports its convergence");
            let at = format!("{} after max_iter={}", p.name, k + 1);
            assert_eq!(conv.iterations, want.iterations, "{at}: iterations");
            let got_loss = r.history.last().map_or(f64::NAN, |e| e.train_loss);
            assert!(
                (got_loss - want.loss).abs() <= 1e-5 * want.loss.abs().max(1.0),
                "{at}: loss {got_loss} vs torch {}",
                want.loss
            );
            for (i, (got, want)) in r.mlp.params().iter().zip(&want.params).enumerate() {
                assert!(
                    (got - want).abs() <= 1e-4 * want.abs().max(1.0),
                    "{at}: parameter {i} is {got}, torch {want}"
                );
            }
        }
        let last = spec(p, 1000);
        let mlp = Mlp::from_params(layers, p.params.clone()).unwrap();
        let r = fit(mlp, &last, &train, &Part::default(), 1, &mut Silent, None).unwrap();
        assert_eq!(r.stop, StopReason::Converged, "{}", p.name);
    }
}
