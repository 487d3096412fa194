//! The dashboard: one page and its script and style sheet, embedded in the binary (no CDN, no
//! front-end server, no build step), served at `/` and `/ui/*` to anyone: they hold no data. The
//! page reads everything through the same `/api/v1` routes as the CLI, with the key the user
//! signs in with kept in the tab and sent as the `Authorization` header, never a cookie; the gate
//! weighs those calls as any other.

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::response::{IntoResponse, Response};

const PAGE: &str = include_str!("../dashboard/index.html");
const SCRIPT: &str = include_str!("../dashboard/app.js");
const STYLE: &str = include_str!("../dashboard/app.css");

/// What the page may load and do: its own script, style and API, nothing inline, no other site,
/// never inside another site's frame.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let headers = [
        (CONTENT_TYPE, content_type),
        (CONTENT_SECURITY_POLICY, POLICY),
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (X_FRAME_OPTIONS, "DENY"),
        // Revalidated on each load, so that a new binary's page is never mixed with an old one's.
        (CACHE_CONTROL, "no-cache"),
    ];
    (headers, body).into_response()
}

pub async fn page() -> Response {
    asset(PAGE, "text/html; charset=utf-8")
}

pub async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

pub async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}
