//! `ServiceConfig`: how many jobs run at once and with how many threads, how often they
//! checkpoint, and how large an upload may be.

use serde::{Deserialize, Serialize};

/// Size limits are in bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceConfig {
    /// Training jobs run at the same time.
    pub workers: usize,
    /// Compute threads per job; 0 shares the machine's cores between the workers.
    pub train_threads: usize,
    /// A running job saves a checkpoint every this many epochs (0: only when shutting down).
    pub checkpoint_every: usize,
    /// Largest dataset upload.
    pub max_dataset_bytes: usize,
    /// Largest model archive upload.
    pub max_archive_bytes: usize,
    /// Dataset and archive uploads handled at once; more are answered "overloaded" (429).
    pub max_concurrent_uploads: usize,
    /// Job event streams open at once; more are answered "overloaded" (429).
    pub max_event_streams: usize,
    /// Fraction of inference requests whose rows go to the prediction log (0 turns it off).
    pub prediction_sample: f64,
    /// Logged predictions older than this many days are deleted.
    pub prediction_retention_days: u64,
    /// At most this many logged predictions are kept per model (the newest).
    pub prediction_keep: u64,
    /// Audit log entries older than this many days are deleted.
    pub audit_retention_days: u64,
    /// Whether this process runs the background loop (monitoring checks, retention, and on a
    /// shared database the requeue of jobs whose lease expired). An API replica does not.
    pub background: bool,
    /// On a shared database, a running job whose worker sent no heartbeat for this many seconds
    /// is taken to have died with it and is requeued; workers send one every quarter of it.
    pub lease_s: u64,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            workers: 1,
            train_threads: 0,
            checkpoint_every: 5,
            max_dataset_bytes: 256 << 20,
            max_archive_bytes: 256 << 20,
            max_concurrent_uploads: 8,
            max_event_streams: 256,
            prediction_sample: 1.0,
            prediction_retention_days: 30,
            prediction_keep: 1_000_000,
            audit_retention_days: 90,
            background: true,
            lease_s: 30,
        }
    }
}

impl ServiceConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.workers > 64 {
            return Err(format!("workers is {}; at most 64", self.workers));
        }
        if self.max_dataset_bytes == 0 || self.max_archive_bytes == 0 {
            return Err("upload size limits must be above 0".into());
        }
        if self.max_concurrent_uploads == 0 || self.max_event_streams == 0 {
            return Err("max_concurrent_uploads and max_event_streams must be above 0".into());
        }
        if !(0.0..=1.0).contains(&self.prediction_sample) {
            return Err(format!(
                "prediction_sample is {}; give a fraction from 0 (off) to 1 (every request)",
                self.prediction_sample
            ));
        }
        if self.prediction_retention_days == 0 || self.prediction_keep == 0 {
            return Err("prediction retention (days and rows) must be above 0".into());
        }
        if self.audit_retention_days == 0 {
            return Err("audit retention (days) must be above 0".into());
        }
        if !(2..=3600).contains(&self.lease_s) {
            return Err(format!(
                "lease_s is {}; give 2 to 3600 seconds",
                self.lease_s
            ));
        }
        Ok(())
    }

    /// How long a job's lease lasts without a heartbeat.
    pub fn lease(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.lease_s)
    }

    /// Threads one job computes with.
    pub fn threads_per_job(&self) -> usize {
        if self.train_threads > 0 {
            return self.train_threads;
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cores / self.workers.max(1)).max(1)
    }
}
