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

/// A subscription to other processes' announcements.
pub struct ChangeFeed {
    listener: PgListener,
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
        if self.db.backend != Backend::Postgres {
            return Ok(());
        }
        let payload = serde_json::to_string(change)
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

    /// Subscribes to the announcements of every process on this database (its own included);
    /// `None` on SQLite.
    pub async fn listen(&self) -> Result<Option<ChangeFeed>> {
        let Some(url) = self.db.url.as_deref() else {
            return Ok(None);
        };
        let mut listener = PgListener::connect(url).await?;
        listener.listen(CHANNEL).await?;
        Ok(Some(ChangeFeed { listener }))
    }
}

impl ChangeFeed {
    /// Waits for the next announcement. An error means the server cannot be reached now.
    pub async fn next(&mut self) -> Result<Heard> {
        loop {
            match self.listener.try_recv().await? {
                None => return Ok(Heard::Reconnected),
                Some(notification) => match serde_json::from_str(notification.payload()) {
                    Ok(change) => return Ok(Heard::Change(change)),
                    // From a newer version, perhaps: not for this process.
                    Err(e) => tracing::debug!(error = %e, "ignored an unknown announcement"),
                },
            }
        }
    }
}
