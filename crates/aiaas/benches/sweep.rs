//! A sweep of 8 trials with 1 worker and with 2 workers, in the same run: wall time from
//! submitting the sweep to its best trial registered. Each trial trains on one thread
//! (`--threads 1`), so the two runs do the same work and only the workers differ. Target: 2
//! workers take about half the time of 1 (ratio near 0.5) on a machine with 2 free cores.
//!
//! Run: `cargo bench -p aiaas --bench sweep`

#[path = "../tests/it/server.rs"]
#[allow(dead_code)]
mod server;

use server::ServerProcess;
use std::time::{Duration, Instant};

const DIGITS: &[u8] = include_bytes!("../../../datasets/digits.csv");
const RUNS: usize = 3;

fn main() {
    let mut seconds = [Vec::new(), Vec::new()];
    for _ in 0..RUNS {
        for (workers, times) in [1, 2].into_iter().zip(seconds.iter_mut()) {
            times.push(sweep_seconds(workers));
        }
    }
    println!(
        "sweep of 8 trials (digits, 2 learning rates x 4 widths, 150 epochs), {RUNS} runs each"
    );
    let median = |times: &mut Vec<f64>| {
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    };
    let one = median(&mut seconds[0]);
    let two = median(&mut seconds[1]);
    println!("1 worker : median {one:.2} s  (runs {:?})", seconds[0]);
    println!("2 workers: median {two:.2} s  (runs {:?})", seconds[1]);
    println!(
        "ratio 2 workers / 1 worker: {:.2} (target: about 0.5)",
        two / one
    );
}

/// One sweep on a fresh server with `workers` workers: seconds from submitting it to its end.
fn sweep_seconds(workers: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let workers_flag = workers.to_string();
    let server = ServerProcess::start(
        dir.path(),
        &[
            "--workers",
            &workers_flag,
            "--threads",
            "1",
            "--checkpoint-every",
            "0",
        ],
    );
    server.json("POST", "/api/v1/datasets?name=digits", DIGITS);
    let body = serde_json::json!({
        "dataset": "digits",
        "base": {"epochs": 150, "patience": 0},
        "grid": {"lr": [0.01, 0.001], "hidden": [[128], [256], [128, 64], [256, 128]]},
    });
    let started = Instant::now();
    let sweep = server.json("POST", "/api/v1/sweeps", body.to_string().as_bytes());
    let id = sweep["id"].as_str().unwrap().to_string();
    let done = loop {
        let sweep = server.json("GET", &format!("/api/v1/sweeps/{id}"), b"");
        if sweep["state"] != "running" {
            break sweep;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the sweep never ended"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["trials"].as_array().unwrap().len(), 8);
    assert_eq!(done["result"]["version"], 1, "{done}");
    server.kill();
    elapsed
}
