//! The V2 endpoints through the real `tritonclient` Python package, over HTTP and gRPC: live,
//! ready, model metadata, infer with JSON and binary tensors (HTTP), typed and raw contents and
//! a stream (gRPC) at batch 1 and 8, selected outputs, the repository, errors with their codes;
//! the answers equal `aiaas predict` on the same rows, and gRPC's equal REST's.
//!
//! CI installs `tritonclient[http,grpc]` and sets `AIAAS_REQUIRE_TRITONCLIENT=1`; elsewhere the
//! tests are reported as ignored, with the reason, when the package is missing.

use crate::certificates::https_server;
use crate::server::ServerProcess;
use libtest_mimic::Failed;
use serde_json::json;
use std::path::Path;

const IRIS: &[u8] = include_bytes!("../../../../datasets/iris.csv");
const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/tritonclient/check_v2.py"
);
const GRPC_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/tritonclient/check_grpc.py"
);

/// Why the checks cannot run here, if they cannot (see [`crate::python_missing`]).
pub fn missing() -> Result<Option<String>, Failed> {
    crate::python_missing(
        "tritonclient.http, tritonclient.grpc, numpy",
        "tritonclient[http,grpc]==2.73.0",
        "AIAAS_REQUIRE_TRITONCLIENT",
    )
}

/// Over plain HTTP, then over gRPC (compared with REST) on the same server.
pub fn over_http_and_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let server = ServerProcess::start(&work.join("data"), &[]);
    check_with_tritonclient(&server, work, &[]);
    check_grpc_with_tritonclient(&server, work, None);
}

/// Over HTTPS and gRPC with TLS, trusting the test CA that signed the server's certificate.
pub fn over_https() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let (server, ca) = https_server(work);
    check_with_tritonclient(&server, work, &["--ca-cert", ca.to_str().unwrap()]);
    check_grpc_with_tritonclient(&server, work, Some(&ca));
}

/// Runs `check_grpc.py` against `server` (after [`check_with_tritonclient`], whose expected
/// answers it reads), with TLS trusting `ca` when given.
fn check_grpc_with_tritonclient(server: &ServerProcess, work: &Path, ca: Option<&Path>) {
    let expected = work.join("expected.json");
    let mut args = vec![
        server.grpc_addr.as_ref(),
        server.addr.as_ref(),
        expected.as_os_str(),
        server.key.as_ref(),
    ];
    args.extend(ca.map(Path::as_os_str));
    crate::run_python(Path::new(GRPC_SCRIPT), &args);
}

/// Trains iris on `server` with the CLI (which takes `cli_args` too, such as `--ca-cert`), then
/// runs `check_v2.py` against it (with the CA of `--ca-cert` when given, over https).
pub fn check_with_tritonclient(server: &ServerProcess, work: &Path, cli_args: &[&str]) {
    train_iris_and_predict(server, work, cli_args);
    let expected = work.join("expected.json");
    let mut args = vec![
        server.addr.as_ref(),
        expected.as_os_str(),
        server.key.as_ref(),
    ];
    if let Some(at) = cli_args.iter().position(|a| *a == "--ca-cert") {
        args.push(cli_args[at + 1].as_ref());
    }
    crate::run_python(Path::new(SCRIPT), &args);
}

/// Trains iris as model `iris` on `server` with the CLI (which takes `cli_args` too, such as
/// `--ca-cert`) and writes `work/expected.json`: eight rows of all three classes with what
/// `aiaas predict` answers for them on the exported bundle (`rows`, `labels`, `probabilities`).
pub fn train_iris_and_predict(server: &ServerProcess, work: &Path, cli_args: &[&str]) {
    let cli = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--server", &server.url]);
        all.extend(cli_args);
        let out = server.aiaas(work, &all);
        assert!(
            out.status.success(),
            "aiaas {all:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    cli(&[
        "train", "--data", "iris", "--epochs", "30", "--lr", "0.02", "--name", "iris",
    ]);
    // The same rows through `aiaas predict` on the exported bundle.
    cli(&["models", "export", "iris", "1", "--out", "iris.tar"]);
    tar::Archive::new(std::fs::File::open(work.join("iris.tar")).unwrap())
        .unpack(work.join("bundle"))
        .unwrap();
    let text = std::str::from_utf8(IRIS).unwrap();
    // Eight rows from all three classes.
    let picked: Vec<&str> = text.lines().skip(1).step_by(19).take(8).collect();
    let rows: Vec<Vec<f64>> = picked
        .iter()
        .map(|l| l.split(',').take(4).map(|v| v.parse().unwrap()).collect())
        .collect();
    let csv = format!("{}\n{}\n", text.lines().next().unwrap(), picked.join("\n"));
    std::fs::write(work.join("rows.csv"), csv).unwrap();
    let out = server.aiaas(
        work,
        &["predict", "--model", "bundle", "--data", "rows.csv"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let predicted = String::from_utf8(out.stdout).unwrap();
    let (mut labels, mut probabilities) = (Vec::new(), Vec::new());
    for line in predicted.lines().skip(1) {
        let mut fields = line.split(',');
        labels.push(fields.next().unwrap().to_string());
        probabilities.push(
            fields
                .map(|p| p.parse::<f64>().unwrap())
                .collect::<Vec<_>>(),
        );
    }
    let expected = json!({"rows": rows, "labels": labels, "probabilities": probabilities});
    std::fs::write(work.join("expected.json"), expected.to_string()).unwrap();
}
