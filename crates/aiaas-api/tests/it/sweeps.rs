//! Sweeps over the API: trials as jobs, the best registered with the sweep in its lineage, the
//! table sorted by the metric, cancel reaching every trial, bad requests refused up front.

use crate::{IRIS, TestServer, coded_error_of};
use aiaas_api::ErrorCode;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

async fn wait_sweep(server: &TestServer, id: &str) -> Value {
    for _ in 0..1200 {
        let sweep: Value = server.get_json(&format!("/api/v1/sweeps/{id}")).await;
        if sweep["state"] != "running" {
            return sweep;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("sweep {id} did not end in two minutes");
}

/// A server with the iris dataset and no model.
async fn with_iris_data() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    assert_eq!(
        server.upload("iris", IRIS).await.status(),
        StatusCode::CREATED
    );
    (server, dir)
}

async fn submit(server: &TestServer, body: Value) -> Value {
    let res = server.post_json("/api/v1/sweeps", &body).await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    res.json().await.unwrap()
}

#[tokio::test]
async fn a_grid_sweep_registers_its_best_trial_and_lists_trials_best_first() {
    let (server, _dir) = with_iris_data().await;
    let queued = submit(
        &server,
        json!({"dataset": "iris", "name": "iris-best", "val_split": 0.2,
               "base": {"epochs": 15, "seed": 3},
               "grid": {"lr": [0.05, 0.00001], "hidden": [[8], [4, 4]]}, "metric": "log_loss"}),
    )
    .await;
    assert_eq!(queued["state"], "running");
    assert_eq!(queued["metric"], "log_loss");
    assert_eq!(queued["trials"].as_array().unwrap().len(), 4);
    let id = queued["id"].as_str().unwrap();
    assert!(id.starts_with("sweep-"), "{id}");

    let sweep = wait_sweep(&server, id).await;
    assert_eq!(sweep["state"], "succeeded", "{sweep}");
    let trials = sweep["trials"].as_array().unwrap();
    let scores: Vec<f64> = trials
        .iter()
        .map(|t| t["score"].as_f64().unwrap())
        .collect();
    assert!(
        scores.windows(2).all(|w| w[0] <= w[1]),
        "log loss ascending: {scores:?}"
    );
    assert!(
        trials
            .iter()
            .all(|t| t["state"] == "succeeded" && t["epochs"] == 15)
    );
    // A learning rate of 1e-5 barely moves: the best trial learned at 0.05.
    assert_eq!(trials[0]["params"]["lr"], 0.05, "{sweep}");
    assert_eq!(sweep["result"]["trial"], trials[0]["job"]);

    // The best trial is the model's only version, and its lineage names the sweep and trial.
    let model: Value = server.get_json("/api/v1/models/iris-best").await;
    assert_eq!(model["versions"].as_array().unwrap().len(), 1, "{model}");
    assert_eq!(sweep["result"]["version"], 1);
    let manifest: Value = server
        .get_json("/api/v1/models/iris-best/versions/1/manifest")
        .await;
    assert_eq!(manifest["lineage"]["sweep"], id);
    assert_eq!(manifest["lineage"]["job"], trials[0]["job"]);
    // Each trial keeps its curve.
    let job: Value = server
        .get_json(&format!(
            "/api/v1/jobs/{}",
            trials[3]["job"].as_str().unwrap()
        ))
        .await;
    assert_eq!(job["history"].as_array().unwrap().len(), 15);
    assert_eq!(job["sweep"], id);
    assert_eq!(job["result"], Value::Null);

    let listed: Value = server.get_json("/api/v1/sweeps").await;
    assert_eq!(listed[0]["id"], id);
    let res = server
        .post_json(&format!("/api/v1/sweeps/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(coded_error_of(res).await.0, ErrorCode::Conflict);
    server.stop().await;
}

#[tokio::test]
async fn cancelling_a_sweep_cancels_its_trials_and_registers_nothing() {
    let (server, _dir) = with_iris_data().await;
    let queued = submit(
        &server,
        json!({"dataset": "iris", "base": {"epochs": 2000, "patience": 0},
               "random": {"trials": 3, "seed": 1, "space": {"lr": {"log_uniform": [0.001, 0.1]}}}}),
    )
    .await;
    let id = queued["id"].as_str().unwrap();
    let first = queued["trials"][0]["job"].as_str().unwrap().to_string();
    // Wait until the single worker runs a trial.
    for _ in 0..100 {
        let job: Value = server.get_json(&format!("/api/v1/jobs/{first}")).await;
        if job["state"] == "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let res = server
        .post_json(&format!("/api/v1/sweeps/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let cancelled: Value = res.json().await.unwrap();
    assert_eq!(cancelled["state"], "cancelled");
    for trial in cancelled["trials"].as_array().unwrap() {
        let job = server.wait_job(trial["job"].as_str().unwrap()).await;
        assert_eq!(job["state"], "cancelled", "{job}");
    }
    let res = server.get("/api/v1/models/iris").await;
    assert_eq!(coded_error_of(res).await.0, ErrorCode::ModelNotFound);
    server.stop().await;
}

#[tokio::test]
async fn a_bad_sweep_is_refused_before_anything_is_queued() {
    let (server, _dir) = with_iris_data().await;
    for (body, code, expected) in [
        (
            json!({"dataset": "ghost", "grid": {"lr": [0.1]}}),
            ErrorCode::DatasetNotFound,
            "ghost",
        ),
        (
            json!({"dataset": "iris"}),
            ErrorCode::InvalidInput,
            "exactly one of grid and random",
        ),
        (
            json!({"dataset": "iris", "grid": {"lr": [0.1]}, "metric": "rmse"}),
            ErrorCode::InvalidInput,
            "rmse does not apply",
        ),
        (
            json!({"dataset": "iris", "grid": {"lr": [0.1, -1.0]}}),
            ErrorCode::InvalidInput,
            "trial 2",
        ),
        (
            json!({"dataset": "iris", "grid": {"lr": [0.1]}, "val_split": 0.0}),
            ErrorCode::InvalidInput,
            "val_split must be > 0",
        ),
        (
            json!({"dataset": "iris", "grid": {"speed": [1]}}),
            ErrorCode::InvalidInput,
            "speed is not a training option",
        ),
        (
            json!({"dataset": "iris", "grid": {"lr": [0.1]}, "epochs": 3}),
            ErrorCode::InvalidInput,
            "epochs",
        ),
    ] {
        let res = server.post_json("/api/v1/sweeps", &body).await;
        let (got, message) = coded_error_of(res).await;
        assert_eq!(got, code, "{body}: {message}");
        assert!(message.contains(expected), "{body}: {message}");
    }
    let sweeps: Value = server.get_json("/api/v1/sweeps").await;
    assert_eq!(sweeps, json!([]));
    let jobs: Value = server.get_json("/api/v1/jobs").await;
    assert_eq!(jobs, json!([]));
    let res = server.get("/api/v1/sweeps/sweep-ghost").await;
    assert_eq!(coded_error_of(res).await.0, ErrorCode::SweepNotFound);
    server.stop().await;
}
