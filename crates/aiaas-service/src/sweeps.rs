//! Hyperparameter sweeps: submit (every trial's options checked against the dataset first),
//! list, show as a table sorted by the metric, cancel; a trial's output; and settling, which
//! publishes the best trial once every trial has ended.

use crate::datasets::blocking;
use crate::{Platform, ServiceError};
use aiaas_artifact::Bundle;
use aiaas_store::{JobRecord, SweepRecord, SweepResult};
use aiaas_train::Trained;
use aiaas_types::{JobId, JobSpec, JobState, SplitSpec, SweepId, SweepMetric, SweepSpec, TrainJob};
use bytes::Bytes;
use serde::Serialize;
use std::collections::BTreeMap;

/// A sweep with its trials, best first.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Serialize)]
pub struct SweepDetail {
    #[serde(flatten)]
    pub sweep: SweepRecord,
    /// Trials by score, best first; trials without a score (queued, running, failed) last, in
    /// the order they were queued.
    pub trials: Vec<Trial>,
}

/// One trial of a sweep as its table shows it. Its curve is its job's metric history
/// (`GET /api/v1/jobs/{id}`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Serialize)]
pub struct Trial {
    /// Its job.
    pub job: JobId,
    pub state: JobState,
    /// The values of the options the sweep varies.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub params: BTreeMap<String, serde_json::Value>,
    /// The sweep's metric on the validation split, once it succeeded.
    pub score: Option<f64>,
    /// Epochs it has run.
    pub epochs: Option<u32>,
    /// Why it failed.
    pub error: Option<String>,
    /// Milliseconds from its start to its end (or to now, while it runs).
    pub duration_ms: Option<i64>,
}

impl Platform {
    /// Queues a sweep: one train job per point of its search, each point's options resolved
    /// against the dataset now, so that a bad value is an error here rather than a failed trial.
    pub async fn submit_sweep(&self, spec: SweepSpec) -> Result<SweepDetail, ServiceError> {
        if self.stopping() {
            return Err(ServiceError::Unavailable(
                "the server is shutting down".into(),
            ));
        }
        let template = TrainJob {
            dataset: spec.dataset.clone(),
            name: Some(spec.model_name()),
            // Trials are compared on the validation part, whatever their optimizer's default.
            val_split: Some(spec.val_split.unwrap_or(SplitSpec::default().val_fraction)),
            test_split: spec.test_split,
            options: Default::default(),
            unknown: Default::default(),
        };
        let split = template.split();
        crate::jobs::check_split(&split)?;
        if split.val_fraction <= 0.0 {
            return Err(ServiceError::Invalid(
                "a sweep compares its trials on the validation split: val_split must be > 0".into(),
            ));
        }
        let (_, ds) = self.load_dataset(&spec.dataset).await?;
        let request = spec.clone();
        let (metric, trials) = blocking(move || {
            let task = ds.task();
            let metric = request
                .metric
                .unwrap_or_else(|| aiaas_train::default_metric(task));
            if !aiaas_train::metric_fits(metric, task) {
                return Err(ServiceError::Invalid(format!(
                    "metric {} does not apply to a {task} dataset",
                    metric.as_str()
                )));
            }
            let options = aiaas_train::trial_options(&request).map_err(ServiceError::Invalid)?;
            let mut trials = Vec::with_capacity(options.len());
            for (i, options) in options.into_iter().enumerate() {
                aiaas_train::resolve(&options, &ds)
                    .map_err(|e| ServiceError::Invalid(format!("trial {}: {e}", i + 1)))?;
                trials.push(JobSpec::Train(TrainJob {
                    options,
                    ..template.clone()
                }));
            }
            Ok((metric, trials))
        })
        .await?;
        let (sweep, jobs) = self.store().create_sweep(&spec, metric, &trials).await?;
        // Every idle worker, and a permit for one between two looks at the queue.
        self.inner.wake.notify_waiters();
        self.inner.wake.notify_one();
        for job in &jobs {
            self.job_changed(&job.id);
        }
        Ok(detail(sweep, jobs))
    }

    /// Every sweep, newest first.
    pub async fn sweeps(&self) -> Result<Vec<SweepRecord>, ServiceError> {
        Ok(self.store().sweeps().await?)
    }

    /// A sweep and its trials, best first.
    pub async fn sweep(&self, id: &SweepId) -> Result<SweepDetail, ServiceError> {
        let (sweep, trials) = self.store().sweep_with_trials(id).await?;
        Ok(detail(sweep, trials))
    }

    /// Cancels a running sweep and its trials; what finished trials trained is collected.
    pub async fn cancel_sweep(&self, id: &SweepId) -> Result<SweepDetail, ServiceError> {
        self.store().cancel_sweep(id).await?;
        let (sweep, trials) = self.store().sweep_with_trials(id).await?;
        for job in &trials {
            self.job_changed(&job.id);
        }
        self.collect_outputs(&trials).await;
        Ok(detail(sweep, trials))
    }

    /// A succeeded trial's bundle, kept as one archive blob with its score until its sweep
    /// settles. Its lineage names the sweep, so that the winner is published as it is.
    pub(crate) async fn keep_trial(
        &self,
        job: &JobRecord,
        sweep: &SweepId,
        trained: &Trained,
        mut bundle: Bundle,
    ) -> Result<(), ServiceError> {
        let sweep_record = self.store().sweep(sweep).await?;
        let metric = sweep_record.metric;
        let score = trained
            .metrics
            .val
            .as_ref()
            .and_then(|m| aiaas_train::score(m, metric))
            .ok_or_else(|| {
                ServiceError::Invalid(format!(
                    "the trial has no {} on the validation split",
                    metric.as_str()
                ))
            })?;
        bundle.manifest.lineage.sweep = Some(sweep.to_string());
        let archive = blocking(move || {
            let files: BTreeMap<String, Vec<u8>> = bundle
                .to_files()
                .map_err(|e| ServiceError::Internal(format!("encoding the bundle: {e}")))?
                .into_iter()
                .collect();
            aiaas_artifact::archive::pack(&files)
                .map_err(|e| ServiceError::Internal(format!("packing the bundle: {e}")))
        })
        .await?;
        let gate = self.inner.blob_gate.read().await;
        let digest = self.store().blobs().put(Bytes::from(archive)).await?;
        let replaced = self
            .store()
            .set_trial_output(&job.id, &digest, score)
            .await?;
        drop(gate);
        if let Some(old) = replaced {
            self.collect_blob(&old).await;
        }
        Ok(())
    }

    /// Publishes the best trial of every sweep whose trials have all ended, and ends the sweep.
    /// Any process may call it at any time: publishing is idempotent per trial and only one
    /// caller ends the sweep.
    pub(crate) async fn settle_sweeps(&self) -> Result<(), ServiceError> {
        for id in self.store().unsettled_sweeps().await? {
            let (sweep, trials) = self.store().sweep_with_trials(&id).await?;
            let best = best_trial(&trials, sweep.metric);
            let (state, error, result) = match best {
                None => {
                    let why = trials
                        .iter()
                        .find_map(|t| t.error.clone())
                        .unwrap_or_else(|| "every trial was cancelled".to_string());
                    (
                        JobState::Failed,
                        Some(format!("no trial succeeded: {why}")),
                        None,
                    )
                }
                Some(trial) => match self.publish_trial(&sweep, trial).await {
                    Ok(version) => (
                        JobState::Succeeded,
                        None,
                        Some(SweepResult {
                            trial: trial.id.clone(),
                            version,
                        }),
                    ),
                    Err(e) => (
                        JobState::Failed,
                        Some(format!("could not register the best trial: {e}")),
                        None,
                    ),
                },
            };
            let ended = self
                .store()
                .finish_sweep(&id, state, error.as_deref(), result.as_ref())
                .await?;
            if ended.is_some() {
                tracing::info!(sweep = %id, %state, "sweep ended");
                self.collect_outputs(&trials).await;
            }
        }
        Ok(())
    }

    async fn publish_trial(
        &self,
        sweep: &SweepRecord,
        trial: &JobRecord,
    ) -> Result<aiaas_types::Version, ServiceError> {
        let digest = trial.output_digest.as_deref().unwrap_or_default();
        let what = format!("trial {}'s bundle", trial.id);
        let archive = self.stored_blob(digest, &what).await?;
        let bundle = blocking(move || {
            let files = aiaas_artifact::archive::unpack(&archive, usize::MAX)
                .map_err(|e| ServiceError::Corrupt(format!("{what}: {e}")))?;
            Bundle::from_files(|name| Ok(files.get(name).cloned()))
                .map_err(|e| ServiceError::Corrupt(format!("{what}: {e}")))
        })
        .await?;
        let version = self
            .publish_bundle(
                &sweep.model,
                bundle,
                Some(sweep.dataset.clone()),
                Some(trial.id.clone()),
                None,
            )
            .await?;
        Ok(version.summary.version)
    }

    async fn collect_outputs(&self, trials: &[JobRecord]) {
        for digest in trials.iter().filter_map(|t| t.output_digest.as_deref()) {
            self.collect_blob(digest).await;
        }
    }
}

/// The succeeded trial with the best score that kept its bundle; the earliest on a tie.
fn best_trial(trials: &[JobRecord], metric: SweepMetric) -> Option<&JobRecord> {
    let mut best: Option<(&JobRecord, f64)> = None;
    for trial in trials {
        let (JobState::Succeeded, Some(score), Some(_)) =
            (trial.state, trial.score, &trial.output_digest)
        else {
            continue;
        };
        let better = match best {
            None => true,
            Some((_, b)) if metric.higher_is_better() => score > b,
            Some((_, b)) => score < b,
        };
        if better {
            best = Some((trial, score));
        }
    }
    best.map(|(trial, _)| trial)
}

fn detail(sweep: SweepRecord, jobs: Vec<JobRecord>) -> SweepDetail {
    let swept = sweep.spec.swept();
    let now = crate::now_ms();
    let mut trials: Vec<Trial> = jobs
        .into_iter()
        .map(|job| {
            // Through text: an `f32` option then reads as written (0.05, not 0.0500000007).
            let options: serde_json::Value = match &job.spec {
                JobSpec::Train(train) => serde_json::to_string(&train.options)
                    .ok()
                    .and_then(|text| serde_json::from_str(&text).ok())
                    .unwrap_or_default(),
                _ => serde_json::Value::Null,
            };
            let params = swept
                .iter()
                .map(|key| (key.to_string(), options[*key].clone()))
                .collect();
            Trial {
                params,
                score: job.score,
                epochs: job.progress.as_ref().map(|p| p.epoch),
                error: job.error,
                duration_ms: job
                    .started_at_ms
                    .map(|start| job.finished_at_ms.unwrap_or(now) - start),
                state: job.state,
                job: job.id,
            }
        })
        .collect();
    let higher = sweep.metric.higher_is_better();
    // Stable: unscored trials keep their queue order at the end.
    trials.sort_by(|a, b| match (a.score, b.score) {
        (Some(x), Some(y)) if higher => y.total_cmp(&x),
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    SweepDetail { sweep, trials }
}
