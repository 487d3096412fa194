//! Wrapping a freshly trained model as a bundle: the manifest records the dataset, the job and
//! everything the training pipeline measured. The one place a manifest is built from training.

use crate::Trained;
use aiaas_artifact::{Bundle, DatasetRef, FORMAT_VERSION, Lineage, Manifest, WeightsInfo};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

impl Trained {
    /// The bundle of this model, named `name`, trained on `dataset` by `job` (none for a local
    /// CLI run).
    pub fn to_bundle(&self, name: &str, dataset: DatasetRef, job: Option<String>) -> Bundle {
        let t = self;
        let mut metrics = BTreeMap::from([("train".to_string(), t.metrics.train.clone())]);
        if let Some(m) = &t.metrics.val {
            metrics.insert("val".into(), m.clone());
        }
        if let Some(m) = &t.metrics.test {
            metrics.insert("test".into(), m.clone());
        }
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            name: name.to_string(),
            task: t.schema.task(),
            layers: Vec::new(),
            schema: t.schema.clone(),
            weights: WeightsInfo::default(),
            lineage: Lineage {
                dataset,
                job,
                sweep: None,
                spec: t.spec.clone(),
                split: t.split.clone(),
                split_rows: BTreeMap::from([
                    ("train".to_string(), t.rows.train),
                    ("val".to_string(), t.rows.val),
                    ("test".to_string(), t.rows.test),
                ]),
                epochs_run: t.history.len(),
                best_epoch: t.best_epoch,
                metrics,
                parent: None,
                optimization: None,
                imported: None,
                created_at_ms: now_ms(),
            },
            profile: t.profile.clone(),
            files: BTreeMap::new(),
        };
        Bundle::new(manifest, t.mlp.clone())
    }
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
