//! The CLI as a client of a real `aiaas serve`: train remotely, list, alias, export from one
//! server and import into another, with the same weights on both.

use crate::server::{ServerProcess, output_data};

/// Runs `aiaas` with `server`'s admin key and checks it succeeded; its standard output.
fn ok(server: &ServerProcess, dir: &std::path::Path, args: &[&str]) -> String {
    let out = server.aiaas(dir, args);
    assert!(
        out.status.success(),
        "aiaas {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn train_on_a_server_then_move_the_model_to_another() {
    let work = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = ServerProcess::start(a_dir.path(), &[]);
    let b = ServerProcess::start(b_dir.path(), &[]);
    let (url_a, url_b) = (format!("http://{}", a.addr), format!("http://{}", b.addr));
    let w = work.path();

    let job: serde_json::Value = serde_json::from_str(&ok(
        &a,
        w,
        &[
            "train", "--server", &url_a, "--data", "iris", "--epochs", "30", "--lr", "0.02",
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["result"]["version"], 1, "{job}");

    let listed = ok(&a, w, &["models", "list", "--server", &url_a]);
    assert!(listed.contains("iris"), "{listed}");
    ok(
        &a,
        w,
        &[
            "models", "alias", "iris", "champion", "1", "--server", &url_a,
        ],
    );
    ok(
        &a,
        w,
        &[
            "models", "export", "iris", "champion", "--out", "iris.tar", "--server", &url_a,
        ],
    );
    ok(&b, w, &["models", "import", "iris.tar", "--server", &url_b]);
    let shown: serde_json::Value = serde_json::from_str(&ok(
        &b,
        w,
        &["models", "show", "iris", "--server", &url_b, "--json"],
    ))
    .unwrap();
    let versions = shown["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1, "{shown}");

    let version_a = a.json("GET", "/api/v1/models/iris/versions/1", b"");
    let version_b = b.json("GET", "/api/v1/models/iris/versions/1", b"");
    assert_eq!(version_a["weights_digest"], version_b["weights_digest"]);
    assert_eq!(
        version_a["manifest"]["lineage"],
        version_b["manifest"]["lineage"]
    );

    // The same archive again is refused: it would be a second number for the same weights.
    let again = b.aiaas(w, &["models", "import", "iris.tar", "--server", &url_b]);
    assert!(!again.status.success());
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(
        said.contains("version 1 already has these weights"),
        "{said}"
    );
    // A bundle folder (what `aiaas train` writes) imports as it is.
    tar::Archive::new(std::fs::File::open(w.join("iris.tar")).unwrap())
        .unpack(w.join("bundle"))
        .unwrap();
    let imported = ok(
        &b,
        w,
        &[
            "models", "import", "bundle", "--name", "flowers", "--server", &url_b,
        ],
    );
    assert_eq!(imported, "registered model flowers version 1\n");
}

#[test]
fn predict_on_a_server_gives_what_the_bundle_gives_locally() {
    let work = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(data.path(), &[]);
    let url = format!("http://{}", server.addr);
    let w = work.path();
    let report = ok(
        &server,
        w,
        &[
            "train", "--server", &url, "--data", "wine", "--epochs", "30", "--lr", "0.02",
        ],
    );
    // The report a local run prints, from the server's job.
    for part in [
        "wine: 178 rows",
        "accuracy",
        "\ntest ",
        "baseline (majority class) accuracy",
        "diagnosis: ",
        "model wine version 1",
    ] {
        assert!(report.contains(part), "{part:?} in:\n{report}");
    }
    ok(
        &server,
        w,
        &[
            "models", "export", "wine", "1", "--out", "wine.tar", "--server", &url,
        ],
    );
    tar::Archive::new(std::fs::File::open(w.join("wine.tar")).unwrap())
        .unpack(w.join("bundle"))
        .unwrap();

    let local = ok(
        &server,
        w,
        &["predict", "--model", "bundle", "--data", "wine"],
    );
    let remote = ok(
        &server,
        w,
        &[
            "predict", "--server", &url, "--model", "wine", "--data", "wine",
        ],
    );
    let (local, remote): (Vec<&str>, Vec<&str>) =
        (local.lines().collect(), remote.lines().collect());
    assert_eq!(local.len(), 179, "a header and 178 rows");
    assert_eq!(local.len(), remote.len());
    // The server's answer also names each row's id in the prediction log.
    assert_eq!(format!("id,{}", local[0]), remote[0]);
    for (l, r) in local.iter().zip(&remote).skip(1) {
        let (l, r): (Vec<&str>, Vec<&str>) =
            (l.split(',').collect(), r.split(',').skip(1).collect());
        assert_eq!(l[0], r[0], "same label");
        for (a, b) in l[1..].iter().zip(&r[1..]) {
            let (a, b): (f64, f64) = (a.parse().unwrap(), b.parse().unwrap());
            assert!((a - b).abs() < 1e-5, "{l:?} vs {r:?}");
        }
    }
}

#[test]
fn feedback_for_predicted_rows_then_monitor_shows_quality_and_drift() {
    let work = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(data.path(), &[]);
    let url = format!("http://{}", server.addr);
    let w = work.path();
    ok(
        &server,
        w,
        &[
            "train", "--server", &url, "--data", "wine", "--epochs", "30", "--lr", "0.02",
        ],
    );
    let predicted = ok(
        &server,
        w,
        &[
            "predict", "--server", &url, "--model", "wine", "--data", "wine",
        ],
    );
    // The true labels of the wine rows, by the ids the server gave them.
    let csv = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/wine.csv"),
    )
    .unwrap();
    let truth: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap())
        .collect();
    let mut labels = String::from("id,label\n");
    for (line, y) in predicted.lines().skip(1).zip(&truth) {
        let id = line.split(',').next().unwrap();
        labels.push_str(&format!("{id},{y}\n"));
    }
    labels.push_str("nobody,1\n");
    std::fs::write(w.join("labels.csv"), labels).unwrap();

    // The log is written off the request path: wait until every row is there.
    let mut stored = String::new();
    for _ in 0..100 {
        stored = ok(
            &server,
            w,
            &["feedback", "wine", "--file", "labels.csv", "--server", &url],
        );
        if stored.starts_with("178 labels stored") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(stored.starts_with("178 labels stored"), "{stored}");
    assert!(
        stored.contains("1 ids have no logged prediction"),
        "{stored}"
    );

    let shown = ok(&server, w, &["monitor", "wine", "--server", &url]);
    assert!(
        shown.contains("178 predictions logged, 178 labelled"),
        "{shown}"
    );
    assert!(shown.contains("confusion matrix"), "{shown}");
    assert!(shown.contains("drift over 178 predictions"), "{shown}");
    assert!(shown.contains("(predicted class)"), "{shown}");
    let json: serde_json::Value = serde_json::from_str(&ok(
        &server,
        w,
        &["monitor", "wine", "--server", &url, "--json"],
    ))
    .unwrap();
    assert_eq!(json["quality"]["labelled"], 178, "{json}");
    assert_eq!(json["drift"]["rows"], 178, "{json}");
}

#[test]
fn bench_loads_a_served_model_over_rest_and_grpc_and_reports_rate_and_latency() {
    let work = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    // A key's rate well above what the load reaches: this is not about limits.
    let server = ServerProcess::start(data.path(), &["--rate-limit", "1000000"]);
    let url = format!("http://{}", server.addr);
    let w = work.path();
    ok(
        &server,
        w,
        &["train", "--server", &url, "--data", "iris", "--epochs", "5"],
    );
    let bench_over = |extra: &[&str], endpoint: &str, concurrency: &str, seconds: &str| {
        let mut args = vec![
            "bench",
            "--server",
            &url,
            "--model",
            "iris",
            "--endpoint",
            endpoint,
            "--concurrency",
            concurrency,
            "--seconds",
            seconds,
            "--json",
        ];
        args.extend(extra);
        let out = ok(&server, w, &args);
        let report: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(report["errors"], 0, "{endpoint}: {report}");
        assert!(
            report["requests"].as_u64().unwrap() > 10,
            "{endpoint}: {report}"
        );
        report
    };
    let bench = |endpoint: &str, concurrency: &str, seconds: &str| {
        bench_over(&[], endpoint, concurrency, seconds)
    };
    let report = bench("infer", "4", "1");
    let (p50, p99) = (
        report["p50_ms"].as_f64().unwrap(),
        report["p99_ms"].as_f64().unwrap(),
    );
    assert!(p50 > 0.0 && p50 <= p99, "{report}");
    // The server counted them.
    let (_, metrics) = server.request("GET", "/metrics", b"");
    assert!(
        metrics.contains("aiaas_inference_requests_total"),
        "{metrics}"
    );
    // The other endpoints, for their rates beside the health check's.
    for endpoint in ["metadata", "ready", "live"] {
        bench(endpoint, "2", "0.3");
    }
    // Every endpoint over gRPC too.
    for endpoint in ["infer", "metadata", "ready", "live"] {
        bench_over(&["--grpc", &server.grpc_addr], endpoint, "2", "0.3");
    }
    // A payload of one's own over gRPC: the same JSON body REST takes, with a selected output
    // and a parameter.
    let payload = w.join("row.json");
    let body = r#"{"id": "p", "parameters": {"timeout": 1000000}, "inputs": [{"name": "input",
        "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}],
        "outputs": [{"name": "label"}]}"#;
    std::fs::write(&payload, body).unwrap();
    let payload = payload.to_str().unwrap();
    bench_over(
        &["--grpc", &server.grpc_addr, "--payload", payload],
        "infer",
        "2",
        "0.3",
    );
}

#[test]
fn optimize_on_a_server_registers_the_variant_with_its_report() {
    let work = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(data.path(), &[]);
    let url = format!("http://{}", server.addr);
    let w = work.path();
    ok(
        &server,
        w,
        &[
            "train", "--server", &url, "--data", "digits", "--hidden", "64", "--epochs", "15",
        ],
    );
    let report: serde_json::Value = serde_json::from_str(&ok(
        &server,
        w,
        &[
            "optimize", "quantize", "--server", &url, "--model", "digits@1", "--json",
        ],
    ))
    .unwrap();
    assert_eq!(report["accepted"], true, "{report}");
    assert!(report["variant"]["size_bytes"].as_u64() < report["parent"]["size_bytes"].as_u64());
    assert_eq!(
        report["result"], "registered as digits version 2",
        "{report}"
    );
    let shown = ok(
        &server,
        w,
        &[
            "models",
            "show",
            "digits",
            "--version",
            "2",
            "--server",
            &url,
        ],
    );
    assert!(shown.contains("int8 (int8-per-channel)"), "{shown}");

    // A refused variant: the report is printed, the command fails, nothing is registered.
    let out = server.aiaas(
        w,
        &[
            "optimize",
            "prune",
            "--server",
            &url,
            "--model",
            "digits@1",
            "--sparsity",
            "0.99",
            "--max-drop",
            "0",
        ],
    );
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("refused"), "{stdout}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nothing registered"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let versions = server.json("GET", "/api/v1/models/digits", b"");
    assert_eq!(
        versions["versions"].as_array().unwrap().len(),
        2,
        "{versions}"
    );

    // The newest version is the int8 one: pruning it is refused before any job runs.
    let out = server.aiaas(
        w,
        &[
            "optimize",
            "prune",
            "--server",
            &url,
            "--model",
            "digits",
            "--sparsity",
            "0.5",
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("422") && stderr.contains("int8"),
        "{stderr}"
    );
}

#[test]
fn rollback_swaps_champion_and_previous() {
    let work = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(data.path(), &[]);
    let url = format!("http://{}", server.addr);
    let w = work.path();
    for _ in 0..2 {
        ok(
            &server,
            w,
            &["train", "--server", &url, "--data", "iris", "--epochs", "5"],
        );
    }
    let out = server.aiaas(w, &["models", "rollback", "iris", "--server", &url]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no champion and previous"), "{err}");
    ok(
        &server,
        w,
        &["models", "alias", "iris", "champion", "2", "--server", &url],
    );
    ok(
        &server,
        w,
        &["models", "alias", "iris", "previous", "1", "--server", &url],
    );
    let said = ok(
        &server,
        w,
        &["models", "rollback", "iris", "--server", &url],
    );
    assert!(
        said.contains("champion is version 1 again (was 2"),
        "{said}"
    );
    let model = server.json("GET", "/api/v1/models/iris", b"");
    assert_eq!(model["aliases"]["champion"], 1, "{model}");
    assert_eq!(model["aliases"]["previous"], 2, "{model}");
}

#[test]
fn keys_are_created_listed_used_and_revoked_from_the_cli() {
    let work = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(data.path(), &[]);
    let url = format!("http://{}", server.addr);
    let w = work.path();
    let created: serde_json::Value = serde_json::from_str(&ok(
        &server,
        w,
        &[
            "keys", "create", "--name", "reader", "--role", "viewer", "--server", &url, "--json",
        ],
    ))
    .unwrap();
    let (id, key) = (
        created["id"].as_str().unwrap(),
        created["key"].as_str().unwrap(),
    );
    let listed = ok(&server, w, &["keys", "list", "--server", &url]);
    assert!(listed.contains(id) && listed.contains("viewer"), "{listed}");
    assert!(!listed.contains(key), "{listed}");

    // The viewer reads, and may not change anything.
    let as_viewer = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--server", &url, "--api-key", key]);
        server.aiaas(w, &all)
    };
    assert!(as_viewer(&["models", "list"]).status.success());
    let refused = as_viewer(&["datasets", "upload", "iris"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("403") && stderr.contains("viewer"),
        "{stderr}"
    );
    ok(&server, w, &["keys", "revoke", id, "--server", &url]);
    let revoked = as_viewer(&["models", "list"]);
    let stderr = String::from_utf8_lossy(&revoked.stderr);
    assert!(
        !revoked.status.success() && stderr.contains("401"),
        "{stderr}"
    );
    // Without any key, the message says where to get one.
    let out = crate::aiaas(w, &["models", "list", "--server", &url]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--api-key"), "{stderr}");

    // The audit log names the refused upload and the revocation.
    let audit = ok(&server, w, &["audit", "--server", &url]);
    let line = |needle: &str| audit.lines().find(|l| l.contains(needle)).unwrap_or("");
    let upload = line("/api/v1/datasets");
    assert!(
        upload.contains("reader") && upload.contains("403"),
        "{audit}"
    );
    let revoke = line(&format!("/api/v1/keys/{id}"));
    assert!(
        revoke.contains("DELETE") && revoke.contains("204"),
        "{audit}"
    );
}

#[test]
fn an_onnx_file_is_imported_and_shown_with_its_source_and_tensors() {
    let work = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(data.path(), &[]);
    let url = format!("http://{}", server.addr);
    let w = work.path();
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/onnx/fixtures");
    let file = &format!("{fixtures}/tokens.onnx");
    // `models show NAME --version 1`, as printed.
    let show = |name: &str| {
        let args = ["models", "show", name, "--version", "1", "--server", &url];
        ok(&server, w, &args)
    };

    // An .onnx file carries no model name: the command asks for one.
    let unnamed = server.aiaas(w, &["models", "import", file, "--server", &url]);
    assert!(!unnamed.status.success());
    let said = String::from_utf8_lossy(&unnamed.stderr);
    assert!(said.contains("--name"), "{said}");

    let imported = ok(
        &server,
        w,
        &[
            "models", "import", file, "--name", "tokens", "--server", &url,
        ],
    );
    assert_eq!(imported, "registered model tokens version 1\n");
    let shown = show("tokens");
    for part in [
        "task",
        "other",
        "onnx (opset 17, IR 8), made by aiaas-fixtures 1",
        "ids INT64 [-1,-1]",
        "y FP32 [-1,2]",
    ] {
        assert!(shown.contains(part), "{part:?} in:\n{shown}");
    }

    // A classifier, with its labels beside it.
    let dense = &format!("{fixtures}/dense.onnx");
    std::fs::write(w.join("colors.txt"), "red\ngreen\nblue\n").unwrap();
    let args = [
        "models",
        "import",
        dense,
        "--name",
        "colors",
        "--labels",
        "colors.txt",
        "--server",
        &url,
    ];
    assert_eq!(ok(&server, w, &args), "registered model colors version 1\n");
    let shown = show("colors");
    for part in ["classification", "red, green, blue (scores in y)"] {
        assert!(shown.contains(part), "{part:?} in:\n{shown}");
    }

    // A text model, with its tokenizer beside it.
    let (encoder, tokenizer) = (
        format!("{fixtures}/encoder.onnx"),
        format!("{fixtures}/tokenizer.json"),
    );
    let args = [
        "models",
        "import",
        &encoder,
        "--name",
        "words",
        "--tokenizer",
        &tokenizer,
        "--server",
        &url,
    ];
    assert_eq!(ok(&server, w, &args), "registered model words version 1\n");
    let shown = show("words");
    let part = "tokenized into input_ids, attention_mask";
    assert!(shown.contains(part), "{part:?} in:\n{shown}");
}

#[test]
fn an_mnist_model_exported_as_onnx_and_imported_back_predicts_as_it_does() {
    let work = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(data.path(), &[]);
    let url = format!("http://{}", server.addr);
    let w = work.path();
    let mnist = concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets/mnist");
    let train = [
        "train", "--data", mnist, "--hidden", "32", "--epochs", "1", "--out", "mnist",
    ];
    ok(&server, w, &train);
    let wrote = ok(
        &server,
        w,
        &["export", "--model", "mnist", "--out", "mnist.onnx"],
    );
    assert!(wrote.starts_with("wrote mnist.onnx"), "{wrote}");
    for (file, name) in [("mnist", "native"), ("mnist.onnx", "imported")] {
        let args = ["models", "import", file, "--name", name, "--server", &url];
        ok(&server, w, &args);
    }

    // The first 64 test digits through V2, to the model as trained and as ONNX.
    let digits = aiaas_data::load(mnist, None, None).unwrap();
    let start = digits.test_rows.clone().unwrap().start;
    let width = digits.x.len() / digits.rows;
    let rows = &digits.x[start * width..(start + 64) * width];
    let request = serde_json::json!({"inputs": [{
        "name": "input", "datatype": "FP32", "shape": [64, width], "data": rows
    }]});
    let answer = |model: &str| {
        let path = format!("/v2/models/{model}/infer");
        server.json("POST", &path, request.to_string().as_bytes())
    };
    let (native, imported) = (answer("native"), answer("imported"));
    let output = output_data;
    assert_eq!(output(&imported, "label"), output(&native, "label"));
    let floats = |v: serde_json::Value| -> Vec<f32> { serde_json::from_value(v).unwrap() };
    let got = floats(output(&imported, "probabilities"));
    let want = floats(output(&native, "probabilities"));
    assert_eq!(got.len(), 640);
    let worst = (got.iter().zip(&want)).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(worst <= 1e-5, "off by {worst}");

    // The whole test set as PNG files, sent as images to the ONNX file imported with its
    // preprocessing (28x28 grayscale, values 0-255 as trained): the native test accuracy.
    std::fs::write(
        w.join("preprocess.json"),
        r#"{"channels": 1, "resize": [28, 28], "scale": 1.0}"#,
    )
    .unwrap();
    let args = [
        "models",
        "import",
        "mnist.onnx",
        "--name",
        "pictures",
        "--preprocess",
        "preprocess.json",
        "--server",
        &url,
    ];
    ok(&server, w, &args);
    let test = digits.test_rows.clone().unwrap();
    std::fs::create_dir(w.join("digits")).unwrap();
    for row in test.clone() {
        let pixels = (digits.x[row * width..(row + 1) * width].iter()).map(|&v| v as u8);
        let image = image::GrayImage::from_raw(28, 28, pixels.collect()).unwrap();
        image.save(w.join(format!("digits/{row}.png"))).unwrap();
    }
    let mut right = 0;
    for chunk in test.clone().collect::<Vec<_>>().chunks(500) {
        use base64::Engine;
        let encoded: Vec<String> = (chunk.iter())
            .map(|row| std::fs::read(w.join(format!("digits/{row}.png"))).unwrap())
            .map(|png| base64::engine::general_purpose::STANDARD.encode(png))
            .collect();
        let request = serde_json::json!({"inputs": [{
            "name": "input", "datatype": "BYTES", "shape": [chunk.len()], "data": encoded
        }]});
        let path = "/v2/models/pictures/infer";
        let answer = server.json("POST", path, request.to_string().as_bytes());
        let labels: Vec<String> = serde_json::from_value(output(&answer, "label")).unwrap();
        right += (chunk.iter().zip(&labels))
            .filter(|(row, label)| digits.y[**row].to_string() == **label)
            .count();
    }
    let accuracy = right as f64 / test.len() as f64;
    let manifest = std::fs::read(w.join("mnist/manifest.json")).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let trained = manifest["lineage"]["metrics"]["test"]["accuracy"]
        .as_f64()
        .unwrap();
    assert!(
        (accuracy - trained).abs() <= 1e-3,
        "{accuracy} from PNG files, {trained} as trained"
    );
}

/// `serve --import NAME=DIR`, as KServe's runtime starts it over /mnt/models: the model file in
/// DIR is served as NAME's champion at once; a restart on the same data directory imports
/// nothing again; a directory that holds no single model file stops the server with the reason.
#[test]
fn a_model_imported_at_start_is_served_as_its_champion() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let run = |args: &[&str]| {
        let out = crate::aiaas(w, args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "train", "--data", "iris", "--epochs", "5", "--out", "bundle",
    ]);
    std::fs::create_dir(w.join("mnt")).unwrap();
    run(&["export", "--model", "bundle", "--out", "mnt/model.onnx"]);
    let import = format!("iris={}", w.join("mnt").display());
    let data = w.join("data");

    let server = ServerProcess::start(&data, &["--import", &import]);
    let model = server.json("GET", "/api/v1/models/iris", b"");
    assert_eq!(model["aliases"]["champion"], 1, "{model}");
    let (status, text) = server.request("GET", "/v2/models/iris/ready", b"");
    assert_eq!(status, 200, "{text}");
    server.kill();

    let server = ServerProcess::start(&data, &["--import", &import]);
    let model = server.json("GET", "/api/v1/models/iris", b"");
    assert_eq!(model["versions"].as_array().unwrap().len(), 1, "{model}");
    server.kill();

    std::fs::write(w.join("mnt/notes.txt"), "a second file").unwrap();
    let out = crate::server::serve_on_loopback(&w.join("other"))
        .args(["--import", &import])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("holds 2 files"), "{stderr}");
}
