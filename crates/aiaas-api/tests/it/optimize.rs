//! Optimize jobs over HTTP: an accepted int8 variant registered as the next version with its
//! lineage and served by V2 infer; a variant the guard refuses registers nothing; bad
//! submissions are 4xx and create no job.

use crate::{TestServer, coded_error_of, error_of};
use aiaas_api::ErrorCode;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// int8 quantization of `iris@1`. Iris tests on 30 rows, so one row is 0.033 of accuracy: the
/// guard is set wide enough that the job is about registering, not about the verdict.
fn quantize_job() -> Value {
    json!({
        "kind": "optimize",
        "model": "iris",
        "version": "1",
        "recipe": {"method": "quantize", "scheme": "int8"},
        "max_drop": 0.1
    })
}

/// Submits an optimize job and waits for it; returns the final job record.
async fn run_job(server: &TestServer, body: &Value) -> Value {
    let res = server.post_json("/api/v1/jobs", body).await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    let job: Value = res.json().await.unwrap();
    assert_eq!(job["kind"], "optimize", "{job}");
    server.wait_job(job["id"].as_str().unwrap()).await
}

/// The events of a finished job, as `(kind, data)`.
async fn events(server: &TestServer, id: &str) -> Vec<(String, Value)> {
    let text = server
        .get(&format!("/api/v1/jobs/{id}/events"))
        .await
        .text()
        .await
        .unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| {
            let event: Value = serde_json::from_str(d.trim()).expect("events are JSON");
            (
                event["kind"].as_str().unwrap().to_string(),
                event["data"].clone(),
            )
        })
        .collect()
}

/// The report event of a finished optimize job.
async fn report(server: &TestServer, id: &str) -> Value {
    let all = events(server, id).await;
    let reports: Vec<&Value> = all
        .iter()
        .filter(|(k, _)| k == "report")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(reports.len(), 1, "{all:?}");
    reports[0].clone()
}

async fn version_count(server: &TestServer) -> usize {
    let model = server.get_json("/api/v1/models/iris").await;
    model["versions"].as_array().expect("versions").len()
}

async fn job_count(server: &TestServer) -> usize {
    let jobs = server.get_json("/api/v1/jobs").await;
    jobs.as_array().expect("a list of jobs").len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_int8_variant_is_registered_with_its_lineage_and_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_iris(dir.path()).await;

    let job = run_job(&server, &quantize_job()).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["result"]["model"], "iris", "{job}");
    assert_eq!(job["result"]["version"], 2, "{job}");
    let id = job["id"].as_str().unwrap();

    let report = report(&server, id).await;
    assert_eq!(report["accepted"], true, "{report}");
    assert_eq!(report["parent_ref"], "iris@1", "{report}");
    assert_eq!(report["recipe"]["method"], "quantize", "{report}");
    // Same parameters; on a model this small (67 of them) the file is not smaller, as the
    // safetensors header and the per-row scales outweigh the 3 bytes saved per weight.
    assert_eq!(
        report["variant"]["params"], report["parent"]["params"],
        "{report}"
    );

    let version: Value = server.get_json("/api/v1/models/iris/versions/2").await;
    assert_eq!(version["version"], 2, "{version}");
    assert_eq!(version["parent"], 1, "{version}");
    let manifest = &version["manifest"];
    assert_eq!(manifest["weights"]["dtype"], "int8", "{manifest}");
    assert_eq!(
        manifest["weights"]["quantization"], "int8-per-channel",
        "{manifest}"
    );
    let lineage = &manifest["lineage"];
    assert_eq!(lineage["parent"], "iris@1", "{lineage}");
    assert_eq!(lineage["job"], json!(id), "{lineage}");
    assert_eq!(lineage["optimization"]["accepted"], true, "{lineage}");
    assert_eq!(
        lineage["optimization"], report,
        "the manifest keeps the report"
    );
    assert_eq!(version_count(&server).await, 2);

    // The int8 version answers V2 inference like any other.
    let body = json!({"inputs": [{
        "name": "input",
        "shape": [2, 4],
        "datatype": "FP32",
        "data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
    }]});
    let res = server
        .post_json("/v2/models/iris/versions/2/infer", &body)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["model_version"], "2", "{answer}");
    assert_eq!(answer["outputs"][0]["name"], "probabilities", "{answer}");
    assert_eq!(answer["outputs"][0]["shape"], json!([2, 3]), "{answer}");
    let probabilities: Vec<f64> = answer["outputs"][0]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    for row in probabilities.chunks(3) {
        let sum: f64 = row.iter().sum();
        assert!((sum - 1.0).abs() < 1e-4, "{row:?}");
    }
    assert_eq!(
        answer["outputs"][1]["data"].as_array().unwrap().len(),
        2,
        "{answer}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_variant_fails_the_job_and_registers_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_iris(dir.path()).await;
    let before = version_count(&server).await;

    let job = run_job(
        &server,
        &json!({
            "kind": "optimize",
            "model": "iris",
            "version": "1",
            "recipe": {"method": "prune", "sparsity": 0.99, "epochs": 0},
            "max_drop": 0.0
        }),
    )
    .await;
    assert_eq!(job["state"], "failed", "{job}");
    let error = job["error"].as_str().unwrap();
    assert!(error.contains("refused"), "{error}");
    assert!(error.contains("beyond"), "{error}");
    assert!(job["result"].is_null(), "{job}");

    // The report is kept on the job all the same.
    let report = report(&server, job["id"].as_str().unwrap()).await;
    assert_eq!(report["accepted"], false, "{report}");
    assert_eq!(report["max_drop"], 0.0, "{report}");
    assert_eq!(version_count(&server).await, before);
    let res = server.get("/api/v1/models/iris/versions/2").await;
    assert_eq!(coded_error_of(res).await.0, ErrorCode::VersionNotFound);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_optimize_submissions_are_4xx_and_create_no_job() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_iris(dir.path()).await;
    // An int8 version to quantize again.
    assert_eq!(
        run_job(&server, &quantize_job()).await["state"],
        "succeeded"
    );
    let jobs = job_count(&server).await;
    let versions = version_count(&server).await;

    let optimize = |model: &str, version: Option<&str>, recipe: Value| {
        let mut body = json!({"kind": "optimize", "model": model, "recipe": recipe});
        if let Some(v) = version {
            body["version"] = json!(v);
        }
        body
    };
    let quantize = json!({"method": "quantize"});
    let cases = [
        (
            optimize("ghost", None, quantize.clone()),
            vec![StatusCode::NOT_FOUND],
            "ghost",
        ),
        (
            optimize("ghost", Some("1"), quantize.clone()),
            vec![StatusCode::NOT_FOUND],
            "ghost",
        ),
        (
            optimize("iris", Some("9"), quantize.clone()),
            vec![StatusCode::NOT_FOUND],
            "9",
        ),
        (
            optimize("iris", Some("challenger"), quantize.clone()),
            vec![StatusCode::NOT_FOUND],
            "challenger",
        ),
        (
            optimize(
                "iris",
                Some("1"),
                json!({"method": "prune", "sparsity": 1.5}),
            ),
            vec![StatusCode::UNPROCESSABLE_ENTITY],
            "strictly between 0 and 1",
        ),
        (
            optimize(
                "iris",
                Some("1"),
                json!({"method": "prune", "sparsity": 0.5, "structured": true, "epochs": 1, "sparsity_": 1}),
            ),
            vec![StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY],
            "sparsity_",
        ),
        (
            optimize(
                "iris",
                Some("1"),
                json!({"method": "quantize", "scheme": "int8", "bits": 4}),
            ),
            vec![StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY],
            "bits",
        ),
        (
            optimize("iris", Some("1"), json!({"method": "fold"})),
            vec![StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY],
            "fold",
        ),
        (
            optimize("iris", Some("2"), quantize.clone()),
            vec![StatusCode::UNPROCESSABLE_ENTITY],
            "already",
        ),
        // No version: the newest (the int8 one) is the parent.
        (
            optimize("iris", None, json!({"method": "quantize", "scheme": "f16"})),
            vec![StatusCode::UNPROCESSABLE_ENTITY],
            "already",
        ),
        (
            optimize(
                "iris",
                Some("1"),
                json!({"method": "distill", "hidden": [0]}),
            ),
            vec![StatusCode::UNPROCESSABLE_ENTITY],
            "at least one unit",
        ),
        (
            {
                let mut body = optimize("iris", Some("1"), quantize.clone());
                body["max_drop"] = json!(-1.0);
                body
            },
            vec![StatusCode::UNPROCESSABLE_ENTITY],
            "max_drop",
        ),
        (
            {
                let mut body = optimize("iris", Some("1"), quantize.clone());
                body["dataset"] = json!("iris");
                body
            },
            vec![StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY],
            "dataset",
        ),
    ];
    for (body, statuses, needle) in cases {
        let (status, message) = error_of(server.post_json("/api/v1/jobs", &body).await).await;
        assert!(
            statuses.contains(&status),
            "{body}: {status} {message}, want one of {statuses:?}"
        );
        assert!(
            message.contains(needle),
            "{body}: {message:?} lacks {needle:?}"
        );
    }
    assert_eq!(
        job_count(&server).await,
        jobs,
        "a refused submission queues nothing"
    );
    assert_eq!(version_count(&server).await, versions);
    server.stop().await;
}
