//! The model update loop's watch: a monitoring policy per model, checked on its interval
//! against the latest window of predictions (quality once enough labels arrived, drift of the
//! inputs); a breach is recorded as a model event and counted. `rollback` restores the previous
//! champion.

use crate::monitor::WindowSpec;
use crate::{Platform, ServiceError, now_ms};
use aiaas_monitor::{Breach, MonitorPolicy, breaches, default_interval, quality_report};
use aiaas_store::ModelEvent;
use aiaas_types::{JobSpec, JobState, ModelName, Resource, RetrainJob, Version};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;

/// How often the loop looks for policies that are due.
const TICK: Duration = Duration::from_secs(1);
/// How often the prediction log's retention runs.
const RETENTION_EVERY: Duration = Duration::from_secs(300);
/// How often the database's write-ahead log is copied back and truncated.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(60);
/// How long a process that took a due policy has to check it before another may take it.
const CHECK_HOLD_MS: i64 = 300_000;

/// A policy with the time of its next check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyState {
    pub model: ModelName,
    pub policy: MonitorPolicy,
    /// ms since the Unix epoch.
    pub next_check_ms: i64,
}

impl Platform {
    /// Sets the monitoring policy of `model` (checked at once, then on its interval).
    pub async fn set_policy(
        &self,
        model: &ModelName,
        policy: MonitorPolicy,
    ) -> Result<PolicyState, ServiceError> {
        policy.validate().map_err(ServiceError::Invalid)?;
        self.model(model).await?;
        let json = serde_json::to_value(&policy).expect("a policy serializes");
        self.store().set_policy(model, &json).await?;
        self.policy(model).await
    }

    /// The monitoring policy of `model`.
    pub async fn policy(&self, model: &ModelName) -> Result<PolicyState, ServiceError> {
        let record = self.store().policy(model).await?.ok_or_else(|| {
            ServiceError::NotFound(
                Resource::Policy,
                format!("model \"{model}\" has no monitoring policy"),
            )
        })?;
        Ok(PolicyState {
            model: record.model,
            policy: serde_json::from_value(record.policy)
                .map_err(|e| ServiceError::Corrupt(format!("{model}'s policy: {e}")))?,
            next_check_ms: record.next_check_ms,
        })
    }

    pub async fn delete_policy(&self, model: &ModelName) -> Result<(), ServiceError> {
        Ok(self.store().delete_policy(model).await?)
    }

    /// `model`'s events (breaches, rollbacks) after sequence number `after`.
    pub async fn model_events(
        &self,
        model: &ModelName,
        after: i64,
    ) -> Result<Vec<ModelEvent>, ServiceError> {
        self.model(model).await?;
        Ok(self.store().model_events(model, after).await?)
    }

    /// Restores the previous champion: swaps the aliases `champion` and `previous` (serving
    /// follows at once) and records a `rolled_back` event. Returns `(from, to)`.
    pub async fn rollback(&self, model: &ModelName) -> Result<(Version, Version), ServiceError> {
        self.model(model).await?;
        let (from, to) = self.store().rollback(model).await?;
        self.store()
            .append_model_event(model, "rolled_back", &json!({"from": from, "to": to}))
            .await?;
        tracing::info!(model = %model, %from, %to, "rolled back");
        self.model_changed(model);
        Ok((from, to))
    }

    /// Checks `model` against `policy` now; records and returns the breaches.
    pub async fn check_policy(
        &self,
        model: &ModelName,
        policy: &MonitorPolicy,
    ) -> Result<Vec<Breach>, ServiceError> {
        let window = WindowSpec {
            version: None,
            since: None,
            last: Some(policy.window),
            reference: None,
        };
        // One read of the window for both checks.
        let (version, rows) = self.window_rows(model, &window).await?;
        let (target, training) = self.target(model, version).await?;
        // No labels yet, or no predictions: nothing to judge, not an error.
        let quality = quality_report(model, version, &target, training, &rows).ok();
        // Against the training profile, or an imported classifier's first logged rows.
        let drift = match policy.drift_share > 0.0 {
            true => self.drift_of(model, version, &rows, None).await.ok(),
            false => None,
        };
        let breaches = breaches(policy, quality.as_ref(), drift.as_ref());
        for b in &breaches {
            let data = serde_json::to_value(b).expect("a breach serializes");
            self.store()
                .append_model_event(model, "breach", &data)
                .await?;
            metrics::counter!("aiaas_monitor_breaches_total", "model" => model.to_string(), "reason" => b.reason.clone())
                .increment(1);
            tracing::warn!(model = %model, reason = %b.reason, value = b.value, limit = b.limit, "monitoring policy breached");
        }
        if !breaches.is_empty() && policy.auto_retrain {
            self.start_retrain(model, policy.promote_margin).await?;
        }
        Ok(breaches)
    }

    /// Queues a retrain of `model`'s champion unless one is queued or running; records
    /// `retrain_started` (or `retrain_refused`, with the reason) as a model event.
    async fn start_retrain(&self, model: &ModelName, margin: f64) -> Result<(), ServiceError> {
        let mut pending = self.jobs(Some(JobState::Queued)).await?;
        pending.extend(self.jobs(Some(JobState::Running)).await?);
        if pending
            .iter()
            .any(|j| &j.model == model && matches!(j.spec, JobSpec::Retrain(_)))
        {
            return Ok(());
        }
        let spec = JobSpec::Retrain(RetrainJob {
            model: model.clone(),
            version: None,
            margin: Some(margin),
        });
        let (kind, data) = match self.submit_job(spec).await {
            Ok(job) => ("retrain_started", json!({"job": job.id})),
            Err(e) => ("retrain_refused", json!({"error": e.to_string()})),
        };
        self.store().append_model_event(model, kind, &data).await?;
        Ok(())
    }

    /// The background loop, until shutdown: due policies (and on a shared database, jobs whose
    /// lease expired) every tick, the retention of the prediction log and of the audit log
    /// every [`RETENTION_EVERY`].
    pub(crate) async fn update_loop(self) {
        let mut last_retention: Option<std::time::Instant> = None;
        let mut last_checkpoint = std::time::Instant::now();
        while !self.stopping() {
            if let Err(e) = self.check_due().await {
                tracing::warn!(error = %e, "could not check monitoring policies");
            }
            if self.store().is_shared()
                && let Err(e) = self.requeue_expired().await
            {
                tracing::warn!(error = %e, "could not requeue jobs whose lease expired");
            }
            // Sweeps settle when their last trial ends; this catches one whose settling was cut
            // short (its worker died in between).
            if let Err(e) = self.settle_sweeps().await {
                tracing::warn!(error = %e, "could not settle sweeps");
            }
            if last_retention.is_none_or(|at| at.elapsed() >= RETENTION_EVERY) {
                last_retention = Some(std::time::Instant::now());
                if let Err(e) = self.apply_retention().await {
                    tracing::warn!(error = %e, "could not apply prediction retention");
                }
                if let Err(e) = self.apply_audit_retention().await {
                    tracing::warn!(error = %e, "could not apply audit retention");
                }
            }
            if last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
                last_checkpoint = std::time::Instant::now();
                match self.store().checkpoint().await {
                    Ok(true) => {}
                    Ok(false) => tracing::debug!("checkpoint incomplete: a reader holds the log"),
                    Err(e) => tracing::warn!(error = %e, "could not checkpoint the database"),
                }
            }
            // Shutdown wakes the loop: it ends without waiting out a tick.
            let _ = tokio::time::timeout(TICK, self.inner.stop.notified()).await;
        }
    }

    async fn check_due(&self) -> Result<(), ServiceError> {
        for record in self
            .store()
            .claim_due_policies(now_ms(), CHECK_HOLD_MS)
            .await?
        {
            let model = record.model.clone();
            let next = match serde_json::from_value::<MonitorPolicy>(record.policy) {
                Ok(policy) => {
                    if let Err(e) = self.check_policy(&model, &policy).await {
                        tracing::warn!(model = %model, error = %e, "monitoring check failed");
                    }
                    policy.check_interval_s
                }
                Err(e) => {
                    tracing::warn!(model = %model, error = %e, "unreadable monitoring policy");
                    default_interval()
                }
            };
            let next_ms = now_ms() + i64::try_from(next * 1000).unwrap_or(i64::MAX / 2);
            self.store().set_next_check(&model, next_ms).await?;
        }
        Ok(())
    }
}
