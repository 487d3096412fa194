//! Jobs as users see them: submit (validated before it is queued), list, show, cancel, and
//! follow a job's events as a stream.

use crate::datasets::blocking;
use crate::{Platform, ServiceError};
use aiaas_store::{EpochRow, JobEvent, JobRecord};
use aiaas_types::{
    DatasetName, JobId, JobSpec, JobState, ModelName, OptimizeJob, RetrainJob, SplitSpec, Version,
};
use futures_util::Stream;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, broadcast};

/// How long an event stream waits for news before it looks at the database again anyway.
const EVENT_POLL: Duration = Duration::from_secs(1);

impl Platform {
    /// Queue a job. Its fields are checked against the dataset now, so a bad hyperparameter is
    /// an error here rather than a failed job later.
    pub async fn submit_job(&self, mut spec: JobSpec) -> Result<JobRecord, ServiceError> {
        if self.stopping() {
            return Err(ServiceError::Unavailable(
                "the server is shutting down".into(),
            ));
        }
        spec.check_fields().map_err(ServiceError::Invalid)?;
        let (dataset, model) = match &mut spec {
            JobSpec::Train(train) => {
                check_split(&train.split())?;
                let (_, ds) = self.load_dataset(&train.dataset).await?;
                let options = train.options.clone();
                blocking(move || {
                    aiaas_train::resolve(&options, &ds)
                        .map(drop)
                        .map_err(|e| ServiceError::Invalid(e.to_string()))
                })
                .await?;
                (train.dataset.clone(), train.model_name())
            }
            JobSpec::Optimize(job) => (self.check_optimize(job).await?, job.model.clone()),
            JobSpec::Retrain(job) => (self.check_retrain(job).await?, job.model.clone()),
        };
        let job = self.store().create_job(&spec, &dataset, &model).await?;
        tracing::info!(job = %job.id, dataset = %dataset, "job queued");
        self.inner.wake.notify_one();
        self.job_changed(&job.id);
        Ok(job)
    }

    /// Checks an optimize job against its parent and pins the parent to a version number (so
    /// an alias that moves before the job runs does not change what it optimizes). Returns the
    /// dataset the parent was trained on, which the job needs.
    async fn check_optimize(&self, job: &mut OptimizeJob) -> Result<DatasetName, ServiceError> {
        let (version, dataset) = self
            .parent_with_dataset(&job.model, job.version.as_deref())
            .await?;
        let parent = self.load_bundle(&job.model, version).await?;
        aiaas_optimize::check_recipe(&parent, &job.recipe)
            .map_err(|e| ServiceError::Invalid(e.to_string()))?;
        if let Some(d) = job.max_drop
            && !(d.is_finite() && d >= 0.0)
        {
            return Err(ServiceError::Invalid(format!(
                "max_drop must be a number >= 0, got {d}"
            )));
        }
        job.version = Some(version.to_string());
        Ok(dataset)
    }

    /// Checks a retrain job: the version exists and was trained on a registered dataset, the
    /// model has labelled production rows; pins the version number. Returns the dataset.
    async fn check_retrain(&self, job: &mut RetrainJob) -> Result<DatasetName, ServiceError> {
        if let Some(m) = job.margin
            && !(m.is_finite() && m >= 0.0)
        {
            return Err(ServiceError::Invalid(format!(
                "margin must be a number >= 0, got {m}"
            )));
        }
        let (version, dataset) = self
            .parent_with_dataset(&job.model, job.version.as_deref())
            .await?;
        let labelled = aiaas_store::Window {
            labelled: true,
            last: Some(1),
            ..Default::default()
        };
        if self
            .store()
            .predictions(&job.model, &labelled)
            .await?
            .is_empty()
        {
            return Err(ServiceError::Invalid(format!(
                "model {} has no labelled production rows to retrain with; send labels with \
                 POST /api/v1/models/{}/feedback",
                job.model, job.model
            )));
        }
        job.version = Some(version.to_string());
        Ok(dataset)
    }

    /// The version `reference` names (default: the champion, else the newest) and the
    /// registered dataset it was trained on.
    async fn parent_with_dataset(
        &self,
        model: &ModelName,
        reference: Option<&str>,
    ) -> Result<(Version, DatasetName), ServiceError> {
        let reference = match reference {
            Some(v) => v.to_string(),
            None => self.default_version(model).await?.to_string(),
        };
        let record = self.version(model, &reference).await?;
        if crate::registry::is_imported(&record.manifest) {
            return Err(ServiceError::Invalid(format!(
                "{model}@{} is an imported ONNX model: only models trained here can be \
                 optimized or retrained (an imported graph is served as it is; a plain dense \
                 network imported with a dataset is adopted as a model trained here)",
                record.summary.version
            )));
        }
        let Some(dataset) = record.summary.dataset.clone() else {
            return Err(ServiceError::Invalid(format!(
                "{model}@{} was not trained on a registered dataset, so it cannot be retrained \
                 or compared on its test split",
                record.summary.version
            )));
        };
        self.store().dataset(&dataset).await.map_err(|_| {
            ServiceError::Invalid(format!(
                "the dataset {dataset} that {model}@{} was trained on is no longer registered",
                record.summary.version
            ))
        })?;
        Ok((record.summary.version, dataset))
    }

    pub async fn jobs(&self, state: Option<JobState>) -> Result<Vec<JobRecord>, ServiceError> {
        Ok(self.store().jobs(state).await?)
    }

    pub async fn job(&self, id: &JobId) -> Result<JobRecord, ServiceError> {
        Ok(self.store().job(id).await?)
    }

    /// Per-epoch losses and metric of a job so far.
    pub async fn job_metrics(&self, id: &JobId) -> Result<Vec<EpochRow>, ServiceError> {
        Ok(self.store().metric_history(id).await?)
    }

    /// The job's report, once it has one: a training run's figures, baseline and diagnosis; an
    /// optimization's variant against its parent; a retrain's comparison with the champion.
    pub async fn job_report(&self, id: &JobId) -> Result<Option<serde_json::Value>, ServiceError> {
        let event = self.store().last_event(id, "report").await?;
        Ok(event.map(|e| e.data))
    }

    /// Cancel a job: a queued one at once, a running one at its next batch.
    pub async fn cancel_job(&self, id: &JobId) -> Result<JobRecord, ServiceError> {
        let job = self.store().request_cancel(id).await?;
        // A queued job cancelled at once (say, one suspended by a restart) never resumes.
        if let (true, Some(digest)) = (job.state.is_final(), &job.checkpoint_digest) {
            self.collect_blob(digest).await;
        }
        if let Some(flag) = self.inner.running.lock().expect("running lock").get(id) {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        self.job_changed(id);
        Ok(job)
    }

    /// The job's events after sequence number `after`, then each new one as it happens; the
    /// stream ends after the job's final event (or when the server shuts down).
    pub async fn job_events(
        &self,
        id: &JobId,
        after: i64,
    ) -> Result<impl Stream<Item = Result<JobEvent, ServiceError>> + Send + 'static, ServiceError>
    {
        self.store().job(id).await?;
        let permit = self
            .inner
            .event_streams
            .clone()
            .try_acquire_owned()
            .map_err(|_| {
                ServiceError::Overloaded(format!(
                    "{} event streams are already open; retry later or poll the job",
                    self.config().max_event_streams
                ))
            })?;
        let follow = Follow {
            _permit: permit,
            platform: self.clone(),
            id: id.clone(),
            after,
            pending: VecDeque::new(),
            changes: self.inner.job_changed.subscribe(),
            done: false,
        };
        Ok(futures_util::stream::unfold(follow, |mut f| async move {
            let next = f.next().await;
            next.map(|item| (item, f))
        }))
    }
}

pub(crate) fn check_split(split: &SplitSpec) -> Result<(), ServiceError> {
    let (v, t) = (split.val_fraction, split.test_fraction);
    if !(0.0..1.0).contains(&v) || !(0.0..1.0).contains(&t) || v + t >= 1.0 {
        return Err(ServiceError::Invalid(format!(
            "val_split {v} and test_split {t} must each be in [0, 1) and leave rows to train on"
        )));
    }
    Ok(())
}

/// State of one event stream.
struct Follow {
    /// Its place among the open streams, given back when the stream is dropped.
    _permit: OwnedSemaphorePermit,
    platform: Platform,
    id: JobId,
    after: i64,
    pending: VecDeque<JobEvent>,
    changes: broadcast::Receiver<JobId>,
    done: bool,
}

impl Follow {
    async fn next(&mut self) -> Option<Result<JobEvent, ServiceError>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.after = event.seq;
                return Some(Ok(event));
            }
            if self.done || self.platform.stopping() {
                return None;
            }
            let store = self.platform.store();
            // Read the state before the events: if it is final, every event is already written.
            let finished = match store.job(&self.id).await {
                Ok(job) => job.state.is_final(),
                Err(e) => return self.fail(e.into()),
            };
            match store.events_after(&self.id, self.after).await {
                Ok(events) if !events.is_empty() => self.pending.extend(events),
                Ok(_) if finished => return None,
                Ok(_) => self.wait().await,
                Err(e) => return self.fail(e.into()),
            }
            self.done = finished;
        }
    }

    async fn wait(&mut self) {
        let deadline = tokio::time::sleep(EVENT_POLL);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                changed = self.changes.recv() => match changed {
                    Ok(id) if id != self.id => continue,
                    // Ours, or missed messages (lagged): look again.
                    _ => return,
                },
            }
        }
    }

    fn fail(&mut self, e: ServiceError) -> Option<Result<JobEvent, ServiceError>> {
        self.done = true;
        Some(Err(e))
    }
}
