//! Evaluation of a trained model on rows with known targets: predictions decoded by the engine's
//! output head, metrics computed by `aiaas-stats` (the same functions monitoring uses).

use aiaas_engine::{Predict, Predictions, decode};
use aiaas_stats::{
    Metrics, classification_metrics, majority_baseline_accuracy, mean_baseline, regression_metrics,
};
use aiaas_types::{Schema, TargetSchema};

/// Decoded predictions of `model` (an f32 or int8 network) for `rows` scaled input rows.
pub fn predict(
    model: &(impl Predict + ?Sized),
    target: &TargetSchema,
    x: &[f32],
    rows: usize,
    threads: usize,
) -> Predictions {
    decode(target, &model.predict(x, rows, threads), model.outputs())
}

/// Metrics of `predictions` against `truth` (class indices, or values in target units).
pub fn metrics(schema: &Schema, predictions: &Predictions, truth: &[f32]) -> Metrics {
    match predictions {
        Predictions::Classes {
            probabilities,
            predicted,
            ..
        } => {
            let truth: Vec<usize> = truth.iter().map(|&y| y as usize).collect();
            Metrics::Classification(classification_metrics(
                &truth,
                predicted,
                Some(probabilities),
                schema.num_classes(),
            ))
        }
        Predictions::Values(values) => {
            let truth: Vec<f64> = truth.iter().map(|&y| y as f64).collect();
            Metrics::Regression(regression_metrics(&truth, values))
        }
    }
}

/// Predict and score in one call.
pub fn evaluate(
    model: &(impl Predict + ?Sized),
    schema: &Schema,
    x: &[f32],
    truth: &[f32],
    threads: usize,
) -> Metrics {
    let predictions = predict(model, &schema.target, x, truth.len(), threads);
    metrics(schema, &predictions, truth)
}

/// What a model that ignores its inputs scores on `truth`: always the majority class (accuracy
/// only), or always the mean.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Baseline {
    Majority { accuracy: f64 },
    Mean(aiaas_stats::RegressionMetrics),
}

impl Baseline {
    pub fn of(schema: &Schema, truth: &[f32]) -> Baseline {
        match &schema.target {
            TargetSchema::Classification { .. } => {
                let truth: Vec<usize> = truth.iter().map(|&y| y as usize).collect();
                Baseline::Majority {
                    accuracy: majority_baseline_accuracy(&truth, schema.num_classes()),
                }
            }
            TargetSchema::Regression { .. } => {
                let truth: Vec<f64> = truth.iter().map(|&y| y as f64).collect();
                Baseline::Mean(mean_baseline(&truth))
            }
        }
    }

    /// Accuracy, or R² (0 for the mean).
    pub fn headline(&self) -> f64 {
        match self {
            Baseline::Majority { accuracy } => *accuracy,
            Baseline::Mean(m) => m.r2,
        }
    }
}
