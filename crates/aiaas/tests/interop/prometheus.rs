//! `/metrics` read by the official Prometheus client's text parser (`prometheus_client`, the
//! Python package): the page parses, and besides the inference series it holds the standard
//! `process_*` series, `aiaas_build_info`, the jobs, the management API's calls (refusals too)
//! and the prediction log's rows, with the values of what the test did.
//!
//! CI installs `prometheus_client` and sets `AIAAS_REQUIRE_PROMETHEUS_CLIENT=1`; elsewhere the
//! test is reported as ignored, with the reason, when the package is missing.

use crate::server::{ServerProcess, request};
use libtest_mimic::Failed;
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/prometheus/parse_metrics.py"
);

/// Why the test cannot run here, if it cannot (see [`crate::python_missing`]).
pub fn missing() -> Result<Option<String>, Failed> {
    crate::python_missing(
        "prometheus_client.parser",
        "prometheus_client==0.21.1",
        "AIAAS_REQUIRE_PROMETHEUS_CLIENT",
    )
}

/// A job, an inference call and a refused management call, then the scrape through the parser.
pub fn the_scrape_parses_with_every_family() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let server = ServerProcess::start(&work.join("data"), &["--prediction-sample", "1"]);
    let trained = server.aiaas(
        work,
        &[
            "train",
            "--data",
            "iris",
            "--epochs",
            "5",
            "--name",
            "iris",
            "--server",
            &server.url,
        ],
    );
    assert!(
        trained.status.success(),
        "{}",
        String::from_utf8_lossy(&trained.stderr)
    );
    let row = json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32",
        "data": [5.1, 3.5, 1.4, 0.2]}]});
    let (status, text) =
        server.request("POST", "/v2/models/iris/infer", row.to_string().as_bytes());
    assert_eq!(status, 200, "{text}");
    // No key: refused, and counted.
    let (status, _) = request(&server.addr, "", "GET", "/api/v1/models", b"");
    assert_eq!(status, 401);

    let (status, page) = server.request("GET", "/metrics", b"");
    assert_eq!(status, 200, "{page}");
    let families = parse(&page);
    let sample = |family: &str, name: &str, labels: Value| -> f64 {
        let samples = families[family]["samples"].as_array();
        let found = samples.into_iter().flatten().find(|s| {
            s[0] == name
                && labels
                    .as_object()
                    .unwrap()
                    .iter()
                    .all(|(k, v)| &s[1][k] == v)
        });
        found
            .and_then(|s| s[2].as_f64())
            .unwrap_or_else(|| panic!("no {name} {labels} in {}", families[family]))
    };

    // The standard process series.
    // Whole seconds (the `metrics` crate's counters are integers): 0 this early.
    assert_eq!(families["process_cpu_seconds"]["type"], "counter");
    let cpu = sample(
        "process_cpu_seconds",
        "process_cpu_seconds_total",
        json!({}),
    );
    assert!(cpu >= 0.0, "{cpu}");
    let memory = "process_resident_memory_bytes";
    assert!(sample(memory, memory, json!({})) > 1e6);
    assert!(sample("process_open_fds", "process_open_fds", json!({})) >= 3.0);
    let start = sample(
        "process_start_time_seconds",
        "process_start_time_seconds",
        json!({}),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    assert!(
        start > now.as_secs_f64() - 600.0 && start <= now.as_secs_f64(),
        "{start}"
    );
    let version = json!({"version": env!("CARGO_PKG_VERSION")});
    assert_eq!(sample("aiaas_build_info", "aiaas_build_info", version), 1.0);

    // The job that trained iris.
    let train = json!({"kind": "train", "state": "succeeded"});
    assert_eq!(families["aiaas_jobs_ended"]["type"], "counter");
    assert_eq!(
        sample("aiaas_jobs_ended", "aiaas_jobs_ended_total", train.clone()),
        1.0
    );
    assert_eq!(families["aiaas_job_duration_seconds"]["type"], "histogram");
    let count = "aiaas_job_duration_seconds_count";
    assert_eq!(sample("aiaas_job_duration_seconds", count, train), 1.0);
    assert_eq!(
        sample(
            "aiaas_jobs_running",
            "aiaas_jobs_running",
            json!({"kind": "train"})
        ),
        0.0
    );

    // Management calls by route, method and status: the job's submission, the refusal.
    let api = "aiaas_api_requests_total";
    let submitted = json!({"route": "/api/v1/jobs", "method": "POST", "status": "201"});
    assert_eq!(sample("aiaas_api_requests", api, submitted), 1.0);
    let refused = json!({"route": "/api/v1/models", "method": "GET", "status": "401"});
    assert_eq!(sample("aiaas_api_requests", api, refused), 1.0);

    // The prediction log and the inference call.
    let rows = sample(
        "aiaas_prediction_log_rows",
        "aiaas_prediction_log_rows_total",
        json!({}),
    );
    assert!((0.0..=1.0).contains(&rows), "{rows}");
    let dropped = "aiaas_prediction_log_dropped_total";
    assert_eq!(
        sample("aiaas_prediction_log_dropped", dropped, json!({})),
        0.0
    );
    let ok = json!({"model": "iris", "version": "1", "outcome": "ok"});
    let calls = "aiaas_inference_requests_total";
    assert_eq!(sample("aiaas_inference_requests", calls, ok), 1.0);
}

/// The families `parse_metrics.py` reads from `page`.
fn parse(page: &str) -> Value {
    let mut child = Command::new("python3")
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused the page: {}\n{page}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
