//! Serving throughput and latency over the KServe V2 protocol (REST, and gRPC): the MNIST mlp
//! (784-256-128-10) behind `aiaas serve`, loaded by `aiaas bench` running as a separate process
//! on loopback with batch-1 requests whose 784 values are uniform in [0, 1) with 4 decimals.
//! Measured in one run and compared with the same server's floor, `GET /v2/health/live` at
//! concurrency 64: JSON infer (target at least 50% of the floor, p99 under 10 ms), binary
//! tensor input and gRPC infer with raw contents (at least 65% each), V2 model metadata and
//! readiness (at least 80%), each at
//! concurrency 64, and JSON infer at concurrency 1 (p50 under 0.3 ms). Each ratio is printed
//! beside its target, with the mean batch size the server formed (from `/metrics`). Then the
//! ceiling: the same JSON requests to a model that does almost no compute (one 784->10 layer,
//! 1% of the mlp's multiply-adds) served through the same path.
//!
//! Those runs keep the prediction log off; then the mnist mlp at concurrency 64 is measured on a
//! second server with the log on at 100% sampling, alternating with the first (two rounds,
//! medians), against the target of at least 90% of the throughput without the log, with the
//! rows the log wrote and the requests it dropped; with `AIAAS_BENCH_POSTGRES` set to a
//! PostgreSQL server's URL (one whose user may create databases), once more with the logging
//! server's database on PostgreSQL (a new database). Last, the cost of API keys: the same load on
//! the first server (every request with its key) and on one started with `--no-auth`,
//! alternating, against the target of at least 97%. And the mnist mlp exported as ONNX
//! (`aiaas export`) and imported back as `mnist-onnx`: a plain dense graph, so it runs on the
//! native engine; its rate against the model trained here on the same server, alternating
//! (target: equal).
//!
//! Run: `cargo bench -p aiaas --bench serving` (AIAAS_BENCH_SECONDS sets each run's length).

#[allow(dead_code)]
mod common;
#[path = "../tests/it/server.rs"]
#[allow(dead_code)]
mod server;

use common::aiaas;

use aiaas_artifact::Bundle;
use aiaas_engine::{Mlp, stack};
use aiaas_types::Activation;
use server::ServerProcess;
use std::path::Path;
use std::process::Command;

fn main() {
    let seconds: f64 = std::env::var("AIAAS_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let report = prepare(w);

    // Keys and their rate limits are on (the limit set above what one key reaches here, so that
    // its cost is measured, not its refusals).
    let server = ServerProcess::start(
        &w.join("data"),
        &["--prediction-sample", "0", "--rate-limit", "1000000"],
    );
    let logging = ServerProcess::start(
        &w.join("data-logged"),
        &["--prediction-sample", "1", "--rate-limit", "1000000"],
    );
    let logging_pg = std::env::var("AIAAS_BENCH_POSTGRES").ok().map(|url| {
        let database = new_database(&url);
        let flags = ["--prediction-sample", "1", "--rate-limit", "1000000"];
        let flags = [&flags[..], &["--database-url", &database]].concat();
        ServerProcess::start(&w.join("data-logged-pg"), &flags)
    });
    let open = ServerProcess::start(
        &w.join("data-open"),
        &["--prediction-sample", "0", "--no-auth"],
    );
    let imports = [
        (&server, "mnist"),
        (&server, "ceiling"),
        (&logging, "mnist"),
        (&open, "mnist"),
    ];
    for (s, model) in imports
        .into_iter()
        .chain(logging_pg.iter().map(|pg| (pg, "mnist")))
    {
        let (status, text) = s.request(
            "POST",
            &format!("/api/v1/models/{model}/versions"),
            &archive(&w.join(model)),
        );
        assert_eq!(status, 201, "{text}");
    }
    let onnx = std::fs::read(w.join("mnist.onnx")).unwrap();
    let (status, text) = server.request("POST", "/api/v1/models/mnist-onnx/versions", &onnx);
    assert_eq!(status, 201, "{text}");
    println!(
        "aiaas serving, V2 REST and gRPC, batch-1 requests, {seconds} s per run (MNIST mlp test accuracy {:.3})",
        report["test"]["accuracy"].as_f64().unwrap_or(f64::NAN)
    );
    throughput(w, &server, seconds);
    log_cost(w, &server, &logging, "", seconds);
    if let Some(pg) = &logging_pg {
        log_cost(w, &server, pg, " on PostgreSQL", seconds);
    }
    let (keys, open) = paired_rates(w, (&server, "mnist"), (&open, "mnist"), seconds);
    println!(
        "API keys: mnist at concurrency 64, {keys:.0} requests/s with keys against {open:.0} with --no-auth ({:.1}%; target >= 97%)",
        100.0 * keys / open
    );
    let (imported, trained) = paired_rates(w, (&server, "mnist-onnx"), (&server, "mnist"), seconds);
    println!(
        "imported from ONNX: mnist-onnx at concurrency 64, {imported:.0} requests/s against {trained:.0} for the model trained here ({:.1}%; target: equal, it runs on the native engine)",
        100.0 * imported / trained
    );
}

/// Trains the MNIST mlp into `w/mnist`, exports it as `w/mnist.onnx` and writes the ceiling
/// model beside it, in `w/ceiling`; returns the training report.
fn prepare(w: &Path) -> serde_json::Value {
    eprintln!("training the MNIST mlp (one epoch) ...");
    let trained = aiaas(
        w,
        &[
            "train", "--data", "mnist", "--hidden", "256,128", "--epochs", "1", "--out", "mnist",
            "--json",
        ],
    );
    let report: serde_json::Value = serde_json::from_slice(&trained).unwrap();
    aiaas(w, &["export", "--model", "mnist", "--out", "mnist.onnx"]);
    // The ceiling: the same inputs and outputs, a single layer of zeros.
    let mnist = Bundle::read(&w.join("mnist")).unwrap();
    let ceiling = Mlp::new(stack(784, &[], 10, Activation::Identity), 0).unwrap();
    Bundle::new(mnist.manifest.clone(), ceiling)
        .write(&w.join("ceiling"))
        .unwrap();
    report
}

/// One line of the table: what is called, how, and the target it is held to.
struct Case<'a> {
    name: &'static str,
    model: &'static str,
    concurrency: usize,
    args: Vec<&'a str>,
    target: &'static str,
}

/// The table: each case with requests/s, p50, p99, mean batch and its share of the floor (the
/// health check at concurrency 64, measured first) beside its target.
fn throughput(w: &Path, server: &ServerProcess, seconds: f64) {
    let binary = w.join("binary.request");
    std::fs::write(&binary, binary_request()).unwrap();
    let case = |name, model, concurrency, args: &[&'static str], target| Case {
        name,
        model,
        concurrency,
        args: args.to_vec(),
        target,
    };
    let mut binary_input = case("infer, binary", "mnist", 64, &[], ">= 65%");
    binary_input.args = vec!["--payload", binary.to_str().unwrap()];
    let mut grpc_input = case("infer, gRPC", "mnist", 64, &[], ">= 65%");
    grpc_input.args = vec!["--grpc", &server.grpc_addr];
    let mut grpc_live = case("health, gRPC", "mnist", 64, &[], "");
    grpc_live.args = vec!["--endpoint", "live", "--grpc", &server.grpc_addr];
    let cases = [
        case("health (floor)", "mnist", 64, &["--endpoint", "live"], ""),
        case("infer, JSON", "mnist", 64, &[], ">= 50%, p99 < 10 ms"),
        binary_input,
        grpc_input,
        grpc_live,
        case(
            "metadata",
            "mnist",
            64,
            &["--endpoint", "metadata"],
            ">= 80%",
        ),
        case("ready", "mnist", 64, &["--endpoint", "ready"], ">= 80%"),
        case("infer, JSON", "mnist", 1, &[], "p50 < 0.3 ms"),
        case("infer, JSON", "ceiling", 64, &[], ""),
    ];
    println!(
        "{:<15} {:<8} {:>4} {:>11} {:>8} {:>8} {:>6} {:>8}  target",
        "call", "model", "c", "requests/s", "p50 ms", "p99 ms", "batch", "of floor"
    );
    let mut floor = f64::NAN;
    let mut json = [f64::NAN; 2];
    // gRPC infer and gRPC's floor: its calls cost the client more than HTTP/1's.
    let mut grpc = [f64::NAN; 2];
    for c in &cases {
        let before = batch_totals(server, c.model);
        let r = bench(w, server, c.model, c.concurrency, seconds, &c.args);
        let after = batch_totals(server, c.model);
        let rate = r["requests_per_second"].as_f64().unwrap();
        let (p50, p99) = (r["p50_ms"].as_f64().unwrap(), r["p99_ms"].as_f64().unwrap());
        if c.name == "health (floor)" {
            floor = rate;
        }
        let batches = after.1 - before.1;
        let mean_batch = if batches > 0.0 {
            (after.0 - before.0) / batches
        } else {
            0.0
        };
        let errors = match r["errors"].as_u64() {
            Some(0) => String::new(),
            _ => format!("  ({} errors)", r["errors"]),
        };
        println!(
            "{:<15} {:<8} {:>4} {rate:>11.0} {p50:>8.3} {p99:>8.3} {mean_batch:>6.1} {:>7.0}%  {}{errors}",
            c.name,
            c.model,
            c.concurrency,
            100.0 * rate / floor,
            c.target,
        );
        if c.name == "infer, JSON" && c.concurrency == 64 {
            json[usize::from(c.model == "ceiling")] = rate;
        }
        if c.name.ends_with("gRPC") {
            grpc[usize::from(c.name.starts_with("health"))] = rate;
        }
    }
    println!(
        "mnist JSON at concurrency 64: {:.0}% of the ceiling's rate; gRPC infer {:.0}% of gRPC's own floor (ServerLive)",
        100.0 * json[0] / json[1],
        100.0 * grpc[0] / grpc[1]
    );
    println!(
        "peers on the same model (measured for the issue): FastAPI + ONNX Runtime, 2 workers ~3,500 requests/s; Triton CPU ~1,800"
    );
}

/// A batch-1 request for the mnist input in Triton's binary form: the JSON header, then 784
/// little-endian FP32 values in [0, 1).
fn binary_request() -> Vec<u8> {
    let header = serde_json::json!({"inputs": [{"name": "input", "shape": [1, 784],
        "datatype": "FP32", "parameters": {"binary_data_size": 784 * 4}}]});
    let mut body = serde_json::to_vec(&header).unwrap();
    for i in 0..784u32 {
        body.extend_from_slice(&((i * 7919 % 10_000) as f32 / 10_000.0).to_le_bytes());
    }
    body
}

/// Requests per second of `a` and of `b` (a server and a model on it) at concurrency 64,
/// alternating (two rounds each, medians), so that both see the same machine.
fn paired_rates(
    w: &Path,
    a: (&ServerProcess, &str),
    b: (&ServerProcess, &str),
    seconds: f64,
) -> (f64, f64) {
    let rate = |(server, model): (&ServerProcess, &str)| -> f64 {
        let r = bench(w, server, model, 64, seconds, &[]);
        r["requests_per_second"].as_f64().unwrap()
    };
    let (mut on_a, mut on_b) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        on_a.push(rate(a));
        on_b.push(rate(b));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[0] + v[v.len() - 1]) / 2.0
    };
    (median(&mut on_a), median(&mut on_b))
}

/// The prediction log's cost: the same load with the log off (`server`) and at 100%
/// (`logging`), alternating, with what the log wrote and dropped.
fn log_cost(
    w: &Path,
    server: &ServerProcess,
    logging: &ServerProcess,
    database: &str,
    seconds: f64,
) {
    let (off, on) = paired_rates(w, (server, "mnist"), (logging, "mnist"), seconds);
    let (_, text) = logging.request("GET", "/metrics", b"");
    let counter = |name: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    println!(
        "prediction log at 100%{database}: mnist at concurrency 64, {on:.0} requests/s against {off:.0} with it off ({:.0}%; target >= 90%); {:.0} rows written, {:.0} requests dropped",
        100.0 * on / off,
        counter("aiaas_prediction_log_rows_total"),
        counter("aiaas_prediction_log_dropped_total"),
    );
}

/// A new, empty database on the PostgreSQL server `url` names (through `psql`); its URL.
fn new_database(url: &str) -> String {
    let name = format!("aiaas_bench_serving_{}", std::process::id());
    for sql in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        let out = Command::new("psql")
            .args([url, "-X", "-q", "-c", &sql])
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (base, _) = url.rsplit_once('/').expect("a URL that names a database");
    format!("{base}/{name}")
}

/// One `aiaas bench --json` run against `model` on `server`, with its key and `extra`
/// arguments; its report.
fn bench(
    w: &Path,
    server: &ServerProcess,
    model: &str,
    concurrency: usize,
    seconds: f64,
    extra: &[&str],
) -> serde_json::Value {
    let url = format!("http://{}", server.addr);
    let (concurrency, seconds) = (concurrency.to_string(), seconds.to_string());
    let mut args = vec![
        "bench",
        "--api-key",
        &server.key,
        "--server",
        &url,
        "--model",
        model,
        "--concurrency",
        &concurrency,
        "--seconds",
        &seconds,
        "--json",
    ];
    args.extend(extra);
    let out = aiaas(w, &args);
    serde_json::from_slice(&out).unwrap()
}

/// A bundle directory as the tar archive the import endpoint takes.
fn archive(dir: &Path) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for file in ["manifest.json", "weights.safetensors"] {
        builder.append_path_with_name(dir.join(file), file).unwrap();
    }
    builder.into_inner().unwrap()
}

/// `(sum, count)` of the batch-size histogram of `model`, from `/metrics`.
fn batch_totals(server: &ServerProcess, model: &str) -> (f64, f64) {
    let (_, text) = server.request("GET", "/metrics", b"");
    let value = |series: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(series) && l.contains(&format!("model=\"{model}\"")))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    (
        value("aiaas_inference_batch_size_sum{"),
        value("aiaas_inference_batch_size_count{"),
    )
}
