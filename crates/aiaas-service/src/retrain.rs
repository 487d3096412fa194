//! The update loop's retrain: the champion's training data plus the labelled production rows,
//! the champion's hyperparameters, and a fair comparison of challenger and champion on the same
//! holdout (the original test split, and a held-out part of the recent labelled rows).

use crate::{Ending, ServiceError};
use aiaas_artifact::{Bundle, DatasetRef};
use aiaas_data::{Dataset, Target, encode, split};
use aiaas_engine::Network;
use aiaas_monitor::{RetrainReport, Scores, held_out, promotes};
use aiaas_stats::Metrics;
use aiaas_train::{Observer, StopReason, Trained, evaluate};
use aiaas_types::{PredictionRow, Schema, SplitSpec, TargetValue, TrainSpec};
use std::collections::BTreeMap;

/// Production rows are repeated in training until they count at least this many times as much
/// as the original training rows: after a change in the world (a relabelled class), the recent
/// truth has to outweigh the past one for the challenger to learn it.
const RECENT_WEIGHT: usize = 2;
/// But no row is repeated more than this: a handful of labels must not drown the training data.
const MAX_REPEAT: usize = 20;

/// The challenger and how it compares.
pub(crate) struct Retrained {
    pub bundle: Bundle,
    pub report: RetrainReport,
}

/// Retrains `champion` (named `champion_ref`, trained on `ds`) on its training rows plus the
/// `labelled` production rows, and compares the two on the same holdout.
#[allow(clippy::too_many_arguments)]
pub(crate) fn retrain(
    champion: &Bundle,
    champion_ref: &str,
    ds: &Dataset,
    labelled: &[PredictionRow],
    margin: f64,
    job: &str,
    threads: usize,
    observer: &mut dyn Observer,
) -> Result<Ending<Retrained>, ServiceError> {
    let lineage = &champion.manifest.lineage;
    if ds.digest != lineage.dataset.digest {
        return Err(invalid(format!(
            "the dataset {} changed since {champion_ref} was trained on it",
            ds.name
        )));
    }
    let parts = split(ds, &lineage.split).map_err(|e| invalid(e.to_string()))?;
    let recent = Recent::of(ds, labelled);
    if recent.train_y.is_empty() {
        return Err(invalid(format!(
            "no labelled production rows to retrain with; send labels with POST \
             /api/v1/models/{}/feedback",
            champion.manifest.name
        )));
    }
    let original: Vec<usize> = parts.train.iter().chain(&parts.val).copied().collect();
    let weight = (RECENT_WEIGHT * original.len())
        .div_ceil(recent.train_y.len())
        .clamp(1, MAX_REPEAT);
    let combined = ds.with_rows(
        &original,
        &recent.train_x.repeat(weight),
        &recent.train_y.repeat(weight),
    );
    let trained =
        match train_challenger(&combined, &lineage.spec, &lineage.split, threads, observer)? {
            Ending::Done(trained) => trained,
            Ending::Cancelled => return Ok(Ending::Cancelled),
            Ending::Suspended => return Ok(Ending::Suspended),
        };

    // The same holdout for both: the original test rows, then the recent held-out rows.
    let holdout = Holdout {
        rows: ds.with_rows(&parts.test, &recent.hold_x, &recent.hold_y),
        test: parts.test.len(),
        threads,
    };
    let (champion_scores, _) = holdout.score(&champion.network, &champion.manifest.schema);
    let challenger = Network::from(trained.mlp.clone());
    let (challenger_scores, challenger_metrics) = holdout.score(&challenger, &trained.schema);
    let report = RetrainReport {
        champion_ref: champion_ref.to_string(),
        promote: promotes(&champion_scores, &challenger_scores, margin),
        champion: champion_scores,
        challenger: challenger_scores,
        recent_train_rows: recent.train_y.len(),
        recent_holdout_rows: recent.hold_y.len(),
        recent_weight: weight,
        margin,
    };
    let dataset = DatasetRef {
        name: ds.name.clone(),
        digest: ds.digest.clone(),
        rows: combined.rows,
    };
    let mut bundle = trained.to_bundle(&champion.manifest.name, dataset, Some(job.to_string()));
    bundle.manifest.lineage.parent = Some(champion_ref.to_string());
    // Its metrics where it was judged: the shared holdout.
    bundle.manifest.lineage.metrics.extend(challenger_metrics);
    Ok(Ending::Done(Retrained { bundle, report }))
}

fn invalid(message: String) -> ServiceError {
    ServiceError::Invalid(message)
}

/// The labelled production rows in the dataset's encoding, split by id into training rows and
/// held-out rows (rows whose label is not a target of the dataset are left out).
struct Recent {
    train_x: Vec<f32>,
    train_y: Vec<f32>,
    hold_x: Vec<f32>,
    hold_y: Vec<f32>,
}

impl Recent {
    fn of(ds: &Dataset, labelled: &[PredictionRow]) -> Recent {
        let mut recent = Recent {
            train_x: Vec::new(),
            train_y: Vec::new(),
            hold_x: Vec::new(),
            hold_y: Vec::new(),
        };
        for row in labelled {
            let Some(y) = row.label.as_ref().and_then(|l| target_value(&ds.target, l)) else {
                continue;
            };
            let x = ds.encode_raw(&row.inputs, row.categories.as_deref().unwrap_or_default());
            let (xs, ys) = if held_out(&row.id) {
                (&mut recent.hold_x, &mut recent.hold_y)
            } else {
                (&mut recent.train_x, &mut recent.train_y)
            };
            xs.extend(x);
            ys.push(y);
        }
        recent
    }
}

/// Trains the challenger with the champion's hyperparameters and split (no test part: the
/// holdout is scored separately).
fn train_challenger(
    combined: &Dataset,
    spec: &TrainSpec,
    split: &SplitSpec,
    threads: usize,
    observer: &mut dyn Observer,
) -> Result<Ending<Trained>, ServiceError> {
    let split = SplitSpec {
        test_fraction: 0.0,
        ..split.clone()
    };
    match aiaas_train::train(combined, spec, &split, threads, observer, None) {
        Ok(Some(t)) if t.stop == StopReason::Cancelled => Ok(Ending::Cancelled),
        Ok(Some(t)) => Ok(Ending::Done(t)),
        Ok(None) => Ok(Ending::Suspended),
        Err(e) => Err(invalid(e.to_string())),
    }
}

/// The rows champion and challenger are both scored on: the original test rows first
/// (`test` of them), then the recent held-out rows.
struct Holdout {
    rows: Dataset,
    test: usize,
    threads: usize,
}

impl Holdout {
    /// The headline figure of `network` on each part, and its metrics by part name.
    fn score(&self, network: &Network, schema: &Schema) -> (Scores, BTreeMap<String, Metrics>) {
        let mut metrics = BTreeMap::new();
        let mut part = |name: &str, rows: Vec<usize>| -> Option<f64> {
            if rows.is_empty() {
                return None;
            }
            let x = encode(schema, &self.rows.x, &rows, self.rows.width());
            let truth: Vec<f32> = rows.iter().map(|&r| self.rows.y[r]).collect();
            let m = evaluate(network, schema, &x, &truth, self.threads);
            let headline = m.headline();
            metrics.insert(name.to_string(), m);
            Some(headline)
        };
        let test = part("test", (0..self.test).collect());
        let recent = part("recent", (self.test..self.rows.rows).collect());
        (Scores { test, recent }, metrics)
    }
}

/// A label as the dataset's target value: the class index, or the value.
fn target_value(target: &Target, label: &TargetValue) -> Option<f32> {
    match (target, label) {
        (Target::Classification { labels, .. }, TargetValue::Class(c)) => {
            labels.iter().position(|l| l == c).map(|i| i as f32)
        }
        (Target::Regression { .. }, TargetValue::Value(v)) => Some(*v as f32),
        _ => None,
    }
}
