//! The model update loop's state: a monitoring policy per model (a JSON document the service
//! layer defines) with the time of its next check, and each model's event history.

use crate::Store;
use crate::db::{DbRow, col, json, name, now_ms, to_json};
use crate::error::{Result, StoreError};
use aiaas_types::{AliasName, LoggingPolicy, ModelName, Resource, Version};
use serde::{Deserialize, Serialize};

/// One event in a model's history (a breach, a retrain, a promotion, a rollback).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelEvent {
    /// 1, 2, ... per model.
    pub seq: i64,
    /// When (ms since the Unix epoch).
    pub at_ms: i64,
    /// What happened.
    pub kind: String,
    /// The details.
    pub data: serde_json::Value,
}

/// A stored policy.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyRecord {
    /// The model it watches.
    pub model: ModelName,
    /// The policy document.
    pub policy: serde_json::Value,
    /// When it is next due (ms since the Unix epoch).
    pub next_check_ms: i64,
}

fn policy_row(row: &DbRow) -> Result<PolicyRecord> {
    Ok(PolicyRecord {
        model: name(row, "model")?,
        policy: json(row, "policy_json")?,
        next_check_ms: col(row, "next_check_ms")?,
    })
}

impl Store {
    /// Sets (or replaces) what the prediction log keeps of `model`'s inputs.
    pub async fn set_logging_policy(
        &self,
        model: &ModelName,
        policy: &LoggingPolicy,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO logging_policies (model, policy_json, updated_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (model) DO UPDATE SET policy_json = excluded.policy_json, \
             updated_at_ms = excluded.updated_at_ms",
        )
        .bind(model.as_str())
        .bind(to_json(policy)?)
        .bind(now_ms())
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    /// Every model's logging policy (models without one keep all inputs).
    pub async fn logging_policies(&self) -> Result<Vec<(ModelName, LoggingPolicy)>> {
        let rows = sqlx::query("SELECT model, policy_json FROM logging_policies")
            .fetch_all(&self.db.pool)
            .await?;
        rows.iter()
            .map(|row| Ok((name(row, "model")?, json(row, "policy_json")?)))
            .collect()
    }

    /// Sets (or replaces) the policy of `model`, due at once.
    pub async fn set_policy(&self, model: &ModelName, policy: &serde_json::Value) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO monitor_policies (model, policy_json, next_check_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $3) ON CONFLICT (model) DO UPDATE SET \
             policy_json = excluded.policy_json, next_check_ms = excluded.next_check_ms, \
             updated_at_ms = excluded.updated_at_ms",
        )
        .bind(model.as_str())
        .bind(to_json(policy)?)
        .bind(now)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    /// The policy of `model`, if it has one.
    pub async fn policy(&self, model: &ModelName) -> Result<Option<PolicyRecord>> {
        let row = sqlx::query(
            "SELECT model, policy_json, next_check_ms FROM monitor_policies WHERE model = $1",
        )
        .bind(model.as_str())
        .fetch_optional(&self.db.pool)
        .await?;
        row.as_ref().map(policy_row).transpose()
    }

    /// Removes the policy of `model`; [`StoreError::NotFound`] if it has none.
    pub async fn delete_policy(&self, model: &ModelName) -> Result<()> {
        let done = sqlx::query("DELETE FROM monitor_policies WHERE model = $1")
            .bind(model.as_str())
            .execute(&self.db.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(
                Resource::Policy,
                format!("model \"{model}\" has no monitoring policy"),
            ));
        }
        Ok(())
    }

    /// Takes the policies due at `now_ms` for this caller: their next check moves `hold_ms`
    /// ahead, so that no other process takes them meanwhile (the caller sets the real next
    /// check when done; if it dies, the policy is due again after `hold_ms`).
    pub async fn claim_due_policies(&self, now_ms: i64, hold_ms: i64) -> Result<Vec<PolicyRecord>> {
        // One statement: of several processes looking at once, each due policy goes to one.
        let rows = sqlx::query(
            "UPDATE monitor_policies SET next_check_ms = $2 WHERE next_check_ms <= $1 \
             RETURNING model, policy_json, next_check_ms",
        )
        .bind(now_ms)
        .bind(now_ms.saturating_add(hold_ms))
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter().map(policy_row).collect()
    }

    /// Moves the next check of `model`'s policy to `at_ms`.
    pub async fn set_next_check(&self, model: &ModelName, at_ms: i64) -> Result<()> {
        sqlx::query("UPDATE monitor_policies SET next_check_ms = $1 WHERE model = $2")
            .bind(at_ms)
            .bind(model.as_str())
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    /// Appends an event to `model`'s history.
    pub async fn append_model_event(
        &self,
        model: &ModelName,
        kind: &str,
        data: &serde_json::Value,
    ) -> Result<ModelEvent> {
        let at_ms = now_ms();
        // One statement: the sequence number is computed under SQLite's write lock.
        let row = sqlx::query(
            "INSERT INTO model_events (model, seq, at_ms, kind, data_json) \
             SELECT $1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM model_events WHERE model = $1), \
                    $2, $3, $4 \
             RETURNING seq",
        )
        .bind(model.as_str())
        .bind(at_ms)
        .bind(kind)
        .bind(to_json(data)?)
        .fetch_one(&self.db.pool)
        .await?;
        Ok(ModelEvent {
            seq: col(&row, "seq")?,
            at_ms,
            kind: kind.to_string(),
            data: data.clone(),
        })
    }

    /// `model`'s events after `after`, oldest first.
    pub async fn model_events(&self, model: &ModelName, after: i64) -> Result<Vec<ModelEvent>> {
        let rows = sqlx::query(
            "SELECT seq, at_ms, kind, data_json FROM model_events \
             WHERE model = $1 AND seq > $2 ORDER BY seq",
        )
        .bind(model.as_str())
        .bind(after)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ModelEvent {
                    seq: col(row, "seq")?,
                    at_ms: col(row, "at_ms")?,
                    kind: col(row, "kind")?,
                    data: json(row, "data_json")?,
                })
            })
            .collect()
    }

    /// Swaps the aliases `champion` and `previous` of `model` in one transaction: the version
    /// that was champion before the last promotion serves again. Returns `(from, to)`.
    pub async fn rollback(&self, model: &ModelName) -> Result<(Version, Version)> {
        let (champion, previous) = (alias("champion"), alias("previous"));
        let mut w = self.db.write().await?;
        let mut get = async |a: &AliasName| -> Result<Option<Version>> {
            let v: Option<i64> =
                sqlx::query_scalar("SELECT version FROM aliases WHERE model = $1 AND alias = $2")
                    .bind(model.as_str())
                    .bind(a.as_str())
                    .fetch_optional(&mut *w.tx)
                    .await?;
            v.map(|v| {
                Version::try_from(v)
                    .map_err(|_| StoreError::Invalid(format!("alias version {v} out of range")))
            })
            .transpose()
        };
        let (Some(from), Some(to)) = (get(&champion).await?, get(&previous).await?) else {
            return Err(StoreError::Conflict(format!(
                "model \"{model}\" has no champion and previous version to roll back between"
            )));
        };
        let now = now_ms();
        for (a, v) in [(&champion, to), (&previous, from)] {
            sqlx::query(
                "UPDATE aliases SET version = $1, updated_at_ms = $2 WHERE model = $3 AND alias = $4",
            )
            .bind(i64::from(v))
            .bind(now)
            .bind(model.as_str())
            .bind(a.as_str())
            .execute(&mut *w.tx)
            .await?;
        }
        w.commit().await?;
        Ok((from, to))
    }
}

fn alias(name: &str) -> AliasName {
    AliasName::new(name).expect("a valid alias")
}
