//! Datasets: upload a file in any format the data crate reads (CSV, Parquet, an archive of MNIST
//! IDX files or of image folders; parsed, profiled, stored as uploaded in a content-addressed
//! blob), list, show, delete, and read one back for training.

use crate::{Platform, ServiceError};
use aiaas_data::{Column, Dataset, Target, profile, read_bytes};
use aiaas_store::{DatasetRecord, NewDataset, StoreError};
use aiaas_types::{DatasetName, Task};
use bytes::Bytes;
use serde_json::json;

impl Platform {
    /// Register `file` (CSV, Parquet, or a tar or zip archive of MNIST IDX files or of image
    /// folders) as dataset `name`. `target` names the predicted column (default `target`);
    /// `task` overrides the inferred task.
    pub async fn upload_dataset(
        &self,
        name: &DatasetName,
        target: Option<String>,
        task: Option<Task>,
        file: Bytes,
    ) -> Result<DatasetRecord, ServiceError> {
        let limit = self.config().max_dataset_bytes;
        if file.len() > limit {
            return Err(ServiceError::TooLarge(format!(
                "the dataset is {} bytes; the limit is {limit}",
                file.len()
            )));
        }
        if self.store().dataset(name).await.is_ok() {
            return Err(taken(name));
        }
        // Messages name the dataset: the file it came from is not known here.
        let source = format!("dataset {:?}", name.as_str());
        let parsed = file.clone();
        let threads = self.config().threads_per_job();
        let (summary, profile_json) = blocking(move || {
            let ds = read_bytes(&source, &parsed, target.as_deref(), task)
                .map_err(|e| ServiceError::Invalid(e.to_string()))?;
            let all: Vec<usize> = (0..ds.rows).collect();
            let profile =
                serde_json::to_value(profile(&ds, &all, threads)).expect("profiles serialize");
            Ok((Summary::of(&ds), profile))
        })
        .await?;
        // The blob first, the row last: a crash in between leaves an unreferenced blob, never a
        // dataset without its data.
        let gate = self.inner.blob_gate.read().await;
        let digest = self.store().blobs().put(file.clone()).await?;
        let inserted = self
            .store()
            .insert_dataset(&NewDataset {
                name: name.clone(),
                digest: digest.clone(),
                target: summary.target,
                task: summary.task,
                rows: summary.rows,
                size_bytes: file.len() as u64,
                schema: summary.schema,
                profile: profile_json,
            })
            .await;
        drop(gate);
        let record = match inserted {
            Ok(record) => record,
            Err(e) => {
                self.collect_blob(&digest).await;
                return Err(e.into());
            }
        };
        tracing::info!(dataset = %name, rows = record.rows, "dataset registered");
        Ok(record)
    }

    pub async fn datasets(&self) -> Result<Vec<DatasetRecord>, ServiceError> {
        Ok(self.store().datasets().await?)
    }

    pub async fn dataset(&self, name: &DatasetName) -> Result<DatasetRecord, ServiceError> {
        Ok(self.store().dataset(name).await?)
    }

    /// Delete a dataset no model version was trained on.
    pub async fn delete_dataset(&self, name: &DatasetName) -> Result<(), ServiceError> {
        let record = self.store().delete_dataset(name).await?;
        self.collect_blob(&record.digest).await;
        Ok(())
    }

    /// The dataset's rows, read back from its verified blob exactly as they were uploaded.
    pub(crate) async fn load_dataset(
        &self,
        name: &DatasetName,
    ) -> Result<(DatasetRecord, Dataset), ServiceError> {
        let record = self.store().dataset(name).await?;
        let bytes = self
            .stored_blob(&record.digest, &format!("dataset {name:?}"))
            .await?;
        // Messages name the dataset: the file it came from is not known here.
        let source = format!("dataset {:?}", name.as_str());
        let (target, task) = (record.target.clone(), record.task);
        let ds = blocking(move || {
            read_bytes(&source, &bytes, Some(&target), Some(task))
                .map_err(|e| ServiceError::Corrupt(format!("stored dataset no longer parses: {e}")))
        })
        .await?;
        Ok((record, ds))
    }

    /// A blob a stored record names. That it is missing, malformed or changed is the server's
    /// fault, never the caller's: always `Corrupt` (500), naming `what` it belongs to.
    pub(crate) async fn stored_blob(
        &self,
        digest: &str,
        what: &str,
    ) -> Result<Bytes, ServiceError> {
        self.store().blobs().get(digest).await.map_err(|e| match e {
            StoreError::NotFound(..)
            | StoreError::InvalidArgument(_)
            | StoreError::Corrupt { .. } => ServiceError::Corrupt(format!("{what}: {e}")),
            other => other.into(),
        })
    }

    /// Deletes every stored blob that no record names: what a crash left between storing a
    /// blob and committing its row, or between deleting a row and its blob. Returns how many.
    pub(crate) async fn collect_orphans(&self) -> Result<usize, ServiceError> {
        let _gate = self.inner.blob_gate.write().await;
        let named = self.store().blobs_in_use().await?;
        let mut removed = 0;
        for digest in self.store().blobs().list().await? {
            if !named.contains(&digest) {
                self.store().blobs().delete(&digest).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Delete a blob unless something still refers to it.
    pub(crate) async fn collect_blob(&self, digest: &str) {
        let _gate = self.inner.blob_gate.write().await;
        match self.store().blob_in_use(digest).await {
            Ok(false) => {
                if let Err(e) = self.store().blobs().delete(digest).await {
                    tracing::warn!(digest, error = %e, "could not delete an unused blob");
                }
            }
            Ok(true) => {}
            Err(e) => tracing::warn!(digest, error = %e, "could not check whether a blob is used"),
        }
    }
}

fn taken(name: &DatasetName) -> ServiceError {
    ServiceError::Conflict(format!(
        "dataset {:?} already exists; delete it first or choose another name",
        name.as_str()
    ))
}

/// What the registry keeps about a parsed dataset besides its bytes and profile.
struct Summary {
    target: String,
    task: Task,
    rows: u64,
    schema: serde_json::Value,
}

impl Summary {
    fn of(ds: &Dataset) -> Summary {
        let columns: Vec<serde_json::Value> = ds
            .columns
            .iter()
            .map(|c| match c {
                Column::Numeric { name } => json!({"name": name, "kind": "numeric"}),
                Column::Categorical { name, vocabulary } => {
                    json!({"name": name, "kind": "categorical", "vocabulary": vocabulary})
                }
            })
            .collect();
        let labels = match &ds.target {
            Target::Classification { labels, .. } => Some(labels),
            Target::Regression { .. } => None,
        };
        Summary {
            target: ds.target.name().to_string(),
            task: ds.task(),
            rows: ds.rows as u64,
            schema: json!({
                "columns": columns,
                "target": {"name": ds.target.name(), "task": ds.task(), "labels": labels},
            }),
        }
    }
}

/// Run CPU-bound work off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ServiceError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ServiceError::Internal(format!("a background task failed: {e}")))?
}
