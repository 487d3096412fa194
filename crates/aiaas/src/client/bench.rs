//! `aiaas bench`: a load generator for the V2 endpoints (infer by default; `--endpoint` picks
//! metadata, ready or the health check, whose rate is the server's floor to compare with), over
//! REST or, with `--grpc`, over gRPC. It
//! runs in its own process (so it does not share cores' scheduling with the server's runtime),
//! keeps `--concurrency` batch-1 requests in flight for `--seconds`, and prints requests per
//! second, latency percentiles and errors. With `--spread N` the requests go to N models
//! (`MODEL-0` ...) by a Zipf law, and the first request to each model is timed apart: on a
//! server that loads on first use, those are its cold starts.

use super::Access;
use super::bench_grpc::GrpcCall;
use crate::cli::{BenchArgs, BenchEndpoint};
use aiaas_serve::v2::InferRequest;
use anyhow::Context;
use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub fn run(args: BenchArgs, access: &Access) -> anyhow::Result<()> {
    anyhow::ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    anyhow::ensure!(
        args.seconds.is_finite() && args.seconds > 0.0,
        "--seconds must be a positive number"
    );
    anyhow::ensure!(
        args.zipf.is_finite() && args.zipf >= 0.0,
        "--zipf must be a number at least 0"
    );
    anyhow::ensure!(
        args.spread.is_none() || (args.grpc.is_none() && args.endpoint == BenchEndpoint::Infer),
        "--spread sends REST infer requests: drop --grpc and --endpoint"
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
        let ms = |key: &str| report[key].as_f64().unwrap_or(0.0);
        println!(
            "{} requests in {:.1} s at concurrency {}: {:.0} requests/s, p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, {} errors",
            report["requests"],
            ms("seconds"),
            args.concurrency,
            ms("requests_per_second"),
            ms("p50_ms"),
            ms("p90_ms"),
            ms("p99_ms"),
            report["errors"],
        );
        if let Some(first) = report.get("first_requests") {
            println!(
                "{} models called; their first requests: p50 {:.3} ms, p99 {:.3} ms",
                first,
                ms("first_p50_ms"),
                ms("first_p99_ms"),
            );
        }
    }
    Ok(())
}

/// One request of the load, ready to repeat.
#[derive(Clone)]
enum Call {
    Get(reqwest::Client, String),
    Post(reqwest::Client, String, Payload),
    Grpc(Box<GrpcCall>),
}

impl Call {
    /// Sends the request once; whether it was answered without error.
    async fn send(&mut self) -> bool {
        let request = match self {
            Call::Get(http, url) => http.get(url.as_str()),
            Call::Post(http, url, payload) => payload.request(http.post(url.as_str())),
            Call::Grpc(call) => return call.send().await,
        };
        match request.send().await {
            Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
            _ => false,
        }
    }
}

/// The REST requests of the load: one per model it calls.
async fn rest_calls(
    base: &str,
    access: &Access<'_>,
    args: &BenchArgs,
) -> anyhow::Result<Vec<Call>> {
    let http = access
        .http()?
        .pool_max_idle_per_host(args.concurrency)
        .build()
        .context("building the HTTP client")?;
    let models: Vec<String> = match args.spread {
        Some(n) => (0..n).map(|i| format!("{}-{i}", args.model)).collect(),
        None => vec![args.model.clone()],
    };
    // The first model's inputs stand for all of them (metadata loads nothing).
    let meta: Value = http
        .get(format!("{base}/v2/models/{}", models[0]))
        .send()
        .await
        .with_context(|| format!("cannot reach the aiaas server at {base}"))?
        .error_for_status()
        .with_context(|| format!("model {:?} on {base}", models[0]))?
        .json()
        .await?;
    // One body for every model: read or made once.
    let payload = match (args.endpoint, &args.payload) {
        (BenchEndpoint::Infer, Some(path)) => Some(Payload::read(path)?),
        (BenchEndpoint::Infer, None) => {
            Some(Payload::json(one_row(&meta)?.to_string().into_bytes()))
        }
        _ => None,
    };
    Ok(models
        .iter()
        .map(|model| {
            let (http, model) = (http.clone(), format!("{base}/v2/models/{model}"));
            match (args.endpoint, &payload) {
                (BenchEndpoint::Infer, Some(payload)) => {
                    Call::Post(http, format!("{model}/infer"), payload.clone())
                }
                (BenchEndpoint::Ready, _) => Call::Get(http, format!("{model}/ready")),
                (BenchEndpoint::Live, _) => Call::Get(http, format!("{base}/v2/health/live")),
                // Metadata (an infer load always has its body).
                _ => Call::Get(http, model),
            }
        })
        .collect())
}

async fn load(base: &str, access: &Access<'_>, args: &BenchArgs) -> anyhow::Result<Value> {
    let calls = match &args.grpc {
        Some(addr) => {
            // The same body as over REST, parsed as the server parses it.
            let payload = match &args.payload {
                Some(path) => {
                    let payload = Payload::read(path)?;
                    let request = InferRequest::parse(&payload.body, payload.json_length)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                    Some(request)
                }
                None => None,
            };
            let (key, endpoint, model) = (access.key, args.endpoint, &args.model);
            let call = GrpcCall::new(addr, key, endpoint, model, payload, normalized).await?;
            vec![Call::Grpc(Box::new(call))]
        }
        None => rest_calls(base, access, args).await?,
    };
    // Each task its own connection over gRPC too (REST's client keeps one per task).
    let mut tasks_calls = Vec::with_capacity(args.concurrency);
    for _ in 0..args.concurrency {
        let mut own = Vec::with_capacity(calls.len());
        for call in &calls {
            own.push(match call {
                Call::Grpc(grpc) => Call::Grpc(Box::new(grpc.reconnected().await?)),
                rest => rest.clone(),
            });
        }
        tasks_calls.push(own);
    }
    let zipf = std::sync::Arc::new(Zipf::new(calls.len(), args.zipf));
    let called: std::sync::Arc<Vec<AtomicBool>> =
        std::sync::Arc::new(calls.iter().map(|_| AtomicBool::new(false)).collect());
    let run_for = Duration::from_secs_f64(args.seconds);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.concurrency);
    for (task, mut calls) in tasks_calls.into_iter().enumerate() {
        let (zipf, called) = (zipf.clone(), called.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = ChaCha8Rng::seed_from_u64(task as u64);
            let (mut latencies, mut first, mut errors) = (Vec::new(), Vec::new(), 0u64);
            while started.elapsed() < run_for {
                let k = zipf.pick(rng.random());
                let is_first = !called[k].swap(true, Ordering::Relaxed);
                let sent = Instant::now();
                if calls[k].send().await {
                    latencies.push(sent.elapsed());
                    if is_first {
                        first.push(sent.elapsed());
                    }
                } else {
                    errors += 1;
                }
            }
            (latencies, first, errors)
        }));
    }
    let (mut latencies, mut first, mut errors) = (Vec::new(), Vec::new(), 0);
    for task in tasks {
        let (l, f, e) = task.await.context("a load task failed")?;
        latencies.extend(l);
        first.extend(f);
        errors += e;
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut report = json!({
        "requests": latencies.len(),
        "errors": errors,
        "seconds": seconds,
        "concurrency": args.concurrency,
        "requests_per_second": latencies.len() as f64 / seconds,
        "p50_ms": percentile(&mut latencies, 0.50),
        "p90_ms": percentile(&mut latencies, 0.90),
        "p99_ms": percentile(&mut latencies, 0.99),
    });
    if args.spread.is_some() {
        report["first_requests"] = json!(first.len());
        report["first_p50_ms"] = json!(percentile(&mut first, 0.50));
        report["first_p99_ms"] = json!(percentile(&mut first, 0.99));
    }
    Ok(report)
}

/// The `p` quantile of `latencies` in milliseconds (0 when there are none).
fn percentile(latencies: &mut [Duration], p: f64) -> f64 {
    if latencies.is_empty() {
        return 0.0;
    }
    latencies.sort_unstable();
    let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
    latencies[i].as_secs_f64() * 1e3
}

/// A Zipf law over `n` ranks: rank k (from 0) drawn in proportion to 1/(k+1)^s.
struct Zipf {
    /// Cumulative probabilities, the last one 1.
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let weights: Vec<f64> = (1..=n).map(|k| (k as f64).powf(-s)).collect();
        let total: f64 = weights.iter().sum();
        let mut sum = 0.0;
        let cdf = weights
            .iter()
            .map(|w| {
                sum += w / total;
                sum
            })
            .collect();
        Zipf { cdf }
    }

    /// The rank whose share of [0, 1) holds `u`.
    fn pick(&self, u: f64) -> usize {
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
    }
}

/// An infer request body, sent as it is (clones share the bytes).
#[derive(Clone)]
struct Payload {
    body: Bytes,
    /// The JSON part's length when binary tensor data follows it.
    json_length: Option<usize>,
}

impl Payload {
    fn json(body: Vec<u8>) -> Payload {
        Payload {
            body: body.into(),
            json_length: None,
        }
    }

    /// A V2 request from a file: JSON, or JSON followed by binary tensor data (then the JSON's
    /// end, found by parsing it, is the `Inference-Header-Content-Length`).
    fn read(path: &Path) -> anyhow::Result<Payload> {
        let body = std::fs::read(path)
            .with_context(|| format!("reading the payload {}", path.display()))?;
        let mut values = serde_json::Deserializer::from_slice(&body).into_iter::<Value>();
        match values.next() {
            Some(Ok(Value::Object(_))) => {}
            _ => anyhow::bail!(
                "{} is not a V2 infer request: it must start with a JSON object such as \
                 {{\"inputs\": [...]}}, optionally followed by binary tensor data",
                path.display()
            ),
        }
        let json_end = values.byte_offset();
        let json_length =
            (body[json_end..].iter().any(|b| !b.is_ascii_whitespace())).then_some(json_end);
        Ok(Payload {
            body: body.into(),
            json_length,
        })
    }

    fn request(&self, post: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let post = match self.json_length {
            None => post.header("content-type", "application/json"),
            Some(n) => post
                .header("content-type", "application/octet-stream")
                .header("inference-header-content-length", n),
        };
        post.body(self.body.clone())
    }
}

/// A batch-1 request for the model's inputs: uniform values in [0, 1) with 4 decimals (as
/// normalized features are written; the same every run), empty text for BYTES.
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
                json!(normalized(count as usize))
            };
            json!({"name": input["name"], "shape": shape, "datatype": input["datatype"], "data": data})
        })
        .collect();
    Ok(json!({ "inputs": tensors }))
}

/// `count` values spread over [0, 1) as a hash of their position spreads them, rounded to 4
/// decimals: digits as varied as real features' (a pattern like 0, 1, 2 would parse faster).
fn normalized(count: usize) -> Vec<f64> {
    (0..count as u64)
        .map(|i| {
            let h = (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
            (h % 10_000) as f64 / 10_000.0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_row_has_four_decimals_spread_over_the_unit_interval() {
        let values = normalized(784);
        assert!(values.iter().all(|v| (0.0..1.0).contains(v)));
        let text = serde_json::to_string(&values).unwrap();
        let decimals: Vec<usize> = text[1..text.len() - 1]
            .split(',')
            .map(|v| v.split('.').nth(1).map_or(0, str::len))
            .collect();
        assert!(decimals.iter().all(|&d| d <= 4), "{text}");
        let four = decimals.iter().filter(|&&d| d == 4).count();
        assert!(four > 784 * 8 / 10, "{four} of 784 have 4 decimals");
    }

    #[test]
    fn the_zipf_law_calls_the_kth_model_in_proportion_to_one_over_k() {
        let zipf = Zipf::new(4, 1.0);
        let mut counts = [0usize; 4];
        for i in 0..100_000 {
            counts[zipf.pick(i as f64 / 100_000.0)] += 1;
        }
        // Shares 1, 1/2, 1/3, 1/4 of 25/12.
        for (k, &c) in counts.iter().enumerate() {
            let expected = 100_000.0 * 12.0 / 25.0 / (k + 1) as f64;
            assert!((c as f64 - expected).abs() < 10.0, "{counts:?}");
        }
        assert_eq!(Zipf::new(3, 0.0).pick(0.5), 1, "evenly with exponent 0");
        assert_eq!(Zipf::new(1, 1.0).pick(0.999_999), 0);
    }

    #[test]
    fn a_payload_file_is_json_or_json_then_binary_data() {
        let dir = tempfile::tempdir().unwrap();
        let json = br#"{"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]}"#;
        let path = dir.path().join("request.json");
        std::fs::write(&path, [&json[..], b"\n"].concat()).unwrap();
        assert_eq!(Payload::read(&path).unwrap().json_length, None);

        let header = br#"{"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP32", "parameters": {"binary_data_size": 8}}]}"#;
        let mut body = header.to_vec();
        body.extend(1f32.to_le_bytes().into_iter().chain(2f32.to_le_bytes()));
        std::fs::write(&path, &body).unwrap();
        let payload = Payload::read(&path).unwrap();
        assert_eq!(payload.json_length, Some(header.len()));
        assert_eq!(payload.body.len(), header.len() + 8);

        std::fs::write(&path, b"input,1,2").unwrap();
        let err = Payload::read(&path).err().unwrap().to_string();
        assert!(err.contains("not a V2 infer request"), "{err}");
    }
}
