//! Monitoring as the service layer offers it: the prediction log's writes and retention,
//! feedback (labels by id) for logged predictions, and the realised quality of a model over a
//! window of labelled predictions, computed with the same metric functions as training.

use crate::update_loop::now_ms;
use crate::{Platform, ServiceError, default_version};
use aiaas_artifact::Manifest;
use aiaas_data::ProfileKind;
use aiaas_stats::{
    CategoricalProfile, FeatureDrift, Metrics, categorical_drift, classification_metrics,
    correct_for_features, numeric_drift, regression_metrics, window_drifted,
};
use aiaas_store::{Labelled, PredictionRow, Window};
use aiaas_types::{ModelName, NewPrediction, Resource, TargetSchema, TargetValue, Version};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most labels one feedback call may carry.
pub const MAX_FEEDBACK: usize = 100_000;
/// Unknown ids listed in a feedback answer at most (all are counted).
const MAX_UNKNOWN_LISTED: usize = 100;

/// One label for a logged prediction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feedback {
    /// The prediction's id (the inference response's `id`; `<id>/<row>` for a row of a
    /// request of several rows).
    pub id: String,
    /// The true class label, or the true value for regression.
    pub label: Value,
}

/// What a feedback call did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeedbackOutcome {
    /// Labels stored.
    pub matched: u64,
    /// Labels whose id has no logged prediction (never logged, not sampled, or pruned).
    pub unknown: u64,
    /// The first unknown ids.
    pub unknown_ids: Vec<String>,
}

/// Which logged predictions a quality or drift report covers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowSpec {
    /// The version (default: the champion, else the newest).
    pub version: Option<Version>,
    /// Only predictions from this time on (ms since the Unix epoch).
    pub since: Option<i64>,
    /// Only the most recent this many.
    pub last: Option<usize>,
}

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
}

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

/// Drift of one version's served inputs (and predictions) against its training profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    pub model: ModelName,
    pub version: Version,
    /// Predictions in the window.
    pub rows: usize,
    /// One entry per input feature, in schema order.
    pub features: Vec<FeatureDriftReport>,
    /// The predicted class distribution against the training labels' (classification).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predictions: Option<FeatureDrift>,
    /// Features that drifted, of those with a decision.
    pub drifted_features: usize,
    pub decided_features: usize,
    /// At least half of the decided features drifted.
    pub drifted: bool,
}

/// One feature's drift.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureDriftReport {
    pub name: String,
    #[serde(flatten)]
    pub drift: FeatureDrift,
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

impl Platform {
    /// Logs predicted rows (the serving runtime's log writer calls this, in batches).
    pub async fn record_predictions(&self, rows: &[NewPrediction]) -> Result<(), ServiceError> {
        Ok(self.store().insert_predictions(rows).await?)
    }

    /// Retention of the prediction log: rows older than the configured days go, then all but
    /// the configured number of newest rows of each model.
    pub(crate) async fn apply_retention(&self) -> Result<u64, ServiceError> {
        let config = self.config();
        let age_ms = i64::try_from(config.prediction_retention_days.saturating_mul(86_400_000))
            .unwrap_or(i64::MAX);
        let cutoff = now_ms().saturating_sub(age_ms);
        Ok(self
            .store()
            .prune_predictions(cutoff, config.prediction_keep)
            .await?)
    }

    /// Stores labels for logged predictions of `model`. Every label is checked against the
    /// model's target first (a known class label, or a finite number), so a bad one refuses the
    /// whole call; ids without a logged prediction are counted and listed, not an error.
    pub async fn feedback(
        &self,
        model: &ModelName,
        items: Vec<Feedback>,
    ) -> Result<FeedbackOutcome, ServiceError> {
        if items.is_empty() {
            return Err(ServiceError::Invalid(
                "no labels: send [{\"id\": ..., \"label\": ...}, ...]".into(),
            ));
        }
        if items.len() > MAX_FEEDBACK {
            return Err(ServiceError::TooLarge(format!(
                "{} labels in one call; send at most {MAX_FEEDBACK} at a time",
                items.len()
            )));
        }
        let record = self.model(model).await?;
        let version = default_version(&record).ok_or_else(|| {
            ServiceError::NotFound(
                Resource::Version,
                format!("model \"{model}\" has no versions"),
            )
        })?;
        let manifest = self.manifest(model, version).await?;
        let labels = items
            .into_iter()
            .map(|f| Ok((f.id.clone(), target_of(&manifest.schema.target, &f)?)))
            .collect::<Result<Vec<_>, ServiceError>>()?;
        let Labelled { matched, unknown } = self.store().label_predictions(model, &labels).await?;
        Ok(FeedbackOutcome {
            matched,
            unknown: unknown.len() as u64,
            unknown_ids: unknown.into_iter().take(MAX_UNKNOWN_LISTED).collect(),
        })
    }

    /// Quality of a version of `model` over the labelled predictions in `window`.
    pub async fn quality(
        &self,
        model: &ModelName,
        window: &WindowSpec,
    ) -> Result<QualityReport, ServiceError> {
        let (version, manifest, rows) = self.window_rows(model, window).await?;
        quality_report(model, version, &manifest, &rows)
    }

    /// Drift of a version of `model` over the predictions in `window`: each input feature
    /// against the training profile in its bundle (PSI and KS for numbers, chi-square for
    /// categories; p-values on small windows, PSI on large ones), and the predicted classes
    /// against the training labels.
    pub async fn drift(
        &self,
        model: &ModelName,
        window: &WindowSpec,
    ) -> Result<DriftReport, ServiceError> {
        let (version, manifest, rows) = self.window_rows(model, window).await?;
        drift_report(model, version, &manifest, &rows)
    }

    /// The version a window is about, its manifest, and its logged rows, oldest first.
    pub(crate) async fn window_rows(
        &self,
        model: &ModelName,
        window: &WindowSpec,
    ) -> Result<(Version, Manifest, Vec<PredictionRow>), ServiceError> {
        let (version, manifest) = self.window_version(model, window).await?;
        let store_window = Window {
            version: Some(version),
            since_ms: window.since,
            last: window.last,
            labelled: false,
        };
        let rows = self.store().predictions(model, &store_window).await?;
        Ok((version, manifest, rows))
    }

    /// The version a window is about, and its manifest.
    pub(crate) async fn window_version(
        &self,
        model: &ModelName,
        window: &WindowSpec,
    ) -> Result<(Version, Manifest), ServiceError> {
        let version = match window.version {
            Some(v) => v,
            None => default_version(&self.model(model).await?).ok_or_else(|| {
                ServiceError::NotFound(
                    Resource::Version,
                    format!("model \"{model}\" has no versions"),
                )
            })?,
        };
        Ok((version, self.manifest(model, version).await?))
    }

    /// The manifest of a version, as registered.
    async fn manifest(
        &self,
        model: &ModelName,
        version: Version,
    ) -> Result<Manifest, ServiceError> {
        let record = self.version(model, &version.to_string()).await?;
        serde_json::from_value(record.manifest)
            .map_err(|e| ServiceError::Corrupt(format!("{model} version {version}: manifest: {e}")))
    }
}

/// Quality of `version` over the labelled ones of its logged `rows`.
pub(crate) fn quality_report(
    model: &ModelName,
    version: Version,
    manifest: &Manifest,
    rows: &[PredictionRow],
) -> Result<QualityReport, ServiceError> {
    let labelled: Vec<&PredictionRow> = rows.iter().filter(|r| r.label.is_some()).collect();
    if labelled.is_empty() {
        return Err(ServiceError::Invalid(format!(
            "no labelled predictions of {model} version {version} in this window ({} \
             logged); send labels with POST /api/v1/models/{model}/feedback",
            rows.len()
        )));
    }
    let (metrics, labels) = quality_metrics(&manifest.schema.target, &labelled);
    let training = manifest.lineage.metrics.get("test").map(Metrics::headline);
    let diagnosis = diagnose(&metrics, &labels, training);
    Ok(QualityReport {
        model: model.clone(),
        version,
        logged: rows.len(),
        labelled: labelled.len(),
        label_coverage: labelled.len() as f64 / rows.len() as f64,
        metrics,
        labels,
        diagnosis,
    })
}

/// Drift of `version`'s logged `rows` against its training profile.
pub(crate) fn drift_report(
    model: &ModelName,
    version: Version,
    manifest: &Manifest,
    rows: &[PredictionRow],
) -> Result<DriftReport, ServiceError> {
    if manifest.profile.is_empty() {
        return Err(ServiceError::Invalid(format!(
            "{model} version {version} has no training profile to compare with (its bundle \
             was made without one); retrain it to get one"
        )));
    }
    if rows.is_empty() {
        return Err(ServiceError::Invalid(format!(
            "no logged predictions of {model} version {version} in this window"
        )));
    }
    let schema = &manifest.schema;
    let mut category = 0;
    let mut features: Vec<FeatureDriftReport> = schema
        .features
        .iter()
        .enumerate()
        .filter_map(|(f, feature)| {
            let profile = manifest.profile.iter().find(|p| p.name == feature.name)?;
            let drift = match &profile.kind {
                ProfileKind::Numeric(reference) => {
                    let values: Vec<f64> = rows
                        .iter()
                        .filter_map(|r| r.inputs.get(f))
                        .map(|&v| f64::from(v))
                        .collect();
                    numeric_drift(reference, &values)
                }
                ProfileKind::Categorical(reference) => {
                    let c = category;
                    category += 1;
                    let values: Vec<&str> = rows
                        .iter()
                        .filter_map(|r| r.categories.as_ref()?.get(c).map(String::as_str))
                        .collect();
                    categorical_drift(reference, &values)
                }
            };
            Some(FeatureDriftReport {
                name: feature.name.clone(),
                drift,
            })
        })
        .collect();
    let mut drifts: Vec<FeatureDrift> = features.iter().map(|f| f.drift.clone()).collect();
    correct_for_features(&mut drifts);
    for (f, d) in features.iter_mut().zip(&drifts) {
        f.drift.drifted = d.drifted;
    }
    let predictions = predicted_class_drift(manifest, rows);
    Ok(DriftReport {
        model: model.clone(),
        version,
        rows: rows.len(),
        drifted_features: drifts.iter().filter(|d| d.decided() && d.drifted).count(),
        decided_features: drifts.iter().filter(|d| d.decided()).count(),
        drifted: window_drifted(&drifts),
        features,
        predictions,
    })
}

/// The predicted classes of `rows` against the class distribution of the training rows (the
/// per-class support of the training metrics).
fn predicted_class_drift(manifest: &Manifest, rows: &[PredictionRow]) -> Option<FeatureDrift> {
    let TargetSchema::Classification { labels, .. } = &manifest.schema.target else {
        return None;
    };
    let Some(Metrics::Classification(train)) = manifest.lineage.metrics.get("train") else {
        return None;
    };
    let frequencies: Vec<(String, u64)> = labels
        .iter()
        .zip(&train.per_class)
        .map(|(l, m)| (l.clone(), m.support))
        .collect();
    let reference = CategoricalProfile {
        count: frequencies.iter().map(|(_, n)| n).sum(),
        frequencies,
    };
    let predicted: Vec<&str> = rows
        .iter()
        .filter_map(|r| match &r.predicted {
            TargetValue::Class(c) => Some(c.as_str()),
            TargetValue::Value(_) => None,
        })
        .collect();
    Some(categorical_drift(&reference, &predicted))
}

/// The label of `f` as the model's target: a known class (a JSON string, or a number that
/// names a class such as `3` for label "3"), or a finite number for regression.
fn target_of(target: &TargetSchema, f: &Feedback) -> Result<TargetValue, ServiceError> {
    let bad = |why: String| ServiceError::Invalid(format!("label of id {:?}: {why}", f.id));
    match target {
        TargetSchema::Classification { labels, .. } => {
            let text = match &f.label {
                Value::String(s) => s.clone(),
                // A whole number names a class the way the CSV did: 3.0 is class "3".
                Value::Number(n) => match n.as_f64() {
                    Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{}", v as i64),
                    _ => n.to_string(),
                },
                Value::Bool(b) => b.to_string(),
                other => return Err(bad(format!("{other} is not a class label"))),
            };
            if labels.contains(&text) {
                Ok(TargetValue::Class(text))
            } else {
                Err(bad(format!(
                    "{text:?} is not one of the model's classes ({})",
                    labels.join(", ")
                )))
            }
        }
        TargetSchema::Regression { .. } => match f
            .label
            .as_f64()
            .or_else(|| f.label.as_str().and_then(|s| s.trim().parse().ok()))
        {
            Some(v) if v.is_finite() => Ok(TargetValue::Value(v)),
            _ => Err(bad(format!(
                "{} is not a number; this model predicts values",
                f.label
            ))),
        },
    }
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
