//! Change announcements between processes that share one database, so that every replica
//! follows alias moves, new versions, keys and logging policies within a second. PostgreSQL
//! carries them (`NOTIFY` on one channel, `LISTEN` in each process); a SQLite database has one
//! server process, which needs no announcements.

use crate::Store;
use crate::db::Backend;
use crate::error::{Result, StoreError};
use aiaas_types::ModelName;
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgListener;

/// The PostgreSQL channel every announcement goes to.
const CHANNEL: &str = "aiaas_changes";

/// What changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// A model's versions, aliases, tags or serving settings.
    Model {
        /// Its name.
        model: ModelName,
    },
    /// The API keys (one created or revoked).
    Keys,
    /// The logging policy of a model.
    LoggingPolicy {
        /// The model it is for.
        model: ModelName,
    },
}

/// An announcement as it travels: the change, and which store made it, so that a process
/// does not follow its own changes a second time.
#[derive(Serialize, Deserialize)]
struct Envelope {
    origin: u64,
    #[serde(flatten)]
    change: Change,
}

/// A subscription to other processes' announcements.
pub struct ChangeFeed {
    listener: PgListener,
    /// The announcements of this origin (the store that listens) are its own: skipped.
    origin: u64,
}

/// What a [`ChangeFeed`] delivers next.
#[derive(Debug)]
pub enum Heard {
    /// An announcement.
    Change(Change),
    /// The connection dropped and was made again: announcements made meanwhile are lost, so
    /// the listener should re-read everything it follows.
    Reconnected,
}

impl Store {
    /// Tells the other processes on this database that `change` happened (nothing on SQLite).
    pub async fn announce(&self, change: &Change) -> Result<()> {
        if !self.is_shared() {
            return Ok(());
        }
        let envelope = Envelope {
            origin: self.db.origin,
            change: change.clone(),
        };
        let payload = serde_json::to_string(&envelope)
            .map_err(|e| StoreError::Invalid(format!("cannot encode a change: {e}")))?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    /// Whether other processes may share this database (PostgreSQL): then jobs are leased and
    /// requeued when their lease expires, and changes are announced.
    pub fn is_shared(&self) -> bool {
        self.db.backend == Backend::Postgres
    }

    /// Subscribes to the announcements of the other processes on this database; `None` on
    /// SQLite.
    pub async fn listen(&self) -> Result<Option<ChangeFeed>> {
        if !self.is_shared() {
            return Ok(None);
        }
        // The pool's own URL: the listener reaches the same server as the queries.
        let url = self.db.pool.connect_options().database_url.clone();
        let mut listener = PgListener::connect(url.as_str()).await?;
        listener.listen(CHANNEL).await?;
        Ok(Some(ChangeFeed {
            listener,
            origin: self.db.origin,
        }))
    }
}

impl ChangeFeed {
    /// Waits for another process's next announcement. An error means the server cannot be
    /// reached now.
    pub async fn next(&mut self) -> Result<Heard> {
        loop {
            let Some(notification) = self.listener.try_recv().await? else {
                return Ok(Heard::Reconnected);
            };
            match serde_json::from_str::<Envelope>(notification.payload()) {
                Ok(envelope) if envelope.origin == self.origin => {}
                Ok(envelope) => return Ok(Heard::Change(envelope.change)),
                // From a newer version, perhaps: not for this process.
                Err(e) => tracing::debug!(error = %e, "ignored an unknown announcement"),
            }
        }
    }
}
