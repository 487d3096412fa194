//! What keeps a web page from using a server it can reach (one on localhost, say): a browser
//! sends cross-site calls with the page's `Origin`, and without a preflight only with a form's or
//! plain text's content type. So a call that changes something is refused when its `Origin` is
//! another site, or when it comes as a form or plain text; clients that are not browsers
//! (curl, the CLI, `tritonclient`) send no `Origin` and a real content type, or none.

use crate::error::{ApiError, ErrorCode};
use axum::http::{HeaderMap, Method, header};

/// Refuses a cross-site call that changes something; see the module documentation. (Called by
/// the gate in `auth.rs`, so that refusals are audited.)
pub fn check(method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, authority)| authority);
        if host.is_none() || origin_host != host {
            return Err(ApiError::new(
                ErrorCode::ForbiddenOrigin,
                format!(
                    "calls that change something are refused from another site (Origin {:?}); \
                     call the API from a client, or from a page this server serves",
                    origin.to_str().unwrap_or("?")
                ),
            ));
        }
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|c| c.to_str().ok())
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    if let Some(form) = content_type.filter(|c| {
        matches!(
            c.as_str(),
            "application/x-www-form-urlencoded" | "multipart/form-data" | "text/plain"
        )
    }) {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!(
                "a body sent as {form} is refused (any web page could send one); send JSON as \
                 application/json, a dataset as text/csv, an archive as application/x-tar, \
                 binary tensors as application/octet-stream"
            ),
        ));
    }
    Ok(())
}
