//! The aiaas service layer: every operation the platform offers, as async functions on
//! [`Platform`]. Transports (REST today, gRPC later) parse a request, call one function here and
//! map its result; nothing here knows HTTP. Training runs on blocking threads, never on the
//! async runtime.

mod adopt;
mod archive;
mod audit;
mod cluster;
mod config;
mod datasets;
mod demo;
mod error;
mod jobs;
mod keys;
pub mod metrics;
mod monitor;
mod onnx_export;
mod privacy;
mod registry;
mod retrain;
mod sweeps;
mod tags;
mod update_loop;
mod worker;

pub use aiaas_monitor::{
    Breach, ClassGap, DriftReport, FeatureDriftReport, Feedback, MonitorPolicy, QualityDiagnosis,
    QualityReport, RetrainReport, Scores,
};
pub use aiaas_store::{
    AuditEntry, DatasetRecord, EpochRow, JobEvent, JobRecord, KeyRecord, Labelled, ModelEvent,
    ModelRecord, ModelSummary, NewAuditEntry, Store, StoreConfig, StoreError, SweepRecord,
    SweepResult, VersionPage, VersionRecord, VersionSummary, Window,
};
pub use archive::read_upload;
pub use audit::MAX_AUDIT_READ;
pub use config::ServiceConfig;
pub use demo::{DEMO_MODELS, DemoModel};
pub use error::ServiceError;
pub use keys::{ADMIN_KEY_FILE, AdminKey, CreatedKey, KEY_PREFIX, MAX_KEY_MODELS, MAX_RATE_LIMIT};
pub use monitor::{FeedbackOutcome, MAX_FEEDBACK, WindowSpec};
pub use onnx_export::bundle_to_onnx;
pub use privacy::MAX_ERASE_IDS;
pub use registry::default_version_of;
pub use sweeps::{SweepDetail, Trial};
pub use update_loop::PolicyState;

use aiaas_types::{JobId, ModelName};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, OwnedSemaphorePermit, RwLock, Semaphore, broadcast};
use tokio::task::JoinHandle;

/// The platform: the store, the job workers and the signals between them. Cheap to clone.
#[derive(Clone)]
pub struct Platform {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: ServiceConfig,
    /// Fired with a job's id whenever it gains an event, so event streams wake up.
    job_changed: broadcast::Sender<JobId>,
    /// Fired with a model's name whenever its versions or aliases change, so serving can follow.
    model_changed: broadcast::Sender<ModelName>,
    /// Wakes idle workers when a job is queued or the platform stops.
    /// Wakes background loops at shutdown (job workers have `wake`).
    stop: Notify,
    wake: Notify,
    /// Cancel flags of the jobs running in this process.
    running: Mutex<HashMap<JobId, Arc<AtomicBool>>>,
    /// Blobs are shared by content, so deleting one must not interleave with storing the same
    /// bytes for a new row: writers (put, then insert the row) hold this shared, blob
    /// collection holds it exclusively.
    blob_gate: RwLock<()>,
    /// Bounds uploads being read and parsed at once.
    uploads: Arc<Semaphore>,
    /// Bounds open job event streams.
    event_streams: Arc<Semaphore>,
    /// Set once shutdown starts: running jobs checkpoint and stop, streams end.
    stopping: AtomicBool,
    workers: Mutex<Vec<JoinHandle<()>>>,
    /// The API keys, by the hash of their secret.
    keys: keys::KeyRing,
    /// Rows each model logged since its prediction log was last trimmed to the cap.
    logged_since_trim: Mutex<HashMap<ModelName, u64>>,
    /// What the prediction log keeps of each model's inputs.
    policies: Mutex<privacy::Policies>,
}

impl Platform {
    /// Start the platform on `store`. On a database it owns (SQLite), jobs that were running
    /// when the last process died go back to the queue (they resume from their checkpoints) and
    /// blobs no record names are removed; on a shared one (PostgreSQL) other processes may be
    /// running jobs and storing blobs, so jobs are requeued only when their lease expires.
    /// Then the workers and, if configured, the background loop start.
    pub async fn start(store: Store, config: ServiceConfig) -> Result<Platform, ServiceError> {
        config.validate().map_err(ServiceError::Invalid)?;
        let shared = store.is_shared();
        // Before the keys and policies are read: what others change from then on is heard.
        let changes = store.listen().await?;
        if !shared {
            let requeued = store.requeue_interrupted().await?;
            if !requeued.is_empty() {
                tracing::info!(jobs = ?requeued, "resuming jobs interrupted by the last shutdown");
            }
        }
        let keys = keys::KeyRing::load(&store).await?;
        let policies =
            privacy::Policies::new(store.logging_policies().await?.into_iter().collect());
        let platform = Platform {
            inner: Arc::new(Inner {
                store,
                uploads: Arc::new(Semaphore::new(config.max_concurrent_uploads)),
                event_streams: Arc::new(Semaphore::new(config.max_event_streams)),
                config,
                job_changed: broadcast::channel(256).0,
                model_changed: broadcast::channel(256).0,
                wake: Notify::new(),
                stop: Notify::new(),
                running: Mutex::new(HashMap::new()),
                blob_gate: RwLock::new(()),
                stopping: AtomicBool::new(false),
                workers: Mutex::new(Vec::new()),
                keys,
                logged_since_trim: Mutex::new(HashMap::new()),
                policies: Mutex::new(policies),
            }),
        };
        // Before any worker or upload: nothing is being stored, so an unnamed blob is an orphan.
        // (Not so on a shared database: another process may be storing one now.)
        if !shared {
            match platform.collect_orphans().await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "removed blobs no record names"),
                Err(e) => tracing::warn!(error = %e, "could not collect orphaned blobs"),
            }
        }
        let node = cluster::node_name();
        let mut handles: Vec<JoinHandle<()>> = (0..platform.inner.config.workers)
            .map(|i| tokio::spawn(platform.clone().worker_loop(format!("{node}/worker-{i}"))))
            .collect();
        if platform.inner.config.background {
            handles.push(tokio::spawn(platform.clone().update_loop()));
        }
        if let Some(changes) = changes {
            handles.push(tokio::spawn(platform.clone().follow_changes(changes)));
        }
        *platform.inner.workers.lock().expect("workers lock") = handles;
        Ok(platform)
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// A place among the uploads in progress, to hold while an upload's body is read and
    /// handled; `Overloaded` when all are taken (uploads are large, so they queue nowhere).
    pub fn upload_slot(&self) -> Result<OwnedSemaphorePermit, ServiceError> {
        self.inner.uploads.clone().try_acquire_owned().map_err(|_| {
            ServiceError::Overloaded(format!(
                "{} uploads are already in progress; retry when one has finished",
                self.inner.config.max_concurrent_uploads
            ))
        })
    }

    /// Whether the platform can serve: its database answers.
    pub async fn health(&self) -> Result<(), ServiceError> {
        Ok(self.store().ping().await?)
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.inner.config
    }

    /// Stop taking jobs; running jobs save a checkpoint at their next batch and stop (the next
    /// start resumes them). Returns when every worker has finished.
    pub async fn shutdown(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        self.inner.wake.notify_waiters();
        self.inner.stop.notify_waiters();
        let handles = std::mem::take(&mut *self.inner.workers.lock().expect("workers lock"));
        for handle in handles {
            if let Err(e) = handle.await {
                tracing::error!(error = %e, "a job worker ended abnormally");
            }
        }
    }

    fn stopping(&self) -> bool {
        self.inner.stopping.load(Ordering::SeqCst)
    }

    /// Names of models whose versions or aliases change, as they change. A receiver that lags
    /// should re-read everything it follows.
    pub fn model_changes(&self) -> broadcast::Receiver<ModelName> {
        self.inner.model_changed.subscribe()
    }

    fn job_changed(&self, id: &JobId) {
        // No receiver is fine: nobody is following the job.
        let _ = self.inner.job_changed.send(id.clone());
    }
}

/// Milliseconds since the Unix epoch, the unit of every stored time.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// How a job's run ended short of failing: with its result, or stopped between batches, for a
/// cancel or for shutdown (after saving a checkpoint the next start resumes from).
pub(crate) enum Ending<T> {
    Done(T),
    Cancelled,
    Suspended,
}
