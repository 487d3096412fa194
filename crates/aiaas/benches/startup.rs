//! Start-up time of `aiaas serve` on an existing data directory holding 10 registered models:
//! from spawning the process to its first successful health check. Target: under 300 ms.
//! The floor it is compared with is the same binary printing its version (process start alone).
//!
//! Run: `cargo bench -p aiaas --bench startup`

#[allow(dead_code)]
mod common;
#[path = "../tests/it/server.rs"]
#[allow(dead_code)]
mod server;

use server::{ServerProcess, request};
use std::time::{Duration, Instant};

const IRIS: &[u8] = include_bytes!("../../../datasets/iris.csv");
const RUNS: usize = 9;
const MODELS: usize = 10;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path());

    let mut serve_ms = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let server = ServerProcess::start(dir.path(), &[]);
        loop {
            if let Ok((200, _)) =
                std::panic::catch_unwind(|| request(&server.addr, "", "GET", "/api/v1/health", b""))
            {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "never healthy");
            std::thread::sleep(Duration::from_millis(1));
        }
        serve_ms.push(started.elapsed().as_secs_f64() * 1e3);
        let models = server.json("GET", "/api/v1/models", b"");
        assert_eq!(models.as_array().unwrap().len(), MODELS);
        server.kill();
    }

    let mut version_ms = common::version_ms(RUNS);

    println!("aiaas serve start-up, data directory with {MODELS} models, {RUNS} runs");
    report("spawn -> healthy", &mut serve_ms);
    report("floor: aiaas --version", &mut version_ms);
    println!("target: under 300 ms to healthy");
}

/// A data directory with `MODELS` registered models: one trained, the rest imported copies.
fn prepare(dir: &std::path::Path) {
    let server = ServerProcess::start(dir, &[]);
    let (status, text) = server.request("POST", "/api/v1/datasets?name=iris", IRIS);
    assert_eq!(status, 201, "{text}");
    let job = server.json(
        "POST",
        "/api/v1/jobs",
        br#"{"kind": "train", "dataset": "iris", "name": "model-0", "epochs": 5}"#,
    );
    let id = job["id"].as_str().unwrap();
    let job = server.wait_job(id, |j| j["state"] != "queued" && j["state"] != "running");
    assert_eq!(job["state"], "succeeded", "{job}");
    let archive = common::raw_get(
        &server.addr,
        &server.key,
        "/api/v1/models/model-0/versions/1/archive",
    );
    for i in 1..MODELS {
        let (status, text) = server.request(
            "POST",
            &format!("/api/v1/models/model-{i}/versions"),
            &archive,
        );
        assert_eq!(status, 201, "{text}");
    }
    server.kill();
}

fn report(what: &str, ms: &mut [f64]) {
    ms.sort_by(f64::total_cmp);
    println!(
        "  {what:<24} median {:7.1} ms   min {:7.1}   max {:7.1}",
        ms[ms.len() / 2],
        ms[0],
        ms[ms.len() - 1]
    );
}
