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

use server::ServerProcess;
use std::time::Instant;

const IRIS: &[u8] = include_bytes!("../../../datasets/iris.csv");
const RUNS: usize = 9;
const MODELS: usize = 10;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    // One model trained, the rest imported copies.
    common::register_copies(
        dir.path(),
        ("iris", IRIS),
        r#""epochs": 5"#,
        ("model-", MODELS),
        None,
    );

    let mut serve_ms = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let server = ServerProcess::start(dir.path(), &[]);
        common::wait_ok(&server.addr, "/api/v1/health");
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

fn report(what: &str, ms: &mut [f64]) {
    ms.sort_by(f64::total_cmp);
    println!(
        "  {what:<24} median {:7.1} ms   min {:7.1}   max {:7.1}",
        ms[ms.len() / 2],
        ms[0],
        ms[ms.len() - 1]
    );
}
