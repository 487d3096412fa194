//! The job queue: job rows with their state, lease, heartbeat, progress and checkpoint; an
//! append-only event log per job; and a metric row per epoch.
//!
//! States go `queued -> running -> succeeded | failed | cancelled`. A worker claims the oldest
//! queued job ([`Store::claim_job`]), heartbeats, records epochs and checkpoints, and finishes it.
//! Who runs a job, and what happens when its worker dies, is in `leases.rs`.

use crate::Store;
use crate::blobs::check_digest;
use crate::db::{Db, DbRow, col, int, json, name, now_ms, opt_int, opt_json, opt_name, to_json};
use crate::error::{Result, StoreError};
use aiaas_types::{DatasetName, JobId, JobSpec, JobState, ModelName, Resource, SweepId, Version};
use serde::{Deserialize, Serialize};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// A job as stored.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Its id.
    pub id: JobId,
    /// What the job does (`train`), the `kind` tag of its spec.
    pub kind: String,
    /// Where it is in its life.
    pub state: JobState,
    /// What it was asked to do.
    pub spec: JobSpec,
    /// Dataset it reads.
    pub dataset: DatasetName,
    /// Model it publishes to.
    pub model: ModelName,
    /// Why it failed.
    pub error: Option<String>,
    /// The last finished epoch.
    pub progress: Option<EpochRow>,
    /// The version it published.
    pub result: Option<JobResult>,
    /// Blob of the last checkpoint, to resume from.
    pub checkpoint_digest: Option<String>,
    /// Epochs completed when that checkpoint was taken.
    pub checkpoint_epoch: Option<u32>,
    /// How many times a worker claimed it.
    pub attempts: u32,
    /// A cancel was asked for while it ran; the worker should stop.
    pub cancel_requested: bool,
    /// Worker that holds it while it runs.
    pub lease_owner: Option<String>,
    /// Last sign of life of its worker (ms since the Unix epoch).
    pub heartbeat_at_ms: Option<i64>,
    /// When it was queued.
    pub created_at_ms: i64,
    /// When a worker first claimed it.
    pub started_at_ms: Option<i64>,
    /// When it reached a final state.
    pub finished_at_ms: Option<i64>,
    /// The sweep it is a trial of.
    pub sweep: Option<SweepId>,
    /// A finished trial's score: its sweep's metric on the validation split.
    pub score: Option<f64>,
    /// A finished trial's bundle, one archive blob, kept while its sweep runs.
    pub output_digest: Option<String>,
}

/// The version a succeeded job published.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobResult {
    /// The model it published to.
    pub model: ModelName,
    /// The version number it got.
    pub version: Version,
}

/// One finished epoch: the job's progress and one line of its metric history.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRow {
    /// 1-based epoch just finished.
    pub epoch: u32,
    /// Epochs planned.
    pub epochs: u32,
    /// Mean training loss of the epoch.
    pub train_loss: f64,
    /// Validation loss, when there is a validation split.
    pub val_loss: Option<f64>,
    /// Validation accuracy (classification) or R2 (regression).
    pub val_metric: Option<f64>,
    /// Learning rate used in the epoch.
    pub lr: f64,
}

/// One entry of a job's event log.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobEvent {
    /// 1, 2, ... in the order the events were appended.
    pub seq: i64,
    /// When it was appended (ms since the Unix epoch).
    pub at_ms: i64,
    /// `queued`, `started`, `epoch`, `checkpoint`, `requeued`, `cancel_requested`, `succeeded`,
    /// `failed`, `cancelled`, or whatever a caller appends.
    pub kind: String,
    /// Details, by kind.
    pub data: serde_json::Value,
}

fn event_from_row(row: &DbRow) -> Result<JobEvent> {
    Ok(JobEvent {
        seq: col(row, "seq")?,
        at_ms: col(row, "at_ms")?,
        kind: col(row, "kind")?,
        data: json(row, "data_json")?,
    })
}

pub(crate) const JOB_COLUMNS: &str = "id, kind, state, spec_json, dataset, model, error, progress_json, \
     result_model, result_version, checkpoint_digest, checkpoint_epoch, attempts, \
     cancel_requested, lease_owner, heartbeat_at_ms, created_at_ms, started_at_ms, finished_at_ms, \
     sweep_id, score, output_digest";

pub(crate) fn job_from_row(row: &DbRow) -> Result<JobRecord> {
    let state: String = col(row, "state")?;
    let state = state
        .parse()
        .map_err(|e| StoreError::Invalid(format!("column state: {e}")))?;
    let result_model: Option<ModelName> = opt_name(row, "result_model")?;
    let result_version: Option<Version> = opt_int(row, "result_version")?;
    Ok(JobRecord {
        id: name(row, "id")?,
        kind: col(row, "kind")?,
        state,
        spec: json(row, "spec_json")?,
        dataset: name(row, "dataset")?,
        model: name(row, "model")?,
        error: col(row, "error")?,
        progress: opt_json(row, "progress_json")?,
        result: result_model
            .zip(result_version)
            .map(|(model, version)| JobResult { model, version }),
        checkpoint_digest: col(row, "checkpoint_digest")?,
        checkpoint_epoch: opt_int(row, "checkpoint_epoch")?,
        attempts: int(row, "attempts")?,
        cancel_requested: col::<i64>(row, "cancel_requested")? != 0,
        lease_owner: col(row, "lease_owner")?,
        heartbeat_at_ms: col(row, "heartbeat_at_ms")?,
        created_at_ms: col(row, "created_at_ms")?,
        started_at_ms: col(row, "started_at_ms")?,
        finished_at_ms: col(row, "finished_at_ms")?,
        sweep: opt_name(row, "sweep_id")?,
        score: col(row, "score")?,
        output_digest: col(row, "output_digest")?,
    })
}

/// A new job id: `job-` + 13 hex digits of the creation time in ms + 6 random hex digits.
///
/// Ids sort by creation time, and within one process strictly increase (the time part is bumped
/// when two ids fall in one millisecond), so ordering by `(created_at_ms, id)` is first come,
/// first served.
fn new_job_id() -> JobId {
    JobId::new(new_id("job")).expect("a generated job id is a valid name")
}

/// `<prefix>-` + 13 hex digits of the time in ms + 6 random hex digits (see [`new_job_id`]).
pub(crate) fn new_id(prefix: &str) -> String {
    static LAST_MS: AtomicI64 = AtomicI64::new(0);
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = now_ms();
    let prev = LAST_MS
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
            Some(if now > last { now } else { last + 1 })
        })
        .unwrap_or(now);
    let ms = if now > prev { now } else { prev + 1 };
    // std's RandomState is seeded from the OS per thread and varies per instance: enough to keep
    // ids of processes that share a database apart, without a `rand` dependency.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_i64(ms);
    hasher.write_u32(std::process::id());
    let random = hasher.finish() & 0xff_ffff;
    format!(
        "{prefix}-{:013x}{random:06x}",
        ms as u64 & 0xf_ffff_ffff_ffff
    )
}

/// The `kind` tag of a spec (`train`).
fn spec_kind(spec: &JobSpec) -> Result<String> {
    let value = serde_json::to_value(spec)
        .map_err(|e| StoreError::Invalid(format!("cannot encode the job spec: {e}")))?;
    value
        .get("kind")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| StoreError::Invalid("the job spec has no kind".to_string()))
}

/// Appends an event in one statement: the sequence number is computed inside the INSERT. Callers
/// run it in a write transaction (SQLite's write lock, PostgreSQL's advisory lock), or, for a
/// claim, holding the job's row lock, so concurrent appends never share a number.
/// `None` if the job does not exist.
pub(crate) async fn insert_event<'e, E>(
    executor: E,
    id: &JobId,
    kind: &str,
    data: &serde_json::Value,
) -> Result<Option<JobEvent>>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    let at_ms = now_ms();
    let row = sqlx::query(
        "INSERT INTO job_events (job_id, seq, at_ms, kind, data_json) \
         SELECT id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM job_events WHERE job_id = $1), \
                $2, $3, $4 \
         FROM jobs WHERE id = $1 \
         RETURNING seq",
    )
    .bind(id.as_str())
    .bind(at_ms)
    .bind(kind)
    .bind(to_json(data)?)
    .fetch_optional(executor)
    .await?;
    row.map(|row| {
        Ok(JobEvent {
            seq: col(&row, "seq")?,
            at_ms,
            kind: kind.to_string(),
            data: data.clone(),
        })
    })
    .transpose()
}

/// Inserts a queued job (a trial of `sweep`, if given) and its `queued` event; a clash of
/// generated ids is a [`StoreError::Conflict`].
pub(crate) async fn insert_job(
    tx: &mut sqlx::Transaction<'static, Db>,
    spec: &JobSpec,
    dataset: &DatasetName,
    model: &ModelName,
    sweep: Option<&SweepId>,
) -> Result<JobRecord> {
    let kind = spec_kind(spec)?;
    let id = new_job_id();
    let sql = format!(
        "INSERT INTO jobs (id, kind, state, spec_json, dataset, model, attempts, \
                           cancel_requested, created_at_ms, sweep_id) \
         VALUES ($1, $2, 'queued', $3, $4, $5, 0, 0, $6, $7) RETURNING {JOB_COLUMNS}"
    );
    let inserted = sqlx::query(&sql)
        .bind(id.as_str())
        .bind(&kind)
        .bind(to_json(spec)?)
        .bind(dataset.as_str())
        .bind(model.as_str())
        .bind(now_ms())
        .bind(sweep.map(SweepId::as_str))
        .fetch_one(&mut **tx)
        .await;
    let row = match inserted {
        Ok(row) => row,
        Err(e) if crate::db::is_unique_violation(&e) => {
            return Err(StoreError::Conflict(format!("job id {id} is taken")));
        }
        Err(e) => return Err(e.into()),
    };
    let job = job_from_row(&row)?;
    let data = serde_json::json!({ "kind": kind, "dataset": dataset, "model": model });
    insert_event(&mut **tx, &id, "queued", &data).await?;
    Ok(job)
}

fn job_not_found(id: &JobId) -> StoreError {
    StoreError::NotFound(Resource::Job, format!("job \"{id}\" not found"))
}

/// Reads a job inside a transaction, or NotFound.
pub(crate) async fn job_in<'e, E>(executor: E, id: &JobId) -> Result<JobRecord>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
    match sqlx::query(&sql)
        .bind(id.as_str())
        .fetch_optional(executor)
        .await?
    {
        Some(row) => job_from_row(&row),
        None => Err(job_not_found(id)),
    }
}

/// Conflict for an operation that needs a running job.
pub(crate) fn not_running(job: &JobRecord, what: &str) -> StoreError {
    StoreError::Conflict(format!(
        "cannot {what}: job \"{}\" is {}, not running",
        job.id, job.state
    ))
}

impl Store {
    /// Queues a job and logs a `queued` event. The caller has checked the spec
    /// (`JobSpec::check_fields`) and that the dataset exists.
    pub async fn create_job(
        &self,
        spec: &JobSpec,
        dataset: &DatasetName,
        model: &ModelName,
    ) -> Result<JobRecord> {
        // A clash is practically impossible; retrying once more than needed costs nothing.
        for _ in 0..3 {
            let mut w = self.db.write().await?;
            let job = match insert_job(&mut w.tx, spec, dataset, model, None).await {
                Err(StoreError::Conflict(_)) => continue,
                other => other?,
            };
            w.commit().await?;
            tracing::info!(job = %job.id, kind = %job.kind, %dataset, %model, "job queued");
            return Ok(job);
        }
        Err(StoreError::Conflict(
            "could not generate an unused job id; try again".to_string(),
        ))
    }

    /// Records a finished epoch of a running job: upserts its metric row (a resumed job may redo
    /// an epoch), stores it as the job's progress, refreshes its heartbeat and logs an `epoch`
    /// event. Returns whether a cancel was requested, so the worker learns of it in the same
    /// round trip (also when another process asked).
    pub async fn record_epoch(&self, id: &JobId, row: &EpochRow) -> Result<bool> {
        let mut w = self.db.write().await?;
        let job = job_in(&mut *w.tx, id).await?;
        if job.state != JobState::Running {
            return Err(not_running(&job, "record an epoch"));
        }
        sqlx::query(
            "INSERT INTO job_metrics (job_id, epoch, epochs, train_loss, val_loss, val_metric, lr) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (job_id, epoch) DO UPDATE SET epochs = excluded.epochs, \
                 train_loss = excluded.train_loss, val_loss = excluded.val_loss, \
                 val_metric = excluded.val_metric, lr = excluded.lr",
        )
        .bind(id.as_str())
        .bind(i64::from(row.epoch))
        .bind(i64::from(row.epochs))
        .bind(row.train_loss)
        .bind(row.val_loss)
        .bind(row.val_metric)
        .bind(row.lr)
        .persistent(self.db.cache_optional_f64())
        .execute(&mut *w.tx)
        .await?;
        let progress = serde_json::to_value(row)
            .map_err(|e| StoreError::Invalid(format!("cannot encode epoch: {e}")))?;
        sqlx::query("UPDATE jobs SET progress_json = $1, heartbeat_at_ms = $2 WHERE id = $3")
            .bind(to_json(&progress)?)
            .bind(now_ms())
            .bind(id.as_str())
            .execute(&mut *w.tx)
            .await?;
        insert_event(&mut *w.tx, id, "epoch", &progress).await?;
        w.commit().await?;
        Ok(job.cancel_requested)
    }

    /// Appends an event to a job's log and returns it with its sequence number.
    pub async fn append_event(
        &self,
        id: &JobId,
        kind: &str,
        data: serde_json::Value,
    ) -> Result<JobEvent> {
        // In a write transaction: the next number is read, then taken.
        let mut w = self.db.write().await?;
        let event = insert_event(&mut *w.tx, id, kind, &data)
            .await?
            .ok_or_else(|| job_not_found(id))?;
        w.commit().await?;
        Ok(event)
    }

    /// The events of a job with `seq > after_seq`, in order (`after_seq = 0` for all).
    pub async fn events_after(&self, id: &JobId, after_seq: i64) -> Result<Vec<JobEvent>> {
        let rows = sqlx::query(
            "SELECT seq, at_ms, kind, data_json FROM job_events \
             WHERE job_id = $1 AND seq > $2 ORDER BY seq",
        )
        .bind(id.as_str())
        .bind(after_seq)
        .fetch_all(&self.db.pool)
        .await?;
        if rows.is_empty() {
            // Tell "no new events" from "no such job".
            self.job(id).await?;
        }
        rows.iter().map(event_from_row).collect()
    }

    /// The newest event of `kind` in a job's log, if there is one.
    pub async fn last_event(&self, id: &JobId, kind: &str) -> Result<Option<JobEvent>> {
        let row = sqlx::query(
            "SELECT seq, at_ms, kind, data_json FROM job_events \
             WHERE job_id = $1 AND kind = $2 ORDER BY seq DESC LIMIT 1",
        )
        .bind(id.as_str())
        .bind(kind)
        .fetch_optional(&self.db.pool)
        .await?;
        row.map(|row| event_from_row(&row)).transpose()
    }

    /// The metric rows of a job, by epoch.
    pub async fn metric_history(&self, id: &JobId) -> Result<Vec<EpochRow>> {
        let rows = sqlx::query(
            "SELECT epoch, epochs, train_loss, val_loss, val_metric, lr FROM job_metrics \
             WHERE job_id = $1 ORDER BY epoch",
        )
        .bind(id.as_str())
        .fetch_all(&self.db.pool)
        .await?;
        if rows.is_empty() {
            self.job(id).await?;
        }
        rows.iter()
            .map(|row| {
                Ok(EpochRow {
                    epoch: int(row, "epoch")?,
                    epochs: int(row, "epochs")?,
                    train_loss: col(row, "train_loss")?,
                    val_loss: col(row, "val_loss")?,
                    val_metric: col(row, "val_metric")?,
                    lr: col(row, "lr")?,
                })
            })
            .collect()
    }

    /// Records the checkpoint blob `digest` taken after `completed_epochs` epochs of a running
    /// job, logs a `checkpoint` event, and returns the previous checkpoint's digest when it
    /// differs, so the caller can delete that blob (if [`Store::blob_in_use`] agrees).
    pub async fn set_checkpoint(
        &self,
        id: &JobId,
        digest: &str,
        completed_epochs: u32,
    ) -> Result<Option<String>> {
        check_digest(digest)?;
        let mut w = self.db.write().await?;
        let job = job_in(&mut *w.tx, id).await?;
        if job.state != JobState::Running {
            return Err(not_running(&job, "store a checkpoint"));
        }
        sqlx::query(
            "UPDATE jobs SET checkpoint_digest = $1, checkpoint_epoch = $2, heartbeat_at_ms = $3 \
             WHERE id = $4",
        )
        .bind(digest)
        .bind(i64::from(completed_epochs))
        .bind(now_ms())
        .bind(id.as_str())
        .execute(&mut *w.tx)
        .await?;
        let data = serde_json::json!({ "digest": digest, "epoch": completed_epochs });
        insert_event(&mut *w.tx, id, "checkpoint", &data).await?;
        w.commit().await?;
        Ok(job.checkpoint_digest.filter(|previous| previous != digest))
    }

    /// Ends a running job in `state` (succeeded, failed or cancelled) with an optional error and
    /// published version, and logs the matching final event. Its checkpoint is dropped (the
    /// caller deletes the blob): a finished job never resumes.
    ///
    /// [`StoreError::Conflict`] if the job is not running; [`StoreError::InvalidArgument`] if
    /// `state` is not final.
    pub async fn finish_job(
        &self,
        id: &JobId,
        state: JobState,
        error: Option<&str>,
        result: Option<JobResult>,
    ) -> Result<JobRecord> {
        if !state.is_final() {
            return Err(StoreError::InvalidArgument(format!(
                "a job finishes as succeeded, failed or cancelled, not {state}"
            )));
        }
        let mut w = self.db.write().await?;
        let job = job_in(&mut *w.tx, id).await?;
        if job.state != JobState::Running {
            return Err(not_running(&job, &format!("mark it {state}")));
        }
        let (result_model, result_version) = match &result {
            Some(r) => (Some(r.model.as_str()), Some(i64::from(r.version))),
            None => (None, None),
        };
        let sql = format!(
            "UPDATE jobs SET state = $1, error = $2, result_model = $3, result_version = $4, \
                 finished_at_ms = $5, lease_owner = NULL, checkpoint_digest = NULL \
             WHERE id = $6 RETURNING {JOB_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(state.as_str())
            .bind(error)
            .bind(result_model)
            .bind(result_version)
            .bind(now_ms())
            .bind(id.as_str())
            .fetch_one(&mut *w.tx)
            .await?;
        let job = job_from_row(&row)?;
        let data = serde_json::json!({
            "error": error,
            "model": result_model,
            "version": result_version,
        });
        insert_event(&mut *w.tx, id, state.as_str(), &data).await?;
        w.commit().await?;
        tracing::info!(job = %id, state = %state, "job finished");
        Ok(job)
    }

    /// Cancels a job: a queued one becomes `cancelled` at once; a running one gets
    /// `cancel_requested` set (its worker polls [`Store::cancel_requested`] and then finishes it
    /// as cancelled). [`StoreError::Conflict`] if the job already finished.
    pub async fn request_cancel(&self, id: &JobId) -> Result<JobRecord> {
        let mut w = self.db.write().await?;
        let job = job_in(&mut *w.tx, id).await?;
        let row = match job.state {
            JobState::Queued => {
                let sql = format!(
                    "UPDATE jobs SET state = 'cancelled', finished_at_ms = $1 \
                     WHERE id = $2 RETURNING {JOB_COLUMNS}"
                );
                sqlx::query(&sql)
                    .bind(now_ms())
                    .bind(id.as_str())
                    .fetch_one(&mut *w.tx)
                    .await?
            }
            JobState::Running => {
                let sql = format!(
                    "UPDATE jobs SET cancel_requested = 1 WHERE id = $1 RETURNING {JOB_COLUMNS}"
                );
                sqlx::query(&sql)
                    .bind(id.as_str())
                    .fetch_one(&mut *w.tx)
                    .await?
            }
            done => {
                return Err(StoreError::Conflict(format!(
                    "job \"{id}\" already {done}; there is nothing to cancel"
                )));
            }
        };
        let updated = job_from_row(&row)?;
        let event = if job.state == JobState::Queued {
            "cancelled"
        } else {
            "cancel_requested"
        };
        insert_event(&mut *w.tx, id, event, &serde_json::json!({})).await?;
        w.commit().await?;
        tracing::info!(job = %id, event, "job cancel");
        Ok(updated)
    }

    /// True once a cancel was requested for job `id`.
    pub async fn cancel_requested(&self, id: &JobId) -> Result<bool> {
        let row = sqlx::query("SELECT cancel_requested FROM jobs WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.db.pool)
            .await?;
        match row {
            Some(row) => Ok(col::<i64>(&row, "cancel_requested")? != 0),
            None => Err(job_not_found(id)),
        }
    }

    /// Jobs, newest first, optionally only those in `state`.
    pub async fn jobs(&self, state: Option<JobState>) -> Result<Vec<JobRecord>> {
        let rows = match state {
            Some(state) => {
                let sql = format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE state = $1 \
                     ORDER BY created_at_ms DESC, id DESC"
                );
                sqlx::query(&sql)
                    .bind(state.as_str())
                    .fetch_all(&self.db.pool)
                    .await?
            }
            None => {
                let sql =
                    format!("SELECT {JOB_COLUMNS} FROM jobs ORDER BY created_at_ms DESC, id DESC");
                sqlx::query(&sql).fetch_all(&self.db.pool).await?
            }
        };
        rows.iter().map(job_from_row).collect()
    }

    /// One job, or [`StoreError::NotFound`].
    pub async fn job(&self, id: &JobId) -> Result<JobRecord> {
        job_in(&self.db.pool, id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_have_the_documented_shape_and_increase() {
        let ids: Vec<JobId> = (0..100).map(|_| new_job_id()).collect();
        for id in &ids {
            let s = id.as_str();
            assert_eq!(s.len(), 4 + 13 + 6, "{s}");
            assert!(s.starts_with("job-"));
            assert!(s[4..].bytes().all(|b| b.is_ascii_hexdigit()));
        }
        for pair in ids.windows(2) {
            assert!(pair[0].as_str()[..17] < pair[1].as_str()[..17], "{pair:?}");
        }
    }
}
