//! Drift of a window of served inputs against the training profile in the bundle: each input
//! feature (PSI and KS for numbers, chi-square for categories, with the size-aware decision of
//! `aiaas_stats::drift`) and the predicted classes against the training labels.

use crate::MonitorError;
use aiaas_artifact::Manifest;
use aiaas_data::ProfileKind;
use aiaas_stats::{
    CategoricalProfile, FeatureDrift, Metrics, categorical_drift, correct_for_features,
    numeric_drift, window_drifted,
};
use aiaas_types::{ModelName, PredictionRow, TargetSchema, TargetValue, Version};
use serde::{Deserialize, Serialize};

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

/// Drift of `version`'s logged `rows` against its training profile.
pub fn drift_report(
    model: &ModelName,
    version: Version,
    manifest: &Manifest,
    rows: &[PredictionRow],
) -> Result<DriftReport, MonitorError> {
    if manifest.profile.is_empty() {
        return Err(MonitorError::Unusable(format!(
            "{model} version {version} has no training profile to compare with (its bundle \
             was made without one); retrain it to get one"
        )));
    }
    if rows.is_empty() {
        return Err(MonitorError::Empty(format!(
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
                    // A value a logging policy left out is missing (NaN), or the whole row's.
                    let values: Vec<f64> = rows
                        .iter()
                        .filter_map(|r| r.inputs.get(f))
                        .filter(|v| !v.is_nan())
                        .map(|&v| f64::from(v))
                        .collect();
                    if values.is_empty() {
                        return None;
                    }
                    numeric_drift(reference, &values)
                }
                ProfileKind::Categorical(reference) => {
                    let c = category;
                    category += 1;
                    let values: Vec<&str> = rows
                        .iter()
                        .filter_map(|r| r.categories.as_ref()?.get(c).map(String::as_str))
                        .filter(|v| !v.is_empty())
                        .collect();
                    if values.is_empty() {
                        return None;
                    }
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
