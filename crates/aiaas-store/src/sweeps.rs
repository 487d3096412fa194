//! Hyperparameter sweeps: a sweep row and its trials, train jobs that carry its id.
//!
//! A sweep is created with all its trials in one transaction and stays `running` until none of
//! them is queued or running. Each trial that succeeds records its score and its bundle (one
//! archive blob, [`Store::set_trial_output`]); whoever sees the last trial end
//! ([`Store::unsettled_sweeps`]) publishes the best and ends the sweep ([`Store::finish_sweep`],
//! which only one caller wins). Cancelling a sweep cancels its trials.

use crate::Store;
use crate::blobs::check_digest;
use crate::db::{DbRow, col, json, name, now_ms, opt_int, opt_name, to_json};
use crate::error::{Result, StoreError};
use crate::jobs::{
    JOB_COLUMNS, JobRecord, insert_event, insert_job, job_from_row, job_in, new_id, not_running,
};
use aiaas_types::{
    DatasetName, JobId, JobSpec, JobState, ModelName, Resource, SweepId, SweepMetric, SweepSpec,
    Version,
};
use serde::{Deserialize, Serialize};

/// A sweep as stored.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepRecord {
    /// Its id.
    pub id: SweepId,
    /// `running` until every trial has ended, then `succeeded` (the best trial registered),
    /// `failed` (no trial succeeded) or `cancelled`.
    pub state: JobState,
    /// What it was asked to do.
    pub spec: SweepSpec,
    /// Dataset every trial trains on.
    pub dataset: DatasetName,
    /// The model the best trial is registered under.
    pub model: ModelName,
    /// What trials are compared by, on the validation split.
    pub metric: SweepMetric,
    /// Why it failed.
    pub error: Option<String>,
    /// The best trial and the version it became.
    pub result: Option<SweepResult>,
    /// When it was queued (ms since the Unix epoch).
    pub created_at_ms: i64,
    /// When it ended.
    pub finished_at_ms: Option<i64>,
}

/// What a succeeded sweep registered.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepResult {
    /// The best trial.
    pub trial: JobId,
    /// The version of the sweep's model it was registered as.
    pub version: Version,
}

const SWEEP_COLUMNS: &str = "id, state, spec_json, dataset, model, metric, error, \
     result_version, result_job, created_at_ms, finished_at_ms";

fn sweep_from_row(row: &DbRow) -> Result<SweepRecord> {
    let parse = |column: &str, text: String| {
        StoreError::Invalid(format!("column {column}: cannot read {text:?}"))
    };
    let state: String = col(row, "state")?;
    let metric: String = col(row, "metric")?;
    let trial: Option<JobId> = opt_name(row, "result_job")?;
    let version: Option<Version> = opt_int(row, "result_version")?;
    Ok(SweepRecord {
        id: name(row, "id")?,
        state: state.parse().map_err(|_| parse("state", state.clone()))?,
        spec: json(row, "spec_json")?,
        dataset: name(row, "dataset")?,
        model: name(row, "model")?,
        metric: metric
            .parse()
            .map_err(|_| parse("metric", metric.clone()))?,
        error: col(row, "error")?,
        result: trial
            .zip(version)
            .map(|(trial, version)| SweepResult { trial, version }),
        created_at_ms: col(row, "created_at_ms")?,
        finished_at_ms: col(row, "finished_at_ms")?,
    })
}

fn sweep_not_found(id: &SweepId) -> StoreError {
    StoreError::NotFound(Resource::Sweep, format!("sweep \"{id}\" not found"))
}

impl Store {
    /// Creates a sweep and queues one train job per entry of `trials`, in one transaction.
    pub async fn create_sweep(
        &self,
        spec: &SweepSpec,
        metric: SweepMetric,
        trials: &[JobSpec],
    ) -> Result<(SweepRecord, Vec<JobRecord>)> {
        let id = SweepId::new(new_id("sweep")).expect("a generated sweep id is a valid name");
        let (dataset, model) = (&spec.dataset, spec.model_name());
        let mut w = self.db.write().await?;
        let sql = format!(
            "INSERT INTO sweeps (id, state, spec_json, dataset, model, metric, created_at_ms) \
             VALUES ($1, 'running', $2, $3, $4, $5, $6) RETURNING {SWEEP_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(id.as_str())
            .bind(to_json(spec)?)
            .bind(dataset.as_str())
            .bind(model.as_str())
            .bind(metric.as_str())
            .bind(now_ms())
            .fetch_one(&mut *w.tx)
            .await?;
        let sweep = sweep_from_row(&row)?;
        let mut jobs = Vec::with_capacity(trials.len());
        for trial in trials {
            jobs.push(insert_job(&mut w.tx, trial, dataset, &model, Some(&id)).await?);
        }
        w.commit().await?;
        tracing::info!(sweep = %id, trials = jobs.len(), %dataset, "sweep queued");
        Ok((sweep, jobs))
    }

    /// One sweep, or [`StoreError::NotFound`].
    pub async fn sweep(&self, id: &SweepId) -> Result<SweepRecord> {
        let sql = format!("SELECT {SWEEP_COLUMNS} FROM sweeps WHERE id = $1");
        match sqlx::query(&sql)
            .bind(id.as_str())
            .fetch_optional(&self.db.pool)
            .await?
        {
            Some(row) => sweep_from_row(&row),
            None => Err(sweep_not_found(id)),
        }
    }

    /// Every sweep, newest first.
    pub async fn sweeps(&self) -> Result<Vec<SweepRecord>> {
        let sql =
            format!("SELECT {SWEEP_COLUMNS} FROM sweeps ORDER BY created_at_ms DESC, id DESC");
        let rows = sqlx::query(&sql).fetch_all(&self.db.pool).await?;
        rows.iter().map(sweep_from_row).collect()
    }

    /// A sweep and its trials, in the order they were queued; [`StoreError::NotFound`] if there
    /// is no such sweep.
    pub async fn sweep_with_trials(&self, id: &SweepId) -> Result<(SweepRecord, Vec<JobRecord>)> {
        let sweep = self.sweep(id).await?;
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE sweep_id = $1 ORDER BY created_at_ms, id"
        );
        let rows = sqlx::query(&sql)
            .bind(id.as_str())
            .fetch_all(&self.db.pool)
            .await?;
        let trials = rows.iter().map(job_from_row).collect::<Result<_>>()?;
        Ok((sweep, trials))
    }

    /// Records what a running trial trained: its score and its bundle's archive blob. Returns
    /// the digest it replaces (a trial run again after its worker died), for the caller to
    /// collect.
    pub async fn set_trial_output(
        &self,
        id: &JobId,
        digest: &str,
        score: f64,
    ) -> Result<Option<String>> {
        check_digest(digest)?;
        let mut w = self.db.write().await?;
        let job = job_in(&mut *w.tx, id).await?;
        if job.state != JobState::Running {
            return Err(not_running(&job, "record a trial's output"));
        }
        if job.sweep.is_none() {
            return Err(StoreError::InvalidArgument(format!(
                "job \"{id}\" is not a trial of a sweep"
            )));
        }
        sqlx::query("UPDATE jobs SET output_digest = $1, score = $2 WHERE id = $3")
            .bind(digest)
            .bind(score)
            .bind(id.as_str())
            .execute(&mut *w.tx)
            .await?;
        w.commit().await?;
        Ok(job.output_digest.filter(|previous| previous != digest))
    }

    /// Cancels a running sweep: its queued trials are cancelled at once, its running ones asked
    /// to stop. [`StoreError::Conflict`] if it already ended.
    pub async fn cancel_sweep(&self, id: &SweepId) -> Result<SweepRecord> {
        let mut w = self.db.write().await?;
        let sql = format!(
            "UPDATE sweeps SET state = 'cancelled', finished_at_ms = $1 \
             WHERE id = $2 AND state = 'running' RETURNING {SWEEP_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(now_ms())
            .bind(id.as_str())
            .fetch_optional(&mut *w.tx)
            .await?;
        let Some(row) = row else {
            drop(w);
            let sweep = self.sweep(id).await?;
            return Err(StoreError::Conflict(format!(
                "sweep \"{id}\" already {}; there is nothing to cancel",
                sweep.state
            )));
        };
        let sql = "UPDATE jobs SET \
                 state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END, \
                 finished_at_ms = CASE WHEN state = 'queued' THEN $1 ELSE finished_at_ms END, \
                 cancel_requested = CASE WHEN state = 'running' THEN 1 ELSE cancel_requested END \
             WHERE sweep_id = $2 AND state IN ('queued', 'running') \
             RETURNING id, state";
        let touched = sqlx::query(sql)
            .bind(now_ms())
            .bind(id.as_str())
            .fetch_all(&mut *w.tx)
            .await?;
        for job in &touched {
            let (job, state): (JobId, String) = (name(job, "id")?, col(job, "state")?);
            let event = if state == "cancelled" {
                "cancelled"
            } else {
                "cancel_requested"
            };
            let data = serde_json::json!({ "sweep": id });
            insert_event(&mut *w.tx, &job, event, &data).await?;
        }
        w.commit().await?;
        tracing::info!(sweep = %id, trials = touched.len(), "sweep cancelled");
        sweep_from_row(&row)
    }

    /// Running sweeps none of whose trials is queued or running: they wait for their best
    /// trial to be published.
    pub async fn unsettled_sweeps(&self) -> Result<Vec<SweepId>> {
        let rows = sqlx::query(
            "SELECT id FROM sweeps WHERE state = 'running' AND NOT EXISTS ( \
                 SELECT 1 FROM jobs WHERE jobs.sweep_id = sweeps.id \
                     AND jobs.state IN ('queued', 'running')) \
             ORDER BY created_at_ms, id",
        )
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter().map(|row| name(row, "id")).collect()
    }

    /// Ends a running sweep in `state` with its error or result. `None` when it is no longer
    /// running (another process settled or cancelled it first).
    pub async fn finish_sweep(
        &self,
        id: &SweepId,
        state: JobState,
        error: Option<&str>,
        result: Option<&SweepResult>,
    ) -> Result<Option<SweepRecord>> {
        if !state.is_final() {
            return Err(StoreError::InvalidArgument(format!(
                "a sweep finishes as succeeded, failed or cancelled, not {state}"
            )));
        }
        let mut w = self.db.write().await?;
        let sql = format!(
            "UPDATE sweeps SET state = $1, error = $2, result_version = $3, result_job = $4, \
                 finished_at_ms = $5 \
             WHERE id = $6 AND state = 'running' RETURNING {SWEEP_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(state.as_str())
            .bind(error)
            .bind(result.map(|r| i64::from(r.version)))
            .bind(result.map(|r| r.trial.as_str()))
            .bind(now_ms())
            .bind(id.as_str())
            .fetch_optional(&mut *w.tx)
            .await?;
        w.commit().await?;
        row.map(|row| sweep_from_row(&row)).transpose()
    }
}
