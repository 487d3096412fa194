//! Imported ONNX models (the fixtures of tests/onnx/fixtures.py): registered from an `.onnx` body
//! or an archive, described from the graph, refused at import when the runtime cannot run them.

use crate::{TestServer, coded_error_of};
use aiaas_api::ErrorCode;
use reqwest::StatusCode;
use serde_json::{Value, json};

const DENSE: &[u8] = include_bytes!("../../../../tests/onnx/fixtures/dense.onnx");
const UNSUPPORTED: &[u8] = include_bytes!("../../../../tests/onnx/fixtures/unsupported.onnx");

async fn upload(server: &TestServer, name: &str, body: Vec<u8>) -> reqwest::Response {
    upload_to(server, &format!("/api/v1/models/{name}/versions"), body).await
}

/// `body` posted to `path` as an octet stream.
async fn upload_to(server: &TestServer, path: &str, body: Vec<u8>) -> reqwest::Response {
    server
        .http
        .post(server.url(path))
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn get(server: &TestServer, path: &str) -> Value {
    let res = server.http.get(server.url(path)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    res.json().await.unwrap()
}

#[tokio::test]
async fn an_onnx_file_is_registered_with_its_tensors_and_source() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let res = upload(&server, "dense", DENSE.to_vec()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let record: Value = res.json().await.unwrap();
    assert_eq!(record["version"], 1, "{record}");
    assert_eq!(record["manifest"]["task"], "other", "{record}");
    assert!(record["size_bytes"].as_u64().unwrap() > DENSE.len() as u64);

    let m = &get(&server, "/api/v1/models/dense/versions/1/manifest").await;
    assert_eq!(m["architecture"], "onnx");
    assert_eq!(m["name"], "dense");
    assert_eq!(
        m["inputs"],
        json!([{"name": "x", "datatype": "FP32", "shape": [-1, 4]}])
    );
    assert_eq!(
        m["outputs"],
        json!([{"name": "y", "datatype": "FP32", "shape": [-1, 3]}])
    );
    let lineage = &m["lineage"];
    assert_eq!(lineage["format"], "onnx");
    assert_eq!(lineage["opset"], 17);
    assert_eq!(lineage["ir_version"], 8);
    assert_eq!(lineage["producer_name"], "aiaas-fixtures");
    assert_eq!(lineage["producer_version"], "1");
    assert_eq!(lineage["metadata"], json!({"purpose": "tests"}));
    assert_eq!(lineage["size_bytes"], DENSE.len());
    assert_eq!(lineage["sha256"], aiaas_artifact::sha256_hex(DENSE));
    assert_eq!(m["files"]["model.onnx"], aiaas_artifact::sha256_hex(DENSE));

    // Exported as an archive and imported again under another name: the same model.
    let res = server
        .http
        .get(server.url("/api/v1/models/dense/versions/1/archive"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let archive = res.bytes().await.unwrap().to_vec();
    let res = upload(&server, "copy", archive.clone()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let copy = get(&server, "/api/v1/models/copy/versions/1/manifest").await;
    assert_eq!(copy["inputs"], m["inputs"]);
    assert_eq!(copy["files"], m["files"]);
    // The same file again is the same weights: refused as for a model trained here.
    let (code, message) = coded_error_of(upload(&server, "copy", archive).await).await;
    assert_eq!(code, ErrorCode::Conflict, "{message}");

    // An ONNX version cannot be optimized or monitored as a model trained here, and says so.
    let res = server
        .http
        .post(server.url("/api/v1/jobs"))
        .json(&json!({"kind": "optimize", "model": "dense", "recipe": {"method": "quantize"}}))
        .send()
        .await
        .unwrap();
    let (code, message) = coded_error_of(res).await;
    assert_eq!(code, ErrorCode::InvalidInput, "{message}");
    assert!(message.contains("imported ONNX model"), "{message}");
    let res = server
        .http
        .get(server.url("/api/v1/models/dense/quality"))
        .send()
        .await
        .unwrap();
    let (code, message) = coded_error_of(res).await;
    assert_eq!(code, ErrorCode::InvalidInput, "{message}");
    assert!(message.contains("imported ONNX model"), "{message}");
}

#[tokio::test]
async fn a_model_the_runtime_cannot_run_is_refused_at_import_and_nothing_is_registered() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let truncated = DENSE[..DENSE.len() / 2].to_vec();
    let cases = [
        (
            UNSUPPORTED.to_vec(),
            "operators the runtime does not support: AnotherMissingOp, NoSuchOp",
        ),
        (truncated.clone(), "not an ONNX model"),
        (
            b"\x89PNG\r\n\x1a\n an image".to_vec(),
            "neither a model archive",
        ),
        (Vec::new(), "neither a model archive"),
    ];
    for (body, needle) in cases {
        let (code, message) = coded_error_of(upload(&server, "bad", body).await).await;
        assert_eq!(code, ErrorCode::InvalidInput, "{message}");
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
    // In an archive, the same checks.
    let files = std::collections::BTreeMap::from([("model.onnx".to_string(), UNSUPPORTED)]);
    let archive = aiaas_artifact::archive::pack(&files).unwrap();
    let (code, message) = coded_error_of(upload(&server, "bad", archive).await).await;
    assert_eq!(code, ErrorCode::InvalidInput, "{message}");
    assert!(
        message.contains("model.onnx: the model uses operators"),
        "{message}"
    );

    let res = server
        .http
        .get(server.url("/api/v1/models/bad"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

/// `model.onnx` and `labels.txt` in one archive.
fn with_labels(model: &[u8], labels: &str) -> Vec<u8> {
    let files = std::collections::BTreeMap::from([
        ("model.onnx".to_string(), model.to_vec()),
        ("labels.txt".to_string(), labels.as_bytes().to_vec()),
    ]);
    aiaas_artifact::archive::pack(&files).unwrap()
}

#[tokio::test]
async fn labels_that_do_not_fit_the_scores_are_refused_at_import() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let cases = [
        (
            "cat\ndog\n",
            "2 labels, but no FP32 or FP16 output has 2 columns (the outputs: y FP32 [-1, 3])",
        ),
        (
            "cat\ndog\nemu\nfox\n",
            "4 labels, but no FP32 or FP16 output has 4",
        ),
        ("cat\ndog\ncat\n", "label \"cat\" is given twice"),
        ("cat\n\ndog\n", "label 2 is empty"),
        ("only\n", "1 labels: a classifier needs at least 2"),
    ];
    for (labels, needle) in cases {
        let res = upload(&server, "bad", with_labels(DENSE, labels)).await;
        let (code, message) = coded_error_of(res).await;
        assert_eq!(code, ErrorCode::InvalidInput, "{message}");
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
    let files = std::collections::BTreeMap::from([
        ("model.onnx".to_string(), DENSE),
        ("weights.safetensors".to_string(), b"hello".as_slice()),
    ]);
    let archive = aiaas_artifact::archive::pack(&files).unwrap();
    let (_, message) = coded_error_of(upload(&server, "bad", archive).await).await;
    assert!(
        message.contains("\"weights.safetensors\" is not a file of an ONNX model's archive"),
        "{message}"
    );
    let res = server.get("/api/v1/models/bad").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_imported_classifier_answers_labels_takes_feedback_and_is_judged() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let res = upload(&server, "tri", with_labels(DENSE, "red\ngreen\nblue\n")).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let record: Value = res.json().await.unwrap();
    assert_eq!(record["manifest"]["task"], "classification", "{record}");
    assert_eq!(
        record["manifest"]["classes"],
        json!({"output": "y", "labels": ["red", "green", "blue"]})
    );
    let meta = get(&server, "/v2/models/tri").await;
    assert_eq!(
        meta["outputs"],
        json!([
            {"name": "y", "datatype": "FP32", "shape": [-1, 3]},
            {"name": "label", "datatype": "BYTES", "shape": [-1]}
        ])
    );

    // Each row's label is the column of its highest score.
    let colors = ["red", "green", "blue"];
    let mut truth = Vec::new();
    for i in 0..12 {
        let x = row(i);
        let body = json!({"id": format!("r{i}"), "inputs": [
            {"name": "x", "datatype": "FP32", "shape": [1, 4], "data": x}
        ]});
        let answer: Value = infer(&server, "tri", body).await.json().await.unwrap();
        let y = dense_expected(&x);
        let best = (0..3).fold(0, |b, c| if y[c] > y[b] { c } else { b });
        assert_eq!(
            output_of(&answer, "label")["data"],
            json!([colors[best]]),
            "{answer}"
        );
        assert_eq!(output_of(&answer, "label")["shape"], json!([1]));
        // The truth: the predicted class for the first 9 rows, another for the last 3.
        let label = if i < 9 {
            colors[best]
        } else {
            colors[(best + 1) % 3]
        };
        truth.push(json!({"id": format!("r{i}"), "label": label}));
    }
    let only_label = json!({"inputs": [
        {"name": "x", "datatype": "FP32", "shape": [2, 4], "data": [row(0), row(1)]}
    ], "outputs": [{"name": "label"}]});
    let answer: Value = infer(&server, "tri", only_label)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["outputs"].as_array().unwrap().len(), 1, "{answer}");
    assert_eq!(output_of(&answer, "label")["shape"], json!([2]));

    crate::monitoring::logged(&server, "tri", 14).await;
    let res = server
        .post_json("/api/v1/models/tri/feedback", &json!(truth))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let outcome: Value = res.json().await.unwrap();
    assert_eq!(outcome["matched"], 12, "{outcome}");
    let res = server
        .post_json(
            "/api/v1/models/tri/feedback",
            &json!([{"id": "r0", "label": "cyan"}]),
        )
        .await;
    let (_, message) = coded_error_of(res).await;
    assert!(
        message.contains("not one of the model's classes (red, green, blue)"),
        "{message}"
    );

    let report = get(&server, "/api/v1/models/tri/quality").await;
    assert_eq!(report["labelled"], 12, "{report}");
    assert_eq!(report["metrics"]["accuracy"], 0.75, "{report}");
    assert_eq!(report["labels"], json!(colors));
    // Each logged row keeps the mean of its input in place of the tensor.
    let rows = (server.platform.store())
        .predictions(
            &aiaas_types::ModelName::new("tri").unwrap(),
            &Default::default(),
        )
        .await
        .unwrap();
    let r3 = rows.iter().find(|r| r.id == "r3").unwrap();
    assert_eq!(r3.inputs, [row(3).iter().sum::<f32>() / 4.0]);
    // With no training profile, drift compares what follows the first logged rows with them;
    // by default the first 1,000, which is all there is here.
    let report = get(&server, "/api/v1/models/tri/drift?reference=10").await;
    assert_eq!(report["rows"], 4, "{report}");
    assert_eq!(report["features"][0]["name"], "x mean", "{report}");
    assert!(report["predictions"].is_object(), "{report}");
    let res = server.get("/api/v1/models/tri/drift").await;
    let (code, message) = coded_error_of(res).await;
    assert_eq!(code, ErrorCode::PredictionsNotFound, "{message}");
    assert!(
        message.contains("14 logged predictions of tri version 1 in the reference and 0"),
        "{message}"
    );

    // A request of more rows than a batch runs in passes, joined again, labels included.
    let rows: Vec<[f32; 4]> = (0..100).map(row).collect();
    let body = request("x", "FP32", &[100, 4], json!(rows));
    let answer: Value = infer(&server, "tri", body).await.json().await.unwrap();
    assert_eq!(
        output_of(&answer, "y")["shape"],
        json!([100, 3]),
        "{answer}"
    );
    assert_eq!(output_of(&answer, "label")["shape"], json!([100]));

    // Without labels, an imported graph's answers cannot be judged.
    assert_eq!(upload(&server, "plain", DENSE.to_vec()).await.status(), 201);
    let res = server
        .post_json(
            "/api/v1/models/plain/feedback",
            &json!([{"id": "a", "label": "x"}]),
        )
        .await;
    let (code, message) = coded_error_of(res).await;
    assert_eq!(code, ErrorCode::InvalidInput, "{message}");
    assert!(message.contains("without labels"), "{message}");
}

#[tokio::test]
async fn an_imported_classifier_s_drift_compares_its_window_with_its_first_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let res = upload(&server, "tri", with_labels(DENSE, "red\ngreen\nblue\n")).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // 300 rows spread over [-1, 1], then 300 more from the same spread and 300 moved by 3.
    let rows = |shift: f32| -> Vec<[f32; 4]> {
        (0..300)
            .map(|i| std::array::from_fn(|c| ((i * 37 + c * 11) % 101) as f32 / 50.0 - 1.0 + shift))
            .collect()
    };
    let send = |rows: Vec<[f32; 4]>| {
        let body = request("x", "FP32", &[rows.len(), 4], json!(rows));
        infer(&server, "tri", body)
    };
    for (sent, shift) in [(300, 0.0), (600, 0.0), (900, 3.0)] {
        assert_eq!(send(rows(shift)).await.status(), StatusCode::OK);
        crate::monitoring::logged(&server, "tri", sent).await;
        if sent == 300 {
            continue;
        }
        let report = get(&server, "/api/v1/models/tri/drift?reference=300&last=300").await;
        assert_eq!(report["rows"], 300, "{report}");
        let drifted = shift != 0.0;
        assert_eq!(report["features"][0]["drifted"], drifted, "{report}");
        assert_eq!(report["drifted"], drifted, "{report}");
    }
}

/// `model.onnx` with the files given beside it, in one archive.
fn archive_of(model: &[u8], beside: &[(&str, &str)]) -> Vec<u8> {
    let mut files = std::collections::BTreeMap::from([("model.onnx".to_string(), model.to_vec())]);
    for (name, text) in beside {
        files.insert(name.to_string(), text.as_bytes().to_vec());
    }
    aiaas_artifact::archive::pack(&files).unwrap()
}

/// A grayscale PNG of `w` x `h` pixels.
fn png(w: u32, h: u32, pixels: &[u8]) -> Vec<u8> {
    let image = image::GrayImage::from_raw(w, h, pixels.to_vec()).unwrap();
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The dense fixture's 4 inputs as a 2x2 grayscale image (values 0 to 255, unscaled).
const TWO_BY_TWO: &str = r#"{"channels": 1, "resize": [2, 2], "scale": 1.0}"#;

#[tokio::test]
async fn an_image_model_takes_encoded_images_and_says_why_it_refuses_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let beside = [("preprocess.json", TWO_BY_TWO), ("labels.txt", "a\nb\nc\n")];
    let res = upload(&server, "pixels", archive_of(DENSE, &beside)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let meta = get(&server, "/v2/models/pixels").await;
    assert_eq!(
        meta["inputs"],
        json!([{"name": "x", "datatype": "BYTES", "shape": [-1]}])
    );

    // Two images in one request (JSON, base64): each answers as its pixels do as numbers.
    let images = [[0u8, 10, 200, 3], [255, 0, 7, 90]];
    let body = request(
        "x",
        "BYTES",
        &[2],
        json!(images.map(|p| base64(&png(2, 2, &p)))),
    );
    let (shape, y) = answer(infer(&server, "pixels", body).await, "y").await;
    assert_eq!(shape, [2, 3]);
    let expected: Vec<f32> = (images.iter())
        .flat_map(|p| dense_expected(&p.map(f32::from)))
        .collect();
    assert_close(&y, &expected);

    // A larger image is resized to 2x2; a JPEG is read too.
    let big = png(4, 4, &[128; 16]);
    let body = request("x", "BYTES", &[1], json!([base64(&big)]));
    let (_, y) = answer(infer(&server, "pixels", body).await, "y").await;
    assert_close(&y, &dense_expected(&[128.0; 4]));
    let mut jpeg = std::io::Cursor::new(Vec::new());
    let gray = image::GrayImage::from_raw(2, 2, vec![90; 4]).unwrap();
    gray.write_to(&mut jpeg, image::ImageFormat::Jpeg).unwrap();
    let body = request("x", "BYTES", &[1], json!([base64(jpeg.get_ref())]));
    assert_eq!(infer(&server, "pixels", body).await.status(), 200);

    // Raw bytes as Triton's binary data: a 4-byte length before each file.
    let file = png(2, 2, &[9, 8, 7, 6]);
    let binary = [(file.len() as u32).to_le_bytes().as_slice(), &file].concat();
    let header = json!({"inputs": [{"name": "x", "datatype": "BYTES", "shape": [1],
        "parameters": {"binary_data_size": binary.len()}}]})
    .to_string();
    let res = server
        .http
        .post(server.url("/v2/models/pixels/infer"))
        .header("Inference-Header-Content-Length", header.len())
        .body([header.as_bytes(), &binary].concat())
        .send()
        .await
        .unwrap();
    let (_, y) = answer(res, "y").await;
    assert_close(&y, &dense_expected(&[9.0, 8.0, 7.0, 6.0]));

    // Bad images: a 400 that says which row and why.
    let cases = [
        (
            json!(["bm90IGFuIGltYWdl"]),
            "row 0: not a PNG or JPEG image",
        ),
        (json!(["%%%"]), "element 0 is not base64"),
        (
            json!([base64(&png(2, 2, &[1; 4])), base64(&big[..big.len() / 2])]),
            "row 1: the image cannot be decoded",
        ),
    ];
    for (data, needle) in cases {
        let rows = data.as_array().unwrap().len();
        let body = request("x", "BYTES", &[rows], data);
        assert_refused(infer(&server, "pixels", body).await, needle).await;
    }
    let numbers = request("x", "FP32", &[1, 4], json!([1, 2, 3, 4]));
    assert_refused(infer(&server, "pixels", numbers).await, "BYTES").await;

    // Preprocessing that does not fit the input is refused at import, nothing registered.
    let cases = [
        (
            r#"{"channels": 3, "resize": [2, 2]}"#,
            "it makes images of [3, 2, 2] (Nchw), which input \"x\" FP32 [-1, 4] does not take",
        ),
        (r#"{"channels": 1, "resize": 2}"#, "does not take"),
        (
            r#"{"channels": 2}"#,
            "channels is 2: 1 (grayscale) or 3 (RGB)",
        ),
        (r#"{"chanels": 1}"#, "unknown field `chanels`"),
        (
            r#"{"channels": 1, "resize": [2, 2], "mean": [1, 2]}"#,
            "mean has 2 values",
        ),
        (
            r#"{"input": "y", "resize": [2, 2]}"#,
            "the graph has no input \"y\"; its inputs: x",
        ),
    ];
    for (preprocess, needle) in cases {
        let res = upload(
            &server,
            "bad",
            archive_of(DENSE, &[("preprocess.json", preprocess)]),
        )
        .await;
        let (code, message) = coded_error_of(res).await;
        assert_eq!(code, ErrorCode::InvalidInput, "{message}");
        assert!(message.contains("preprocess.json: "), "{message}");
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
    assert_eq!(server.get("/api/v1/models/bad").await.status(), 404);
}

const FIXED_BATCH: &[u8] = include_bytes!("../../../../tests/onnx/fixtures/fixed_batch.onnx");
const TOKENS: &[u8] = include_bytes!("../../../../tests/onnx/fixtures/tokens.onnx");

/// What the dense fixture computes: relu(x W^T + b), as tests/onnx/fixtures.py builds it.
fn dense_expected(x: &[f32; 4]) -> Vec<f32> {
    let w = [
        [1.0, -2.0, 0.5, 0.0],
        [0.0, 1.0, 1.0, -1.0],
        [0.25, 0.25, 0.25, 0.25],
    ];
    let b = [0.5, -1.0, 0.0];
    (0..3)
        .map(|o| (b[o] + (0..4).map(|i| w[o][i] * x[i]).sum::<f32>()).max(0.0))
        .collect()
}

/// What the tokens fixture computes: the mean of rows `ids` of a 10x2 table holding 0.0, 0.1,
/// ... 1.9.
fn tokens_expected(ids: &[i64]) -> Vec<f32> {
    (0..2)
        .map(|j| {
            let sum: f32 = ids.iter().map(|&i| (2 * i + j) as f32 / 10.0).sum();
            sum / ids.len() as f32
        })
        .collect()
}

fn row(i: usize) -> [f32; 4] {
    let i = i as f32;
    [i * 0.5 - 2.0, 1.0 - i * 0.25, i, 0.5]
}

async fn infer(server: &TestServer, model: &str, body: Value) -> reqwest::Response {
    server
        .post_json(&format!("/v2/models/{model}/infer"), &body)
        .await
}

/// The values of output `name` of a V2 answer.
async fn answer(res: reqwest::Response, name: &str) -> (Vec<i64>, Vec<f32>) {
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let output = output_of(&body, name);
    let shape = serde_json::from_value(output["shape"].clone()).unwrap();
    let data = serde_json::from_value(output["data"].clone()).unwrap();
    (shape, data)
}

/// Output `name` of a V2 answer.
fn output_of<'a>(body: &'a Value, name: &str) -> &'a Value {
    (body["outputs"].as_array().unwrap().iter())
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("no output {name} in {body}"))
}

/// A V2 request of one input.
fn request(name: &str, datatype: &str, shape: &[usize], data: Value) -> Value {
    json!({"inputs": [{"name": name, "datatype": datatype, "shape": shape, "data": data}]})
}

/// Asserts that `res` is a 400 whose message holds `needle`.
async fn assert_refused(res: reqwest::Response, needle: &str) {
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    let message = body["error"].as_str().unwrap();
    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
}

fn assert_close(got: &[f32], expected: &[f32]) {
    assert_eq!(got.len(), expected.len(), "{got:?} vs {expected:?}");
    for (g, e) in got.iter().zip(expected) {
        assert!((g - e).abs() < 1e-5, "{got:?} vs {expected:?}");
    }
}

#[tokio::test]
async fn an_imported_graph_is_served_over_v2_and_batches_its_callers() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    assert_eq!(upload(&server, "dense", DENSE.to_vec()).await.status(), 201);

    let meta = get(&server, "/v2/models/dense").await;
    assert_eq!(
        meta["inputs"],
        json!([{"name": "x", "datatype": "FP32", "shape": [-1, 4]}])
    );
    assert_eq!(
        meta["outputs"],
        json!([{"name": "y", "datatype": "FP32", "shape": [-1, 3]}])
    );

    let rows = [row(0), row(5)];
    let body = request("x", "FP32", &[2, 4], json!(rows));
    let (shape, y) = answer(infer(&server, "dense", body).await, "y").await;
    assert_eq!(shape, [2, 3]);
    assert_close(
        &y,
        &[dense_expected(&rows[0]), dense_expected(&rows[1])].concat(),
    );

    // Callers at once share passes; each gets its own rows back.
    let calls = (0..32).map(|i| {
        let body = request("x", "FP32", &[1, 4], json!(row(i)));
        let server = &server;
        async move { (i, answer(infer(server, "dense", body).await, "y").await) }
    });
    for (i, (shape, y)) in futures_util::future::join_all(calls).await {
        assert_eq!(shape, [1, 3]);
        assert_close(&y, &dense_expected(&row(i)));
    }

    // Requests that do not fit the graph are refused with what to fix.
    let bad = [
        (
            json!({"name": "x", "datatype": "INT64", "shape": [1, 4], "data": [1, 2, 3, 4]}),
            "expects FP32",
        ),
        (
            json!({"name": "x", "datatype": "FP32", "shape": [1, 5], "data": [1, 2, 3, 4, 5]}),
            "expects [-1, 4]",
        ),
        (
            json!({"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3]}),
            "holds 3 values",
        ),
        (
            json!({"name": "z", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}),
            "unknown input \"z\"",
        ),
    ];
    for (input, needle) in bad {
        let res = infer(&server, "dense", json!({"inputs": [input]})).await;
        assert_refused(res, needle).await;
    }
}

#[tokio::test]
async fn a_graph_of_fixed_batch_runs_each_request_alone() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    assert_eq!(
        upload(&server, "fixed", FIXED_BATCH.to_vec())
            .await
            .status(),
        201
    );
    let meta = get(&server, "/v2/models/fixed").await;
    assert_eq!(meta["inputs"][0]["shape"], json!([1, 4]));

    let calls = (0..8).map(|i| {
        let body = request("x", "FP32", &[1, 4], json!(row(i)));
        let server = &server;
        async move { (i, answer(infer(server, "fixed", body).await, "y").await) }
    });
    for (i, (_, y)) in futures_util::future::join_all(calls).await {
        assert_close(&y, &dense_expected(&row(i)));
    }
    let two = request("x", "FP32", &[2, 4], json!([row(0), row(1)]));
    let res = infer(&server, "fixed", two).await;
    assert_refused(res, "expects [1, 4]").await;
}

#[tokio::test]
async fn token_ids_of_any_length_are_served_and_bad_ones_fail_alone() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    assert_eq!(
        upload(&server, "tokens", TOKENS.to_vec()).await.status(),
        201
    );
    let meta = get(&server, "/v2/models/tokens").await;
    assert_eq!(
        meta["inputs"],
        json!([{"name": "ids", "datatype": "INT64", "shape": [-1, -1]}])
    );

    // Sequences of different lengths at once cannot share a pass: each is still answered.
    let sequences: Vec<Vec<i64>> = vec![vec![1], vec![2, 3], vec![9, 0, 4], vec![5, 5]];
    let calls = sequences.iter().map(|ids| {
        let body = request("ids", "INT64", &[1, ids.len()], json!(ids));
        let server = &server;
        async move { (ids, answer(infer(server, "tokens", body).await, "y").await) }
    });
    for (ids, (shape, y)) in futures_util::future::join_all(calls).await {
        assert_eq!(shape, [1, 2]);
        assert_close(&y, &tokens_expected(ids));
    }
    // Two rows of one length in one request.
    let body = request("ids", "INT64", &[2, 2], json!([[1, 2], [3, 4]]));
    let (_, y) = answer(infer(&server, "tokens", body).await, "y").await;
    assert_close(
        &y,
        &[tokens_expected(&[1, 2]), tokens_expected(&[3, 4])].concat(),
    );

    // An id past the table fails its own request, not the one beside it.
    let past = request("ids", "INT64", &[1, 2], json!([1, 12]));
    let fine = request("ids", "INT64", &[1, 2], json!([1, 2]));
    let (past, fine) = tokio::join!(
        infer(&server, "tokens", past),
        infer(&server, "tokens", fine)
    );
    assert_refused(past, "the model failed on this input").await;
    assert_close(&answer(fine, "y").await.1, &tokens_expected(&[1, 2]));

    let not_integer = request("ids", "INT64", &[1, 2], json!([1, 1.5]));
    let res = infer(&server, "tokens", not_integer).await;
    assert_refused(res, "not an INT64 integer").await;
}

#[tokio::test]
async fn imported_graphs_answer_over_grpc_typed_and_raw() {
    use crate::grpc::{client, keyed};
    use aiaas_api::grpc::proto::model_infer_request::InferInputTensor;
    use aiaas_api::grpc::proto::{InferTensorContents, ModelInferRequest, ModelMetadataRequest};

    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    assert_eq!(
        upload(&server, "tokens", TOKENS.to_vec()).await.status(),
        201
    );
    assert_eq!(upload(&server, "dense", DENSE.to_vec()).await.status(), 201);
    let mut grpc = client(&server).await;
    let key = server.admin_key.clone();

    let meta = grpc
        .model_metadata(keyed(
            ModelMetadataRequest {
                name: "tokens".into(),
                version: String::new(),
            },
            &key,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            meta.inputs[0].datatype.as_str(),
            meta.inputs[0].shape.clone()
        ),
        ("INT64", vec![-1, -1])
    );

    // INT64 token ids in int64_contents; the answer typed, as the request came.
    let ids = [3i64, 7, 1];
    let typed = ModelInferRequest {
        model_name: "tokens".into(),
        inputs: vec![InferInputTensor {
            name: "ids".into(),
            datatype: "INT64".into(),
            shape: vec![1, 3],
            parameters: Default::default(),
            contents: Some(InferTensorContents {
                int64_contents: ids.to_vec(),
                ..Default::default()
            }),
        }],
        ..Default::default()
    };
    let answer = grpc
        .model_infer(keyed(typed, &key))
        .await
        .unwrap()
        .into_inner();
    let y = answer.outputs[0].contents.as_ref().unwrap();
    assert_close(&y.fp32_contents, &tokens_expected(&ids));

    // FP32 rows as raw bytes; the answer raw.
    let x = row(3);
    let raw = ModelInferRequest {
        model_name: "dense".into(),
        inputs: vec![InferInputTensor {
            name: "x".into(),
            datatype: "FP32".into(),
            shape: vec![1, 4],
            ..Default::default()
        }],
        raw_input_contents: vec![x.iter().flat_map(|v| v.to_le_bytes()).collect()],
        ..Default::default()
    };
    let answer = grpc
        .model_infer(keyed(raw, &key))
        .await
        .unwrap()
        .into_inner();
    let y: Vec<f32> = (answer.raw_output_contents[0].chunks_exact(4))
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_close(&y, &dense_expected(&x));

    // An image model takes raw PNG bytes in bytes_contents; a classifier answers its label.
    let beside = [("preprocess.json", TWO_BY_TWO), ("labels.txt", "a\nb\nc\n")];
    let res = upload(&server, "pixels", archive_of(DENSE, &beside)).await;
    assert_eq!(res.status(), 201);
    let pixels = [255u8, 0, 0, 0];
    let images = ModelInferRequest {
        model_name: "pixels".into(),
        inputs: vec![InferInputTensor {
            name: "x".into(),
            datatype: "BYTES".into(),
            shape: vec![1],
            parameters: Default::default(),
            contents: Some(InferTensorContents {
                bytes_contents: vec![png(2, 2, &pixels)],
                ..Default::default()
            }),
        }],
        ..Default::default()
    };
    let answer = grpc
        .model_infer(keyed(images, &key))
        .await
        .unwrap()
        .into_inner();
    let y = dense_expected(&pixels.map(f32::from));
    assert_close(
        &answer.outputs[0].contents.as_ref().unwrap().fp32_contents,
        &y,
    );
    let best = (0..3).fold(0, |b, c| if y[c] > y[b] { c } else { b });
    let label = &answer.outputs[1];
    assert_eq!(label.name, "label");
    let label = &label.contents.as_ref().unwrap().bytes_contents;
    assert_eq!(label, &[["a", "b", "c"][best].as_bytes().to_vec()]);
}

const ENCODER: &[u8] = include_bytes!("../../../../tests/onnx/fixtures/encoder.onnx");
const TOKENIZER: &str = include_str!("../../../../tests/onnx/fixtures/tokenizer.json");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_model_tokenizes_texts_on_the_server_and_keeps_its_tokenizer() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let archive = archive_of(ENCODER, &[("tokenizer.json", TOKENIZER)]);
    let res = upload(&server, "words", archive).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let record: Value = res.json().await.unwrap();
    assert_eq!(
        record["manifest"]["token_inputs"],
        json!(["input_ids", "attention_mask"])
    );
    // A blob sweep at the next start keeps the tokenizer: the manifest lists it.
    server.stop().await;
    let server = TestServer::start(dir.path()).await;
    let meta = get(&server, "/v2/models/words").await;
    assert_eq!(
        meta["inputs"],
        json!([{"name": "text", "datatype": "BYTES", "shape": [-1]}])
    );

    // Ids as tests/onnx/fixtures.py's vocabulary gives them, [CLS] 2 ... [SEP] 3, padded to
    // the longest text and masked: the fixture sums the ids of the tokens, and tenths of them.
    let texts = ["The cat sat.", "a dog ran on the mat", "zebra"];
    let body = request("text", "BYTES", &[3], json!(texts));
    let (shape, y) = answer(infer(&server, "words", body).await, "y").await;
    assert_eq!(shape, [3, 2]);
    let sums = [
        2 + 4 + 5 + 6 + 12 + 3,
        2 + 9 + 10 + 11 + 7 + 4 + 8 + 3,
        2 + 1 + 3,
    ];
    let expected: Vec<f32> = (sums.iter())
        .flat_map(|&s| [s as f32, s as f32 / 10.0])
        .collect();
    assert_close(&y, &expected);
    // The token inputs are still taken as they are.
    let body = json!({"inputs": [
        {"name": "input_ids", "datatype": "INT64", "shape": [1, 3], "data": [2, 1, 3]},
        {"name": "attention_mask", "datatype": "INT64", "shape": [1, 3], "data": [1, 1, 1]},
    ]});
    let (_, y) = answer(infer(&server, "words", body).await, "y").await;
    assert_close(&y, &[6.0, 0.6]);
    let numbers = request("text", "INT64", &[1], json!([3]));
    assert_refused(infer(&server, "words", numbers).await, "BYTES").await;
    let both = json!({"inputs": [
        {"name": "text", "datatype": "BYTES", "shape": [1], "data": ["a cat"]},
        {"name": "input_ids", "datatype": "INT64", "shape": [1, 1], "data": [2]},
    ]});
    assert_refused(
        infer(&server, "words", both).await,
        "unknown input \"input_ids\"",
    )
    .await;

    // A tokenizer the graph cannot use, or that is not one, is refused at import.
    let cases = [
        (DENSE, TOKENIZER, "a tokenizer fills inputs named input_ids"),
        (
            ENCODER,
            "{\"model\": 3}",
            "tokenizer.json is not a tokenizer this runtime reads",
        ),
    ];
    for (model, tokenizer, needle) in cases {
        let archive = archive_of(model, &[("tokenizer.json", tokenizer)]);
        let (code, message) = coded_error_of(upload(&server, "bad", archive).await).await;
        assert_eq!(code, ErrorCode::InvalidInput, "{message}");
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
    assert_eq!(server.get("/api/v1/models/bad").await.status(), 404);
    server.stop().await;
}

#[tokio::test]
async fn token_ids_and_attention_masks_are_served_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    assert_eq!(
        upload(&server, "encoder", ENCODER.to_vec()).await.status(),
        201
    );
    // Two sentences of 4 and 2 tokens padded to 4: the mask leaves the padding out.
    let (ids, mask) = ([[2, 4, 5, 3], [2, 9, 0, 0]], [[1, 1, 1, 1], [1, 1, 0, 0]]);
    let body = json!({"inputs": [
        {"name": "input_ids", "datatype": "INT64", "shape": [2, 4], "data": ids},
        {"name": "attention_mask", "datatype": "INT64", "shape": [2, 4], "data": mask},
    ]});
    let (shape, y) = answer(infer(&server, "encoder", body).await, "y").await;
    assert_eq!(shape, [2, 2]);
    // Row i of the table is (i, i/10): the sums of the unmasked ids.
    assert_close(&y, &[14.0, 1.4, 11.0, 1.1]);
}

#[tokio::test]
async fn a_model_trained_here_exported_as_onnx_and_imported_back_answers_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_iris(dir.path()).await;
    let onnx = iris_onnx(&server).await;
    let res = upload(&server, "iris-onnx", onnx).await;
    assert_eq!(res.status(), 201);
    // The labels travel in the file's metadata: the imported version is a classifier.
    let record: Value = res.json().await.unwrap();
    assert_eq!(record["manifest"]["task"], "classification", "{record}");
    assert_eq!(
        record["manifest"]["classes"],
        json!({"output": "probabilities", "labels": ["0", "1", "2"]})
    );
    let meta = get(&server, "/v2/models/iris-onnx").await;
    assert_eq!(
        meta["inputs"],
        get(&server, "/v2/models/iris").await["inputs"]
    );

    let rows = [
        [5.1, 3.5, 1.4, 0.2],
        [6.7, 3.0, 5.2, 2.3],
        [5.9, 3.0, 4.2, 1.5],
    ];
    let body = request("input", "FP32", &[3, 4], json!(rows));
    let native = infer(&server, "iris", body.clone()).await;
    let native: Value = native.json().await.unwrap();
    let imported = infer(&server, "iris-onnx", body).await;
    let imported: Value = imported.json().await.unwrap();
    let output = |answer: &Value, name: &str| output_of(answer, name)["data"].clone();
    assert_eq!(output(&imported, "label"), output(&native, "label"));
    let floats = |v: Value| -> Vec<f32> { serde_json::from_value(v).unwrap() };
    let (got, want) = (
        floats(output(&imported, "probabilities")),
        floats(output(&native, "probabilities")),
    );
    assert_eq!(got.len(), 9);
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() <= 1e-5, "{got:?} vs {want:?}");
    }
}

/// `iris@1` exported as ONNX.
async fn iris_onnx(server: &TestServer) -> Vec<u8> {
    let archive = server.iris_archive().await;
    let aiaas_artifact::Artifact::Native(bundle) =
        aiaas_service::read_upload(&archive, 1 << 30).unwrap()
    else {
        panic!("iris is a model trained here")
    };
    aiaas_service::bundle_to_onnx(&bundle, "iris@1").unwrap()
}

/// `POST .../versions?dataset=D` with an ONNX upload.
async fn adopt(server: &TestServer, name: &str, dataset: &str, body: Vec<u8>) -> reqwest::Response {
    let path = format!("/api/v1/models/{name}/versions?dataset={dataset}");
    upload_to(server, &path, body).await
}

#[tokio::test]
async fn a_dense_onnx_graph_adopted_with_a_dataset_scores_as_its_source_and_is_optimized() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_iris(dir.path()).await;
    let onnx = iris_onnx(&server).await;

    let res = adopt(&server, "adopted", "iris", onnx.clone()).await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let record: Value = res.json().await.unwrap();
    // A model trained here in every way: its columns, its classes, scored on the same split as
    // iris@1 (whose scaling the export folded into the first layer), and the file it came from.
    let m = &record["manifest"];
    assert_eq!(m["architecture"], Value::Null, "{m}");
    assert_eq!(m["schema"]["features"][0]["scale"], 1.0, "{m}");
    assert_eq!(m["lineage"]["imported"]["format"], "onnx", "{m}");
    assert_eq!(
        m["lineage"]["imported"]["sha256"],
        aiaas_artifact::sha256_hex(&onnx)
    );
    assert_eq!(record["dataset"], "iris");
    let source = get(&server, "/api/v1/models/iris/versions/1/manifest").await;
    for part in ["train", "val", "test"] {
        let (got, want) = (
            &m["lineage"]["metrics"][part]["accuracy"],
            &source["lineage"]["metrics"][part]["accuracy"],
        );
        assert_eq!(got, want, "{part}: {m}");
    }
    assert_eq!(m["profile"], source["profile"]);
    assert_eq!(
        get(&server, "/v2/models/adopted").await["outputs"],
        get(&server, "/v2/models/iris").await["outputs"]
    );

    // Quantized like a model trained here, compared with its parent on the same rows.
    let res = server
        .post_json(
            "/api/v1/jobs",
            &json!({"kind": "optimize", "model": "adopted", "version": "1",
                    "recipe": {"method": "quantize", "scheme": "int8"}, "max_drop": 0.1}),
        )
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let job: Value = res.json().await.unwrap();
    let job = server.wait_job(job["id"].as_str().unwrap()).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let variant = get(&server, "/api/v1/models/adopted/versions/2").await;
    assert_eq!(variant["parent"], 1, "{variant}");
    assert_eq!(variant["manifest"]["weights"]["dtype"], "int8", "{variant}");
}

#[tokio::test]
async fn a_graph_that_cannot_be_adopted_is_refused_and_nothing_is_registered() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_iris(dir.path()).await;
    let fixed = include_bytes!("../../../../tests/onnx/fixtures/fixed_batch.onnx").to_vec();
    let other_labels = aiaas_artifact::archive::pack(&std::collections::BTreeMap::from([
        ("model.onnx".to_string(), iris_onnx(&server).await),
        ("labels.txt".to_string(), b"a\nb\nc\n".to_vec()),
    ]))
    .unwrap();
    let cases: [(&str, Vec<u8>, StatusCode, &str); 5] = [
        (
            "iris",
            other_labels,
            StatusCode::UNPROCESSABLE_ENTITY,
            "the dataset's classes are",
        ),
        (
            "iris",
            DENSE.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "last layer applies",
        ),
        (
            "iris",
            fixed,
            StatusCode::UNPROCESSABLE_ENTITY,
            "not a plain dense network",
        ),
        ("nope", DENSE.to_vec(), StatusCode::NOT_FOUND, "nope"),
        (
            "iris",
            server.iris_archive().await.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "trained here",
        ),
    ];
    for (dataset, body, status, words) in cases {
        let res = adopt(&server, "refused", dataset, body).await;
        let (got, message) = crate::error_of(res).await;
        assert_eq!(got, status, "{message}");
        assert!(message.contains(words), "{words:?} in {message}");
    }
    let res = server.get("/api/v1/models/refused").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}
