//! API keys and roles: every route refuses anonymous and wrong-role calls, keys are created,
//! scoped, expired and revoked with effect from the next call, and only hashes are stored.

use crate::{TestServer, client_with_key, coded_error_of, create_key, quick_iris_job};
use aiaas_api::{Access, ErrorCode, RULES};
use aiaas_types::Role;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

/// A route template with its parameters filled in.
fn concrete(template: &str) -> String {
    template
        .replace("{name}", "iris")
        .replace("{version}", "1")
        .replace("{id}", "0000")
        .replace("{alias}", "staging")
        .replace("{key}", "team")
}

async fn call(client: &Client, base: &str, method: &str, template: &str) -> reqwest::Response {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = client.request(method.clone(), format!("{base}{}", concrete(template)));
    if method != Method::GET {
        request = request.json(&json!({}));
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn every_route_refuses_anonymous_and_wrong_role_calls() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_iris(dir.path()).await;
    let mut clients = vec![(Role::Admin, server.http.clone())];
    for role in [Role::Operator, Role::Predictor, Role::Viewer] {
        let (key, _) = create_key(&server, json!({"name": role.as_str(), "role": role})).await;
        clients.push((role, client_with_key(&key)));
    }
    let anonymous = Client::new();
    for &(method, template, access) in RULES {
        let res = call(&anonymous, &server.base, method, template).await;
        if access == Access::Public {
            assert_ne!(
                res.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {template}"
            );
        } else {
            assert_eq!(
                res.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {template} answered an anonymous call"
            );
            assert_eq!(res.headers()["www-authenticate"], "Bearer");
            let (code, message) = coded_error_of(res).await;
            assert_eq!(code, ErrorCode::Unauthenticated);
            assert!(message.contains("Authorization: Bearer"), "{message}");
        }
        for (role, client) in &clients {
            let res = call(client, &server.base, method, template).await;
            let status = res.status();
            if access.allows(*role) {
                assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{role} may {method} {template}: {status} {}",
                    res.text().await.unwrap()
                );
                // The rule names a real route.
                let text = res.text().await.unwrap();
                assert!(
                    status != StatusCode::METHOD_NOT_ALLOWED && !text.contains("no such endpoint"),
                    "{method} {template} is not a route: {text}"
                );
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{role} {method} {template}");
                let (code, message) = coded_error_of(res).await;
                assert_eq!(code, ErrorCode::Forbidden);
                assert!(message.contains(role.as_str()), "{message}");
            }
        }
    }
    server.stop().await;
}

/// A documented route without a rule would be refused to everyone; this names it instead.
#[tokio::test]
async fn every_documented_route_has_an_access_rule() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let doc = server.get_json("/api/v1/openapi.json").await;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            assert!(
                aiaas_api::access_rule(&method, path).is_some(),
                "{method} {path} has no access rule"
            );
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn expiry_and_revocation_take_effect_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let (short, _) = create_key(
        &server,
        json!({"name": "short", "role": "viewer", "expires_at_ms": now_ms + 1500}),
    )
    .await;
    let short = client_with_key(&short);
    let models = server.url("/api/v1/models");
    assert_eq!(
        short.get(&models).send().await.unwrap().status(),
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let (code, message) = coded_error_of(short.get(&models).send().await.unwrap()).await;
    assert_eq!(code, ErrorCode::Unauthenticated);
    assert!(message.contains("expired"), "{message}");

    let (key, created) = create_key(&server, json!({"name": "ci", "role": "operator"})).await;
    let ci = client_with_key(&key);
    assert_eq!(
        ci.get(&models).send().await.unwrap().status(),
        StatusCode::OK
    );
    let revoke = || {
        let id = created["id"].as_str().unwrap();
        server
            .http
            .delete(server.url(&format!("/api/v1/keys/{id}")))
            .send()
    };
    assert_eq!(revoke().await.unwrap().status(), StatusCode::NO_CONTENT);
    let (code, _) = coded_error_of(ci.get(&models).send().await.unwrap()).await;
    assert_eq!(code, ErrorCode::Unauthenticated);
    let again = revoke().await.unwrap();
    assert_eq!(coded_error_of(again).await.0, ErrorCode::KeyNotFound);
    server.stop().await;
}

#[tokio::test]
async fn a_key_limited_to_models_reaches_only_those() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_iris(dir.path()).await;
    let mut job = quick_iris_job();
    job["name"] = json!("other");
    assert_eq!(server.train(job).await["state"], "succeeded");
    let (key, created) = create_key(
        &server,
        json!({"name": "app", "role": "predictor", "models": ["iris"]}),
    )
    .await;
    assert_eq!(created["models"], json!(["iris"]));
    let app = client_with_key(&key);
    let body = json!({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4],
                                  "data": [5.1, 3.5, 1.4, 0.2]}]});
    let infer = |model: &str| {
        app.post(server.url(&format!("/v2/models/{model}/infer")))
            .json(&body)
            .send()
    };
    assert_eq!(infer("iris").await.unwrap().status(), StatusCode::OK);
    let res = infer("other").await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let error: Value = res.json().await.unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("may only use the models iris"),
        "{error}"
    );
    // Any key can be limited: a viewer reads only its models.
    let (key, _) = create_key(
        &server,
        json!({"name": "x", "role": "viewer", "models": ["iris"]}),
    )
    .await;
    let viewer = client_with_key(&key);
    let quality = |model: &str| {
        viewer
            .get(server.url(&format!("/api/v1/models/{model}")))
            .send()
    };
    assert_eq!(quality("iris").await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        quality("other").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    server.stop().await;
}

#[tokio::test]
async fn keys_are_stored_hashed_and_listed_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let (key, _) = create_key(&server, json!({"name": "ci", "role": "viewer"})).await;
    assert!(key.starts_with("aiaas_") && key.len() == 6 + 64, "{key}");
    let listed = server.get("/api/v1/keys").await.text().await.unwrap();
    assert!(
        listed.contains("\"ci\"") && listed.contains("\"admin\""),
        "{listed}"
    );
    assert!(!listed.contains(&key[6..]) && !listed.contains(&server.admin_key[6..]));
    assert!(!listed.contains("sha256"), "{listed}");
    let admin_key = server.admin_key.clone();
    server.stop().await;
    // Nothing on disk holds the secret but the admin key file.
    for entry in walk(dir.path()) {
        // The database's -wal and -shm files may go as it closes.
        let Ok(bytes) = std::fs::read(&entry) else {
            continue;
        };
        let holds = |secret: &str| bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
        assert!(!holds(&key), "{} holds a secret", entry.display());
        if !entry.ends_with("admin.key") {
            assert!(!holds(&admin_key), "{}", entry.display());
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("admin.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A restart creates no second admin key.
    let server = TestServer::start(dir.path()).await;
    let keys = server.get_json("/api/v1/keys").await;
    assert_eq!(keys.as_array().unwrap().len(), 2, "{keys}");
    server.stop().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test]
async fn the_audit_log_holds_every_change_and_every_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_iris(dir.path()).await;
    let (viewer_key, viewer) =
        create_key(&server, json!({"name": "reader", "role": "viewer"})).await;
    let viewer_client = client_with_key(&viewer_key);
    let alias = server.url("/api/v1/models/iris/aliases/champion");
    let body = json!({"version": 1});
    // Refused: no key, a wrong role, another site's page.
    let anonymous = Client::new().put(&alias).json(&body).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let wrong_role = viewer_client.put(&alias).json(&body).send().await.unwrap();
    assert_eq!(wrong_role.status(), StatusCode::FORBIDDEN);
    let cross_site = server
        .http
        .put(&alias)
        .header("Origin", "https://evil.example")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    // Changes, one of which fails.
    assert!(
        server
            .http
            .put(&alias)
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let missing = server.url("/api/v1/models/iris/aliases/staging");
    let res = server.http.delete(&missing).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // Not recorded: reads and inference.
    server.get("/api/v1/models").await;
    let infer = json!({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4],
                                   "data": [5.1, 3.5, 1.4, 0.2]}]});
    server.post_json("/v2/models/iris/infer", &infer).await;

    let res = viewer_client
        .get(server.url("/api/v1/audit"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "only an admin reads the audit log"
    );
    let text = server
        .get("/api/v1/audit?limit=1000")
        .await
        .text()
        .await
        .unwrap();
    assert!(!text.contains(&viewer_key[6..]) && !text.contains(&server.admin_key[6..]));
    let entries: Value = serde_json::from_str(&text).unwrap();
    let seen: Vec<(String, String, u64, String)> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["client"], "127.0.0.1", "{e}");
            (
                e["method"].as_str().unwrap().to_string(),
                e["target"].as_str().unwrap().to_string(),
                e["status"].as_u64().unwrap(),
                e["key_name"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect();
    let row = |m: &str, t: &str, s: u64, k: &str| (m.into(), t.into(), s, k.into());
    let alias_path = "/api/v1/models/iris/aliases/champion";
    let expected = [
        row("POST", "/api/v1/datasets?name=iris", 201, "admin"),
        row("POST", "/api/v1/jobs", 201, "admin"),
        row("POST", "/api/v1/keys", 201, "admin"),
        row("PUT", alias_path, 401, "-"),
        row("PUT", alias_path, 403, "reader"),
        row("PUT", alias_path, 403, "admin"),
        row("PUT", alias_path, 200, "admin"),
        row(
            "DELETE",
            "/api/v1/models/iris/aliases/staging",
            404,
            "admin",
        ),
        row("GET", "/api/v1/audit", 403, "reader"),
    ];
    assert_eq!(seen, expected, "{entries}");
    let refused = &entries[4];
    assert_eq!(refused["role"], "viewer");
    assert_eq!(refused["key_id"], viewer["id"]);
    assert_eq!(refused["route"], "/api/v1/models/{name}/aliases/{alias}");
    // Paging by time.
    let last = entries[8]["at_ms"].as_i64().unwrap();
    let later = server
        .get_json(&format!("/api/v1/audit?since={last}"))
        .await;
    assert!(!later.as_array().unwrap().is_empty(), "{later}");
    let res = server.get("/api/v1/audit?limit=0").await;
    assert_eq!(coded_error_of(res).await.0, ErrorCode::InvalidInput);
    server.stop().await;
}

#[tokio::test]
async fn a_key_over_its_rate_is_answered_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let (key, _) = create_key(
        &server,
        json!({"name": "slow", "role": "viewer", "rate_limit": 2.0}),
    )
    .await;
    let slow = client_with_key(&key);
    let models = server.url("/api/v1/models");
    for _ in 0..2 {
        assert_eq!(
            slow.get(&models).send().await.unwrap().status(),
            StatusCode::OK
        );
    }
    let res = slow.get(&models).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers()["retry-after"], "1");
    let (code, message) = coded_error_of(res).await;
    assert_eq!(code, ErrorCode::RateLimited);
    assert!(message.contains("2 requests per second"), "{message}");
    // Other keys are not held back, and the refusal is audited.
    assert_eq!(server.get("/api/v1/models").await.status(), StatusCode::OK);
    let audit = server.get_json("/api/v1/audit").await;
    let limited = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["status"] == 429)
        .unwrap_or_else(|| panic!("no 429 in {audit}"));
    assert_eq!(limited["key_name"], "slow");
    // Half a second later a token is back.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        slow.get(&models).send().await.unwrap().status(),
        StatusCode::OK
    );
    server.stop().await;
}
