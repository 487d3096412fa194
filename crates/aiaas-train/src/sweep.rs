//! A sweep's search made concrete: the training options of each trial (every grid combination,
//! or a seeded random draw over the space), and how a trained model scores on the sweep's
//! metric.

use aiaas_stats::Metrics;
use aiaas_types::{Distribution, ParamValue, SweepMetric, SweepSpec, Task, TrainOptions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// Most trials one sweep may have.
pub const MAX_TRIALS: usize = 256;

/// The options of every trial, in order: `spec.base` with each point's values set. Refuses an
/// empty or oversized search, an option that does not exist or cannot be swept, a value of the
/// wrong type, and a distribution that cannot be drawn from.
pub fn trial_options(spec: &SweepSpec) -> Result<Vec<TrainOptions>, String> {
    let points = match (&spec.grid, &spec.random) {
        (Some(grid), None) => grid_points(grid)?,
        (None, Some(random)) => {
            let count = random.trials as usize;
            if count == 0 || count > MAX_TRIALS {
                return Err(format!(
                    "random.trials must be from 1 to {MAX_TRIALS}, got {count}"
                ));
            }
            if random.space.is_empty() {
                return Err("random.space names no option to draw".to_string());
            }
            let mut rng = ChaCha8Rng::seed_from_u64(random.seed.unwrap_or(0));
            (0..count)
                .map(|_| {
                    random
                        .space
                        .iter()
                        .map(|(key, dist)| Ok((key.clone(), draw(key, dist, &mut rng)?)))
                        .collect()
                })
                .collect::<Result<_, String>>()?
        }
        _ => return Err("a sweep needs exactly one of grid and random".to_string()),
    };
    points
        .into_iter()
        .map(|point| with_values(&spec.base, &point))
        .collect()
}

type Point = BTreeMap<String, ParamValue>;

/// Every combination of the grid's values, the last option varying fastest.
fn grid_points(grid: &BTreeMap<String, Vec<ParamValue>>) -> Result<Vec<Point>, String> {
    if grid.is_empty() {
        return Err("grid names no option to vary".to_string());
    }
    let mut total = 1usize;
    for (key, values) in grid {
        if values.is_empty() {
            return Err(format!("grid.{key} lists no value"));
        }
        total = total.saturating_mul(values.len());
    }
    if total > MAX_TRIALS {
        return Err(format!(
            "the grid has {total} combinations; a sweep runs at most {MAX_TRIALS} trials"
        ));
    }
    let mut points = vec![Point::new()];
    for (key, values) in grid {
        points = points
            .iter()
            .flat_map(|point| {
                values.iter().map(move |value| {
                    let mut next = point.clone();
                    next.insert(key.clone(), value.clone());
                    next
                })
            })
            .collect();
    }
    Ok(points)
}

fn draw(key: &str, dist: &Distribution, rng: &mut ChaCha8Rng) -> Result<ParamValue, String> {
    let bad = |why: &str| Err(format!("random.space.{key}: {why}"));
    Ok(match *dist {
        Distribution::Uniform([lo, hi]) => {
            if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
                return bad("uniform needs finite bounds [low, high] with low <= high");
            }
            ParamValue::Float(lo + (hi - lo) * rng.random::<f64>())
        }
        Distribution::LogUniform([lo, hi]) => {
            if !(lo.is_finite() && hi.is_finite() && 0.0 < lo && lo <= hi) {
                return bad("log_uniform needs bounds [low, high] with 0 < low <= high");
            }
            let (a, b) = (lo.ln(), hi.ln());
            ParamValue::Float((a + (b - a) * rng.random::<f64>()).exp())
        }
        Distribution::IntUniform([lo, hi]) => {
            if lo > hi {
                return bad("int_uniform needs bounds [low, high] with low <= high");
            }
            ParamValue::Int(rng.random_range(lo..=hi))
        }
        Distribution::Choice(ref values) => {
            if values.is_empty() {
                return bad("choice lists no value");
            }
            values[rng.random_range(0..values.len())].clone()
        }
    })
}

/// `base` with `point`'s values set, each checked against the option's type.
fn with_values(base: &TrainOptions, point: &Point) -> Result<TrainOptions, String> {
    let serde_json::Value::Object(mut options) =
        serde_json::to_value(base).expect("options serialize")
    else {
        unreachable!("options serialize as an object")
    };
    for (key, value) in point {
        if !options.contains_key(key) {
            let known: Vec<&str> = options.keys().map(String::as_str).collect();
            return Err(format!(
                "{key} is not a training option; a sweep varies {}",
                known.join(", ")
            ));
        }
        let value = serde_json::to_value(value).expect("a value serializes");
        let mut one = serde_json::Map::new();
        one.insert(key.clone(), value.clone());
        // Checked alone first, so that the error names the option and its value.
        serde_json::from_value::<TrainOptions>(serde_json::Value::Object(one))
            .map_err(|e| format!("{key} = {value}: {e}"))?;
        options.insert(key.clone(), value);
    }
    serde_json::from_value(serde_json::Value::Object(options)).map_err(|e| e.to_string())
}

/// The metric a sweep of `task` is compared by unless it names one: the headline figure.
pub fn default_metric(task: Task) -> SweepMetric {
    match task {
        Task::Regression => SweepMetric::R2,
        Task::Classification | Task::Other => SweepMetric::Accuracy,
    }
}

/// Whether `metric` exists for models of `task`.
pub fn metric_fits(metric: SweepMetric, task: Task) -> bool {
    let regression = matches!(
        metric,
        SweepMetric::R2 | SweepMetric::Rmse | SweepMetric::Mae
    );
    match task {
        Task::Classification => !regression,
        Task::Regression => regression,
        Task::Other => false,
    }
}

/// `metrics`' value of `metric`; `None` when they do not have it (a regression's accuracy, a
/// classifier's log loss left uncomputed).
pub fn score(metrics: &Metrics, metric: SweepMetric) -> Option<f64> {
    match (metrics, metric) {
        (Metrics::Classification(m), SweepMetric::Accuracy) => Some(m.accuracy),
        (Metrics::Classification(m), SweepMetric::F1Macro) => Some(m.f1_macro),
        (Metrics::Classification(m), SweepMetric::LogLoss) => m.log_loss,
        (Metrics::Regression(m), SweepMetric::R2) => Some(m.r2),
        (Metrics::Regression(m), SweepMetric::Rmse) => Some(m.rmse),
        (Metrics::Regression(m), SweepMetric::Mae) => Some(m.mae),
        _ => None,
    }
    .filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> SweepSpec {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_grid_is_every_combination_over_the_base_options() {
        let trials = trial_options(&spec(serde_json::json!({
            "dataset": "wine", "base": {"epochs": 7, "optimizer": "sgd"},
            "grid": {"lr": [0.1, 0.01], "hidden": [[32], [64], [32, 32]]}
        })))
        .unwrap();
        assert_eq!(trials.len(), 6);
        assert!(trials.iter().all(|t| t.epochs == Some(7)));
        let points: Vec<(Option<Vec<usize>>, Option<f32>)> =
            trials.iter().map(|t| (t.hidden.clone(), t.lr)).collect();
        assert_eq!(points[0], (Some(vec![32]), Some(0.1)));
        assert_eq!(points[1], (Some(vec![32]), Some(0.01)));
        assert_eq!(points[5], (Some(vec![32, 32]), Some(0.01)));
    }

    #[test]
    fn a_random_draw_is_seeded_and_stays_in_its_space() {
        let request = spec(serde_json::json!({
            "dataset": "wine", "random": {"trials": 20, "seed": 5, "space": {
                "lr": {"log_uniform": [0.0001, 0.1]}, "batch_size": {"int_uniform": [8, 64]},
                "weight_decay": {"uniform": [0.0, 0.5]}, "activation": {"choice": ["relu", "tanh"]}
            }}
        }));
        let trials = trial_options(&request).unwrap();
        assert_eq!(trials, trial_options(&request).unwrap());
        assert_eq!(trials.len(), 20);
        for t in &trials {
            let lr = t.lr.unwrap();
            assert!((0.0001..=0.1).contains(&lr), "{lr}");
            assert!((8..=64).contains(&t.batch_size.unwrap()));
            assert!((0.0..=0.5).contains(&t.weight_decay.unwrap()));
        }
        let distinct: std::collections::BTreeSet<u32> =
            trials.iter().map(|t| t.lr.unwrap().to_bits()).collect();
        assert_eq!(distinct.len(), 20);
    }

    #[test]
    fn a_bad_search_is_refused_with_what_to_change() {
        for (json, expected) in [
            (
                serde_json::json!({"dataset": "w"}),
                "exactly one of grid and random",
            ),
            (serde_json::json!({"dataset": "w", "grid": {}}), "no option"),
            (
                serde_json::json!({"dataset": "w", "grid": {"lr": []}}),
                "grid.lr lists no value",
            ),
            (
                serde_json::json!({"dataset": "w", "grid": {"speed": [1]}}),
                "speed is not a training option",
            ),
            (
                serde_json::json!({"dataset": "w", "grid": {"lr": ["fast"]}}),
                "lr = \"fast\"",
            ),
            (
                serde_json::json!({"dataset": "w", "grid": {"batch_size": [0.5]}}),
                "batch_size = 0.5",
            ),
            (
                serde_json::json!({"dataset": "w", "grid": {"lr": [1, 2, 3, 4, 5, 6, 7, 8, 9], "epochs": [1, 2, 3, 4, 5, 6, 7, 8, 9], "seed": [1, 2, 3, 4]}}),
                "324 combinations",
            ),
            (
                serde_json::json!({"dataset": "w", "random": {"trials": 0, "space": {"lr": {"uniform": [0, 1]}}}}),
                "from 1 to 256",
            ),
            (
                serde_json::json!({"dataset": "w", "random": {"trials": 2, "space": {"lr": {"log_uniform": [0, 1]}}}}),
                "random.space.lr: log_uniform",
            ),
        ] {
            let err = trial_options(&spec(json)).unwrap_err();
            assert!(err.contains(expected), "{err} lacks {expected}");
        }
    }

    #[test]
    fn metrics_belong_to_their_task() {
        assert_eq!(default_metric(Task::Regression), SweepMetric::R2);
        assert_eq!(default_metric(Task::Classification), SweepMetric::Accuracy);
        assert!(metric_fits(SweepMetric::LogLoss, Task::Classification));
        assert!(!metric_fits(SweepMetric::Rmse, Task::Classification));
        assert!(!metric_fits(SweepMetric::Accuracy, Task::Regression));
    }
}
