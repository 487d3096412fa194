//! Version tags, and the serving settings among them (`serve.` tags, see
//! [`aiaas_types::ServingSettings`]): checked when set, so serving never meets a bad one, and
//! announced as a model change, so serving follows them without a restart.

use crate::{Platform, ServiceError};
use aiaas_types::{ModelName, PINNED_TAG, ServingSettings, Version};
use std::collections::BTreeMap;

impl Platform {
    /// Set tag `key` of a version. `serve.` tags are checked, and the model's serving follows
    /// them.
    pub async fn set_tag(
        &self,
        name: &ModelName,
        version: Version,
        key: &str,
        value: &str,
    ) -> Result<(), ServiceError> {
        let one = BTreeMap::from([(key.to_string(), value.to_string())]);
        ServingSettings::from_tags(&one).map_err(ServiceError::Invalid)?;
        self.store().set_tag(name, version, key, value).await?;
        self.model_changed(name);
        Ok(())
    }

    /// Remove tag `key` of a version.
    pub async fn delete_tag(
        &self,
        name: &ModelName,
        version: Version,
        key: &str,
    ) -> Result<(), ServiceError> {
        self.store().delete_tag(name, version, key).await?;
        self.model_changed(name);
        Ok(())
    }

    /// The tags of a version.
    pub async fn tags(
        &self,
        name: &ModelName,
        version: Version,
    ) -> Result<BTreeMap<String, String>, ServiceError> {
        Ok(self.store().tags(name, version).await?)
    }

    /// Every version tagged `serve.pinned=true`: what the serving pool loads before it is ready.
    pub async fn pinned_versions(&self) -> Result<Vec<(ModelName, Version)>, ServiceError> {
        Ok(self.store().tagged(PINNED_TAG, "true").await?)
    }

    /// How a version should be served, from its tags.
    pub async fn serving_settings(
        &self,
        name: &ModelName,
        version: Version,
    ) -> Result<ServingSettings, ServiceError> {
        let tags = self.tags(name, version).await?;
        ServingSettings::from_tags(&tags)
            .map_err(|e| ServiceError::Corrupt(format!("{name} version {version}: {e}")))
    }
}
