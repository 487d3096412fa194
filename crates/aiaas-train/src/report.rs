//! What a training run reports, in one value that both a local run and a server job produce (a
//! job records it as its `report` event), so that both print the same report.

use crate::diagnosis::Diagnosis;
use crate::evaluate::Baseline;
use crate::fit_common::Convergence;
use crate::observer::StopReason;
use crate::pipeline::{SplitMetrics, SplitRows, Trained};
use aiaas_types::{TargetSchema, Task, TrainSpec};
use serde::{Deserialize, Serialize};

/// A training run's results: the data, the model, the metrics per split, the baseline and the
/// diagnosis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// The dataset's name and its number of rows.
    pub dataset: String,
    pub dataset_rows: usize,
    pub task: Task,
    /// The column predicted.
    pub target: String,
    /// Class names, in class order (empty for regression).
    pub labels: Vec<String>,
    /// Layer widths: the encoded inputs, then each layer's outputs.
    pub widths: Vec<usize>,
    pub spec: TrainSpec,
    pub rows: SplitRows,
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub stop: StopReason,
    /// How an L-BFGS fit converged (absent for the mini-batch optimizers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convergence: Option<Convergence>,
    /// `train`, `val` and `test` at the top of the JSON, as `train --json` has always printed.
    #[serde(flatten)]
    pub metrics: SplitMetrics,
    pub baseline: Baseline,
    pub diagnosis: Diagnosis,
}

impl Trained {
    /// The report of this run on `dataset` of `dataset_rows` rows.
    pub fn report(&self, dataset: &str, dataset_rows: usize) -> TrainReport {
        let labels = match &self.schema.target {
            TargetSchema::Classification { labels, .. } => labels.clone(),
            TargetSchema::Regression { .. } => Vec::new(),
        };
        TrainReport {
            dataset: dataset.to_string(),
            dataset_rows,
            task: self.schema.task(),
            target: self.schema.target.name().to_string(),
            labels,
            widths: std::iter::once(self.mlp.inputs())
                .chain(self.mlp.layers().iter().map(|l| l.outputs))
                .collect(),
            spec: self.spec.clone(),
            rows: self.rows.clone(),
            epochs_run: self.history.len(),
            best_epoch: self.best_epoch,
            stop: self.stop,
            convergence: self.convergence.clone(),
            metrics: self.metrics.clone(),
            baseline: self.baseline.clone(),
            diagnosis: self.diagnosis.clone(),
        }
    }
}
