//! Privacy: a model's logging policy keeps inputs out of the prediction log, and erased rows
//! leave the log, its windows and the database file.

use crate::{TestServer, coded_error_of};
use aiaas_api::ErrorCode;
use aiaas_service::Window;
use aiaas_types::ModelName;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// An input value that appears nowhere else, as the log stores it (f32, little-endian).
const MARKER: f32 = 4242.4242;

async fn infer(server: &TestServer, id: &str, petal_length: f32) {
    let body = json!({"id": id, "inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32",
                                           "data": [MARKER, 3.5, petal_length, 0.2]}]});
    let res = server.post_json("/v2/models/iris/infer", &body).await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// Writes what the log still queues (feedback flushes it) and returns the logged rows.
async fn logged(server: &TestServer) -> Vec<aiaas_types::PredictionRow> {
    server
        .post_json(
            "/api/v1/models/iris/feedback",
            &json!([{"id": "flush", "label": "0"}]),
        )
        .await;
    server
        .platform
        .store()
        .predictions(&ModelName::new("iris").unwrap(), &Window::default())
        .await
        .unwrap()
}

async fn set_logging(server: &TestServer, policy: Value) -> reqwest::Response {
    server
        .http
        .put(server.url("/api/v1/models/iris/logging"))
        .json(&policy)
        .send()
        .await
        .unwrap()
}

/// Whether a file of the data directory's database holds `bytes`.
fn database_holds(dir: &std::path::Path, bytes: &[u8]) -> bool {
    ["aiaas.db", "aiaas.db-wal"].iter().any(|file| {
        std::fs::read(dir.join(file))
            .is_ok_and(|content| content.windows(bytes.len()).any(|w| w == bytes))
    })
}

#[tokio::test]
async fn a_logging_policy_keeps_inputs_out_of_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_iris(dir.path()).await;
    assert_eq!(
        server.get_json("/api/v1/models/iris/logging").await,
        json!({"inputs": "all"})
    );
    let res = set_logging(&server, json!({"inputs": "all_but", "except": ["age"]})).await;
    let (code, message) = coded_error_of(res).await;
    assert_eq!(code, ErrorCode::FeatureNotFound);
    assert!(message.contains("petal_length_cm"), "{message}");

    let policy = json!({"inputs": "all_but", "except": ["sepal_length_cm"]});
    assert_eq!(
        set_logging(&server, policy.clone()).await.status(),
        StatusCode::OK
    );
    assert_eq!(server.get_json("/api/v1/models/iris/logging").await, policy);
    for i in 0..20 {
        infer(&server, &format!("some-{i}"), 1.0 + i as f32 / 10.0).await;
    }
    let rows = logged(&server).await;
    assert_eq!(rows.len(), 20);
    assert!(
        rows.iter()
            .all(|r| r.inputs[0].is_nan() && r.inputs[1] == 3.5)
    );
    // Drift covers the features that were kept.
    let drift = server.get_json("/api/v1/models/iris/drift").await;
    let names: Vec<&str> = drift["features"]
        .as_array()
        .unwrap_or_else(|| panic!("{drift}"))
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["sepal_width_cm", "petal_length_cm", "petal_width_cm"]
    );

    let extra = set_logging(&server, json!({"inputs": "none", "keep": true})).await;
    assert_eq!(coded_error_of(extra).await.0, ErrorCode::InvalidInput);
    assert_eq!(
        set_logging(&server, json!({"inputs": "none"}))
            .await
            .status(),
        StatusCode::OK
    );
    infer(&server, "none-1", 1.4).await;
    let rows = logged(&server).await;
    let none = rows.iter().find(|r| r.id == "none-1").unwrap();
    assert!(none.inputs.is_empty() && none.categories.is_none());
    assert!(!database_holds(dir.path(), &MARKER.to_le_bytes()));
    // Quality needs no inputs.
    let labels = json!([{"id": "none-1", "label": "0"}]);
    let outcome: Value = server
        .post_json("/api/v1/models/iris/feedback", &labels)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(outcome["matched"], 1, "{outcome}");
    server.stop().await;
}

#[tokio::test]
async fn erased_predictions_leave_the_windows_and_the_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_iris(dir.path()).await;
    for i in 0..10 {
        infer(&server, &format!("keep-{i}"), 1.4).await;
    }
    infer(&server, "subject-1", 1.4).await;
    infer(&server, "subject-2", 1.4).await;
    assert_eq!(logged(&server).await.len(), 12);
    server.platform.store().checkpoint().await.unwrap();
    assert!(database_holds(dir.path(), &MARKER.to_le_bytes()));

    let erase = |body: Value| {
        server
            .http
            .delete(server.url("/api/v1/models/iris/predictions"))
            .json(&body)
            .send()
    };
    let (code, _) = coded_error_of(erase(json!({})).await.unwrap()).await;
    assert_eq!(code, ErrorCode::InvalidInput);
    let res = erase(json!({"ids": ["subject-1", "subject-2", "never"]}))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"erased": 2}));
    let rows = logged(&server).await;
    assert_eq!(rows.len(), 10);
    assert!(rows.iter().all(|r| r.id.starts_with("keep-")));
    let drift = server.get_json("/api/v1/models/iris/drift").await;
    assert_eq!(drift["rows"], 10, "{drift}");

    // Everything else, by time: gone from the file too.
    let res = erase(json!({"from_ms": 0})).await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"erased": 10}));
    assert!(!database_holds(dir.path(), &MARKER.to_le_bytes()));
    // The erasures are in the audit log.
    let audit = server.get_json("/api/v1/audit").await;
    let erasures = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["route"] == "/api/v1/models/{name}/predictions" && e["status"] == 200)
        .count();
    assert_eq!(erasures, 2, "{audit}");
    server.stop().await;
}
