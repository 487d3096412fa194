//! Crafted model archives, as an attacker on the network would send them: each is refused with
//! a 422 that says what is wrong, before anything is allocated for the model it declares, and the
//! server keeps serving.

use crate::{TestServer, coded_error_of, rewritten};
use aiaas_api::ErrorCode;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A change to a manifest.
type Edit = Box<dyn FnOnce(&mut Value)>;

fn layers(widths: &[u64]) -> Value {
    let layers: Vec<Value> = widths
        .windows(2)
        .map(|w| json!({"inputs": w[0], "outputs": w[1], "activation": "relu"}))
        .collect();
    json!(layers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crafted_archives_are_refused_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_iris(dir.path()).await;
    let archive = server.iris_archive().await;

    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "sparse layers 4 -> 4,194,304 -> 4,194,304 -> 3",
            Box::new(|m| {
                m["layers"] = layers(&[4, 4_194_304, 4_194_304, 3]);
                m["weights"] = json!({"dtype": "f32", "layout": "sparse"});
            }),
            "more than 20000000 parameters",
        ),
        (
            "4 -> 16,777,216 -> 3 (117 M parameters)",
            Box::new(|m| m["layers"] = layers(&[4, 16_777_216, 3])),
            "more than 20000000 parameters",
        ),
        (
            "four labels for three outputs",
            Box::new(|m| {
                m["schema"]["target"]["labels"] = json!(["a", "b", "c", "d"]);
            }),
            "4 class labels need 4",
        ),
        (
            "no features",
            Box::new(|m| m["schema"]["features"] = json!([])),
            "no input features",
        ),
        (
            "layers that do not chain",
            Box::new(|m| {
                m["layers"] = json!([
                    {"inputs": 4, "outputs": 8, "activation": "relu"},
                    {"inputs": 9, "outputs": 3, "activation": "identity"},
                ])
            }),
            "layer 0 gives 8 outputs but layer 1 takes 9",
        ),
        (
            "an empty layer",
            Box::new(|m| m["layers"] = layers(&[4, 0, 3])),
            "layer 0 is empty",
        ),
    ];
    for (what, edit, says) in cases {
        let body = rewritten(&archive, |manifest, _| edit(manifest));
        let res = server.import("crafted", body).await;
        let (code, message) = coded_error_of(res).await;
        assert_eq!(code, ErrorCode::InvalidInput, "{what}: {message}");
        assert!(message.contains(says), "{what}: {message:?} lacks {says:?}");
    }

    // Nothing was registered, and the real model still answers.
    let res = server.get("/api/v1/models/crafted").await;
    assert_eq!(coded_error_of(res).await.0, ErrorCode::ModelNotFound);
    let infer = json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32",
        "data": [5.1, 3.5, 1.4, 0.2]}]});
    let res = server.post_json("/v2/models/iris/infer", &infer).await;
    assert_eq!(res.status(), StatusCode::OK);
    // The untouched archive still imports.
    let res = server
        .import("crafted", rewritten(&archive, |_, _| {}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    server.stop().await;
}
