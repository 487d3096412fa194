//! Any dataset, told apart by its content rather than its name: CSV text, a Parquet file, a tar
//! (gzipped or not) or zip archive of the four MNIST IDX files or of one image folder per class,
//! a gzipped CSV, or a local folder of either. Every way in (an upload, `--data PATH`, `eval`
//! and `predict`) comes through here, so all of them read the same formats.

use crate::archive::{self, MAX_UNPACKED_BYTES, dataset_from_entries};
use crate::csv_reader::dataset_from_table;
use crate::parquet_reader::{is_parquet, parquet_table};
use crate::schema_reader::{SchemaFrame, frame_from_dataset, frame_from_table};
use crate::source::{read_file, sha256_hex};
use crate::table::RawTable;
use crate::{DataError, Dataset};
use aiaas_types::{Schema, Task};
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::Path;

/// What a dataset's bytes are.
enum Content {
    Table(RawTable),
    Files(Vec<crate::source::Entry>),
}

/// The dataset in `bytes`, whatever its format; `source` names it in messages and, through its
/// stem, names the dataset. The digest is the SHA-256 of `bytes` as given.
pub fn read_bytes(
    source: &str,
    bytes: &[u8],
    target: Option<&str>,
    task: Option<Task>,
) -> Result<Dataset, DataError> {
    let mut ds = match content(source, bytes, false)? {
        Content::Table(table) => dataset_from_table(&table, target, task)?,
        Content::Files(entries) => dataset_from_entries(source, entries, target, task)?,
    };
    ds.digest = sha256_hex(bytes);
    Ok(ds)
}

/// The dataset at `path`: a file in any format [`read_bytes`] reads, or a folder holding the
/// four MNIST files or one image folder per class (its digest: of its files' bytes, in path
/// order).
pub fn read_path(
    path: &Path,
    target: Option<&str>,
    task: Option<Task>,
) -> Result<Dataset, DataError> {
    if path.is_dir() {
        let entries = archive::folder_entries(path)?;
        let digest = sha256_hex(
            &entries
                .iter()
                .flat_map(|e| e.bytes.iter().copied())
                .collect::<Vec<u8>>(),
        );
        let mut ds = dataset_from_entries(&path.display().to_string(), entries, target, task)?;
        ds.digest = digest;
        return Ok(ds);
    }
    read_bytes(&path.display().to_string(), &read_file(path)?, target, task)
}

/// New rows in any format [`read_bytes`] reads, for a model with `schema` (see
/// [`read_csv_bytes_for_schema`](crate::read_csv_bytes_for_schema)).
pub fn read_bytes_for_schema(
    source: &str,
    bytes: &[u8],
    schema: &Schema,
    require_target: bool,
) -> Result<SchemaFrame, DataError> {
    match content(source, bytes, false)? {
        Content::Table(table) => frame_from_table(&table, schema, require_target),
        Content::Files(entries) => {
            let ds = dataset_from_entries(source, entries, None, None)?;
            frame_from_dataset(&ds, schema, require_target)
        }
    }
}

/// [`read_bytes_for_schema`] for a file or a folder at `path`.
pub fn read_path_for_schema(
    path: &Path,
    schema: &Schema,
    require_target: bool,
) -> Result<SchemaFrame, DataError> {
    if path.is_dir() {
        let entries = archive::folder_entries(path)?;
        let ds = dataset_from_entries(&path.display().to_string(), entries, None, None)?;
        return frame_from_dataset(&ds, schema, require_target);
    }
    read_bytes_for_schema(
        &path.display().to_string(),
        &read_file(path)?,
        schema,
        require_target,
    )
}

/// `bytes` as a table or as an archive's files, by their first bytes; gzip is unpacked once.
fn content(source: &str, bytes: &[u8], unpacked: bool) -> Result<Content, DataError> {
    let bad = |reason: String| DataError::Format {
        file: source.to_string(),
        reason,
    };
    if bytes.starts_with(&[0x1f, 0x8b]) && !unpacked {
        let mut inner = Vec::new();
        GzDecoder::new(bytes)
            .take(MAX_UNPACKED_BYTES + 1)
            .read_to_end(&mut inner)
            .map_err(|e| bad(format!("cannot decompress the gzip data: {e}")))?;
        if inner.len() as u64 > MAX_UNPACKED_BYTES {
            return Err(bad(format!(
                "it holds more than {MAX_UNPACKED_BYTES} bytes decompressed"
            )));
        }
        return content(source, &inner, true);
    }
    if is_parquet(bytes) {
        return Ok(Content::Table(parquet_table(source, bytes)?));
    }
    if archive::is_zip(bytes) {
        return Ok(Content::Files(archive::zip_entries(source, bytes)?));
    }
    if archive::is_tar(bytes) {
        return Ok(Content::Files(archive::tar_entries(source, bytes)?));
    }
    if bytes.len() >= 4 && bytes[..3] == [0, 0, 8] {
        return Err(bad(
            "this is one IDX file (MNIST images or labels), not a dataset: upload the four MNIST \
             files together in a tar or zip archive (`aiaas datasets upload DIR` packs a folder)"
                .into(),
        ));
    }
    Ok(Content::Table(RawTable::parse(source, bytes)?))
}
