//! A model version as one file: an uncompressed tar of the bundle's files (`manifest.json`,
//! `weights.safetensors`). Reading accepts only those plain files, within the size limit, so an
//! archive cannot write anywhere or exhaust memory.

use crate::datasets::blocking;
use crate::{Platform, ServiceError};
use aiaas_artifact::Bundle;
use aiaas_artifact::{MANIFEST_FILE, WEIGHTS_FILE};
use aiaas_store::VersionRecord;
use aiaas_types::ModelName;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::io::Read;

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
            pack(&files).map_err(|e| ServiceError::Internal(format!("writing the archive: {e}")))
        })
        .await
    }

    /// Register an archive made by [`Platform::export_version`] as a new version of `name`.
    /// Every digest is checked before anything is stored.
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
        let bundle = blocking(move || read_archive(&archive)).await?;
        self.publish_bundle(name, bundle, None, None, None).await
    }
}

/// The bundle in a model archive, every digest and the model's structure checked (nothing is
/// allocated for a model before its declared shape has been checked).
pub fn read_archive(archive: &[u8]) -> Result<Bundle, ServiceError> {
    let files = unpack(archive)?;
    Bundle::from_files(|file| Ok(files.get(file).cloned()))
        .map_err(|e| ServiceError::Invalid(format!("the archive: {e}")))
}

fn pack(files: &BTreeMap<String, Bytes>) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    // Manifest first, so a reader streaming the archive learns what follows.
    let order = [MANIFEST_FILE, WEIGHTS_FILE];
    for name in order.iter().copied().chain(
        files
            .keys()
            .map(String::as_str)
            .filter(|n| !order.contains(n)),
    ) {
        let Some(bytes) = files.get(name) else {
            continue;
        };
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, name, bytes.as_ref())?;
    }
    builder.into_inner()
}

fn unpack(archive: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, ServiceError> {
    let invalid = |m: String| ServiceError::Invalid(format!("the archive: {m}"));
    let mut files = BTreeMap::new();
    let mut reader = tar::Archive::new(archive);
    let entries = reader.entries().map_err(|e| invalid(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| invalid(e.to_string()))?;
        let path = entry.path().map_err(|e| invalid(e.to_string()))?;
        let name = path.to_string_lossy().into_owned();
        if !entry.header().entry_type().is_file()
            || ![MANIFEST_FILE, WEIGHTS_FILE].contains(&name.as_str())
        {
            return Err(invalid(format!(
                "unexpected entry {name:?}; a model archive holds only {MANIFEST_FILE} and {WEIGHTS_FILE}"
            )));
        }
        // The archive is already in memory and bounded, so an entry cannot be larger than it.
        let mut bytes = Vec::with_capacity((entry.size() as usize).min(archive.len()));
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| invalid(e.to_string()))?;
        if files.insert(name.clone(), bytes).is_some() {
            return Err(invalid(format!("{name} appears twice")));
        }
    }
    if files.is_empty() {
        return Err(invalid("it is empty or not a tar archive".into()));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_and_unpack_round_trip() {
        let files = BTreeMap::from([
            (MANIFEST_FILE.to_string(), Bytes::from_static(b"{}")),
            (WEIGHTS_FILE.to_string(), Bytes::from_static(&[1, 2, 3])),
        ]);
        let back = unpack(&pack(&files).unwrap()).unwrap();
        assert_eq!(back[MANIFEST_FILE], b"{}");
        assert_eq!(back[WEIGHTS_FILE], [1, 2, 3]);
    }

    #[test]
    fn foreign_entries_and_garbage_are_refused() {
        let files = BTreeMap::from([("../evil".to_string(), b"x".to_vec())]);
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, "evil.sh", files["../evil"].as_slice())
            .unwrap();
        let err = unpack(&builder.into_inner().unwrap()).unwrap_err();
        assert!(err.to_string().contains("unexpected entry"), "{err}");
        assert!(unpack(b"not a tar archive at all").is_err());
    }
}
