//! A one-line verdict on a trained model: does it over-fit, under-fit, and which class does it
//! fail most.

use crate::evaluate::Baseline;
use aiaas_stats::Metrics;
use serde::{Deserialize, Serialize};

/// Train headline (accuracy or R²) above held-out by more than this means over-fitting...
const OVERFIT_GAP: f64 = 0.05;
/// ...and, for accuracy, by more than this many standard errors of the held-out accuracy, so
/// that a handful of validation rows cannot raise the alarm alone.
const OVERFIT_STANDARD_ERRORS: f64 = 2.0;
/// Test headline within this of the baseline means under-fitting.
const UNDERFIT_MARGIN: f64 = 0.02;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub overfitting: bool,
    pub underfitting: bool,
    /// The class with the lowest test recall: `(label, recall)`.
    pub worst_class: Option<(String, f64)>,
    /// Human-readable summary of the above.
    pub summary: String,
}

/// Judge a model from its train metrics, its held-out metrics (validation, else test) and the
/// baseline on the test split; `labels` name the classes.
pub fn diagnose(
    train: &Metrics,
    held_out: &Metrics,
    test: &Metrics,
    baseline: &Baseline,
    labels: &[String],
) -> Diagnosis {
    let (what, train_h, held_h) = match (train, held_out) {
        (Metrics::Regression(_), _) => ("R2", train.headline(), held_out.headline()),
        _ => ("accuracy", train.headline(), held_out.headline()),
    };
    // R² gaps are larger than accuracy gaps for the same degree of over-fitting.
    let gap = if what == "R2" {
        2.0 * OVERFIT_GAP
    } else {
        OVERFIT_GAP
    };
    let threshold = match held_out {
        Metrics::Classification(m) if m.count > 0 => {
            let se = (held_h * (1.0 - held_h) / m.count as f64).sqrt();
            OVERFIT_GAP.max(OVERFIT_STANDARD_ERRORS * se)
        }
        _ => gap,
    };
    let overfitting = train_h - held_h > threshold;
    let underfitting = test.headline() <= baseline.headline() + UNDERFIT_MARGIN;
    let worst_class = match test {
        Metrics::Classification(m) => m.worst_class_by_recall().map(|c| {
            let label = labels.get(c).cloned().unwrap_or_else(|| c.to_string());
            (label, m.per_class[c].recall)
        }),
        Metrics::Regression(_) => None,
    };
    let mut parts = Vec::new();
    if overfitting {
        parts.push(format!(
            "over-fitting: train {what} {train_h:.3} vs held-out {held_h:.3}; try more weight decay, a smaller model or fewer epochs"
        ));
    }
    if underfitting {
        parts.push(format!(
            "under-fitting: test {what} {:.3} is no better than the baseline's {:.3}; try a larger model, a higher learning rate or more epochs",
            test.headline(),
            baseline.headline()
        ));
    }
    if !overfitting && !underfitting {
        parts.push(format!(
            "fits well: train {what} {train_h:.3}, held-out {held_h:.3}"
        ));
    }
    if let Some((label, recall)) = &worst_class {
        parts.push(format!("worst class by recall: {label} ({recall:.3})"));
    }
    Diagnosis {
        overfitting,
        underfitting,
        worst_class,
        summary: parts.join("; "),
    }
}
