//! Who runs a job: a worker claims the oldest queued one and holds a lease on it, renewed by
//! heartbeats. When the server that owns the database starts, [`Store::requeue_interrupted`]
//! puts the jobs a crash left `running` back in the queue, with their checkpoint, so they resume
//! where they stopped; with several workers on one database, [`Store::requeue_expired`] does so
//! for the jobs whose worker went quiet for a lease.

use crate::Store;
use crate::db::{Backend, Db, col, name, now_ms};
use crate::error::{Result, StoreError};
use crate::jobs::{JOB_COLUMNS, JobRecord, insert_event, job_from_row, job_in, not_running};
use aiaas_types::{JobId, JobState};

/// A job found `running` at start-up this many times is failed instead of retried.
pub const MAX_INTERRUPTIONS: i64 = 3;

/// Puts job `id` back in the queue, free for any worker to claim; it keeps its checkpoint.
async fn back_to_queue<'e, E>(executor: E, id: &JobId) -> Result<()>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    sqlx::query(
        "UPDATE jobs SET state = 'queued', lease_owner = NULL, heartbeat_at_ms = NULL \
         WHERE id = $1",
    )
    .bind(id.as_str())
    .execute(executor)
    .await?;
    Ok(())
}

/// How many times job `id` was found running after its process died.
async fn interruptions<'e, E>(executor: E, id: &JobId) -> Result<i64>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    let row =
        sqlx::query("SELECT COUNT(*) AS n FROM job_events WHERE job_id = $1 AND kind = 'requeued'")
            .bind(id.as_str())
            .fetch_one(executor)
            .await?;
    col(&row, "n")
}

impl Store {
    /// Moves the oldest queued job to `running` for `worker` and returns it, or `None` if the
    /// queue is empty. Atomic: two workers never claim the same job. Counts an attempt, sets the
    /// lease and heartbeat, and logs a `started` event.
    pub async fn claim_job(&self, worker: &str) -> Result<Option<JobRecord>> {
        let now = now_ms();
        // PostgreSQL: workers on several nodes skip each other's rows (`SKIP LOCKED`) instead
        // of queueing behind the write lock; SQLite has one writer at a time anyway.
        let mut w = self.db.batch().await?;
        let skip_locked = match self.db.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, \
                 started_at_ms = COALESCE(started_at_ms, $1), lease_owner = $2, \
                 heartbeat_at_ms = $1 \
             WHERE id = (SELECT id FROM jobs WHERE state = 'queued' \
                         ORDER BY created_at_ms, id LIMIT 1{skip_locked}) \
               AND state = 'queued' \
             RETURNING {JOB_COLUMNS}"
        );
        let Some(row) = sqlx::query(&sql)
            .bind(now)
            .bind(worker)
            .fetch_optional(&mut *w.tx)
            .await?
        else {
            return Ok(None);
        };
        let job = job_from_row(&row)?;
        let data = serde_json::json!({
            "worker": worker,
            "attempt": job.attempts,
            "resume_from_epoch": job.checkpoint_epoch,
        });
        insert_event(&mut *w.tx, &job.id, "started", &data).await?;
        w.commit().await?;
        tracing::info!(job = %job.id, worker, attempt = job.attempts, "job claimed");
        Ok(Some(job))
    }

    /// At the start of a server that owns the database (SQLite): every `running` job was
    /// interrupted, so it goes back to `queued` (keeping its checkpoint) with a `requeued` event;
    /// one whose cancel was requested becomes `cancelled` instead. Returns the requeued ids.
    pub async fn requeue_interrupted(&self) -> Result<Vec<JobId>> {
        self.requeue_running(i64::MAX).await
    }

    /// With several workers on one database: the `running` jobs whose worker has not sent a
    /// heartbeat for `lease` are taken to have died with it and are requeued as
    /// [`Store::requeue_interrupted`] does; another worker resumes each from its checkpoint.
    pub async fn requeue_expired(&self, lease: std::time::Duration) -> Result<Vec<JobId>> {
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        self.requeue_running(now_ms().saturating_sub(lease_ms))
            .await
    }

    /// Requeues the running jobs whose last heartbeat is before `heartbeat_before` (ms).
    async fn requeue_running(&self, heartbeat_before: i64) -> Result<Vec<JobId>> {
        let now = now_ms();
        let mut w = self.db.write().await?;
        let rows = sqlx::query(
            "SELECT id, cancel_requested, checkpoint_epoch FROM jobs WHERE state = 'running' \
             AND COALESCE(heartbeat_at_ms, 0) < $1 ORDER BY created_at_ms, id",
        )
        .bind(heartbeat_before)
        .fetch_all(&mut *w.tx)
        .await?;
        let mut requeued = Vec::new();
        for row in &rows {
            let id: JobId = name(row, "id")?;
            let checkpoint_epoch: Option<i64> = col(row, "checkpoint_epoch")?;
            if col::<i64>(row, "cancel_requested")? != 0 {
                sqlx::query(
                    "UPDATE jobs SET state = 'cancelled', finished_at_ms = $1, lease_owner = NULL \
                     WHERE id = $2",
                )
                .bind(now)
                .bind(id.as_str())
                .execute(&mut *w.tx)
                .await?;
                let data = serde_json::json!({ "reason": "cancel requested before a restart" });
                insert_event(&mut *w.tx, &id, "cancelled", &data).await?;
            } else if interruptions(&mut *w.tx, &id).await? + 1 >= MAX_INTERRUPTIONS {
                // A job that keeps dying with its process is likely what kills it (memory):
                // retrying it forever would keep the server from ever coming up.
                let error = format!(
                    "the server stopped without shutting down {MAX_INTERRUPTIONS} times while this \
                     job ran; it is not retried again (out of memory? try a smaller model)"
                );
                sqlx::query(
                    "UPDATE jobs SET state = 'failed', error = $1, finished_at_ms = $2, \
                         lease_owner = NULL WHERE id = $3",
                )
                .bind(&error)
                .bind(now)
                .bind(id.as_str())
                .execute(&mut *w.tx)
                .await?;
                let data = serde_json::json!({ "error": error });
                insert_event(&mut *w.tx, &id, "failed", &data).await?;
            } else {
                back_to_queue(&mut *w.tx, &id).await?;
                let data = serde_json::json!({ "checkpoint_epoch": checkpoint_epoch });
                insert_event(&mut *w.tx, &id, "requeued", &data).await?;
                requeued.push(id);
            }
        }
        w.commit().await?;
        if !requeued.is_empty() {
            tracing::info!(count = requeued.len(), "requeued interrupted jobs");
        }
        Ok(requeued)
    }

    /// Puts running job `id` back in the queue because its worker is shutting down cleanly
    /// (after saving a checkpoint); it resumes on the next claim. A `suspended` event records
    /// it, which is how a clean stop is told apart from a crash.
    pub async fn suspend_job(&self, id: &JobId) -> Result<JobRecord> {
        let mut w = self.db.write().await?;
        let job = job_in(&mut *w.tx, id).await?;
        if job.state != JobState::Running {
            return Err(not_running(&job, "suspend it"));
        }
        back_to_queue(&mut *w.tx, id).await?;
        let data = serde_json::json!({ "checkpoint_epoch": job.checkpoint_epoch });
        insert_event(&mut *w.tx, id, "suspended", &data).await?;
        let job = job_in(&mut *w.tx, id).await?;
        w.commit().await?;
        Ok(job)
    }

    /// Records that `worker`, running job `id`, is alive. [`StoreError::Conflict`] if the job
    /// is not running or another worker holds it now (its lease expired): the worker should
    /// stop without recording anything more.
    pub async fn heartbeat(&self, id: &JobId, worker: &str) -> Result<()> {
        let done = sqlx::query(
            "UPDATE jobs SET heartbeat_at_ms = $1 \
             WHERE id = $2 AND state = 'running' AND lease_owner = $3",
        )
        .bind(now_ms())
        .bind(id.as_str())
        .bind(worker)
        .execute(&self.db.pool)
        .await?;
        if done.rows_affected() == 0 {
            let job = self.job(id).await?;
            if job.state == JobState::Running {
                return Err(StoreError::Conflict(format!(
                    "job {id} is running on {}, not on {worker}: its lease expired",
                    job.lease_owner.as_deref().unwrap_or("no worker")
                )));
            }
            return Err(not_running(&job, "heartbeat"));
        }
        Ok(())
    }
}
