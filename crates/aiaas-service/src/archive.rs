//! A model version as one file: export and import over the archive format of
//! [`aiaas_artifact::archive`], and the import of a model made elsewhere (an ONNX file, alone or
//! in an archive).

use crate::adopt::adopt;
use crate::datasets::blocking;
use crate::{Platform, ServiceError, now_ms};
use aiaas_artifact::archive::{self, ArchiveError};
use aiaas_artifact::{
    Artifact, Bundle, DatasetRef, LABELS_FILE, MANIFEST_FILE, ONNX_FILE, OnnxBundle,
    PREPROCESS_FILE, Preprocess, TOKENIZER_FILE,
};
use aiaas_onnx::{OnnxError, OnnxModel};
use aiaas_store::VersionRecord;
use aiaas_types::{DatasetName, ModelName};
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
    ///
    /// With a `dataset`, an ONNX graph that is a plain dense network is adopted as a model
    /// trained here (see [`adopt`](crate::adopt::adopt)): scored on the dataset's default split,
    /// it can then be pruned, quantized, monitored and retrained.
    pub async fn import_version(
        &self,
        upload: Bytes,
        name: &ModelName,
        dataset: Option<&DatasetName>,
    ) -> Result<VersionRecord, ServiceError> {
        let limit = self.config().max_archive_bytes;
        if upload.len() > limit {
            return Err(ServiceError::TooLarge(format!(
                "the upload is {} bytes; the limit is {limit}",
                upload.len()
            )));
        }
        let read = blocking(move || read(&upload, limit)).await?;
        let Some(dataset) = dataset else {
            return (self.publish_bundle(name, read.artifact, None, None, None)).await;
        };
        let (Artifact::Onnx(imported), Some(graph)) = (read.artifact, read.graph) else {
            return Err(ServiceError::Invalid(
                "a dataset is given to adopt an ONNX model; this is a model trained here, \
                 which keeps its own: import it without one"
                    .into(),
            ));
        };
        let (record, ds) = self.load_dataset(dataset).await?;
        let reference = DatasetRef {
            name: record.name.to_string(),
            digest: record.digest.clone(),
            rows: ds.rows,
        };
        let threads = self.config().threads_per_job();
        let bundle = blocking(move || adopt(imported, &graph, &ds, reference, threads)).await?;
        (self.publish_bundle(name, bundle, Some(dataset.clone()), None, None)).await
    }
}

/// The model in an upload (see [`Platform::import_version`]), every digest and the model's
/// structure checked (nothing is allocated for a model trained here before its declared shape
/// has been checked). `max_bytes` bounds an archive's uncompressed size.
pub fn read_upload(upload: &[u8], max_bytes: usize) -> Result<Artifact, ServiceError> {
    read(upload, max_bytes).map(|r| r.artifact)
}

/// An upload as read: the model, and for an ONNX model the graph the runtime made of it.
struct Read {
    artifact: Artifact,
    graph: Option<OnnxModel>,
}

/// [`read_upload`], keeping the graph it read (adoption needs it; reading it again would
/// repeat the parse, optimization and probe).
fn read(upload: &[u8], max_bytes: usize) -> Result<Read, ServiceError> {
    if !archive::is_archive(upload) {
        return read_onnx(upload.to_vec(), Given::default()).map_err(|e| {
            e.within_archive(|e| {
                ServiceError::Invalid(match e {
                    OnnxError::NotOnnx(_) => format!(
                        "the upload is neither a model archive (a tar, gzip-compressed or not) \
                         nor an ONNX model: {e}"
                    ),
                    e => format!("the ONNX model: {e}"),
                })
            })
        });
    }
    let files = archive::unpack(upload, max_bytes).map_err(|e| match e {
        ArchiveError::TooLarge(m) => ServiceError::TooLarge(m),
        ArchiveError::Invalid(m) => ServiceError::Invalid(format!("the archive: {m}")),
    })?;
    let invalid = |e: &dyn std::fmt::Display| ServiceError::Invalid(format!("the archive: {e}"));
    let onnx = |e: OnnxError| invalid(&format_args!("{ONNX_FILE}: {e}"));
    let Some(model) = files.get(ONNX_FILE) else {
        return Bundle::from_files(|file| Ok(files.get(file).cloned()))
            .map(|bundle| Read {
                artifact: Artifact::Native(bundle),
                graph: None,
            })
            .map_err(|e| invalid(&e));
    };
    if files.contains_key(MANIFEST_FILE) {
        // The manifest must match the file, but what the graph takes and gives is read from
        // the graph again, never taken from the manifest's word; only its labels are kept.
        return match Artifact::from_files(|file| Ok(files.get(file).cloned())) {
            Ok(Artifact::Onnx(bundle)) => {
                let given = Given {
                    labels: bundle.manifest.classes.map(|c| Ok(c.labels)),
                    preprocess: bundle.manifest.preprocess.map(Ok),
                    tokenizer: bundle.tokenizer,
                };
                read_onnx(bundle.model, given).map_err(|e| e.within_archive(onnx))
            }
            Ok(Artifact::Native(_)) => Err(invalid(&format_args!(
                "its manifest describes a model trained here, but it holds {ONNX_FILE}"
            ))),
            Err(e) => Err(invalid(&e)),
        };
    }
    let beside = [ONNX_FILE, LABELS_FILE, PREPROCESS_FILE, TOKENIZER_FILE];
    if let Some(other) = files.keys().find(|f| !beside.contains(&f.as_str())) {
        return Err(invalid(&format_args!(
            "{other:?} is not a file of an ONNX model's archive: it holds {ONNX_FILE} and \
             optionally {LABELS_FILE} (one class label per line), {PREPROCESS_FILE} and \
             {TOKENIZER_FILE}"
        )));
    }
    let given = Given {
        labels: files.get(LABELS_FILE).map(|bytes| labels_of(bytes)),
        preprocess: files.get(PREPROCESS_FILE).map(|b| Preprocess::parse(b)),
        tokenizer: files.get(TOKENIZER_FILE).cloned(),
    };
    read_onnx(model.clone(), given).map_err(|e| e.within_archive(onnx))
}

/// What may come with an ONNX file, each as read (or why it could not be).
#[derive(Default)]
struct Given {
    labels: Option<Result<Vec<String>, String>>,
    preprocess: Option<Result<Preprocess, String>>,
    tokenizer: Option<Vec<u8>>,
}

/// The labels of a `labels.txt`: one per line, trimmed, blank lines at the end ignored.
fn labels_of(bytes: &[u8]) -> Result<Vec<String>, String> {
    let text =
        std::str::from_utf8(bytes).map_err(|e| format!("{LABELS_FILE} is not UTF-8 text: {e}"))?;
    let mut labels: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
    while labels.last().is_some_and(String::is_empty) {
        labels.pop();
    }
    Ok(labels)
}

/// Why an ONNX upload was refused: the graph itself, its labels or its preprocessing.
enum OnnxRefusal {
    Graph(OnnxError),
    Labels(String),
    Preprocess(String),
    Tokenizer(String),
}

impl OnnxRefusal {
    /// The refusal of an ONNX file found in an archive, the graph's errors through `graph`.
    fn within_archive(self, graph: impl Fn(OnnxError) -> ServiceError) -> ServiceError {
        match self {
            OnnxRefusal::Graph(e) => graph(e),
            OnnxRefusal::Labels(why) => ServiceError::Invalid(format!("the labels: {why}")),
            OnnxRefusal::Preprocess(why) => {
                ServiceError::Invalid(format!("{PREPROCESS_FILE}: {why}"))
            }
            OnnxRefusal::Tokenizer(why) => ServiceError::Invalid(format!("the tokenizer: {why}")),
        }
    }
}

/// An ONNX file as a bundle, if the runtime can serve it: a classifier of the labels given (or
/// else of a JSON list under `labels` in the file's metadata, as exported models carry them)
/// when they fit one of its outputs; an image model when the preprocessing given fits its input.
fn read_onnx(model: Vec<u8>, given: Given) -> Result<Read, OnnxRefusal> {
    let onnx = OnnxModel::read(&model).map_err(OnnxRefusal::Graph)?;
    let labels = given.labels.or_else(|| {
        let listed = onnx.source().metadata.get("labels")?;
        Some(serde_json::from_str::<Vec<String>>(listed).map_err(|e| {
            format!(
                "the file's metadata \"labels\" is not a JSON list of strings ({e}); give the \
                 labels in {LABELS_FILE}"
            )
        }))
    });
    let bundle = OnnxBundle::new(
        "",
        model,
        onnx.inputs().to_vec(),
        onnx.outputs().to_vec(),
        onnx.engine(),
        onnx.source().clone(),
        now_ms(),
    );
    let bundle = match labels {
        Some(labels) => bundle
            .with_labels(labels.map_err(OnnxRefusal::Labels)?)
            .map_err(OnnxRefusal::Labels)?,
        None => bundle,
    };
    let bundle = match given.preprocess {
        Some(p) => (bundle.with_preprocess(p.map_err(OnnxRefusal::Preprocess)?))
            .map_err(OnnxRefusal::Preprocess)?,
        None => bundle,
    };
    let bundle = match given.tokenizer {
        Some(t) => bundle.with_tokenizer(t).map_err(OnnxRefusal::Tokenizer)?,
        None => bundle,
    };
    Ok(Read {
        artifact: Artifact::Onnx(bundle),
        graph: Some(onnx),
    })
}
