//! A model version as one file: export and import over the archive format of
//! [`aiaas_artifact::archive`].

use crate::datasets::blocking;
use crate::{Platform, ServiceError};
use aiaas_artifact::Bundle;
use aiaas_artifact::archive::{self, ArchiveError};
use aiaas_store::VersionRecord;
use aiaas_types::ModelName;
use bytes::Bytes;

impl Platform {
    /// The version as a tar archive.
    pub async fn export_version(
        &self,
        name: &ModelName,
        version: &str,
    ) -> Result<Vec<u8>, ServiceError> {
        let record = self.version(name, version).await?;
        let files = self.version_files(&record).await?;
        blocking(move || {
            archive::pack(&files)
                .map_err(|e| ServiceError::Internal(format!("writing the archive: {e}")))
        })
        .await
    }

    /// Register an archive made by [`Platform::export_version`] (or by `tar`) as a new version
    /// of `name`. Every digest is checked before anything is stored; weights the model already
    /// holds are refused (see [`aiaas_store::Store::publish_version`]).
    pub async fn import_version(
        &self,
        archive: Bytes,
        name: &ModelName,
    ) -> Result<VersionRecord, ServiceError> {
        let limit = self.config().max_archive_bytes;
        if archive.len() > limit {
            return Err(ServiceError::TooLarge(format!(
                "the archive is {} bytes; the limit is {limit}",
                archive.len()
            )));
        }
        let bundle = blocking(move || read_archive(&archive, limit)).await?;
        self.publish_bundle(name, bundle, None, None, None).await
    }
}

/// The bundle in a model archive, every digest and the model's structure checked (nothing is
/// allocated for a model before its declared shape has been checked).
/// `max_bytes` bounds its uncompressed size.
pub fn read_archive(archive: &[u8], max_bytes: usize) -> Result<Bundle, ServiceError> {
    let files = archive::unpack(archive, max_bytes).map_err(|e| match e {
        ArchiveError::TooLarge(m) => ServiceError::TooLarge(m),
        ArchiveError::Invalid(m) => ServiceError::Invalid(format!("the archive: {m}")),
    })?;
    Bundle::from_files(|file| Ok(files.get(file).cloned()))
        .map_err(|e| ServiceError::Invalid(format!("the archive: {e}")))
}
