//! Integration tests of aiaas-store, each on a fresh temporary data directory and a fresh
//! database: SQLite in that directory by default; with `AIAAS_STORE_TEST_POSTGRES` set to a
//! PostgreSQL server's URL (whose user may create databases), a new database on that server.
//! `.ci/run` runs this suite both ways (tests/postgres/start.sh starts the server).

mod access;
mod blobs;
mod concurrency;
mod config;
mod datasets;
mod jobs;
mod monitoring;
mod predictions;
mod registry;
mod reopen;

use aiaas_store::{NewDataset, NewVersion, Store, StoreConfig};
use aiaas_types::{DatasetName, JobId, JobSpec, ModelName, Task};
use bytes::Bytes;
use tempfile::TempDir;

/// A configuration naming a new temporary directory (kept alive by the returned guard) and a
/// new, empty database: SQLite in the directory, or PostgreSQL (see the module's comment).
pub async fn config() -> (StoreConfig, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::in_dir(dir.path());
    if let Ok(server) = std::env::var("AIAAS_STORE_TEST_POSTGRES") {
        config.database_url = Some(new_postgres_database(&server).await);
    }
    (config, dir)
}

/// True when the suite runs on PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var_os("AIAAS_STORE_TEST_POSTGRES").is_some()
}

/// Creates an empty database on the PostgreSQL server `server` names and returns its URL.
/// (Left behind afterwards: the server CI starts is thrown away with its data.)
async fn new_postgres_database(server: &str) -> String {
    use sqlx::Connection;
    // Unique per run (the clock), per process and per test in it (the counter).
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let name = format!(
        "aiaas_test_{}_{}_{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let mut admin = sqlx::PgConnection::connect(server)
        .await
        .unwrap_or_else(|e| panic!("AIAAS_STORE_TEST_POSTGRES: cannot connect: {e}"));
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    let (base, _) = server
        .rsplit_once('/')
        .expect("a URL that names a database");
    format!("{base}/{name}")
}

/// A store on a fresh [`config`] (the directory kept alive by the returned guard).
pub async fn store() -> (Store, TempDir) {
    let (config, dir) = config().await;
    let store = Store::open(&config).await.unwrap();
    (store, dir)
}

pub fn model(name: &str) -> ModelName {
    ModelName::new(name).unwrap()
}

pub fn dataset_name(name: &str) -> DatasetName {
    DatasetName::new(name).unwrap()
}

/// Stores a small CSV and registers it as dataset `name`.
pub async fn add_dataset(store: &Store, name: &str) -> aiaas_store::DatasetRecord {
    let csv = Bytes::from(format!("x,y\n1,a\n2,b\n# {name}\n"));
    let digest = store.blobs().put(csv.clone()).await.unwrap();
    store
        .insert_dataset(&NewDataset {
            name: dataset_name(name),
            digest,
            target: "y".into(),
            task: Task::Classification,
            rows: 2,
            size_bytes: csv.len() as u64,
            schema: serde_json::json!({ "columns": [{ "name": "x", "type": "numeric" }] }),
            profile: serde_json::json!({ "x": { "mean": 1.5 } }),
        })
        .await
        .unwrap()
}

/// A version of `model` whose blobs (distinct per `seed`) are stored.
pub async fn new_version(store: &Store, model_name: &str, seed: &str) -> NewVersion {
    let manifest = serde_json::json!({ "name": model_name, "seed": seed });
    let manifest_digest = store
        .blobs()
        .put(Bytes::from(manifest.to_string()))
        .await
        .unwrap();
    let weights_digest = store
        .blobs()
        .put(Bytes::from(format!("weights of {model_name} {seed}")))
        .await
        .unwrap();
    NewVersion {
        model: model(model_name),
        task: Task::Classification,
        manifest_digest,
        weights_digest,
        size_bytes: 100,
        dataset: None,
        dataset_digest: None,
        job_id: None,
        parent: None,
        metrics: serde_json::json!({ "test": { "accuracy": 0.9 }, "seed": seed }),
        manifest,
    }
}

pub fn train_spec(dataset: &str) -> JobSpec {
    serde_json::from_value(serde_json::json!({ "kind": "train", "dataset": dataset, "epochs": 3 }))
        .unwrap()
}

/// Queues a training job on `dataset` for model `dataset`.
pub async fn queue_job(store: &Store, dataset: &str) -> JobId {
    store
        .create_job(
            &train_spec(dataset),
            &dataset_name(dataset),
            &model(dataset),
        )
        .await
        .unwrap()
        .id
}
