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

/// The literal paths the script passes to `api(...)`, up to any `${...}` or query.
fn called_paths() -> Vec<String> {
    let script = include_str!("../../dashboard/app.js");
    script
        .split("api(")
        .skip(1)
        .filter_map(|call| {
            let quote = call.chars().next().filter(|c| ['"', '`'].contains(c))?;
            let path = call[1..].split(quote).next()?;
            Some(path.split(['$', '?']).next()?.to_string())
        })
        .collect()
}

#[tokio::test]
async fn every_route_the_script_calls_exists() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_iris(dir.path()).await;
    let paths = called_paths();
    assert!(paths.len() >= 8, "{paths:?}");
    let document = server.get_json("/api/v1/openapi.json").await;
    let routes = document["paths"].as_object().unwrap();
    for path in paths {
        if path.starts_with("/v2") {
            continue;
        }
        // A path cut at `${name}` is the start of a templated route.
        let known = routes
            .keys()
            .any(|r| r == &path || (path.ends_with('/') && r.starts_with(&path)));
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
