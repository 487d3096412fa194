//! The bytes of a data file: reading them with an error that names the file, and their SHA-256,
//! which identifies the data a model was trained on, and the files of an archive. Every reader
//! (CSV, IDX, schema) starts here.

use crate::DataError;
use sha2::{Digest, Sha256};
use std::path::Path;

/// One file of an archive or folder: its path inside it (`/`-separated, relative) and its bytes.
pub(crate) struct Entry {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// The bytes of `path`, or an error naming it.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// SHA-256 of `bytes` as lower-case hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
