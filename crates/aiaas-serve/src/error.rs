//! `ServeError`: why an inference request was not answered.

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The request itself is wrong (names, datatypes, shapes, values): the caller must fix it.
    #[error("{0}")]
    BadRequest(String),
    /// No such model or version.
    #[error("{0}")]
    NotFound(String),
    /// The model's queue is full: retry later.
    #[error("{0}")]
    Overloaded(String),
    /// The request's deadline passed before it was computed.
    #[error("{0}")]
    DeadlineExceeded(String),
    /// The model is not loaded or is shutting down.
    #[error("{0}")]
    Unavailable(String),
    /// Loading the model failed for a reason that is not the caller's.
    #[error("{0}")]
    Internal(String),
}
