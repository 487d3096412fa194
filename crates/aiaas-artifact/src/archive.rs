//! A bundle as one file: a tar of its files (`manifest.json`, `weights.safetensors` or
//! `model.onnx`). Reading
//! takes the archives people make by hand as well as the ones `export` writes: entries under
//! `./` or under one top-level folder (`tar -C models iris`), gzip-compressed or not. It accepts
//! only the bundle's plain files, within a size limit on the uncompressed bytes, so an archive
//! cannot write anywhere or exhaust memory.

use crate::{LABELS_FILE, MANIFEST_FILE, ONNX_FILE, PREPROCESS_FILE, TOKENIZER_FILE, WEIGHTS_FILE};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path};

/// Why an archive could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Not an archive of a bundle: the message says what was found instead.
    #[error("{0}")]
    Invalid(String),
    /// Larger than the limit once uncompressed.
    #[error("{0}")]
    TooLarge(String),
}

/// The files a bundle may hold, so the files an archive of one may hold.
pub const BUNDLE_FILES: [&str; 6] = [
    MANIFEST_FILE,
    WEIGHTS_FILE,
    ONNX_FILE,
    LABELS_FILE,
    PREPROCESS_FILE,
    TOKENIZER_FILE,
];

/// Whether `bytes` look like an archive (gzip, or a tar with its `ustar` magic), as opposed to a
/// model file sent alone.
pub fn is_archive(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC) || bytes.get(257..262) == Some(b"ustar")
}

/// The bundle's files as a tar archive, the manifest first so that a reader streaming it learns
/// what follows.
pub fn pack<B: AsRef<[u8]>>(files: &BTreeMap<String, B>) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let order = [MANIFEST_FILE, WEIGHTS_FILE];
    let rest = files
        .keys()
        .map(String::as_str)
        .filter(|n| !order.contains(n));
    for name in order.into_iter().chain(rest) {
        let Some(bytes) = files.get(name).map(AsRef::as_ref) else {
            continue;
        };
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, name, bytes)?;
    }
    builder.into_inner()
}

/// The bundle files in `archive` by name, refusing anything else. `max_bytes` bounds the
/// uncompressed size of a gzip-compressed archive.
pub fn unpack(archive: &[u8], max_bytes: usize) -> Result<BTreeMap<String, Vec<u8>>, ArchiveError> {
    if archive.starts_with(&GZIP_MAGIC) {
        let tar = gunzip(archive, max_bytes)?;
        return unpack_tar(&tar);
    }
    if let Some(format) = other_format(archive) {
        return Err(ArchiveError::Invalid(format!(
            "this is a {format} file; a model archive is a tar (`tar -czf model.tar.gz -C models iris`) or comes from `aiaas models export`"
        )));
    }
    unpack_tar(archive)
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Formats people may send instead, by their leading bytes, to name in the error.
fn other_format(bytes: &[u8]) -> Option<&'static str> {
    const FORMATS: [(&[u8], &str); 5] = [
        (b"PK\x03\x04", "zip"),
        (b"\xfd7zXZ\x00", "xz"),
        (b"\x28\xb5\x2f\xfd", "zstd"),
        (b"BZh", "bzip2"),
        (b"\x89HDF", "HDF5"),
    ];
    FORMATS
        .iter()
        .find(|(magic, _)| bytes.starts_with(magic))
        .map(|(_, name)| *name)
}

fn gunzip(archive: &[u8], max_bytes: usize) -> Result<Vec<u8>, ArchiveError> {
    let mut tar = Vec::new();
    flate2::read::MultiGzDecoder::new(archive)
        .take(max_bytes as u64 + 1)
        .read_to_end(&mut tar)
        .map_err(|e| ArchiveError::Invalid(format!("it is not valid gzip: {e}")))?;
    if tar.len() > max_bytes {
        return Err(ArchiveError::TooLarge(format!(
            "uncompressed, the archive is over the limit of {max_bytes} bytes"
        )));
    }
    Ok(tar)
}

fn unpack_tar(archive: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, ArchiveError> {
    let invalid = |m: String| ArchiveError::Invalid(m);
    // The tar crate's own messages quote raw header bytes; say what a person can act on.
    let damaged = || {
        invalid(
            "it is not a tar archive, or it is damaged (make one with `tar -cf model.tar -C models iris`)"
                .into(),
        )
    };
    let mut files = BTreeMap::new();
    let mut entries = 0;
    let mut folder: Option<String> = None;
    let mut reader = tar::Archive::new(archive);
    for entry in reader.entries().map_err(|_| damaged())? {
        let mut entry = entry.map_err(|_| damaged())?;
        entries += 1;
        let kind = entry.header().entry_type();
        let path = entry.path().map_err(|_| damaged())?.into_owned();
        let shown = path.display().to_string();
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        let parts = relative_parts(&path)
            .ok_or_else(|| invalid(format!("the entry {shown:?} points outside the archive")))?;
        if kind.is_dir() && parts.len() <= 1 {
            continue;
        }
        let unexpected = || {
            invalid(format!(
                "unexpected entry {shown:?}; a model archive holds only {}, at its top or in one folder",
                BUNDLE_FILES.join(", ")
            ))
        };
        let (top, file) = match parts.as_slice() {
            [file] => (None, *file),
            [top, file] => (Some(*top), *file),
            _ => return Err(unexpected()),
        };
        // macOS tar adds `._name` files holding extended attributes: not the user's content.
        if file.starts_with("._") {
            continue;
        }
        if !kind.is_file() || !BUNDLE_FILES.contains(&file) {
            return Err(unexpected());
        }
        let top = top.map(str::to_string);
        match (&folder, files.is_empty()) {
            (_, true) => folder = top,
            (expected, false) if *expected != top => {
                return Err(invalid(format!(
                    "the entry {shown:?} is in another folder than the first; a model archive holds one bundle"
                )));
            }
            _ => {}
        }
        // The archive is already in memory and bounded, so an entry cannot be larger than it.
        let mut bytes = Vec::with_capacity((entry.size() as usize).min(archive.len()));
        entry.read_to_end(&mut bytes).map_err(|_| damaged())?;
        if files.insert(file.to_string(), bytes).is_some() {
            return Err(invalid(format!("{file} appears twice")));
        }
    }
    if files.is_empty() {
        return Err(if entries > 0 {
            invalid(format!("it holds none of {}", BUNDLE_FILES.join(", ")))
        } else if archive.iter().all(|b| *b == 0) {
            invalid("the archive is empty".into())
        } else {
            damaged()
        });
    }
    Ok(files)
}

/// The path's names with `.` dropped, or `None` if it is absolute or climbs out with `..`.
fn relative_parts(path: &Path) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::Normal(name) => parts.push(name.to_str()?),
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const LIMIT: usize = 1 << 20;

    fn bundle_files() -> BTreeMap<String, Vec<u8>> {
        BTreeMap::from([
            (MANIFEST_FILE.to_string(), b"{}".to_vec()),
            (WEIGHTS_FILE.to_string(), vec![1, 2, 3]),
        ])
    }

    /// A tar with `entries` as (path, type) in order, every file holding `x`.
    fn tar_of(entries: &[(&str, tar::EntryType)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, kind) in entries {
            let mut header = tar::Header::new_ustar();
            header.set_entry_type(*kind);
            header.set_mode(0o644);
            let data: &[u8] = if kind.is_file() { b"x" } else { b"" };
            header.set_size(data.len() as u64);
            // `append_data` would normalise the path; the raw bytes are what `tar` writes.
            header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_cksum();
            builder.append(&header, data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn error(archive: &[u8]) -> String {
        unpack(archive, LIMIT).unwrap_err().to_string()
    }

    #[test]
    fn pack_and_unpack_round_trip_plain_and_gzipped() {
        let tar = pack(&bundle_files()).unwrap();
        assert_eq!(unpack(&tar, LIMIT).unwrap(), bundle_files());
        assert_eq!(unpack(&gzip(&tar), LIMIT).unwrap(), bundle_files());
    }

    #[test]
    fn archives_made_with_tar_by_hand_are_read() {
        use tar::EntryType::{Directory, Regular};
        // `tar -cf m.tar -C models/iris .`
        let dot = tar_of(&[
            ("./", Directory),
            ("./manifest.json", Regular),
            ("./weights.safetensors", Regular),
        ]);
        // `tar -cf m.tar -C models iris`, with a macOS attribute file.
        let folder = tar_of(&[
            ("iris/", Directory),
            ("iris/._manifest.json", Regular),
            ("iris/manifest.json", Regular),
            ("iris/weights.safetensors", Regular),
        ]);
        for archive in [dot, folder] {
            let files = unpack(&archive, LIMIT).unwrap();
            assert_eq!(
                files.keys().collect::<Vec<_>>(),
                [MANIFEST_FILE, WEIGHTS_FILE]
            );
            assert_eq!(files[MANIFEST_FILE], b"x");
        }
    }

    #[test]
    fn foreign_entries_and_garbage_are_refused_in_words() {
        use tar::EntryType::{Directory, Regular, Symlink};
        let cases = [
            (
                tar_of(&[("evil.sh", Regular)]),
                "unexpected entry \"evil.sh\"",
            ),
            (tar_of(&[("../manifest.json", Regular)]), "points outside"),
            (tar_of(&[("/manifest.json", Regular)]), "points outside"),
            (
                tar_of(&[("a/b/manifest.json", Regular)]),
                "unexpected entry",
            ),
            (
                tar_of(&[("a/", Directory), ("a/b/", Directory)]),
                "unexpected entry",
            ),
            (tar_of(&[("manifest.json", Symlink)]), "unexpected entry"),
            (
                tar_of(&[
                    ("a/manifest.json", Regular),
                    ("b/weights.safetensors", Regular),
                ]),
                "another folder",
            ),
            (
                tar_of(&[("manifest.json", Regular), ("./manifest.json", Regular)]),
                "appears twice",
            ),
            (b"PK\x03\x04 rest of a zip".to_vec(), "zip file"),
            (vec![0; 1024], "empty"),
            (tar_of(&[("./", Directory)]), "holds none of"),
        ];
        for (archive, expected) in cases {
            let message = error(&archive);
            assert!(
                message.contains(expected),
                "{expected:?} not in {message:?}"
            );
        }
        for garbage in [
            &b"not a tar archive at all"[..],
            &[0xff; 700],
            &gzip(b"\x00\xff\x01"),
        ] {
            let message = error(garbage);
            assert!(message.contains("not a tar archive"), "{message}");
            assert!(
                message.is_ascii() && !message.contains('\u{0}'),
                "{message:?}"
            );
        }
        assert!(error(&[0x1f, 0x8b, 8, 0, 1, 2]).contains("not valid gzip"));
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit() {
        let bomb = gzip(&vec![0u8; 4 * LIMIT]);
        assert!(bomb.len() < LIMIT / 16);
        let err = unpack(&bomb, LIMIT).unwrap_err();
        assert!(matches!(err, ArchiveError::TooLarge(_)), "{err}");
    }
}
