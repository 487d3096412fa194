//! The KServe V2 endpoints: metadata, readiness, infer (flat and nested data, selected outputs,
//! ids), every bad request with its status and message, and hot swap under load.

use crate::{IRIS, TestServer, client_with_key, create_key, error_of, quick_iris_job};
use aiaas_types::ModelName;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn iris_server(dir: &std::path::Path) -> TestServer {
    let server = TestServer::start(dir).await;
    server.upload("iris", IRIS).await;
    assert_eq!(server.train(quick_iris_job()).await["state"], "succeeded");
    server
}

fn rows(x: &[[f32; 4]]) -> Value {
    json!({"inputs": [{"name": "input", "shape": [x.len(), 4], "datatype": "FP32", "data": x}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_readiness_and_infer_follow_the_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let server = iris_server(dir.path()).await;

    assert_eq!(server.get_json("/v2/health/live").await["live"], true);
    assert_eq!(server.get_json("/v2/health/ready").await["ready"], true);
    // While the models load, readiness says so (503) and liveness does not change.
    server
        .ready
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let (status, message) = error_of(server.get("/v2/health/ready").await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(message.contains("loading"), "{message}");
    assert_eq!(server.get_json("/v2/health/live").await["live"], true);
    server
        .ready
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let meta = server.get_json("/v2").await;
    assert_eq!(meta["name"], "aiaas");
    let model = server.get_json("/v2/models/iris").await;
    assert_eq!(model["versions"], json!(["1"]));
    assert_eq!(
        model["inputs"],
        json!([{"name": "input", "datatype": "FP32", "shape": [-1, 4]}])
    );
    assert_eq!(model["outputs"][0]["name"], "probabilities");
    assert_eq!(model["outputs"][0]["shape"], json!([-1, 3]));
    assert_eq!(
        model["outputs"][1],
        json!({"name": "label", "datatype": "BYTES", "shape": [-1]})
    );
    assert_eq!(
        server.get_json("/v2/models/iris/ready").await["ready"],
        true
    );
    assert_eq!(
        server.get_json("/v2/models/iris/versions/1/ready").await["ready"],
        true
    );

    // Nested data, an id to echo; the answer equals the bundle's own prediction.
    let x = [
        [5.1, 3.5, 1.4, 0.2],
        [6.7, 3.0, 5.2, 2.3],
        [5.9, 3.0, 4.2, 1.5],
    ];
    let mut body = rows(&x);
    body["id"] = json!("req-7");
    let res = server.post_json("/v2/models/iris/infer", &body).await;
    assert_eq!(res.status(), StatusCode::OK);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["id"], "req-7");
    assert_eq!(answer["model_version"], "1");
    let bundle = server
        .platform
        .load_bundle(
            &ModelName::new("iris").unwrap(),
            aiaas_types::Version::new(1),
        )
        .await
        .unwrap();
    let csv = "sepal_length_cm,sepal_width_cm,petal_length_cm,petal_width_cm\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n5.9,3.0,4.2,1.5\n";
    let frame = aiaas_data::read_csv_bytes_for_schema(
        "x.csv",
        csv.as_bytes(),
        &bundle.manifest.schema,
        false,
    )
    .unwrap();
    let logits = bundle.network.predict(&frame.x, frame.rows, 1);
    let aiaas_engine::Predictions::Classes { probabilities, .. } =
        aiaas_engine::decode(&bundle.manifest.schema.target, &logits, 3)
    else {
        panic!("iris is classification")
    };
    let served: Vec<f32> = answer["outputs"][0]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    // Equal up to the last bits: the GEMM kernel depends on how many rows share a pass.
    assert_eq!(served.len(), probabilities.len());
    for (s, p) in served.iter().zip(&probabilities) {
        assert!((s - p).abs() <= 1e-6, "{served:?} vs {probabilities:?}");
    }
    assert_eq!(answer["outputs"][0]["shape"], json!([3, 3]));
    assert_eq!(answer["outputs"][1]["data"].as_array().unwrap().len(), 3);

    // Flat data, only the label, no id: one is generated.
    let mut flat = rows(&x[..1]);
    flat["inputs"][0]["data"] = json!([5.1, 3.5, 1.4, 0.2]);
    flat["outputs"] = json!([{"name": "label"}]);
    let answer: Value = server
        .post_json("/v2/models/iris/versions/1/infer", &flat)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["outputs"].as_array().unwrap().len(), 1);
    assert_eq!(answer["outputs"][0]["name"], "label");
    assert!(!answer["id"].as_str().unwrap().is_empty());

    // The repository extension.
    let index: Value = server
        .http
        .post(server.url("/v2/repository/index"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(index[0]["name"], "iris");
    assert_eq!(index[0]["state"], "READY");
    // What the server holds, with its memory against the budget.
    let serving = server.get_json("/api/v1/serving").await;
    let loaded = serving["loaded"].as_array().unwrap();
    assert_eq!(loaded.len(), 1, "{serving}");
    assert_eq!(loaded[0]["model"], "iris");
    assert_eq!(loaded[0]["version"], 1);
    assert_eq!(loaded[0]["runtime"], "network");
    let memory = loaded[0]["memory_bytes"].as_u64().unwrap();
    assert!(memory > 0, "{serving}");
    assert_eq!(serving["held_bytes"].as_u64(), Some(memory));
    assert!(serving["budget_bytes"].as_u64().unwrap() >= memory);
    let res = server
        .http
        .post(server.url("/v2/repository/models/iris/unload"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let serving = server.get_json("/api/v1/serving").await;
    assert_eq!(serving["loaded"], json!([]), "unloaded");
    assert_eq!(serving["held_bytes"], 0);
    let res = server
        .http
        .post(server.url("/v2/repository/models/iris/load"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inference_requests_are_answered_with_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let server = iris_server(dir.path()).await;
    let good = rows(&[[5.1, 3.5, 1.4, 0.2]]);
    let with = |path: &str, value: Value| {
        let mut body = good.clone();
        let mut target = &mut body;
        for key in path.split('.') {
            target = match key.parse::<usize>() {
                Ok(i) => &mut target[i],
                Err(_) => &mut target[key],
            };
        }
        *target = value;
        body
    };
    let cases = [
        (
            "/v2/models/ghost/infer",
            good.clone(),
            StatusCode::NOT_FOUND,
            "ghost",
        ),
        (
            "/v2/models/iris/versions/9/infer",
            good.clone(),
            StatusCode::NOT_FOUND,
            "9",
        ),
        (
            "/v2/models/iris/versions/challenger/infer",
            good.clone(),
            StatusCode::NOT_FOUND,
            "challenger",
        ),
        (
            "/v2/models/iris/infer",
            with("inputs.0.datatype", json!("INT64")),
            StatusCode::BAD_REQUEST,
            "expects FP32",
        ),
        (
            "/v2/models/iris/infer",
            with("inputs.0.shape", json!([1, 3])),
            StatusCode::BAD_REQUEST,
            "expects [-1, 4]",
        ),
        (
            "/v2/models/iris/infer",
            with("inputs.0.shape", json!([0, 4])),
            StatusCode::BAD_REQUEST,
            "rows",
        ),
        (
            "/v2/models/iris/infer",
            with("inputs.0.name", json!("x")),
            StatusCode::BAD_REQUEST,
            "takes \"input\"",
        ),
        (
            "/v2/models/iris/infer",
            with("inputs.0.data", json!([1, 2, 3])),
            StatusCode::BAD_REQUEST,
            "needs 4",
        ),
        (
            "/v2/models/iris/infer",
            with("inputs.0.data", json!([1, 2, 3, 4, 5])),
            StatusCode::BAD_REQUEST,
            "more than",
        ),
        (
            "/v2/models/iris/infer",
            with("inputs.0.data", json!([1, "two", 3, 4])),
            StatusCode::BAD_REQUEST,
            "not a number",
        ),
        (
            "/v2/models/iris/infer",
            with("inputs", json!([])),
            StatusCode::BAD_REQUEST,
            "missing input",
        ),
        (
            "/v2/models/iris/infer",
            with("outputs", json!([{"name": "score"}])),
            StatusCode::BAD_REQUEST,
            "unknown output",
        ),
        (
            "/v2/models/iris/infer",
            with("parameters", json!({"timeout": "soon"})),
            StatusCode::BAD_REQUEST,
            "microseconds",
        ),
        (
            "/v2/models/iris/infer",
            json!({"input": []}),
            StatusCode::BAD_REQUEST,
            "not a V2 infer request",
        ),
    ];
    for (path, body, status, needle) in cases {
        let (got, message) = error_of(server.post_json(path, &body).await).await;
        assert_eq!(got, status, "{path} {body}: {message}");
        assert!(
            message.contains(needle),
            "{path} {body}: {message:?} lacks {needle:?}"
        );
    }
    let res = server
        .http
        .post(server.url("/v2/models/iris/infer"))
        .body("{\"inputs\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await.0, StatusCode::BAD_REQUEST);
    let huge = vec![b' '; aiaas_api::MAX_INFER_BYTES + 1];
    let res = server
        .http
        .post(server.url("/v2/models/iris/infer"))
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    // A deadline that has passed before compute, by header; a header that is not a number.
    let timed = |t: &'static str| {
        server
            .http
            .post(server.url("/v2/models/iris/infer"))
            .header("timeout", t)
            .json(&good)
            .send()
    };
    assert_eq!(
        error_of(timed("0").await.unwrap()).await.0,
        StatusCode::GATEWAY_TIMEOUT
    );
    let (status, message) = error_of(timed("soon").await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("microseconds"), "{message}");
    // Still serving.
    let res = server.post_json("/v2/models/iris/infer", &good).await;
    assert_eq!(res.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_with_text_features_takes_one_tensor_per_feature() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut csv = String::from("colour,size,target\n");
    for i in 0..120 {
        let (colour, class) = if i % 2 == 0 {
            ("red", "a")
        } else {
            ("blue", "b")
        };
        csv.push_str(&format!("{colour},{},{class}\n", i % 7));
    }
    let res = server
        .http
        .post(server.url("/api/v1/datasets?name=things"))
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let job = server
        .train(json!({"kind": "train", "dataset": "things", "epochs": 30, "lr": 0.05}))
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let meta = server.get_json("/v2/models/things").await;
    assert_eq!(
        meta["inputs"],
        json!([
            {"name": "colour", "datatype": "BYTES", "shape": [-1, 1]},
            {"name": "size", "datatype": "FP32", "shape": [-1, 1]},
        ])
    );
    let body = json!({"inputs": [
        {"name": "colour", "shape": [2, 1], "datatype": "BYTES", "data": ["red", "blue"]},
        {"name": "size", "shape": [2, 1], "datatype": "FP32", "data": [3, 4]},
    ]});
    let answer: Value = server
        .post_json("/v2/models/things/infer", &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["outputs"][1]["data"], json!(["a", "b"]), "{answer}");
    let mut wrong = body.clone();
    wrong["inputs"][0]["datatype"] = json!("FP32");
    let (status, message) =
        error_of(server.post_json("/v2/models/things/infer", &wrong).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("expects BYTES"), "{message}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn moving_the_alias_under_load_fails_no_request_over_rest_or_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let server = iris_server(dir.path()).await;
    let mut second = quick_iris_job();
    second["seed"] = json!(7);
    assert_eq!(server.train(second).await["state"], "succeeded");
    let alias = |v: u32| {
        server
            .http
            .put(server.url("/api/v1/models/iris/aliases/champion"))
            .json(&json!({"version": v}))
            .send()
    };
    assert_eq!(alias(1).await.unwrap().status(), StatusCode::OK);

    let run_for = Duration::from_secs(10);
    let started = Instant::now();
    let mut clients = Vec::new();
    // A client key of its own, its rate above what 8 clients reach (this is not about limits).
    let rate = json!({"name": "load", "role": "predictor", "rate_limit": 1e6});
    let (key, _) = create_key(&server, rate).await;
    // Half over REST, half over gRPC.
    for _ in 0..4 {
        let mut grpc = crate::grpc::client(&server).await;
        let key = key.clone();
        clients.push(tokio::spawn(async move {
            let (mut ok, mut versions) = (0u32, std::collections::BTreeSet::new());
            while started.elapsed() < run_for {
                let request = crate::grpc::infer_request(&[[6.0, 2.9, 4.5, 1.5]]);
                let answer = grpc.model_infer(crate::grpc::keyed(request, &key)).await;
                versions.insert(answer.expect("answered").into_inner().model_version);
                ok += 1;
            }
            (ok, versions)
        }));
    }
    for _ in 0..4 {
        let (http, url) = (client_with_key(&key), server.url("/v2/models/iris/infer"));
        let body = rows(&[[6.0, 2.9, 4.5, 1.5]]);
        clients.push(tokio::spawn(async move {
            let (mut ok, mut versions) = (0u32, std::collections::BTreeSet::new());
            while started.elapsed() < run_for {
                let res = http.post(&url).json(&body).send().await.unwrap();
                assert_eq!(
                    res.status(),
                    StatusCode::OK,
                    "{}",
                    res.text().await.unwrap()
                );
                let answer: Value = res.json().await.unwrap();
                versions.insert(answer["model_version"].as_str().unwrap().to_string());
                ok += 1;
            }
            (ok, versions)
        }));
    }
    // Swap back and forth while the load runs.
    for v in [2, 1, 2] {
        tokio::time::sleep(run_for / 4).await;
        assert_eq!(alias(v).await.unwrap().status(), StatusCode::OK);
    }
    let mut total = 0;
    let mut seen = std::collections::BTreeSet::new();
    for client in clients {
        let (ok, versions) = client.await.unwrap();
        total += ok;
        seen.extend(versions);
    }
    assert!(total > 100, "only {total} requests in {run_for:?}");
    assert_eq!(
        seen,
        ["1".to_string(), "2".to_string()].into(),
        "both versions answered"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_tensors_in_and_out_match_the_json_answer() {
    let dir = tempfile::tempdir().unwrap();
    let server = iris_server(dir.path()).await;
    let x = [[5.1f32, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]];
    let json_answer: Value = server
        .post_json("/v2/models/iris/infer", &rows(&x))
        .await
        .json()
        .await
        .unwrap();

    let header = json!({
        "inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32",
                    "parameters": {"binary_data_size": 32}}],
        "parameters": {"binary_data_output": true},
    })
    .to_string();
    let mut body = header.clone().into_bytes();
    x.iter()
        .flatten()
        .for_each(|v| body.extend_from_slice(&v.to_le_bytes()));
    let res = server
        .http
        .post(server.url("/v2/models/iris/infer"))
        .header("Inference-Header-Content-Length", header.len())
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let json_length: usize = res.headers()["inference-header-content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let bytes = res.bytes().await.unwrap();
    let head: Value = serde_json::from_slice(&bytes[..json_length]).unwrap();
    let outputs = head["outputs"].as_array().unwrap();
    assert_eq!(outputs[0]["parameters"]["binary_data_size"], 24);
    assert!(outputs[0].get("data").is_none());
    let probabilities: Vec<f64> = bytes[json_length..json_length + 24]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64)
        .collect();
    let from_json: Vec<f64> = json_answer["outputs"][0]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    for (a, b) in probabilities.iter().zip(&from_json) {
        assert!((a - b).abs() < 1e-6, "{probabilities:?} vs {from_json:?}");
    }
    // Labels: 4-byte little-endian lengths, then the text.
    let labels = &bytes[json_length + 24..];
    let first_len = u32::from_le_bytes(labels[..4].try_into().unwrap()) as usize;
    assert_eq!(
        std::str::from_utf8(&labels[4..4 + first_len]).unwrap(),
        json_answer["outputs"][1]["data"][0].as_str().unwrap()
    );

    // Fewer bytes than declared: a 400 that says so.
    let res = server
        .http
        .post(server.url("/v2/models/iris/infer"))
        .header("Inference-Header-Content-Length", header.len())
        .body(body[..body.len() - 4].to_vec())
        .send()
        .await
        .unwrap();
    let (status, message) = error_of(res).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("binary data"), "{message}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serving_tags_set_the_batch_limit_of_a_loaded_version() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    server.upload("iris", IRIS).await;
    let mut job = quick_iris_job();
    job["name"] = json!("tagged");
    assert_eq!(server.train(job).await["state"], "succeeded");
    let body = rows(&[[5.1, 3.5, 1.4, 0.2]]);
    assert_eq!(
        server
            .post_json("/v2/models/tagged/infer", &body)
            .await
            .status(),
        StatusCode::OK
    );

    let tag = |key: &str, value: &str| {
        server
            .http
            .put(server.url(&format!("/api/v1/models/tagged/versions/1/tags/{key}")))
            .json(&json!({"value": value}))
            .send()
    };
    let (status, message) = error_of(tag("serve.max_batch", "0").await.unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message.contains("serve.max_batch"), "{message}");
    assert_eq!(
        tag("serve.max_batch", "1").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        tag("serve.max_delay_us", "2000").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let tags = server
        .get_json("/api/v1/models/tagged/versions/1/tags")
        .await;
    assert_eq!(
        tags,
        json!({"serve.max_batch": "1", "serve.max_delay_us": "2000"})
    );

    // The loaded version is restarted with the new limit: no batch holds more than one row.
    let batches = |text: &str, series: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(series) && l.contains("model=\"tagged\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.get("/metrics").await.text().await.unwrap();
    let mut calls = Vec::new();
    for _ in 0..32 {
        let (http, url, body) = (
            server.http.clone(),
            server.url("/v2/models/tagged/infer"),
            body.clone(),
        );
        calls.push(tokio::spawn(async move {
            http.post(url).json(&body).send().await.unwrap().status()
        }));
    }
    for call in calls {
        assert_eq!(call.await.unwrap(), StatusCode::OK);
    }
    let after = server.get("/metrics").await.text().await.unwrap();
    let count = batches(&after, "aiaas_inference_batch_size_count{")
        - batches(&before, "aiaas_inference_batch_size_count{");
    // Without the tag, 32 requests at once would share passes (max_batch 64).
    assert_eq!(count, 32.0, "one row per pass: {after}");
    server.stop().await;
}

/// A value FP32 cannot hold, or one that overflows once scaled, is refused; nothing non-finite
/// is answered or logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_out_of_fp32_range_are_refused_not_answered() {
    let dir = tempfile::tempdir().unwrap();
    let server = iris_server(dir.path()).await;
    let infer = |id: &str, first: f64| {
        let body = json!({"id": id, "inputs": [{"name": "input", "shape": [1, 4],
            "datatype": "FP32", "data": [first, 3.5, 1.4, 0.2]}]});
        server
            .http
            .post(server.url("/v2/models/iris/infer"))
            .json(&body)
            .send()
    };
    let infer = |id: &'static str, first: f64| async move { infer(id, first).await.unwrap() };
    let (status, message) = error_of(infer("huge", 1e40).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        message.contains("\"input\"")
            && message.contains("position 0")
            && message.contains("finite"),
        "{message}"
    );
    let (status, message) = error_of(infer("scaled", 3e38).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        message.contains("row 0") && message.contains("scaled"),
        "{message}"
    );
    assert_eq!(infer("fine", 5.1).await.status(), StatusCode::OK);
    // Only the answered request reaches the log.
    server
        .post_json(
            "/api/v1/models/iris/feedback",
            &json!([{"id": "fine", "label": "0"}]),
        )
        .await;
    let rows = server
        .platform
        .store()
        .predictions(
            &aiaas_types::ModelName::new("iris").unwrap(),
            &Default::default(),
        )
        .await
        .unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["fine"]);
    server.stop().await;
}
