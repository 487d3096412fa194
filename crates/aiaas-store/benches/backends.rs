//! The store on SQLite against the store on PostgreSQL, same run: how long a worker's job claim
//! takes (a queue of jobs claimed one by one), and how many rows a second the prediction log
//! writes (batches of 256 rows of 64 features, as the serving log's writer hands them over).
//!
//! `cargo bench -p aiaas-store --bench backends` measures SQLite; with
//! `AIAAS_BENCH_POSTGRES=postgres://user@host:port/db` (a server whose user may create
//! databases; `bash tests/postgres/start.sh` prints one) it measures both, each on a new
//! database. `AIAAS_BENCH_QUICK=1` shortens the runs.

use aiaas_store::{Store, StoreConfig};
use aiaas_types::{DatasetName, JobSpec, ModelName, NewPrediction, TargetValue, Version};
use std::time::{Duration, Instant};

const FEATURES: usize = 64;
const BATCH: usize = 256;

#[tokio::main]
async fn main() {
    let quick = std::env::var("AIAAS_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let (jobs, batches) = if quick { (50, 10) } else { (500, 100) };
    println!(
        "store backends: {jobs} job claims, {batches} batches of {BATCH} predicted rows \
         ({FEATURES} features)"
    );
    println!(
        "{:<12} {:>14} {:>14} {:>20}",
        "database", "claim p50 us", "claim p90 us", "log write rows/s"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut backends = vec![("SQLite", StoreConfig::in_dir(dir.path().join("sqlite")))];
    if let Ok(server) = std::env::var("AIAAS_BENCH_POSTGRES") {
        let mut config = StoreConfig::in_dir(dir.path().join("postgres"));
        config.database_url = Some(new_database(&server).await);
        backends.push(("PostgreSQL", config));
    }
    for (name, config) in backends {
        let store = Store::open(&config).await.unwrap();
        let claims = claim_latencies(&store, jobs).await;
        let rate = log_write_rate(&store, batches).await;
        println!(
            "{name:<12} {:>14.0} {:>14.0} {:>20.0}",
            percentile(&claims, 0.5),
            percentile(&claims, 0.9),
            rate
        );
        store.close().await;
    }
}

/// Queues `n` jobs, then times each claim of one of them, in microseconds.
async fn claim_latencies(store: &Store, n: usize) -> Vec<f64> {
    let spec: JobSpec = serde_json::from_value(
        serde_json::json!({ "kind": "train", "dataset": "wine", "epochs": 3 }),
    )
    .unwrap();
    let (dataset, model) = (
        DatasetName::new("wine").unwrap(),
        ModelName::new("wine").unwrap(),
    );
    for _ in 0..n {
        store.create_job(&spec, &dataset, &model).await.unwrap();
    }
    let mut latencies = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let job = store.claim_job("bench/worker-0").await.unwrap();
        latencies.push(start.elapsed().as_secs_f64() * 1e6);
        assert!(job.is_some(), "the queue ran dry");
    }
    latencies
}

/// Writes `batches` batches of rows as the prediction log does; rows per second.
async fn log_write_rate(store: &Store, batches: usize) -> f64 {
    let model = ModelName::new("digits").unwrap();
    let batch = |b: usize| -> Vec<NewPrediction> {
        (0..BATCH)
            .map(|i| NewPrediction {
                id: format!("req-{b}-{i}"),
                model: model.clone(),
                version: Version::new(1),
                at_ms: 1_700_000_000_000 + (b * BATCH + i) as i64,
                latency_us: 250,
                inputs: (0..FEATURES).map(|f| ((i * 7 + f) % 17) as f32).collect(),
                categories: None,
                predicted: TargetValue::Class(((b + i) % 10).to_string()),
            })
            .collect()
    };
    let mut spent = Duration::ZERO;
    for b in 0..batches {
        let rows = batch(b);
        let start = Instant::now();
        store.insert_predictions(&rows).await.unwrap();
        spent += start.elapsed();
    }
    (batches * BATCH) as f64 / spent.as_secs_f64()
}

fn percentile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// A new, empty database on `server`; its URL.
async fn new_database(server: &str) -> String {
    use sqlx::Connection;
    let name = format!("aiaas_bench_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(server).await.unwrap();
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let (base, _) = server
        .rsplit_once('/')
        .expect("a URL that names a database");
    format!("{base}/{name}")
}
