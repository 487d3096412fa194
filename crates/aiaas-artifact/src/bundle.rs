//! A bundle in memory (manifest + network), and its files on disk.
//!
//! Writing goes to a fresh sibling directory that is renamed into place only when every file is
//! on disk and synced, so a crash leaves either the old bundle or the new one, never a mix.

use crate::{ArtifactError, Manifest, WeightsInfo, sha256_hex, weights};
use aiaas_engine::Network;
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const MANIFEST_FILE: &str = "manifest.json";
pub const WEIGHTS_FILE: &str = "weights.safetensors";

/// A model ready to predict: what it is, and its network.
#[derive(Clone, Debug)]
pub struct Bundle {
    pub manifest: Manifest,
    pub network: Network,
}

impl Bundle {
    /// A bundle for `network`; the manifest's layers and digests are filled in here, and its
    /// weights info is made to fit the network (int8 for an int8 network; an f32 network keeps
    /// any f32, f16 or sparse storage the manifest asks for).
    pub fn new(mut manifest: Manifest, network: impl Into<Network>) -> Self {
        let network = network.into();
        manifest.layers = network.layers().to_vec();
        if network.is_quantized() {
            manifest.weights = weights::int8_info();
        } else if manifest.weights.is_int8() {
            manifest.weights = WeightsInfo::default();
        }
        Bundle { manifest, network }
    }

    /// Checks that the bundle can be served: its manifest describes a model that can exist
    /// ([`Manifest::check_structure`]) and its network is that model. Bundles read with
    /// [`Bundle::from_files`] always pass; one made in code may not.
    pub fn check(&self) -> Result<(), ArtifactError> {
        self.manifest.check_structure()?;
        if self.network.layers() != self.manifest.layers.as_slice() {
            return Err(ArtifactError::Manifest(
                "the network's layers are not the manifest's".into(),
            ));
        }
        Ok(())
    }

    /// Every file of the bundle as `(name, bytes)`, the manifest last, with the digests of the
    /// others recorded in it.
    pub fn to_files(&self) -> Result<Vec<(String, Vec<u8>)>, ArtifactError> {
        let weights = weights::encode(&self.network, &self.manifest.weights)?;
        let mut manifest = self.manifest.clone();
        manifest.files = BTreeMap::from([(WEIGHTS_FILE.to_string(), sha256_hex(&weights))]);
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| ArtifactError::Manifest(e.to_string()))?;
        Ok(vec![
            (WEIGHTS_FILE.to_string(), weights),
            (MANIFEST_FILE.to_string(), json),
        ])
    }

    /// Rebuild a bundle from its files, fetched by name through `read`; every digest is checked.
    /// An imported ONNX model's files are refused ([`ArtifactError::Imported`]); see
    /// [`crate::Artifact::from_files`] for either kind.
    pub fn from_files(
        mut read: impl FnMut(&str) -> Result<Option<Vec<u8>>, ArtifactError>,
    ) -> Result<Bundle, ArtifactError> {
        let json = manifest_bytes(&mut read)?;
        if crate::manifest::architecture(&json)? == crate::Architecture::Onnx {
            return Err(ArtifactError::Imported);
        }
        Bundle::from_manifest(&json, read)
    }

    /// [`Bundle::from_files`] once the manifest's bytes are in hand.
    pub(crate) fn from_manifest(
        json: &[u8],
        read: impl FnMut(&str) -> Result<Option<Vec<u8>>, ArtifactError>,
    ) -> Result<Bundle, ArtifactError> {
        let manifest: Manifest =
            serde_json::from_slice(json).map_err(|e| ArtifactError::Manifest(e.to_string()))?;
        check_format(manifest.format_version)?;
        let bytes = verified(&manifest.files, WEIGHTS_FILE, read)?;
        // Before any weight is decoded: the declared shapes size the buffers.
        manifest.check_structure()?;
        let network = weights::decode(&manifest.layers, &manifest.weights, &bytes)?;
        Ok(Bundle { manifest, network })
    }

    /// Write the bundle as directory `dir`. An existing bundle there is replaced; any other
    /// existing path is refused.
    pub fn write(&self, dir: &Path) -> Result<(), ArtifactError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ArtifactError::Io { path, source }
        };
        if dir.exists() && !dir.join(MANIFEST_FILE).is_file() {
            let empty_dir = dir.is_dir() && fs::read_dir(dir).map_err(io(dir))?.next().is_none();
            if !empty_dir {
                return Err(ArtifactError::OutExists(dir.to_path_buf()));
            }
        }
        let files = self.to_files()?;
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(io(&parent))?;
        let name = dir
            .file_name()
            .map_or("bundle".into(), |n| n.to_string_lossy().into_owned());
        let staging = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        let _ = fs::remove_dir_all(&staging);
        let result = (|| {
            fs::create_dir(&staging).map_err(io(&staging))?;
            for (file, bytes) in &files {
                let path = staging.join(file);
                let mut f = fs::File::create(&path).map_err(io(&path))?;
                f.write_all(bytes).map_err(io(&path))?;
                f.sync_all().map_err(io(&path))?;
            }
            if dir.exists() {
                let old = parent.join(format!(".{name}.old-{}", std::process::id()));
                fs::rename(dir, &old).map_err(io(dir))?;
                fs::rename(&staging, dir).map_err(io(dir))?;
                fs::remove_dir_all(&old).map_err(io(&old))
            } else {
                fs::rename(&staging, dir).map_err(io(dir))
            }
        })();
        if result.is_err() {
            let _ = fs::remove_dir_all(&staging);
        }
        result
    }

    /// Read and verify the bundle in directory `dir`.
    pub fn read(dir: &Path) -> Result<Bundle, ArtifactError> {
        if !dir.join(MANIFEST_FILE).is_file() {
            return Err(ArtifactError::NotABundle(dir.to_path_buf()));
        }
        Bundle::from_files(|file| {
            let path = dir.join(file);
            match fs::read(&path) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(ArtifactError::Io { path, source }),
            }
        })
    }
}

/// The manifest's bytes, fetched through `read`.
pub(crate) fn manifest_bytes(
    read: &mut impl FnMut(&str) -> Result<Option<Vec<u8>>, ArtifactError>,
) -> Result<Vec<u8>, ArtifactError> {
    read(MANIFEST_FILE)?.ok_or_else(|| ArtifactError::MissingFile {
        file: MANIFEST_FILE.into(),
    })
}

/// `Ok` when this build reads bundles of format `found`.
pub(crate) fn check_format(found: u32) -> Result<(), ArtifactError> {
    if found != crate::FORMAT_VERSION {
        return Err(ArtifactError::FormatVersion {
            found,
            supported: crate::FORMAT_VERSION,
        });
    }
    Ok(())
}

/// File `file`, fetched through `read`, if its SHA-256 is the one `digests` lists for it.
pub(crate) fn verified(
    digests: &BTreeMap<String, String>,
    file: &str,
    mut read: impl FnMut(&str) -> Result<Option<Vec<u8>>, ArtifactError>,
) -> Result<Vec<u8>, ArtifactError> {
    let expected = digests
        .get(file)
        .ok_or_else(|| ArtifactError::Manifest(format!("no digest for {file}")))?;
    let bytes = read(file)?.ok_or_else(|| ArtifactError::MissingFile { file: file.into() })?;
    let actual = sha256_hex(&bytes);
    if &actual != expected {
        return Err(ArtifactError::DigestMismatch {
            file: file.into(),
            expected: expected.clone(),
            actual,
        });
    }
    Ok(bytes)
}
