//! The audit log: one row per call that changed something or was refused.

use crate::Store;
use crate::db::{DbRow, col, int, now_ms, opt_name};
use crate::error::{Result, StoreError};
use aiaas_types::{KeyId, KeyName, Role};
use serde::Serialize;

/// One audited call.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditEntry {
    /// 1, 2, ... in the order calls were recorded.
    pub seq: i64,
    /// When the call was answered (ms since the Unix epoch).
    pub at_ms: i64,
    /// The key that made it; absent when none (or no valid one) was presented.
    pub key_id: Option<KeyId>,
    /// That key's name.
    pub key_name: Option<KeyName>,
    /// That key's role.
    pub role: Option<Role>,
    /// HTTP method.
    pub method: String,
    /// The route's template, e.g. `/api/v1/models/{name}/aliases/{alias}`.
    pub route: String,
    /// The path (and query) as called, e.g. `/api/v1/models/iris/aliases/champion`.
    pub target: String,
    /// The answer's HTTP status.
    pub status: u16,
    /// The client's address.
    pub client: String,
}

/// A call to record: [`AuditEntry`] without its number and time.
#[derive(Clone, Debug)]
pub struct NewAuditEntry {
    /// The key that made it, if any: id, name, role.
    pub key: Option<(KeyId, KeyName, Role)>,
    /// HTTP method.
    pub method: String,
    /// The route's template.
    pub route: String,
    /// The path (and query) as called.
    pub target: String,
    /// The answer's HTTP status.
    pub status: u16,
    /// The client's address.
    pub client: String,
}

fn audit_row(row: &DbRow) -> Result<AuditEntry> {
    let role: Option<String> = col(row, "role")?;
    Ok(AuditEntry {
        seq: col(row, "seq")?,
        at_ms: col(row, "at_ms")?,
        key_id: opt_name(row, "key_id")?,
        key_name: opt_name(row, "key_name")?,
        role: role
            .map(|r| r.parse())
            .transpose()
            .map_err(|e| StoreError::Invalid(format!("column role: {e}")))?,
        method: col(row, "method")?,
        route: col(row, "route")?,
        target: col(row, "target")?,
        status: int(row, "status")?,
        client: col(row, "client")?,
    })
}

impl Store {
    /// Records a call, timed now.
    pub async fn insert_audit(&self, entry: &NewAuditEntry) -> Result<()> {
        let (id, name, role) = match &entry.key {
            Some((id, name, role)) => (Some(id.as_str()), Some(name.as_str()), Some(role.as_str())),
            None => (None, None, None),
        };
        sqlx::query(
            "INSERT INTO audit_log (at_ms, key_id, key_name, role, method, route, target, status, \
             client) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(now_ms())
        .bind(id)
        .bind(name)
        .bind(role)
        .bind(&entry.method)
        .bind(&entry.route)
        .bind(&entry.target)
        .bind(i64::from(entry.status))
        .bind(&entry.client)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    /// Up to `limit` entries recorded at or after `since_ms`, oldest first.
    pub async fn audit(&self, since_ms: i64, limit: u32) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT seq, at_ms, key_id, key_name, role, method, route, target, status, client \
             FROM audit_log WHERE at_ms >= $1 ORDER BY seq LIMIT $2",
        )
        .bind(since_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter().map(audit_row).collect()
    }

    /// Deletes the entries recorded before `before_ms`; how many went.
    pub async fn prune_audit(&self, before_ms: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM audit_log WHERE at_ms < $1")
            .bind(before_ms)
            .execute(&self.db.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
