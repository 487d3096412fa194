//! What keeps a web page from using a server it can reach (one on localhost, say): a browser
//! sends cross-site calls with the page's `Origin`, and without a preflight only with a form's or
//! plain text's content type and no `Authorization` header. So a call that changes something is
//! refused when its `Origin` is another site, or when it comes as a form or plain text without
//! an `Authorization` header (which a page cannot add without a preflight this server never
//! grants); clients that are not browsers (curl, the CLI, `tritonclient`) send no `Origin`, and
//! with their key may send a form (`curl -F file=@iris.csv`).

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
    let credentials = headers.contains_key(header::AUTHORIZATION);
    if let Some(form) = content_type.filter(|c| {
        !credentials
            && matches!(
                c.as_str(),
                "application/x-www-form-urlencoded" | "multipart/form-data" | "text/plain"
            )
    }) {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!(
                "a body sent as {form} without an Authorization header is refused (any web page could send \
                 one); send JSON as application/json, a dataset as text/csv, an archive as \
                 application/x-tar, binary tensors as application/octet-stream"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), HeaderValue::from_static(value)))
            .collect()
    }

    #[test]
    fn forms_pass_only_with_credentials_that_a_page_cannot_send() {
        for form in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ] {
            let bare = headers(&[(header::CONTENT_TYPE, form)]);
            let err = check(&Method::POST, &bare).unwrap_err();
            assert_eq!(err.code, ErrorCode::UnsupportedMediaType, "{form}");
            let keyed = headers(&[
                (header::CONTENT_TYPE, form),
                (header::AUTHORIZATION, "Bearer aiaas_x"),
            ]);
            assert!(check(&Method::POST, &keyed).is_ok(), "{form}");
            assert!(check(&Method::GET, &bare).is_ok(), "reads are not checked");
        }
        let foreign = headers(&[
            (header::ORIGIN, "http://evil.example"),
            (header::HOST, "127.0.0.1:8080"),
            (header::AUTHORIZATION, "Bearer aiaas_x"),
        ]);
        let err = check(&Method::POST, &foreign).unwrap_err();
        assert_eq!(err.code, ErrorCode::ForbiddenOrigin);
    }
}
