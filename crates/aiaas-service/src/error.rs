//! `ServiceError`: what can go wrong in a service call, in the terms a transport maps to a
//! status (see `aiaas-api`).

use aiaas_monitor::MonitorError;
use aiaas_store::StoreError;
use aiaas_types::Resource;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The named thing does not exist; the first field says what kind of thing it is.
    #[error("{1}")]
    NotFound(Resource, String),
    /// The caller's API key is missing, unknown, revoked or expired.
    #[error("{0}")]
    Unauthenticated(String),
    /// The request clashes with the current state (a name taken, an alias in the way).
    #[error("{0}")]
    Conflict(String),
    /// The request is well-formed but its content cannot be used (bad CSV, bad hyperparameters,
    /// a bundle whose digests do not match).
    #[error("{0}")]
    Invalid(String),
    /// The request is larger than the configured limit.
    #[error("{0}")]
    TooLarge(String),
    /// Stored data failed verification.
    #[error("{0}")]
    Corrupt(String),
    /// Too much of something is in progress; the caller should retry later.
    #[error("{0}")]
    Overloaded(String),
    /// The platform is shutting down.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or a failed background task: never the caller's fault.
    #[error("{0}")]
    Internal(String),
    /// The store failed for a reason that is not the caller's (database, disk).
    #[error(transparent)]
    Store(StoreError),
}

impl From<MonitorError> for ServiceError {
    fn from(e: MonitorError) -> Self {
        match e {
            MonitorError::Unusable(m) => ServiceError::Invalid(m),
            MonitorError::Empty(m) => ServiceError::NotFound(Resource::Predictions, m),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what, m) => ServiceError::NotFound(what, m),
            StoreError::Conflict(m) => ServiceError::Conflict(m),
            StoreError::InvalidArgument(m) => ServiceError::Invalid(m),
            e @ StoreError::Corrupt { .. } => ServiceError::Corrupt(e.to_string()),
            e @ (StoreError::Config(_)
            | StoreError::Invalid(_)
            | StoreError::Database(_)
            | StoreError::Migrate(_)
            | StoreError::Blob(_)
            | StoreError::Io { .. }) => ServiceError::Store(e),
        }
    }
}
