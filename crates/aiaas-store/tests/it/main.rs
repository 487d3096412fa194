//! Integration tests of aiaas-store, each on a fresh temporary data directory.

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

/// A store in a new temporary directory (kept alive by the returned guard).
pub async fn store() -> (Store, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreConfig::in_dir(dir.path())).await.unwrap();
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
