//! The one error type of the store, [`StoreError`]. Each variant says what went wrong in words a
//! user can act on; `aiaas-api` maps the variants to HTTP status codes.

use aiaas_types::Resource;

/// Everything that can go wrong in `aiaas-store`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing asked for does not exist; the message names it
    /// (`model "iris" has no version 7`).
    #[error("{1}")]
    NotFound(Resource, String),
    /// The request clashes with the current state (a name already taken, a version still
    /// aliased, a job already finished); the message says what to do instead.
    #[error("{0}")]
    Conflict(String),
    /// A stored blob no longer hashes to its own key.
    #[error(
        "stored blob {key} failed its SHA-256 checksum (expected {expected}, found {actual}): \
         the file is corrupt or was changed outside aiaas; restore it from a backup or upload it again"
    )]
    Corrupt {
        /// Storage key of the blob.
        key: String,
        /// Digest the key promises.
        expected: String,
        /// Digest of the bytes actually read.
        actual: String,
    },
    /// The store's configuration cannot be used (unsupported URL, missing cargo feature).
    #[error("store configuration: {0}")]
    Config(String),
    /// An argument the caller passed is not acceptable (a malformed digest, a job state that is
    /// not final where one is required); the caller's input, not the store, is wrong.
    #[error("{0}")]
    InvalidArgument(String),
    /// Data read back from the database cannot be decoded (a name or JSON document that does not
    /// parse): the database was changed outside aiaas or by an incompatible version.
    #[error("invalid stored data: {0}")]
    Invalid(String),
    /// The metadata database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the schema migrations failed (for example a database written by a newer aiaas).
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The blob store failed.
    #[error("blob store error: {0}")]
    Blob(#[from] object_store::Error),
    /// A local file operation failed (creating the data directory, cleaning up temp files).
    #[error("{context}: {source}")]
    Io {
        /// What the store was doing, with the path.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// Wraps an I/O error with what was being done.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        StoreError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
