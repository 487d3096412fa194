//! Monitoring as the service layer offers it: the prediction log's writes and retention,
//! feedback (labels by id) stored for logged predictions, and the windows of rows that quality
//! and drift are computed over. The computing itself is `aiaas-monitor`'s.

use crate::{Platform, ServiceError, now_ms};
use aiaas_artifact::{Manifest, OnnxManifest};
use aiaas_monitor::{
    DriftReport, Feedback, QualityReport, drift_report, label_of, quality_report,
    reference_drift_report,
};
use aiaas_stats::Metrics;
use aiaas_store::{Labelled, Window};
use aiaas_types::{ModelName, NewPrediction, PredictionRow, TargetSchema, Version};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Most labels one feedback call may carry.
pub const MAX_FEEDBACK: usize = 100_000;
/// Unknown ids listed in a feedback answer at most (all are counted).
const MAX_UNKNOWN_LISTED: usize = 100;

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

/// Most predictions one window may hold.
pub const MAX_WINDOW_ROWS: usize = 10_000_000;

/// Which logged predictions a quality or drift report covers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowSpec {
    /// The version (default: the champion, else the newest).
    pub version: Option<Version>,
    /// Only predictions from this time on (ms since the Unix epoch).
    pub since: Option<i64>,
    /// Only the most recent this many.
    pub last: Option<usize>,
    /// For an imported classifier's drift: how many of its earliest logged predictions are the
    /// reference (default [`DEFAULT_REFERENCE_ROWS`]); the window is what follows them.
    #[serde(default)]
    pub reference: Option<usize>,
}

/// An imported classifier's drift reference by default: its first this many logged rows.
pub const DEFAULT_REFERENCE_ROWS: usize = 1_000;

/// Refuses a count of rows (`what`) no window can hold.
fn check_window_rows(what: &str, rows: usize) -> Result<(), ServiceError> {
    if (1..=MAX_WINDOW_ROWS).contains(&rows) {
        return Ok(());
    }
    Err(ServiceError::Invalid(format!(
        "{what} is {rows}; a window holds 1 to {MAX_WINDOW_ROWS} predictions"
    )))
}

impl Platform {
    /// Logs predicted rows (the serving runtime's log writer calls this, in batches). The
    /// per-model cap holds all along, not only at the retention pass: once a model has logged
    /// a tenth of its cap since its last trim, its oldest rows beyond the cap are deleted, so
    /// the log never holds more than 110% of the cap.
    pub async fn record_predictions(&self, rows: &[NewPrediction]) -> Result<(), ServiceError> {
        let kept = self.apply_logging_policies(rows).await?;
        self.store().insert_predictions(&kept).await?;
        let keep = self.config().prediction_keep;
        let slack = (keep / 10).max(1);
        let due: Vec<ModelName> = {
            let mut counts = self.inner.logged_since_trim.lock().expect("log count lock");
            for row in rows {
                match counts.get_mut(&row.model) {
                    Some(n) => *n += 1,
                    None => {
                        counts.insert(row.model.clone(), 1);
                    }
                }
            }
            let due: Vec<ModelName> = counts
                .iter()
                .filter(|(_, n)| **n >= slack)
                .map(|(m, _)| m.clone())
                .collect();
            for model in &due {
                counts.remove(model);
            }
            due
        };
        for model in due {
            let trimmed = self.store().trim_predictions(&model, keep).await?;
            if trimmed > 0 {
                tracing::debug!(%model, trimmed, "prediction log held to its cap");
            }
        }
        Ok(())
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
        let version = self.default_version(model).await?;
        let (target, _) = self.target(model, version).await?;
        let labels = items
            .into_iter()
            .map(|f| Ok((f.id.clone(), label_of(&target, &f)?)))
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
        let (version, rows) = self.window_rows(model, window).await?;
        let (target, training) = self.target(model, version).await?;
        Ok(quality_report(model, version, &target, training, &rows)?)
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
        let (version, rows) = self.window_rows(model, window).await?;
        self.drift_of(model, version, &rows, window.reference).await
    }

    /// Drift of `rows`, logged by `version`: against its training profile, or for an imported
    /// classifier against its first `reference` logged rows (those are left out of `rows`).
    pub(crate) async fn drift_of(
        &self,
        model: &ModelName,
        version: Version,
        rows: &[PredictionRow],
        reference: Option<usize>,
    ) -> Result<DriftReport, ServiceError> {
        let record = self.version(model, &version.to_string()).await?;
        let corrupt =
            |e: serde_json::Error| ServiceError::Corrupt(format!("{model} version {version}: {e}"));
        if !crate::registry::is_imported(&record.manifest) {
            let manifest: Manifest = serde_json::from_value(record.manifest).map_err(corrupt)?;
            return Ok(drift_report(model, version, &manifest, rows)?);
        }
        let manifest: OnnxManifest = serde_json::from_value(record.manifest).map_err(corrupt)?;
        if manifest.classes.is_none() {
            return Err(ServiceError::Invalid(format!(
                "{model} version {version} is an imported ONNX model without labels: its \
                 predictions are not logged; import it with its class labels to follow its drift"
            )));
        }
        let first = reference.unwrap_or(DEFAULT_REFERENCE_ROWS);
        check_window_rows("reference", first)?;
        let reference = Window {
            version: Some(version),
            last: Some(first),
            oldest: true,
            ..Window::default()
        };
        let reference = self.store().predictions(model, &reference).await?;
        let taken: HashSet<&str> = reference.iter().map(|r| r.id.as_str()).collect();
        let rows: Vec<PredictionRow> = (rows.iter())
            .filter(|r| !taken.contains(r.id.as_str()))
            .cloned()
            .collect();
        let names: Vec<String> = manifest.summaries().into_iter().map(|(n, _)| n).collect();
        Ok(reference_drift_report(
            model, version, &names, &reference, &rows,
        )?)
    }

    /// The version a window is about, and its logged rows, oldest first.
    pub(crate) async fn window_rows(
        &self,
        model: &ModelName,
        window: &WindowSpec,
    ) -> Result<(Version, Vec<PredictionRow>), ServiceError> {
        if let Some(last) = window.last {
            check_window_rows("last", last)?;
        }
        let version = match window.version {
            Some(v) => v,
            None => self.default_version(model).await?,
        };
        let store_window = Window {
            version: Some(version),
            since_ms: window.since,
            last: window.last,
            ..Window::default()
        };
        let rows = self.store().predictions(model, &store_window).await?;
        Ok((version, rows))
    }

    /// What a version's predictions are judged against: its target, and its headline figure
    /// on the test split when it was trained here. An imported model has a target when it was
    /// imported with labels (a classifier).
    pub(crate) async fn target(
        &self,
        model: &ModelName,
        version: Version,
    ) -> Result<(TargetSchema, Option<f64>), ServiceError> {
        let record = self.version(model, &version.to_string()).await?;
        let corrupt =
            |e: serde_json::Error| ServiceError::Corrupt(format!("{model} version {version}: {e}"));
        if !crate::registry::is_imported(&record.manifest) {
            let manifest: Manifest = serde_json::from_value(record.manifest).map_err(corrupt)?;
            let training = manifest.lineage.metrics.get("test").map(Metrics::headline);
            return Ok((manifest.schema.target, training));
        }
        let manifest: OnnxManifest = serde_json::from_value(record.manifest).map_err(corrupt)?;
        match manifest.classes {
            Some(classes) => Ok((
                TargetSchema::Classification {
                    name: "label".into(),
                    labels: classes.labels,
                },
                None,
            )),
            None => Err(ServiceError::Invalid(format!(
                "{model} version {version} is an imported ONNX model without labels: its \
                 answers cannot be judged; import it with its class labels ({}) to send \
                 feedback and measure its quality",
                aiaas_artifact::LABELS_FILE
            ))),
        }
    }

    /// The manifest of a version, as registered.
    pub(crate) async fn manifest(
        &self,
        model: &ModelName,
        version: Version,
    ) -> Result<Manifest, ServiceError> {
        let record = self.version(model, &version.to_string()).await?;
        if crate::registry::is_imported(&record.manifest) {
            return Err(ServiceError::Invalid(format!(
                "{model} version {version} is an imported ONNX model: this needs a model \
                 trained here (its features and training profile), or a plain dense network \
                 imported with a dataset"
            )));
        }
        serde_json::from_value(record.manifest)
            .map_err(|e| ServiceError::Corrupt(format!("{model} version {version}: manifest: {e}")))
    }
}
