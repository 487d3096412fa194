//! The model registry as users see it: publish a bundle as a new version, list and show models
//! and versions, move aliases, delete versions, and load a version back as a verified bundle.

use crate::datasets::blocking;
use crate::{Platform, ServiceError};
use aiaas_artifact::{Bundle, MANIFEST_FILE, Manifest, WEIGHTS_FILE};
use aiaas_store::{ModelRecord, ModelSummary, NewVersion, VersionRecord};
use aiaas_types::{AliasName, DatasetName, JobId, ModelName, Resource, Version};
use bytes::Bytes;
use std::collections::BTreeMap;

/// The alias a model name alone stands for, when the model has it.
pub(crate) const DEFAULT_ALIAS: &str = "champion";

impl Platform {
    /// What a model name alone means (serving, optimizing, monitoring): its `champion` if it
    /// has one, else its newest version; `NotFound` when it has no versions.
    pub async fn default_version(&self, name: &ModelName) -> Result<Version, ServiceError> {
        let model = self.model(name).await?;
        model
            .aliases
            .iter()
            .find(|(a, _)| a.as_str() == DEFAULT_ALIAS)
            .map(|(_, v)| *v)
            .or_else(|| model.versions.iter().map(|v| v.version).max())
            .ok_or_else(|| {
                ServiceError::NotFound(
                    Resource::Version,
                    format!("model \"{name}\" has no versions"),
                )
            })
    }

    /// Publish `bundle` as the next version of `model` (DESIGN.md section 6): every file is
    /// stored and read back verified, the manifest last, and only then is the version row
    /// inserted, in one transaction. Until that row exists nothing is visible.
    pub(crate) async fn publish_bundle(
        &self,
        model: &ModelName,
        mut bundle: Bundle,
        dataset: Option<DatasetName>,
        job: Option<JobId>,
        parent: Option<Version>,
    ) -> Result<VersionRecord, ServiceError> {
        bundle.manifest.name = model.to_string();
        let (bundle, files) = blocking(move || {
            let files = bundle
                .to_files()
                .map_err(|e| ServiceError::Internal(format!("encoding the bundle: {e}")))?;
            Ok((bundle, files))
        })
        .await?;
        let blobs = self.store().blobs();
        let gate = self.inner.blob_gate.read().await;
        let mut digests = BTreeMap::new();
        let mut size_bytes = 0u64;
        let mut manifest_json = serde_json::Value::Null;
        // `to_files` puts the manifest last.
        for (name, bytes) in files {
            size_bytes += bytes.len() as u64;
            if name == MANIFEST_FILE {
                // What the registry shows is exactly the stored manifest, digests included.
                manifest_json = serde_json::from_slice(&bytes).expect("a manifest we just wrote");
            }
            let digest = blobs.put(Bytes::from(bytes)).await?;
            blobs.get(&digest).await?;
            digests.insert(name, digest);
        }
        let manifest = &bundle.manifest;
        let published = self
            .store()
            .publish_version(&NewVersion {
                model: model.clone(),
                task: manifest.task,
                manifest_digest: digests[MANIFEST_FILE].clone(),
                weights_digest: digests[WEIGHTS_FILE].clone(),
                size_bytes,
                dataset,
                dataset_digest: Some(manifest.lineage.dataset.digest.clone()),
                job_id: job,
                parent,
                metrics: serde_json::to_value(&manifest.lineage.metrics)
                    .expect("metrics serialize"),
                manifest: manifest_json,
            })
            .await;
        drop(gate);
        let record = match published {
            Ok(record) => record,
            Err(e) => {
                for digest in digests.values() {
                    self.collect_blob(digest).await;
                }
                return Err(e.into());
            }
        };
        tracing::info!(model = %model, version = %record.summary.version, "version published");
        self.model_changed(model);
        Ok(record)
    }

    pub async fn models(&self) -> Result<Vec<ModelSummary>, ServiceError> {
        Ok(self.store().models().await?)
    }

    pub async fn model(&self, name: &ModelName) -> Result<ModelRecord, ServiceError> {
        Ok(self.store().model(name).await?)
    }

    /// A version by number or alias (`3`, `champion`).
    pub async fn version(
        &self,
        name: &ModelName,
        version: &str,
    ) -> Result<VersionRecord, ServiceError> {
        Ok(self.store().resolve(name, version).await?)
    }

    /// Point `alias` at `version` (one row update; serving follows it).
    pub async fn set_alias(
        &self,
        name: &ModelName,
        alias: &AliasName,
        version: Version,
    ) -> Result<(), ServiceError> {
        self.store().set_alias(name, alias, version).await?;
        tracing::info!(model = %name, alias = %alias, %version, "alias moved");
        self.model_changed(name);
        Ok(())
    }

    /// Remove `alias`; the version it pointed at stays.
    pub async fn delete_alias(
        &self,
        name: &ModelName,
        alias: &AliasName,
    ) -> Result<(), ServiceError> {
        self.store().delete_alias(name, alias).await?;
        tracing::info!(model = %name, alias = %alias, "alias removed");
        self.model_changed(name);
        Ok(())
    }

    /// Delete a version no alias points at, and its blobs unless another version shares them.
    pub async fn delete_version(
        &self,
        name: &ModelName,
        version: Version,
    ) -> Result<(), ServiceError> {
        let record = self.store().delete_version(name, version).await?;
        self.model_changed(name);
        self.collect_blob(&record.summary.manifest_digest).await;
        self.collect_blob(&record.summary.weights_digest).await;
        Ok(())
    }

    /// A version as a ready bundle; every file's digest is checked on the way.
    pub async fn load_bundle(
        &self,
        name: &ModelName,
        version: Version,
    ) -> Result<Bundle, ServiceError> {
        let record = self.store().version(name, version).await?;
        let files = self.version_files(&record).await?;
        let what = format!("{name} version {version}");
        blocking(move || {
            Bundle::from_files(|file| Ok(files.get(file).map(|b| b.to_vec())))
                .map_err(|e| ServiceError::Corrupt(format!("{what}: {e}")))
        })
        .await
    }

    /// The files of a version, by bundle file name, read and verified from the blob store.
    pub(crate) async fn version_files(
        &self,
        record: &VersionRecord,
    ) -> Result<BTreeMap<String, Bytes>, ServiceError> {
        let what = format!(
            "{} version {}",
            record.summary.model, record.summary.version
        );
        let manifest = self
            .stored_blob(&record.summary.manifest_digest, &what)
            .await?;
        let parsed: Manifest = serde_json::from_slice(&manifest)
            .map_err(|e| ServiceError::Corrupt(format!("{what}: manifest: {e}")))?;
        let mut files = BTreeMap::from([(MANIFEST_FILE.to_string(), manifest)]);
        for (file, digest) in &parsed.files {
            files.insert(file.clone(), self.stored_blob(digest, &what).await?);
        }
        Ok(files)
    }
}
