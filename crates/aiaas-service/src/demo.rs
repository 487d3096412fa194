//! `aiaas serve --demo`: the bundled datasets registered, and an `iris` and a `digits` model
//! trained (once) with their `champion` alias set, so a fresh install has something to call.

use crate::registry::DEFAULT_ALIAS;
use crate::{Platform, ServiceError};
use aiaas_types::{
    AliasName, DatasetName, JobSpec, JobState, ModelName, PINNED_TAG, TrainJob, TrainOptions,
    Version,
};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::time::Duration;

/// Models the demo makes sure exist, trained with default options on the same-named sample.
pub const DEMO_MODELS: &[&str] = &["iris", "digits"];

/// A demo model ready to call.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoModel {
    pub name: ModelName,
    pub version: Version,
}

impl Platform {
    /// Register every bundled CSV sample that is not registered yet, and for each of
    /// [`DEMO_MODELS`] without a champion: train it (unless it has a version already) and
    /// point `champion` at its latest version.
    pub async fn demo(&self) -> Result<Vec<DemoModel>, ServiceError> {
        for sample in aiaas_data::SAMPLES {
            let Some(csv) = aiaas_data::samples::embedded_csv(sample) else {
                continue;
            };
            let name = DatasetName::new(*sample).expect("sample names are valid");
            if self.store().dataset(&name).await.is_err() {
                self.upload_dataset(&name, None, None, Bytes::from_static(csv))
                    .await?;
            }
        }
        let champion = AliasName::new(DEFAULT_ALIAS).expect("valid alias");
        let mut ready = Vec::new();
        for model in DEMO_MODELS {
            let name = ModelName::new(*model).expect("demo names are valid");
            let existing = self.store().model(&name).await.ok();
            let version = match existing {
                Some(m) if m.aliases.contains_key(&champion) => m.aliases[&champion],
                Some(m) if !m.versions.is_empty() => {
                    let latest = m
                        .versions
                        .iter()
                        .map(|v| v.version)
                        .max()
                        .unwrap_or(Version::new(1));
                    self.set_alias(&name, &champion, latest).await?;
                    latest
                }
                _ => {
                    let version = self.train_and_wait(&name).await?;
                    self.set_alias(&name, &champion, version).await?;
                    version
                }
            };
            // Pinned: loaded before the server says it is ready, so the demo answers at once.
            self.set_tag(&name, version, PINNED_TAG, "true").await?;
            ready.push(DemoModel { name, version });
        }
        Ok(ready)
    }

    /// Train the demo model `name` on its sample through the job queue and wait for it.
    async fn train_and_wait(&self, name: &ModelName) -> Result<Version, ServiceError> {
        if self.config().workers == 0 {
            return Err(ServiceError::Invalid(
                "the demo trains its models through the job queue: run with at least one worker"
                    .into(),
            ));
        }
        let spec = JobSpec::Train(TrainJob {
            dataset: DatasetName::new(name.as_str()).expect("same alphabet"),
            name: Some(name.clone()),
            val_split: None,
            test_split: None,
            options: TrainOptions::default(),
            unknown: BTreeMap::new(),
        });
        // An interrupted earlier demo may have left this job queued or running: wait for it.
        let pending = self
            .jobs(None)
            .await?
            .into_iter()
            .find(|j| &j.model == name && !j.state.is_final());
        let mut job = match pending {
            Some(job) => job,
            None => self.submit_job(spec).await?,
        };
        tracing::info!(job = %job.id, model = %name, "training a demo model");
        while !job.state.is_final() {
            if self.stopping() {
                return Err(ServiceError::Unavailable(
                    "the server is shutting down".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            job = self.job(&job.id).await?;
        }
        match (job.state, job.result) {
            (JobState::Succeeded, Some(result)) => Ok(result.version),
            _ => Err(ServiceError::Internal(format!(
                "the demo job {} for {name} ended {}: {}",
                job.id,
                job.state,
                job.error.unwrap_or_default()
            ))),
        }
    }
}

impl DemoModel {
    /// The inputs of the first row of its bundled sample, for a request to paste (empty if the
    /// sample cannot be read). Asked for only for the model whose request is printed.
    pub fn example(&self) -> Vec<f32> {
        let name = self.name.as_str();
        aiaas_data::samples::embedded_csv(name)
            .and_then(|csv| aiaas_data::read_csv_bytes(name, csv, None, None).ok())
            .map(|ds| ds.x[..ds.width()].to_vec())
            .unwrap_or_default()
    }
}
