//! Density: 1,000 registered models (digits MLPs 64-64-10, each aliased `champion`) behind one
//! `aiaas serve`, loaded by `aiaas bench` running as a separate process. Printed in one run,
//! each beside its target:
//!
//! - start-up to ready (`/v2/health/ready` answers 200) on the 1,000-model data directory, with
//!   the floor of the binary printing its version (target: under 300 ms);
//! - the server's threads at ready, after a load spread over 200 models and after a load on
//!   one model (target: the same, whatever the number of models);
//! - batch-1 JSON infer at concurrency 64 spread over 200 models by a Zipf law (exponent 1):
//!   first on the fresh server (every model cold: p50 and p99 of each model's first request),
//!   then again warm, and the same load sent to one model (target: warm spread at least 80% of
//!   one model);
//! - memory: what the loaded versions hold against `--max-loaded-mb` (32: room for the 200),
//!   and the process's resident memory at ready and after the loads;
//! - fairness: one model flooded at concurrency 64 while another gets one request every 10 ms;
//!   the second's p99 with and without the flood (target: within 2x), beside the same pace of
//!   health checks, the floor any request meets on the loaded machine;
//! - the Zipf load again on a server whose budget (4 MiB) holds a third of the 200: requests
//!   answered, cold starts and evictions.
//!
//! Run: `cargo bench -p aiaas --bench density` (`AIAAS_BENCH_SECONDS` sets each load's length,
//! default 5; `AIAAS_BENCH_MODELS` the number registered, default 1,000).

#[allow(dead_code)]
mod common;
#[path = "../tests/it/server.rs"]
#[allow(dead_code)]
mod server;

use server::ServerProcess;
use std::path::Path;
use std::time::{Duration, Instant};

const DIGITS: &[u8] = include_bytes!("../../../datasets/digits.csv");
/// Models the Zipf load spreads over.
const SPREAD: usize = 200;
/// The memory budget, MiB: room for the 200 small models the load calls (about 57 KiB each).
const BUDGET_MB: &str = "32";
/// A budget too small for them (about 70 fit), for the run that keeps evicting and loading.
const SMALL_BUDGET_MB: &str = "4";
const STARTS: usize = 5;

fn main() {
    let seconds: f64 = env_or("AIAAS_BENCH_SECONDS", 5.0);
    let models: usize = env_or("AIAAS_BENCH_MODELS", 1000.0) as usize;
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let started = Instant::now();
    // m-0 trained on digits, the others imported copies of it, each aliased champion.
    common::register_copies(
        &data,
        ("digits", DIGITS),
        r#""epochs": 5, "hidden": [64]"#,
        ("m-", models),
        Some("champion"),
    );
    println!(
        "== density: {models} models (digits mlp 64-64-10, aliased champion), registered in {:.1} s ==",
        started.elapsed().as_secs_f64()
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.to_string();
    let flags = [
        "--threads",
        &threads,
        "--max-loaded-mb",
        BUDGET_MB,
        "--prediction-sample",
        "0",
        "--rate-limit",
        "1000000",
    ];

    // Start-up to ready, several times; the last server stays for the loads.
    let mut ready_ms = Vec::new();
    let mut server = None;
    for _ in 0..STARTS {
        drop(server.take());
        let t = Instant::now();
        let s = ServerProcess::start(&data, &flags);
        common::wait_ok(&s.addr, "/v2/health/ready");
        ready_ms.push(t.elapsed().as_secs_f64() * 1e3);
        server = Some(s);
    }
    let server = server.expect("a server");
    let mut version_ms = common::version_ms(STARTS);
    ready_ms.sort_by(f64::total_cmp);
    version_ms.sort_by(f64::total_cmp);
    println!(
        "  start-up to ready: median {:.0} ms (min {:.0}, max {:.0}) over {STARTS} starts; floor `aiaas --version` {:.0} ms; target < 300 ms",
        ready_ms[STARTS / 2],
        ready_ms[0],
        ready_ms[STARTS - 1],
        version_ms[STARTS / 2]
    );
    let pid = server.child.id();
    let at_ready = (threads_of(pid), resident_mb(pid));

    let spread = SPREAD.min(models).to_string();
    let zipf = ["--spread", &spread, "--zipf", "1"];
    let cold = bench(work.path(), &server, "m", seconds, &zipf);
    let after_spread = threads_of(pid);
    let warm = bench(work.path(), &server, "m", seconds, &zipf);
    let one = bench(work.path(), &server, "m-0", seconds, &[]);
    let after_one = threads_of(pid);
    let serving = server.json("GET", "/api/v1/serving", b"");
    let rps = |r: &serde_json::Value| r["requests_per_second"].as_f64().unwrap_or(0.0);
    let line = |what: &str, r: &serde_json::Value| {
        println!(
            "  {what:<34} {:>7.0} req/s  p50 {:.2} ms  p99 {:.2} ms  errors {}",
            rps(r),
            r["p50_ms"].as_f64().unwrap_or(0.0),
            r["p99_ms"].as_f64().unwrap_or(0.0),
            r["errors"]
        )
    };
    println!("  batch-1 JSON infer at concurrency 64, {seconds} s each:");
    line(&format!("Zipf over {SPREAD} models, all cold"), &cold);
    println!(
        "    first request of each model ({} models): p50 {:.2} ms, p99 {:.2} ms (a cold load each)",
        cold["first_requests"],
        cold["first_p50_ms"].as_f64().unwrap_or(0.0),
        cold["first_p99_ms"].as_f64().unwrap_or(0.0)
    );
    line(&format!("Zipf over {SPREAD} models, again"), &warm);
    line("one model", &one);
    println!(
        "  spread / one model: {:.2} (target >= 0.80)",
        rps(&warm) / rps(&one)
    );
    println!(
        "  server threads: {} at ready, {} after the spread load, {} after the one-model load (target: the same)",
        at_ready.0, after_spread, after_one
    );
    let loaded = serving["loaded"].as_array().map_or(0, Vec::len);
    let evicted = serving["not_loaded"]
        .as_array()
        .map_or(0, |v| v.iter().filter(|m| m["state"] == "evicted").count());
    println!(
        "  memory: {} loaded versions hold {:.1} MiB of the {BUDGET_MB} MiB budget ({evicted} evicted); resident {:.0} MiB at ready, {:.0} MiB after the loads",
        loaded,
        serving["held_bytes"].as_f64().unwrap_or(0.0) / (1 << 20) as f64,
        at_ready.1,
        resident_mb(pid)
    );
    fairness(work.path(), &server, seconds);
    drop(server);

    // The same Zipf load under a budget that holds a third of what it calls: the tail keeps
    // being evicted and loaded again, and every request is still answered.
    let mut small = flags.to_vec();
    small[3] = SMALL_BUDGET_MB;
    let server = ServerProcess::start(&data, &small);
    common::wait_ok(&server.addr, "/v2/health/ready");
    let churn = bench(work.path(), &server, "m", seconds, &zipf);
    let serving = server.json("GET", "/api/v1/serving", b"");
    line(
        &format!("Zipf over {SPREAD}, {SMALL_BUDGET_MB} MiB budget"),
        &churn,
    );
    println!(
        "    {} cold starts, {} evictions; the loaded versions hold {:.1} MiB of the {SMALL_BUDGET_MB} MiB",
        counter(&server, "aiaas_model_cold_starts_total"),
        counter(&server, "aiaas_model_evictions_total"),
        serving["held_bytes"].as_f64().unwrap_or(0.0) / (1 << 20) as f64,
    );
}

/// A counter's value from `/metrics`.
fn counter(server: &ServerProcess, name: &str) -> f64 {
    let (_, text) = server.request("GET", "/metrics", b"");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// A model's p99 at one request every 10 ms, alone and while another model is flooded; beside
/// it, the same pace of `GET /v2/health/live` (no model, no compute), the floor any request
/// meets on the loaded machine.
fn fairness(w: &Path, server: &ServerProcess, seconds: f64) {
    let calls = (seconds * 100.0) as usize;
    let infer = ("POST", "/v2/models/m-1/infer".to_string(), infer_body());
    let live = ("GET", "/v2/health/live".to_string(), Vec::new());
    let both = |server: &ServerProcess| {
        std::thread::scope(|scope| {
            let floor = scope.spawn(|| paced(server, &live, calls));
            (paced(server, &infer, calls), floor.join().unwrap())
        })
    };
    let alone = both(server);
    let queue = "aiaas_inference_queue_duration_seconds";
    let (flooded, queued, flood) = std::thread::scope(|scope| {
        let flood = scope.spawn(|| bench(w, server, "m-0", seconds + 1.0, &[]));
        std::thread::sleep(Duration::from_millis(500));
        let before = buckets(server, queue, "m-1");
        let flooded = both(server);
        let queued = p99_between(&before, &buckets(server, queue, "m-1"));
        (flooded, queued, flood.join().unwrap())
    });
    println!(
        "  fairness: m-1 every 10 ms, p99 {:.2} ms alone, {:.2} ms while m-0 is flooded at concurrency 64 ({:.0} req/s): {:.2}x (target <= 2x)",
        alone.0,
        flooded.0,
        flood["requests_per_second"].as_f64().unwrap_or(0.0),
        flooded.0 / alone.0
    );
    println!(
        "    floor, GET /v2/health/live at the same pace: p99 {:.2} ms alone, {:.2} ms under the flood; m-1's wait in its queue for a compute thread under the flood: p99 <= {:.2} ms",
        alone.1,
        flooded.1,
        queued * 1e3
    );
}

/// The p99, in ms, of `calls` requests `(method, path, body)`, one every 10 ms on one
/// kept-alive connection (as a client that calls a model now and then keeps its connection).
fn paced(
    server: &ServerProcess,
    (method, path, body): &(&str, String, Vec<u8>),
    calls: usize,
) -> f64 {
    use std::io::{BufRead, BufReader, Read, Write};
    let stream = std::net::TcpStream::connect(&server.addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        server.key,
        body.len()
    );
    let request = [head.as_bytes(), body.as_slice()].concat();
    let mut ms = Vec::with_capacity(calls);
    let start = Instant::now();
    for i in 0..calls {
        let due = start + Duration::from_millis(10 * i as u64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let t = Instant::now();
        writer.write_all(&request).unwrap();
        let (mut line, mut length) = (String::new(), 0);
        reader.read_line(&mut line).unwrap();
        assert!(line.starts_with("HTTP/1.1 200"), "{line}");
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut answer = vec![0; length];
        reader.read_exact(&mut answer).unwrap();
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    ms[(ms.len() * 99).div_ceil(100) - 1]
}

/// The cumulative buckets `(le, count)` of `model`'s histogram `metric`.
fn buckets(server: &ServerProcess, metric: &str, model: &str) -> Vec<(f64, f64)> {
    let (_, text) = server.request("GET", "/metrics", b"");
    let prefix = format!("{metric}_bucket{{");
    text.lines()
        .filter(|l| l.starts_with(&prefix) && l.contains(&format!("model=\"{model}\"")))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, l.rsplit(' ').next()?.parse().ok()?))
        })
        .collect()
}

/// The upper bound of the bucket that holds the 99th percentile of what was recorded between
/// two snapshots.
fn p99_between(before: &[(f64, f64)], after: &[(f64, f64)]) -> f64 {
    let count = |snapshot: &[(f64, f64)], le: f64| {
        (snapshot.iter())
            .find(|(l, _)| *l == le)
            .map_or(0.0, |(_, c)| *c)
    };
    let total = count(after, f64::INFINITY) - count(before, f64::INFINITY);
    (after.iter())
        .find(|(le, c)| c - count(before, *le) >= 0.99 * total)
        .map_or(f64::NAN, |(le, _)| *le)
}

/// One digits row (64 pixel values) as a V2 request.
fn infer_body() -> Vec<u8> {
    let data: Vec<f64> = (0..64).map(|i| ((i * 7) % 17) as f64).collect();
    serde_json::json!({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": data}]})
        .to_string()
        .into_bytes()
}

/// `aiaas bench` at concurrency 64 against `model`, with `extra` flags: its JSON report.
fn bench(
    w: &Path,
    server: &ServerProcess,
    model: &str,
    seconds: f64,
    extra: &[&str],
) -> serde_json::Value {
    let url = format!("http://{}", server.addr);
    let seconds = seconds.to_string();
    let mut args = vec![
        "bench",
        "--api-key",
        &server.key,
        "--server",
        &url,
        "--model",
        model,
        "--concurrency",
        "64",
        "--seconds",
        &seconds,
        "--json",
    ];
    args.extend(extra);
    serde_json::from_slice(&common::aiaas(w, &args)).unwrap()
}

/// A line of `/proc/<pid>/status`, as a number.
fn status_field(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

fn threads_of(pid: u32) -> f64 {
    status_field(pid, "Threads:")
}

fn resident_mb(pid: u32) -> f64 {
    status_field(pid, "VmRSS:") / 1024.0
}

fn env_or(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
