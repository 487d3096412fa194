//! A model version as one file: export and import over the archive format of
//! [`aiaas_artifact::archive`], and the import of a model made elsewhere (an ONNX file, alone or
//! in an archive).

use crate::datasets::blocking;
use crate::{Platform, ServiceError, now_ms};
use aiaas_artifact::archive::{self, ArchiveError};
use aiaas_artifact::{Artifact, Bundle, ONNX_FILE, OnnxBundle};
use aiaas_onnx::{OnnxError, OnnxModel};
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

    /// Register `upload` as a new version of `name`: an archive made by
    /// [`Platform::export_version`] (or by `tar`), or an ONNX file alone. Every digest is checked
    /// and an ONNX graph is read by the runtime before anything is stored, so a model that
    /// cannot be served is refused here, naming why (the operators it lacks); weights the model
    /// already holds are refused (see [`aiaas_store::Store::publish_version`]).
    pub async fn import_version(
        &self,
        upload: Bytes,
        name: &ModelName,
    ) -> Result<VersionRecord, ServiceError> {
        let limit = self.config().max_archive_bytes;
        if upload.len() > limit {
            return Err(ServiceError::TooLarge(format!(
                "the upload is {} bytes; the limit is {limit}",
                upload.len()
            )));
        }
        let artifact = blocking(move || read_upload(&upload, limit)).await?;
        self.publish_bundle(name, artifact, None, None, None).await
    }
}

/// The model in an upload (see [`Platform::import_version`]), every digest and the model's
/// structure checked (nothing is allocated for a model trained here before its declared shape
/// has been checked). `max_bytes` bounds an archive's uncompressed size.
pub fn read_upload(upload: &[u8], max_bytes: usize) -> Result<Artifact, ServiceError> {
    if !archive::is_archive(upload) {
        return read_onnx(upload.to_vec()).map_err(|e| {
            ServiceError::Invalid(match e {
                OnnxError::NotOnnx(_) => format!(
                    "the upload is neither a model archive (a tar, gzip-compressed or not) nor \
                     an ONNX model: {e}"
                ),
                e => format!("the ONNX model: {e}"),
            })
        });
    }
    let files = archive::unpack(upload, max_bytes).map_err(|e| match e {
        ArchiveError::TooLarge(m) => ServiceError::TooLarge(m),
        ArchiveError::Invalid(m) => ServiceError::Invalid(format!("the archive: {m}")),
    })?;
    let invalid = |e: &dyn std::fmt::Display| ServiceError::Invalid(format!("the archive: {e}"));
    let onnx = |e: OnnxError| invalid(&format_args!("{ONNX_FILE}: {e}"));
    match files.get(ONNX_FILE) {
        // A manifest beside it must match the file, but what the graph takes and gives is
        // read from the graph again, never taken from the manifest's word.
        Some(model) if files.len() == 1 => read_onnx(model.clone()).map_err(onnx),
        Some(_) => match Artifact::from_files(|file| Ok(files.get(file).cloned())) {
            Ok(Artifact::Onnx(bundle)) => read_onnx(bundle.model).map_err(onnx),
            Ok(Artifact::Native(_)) => Err(ServiceError::Invalid(format!(
                "the archive: its manifest describes a model trained here, but it holds \
                 {ONNX_FILE}"
            ))),
            Err(e) => Err(invalid(&e)),
        },
        None => Bundle::from_files(|file| Ok(files.get(file).cloned()))
            .map(Artifact::Native)
            .map_err(|e| invalid(&e)),
    }
}

/// An ONNX file as a bundle, if the runtime can serve it.
fn read_onnx(model: Vec<u8>) -> Result<Artifact, OnnxError> {
    let onnx = OnnxModel::read(&model)?;
    Ok(Artifact::Onnx(OnnxBundle::new(
        "",
        model,
        onnx.inputs().to_vec(),
        onnx.outputs().to_vec(),
        onnx.source().clone(),
        now_ms(),
    )))
}
