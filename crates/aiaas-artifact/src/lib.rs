//! The model bundle (DESIGN.md section 4): `manifest.json` describing the model, its schema and
//! lineage, and `weights.safetensors` holding its tensors (or, for an imported model,
//! `model.onnx`), with the SHA-256 of every file in the manifest. A bundle is written atomically
//! and refused on read if any digest differs.

pub mod archive;
mod bundle;
mod manifest;
mod onnx;
mod preprocess;
mod weights;

pub use bundle::{Bundle, MANIFEST_FILE, WEIGHTS_FILE};
pub use manifest::{
    Architecture, DatasetRef, FORMAT_VERSION, Layout, Lineage, Manifest, Quantization, WeightDtype,
    WeightsInfo,
};
pub use onnx::{
    Artifact, Classes, ImportLineage, LABELS_FILE, ONNX_FILE, OnnxBundle, OnnxManifest, Summary,
    TOKEN_INPUTS, TOKENIZER_FILE, classes_for, summaries,
};
pub use preprocess::{ImageLayout, MAX_SIDE, PREPROCESS_FILE, Preprocess, Size};
pub use weights::{decode as decode_weights, encode as encode_weights};

use std::path::PathBuf;

/// Why a bundle could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a model bundle (no manifest.json)", .0.display())]
    NotABundle(PathBuf),
    #[error("{} exists and is not a model bundle; choose another --out", .0.display())]
    OutExists(PathBuf),
    #[error("manifest.json is not a valid manifest: {0}")]
    Manifest(String),
    #[error("bundle format {found} is not supported (this build reads format {supported})")]
    FormatVersion { found: u32, supported: u32 },
    #[error("{file} is listed in the manifest but missing")]
    MissingFile { file: String },
    #[error("{file} is corrupt or was changed: SHA-256 {actual}, manifest says {expected}")]
    DigestMismatch {
        file: String,
        expected: String,
        actual: String,
    },
    #[error("weights: {0}")]
    Weights(String),
    /// The files are an imported ONNX model where a model trained here is needed.
    #[error(
        "this is an imported ONNX model; only models trained here can be optimized, retrained \
         or read as a bundle folder"
    )]
    Imported,
}

/// SHA-256 of `bytes` as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}
