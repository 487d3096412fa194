//! `aiaas bench`: a load generator for the V2 endpoints (infer by default; `--endpoint` picks
//! metadata, ready or the health check, whose rate is the server's floor to compare with). It
//! runs in its own process (so it does not share cores' scheduling with the server's runtime),
//! keeps `--concurrency` batch-1 requests in flight for `--seconds`, and prints requests per
//! second, latency percentiles and errors.

use super::Access;
use crate::cli::{BenchArgs, BenchEndpoint};
use anyhow::Context;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub fn run(args: BenchArgs, access: &Access) -> anyhow::Result<()> {
    anyhow::ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    anyhow::ensure!(
        args.seconds.is_finite() && args.seconds > 0.0,
        "--seconds must be a positive number"
    );
    let base = args.server.trim_end_matches('/').to_string();
    let base = if base.contains("://") {
        base
    } else {
        format!("http://{base}")
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(load(&base, access, &args))?;
    if args.json {
        println!("{report}");
    } else {
        println!(
            "{} requests in {:.1} s at concurrency {}: {:.0} requests/s, p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, {} errors",
            report["requests"],
            report["seconds"].as_f64().unwrap_or(0.0),
            args.concurrency,
            report["requests_per_second"].as_f64().unwrap_or(0.0),
            report["p50_ms"].as_f64().unwrap_or(0.0),
            report["p90_ms"].as_f64().unwrap_or(0.0),
            report["p99_ms"].as_f64().unwrap_or(0.0),
            report["errors"],
        );
    }
    Ok(())
}

async fn load(base: &str, access: &Access<'_>, args: &BenchArgs) -> anyhow::Result<Value> {
    let http = access
        .http()?
        .pool_max_idle_per_host(args.concurrency)
        .build()
        .context("building the HTTP client")?;
    let meta: Value = http
        .get(format!("{base}/v2/models/{}", args.model))
        .send()
        .await
        .with_context(|| format!("cannot reach the aiaas server at {base}"))?
        .error_for_status()
        .with_context(|| format!("model {:?} on {base}", args.model))?
        .json()
        .await?;
    let model = format!("{base}/v2/models/{}", args.model);
    // A body means POST; none, GET.
    let (url, body) = match args.endpoint {
        BenchEndpoint::Infer => (format!("{model}/infer"), Some(one_row(&meta)?.to_string())),
        BenchEndpoint::Metadata => (model, None),
        BenchEndpoint::Ready => (format!("{model}/ready"), None),
        BenchEndpoint::Live => (format!("{base}/v2/health/live"), None),
    };
    let run_for = Duration::from_secs_f64(args.seconds);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.concurrency);
    for _ in 0..args.concurrency {
        let (http, url, body) = (http.clone(), url.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0u64);
            while started.elapsed() < run_for {
                let sent = Instant::now();
                let request = match &body {
                    Some(body) => http
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.clone()),
                    None => http.get(&url),
                };
                let answer = request.send().await;
                let answered = match answer {
                    Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                    _ => false,
                };
                if answered {
                    latencies.push(sent.elapsed());
                } else {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for task in tasks {
        let (l, e) = task.await.context("a load task failed")?;
        latencies.extend(l);
        errors += e;
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort();
    let percentile = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1e3
    };
    Ok(json!({
        "requests": latencies.len(),
        "errors": errors,
        "seconds": seconds,
        "concurrency": args.concurrency,
        "requests_per_second": latencies.len() as f64 / seconds,
        "p50_ms": percentile(0.50),
        "p90_ms": percentile(0.90),
        "p99_ms": percentile(0.99),
    }))
}

/// A batch-1 request for the model's inputs: pixel-like numbers (0 to 255, so the body is as
/// long as a real image's), empty text for BYTES.
fn one_row(meta: &Value) -> anyhow::Result<Value> {
    let inputs = meta["inputs"]
        .as_array()
        .context("the model metadata lists no inputs")?;
    let tensors: Vec<Value> = inputs
        .iter()
        .map(|input| {
            let shape: Vec<i64> = input["shape"]
                .as_array()
                .map(|s| s.iter().map(|d| d.as_i64().unwrap_or(1).max(1)).collect())
                .unwrap_or_default();
            let count: i64 = shape.iter().product();
            let data = if input["datatype"] == "BYTES" {
                json!(vec![""; count as usize])
            } else {
                let values: Vec<f32> = (0..count).map(|i| ((i * 37) % 256) as f32).collect();
                json!(values)
            };
            json!({"name": input["name"], "shape": shape, "datatype": input["datatype"], "data": data})
        })
        .collect();
    Ok(json!({ "inputs": tensors }))
}
