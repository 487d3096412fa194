//! Drift of a window of served inputs against the training profile in the bundle: each input
//! feature (PSI and KS for numbers, chi-square for categories, with the size-aware decision of
//! `aiaas_stats::drift`) and the predicted classes against the training labels. An imported
//! classifier, which has no training profile, is compared with its earliest logged rows instead,
//! on the summaries its rows keep (mean intensity, token count) and its predicted classes.

use crate::MonitorError;
use aiaas_artifact::Manifest;
use aiaas_data::{PROFILE_BINS, ProfileKind};
use aiaas_stats::{
    Binned, CategoricalProfile, FeatureDrift, Metrics, NumericProfile, categorical_drift,
    categorical_profile, correct_for_features, numeric_drift, numeric_profile, window_drifted,
};
use aiaas_types::{ModelName, PredictionRow, TargetSchema, TargetValue, Version};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

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
    /// The predicted classes beside the training labels, for a plot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predictions_overlay: Option<Overlay>,
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
    /// Its window beside its reference, for a plot (none for a reference without bins).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overlay: Option<Overlay>,
}

/// A feature's window counted on its reference's bins: what a plot draws over the reference.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Overlay {
    /// On the reference histogram's bins (`edges` has one more entry than the counts); window
    /// values below or above its range are counted apart.
    Numeric {
        edges: Vec<f64>,
        reference: Vec<u64>,
        production: Vec<u64>,
        below: u64,
        above: u64,
    },
    /// On the reference's categories, most frequent first; window values it never saw are
    /// counted apart.
    Categorical {
        categories: Vec<String>,
        reference: Vec<u64>,
        production: Vec<u64>,
        unseen: u64,
    },
}

impl Overlay {
    /// `values` on `reference`'s histogram; none when it has no bins.
    fn numeric(reference: &NumericProfile, values: &[f64]) -> Option<Overlay> {
        let histogram = &reference.histogram;
        if histogram.counts.is_empty() {
            return None;
        }
        let Binned {
            counts,
            below,
            above,
        } = histogram.count(values);
        Some(Overlay::Numeric {
            edges: histogram.edges.clone(),
            reference: histogram.counts.clone(),
            production: counts,
            below,
            above,
        })
    }

    /// `values` on `reference`'s categories.
    fn categorical(reference: &CategoricalProfile, values: &[&str]) -> Overlay {
        let index: HashMap<&str, usize> = (reference.frequencies.iter().enumerate())
            .map(|(i, (c, _))| (c.as_str(), i))
            .collect();
        let mut production = vec![0; index.len()];
        let mut unseen = 0;
        for v in values {
            match index.get(v) {
                Some(&i) => production[i] += 1,
                None => unseen += 1,
            }
        }
        Overlay::Categorical {
            categories: reference
                .frequencies
                .iter()
                .map(|(c, _)| c.clone())
                .collect(),
            reference: reference.frequencies.iter().map(|(_, n)| *n).collect(),
            production,
            unseen,
        }
    }
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
    let features: Vec<FeatureDriftReport> = schema
        .features
        .iter()
        .enumerate()
        .filter_map(|(f, feature)| {
            let profile = manifest.profile.iter().find(|p| p.name == feature.name)?;
            let (drift, overlay) = match &profile.kind {
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
                    (
                        numeric_drift(reference, &values),
                        Overlay::numeric(reference, &values),
                    )
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
                    (
                        categorical_drift(reference, &values),
                        Some(Overlay::categorical(reference, &values)),
                    )
                }
            };
            Some(FeatureDriftReport {
                name: feature.name.clone(),
                drift,
                overlay,
            })
        })
        .collect();
    let predictions = predicted_class_drift(manifest, rows);
    Ok(report(model, version, rows.len(), features, predictions))
}

/// Drift of an imported classifier's logged `rows` against `reference`, its earliest logged
/// rows (it has no training profile): each summary its rows keep in place of their tensors
/// (`names`, in logged order: mean intensity, token count, ...) and the predicted classes.
pub fn reference_drift_report(
    model: &ModelName,
    version: Version,
    names: &[String],
    reference: &[PredictionRow],
    rows: &[PredictionRow],
) -> Result<DriftReport, MonitorError> {
    if reference.is_empty() || rows.is_empty() {
        return Err(MonitorError::Empty(format!(
            "{} logged predictions of {model} version {version} in the reference and {} after \
             it: an imported model's drift compares a window with its first logged predictions, \
             so it needs both",
            reference.len(),
            rows.len()
        )));
    }
    let finite = |rows: &[PredictionRow], f: usize| -> Vec<f64> {
        (rows.iter().filter_map(|r| r.inputs.get(f)))
            .filter(|v| v.is_finite())
            .map(|&v| f64::from(v))
            .collect()
    };
    let features = (names.iter().enumerate())
        .filter_map(|(f, name)| {
            let (before, now) = (finite(reference, f), finite(rows, f));
            if before.is_empty() || now.is_empty() {
                return None;
            }
            let profile = numeric_profile(&before, PROFILE_BINS);
            Some(FeatureDriftReport {
                name: name.clone(),
                drift: numeric_drift(&profile, &now),
                overlay: Overlay::numeric(&profile, &now),
            })
        })
        .collect();
    let before = categorical_profile(reference.iter().filter_map(class_of));
    let now: Vec<&str> = rows.iter().filter_map(class_of).collect();
    let predictions = Some(class_drift(&before, &now));
    Ok(report(model, version, rows.len(), features, predictions))
}

/// The predicted class of a row, if it is a classifier's.
fn class_of(row: &PredictionRow) -> Option<&str> {
    match &row.predicted {
        TargetValue::Class(c) => Some(c.as_str()),
        TargetValue::Value(_) => None,
    }
}

/// The report of a window of `rows` rows from its features' drift (corrected for their number
/// here) and its predictions'.
fn report(
    model: &ModelName,
    version: Version,
    rows: usize,
    mut features: Vec<FeatureDriftReport>,
    predictions: Option<(FeatureDrift, Overlay)>,
) -> DriftReport {
    let (predictions, predictions_overlay) = predictions.unzip();
    let mut drifts: Vec<FeatureDrift> = features.iter().map(|f| f.drift.clone()).collect();
    correct_for_features(&mut drifts);
    for (f, d) in features.iter_mut().zip(&drifts) {
        f.drift.drifted = d.drifted;
    }
    DriftReport {
        model: model.clone(),
        version,
        rows,
        drifted_features: drifts.iter().filter(|d| d.decided() && d.drifted).count(),
        decided_features: drifts.iter().filter(|d| d.decided()).count(),
        drifted: window_drifted(&drifts),
        features,
        predictions,
        predictions_overlay,
    }
}

/// The predicted classes of `rows` against the class distribution of the training rows (the
/// per-class support of the training metrics).
fn predicted_class_drift(
    manifest: &Manifest,
    rows: &[PredictionRow],
) -> Option<(FeatureDrift, Overlay)> {
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
    let predicted: Vec<&str> = rows.iter().filter_map(class_of).collect();
    Some(class_drift(&reference, &predicted))
}

/// The drift of predicted `classes` against `reference`'s, and both for a plot.
fn class_drift(reference: &CategoricalProfile, classes: &[&str]) -> (FeatureDrift, Overlay) {
    (
        categorical_drift(reference, classes),
        Overlay::categorical(reference, classes),
    )
}
