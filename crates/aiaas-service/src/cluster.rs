//! What a process does when other processes share its database (PostgreSQL): API replicas and
//! workers started with `aiaas serve --role`. Changes made here are announced to the others
//! and theirs are followed here (the serving pool, the key ring and the logging policies stay
//! current within a second); a job whose worker stopped sending heartbeats is requeued for
//! another worker. On SQLite the server owns the database and none of this runs.

use crate::{Platform, ServiceError, keys, privacy};
use aiaas_store::{Change, ChangeFeed, Heard};
use aiaas_types::ModelName;
use std::time::Duration;

/// How long a follower waits before it tries to listen again, re-reading everything meanwhile
/// (the poll that stands in for announcements while they cannot be heard).
const RELISTEN_EVERY: Duration = Duration::from_secs(1);

/// This process's name among the others: the host (a Kubernetes pod's name) and the process id.
pub(crate) fn node_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    format!("{host}:{}", std::process::id())
}

impl Platform {
    /// Tells this process's and the other processes' followers that `model` changed.
    pub(crate) fn model_changed(&self, model: &ModelName) {
        self.announce(Change::Model {
            model: model.clone(),
        });
    }

    /// Tells this process's followers, and the other processes', that `change` happened.
    pub(crate) fn announce(&self, change: Change) {
        if let Change::Model { model } = &change {
            // No receiver is fine: nothing is being served.
            let _ = self.inner.model_changed.send(model.clone());
        }
        if self.store().is_shared() {
            let store = self.store().clone();
            tokio::spawn(async move {
                if let Err(e) = store.announce(&change).await {
                    tracing::warn!(error = %e, ?change, "could not announce a change");
                }
            });
        }
    }

    /// Follows the other processes' announcements on `feed` until shutdown. (`feed` listened
    /// before the platform read the keys and policies, so nothing fell between the two.)
    pub(crate) async fn follow_changes(self, mut feed: ChangeFeed) {
        while !self.stopping() {
            let heard = tokio::select! {
                heard = feed.next() => heard,
                () = self.inner.stop.notified() => return,
            };
            match heard {
                Ok(Heard::Change(change)) => self.follow(change).await,
                Ok(Heard::Reconnected) => self.reread_everything().await,
                Err(e) => {
                    tracing::warn!(error = %e, "lost the change listener");
                    match self.listen_again().await {
                        Some(again) => feed = again,
                        None => return,
                    }
                }
            }
        }
    }

    /// Listens again, re-reading everything after each try (what changed while deaf), once a
    /// [`RELISTEN_EVERY`] until it listens; `None` at shutdown.
    async fn listen_again(&self) -> Option<ChangeFeed> {
        loop {
            let feed = self.store().listen().await;
            self.reread_everything().await;
            match feed {
                Ok(feed) => return feed,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for changes; re-reading instead")
                }
            }
            let _ = tokio::time::timeout(RELISTEN_EVERY, self.inner.stop.notified()).await;
            if self.stopping() {
                return None;
            }
        }
    }

    /// Applies another process's change here (never announced again).
    async fn follow(&self, change: Change) {
        let result = match change {
            Change::Model { model } => {
                let _ = self.inner.model_changed.send(model);
                Ok(())
            }
            Change::Keys => self.reload_keys().await,
            Change::LoggingPolicy { .. } => self.reload_logging_policies().await,
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not follow a change");
        }
    }

    /// After announcements may have been missed: every model, the keys and the policies.
    async fn reread_everything(&self) {
        let result = async {
            for model in self.store().models().await? {
                let _ = self.inner.model_changed.send(model.name);
            }
            self.reload_keys().await?;
            self.reload_logging_policies().await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not re-read the shared state");
        }
    }

    async fn reload_keys(&self) -> Result<(), ServiceError> {
        let fresh = keys::KeyRing::load(self.store()).await?;
        self.inner.keys.replace(fresh);
        Ok(())
    }

    async fn reload_logging_policies(&self) -> Result<(), ServiceError> {
        let fresh = self.store().logging_policies().await?;
        *self.inner.policies.lock().expect("logging policies lock") =
            privacy::Policies::new(fresh.into_iter().collect());
        Ok(())
    }

    /// Requeues the jobs whose worker went quiet for a lease (shared databases only).
    pub(crate) async fn requeue_expired(&self) -> Result<(), ServiceError> {
        let requeued = self.store().requeue_expired(self.config().lease()).await?;
        if !requeued.is_empty() {
            tracing::warn!(jobs = ?requeued, "requeued jobs whose worker stopped answering");
            for id in &requeued {
                self.job_changed(id);
            }
            self.inner.wake.notify_waiters();
        }
        Ok(())
    }
}
