//! Persistence for aiaas: metadata in a SQL database through `sqlx` (SQLite by default,
//! PostgreSQL for several processes) and content-addressed blobs through `object_store` (a local
//! directory by default). No training, no HTTP: the service layer above calls these functions.
//!
//! - [`Store`]: the handle; open it once with [`Store::open`] and clone it freely.
//! - [`Blobs`] (`store.blobs()`): bytes under `blobs/sha256/<digest>`, verified on every read.
//! - Datasets ([`NewDataset`], [`DatasetRecord`]), the model registry ([`NewVersion`],
//!   [`VersionRecord`], aliases, tags) and the job queue ([`JobRecord`], [`JobEvent`],
//!   [`EpochRow`]) are methods on [`Store`].
//!
//! Every write that reads before it writes runs in one transaction that holds the database's
//! write lock from its start (SQLite's, or an advisory lock on PostgreSQL), so concurrent
//! callers, in this process or another, queue instead of failing or racing.

#![warn(missing_docs)]

mod audit;
mod blobs;
mod changes;
mod config;
mod datasets;
mod db;
mod error;
mod jobs;
mod keys;
mod leases;
mod monitoring;
mod predictions;
mod registry;
mod sweeps;

pub use audit::{AuditEntry, NewAuditEntry};
pub use blobs::{Blobs, STALE_UPLOAD_AGE, is_digest, sha256_hex};
pub use changes::{Change, ChangeFeed, Heard};
pub use config::{StoreConfig, redact_url};
pub use datasets::{DatasetRecord, NewDataset};
pub use error::{Result, StoreError};
pub use jobs::{EpochRow, JobEvent, JobRecord, JobResult};
pub use keys::{KeyRecord, NewKey};
pub use leases::MAX_INTERRUPTIONS;
pub use monitoring::{ModelEvent, PolicyRecord};
pub use predictions::{Labelled, Window};
pub use registry::{
    MAX_TAG_KEY_LEN, MAX_TAG_VALUE_LEN, ModelRecord, ModelSummary, NewVersion, VersionPage,
    VersionRecord, VersionSummary,
};
pub use sweeps::{SweepRecord, SweepResult};

use db::Database;

/// The store: metadata database and blob store together. Cheap to clone (a connection pool and
/// an object store behind `Arc`s).
#[derive(Clone, Debug)]
pub struct Store {
    db: Database,
    blobs: Blobs,
}

impl Store {
    /// Opens the store `config` names: creates the data directory, opens the database (a
    /// SQLite file is created if missing, with WAL, foreign keys and a busy timeout), applies
    /// pending migrations, opens the
    /// blob store and removes temp files that interrupted local uploads left behind.
    ///
    /// [`StoreError::Config`] for a database or store URL this build cannot use.
    pub async fn open(config: &StoreConfig) -> Result<Store> {
        let database = config.database()?;
        let blob_location = config.blob_location()?;
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            StoreError::io(
                format!("cannot create data directory {}", config.data_dir.display()),
                e,
            )
        })?;
        let db = Database::open(&database).await?;
        let blobs = Blobs::open(&blob_location).await?;
        tracing::info!(database = %database, blobs = %blob_location, "store opened");
        Ok(Store { db, blobs })
    }

    /// The blob half of the store.
    pub fn blobs(&self) -> &Blobs {
        &self.blobs
    }

    /// Checks that the database answers (one trivial query), for health checks.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.db.pool).await?;
        Ok(())
    }

    /// Copies the write-ahead log into the database and truncates it, so that it stays small
    /// even when readers kept SQLite's automatic checkpoints from finishing. Returns whether
    /// the whole log was copied (not when a reader still needs part of it; the next try will).
    /// PostgreSQL checkpoints by itself: nothing to do there.
    pub async fn checkpoint(&self) -> Result<bool> {
        use sqlx::Row;
        if self.db.backend == db::Backend::Postgres {
            return Ok(true);
        }
        let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&self.db.pool)
            .await?;
        let busy: i64 = row.try_get(0).map_err(StoreError::Database)?;
        Ok(busy == 0)
    }

    /// Closes the database connections (waiting for queries in flight). Other clones of this
    /// store can no longer query the database afterwards.
    pub async fn close(&self) {
        self.db.pool.close().await;
    }
}
