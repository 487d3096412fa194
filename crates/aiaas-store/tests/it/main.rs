//! Integration tests of aiaas-store, each on a fresh temporary data directory and a fresh
//! database: SQLite in that directory by default; with `AIAAS_STORE_TEST_POSTGRES` set to a
//! PostgreSQL server's URL (whose user may create databases), a new database on that server;
//! with `AIAAS_STORE_TEST_S3` set to an `s3://bucket` URL (and the `AWS_*` variables), blobs
//! under a new prefix of that bucket instead of the directory. `.ci/run` runs this suite both
//! ways (tests/postgres/start.sh and tests/s3/start.sh start the servers).

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
mod sweeps;

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
    if let Ok(bucket) = std::env::var("AIAAS_STORE_TEST_S3") {
        config.store_url = Some(format!("{bucket}/{}", unique_name("blobs")));
    }
    (config, dir)
}

/// The object store `config`'s blobs live in, opened beside the store: for tests that change
/// or remove a stored object behind the store's back.
pub fn raw_objects(config: &StoreConfig) -> std::sync::Arc<dyn object_store::ObjectStore> {
    match config.store_url.as_deref() {
        Some(url) => {
            let (bucket, prefix) = url.trim_start_matches("s3://").split_once('/').unwrap();
            let s3 = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .unwrap();
            std::sync::Arc::new(object_store::prefix::PrefixStore::new(s3, prefix))
        }
        None => std::sync::Arc::new(
            object_store::local::LocalFileSystem::new_with_prefix(&config.data_dir).unwrap(),
        ),
    }
}

/// True when the suite runs on PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var_os("AIAAS_STORE_TEST_POSTGRES").is_some()
}

/// Creates an empty database on the PostgreSQL server `server` names and returns its URL.
/// (Left behind afterwards: the server CI starts is thrown away with its data.)
async fn new_postgres_database(server: &str) -> String {
    use sqlx::Connection;
    let name = unique_name("aiaas_test");
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

/// `prefix` and a suffix unique per run (the clock), per process and per test in it (a counter).
fn unique_name(prefix: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
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
