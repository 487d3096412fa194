//! The job workers: each claims the oldest queued job, trains it on a blocking thread (resuming
//! from its checkpoint if it has one), records progress and checkpoints as it goes, and
//! registers the result as a new model version.

use crate::datasets::blocking;
use crate::{Ending, Platform, ServiceError};
use aiaas_artifact::DatasetRef;
use aiaas_optimize::OptimizeError;
use aiaas_store::{EpochRow, JobRecord, JobResult};
use aiaas_train::{Checkpoint, Control, EpochProgress, Observer, StopReason, TrainError};
use aiaas_types::{
    AliasName, JobId, JobSpec, JobState, ModelName, OptimizeJob, RetrainJob, TrainJob, Version,
    parse_version,
};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::runtime::Handle;

/// How long an idle worker sleeps before it looks at the queue again without being woken, in
/// case a wake-up was missed.
const IDLE_POLL: Duration = Duration::from_secs(2);

/// What a job that ran to its end registered: nothing for a sweep's trial, whose bundle waits
/// for the sweep to pick the best.
type Registered = Option<(ModelName, Version)>;

impl Platform {
    pub(crate) async fn worker_loop(self, name: String) {
        while !self.stopping() {
            match self.store().claim_job(&name).await {
                Ok(Some(job)) => self.run_job(job).await,
                Ok(None) => {
                    let _ = tokio::time::timeout(IDLE_POLL, self.inner.wake.notified()).await;
                }
                Err(e) => {
                    tracing::error!(worker = %name, error = %e, "could not claim a job");
                    tokio::time::sleep(IDLE_POLL).await;
                }
            }
        }
    }

    async fn run_job(&self, job: JobRecord) {
        let id = job.id.clone();
        let (kind, started) = (job.spec.kind(), std::time::Instant::now());
        crate::metrics::job_started(kind);
        let cancel = Arc::new(AtomicBool::new(false));
        self.inner
            .running
            .lock()
            .expect("running lock")
            .insert(id.clone(), cancel.clone());
        // On a shared database the lease is renewed while the job runs; a worker that loses it
        // (it was taken for dead and the job requeued) stops and records nothing more.
        let lost = Arc::new(AtomicBool::new(false));
        let lease = match (self.store().is_shared(), job.lease_owner.clone()) {
            (true, Some(owner)) => Some(tokio::spawn(self.clone().keep_lease(
                id.clone(),
                owner,
                cancel.clone(),
                lost.clone(),
            ))),
            _ => None,
        };
        let ending = match job.spec.clone() {
            JobSpec::Train(train) => self.train_job(&job, train, cancel).await,
            JobSpec::Optimize(optimize) => self.optimize_job(&job, optimize, cancel).await,
            JobSpec::Retrain(retrain) => self.retrain_job(&job, retrain, cancel).await,
        };
        if let Some(lease) = lease {
            lease.abort();
        }
        self.inner.running.lock().expect("running lock").remove(&id);
        if lost.load(Ordering::SeqCst) {
            tracing::warn!(job = %id, "lost the job's lease: another worker runs it now");
            return;
        }
        let store = self.store();
        let checkpoint = store.job(&id).await.ok().and_then(|j| j.checkpoint_digest);
        let suspended = matches!(ending, Ok(Ending::Suspended));
        let state = match &ending {
            Ok(Ending::Done(_)) => JobState::Succeeded.as_str(),
            Ok(Ending::Cancelled) => JobState::Cancelled.as_str(),
            Ok(Ending::Suspended) => "suspended",
            Err(_) => JobState::Failed.as_str(),
        };
        crate::metrics::job_ended(kind, state, started.elapsed());
        let recorded = match ending {
            Ok(Ending::Done(registered)) => store
                .finish_job(
                    &id,
                    JobState::Succeeded,
                    None,
                    registered.map(|(model, version)| JobResult { model, version }),
                )
                .await
                .map(drop),
            Ok(Ending::Cancelled) => store
                .finish_job(&id, JobState::Cancelled, None, None)
                .await
                .map(drop),
            Ok(Ending::Suspended) => store.suspend_job(&id).await.map(drop),
            Err(e) => {
                tracing::warn!(job = %id, error = %e, "job failed");
                store
                    .finish_job(&id, JobState::Failed, Some(&e.to_string()), None)
                    .await
                    .map(drop)
            }
        };
        match recorded {
            // A finished job never resumes: its checkpoint can go (a suspended one keeps it).
            Ok(()) if !suspended => {
                if let Some(digest) = checkpoint {
                    self.collect_blob(&digest).await;
                }
            }
            Ok(()) => {}
            Err(e) => tracing::error!(job = %id, error = %e, "could not record the end of a job"),
        }
        self.job_changed(&id);
        if job.sweep.is_some()
            && let Err(e) = self.settle_sweeps().await
        {
            tracing::warn!(job = %id, error = %e, "could not settle the trial's sweep");
        }
    }

    /// Sends job `id`'s heartbeat every quarter of the lease until aborted; when the database
    /// says another worker holds the job now, sets `lost` and `cancel` and ends.
    async fn keep_lease(
        self,
        id: JobId,
        owner: String,
        cancel: Arc<AtomicBool>,
        lost: Arc<AtomicBool>,
    ) {
        loop {
            tokio::time::sleep(self.config().lease() / 4).await;
            match self.store().heartbeat(&id, &owner).await {
                Ok(()) => {}
                Err(aiaas_store::StoreError::Conflict(reason)) => {
                    tracing::warn!(job = %id, %reason, "job lease lost");
                    lost.store(true, Ordering::SeqCst);
                    cancel.store(true, Ordering::SeqCst);
                    return;
                }
                Err(e) => tracing::warn!(job = %id, error = %e, "could not renew the job's lease"),
            }
        }
    }

    async fn train_job(
        &self,
        job: &JobRecord,
        train: TrainJob,
        cancel: Arc<AtomicBool>,
    ) -> Result<Ending<Registered>, ServiceError> {
        let (record, ds) = self.load_dataset(&train.dataset).await?;
        let resume = match &job.checkpoint_digest {
            Some(digest) => {
                let what = format!("job {}'s checkpoint", job.id);
                let bytes = self.stored_blob(digest, &what).await?;
                let checkpoint = blocking(move || {
                    Checkpoint::from_bytes(&bytes)
                        .map_err(|e| ServiceError::Corrupt(format!("{what}: {e}")))
                })
                .await?;
                Some(checkpoint)
            }
            None => None,
        };
        // Claiming logged `started`; a resumed run also says from where.
        if let Some(c) = &resume {
            let from = json!({"epoch": c.completed_epochs()});
            self.store().append_event(&job.id, "resumed", from).await?;
            self.job_changed(&job.id);
        }

        let mut observer = JobObserver {
            platform: self.clone(),
            runtime: Handle::current(),
            job: job.id.clone(),
            cancel,
        };
        let split = train.split();
        let threads = self.config().threads_per_job();
        let (trained, ds) = blocking(move || {
            let options = train.options.clone();
            let spec = aiaas_train::resolve(&options, &ds)
                .map_err(|e| ServiceError::Invalid(e.to_string()))?;
            let outcome =
                aiaas_train::train(&ds, &spec, &split, threads, &mut observer, resume.as_ref())
                    .map_err(|e| match e {
                        TrainError::Checkpoint(_) => ServiceError::Corrupt(e.to_string()),
                        _ => ServiceError::Invalid(e.to_string()),
                    })?;
            Ok((outcome, ds))
        })
        .await?;
        let trained = match trained {
            None => return Ok(Ending::Suspended),
            Some(t) if t.stop == StopReason::Cancelled => return Ok(Ending::Cancelled),
            Some(t) => t,
        };
        let dataset = DatasetRef {
            name: record.name.to_string(),
            digest: record.digest.clone(),
            rows: ds.rows,
        };
        // The same report a local run prints, for the client that follows the job.
        let report = serde_json::to_value(trained.report(&dataset.name, dataset.rows))
            .expect("a report serializes");
        self.store().append_event(&job.id, "report", report).await?;
        let bundle = trained.to_bundle(job.model.as_str(), dataset, Some(job.id.to_string()));
        if let Some(sweep) = &job.sweep {
            self.keep_trial(job, sweep, &trained, bundle).await?;
            return Ok(Ending::Done(None));
        }
        let version = self
            .publish_bundle(
                &job.model,
                bundle,
                Some(record.name.clone()),
                Some(job.id.clone()),
                None,
            )
            .await?;
        Ok(Ending::Done(Some((
            job.model.clone(),
            version.summary.version,
        ))))
    }

    /// Derives a variant of the job's parent version, records its report as a `report` event,
    /// and registers it as the model's next version only if it passed the guard.
    async fn optimize_job(
        &self,
        job: &JobRecord,
        spec: OptimizeJob,
        cancel: Arc<AtomicBool>,
    ) -> Result<Ending<Registered>, ServiceError> {
        // Submission pinned the parent to a number.
        let reference = spec.version.clone().unwrap_or_default();
        let parent_version = parse_version(&reference).ok_or_else(|| {
            ServiceError::Invalid(format!("the parent version {reference:?} is not a number"))
        })?;
        let parent = self.load_bundle(&spec.model, parent_version).await?;
        let (record, ds) = self.load_dataset(&job.dataset).await?;
        let mut observer = JobObserver {
            platform: self.clone(),
            runtime: Handle::current(),
            job: job.id.clone(),
            cancel,
        };
        let parent_ref = format!("{}@{parent_version}", spec.model);
        let threads = self.config().threads_per_job();
        let (recipe, max_drop) = (spec.recipe.clone(), spec.max_drop);
        let optimized = blocking(move || {
            Ok(aiaas_optimize::optimize(
                &parent,
                &parent_ref,
                &ds,
                &recipe,
                max_drop,
                threads,
                &mut observer,
            ))
        })
        .await?;
        let mut variant = match optimized {
            Ok(v) => v,
            Err(OptimizeError::Cancelled) => return Ok(Ending::Cancelled),
            Err(OptimizeError::Suspended) => return Ok(Ending::Suspended),
            Err(e) => return Err(ServiceError::Invalid(e.to_string())),
        };
        let report = serde_json::to_value(&variant.report).expect("a report serializes");
        self.store().append_event(&job.id, "report", report).await?;
        self.job_changed(&job.id);
        if !variant.report.accepted {
            return Err(ServiceError::Invalid(format!(
                "variant refused, nothing registered: {}",
                variant.report.verdict
            )));
        }
        variant.bundle.manifest.lineage.job = Some(job.id.to_string());
        let version = self
            .publish_bundle(
                &job.model,
                variant.bundle,
                Some(record.name.clone()),
                Some(job.id.clone()),
                Some(parent_version),
            )
            .await?;
        Ok(Ending::Done(Some((
            job.model.clone(),
            version.summary.version,
        ))))
    }

    /// Retrains the job's version on its data plus the labelled production rows, registers the
    /// challenger (alias `challenger`) and promotes it if it wins on the recent holdout: the old
    /// champion keeps `previous`. The comparison is the job's `report` event and a model event.
    async fn retrain_job(
        &self,
        job: &JobRecord,
        spec: RetrainJob,
        cancel: Arc<AtomicBool>,
    ) -> Result<Ending<Registered>, ServiceError> {
        let reference = spec.version.clone().unwrap_or_default();
        let champion_version = parse_version(&reference).ok_or_else(|| {
            ServiceError::Invalid(format!("the version {reference:?} is not a number"))
        })?;
        let champion = self.load_bundle(&spec.model, champion_version).await?;
        let (record, ds) = self.load_dataset(&job.dataset).await?;
        let all_labelled = aiaas_store::Window {
            labelled: true,
            ..Default::default()
        };
        let labelled = self.store().predictions(&spec.model, &all_labelled).await?;
        let mut observer = JobObserver {
            platform: self.clone(),
            runtime: Handle::current(),
            job: job.id.clone(),
            cancel,
        };
        let champion_ref = format!("{}@{champion_version}", spec.model);
        let (threads, margin, id) = (
            self.config().threads_per_job(),
            spec.margin.unwrap_or(0.0),
            job.id.to_string(),
        );
        let retrained = blocking(move || {
            Ok(crate::retrain::retrain(
                &champion,
                &champion_ref,
                &ds,
                &labelled,
                margin,
                &id,
                threads,
                &mut observer,
            ))
        })
        .await?;
        let retrained = match retrained? {
            Ending::Done(r) => r,
            Ending::Cancelled => return Ok(Ending::Cancelled),
            Ending::Suspended => return Ok(Ending::Suspended),
        };
        let report = serde_json::to_value(&retrained.report).expect("a report serializes");
        self.store()
            .append_event(&job.id, "report", report.clone())
            .await?;
        self.job_changed(&job.id);
        let model = &job.model;
        let version = self
            .publish_bundle(
                model,
                retrained.bundle,
                Some(record.name.clone()),
                Some(job.id.clone()),
                Some(champion_version),
            )
            .await?
            .summary
            .version;
        let alias = |a: &str| AliasName::new(a).expect("a valid alias");
        self.set_alias(model, &alias("challenger"), version).await?;
        let kind = if retrained.report.promote {
            self.set_alias(model, &alias("previous"), champion_version)
                .await?;
            self.set_alias(model, &alias("champion"), version).await?;
            "promoted"
        } else {
            "kept"
        };
        let mut data = report;
        data["challenger_version"] = version.get().into();
        data["champion_version"] = champion_version.get().into();
        data["job"] = job.id.to_string().into();
        self.store().append_model_event(model, kind, &data).await?;
        tracing::info!(model = %model, challenger = %version, outcome = kind, "retrained");
        Ok(Ending::Done(Some((model.clone(), version))))
    }
}

/// Connects the training loop (on a blocking thread) to the store: progress rows, cancel and
/// shutdown flags, checkpoints.
struct JobObserver {
    platform: Platform,
    runtime: Handle,
    job: JobId,
    cancel: Arc<AtomicBool>,
}

impl JobObserver {
    fn save_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), ServiceError> {
        let store = self.platform.store();
        let epoch = checkpoint.completed_epochs();
        let bytes = checkpoint.to_bytes();
        self.runtime.block_on(async {
            let gate = self.platform.inner.blob_gate.read().await;
            let digest = store.blobs().put(bytes.into()).await?;
            let previous = store
                .set_checkpoint(&self.job, &digest, epoch as u32)
                .await?;
            drop(gate);
            if let Some(old) = previous {
                self.platform.collect_blob(&old).await;
            }
            Ok(())
        })
    }
}

impl Observer for JobObserver {
    fn on_epoch(&mut self, p: &EpochProgress) {
        let store = self.platform.store();
        let row = EpochRow {
            epoch: p.epoch as u32,
            epochs: p.epochs as u32,
            train_loss: p.train_loss,
            val_loss: p.val_loss,
            val_metric: p.val_metric,
            lr: p.lr as f64,
        };
        let recorded = self.runtime.block_on(store.record_epoch(&self.job, &row));
        match recorded {
            Ok(true) => self.cancel.store(true, Ordering::SeqCst),
            Ok(false) => {}
            Err(e) => tracing::warn!(job = %self.job, error = %e, "could not record progress"),
        }
        self.platform.job_changed(&self.job);
    }

    fn control(&mut self) -> Control {
        if self.cancel.load(Ordering::SeqCst) {
            Control::Cancel
        } else if self.platform.stopping() {
            Control::Suspend
        } else {
            Control::Continue
        }
    }

    fn checkpoint_due(&mut self, completed_epochs: usize) -> bool {
        let every = self.platform.config().checkpoint_every;
        every > 0 && completed_epochs.is_multiple_of(every)
    }

    fn on_checkpoint(&mut self, checkpoint: &Checkpoint) {
        match self.save_checkpoint(checkpoint) {
            Ok(()) => self.platform.job_changed(&self.job),
            Err(e) => tracing::warn!(job = %self.job, error = %e, "could not save a checkpoint"),
        }
    }
}
