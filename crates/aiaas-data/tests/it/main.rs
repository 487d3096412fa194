//! Integration tests of aiaas-data through its public API: bad inputs, inference, splits,
//! scaling, reading against a schema, and the bundled samples.

mod errors;
mod formats;
mod inference;
mod samples;
mod schema;
mod splits;

use std::path::PathBuf;
use tempfile::TempDir;

/// Writes `bytes` to `name` in a fresh temporary directory; keep the `TempDir` alive while the
/// path is used.
pub fn temp_file(name: &str, bytes: &[u8]) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}
