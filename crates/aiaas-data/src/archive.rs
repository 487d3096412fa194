//! Datasets that come as many files: a tar (gzipped or not) or zip archive, or a local folder,
//! holding either the four MNIST IDX files (anywhere in it, gzipped or not) or one folder of
//! images per class as torchvision's `ImageFolder` reads them ([`crate::image_folder`]).
//!
//! An archive is untrusted: its files are read through size limits (no more than
//! [`MAX_UNPACKED_BYTES`] in all, [`MAX_FILES`] files), paths that climb out (`..`) are
//! refused, and hidden files and folders (`.DS_Store`, `__MACOSX/`) are skipped.

use crate::image_folder::image_folder;
use crate::source::Entry;
use crate::{DataError, Dataset, idx};
use aiaas_types::Task;
use std::io::{Cursor, Read};
use std::path::{Component, Path, PathBuf};

/// Most bytes an archive's files may hold once unpacked.
pub const MAX_UNPACKED_BYTES: u64 = 2 << 30;
/// Most files an archive or folder may hold.
pub const MAX_FILES: usize = 1_000_000;

/// Whether `bytes` begin a zip archive.
pub(crate) fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

/// Whether `bytes` begin a tar archive (POSIX `ustar` or GNU header).
pub(crate) fn is_tar(bytes: &[u8]) -> bool {
    bytes.len() >= 512 && bytes[257..262] == *b"ustar"
}

/// The dataset in an archive's (or a folder's) files; `file` names the archive in messages.
pub(crate) fn dataset_from_entries(
    file: &str,
    entries: Vec<Entry>,
    target: Option<&str>,
    task: Option<Task>,
) -> Result<Dataset, DataError> {
    let mut mnist: [Option<usize>; 4] = [None; 4];
    for (i, entry) in entries.iter().enumerate() {
        let name = entry.path.rsplit('/').next().unwrap_or(&entry.path);
        if let Some(which) = idx::mnist_file_index(name) {
            mnist[which] = Some(i);
        }
    }
    if mnist.iter().any(Option::is_some) {
        let missing: Vec<String> = idx::MNIST_FILES
            .iter()
            .zip(&mnist)
            .filter(|(_, found)| found.is_none())
            .map(|(name, _)| name.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(DataError::Format {
                file: file.to_string(),
                reason: format!(
                    "it holds MNIST IDX files but not {} (gzipped or not)",
                    missing.join(", ")
                ),
            });
        }
        let chosen: Vec<usize> = mnist.iter().flatten().copied().collect();
        let paths: Vec<PathBuf> = chosen
            .iter()
            .map(|&i| PathBuf::from(format!("{file}/{}", entries[i].path)))
            .collect();
        let raw: Vec<Vec<u8>> = chosen.iter().map(|&i| entries[i].bytes.clone()).collect();
        return crate::samples::with_mnist_options(idx::mnist_from(&paths, &raw)?, target, task);
    }
    image_folder(file, entries, target, task)
}

/// The files of the tar archive `bytes`.
pub(crate) fn tar_entries(file: &str, bytes: &[u8]) -> Result<Vec<Entry>, DataError> {
    let bad = |e: std::io::Error| format_error(file, format!("cannot read the tar archive: {e}"));
    let mut archive = tar::Archive::new(Cursor::new(bytes));
    let mut budget = Budget::new(file);
    let mut entries = Vec::new();
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map_err(bad)?.into_owned();
        let Some(path) = budget.admit(&path)? else {
            continue;
        };
        let declared = entry.header().size().unwrap_or(0);
        let bytes = budget.read(&path, &mut entry, declared)?;
        entries.push(Entry { path, bytes });
    }
    Ok(entries)
}

/// The files of the zip archive `bytes`.
pub(crate) fn zip_entries(file: &str, bytes: &[u8]) -> Result<Vec<Entry>, DataError> {
    let bad = |e: zip::result::ZipError| {
        format_error(
            file,
            format!("cannot read the zip archive: {e}; files stored or deflated can be read"),
        )
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(bad)?;
    let mut budget = Budget::new(file);
    let mut entries = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(bad)?;
        if !entry.is_file() {
            continue;
        }
        let Some(path) = entry.enclosed_name() else {
            return Err(format_error(
                file,
                format!("{:?} lies outside the archive", entry.name()),
            ));
        };
        let Some(path) = budget.admit(&path)? else {
            continue;
        };
        let size = entry.size();
        let bytes = budget.read(&path, &mut entry, size)?;
        entries.push(Entry { path, bytes });
    }
    Ok(entries)
}

/// The files under the folder `dir`, as an archive of it would hold them.
pub(crate) fn folder_entries(dir: &Path) -> Result<Vec<Entry>, DataError> {
    let file = dir.display().to_string();
    let mut budget = Budget::new(&file);
    let mut entries = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let io = |source| DataError::Io {
            path: folder.clone(),
            source,
        };
        for item in std::fs::read_dir(&folder).map_err(io)? {
            let item = item.map_err(io)?;
            let path = item.path();
            let relative = path.strip_prefix(dir).unwrap_or(&path).to_path_buf();
            if item.file_type().map_err(io)?.is_dir() {
                if !hidden(&relative) {
                    pending.push(path);
                }
                continue;
            }
            let Some(name) = budget.admit(&relative)? else {
                continue;
            };
            let size = item.metadata().map_err(io)?.len();
            let mut reader = std::fs::File::open(&path).map_err(|source| DataError::Io {
                path: path.clone(),
                source,
            })?;
            let bytes = budget.read(&name, &mut reader, size)?;
            entries.push(Entry { path: name, bytes });
        }
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

/// A tar archive of the files under `dir` (as [`folder_entries`] finds them), the same bytes for
/// the same files: sorted by path, with no owner, time or mode of their own. This is how a
/// folder (MNIST's four files, image folders) travels to a server in one upload.
pub fn pack_folder(dir: &Path) -> Result<Vec<u8>, DataError> {
    let entries: Vec<(String, Vec<u8>)> = folder_entries(dir)?
        .into_iter()
        .map(|entry| (entry.path, entry.bytes))
        .collect();
    pack_files(&entries).map_err(|source| DataError::Io {
        path: dir.to_path_buf(),
        source,
    })
}

/// `files` (path inside the archive, bytes) as a tar archive, the same bytes for the same files:
/// regular files, mode 0644, time 0. An error only for a path tar cannot hold.
pub fn pack_files(files: &[(String, Vec<u8>)]) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, bytes) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, path, bytes.as_slice())?;
    }
    builder.into_inner()
}

fn format_error(file: &str, reason: String) -> DataError {
    DataError::Format {
        file: file.to_string(),
        reason,
    }
}

/// Whether a path has a hidden part (`.git`, `.DS_Store`) or is macOS's resource folder.
fn hidden(path: &Path) -> bool {
    path.components().any(|c| match c {
        Component::Normal(name) => {
            let name = name.to_string_lossy();
            name.starts_with('.') || name == "__MACOSX"
        }
        _ => false,
    })
}

/// What an archive may still hold: files and bytes left.
struct Budget<'a> {
    file: &'a str,
    files: usize,
    bytes: u64,
}

impl<'a> Budget<'a> {
    fn new(file: &'a str) -> Budget<'a> {
        Budget {
            file,
            files: 0,
            bytes: 0,
        }
    }

    /// The `/`-separated form of `path` when the file is to be read, `None` to skip it (a
    /// hidden file); an error for a path that climbs out, or one file too many.
    fn admit(&mut self, path: &Path) -> Result<Option<String>, DataError> {
        if path
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(format_error(
                self.file,
                format!("{} lies outside the archive", path.display()),
            ));
        }
        if hidden(path) {
            return Ok(None);
        }
        self.files += 1;
        if self.files > MAX_FILES {
            return Err(format_error(
                self.file,
                format!("it holds more than {MAX_FILES} files"),
            ));
        }
        let parts: Vec<String> = path
            .components()
            .filter_map(|c| match c {
                Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        Ok(Some(parts.join("/")))
    }

    /// The bytes of the file `path`, which says it holds `declared`: read no further than the
    /// bytes left, whatever it declares.
    fn read(
        &mut self,
        path: &str,
        reader: &mut dyn Read,
        declared: u64,
    ) -> Result<Vec<u8>, DataError> {
        let left = MAX_UNPACKED_BYTES - self.bytes;
        let too_large = || {
            format_error(
                self.file,
                format!("its files hold more than {MAX_UNPACKED_BYTES} bytes unpacked"),
            )
        };
        if declared > left {
            return Err(too_large());
        }
        let mut bytes = Vec::with_capacity(declared.min(1 << 26) as usize);
        reader
            .take(left + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format_error(self.file, format!("cannot unpack {path}: {e}")))?;
        if bytes.len() as u64 > left {
            return Err(too_large());
        }
        self.bytes += bytes.len() as u64;
        Ok(bytes)
    }
}
