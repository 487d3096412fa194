//! The update loop's retrain: the champion's training data plus the labelled production rows,
//! the champion's hyperparameters, and a fair comparison of challenger and champion on the same
//! holdout (the original test split, and a held-out part of the recent labelled rows).

use crate::ServiceError;
use aiaas_artifact::{Bundle, DatasetRef};
use aiaas_data::{Dataset, Target, encode, split};
use aiaas_engine::Network;
use aiaas_monitor::{RetrainReport, Scores, held_out, promotes};
use aiaas_stats::Metrics;
use aiaas_train::{Observer, evaluate};
use aiaas_types::{PredictionRow, Schema, SplitSpec, TargetValue};
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

/// Why a retrain gave no challenger.
pub(crate) enum NoChallenger {
    Suspended,
    Cancelled,
    Failed(ServiceError),
}

impl From<ServiceError> for NoChallenger {
    fn from(e: ServiceError) -> Self {
        NoChallenger::Failed(e)
    }
}

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
) -> Result<Retrained, NoChallenger> {
    let invalid = |m: String| NoChallenger::Failed(ServiceError::Invalid(m));
    let lineage = &champion.manifest.lineage;
    if ds.digest != lineage.dataset.digest {
        return Err(invalid(format!(
            "the dataset {} changed since {champion_ref} was trained on it",
            ds.name
        )));
    }
    let parts = split(ds, &lineage.split).map_err(|e| invalid(e.to_string()))?;

    // The labelled production rows in the dataset's encoding, split by id.
    let width = ds.width();
    let (mut train_x, mut train_y, mut hold_x, mut hold_y) = (vec![], vec![], vec![], vec![]);
    for row in labelled {
        let Some(y) = row.label.as_ref().and_then(|l| target_value(&ds.target, l)) else {
            continue;
        };
        let x = ds.encode_raw(&row.inputs, row.categories.as_deref().unwrap_or_default());
        let (xs, ys) = if held_out(&row.id) {
            (&mut hold_x, &mut hold_y)
        } else {
            (&mut train_x, &mut train_y)
        };
        xs.extend(x);
        ys.push(y);
    }
    if train_y.is_empty() {
        return Err(invalid(format!(
            "no labelled production rows to retrain with; send labels with POST \
             /api/v1/models/{}/feedback",
            champion.manifest.name
        )));
    }
    let original: Vec<usize> = parts.train.iter().chain(&parts.val).copied().collect();
    let weight = (RECENT_WEIGHT * original.len())
        .div_ceil(train_y.len())
        .clamp(1, MAX_REPEAT);
    let (recent_x, recent_y) = (train_x.repeat(weight), train_y.repeat(weight));
    let combined = ds.with_rows(&original, &recent_x, &recent_y);
    debug_assert_eq!(combined.x.len(), combined.rows * width);

    let split_spec = SplitSpec {
        test_fraction: 0.0,
        ..lineage.split.clone()
    };
    let trained = match aiaas_train::train(
        &combined,
        &lineage.spec,
        &split_spec,
        threads,
        observer,
        None,
    ) {
        Ok(Some(t)) if t.stop == aiaas_train::StopReason::Cancelled => {
            return Err(NoChallenger::Cancelled);
        }
        Ok(Some(t)) => t,
        Ok(None) => return Err(NoChallenger::Suspended),
        Err(e) => return Err(invalid(e.to_string())),
    };

    // The same holdout for both: the original test rows, then the recent held-out rows.
    let holdout = ds.with_rows(&parts.test, &hold_x, &hold_y);
    let n_test = parts.test.len();
    let score = |network: &Network, schema: &Schema| -> (Scores, BTreeMap<String, Metrics>) {
        let mut metrics = BTreeMap::new();
        let mut part = |name: &str, rows: Vec<usize>| -> Option<f64> {
            if rows.is_empty() {
                return None;
            }
            let x = encode(schema, &holdout.x, &rows, width);
            let truth: Vec<f32> = rows.iter().map(|&r| holdout.y[r]).collect();
            let m = evaluate(network, schema, &x, &truth, threads);
            let headline = m.headline();
            metrics.insert(name.to_string(), m);
            Some(headline)
        };
        let test = part("test", (0..n_test).collect());
        let recent = part("recent", (n_test..holdout.rows).collect());
        (Scores { test, recent }, metrics)
    };
    let (champion_scores, _) = score(&champion.network, &champion.manifest.schema);
    let challenger_network = Network::from(trained.mlp.clone());
    let (challenger_scores, challenger_metrics) = score(&challenger_network, &trained.schema);
    let promote = promotes(&champion_scores, &challenger_scores, margin);
    let report = RetrainReport {
        champion_ref: champion_ref.to_string(),
        champion: champion_scores,
        challenger: challenger_scores,
        recent_train_rows: train_y.len(),
        recent_holdout_rows: hold_y.len(),
        recent_weight: weight,
        margin,
        promote,
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
    Ok(Retrained { bundle, report })
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
