//! The audit log over HTTP: which calls are recorded (see [`changes`]; refusals by the gate are
//! recorded too), what an entry holds, and `GET /api/v1/audit`.

use crate::error::{ApiError, ErrorBody};
use aiaas_service::{AuditEntry, KeyRecord, NewAuditEntry, Platform};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::Method;
use serde::Deserialize;
use std::net::SocketAddr;

/// Longest target kept in an entry.
const MAX_TARGET_CHARS: usize = 512;

/// The routes that take a POST and change nothing: inference and the repository's index.
const POST_READS: [&str; 3] = [
    "/v2/models/{name}/infer",
    "/v2/models/{name}/versions/{version}/infer",
    "/v2/repository/index",
];

/// Whether `method` on `template` changes something (and so is recorded however it ends).
pub fn changes(method: &Method, template: &str) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        && !POST_READS.contains(&template)
}

/// The entry for a call: who, what, how it ended (its HTTP status; a gRPC call's is that of
/// its error code), from where. The target is the path and query as called (names and
/// versions; a key travels only in a header, so none is ever recorded).
pub fn entry(
    key: Option<&KeyRecord>,
    method: &str,
    route: String,
    target: &str,
    status: u16,
    client: Option<SocketAddr>,
) -> NewAuditEntry {
    NewAuditEntry {
        key: key.map(|k| (k.id.clone(), k.name.clone(), k.role)),
        method: method.to_string(),
        route,
        target: target.chars().take(MAX_TARGET_CHARS).collect(),
        status,
        client: client.map_or_else(String::new, |c| c.ip().to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only entries recorded at or after this time (ms since the Unix epoch).
    #[serde(default)]
    since: i64,
    /// At most this many (default 100, at most 10,000).
    #[serde(default = "default_limit")]
    limit: u32,
}

fn default_limit() -> u32 {
    100
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "keys",
    params(
        ("since" = Option<i64>, Query, description = "Only entries at or after this time (ms since the Unix epoch)"),
        ("limit" = Option<u32>, Query, description = "At most this many entries (default 100, 1 to 10000)", minimum = 1, maximum = 10000),
    ),
    responses(
        (status = 200, description = "Audited calls, oldest first: every call that changed something and every refused one", body = Vec<AuditEntry>),
        (status = 400, description = "Malformed query", body = ErrorBody),
        (status = 422, description = "limit out of range", body = ErrorBody),
    ))]
pub async fn read(
    State(p): State<Platform>,
    query: std::result::Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let Query(q) = query?;
    Ok(Json(p.audit_log(q.since, q.limit).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_change_something_and_inference_does_not() {
        assert!(changes(
            &Method::PUT,
            "/api/v1/models/{name}/aliases/{alias}"
        ));
        assert!(changes(&Method::POST, "/api/v1/models/{name}/feedback"));
        assert!(changes(&Method::DELETE, "/api/v1/keys/{id}"));
        assert!(!changes(&Method::GET, "/api/v1/models"));
        assert!(!changes(&Method::POST, "/v2/models/{name}/infer"));
        assert!(!changes(&Method::POST, "/v2/repository/index"));
        assert!(changes(&Method::POST, "/v2/repository/models/{name}/load"));
    }
}
