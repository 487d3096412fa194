//! The audit log as the service offers it: recording a call, reading the log, and its retention.

use crate::error::ServiceError;
use crate::{Platform, now_ms};
use aiaas_store::{AuditEntry, NewAuditEntry};

/// Most entries one read returns.
pub const MAX_AUDIT_READ: u32 = 10_000;

impl Platform {
    /// Records an audited call. A failure is logged and counted, not returned: the call it
    /// describes has already been answered.
    pub async fn record_audit(&self, entry: &NewAuditEntry) {
        if let Err(e) = self.store().insert_audit(entry).await {
            metrics::counter!("aiaas_audit_write_errors_total").increment(1);
            tracing::error!(error = %e, method = entry.method, target = entry.target, "could not record an audited call");
        }
    }

    /// Up to `limit` (1 to [`MAX_AUDIT_READ`]) entries recorded at or after `since_ms`, oldest
    /// first.
    pub async fn audit_log(
        &self,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, ServiceError> {
        if !(1..=MAX_AUDIT_READ).contains(&limit) {
            return Err(ServiceError::Invalid(format!(
                "limit is {limit}; read 1 to {MAX_AUDIT_READ} entries at a time (page with since)"
            )));
        }
        Ok(self.store().audit(since_ms, limit).await?)
    }

    /// Deletes the entries older than the configured days; how many went.
    pub(crate) async fn apply_audit_retention(&self) -> Result<u64, ServiceError> {
        let days = self.config().audit_retention_days;
        let age_ms = i64::try_from(days.saturating_mul(86_400_000)).unwrap_or(i64::MAX);
        Ok(self
            .store()
            .prune_audit(now_ms().saturating_sub(age_ms))
            .await?)
    }
}
