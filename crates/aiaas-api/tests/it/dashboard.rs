//! The dashboard's files are served to anyone from the binary, under a policy that lets them load
//! nothing from elsewhere; every API route the script calls exists; `/api/v1/session` tells the
//! page whose key it holds.

use crate::{TestServer, client_with_key, create_key};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn the_page_and_its_files_are_served_without_a_key_under_a_strict_policy() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let anyone = reqwest::Client::new();
    for (path, kind, holds) in [
        (
            "/",
            "text/html",
            r#"<script src="/ui/app.js" defer></script>"#,
        ),
        ("/ui/app.js", "text/javascript", "sessionStorage"),
        ("/ui/app.css", "text/css", ".heat"),
    ] {
        let res = anyone.get(server.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let header = |name: &str| res.headers()[name].to_str().unwrap().to_string();
        assert!(header("content-type").starts_with(kind), "{path}");
        let policy = header("content-security-policy");
        assert!(policy.contains("default-src 'none'"), "{policy}");
        assert!(policy.contains("script-src 'self'"), "{policy}");
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert!(res.text().await.unwrap().contains(holds), "{path}");
    }
}

/// Every API path the script writes (in quotes or a template), each `${...}` in it as `{}`,
/// without its query.
fn called_paths() -> Vec<String> {
    let script = include_str!("../../dashboard/app.js");
    let mut paths = Vec::new();
    for (at, _) in script.match_indices("/api/v1") {
        let quote = script[..at].chars().next_back();
        if !matches!(quote, Some('"' | '`')) {
            continue;
        }
        let (mut path, mut depth) = (String::new(), 0);
        let mut chars = script[at..].chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '$' if depth == 0 && chars.peek() == Some(&'{') => {
                    chars.next();
                    depth = 1;
                    path.push_str("{}");
                }
                '{' if depth > 0 => depth += 1,
                '}' if depth > 0 => depth -= 1,
                _ if depth > 0 => {}
                c if Some(c) == quote => break,
                c => path.push(c),
            }
        }
        paths.push(path.split('?').next().unwrap().to_string());
    }
    paths
}

/// Whether `path` (with `{}` for what the script fills in) is the route `template`: a `{}`
/// stands for a template's parameter, which any segment fills.
fn is_route(path: &str, template: &str) -> bool {
    let (path, template): (Vec<_>, Vec<_>) =
        (path.split('/').collect(), template.split('/').collect());
    path.len() == template.len()
        && path
            .iter()
            .zip(&template)
            .all(|(p, t)| p == t || (t.starts_with('{') && t.ends_with('}')))
}

#[tokio::test]
async fn every_route_the_script_calls_exists() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_iris(dir.path()).await;
    let paths = called_paths();
    assert!(paths.len() >= 20, "{paths:?}");
    let document = server.get_json("/api/v1/openapi.json").await;
    let routes = document["paths"].as_object().unwrap();
    for path in paths {
        let known = routes.keys().any(|r| is_route(&path, r));
        assert!(known, "{path} is not a route of the API");
    }
    let res = server.post_json("/v2/repository/index", &json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_session_names_the_key_and_its_role() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let session = server.get_json("/api/v1/session").await;
    assert_eq!(session["auth"], true, "{session}");
    assert_eq!(session["role"], "admin", "{session}");
    let (key, created) = create_key(&server, json!({"name": "wall", "role": "viewer"})).await;
    let viewer: Value = client_with_key(&key)
        .get(server.url("/api/v1/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(viewer["role"], "viewer", "{viewer}");
    assert_eq!(viewer["key"]["name"], "wall");
    assert_eq!(viewer["key"]["id"], created["id"]);
    let res = reqwest::Client::new()
        .get(server.url("/api/v1/session"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}
