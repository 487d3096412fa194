//! The one error table, after meilisearch's `ErrorCode`: every way a call can fail is an
//! [`ErrorCode`] with a stable machine-readable name, an HTTP status and a gRPC code, all in
//! [`ErrorCode::entry`]. Service errors (the management API) and serving errors (V2) each map to
//! a code in one exhaustive match, so a new error variant cannot slip out as a 500 unnoticed.
//! Management responses are `{"error": "...", "code": "..."}`; the V2 endpoints keep Triton's
//! `{"error": "..."}` (see `inference.rs`).

use aiaas_serve::ServeError;
use aiaas_service::ServiceError;
use aiaas_types::Resource;
use axum::Json;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Why a call failed, as clients match it. The names are stable: a client may rely on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Malformed JSON, query or tensor data, or an invalid name.
    BadRequest,
    /// No such endpoint.
    RouteNotFound,
    /// The endpoint does not take that method.
    MethodNotAllowed,
    /// No API key, or one that is unknown, revoked or expired.
    Unauthenticated,
    /// The key's role (or its list of models) does not allow the call.
    Forbidden,
    /// A call that changes something came from another site's page (its `Origin`).
    ForbiddenOrigin,
    DatasetNotFound,
    ModelNotFound,
    /// No such version number or alias, or a model without versions.
    VersionNotFound,
    AliasNotFound,
    JobNotFound,
    SweepNotFound,
    /// The model has no monitoring policy.
    PolicyNotFound,
    KeyNotFound,
    /// A monitoring window without the (labelled) predictions it needs.
    PredictionsNotFound,
    /// The model has no input feature of that name.
    FeatureNotFound,
    /// The call clashes with the current state: a name taken, an alias in the way, a job
    /// already finished.
    Conflict,
    /// The body is larger than the endpoint accepts.
    PayloadTooLarge,
    /// The body is not of a media type the endpoint takes (JSON without its content type).
    UnsupportedMediaType,
    /// Well-formed but unusable: a bad CSV, hyperparameter, archive, label or policy.
    InvalidInput,
    /// Too much is in progress (uploads, event streams, a model's queue): retry later.
    Overloaded,
    /// The API key is over its request rate: retry after `Retry-After` seconds.
    RateLimited,
    /// The request's deadline passed before it was computed.
    DeadlineExceeded,
    /// Not ready yet, or shutting down.
    Unavailable,
    /// Stored data failed its checksum or cannot be read back.
    CorruptData,
    /// A failure of the server's own (database, disk, a bug); never the caller's fault.
    Internal,
}

/// gRPC status codes (`google.rpc.Code`), as the gRPC endpoint answers each [`ErrorCode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum GrpcCode {
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

impl ErrorCode {
    /// Every code, in the order of the table.
    pub const ALL: [ErrorCode; 26] = [
        ErrorCode::BadRequest,
        ErrorCode::RouteNotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::ForbiddenOrigin,
        ErrorCode::DatasetNotFound,
        ErrorCode::ModelNotFound,
        ErrorCode::VersionNotFound,
        ErrorCode::AliasNotFound,
        ErrorCode::JobNotFound,
        ErrorCode::SweepNotFound,
        ErrorCode::PolicyNotFound,
        ErrorCode::KeyNotFound,
        ErrorCode::PredictionsNotFound,
        ErrorCode::FeatureNotFound,
        ErrorCode::Conflict,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::InvalidInput,
        ErrorCode::Overloaded,
        ErrorCode::RateLimited,
        ErrorCode::DeadlineExceeded,
        ErrorCode::Unavailable,
        ErrorCode::CorruptData,
        ErrorCode::Internal,
    ];

    /// The table: the code's name, its HTTP status and its gRPC code.
    pub fn entry(self) -> (&'static str, StatusCode, GrpcCode) {
        use ErrorCode as E;
        use GrpcCode as G;
        match self {
            E::BadRequest => ("bad_request", StatusCode::BAD_REQUEST, G::InvalidArgument),
            E::RouteNotFound => ("route_not_found", StatusCode::NOT_FOUND, G::Unimplemented),
            E::MethodNotAllowed => (
                "method_not_allowed",
                StatusCode::METHOD_NOT_ALLOWED,
                G::Unimplemented,
            ),
            E::Unauthenticated => (
                "unauthenticated",
                StatusCode::UNAUTHORIZED,
                G::Unauthenticated,
            ),
            E::Forbidden => ("forbidden", StatusCode::FORBIDDEN, G::PermissionDenied),
            E::ForbiddenOrigin => (
                "forbidden_origin",
                StatusCode::FORBIDDEN,
                G::PermissionDenied,
            ),
            E::DatasetNotFound => ("dataset_not_found", StatusCode::NOT_FOUND, G::NotFound),
            E::ModelNotFound => ("model_not_found", StatusCode::NOT_FOUND, G::NotFound),
            E::VersionNotFound => ("version_not_found", StatusCode::NOT_FOUND, G::NotFound),
            E::AliasNotFound => ("alias_not_found", StatusCode::NOT_FOUND, G::NotFound),
            E::JobNotFound => ("job_not_found", StatusCode::NOT_FOUND, G::NotFound),
            E::SweepNotFound => ("sweep_not_found", StatusCode::NOT_FOUND, G::NotFound),
            E::PolicyNotFound => ("policy_not_found", StatusCode::NOT_FOUND, G::NotFound),
            E::KeyNotFound => ("key_not_found", StatusCode::NOT_FOUND, G::NotFound),
            E::FeatureNotFound => ("feature_not_found", StatusCode::NOT_FOUND, G::NotFound),
            E::PredictionsNotFound => ("predictions_not_found", StatusCode::NOT_FOUND, G::NotFound),
            E::Conflict => ("conflict", StatusCode::CONFLICT, G::FailedPrecondition),
            E::PayloadTooLarge => (
                "payload_too_large",
                StatusCode::PAYLOAD_TOO_LARGE,
                G::ResourceExhausted,
            ),
            E::UnsupportedMediaType => (
                "unsupported_media_type",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                G::InvalidArgument,
            ),
            E::InvalidInput => (
                "invalid_input",
                StatusCode::UNPROCESSABLE_ENTITY,
                G::InvalidArgument,
            ),
            E::Overloaded => (
                "overloaded",
                StatusCode::TOO_MANY_REQUESTS,
                G::ResourceExhausted,
            ),
            E::RateLimited => (
                "rate_limited",
                StatusCode::TOO_MANY_REQUESTS,
                G::ResourceExhausted,
            ),
            E::DeadlineExceeded => (
                "deadline_exceeded",
                StatusCode::GATEWAY_TIMEOUT,
                G::DeadlineExceeded,
            ),
            E::Unavailable => (
                "unavailable",
                StatusCode::SERVICE_UNAVAILABLE,
                G::Unavailable,
            ),
            E::CorruptData => (
                "corrupt_data",
                StatusCode::INTERNAL_SERVER_ERROR,
                G::DataLoss,
            ),
            E::Internal => ("internal", StatusCode::INTERNAL_SERVER_ERROR, G::Internal),
        }
    }

    /// The code's stable name, as it appears in responses (`model_not_found`).
    pub fn as_str(self) -> &'static str {
        self.entry().0
    }

    pub fn status(self) -> StatusCode {
        self.entry().1
    }

    pub fn grpc(self) -> GrpcCode {
        self.entry().2
    }

    /// The code a service error answers with.
    pub fn of_service(e: &ServiceError) -> ErrorCode {
        match e {
            ServiceError::NotFound(what, _) => match what {
                Resource::Dataset => ErrorCode::DatasetNotFound,
                Resource::Model => ErrorCode::ModelNotFound,
                Resource::Version => ErrorCode::VersionNotFound,
                Resource::Alias => ErrorCode::AliasNotFound,
                Resource::Job => ErrorCode::JobNotFound,
                Resource::Sweep => ErrorCode::SweepNotFound,
                Resource::Policy => ErrorCode::PolicyNotFound,
                Resource::Key => ErrorCode::KeyNotFound,
                Resource::Predictions => ErrorCode::PredictionsNotFound,
                Resource::Feature => ErrorCode::FeatureNotFound,
                // A record names a blob the store lost: the server's data, not the caller.
                Resource::Blob => ErrorCode::CorruptData,
            },
            ServiceError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            ServiceError::Conflict(_) => ErrorCode::Conflict,
            ServiceError::Invalid(_) => ErrorCode::InvalidInput,
            ServiceError::TooLarge(_) => ErrorCode::PayloadTooLarge,
            ServiceError::Overloaded(_) => ErrorCode::Overloaded,
            ServiceError::Unavailable(_) => ErrorCode::Unavailable,
            ServiceError::Corrupt(_) => ErrorCode::CorruptData,
            ServiceError::Internal(_) | ServiceError::Store(_) => ErrorCode::Internal,
        }
    }

    /// The code a serving error answers with.
    pub fn of_serve(e: &ServeError) -> ErrorCode {
        match e {
            ServeError::BadRequest(_) => ErrorCode::BadRequest,
            ServeError::NotFound(_) => ErrorCode::ModelNotFound,
            ServeError::Overloaded(_) => ErrorCode::Overloaded,
            ServeError::DeadlineExceeded(_) => ErrorCode::DeadlineExceeded,
            ServeError::Unavailable(_) => ErrorCode::Unavailable,
            ServeError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The code for a status that axum's own extractors answered with.
    pub(crate) fn of_rejection(status: StatusCode) -> ErrorCode {
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
            StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::InvalidInput,
            s if s.is_server_error() => ErrorCode::Internal,
            _ => ErrorCode::BadRequest,
        }
    }
}

/// The body of every management API error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, and what to change.
    pub error: String,
    /// Why, as a stable name clients can match (see the README's table of codes).
    pub code: ErrorCode,
}

/// A failed call: its code and a message that names what to fix.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let message = message.into();
        if code.status().is_server_error() {
            tracing::error!(code = code.as_str(), error = %message, "request failed");
        }
        ApiError { code, message }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::BadRequest, message)
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        ApiError::new(ErrorCode::of_service(&e), e.to_string())
    }
}

impl From<ServeError> for ApiError {
    fn from(e: ServeError) -> Self {
        ApiError::new(ErrorCode::of_serve(&e), e.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        ApiError::new(ErrorCode::of_rejection(r.status()), r.body_text())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> Self {
        let code = ErrorCode::of_rejection(r.status());
        let message = if code == ErrorCode::PayloadTooLarge {
            "the request body is larger than this endpoint accepts".to_string()
        } else {
            r.body_text()
        };
        ApiError::new(code, message)
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request(r.body_text())
    }
}

impl From<aiaas_types::NameError> for ApiError {
    fn from(e: aiaas_types::NameError) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.message,
            code: self.code,
        };
        (self.code.status(), Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_own_name_and_serializes_as_it() {
        let names: std::collections::BTreeSet<&str> =
            ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::json!(code.as_str())
            );
        }
    }
}
