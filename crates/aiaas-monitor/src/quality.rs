//! Realised quality over a window of labelled predictions: the training report's metric
//! functions on the rows feedback labelled, label coverage, the classes recognised worst, and the
//! gap to the training-time test figure.

use crate::MonitorError;
use aiaas_stats::{Metrics, classification_metrics, regression_metrics};
use aiaas_types::{ModelName, PredictionRow, TargetSchema, TargetValue, Version};
use serde::{Deserialize, Serialize};

/// Realised quality of one version over a window of labelled predictions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QualityReport {
    pub model: ModelName,
    pub version: Version,
    /// Predictions logged in the window, and how many of them have a label.
    pub logged: usize,
    pub labelled: usize,
    /// `labelled / logged`.
    pub label_coverage: f64,
    /// Over the labelled predictions: accuracy, precision, recall and F1 per class, macro and
    /// weighted, the confusion matrix; or MAE, RMSE, R² for regression.
    pub metrics: Metrics,
    /// Class labels, in the order of the per-class metrics and the confusion matrix.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    pub diagnosis: QualityDiagnosis,
    /// The headline figure (accuracy, or R²) over consecutive stretches of the labelled
    /// predictions, oldest first, each of as many rows: how quality moved in the window (empty
    /// with too few labels for two stretches).
    pub over_time: Vec<QualityPoint>,
}

/// The headline figure over one stretch of labelled predictions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QualityPoint {
    /// When its first and last predictions were made (ms since the Unix epoch).
    pub from_ms: i64,
    pub to_ms: i64,
    pub labelled: usize,
    /// Accuracy, or R².
    pub value: f64,
}

/// At most this many stretches in [`QualityReport::over_time`]...
const STRETCHES: usize = 10;
/// ...of at least this many labelled predictions each.
const STRETCH_ROWS: usize = 20;

/// Where the model fails in production, and how far production is from training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QualityDiagnosis {
    /// Classes whose recall falls below the macro recall, worst first.
    pub weak_classes: Vec<ClassGap>,
    /// The headline figure (accuracy, or R²) on the training-time test split.
    pub training: Option<f64>,
    /// The same figure in the window.
    pub production: f64,
    /// `production - training` (negative: worse in production).
    pub gap: Option<f64>,
    /// One sentence.
    pub summary: String,
}

/// A class the model recognises worse than it does on average.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassGap {
    pub class: String,
    pub recall: f64,
    /// Labelled predictions of this class in the window.
    pub support: u64,
    /// `recall - macro recall`.
    pub gap: f64,
}

impl QualityReport {
    /// The headline figures by name: `accuracy`, `f1_macro`, `precision_macro`,
    /// `recall_macro`; or `mae`, `rmse`, `r2`.
    pub fn figures(&self) -> Vec<(&'static str, f64)> {
        match &self.metrics {
            Metrics::Classification(c) => vec![
                ("accuracy", c.accuracy),
                ("f1_macro", c.f1_macro),
                ("precision_macro", c.precision_macro),
                ("recall_macro", c.recall_macro),
            ],
            Metrics::Regression(r) => vec![("mae", r.mae), ("rmse", r.rmse), ("r2", r.r2)],
        }
    }
}

/// Quality of `version`, a model of `target`, over the labelled ones of its logged `rows`;
/// `training` is its headline figure on the test split when it was trained here.
pub fn quality_report(
    model: &ModelName,
    version: Version,
    target: &TargetSchema,
    training: Option<f64>,
    rows: &[PredictionRow],
) -> Result<QualityReport, MonitorError> {
    let labelled: Vec<&PredictionRow> = rows.iter().filter(|r| r.label.is_some()).collect();
    if labelled.is_empty() {
        return Err(MonitorError::Empty(format!(
            "no labelled predictions of {model} version {version} in this window ({} \
             logged); send labels with POST /api/v1/models/{model}/feedback",
            rows.len()
        )));
    }
    let (metrics, labels) = quality_metrics(target, &labelled);
    let diagnosis = diagnose(&metrics, &labels, training);
    let over_time = over_time(target, labelled.clone());
    Ok(QualityReport {
        model: model.clone(),
        version,
        logged: rows.len(),
        labelled: labelled.len(),
        label_coverage: labelled.len() as f64 / rows.len() as f64,
        metrics,
        labels,
        diagnosis,
        over_time,
    })
}

/// The headline figure over consecutive stretches of `labelled`, by time.
fn over_time(target: &TargetSchema, mut labelled: Vec<&PredictionRow>) -> Vec<QualityPoint> {
    let stretches = (labelled.len() / STRETCH_ROWS).min(STRETCHES);
    if stretches < 2 {
        return Vec::new();
    }
    labelled.sort_by_key(|r| r.at_ms);
    let n = labelled.len();
    (0..stretches)
        .map(|i| {
            let stretch = &labelled[i * n / stretches..(i + 1) * n / stretches];
            QualityPoint {
                from_ms: stretch[0].at_ms,
                to_ms: stretch[stretch.len() - 1].at_ms,
                labelled: stretch.len(),
                value: quality_metrics(target, stretch).0.headline(),
            }
        })
        .collect()
}

/// Metrics of labelled rows, with the class labels for classification. A row whose label or
/// prediction is not a class of this version (labelled against another version) is left out.
fn quality_metrics(target: &TargetSchema, rows: &[&PredictionRow]) -> (Metrics, Vec<String>) {
    match target {
        TargetSchema::Classification { labels, .. } => {
            let index = |t: &TargetValue| match t {
                TargetValue::Class(c) => labels.iter().position(|l| l == c),
                TargetValue::Value(_) => None,
            };
            let (truth, predicted): (Vec<usize>, Vec<usize>) = rows
                .iter()
                .filter_map(|r| Some((index(r.label.as_ref()?)?, index(&r.predicted)?)))
                .unzip();
            let m = classification_metrics(&truth, &predicted, None, labels.len());
            (Metrics::Classification(m), labels.clone())
        }
        TargetSchema::Regression { .. } => {
            let value = |t: &TargetValue| match t {
                TargetValue::Value(v) => Some(*v),
                TargetValue::Class(_) => None,
            };
            let (truth, predicted): (Vec<f64>, Vec<f64>) = rows
                .iter()
                .filter_map(|r| Some((value(r.label.as_ref()?)?, value(&r.predicted)?)))
                .unzip();
            (
                Metrics::Regression(regression_metrics(&truth, &predicted)),
                Vec::new(),
            )
        }
    }
}

fn diagnose(metrics: &Metrics, labels: &[String], training: Option<f64>) -> QualityDiagnosis {
    let production = metrics.headline();
    let gap = training.map(|t| production - t);
    let mut weak_classes = Vec::new();
    if let Metrics::Classification(c) = metrics {
        let macro_recall = c.recall_macro;
        weak_classes = c
            .per_class
            .iter()
            .zip(labels)
            .filter(|(m, _)| m.support > 0 && m.recall < macro_recall)
            .map(|(m, label)| ClassGap {
                class: label.clone(),
                recall: m.recall,
                support: m.support,
                gap: m.recall - macro_recall,
            })
            .collect();
        weak_classes.sort_by(|a, b| a.recall.total_cmp(&b.recall));
    }
    let figure = match metrics {
        Metrics::Classification(_) => "accuracy",
        Metrics::Regression(_) => "R²",
    };
    let mut summary = match (training, gap) {
        (Some(t), Some(g)) => {
            format!("{figure} {production:.4} in production against {t:.4} at training ({g:+.4})")
        }
        _ => format!("{figure} {production:.4} in production"),
    };
    if let Some(worst) = weak_classes.first() {
        summary.push_str(&format!(
            "; weakest class {} (recall {:.4}, {} labelled)",
            worst.class, worst.recall, worst.support
        ));
    }
    QualityDiagnosis {
        weak_classes,
        training,
        production,
        gap,
        summary,
    }
}
