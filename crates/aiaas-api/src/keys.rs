//! `/api/v1/keys`: create, list and revoke API keys (admin only, see `auth.rs`); and
//! `/api/v1/session`, whose key a call carries (what the dashboard shows and offers).

use crate::AppState;
use crate::body::JsonBody;
use crate::error::{ApiError, ErrorBody};
use aiaas_service::{KeyRecord, Platform};
use aiaas_types::{KeyId, KeySpec, Role};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

type Result<T> = std::result::Result<T, ApiError>;

/// The key a call came with, as the gate found it (none with keys not checked).
#[derive(Clone)]
pub struct Caller(pub Option<Arc<KeyRecord>>);

/// Who is calling: the key's record, or, where the server checks no keys, anyone with every
/// right.
#[derive(Serialize, ToSchema)]
pub struct SessionBody {
    /// Whether the server checks API keys (false: every call is allowed).
    pub auth: bool,
    /// What the caller may do.
    pub role: Role,
    /// The caller's key, when keys are checked.
    pub key: Option<KeyRecord>,
}

#[utoipa::path(get, path = "/api/v1/session", tag = "keys",
    responses((status = 200, description = "The calling key's record and role (any valid key)", body = SessionBody)))]
pub async fn session(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Json<SessionBody> {
    let key = caller.0.map(|k| (*k).clone());
    Json(SessionBody {
        auth: state.auth.enabled,
        role: key.as_ref().map_or(Role::Admin, |k| k.role),
        key,
    })
}

/// A key just created. `key` is the secret: it is shown this once and stored only hashed.
#[derive(Serialize, ToSchema)]
pub struct CreatedKeyBody {
    /// The secret, to send as `Authorization: Bearer <key>`.
    pub key: String,
    #[serde(flatten)]
    pub record: KeyRecord,
}

#[utoipa::path(post, path = "/api/v1/keys", tag = "keys",
    request_body(content = KeySpec, description = "`{\"name\", \"role\"}`, optionally \
        `models`, `expires_at_ms`, `rate_limit` (requests per second)"),
    responses(
        (status = 201, description = "Created; the secret is in `key`, shown only now", body = CreatedKeyBody),
        (status = 400, description = "Malformed JSON, unknown role or invalid name", body = ErrorBody),
        (status = 422, description = "Fields that do not go together or are out of range", body = ErrorBody),
    ))]
pub async fn create_key(
    State(p): State<Platform>,
    JsonBody(spec): JsonBody<KeySpec>,
) -> Result<(StatusCode, Json<CreatedKeyBody>)> {
    let created = p.create_key(spec).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKeyBody {
            key: created.secret,
            record: created.record,
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/keys", tag = "keys",
    responses((status = 200, description = "Every key, oldest first, without secrets", body = Vec<KeyRecord>)))]
pub async fn list_keys(State(p): State<Platform>) -> Result<Json<Vec<KeyRecord>>> {
    Ok(Json(p.list_keys().await?))
}

#[utoipa::path(delete, path = "/api/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 204, description = "Revoked: refused from the next call on"),
        (status = 400, description = "Invalid id", body = ErrorBody),
        (status = 404, description = "No such key", body = ErrorBody),
    ))]
pub async fn revoke_key(State(p): State<Platform>, Path(id): Path<String>) -> Result<StatusCode> {
    p.revoke_key(&KeyId::new(id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
