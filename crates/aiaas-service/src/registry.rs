//! The model registry as users see it: publish a bundle as a new version, list and show models
//! and versions, move aliases, delete versions, and load a version back as a verified bundle.

use crate::datasets::blocking;
use crate::{Platform, ServiceError};
use aiaas_artifact::{
    Architecture, Artifact, ArtifactError, Bundle, MANIFEST_FILE, ONNX_FILE, WEIGHTS_FILE,
};
use aiaas_store::{ModelRecord, ModelSummary, NewVersion, VersionPage, VersionRecord};
use aiaas_types::{AliasName, DatasetName, JobId, ModelName, Resource, Version};
use bytes::Bytes;
use std::collections::BTreeMap;

/// The alias a model name alone stands for, when the model has it.
pub(crate) const DEFAULT_ALIAS: &str = "champion";

/// Whether a registered manifest is an imported model's (its `architecture` is `onnx`), which
/// is served but neither optimized, retrained nor measured for quality.
pub(crate) fn is_imported(manifest: &serde_json::Value) -> bool {
    let declared = manifest.get("architecture").cloned();
    declared.and_then(|a| serde_json::from_value(a).ok()) == Some(Architecture::Onnx)
}

/// The version a model's name alone means: its champion, else its newest version.
pub fn default_version_of(
    aliases: &BTreeMap<AliasName, Version>,
    newest: Option<Version>,
) -> Option<Version> {
    aliases
        .iter()
        .find(|(a, _)| a.as_str() == DEFAULT_ALIAS)
        .map(|(_, v)| *v)
        .or(newest)
}

impl Platform {
    /// What a model name alone means (serving, optimizing, monitoring): its `champion` if it
    /// has one, else its newest version; `NotFound` when it has no versions.
    pub async fn default_version(&self, name: &ModelName) -> Result<Version, ServiceError> {
        let model = self.model(name).await?;
        let newest = model.versions.iter().map(|v| v.version).max();
        default_version_of(&model.aliases, newest).ok_or_else(|| {
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
        bundle: impl Into<Artifact>,
        dataset: Option<DatasetName>,
        job: Option<JobId>,
        parent: Option<Version>,
    ) -> Result<VersionRecord, ServiceError> {
        let mut bundle = bundle.into();
        bundle.set_name(model.as_str());
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
        let (weights_file, dataset_digest, metrics) = match &bundle {
            Artifact::Native(b) => (
                WEIGHTS_FILE,
                Some(b.manifest.lineage.dataset.digest.clone()),
                serde_json::to_value(&b.manifest.lineage.metrics).expect("metrics serialize"),
            ),
            Artifact::Onnx(_) => (ONNX_FILE, None, serde_json::json!({})),
        };
        let published = self
            .store()
            .publish_version(&NewVersion {
                model: model.clone(),
                task: bundle.task(),
                manifest_digest: digests[MANIFEST_FILE].clone(),
                weights_digest: digests[weights_file].clone(),
                size_bytes,
                dataset,
                dataset_digest,
                job_id: job,
                parent,
                metrics,
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

    /// The model with the versions of `page` only.
    pub async fn model_page(
        &self,
        name: &ModelName,
        page: VersionPage,
    ) -> Result<ModelRecord, ServiceError> {
        Ok(self.store().model_page(name, page).await?)
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
        // The weights, and any other file the manifest lists (an imported model's tokenizer).
        self.collect_blob(&record.summary.weights_digest).await;
        let listed = record.manifest["files"].as_object().into_iter().flatten();
        for digest in listed.filter_map(|(_, d)| d.as_str()) {
            if digest != record.summary.weights_digest {
                self.collect_blob(digest).await;
            }
        }
        Ok(())
    }

    /// A version trained here as a ready bundle; every file's digest is checked on the way.
    /// An imported model is `Invalid` (what needs a bundle optimizes or retrains it).
    pub async fn load_bundle(
        &self,
        name: &ModelName,
        version: Version,
    ) -> Result<Bundle, ServiceError> {
        match self.load_artifact(name, version).await? {
            Artifact::Native(bundle) => Ok(bundle),
            Artifact::Onnx(_) => Err(ServiceError::Invalid(format!(
                "{name} version {version}: {}",
                ArtifactError::Imported
            ))),
        }
    }

    /// A version of either kind, ready to serve; every file's digest is checked on the way.
    pub async fn load_artifact(
        &self,
        name: &ModelName,
        version: Version,
    ) -> Result<Artifact, ServiceError> {
        let record = self.store().version(name, version).await?;
        let files = self.version_files(&record).await?;
        let what = format!("{name} version {version}");
        blocking(move || {
            Artifact::from_files(|file| Ok(files.get(file).map(|b| b.to_vec())))
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
        /// The part of a manifest of either kind that lists the other files.
        #[derive(serde::Deserialize)]
        struct Files {
            files: BTreeMap<String, String>,
        }
        let parsed: Files = serde_json::from_slice(&manifest)
            .map_err(|e| ServiceError::Corrupt(format!("{what}: manifest: {e}")))?;
        let mut files = BTreeMap::from([(MANIFEST_FILE.to_string(), manifest)]);
        for (file, digest) in &parsed.files {
            files.insert(file.clone(), self.stored_blob(digest, &what).await?);
        }
        Ok(files)
    }
}
