//! Content-addressed blob storage over `object_store`: every blob lives under
//! `blobs/sha256/<hex digest>` and is checked against that digest whenever it is read.
//!
//! The backend is chosen from the configured URL in one place, [`open_object_store`]: a local
//! directory by default, S3 behind the `s3` cargo feature.

use crate::config::BlobLocation;
use crate::error::{Result, StoreError};
use aiaas_types::Resource;
use bytes::Bytes;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Prefix of every blob key.
const PREFIX: &str = "blobs/sha256";

/// Blobs at least this large are hashed on a blocking thread, off the async runtime.
const HASH_OFF_RUNTIME_BYTES: usize = 256 * 1024;

/// How old an unfinished local upload must be before [`Store::open`](crate::Store::open)
/// removes it. A live upload writes its temp file in one go and renames it at once, so anything
/// this old was left by a crash (and another process sharing the directory is not disturbed).
pub const STALE_UPLOAD_AGE: Duration = Duration::from_secs(5 * 60);

/// The blob half of the store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    /// Root directory of a local store, for the cleanup of temp files.
    local_root: Option<PathBuf>,
}

/// Opens the object store a location names. Adding a backend is one match arm here.
fn open_object_store(location: &BlobLocation) -> Result<(Arc<dyn ObjectStore>, Option<PathBuf>)> {
    match location {
        BlobLocation::Local(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::io(format!("cannot create blob directory {}", dir.display()), e)
            })?;
            let store = LocalFileSystem::new_with_prefix(dir)?;
            Ok((Arc::new(store), Some(dir.clone())))
        }
        #[cfg(feature = "s3")]
        BlobLocation::S3 { url, prefix } => {
            // Credentials and region come from the usual AWS_* environment variables.
            let s3 = object_store::aws::AmazonS3Builder::from_env()
                .with_url(url.as_str())
                .build()?;
            let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                Arc::new(s3)
            } else {
                Arc::new(object_store::prefix::PrefixStore::new(s3, prefix.as_str()))
            };
            Ok((store, None))
        }
        #[cfg(not(feature = "s3"))]
        BlobLocation::S3 { .. } => Err(StoreError::Config(
            "s3:// store URLs need a build with the `s3` feature (cargo build --release -p aiaas --features s3); \
             this binary stores blobs in a local directory only"
                .to_string(),
        )),
    }
}

/// True when `digest` is a SHA-256 digest as this store writes it: 64 lowercase hex characters.
pub fn is_digest(digest: &str) -> bool {
    digest.len() == 64
        && digest
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Refuses anything but a well-formed digest, so user text never reaches a storage key.
pub(crate) fn check_digest(digest: &str) -> Result<()> {
    if is_digest(digest) {
        Ok(())
    } else {
        Err(StoreError::InvalidArgument(format!(
            "{:?} is not a SHA-256 digest: expected 64 lowercase hex characters",
            digest.chars().take(80).collect::<String>()
        )))
    }
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Hashes on a blocking thread when the blob is large enough to stall the runtime.
async fn hash(bytes: &Bytes) -> Result<String> {
    if bytes.len() < HASH_OFF_RUNTIME_BYTES {
        return Ok(sha256_hex(bytes));
    }
    let bytes = bytes.clone();
    tokio::task::spawn_blocking(move || sha256_hex(&bytes))
        .await
        .map_err(|e| StoreError::io("hashing a blob", std::io::Error::other(e)))
}

/// Storage key of a blob (the digest must have been checked).
fn key(digest: &str) -> ObjectPath {
    ObjectPath::from(format!("{PREFIX}/{digest}"))
}

impl Blobs {
    /// Opens the blob store at `location` and removes stale temp files of a local store.
    pub(crate) async fn open(location: &BlobLocation) -> Result<Blobs> {
        let (store, local_root) = open_object_store(location)?;
        if local_root.is_none() {
            // Wrong credentials, a missing bucket or an unreachable endpoint: said at start, with
            // the server's answer, not at the first upload. (Listing the blob prefix, unlike
            // reading one key, fails when the bucket is missing.)
            let prefix = ObjectPath::from(PREFIX);
            if let Err(e) = store.list_with_delimiter(Some(&prefix)).await {
                return Err(StoreError::Config(format!(
                    "cannot use the blob store {location}: {e}"
                )));
            }
        }
        let blobs = Blobs { store, local_root };
        let removed = blobs.remove_stale_uploads(STALE_UPLOAD_AGE).await?;
        if removed > 0 {
            tracing::info!(removed, "removed temp files of interrupted blob uploads");
        }
        Ok(blobs)
    }

    /// Stores `bytes` under their SHA-256 and returns the hex digest. Idempotent: storing the
    /// same bytes again rewrites the same key (which also repairs a corrupted copy).
    ///
    /// A local store writes a temp file and renames it onto the key, so a crash never leaves a
    /// half-written blob visible under its key; then the file and its directory are synced, so
    /// once this returns the blob survives a power loss, and a row that names it (written after)
    /// never points at nothing.
    pub async fn put(&self, bytes: Bytes) -> Result<String> {
        let digest = hash(&bytes).await?;
        self.store.put(&key(&digest), bytes.into()).await?;
        if let Some(root) = &self.local_root {
            let dir = root.join(PREFIX);
            let file = dir.join(&digest);
            tokio::task::spawn_blocking(move || sync_file_and_dir(&file, &dir))
                .await
                .map_err(|e| StoreError::io("syncing a blob", std::io::Error::other(e)))??;
        }
        tracing::debug!(%digest, "stored blob");
        Ok(digest)
    }

    /// The digests of every stored blob (staged uploads excluded).
    pub async fn list(&self) -> Result<Vec<String>> {
        use futures_util::TryStreamExt;
        let prefix = ObjectPath::from(PREFIX);
        let objects: Vec<_> = self.store.list(Some(&prefix)).try_collect().await?;
        Ok(objects
            .into_iter()
            .filter_map(|o| o.location.filename().map(str::to_string))
            .filter(|name| is_digest(name))
            .collect())
    }

    /// Reads the blob `digest` and checks that it still hashes to `digest`.
    ///
    /// Errors: [`StoreError::NotFound`] if there is no such blob, [`StoreError::Corrupt`] if its
    /// bytes changed, [`StoreError::InvalidArgument`] for a malformed digest.
    pub async fn get(&self, digest: &str) -> Result<Bytes> {
        check_digest(digest)?;
        let key = key(digest);
        let bytes = match self.store.get(&key).await {
            Ok(result) => result.bytes().await,
            Err(e) => Err(e),
        }
        .map_err(|e| not_found_as(e, digest))?;
        let actual = hash(&bytes).await?;
        if actual != digest {
            return Err(StoreError::Corrupt {
                key: key.to_string(),
                expected: digest.to_string(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// True if a blob `digest` is stored (its content is not checked).
    pub async fn exists(&self, digest: &str) -> Result<bool> {
        check_digest(digest)?;
        match self.store.head(&key(digest)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the blob `digest`; a missing blob is not an error. Call it only for blobs that
    /// [`Store::blob_in_use`](crate::Store::blob_in_use) reports unused.
    pub async fn delete(&self, digest: &str) -> Result<()> {
        check_digest(digest)?;
        match self.store.delete(&key(digest)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes temp files of local uploads last written more than `older_than` ago and returns
    /// how many. `object_store`'s local backend stages each upload as `<key>#<n>` and renames it
    /// onto `<key>`; a crash between the two leaves the `#<n>` file behind, invisible to reads.
    /// Does nothing for remote stores.
    pub async fn remove_stale_uploads(&self, older_than: Duration) -> Result<usize> {
        let Some(root) = &self.local_root else {
            return Ok(0);
        };
        let dir = root.join(PREFIX);
        tokio::task::spawn_blocking(move || remove_stale_in(&dir, older_than))
            .await
            .map_err(|e| StoreError::io("cleaning up temp files", std::io::Error::other(e)))?
    }
}

fn not_found_as(error: object_store::Error, digest: &str) -> StoreError {
    match error {
        object_store::Error::NotFound { .. } => StoreError::NotFound(
            Resource::Blob,
            format!("blob sha256:{digest} is not in the blob store"),
        ),
        other => other.into(),
    }
}

/// Flushes `file` and then the directory entry that names it to disk.
fn sync_file_and_dir(file: &Path, dir: &Path) -> Result<()> {
    let sync = |path: &Path| {
        std::fs::File::open(path)
            .and_then(|f| f.sync_all())
            .map_err(|e| StoreError::io(format!("cannot sync {}", path.display()), e))
    };
    sync(file)?;
    sync(dir)
}

/// Is `name` a staged upload, `<anything>#<digits>`?
fn is_staged_upload(name: &str) -> bool {
    match name.rsplit_once('#') {
        Some((_, n)) => !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    }
}

fn remove_stale_in(dir: &Path, older_than: Duration) -> Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(StoreError::io(format!("cannot list {}", dir.display()), e)),
    };
    let now = SystemTime::now();
    let mut removed = 0;
    for entry in entries {
        let entry =
            entry.map_err(|e| StoreError::io(format!("cannot list {}", dir.display()), e))?;
        let name = entry.file_name();
        if !name.to_str().is_some_and(is_staged_upload) {
            continue;
        }
        let age = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| now.duration_since(modified).ok())
            .unwrap_or_default();
        if age >= older_than {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                // Another process finished or removed it first.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    let context = format!("cannot remove {}", entry.path().display());
                    return Err(StoreError::io(context, e));
                }
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_strict() {
        assert!(is_digest(&sha256_hex(b"x")));
        assert!(!is_digest(&sha256_hex(b"x").to_uppercase()));
        assert!(!is_digest("../../etc/passwd"));
        assert!(!is_digest(&"a".repeat(63)));
        assert!(check_digest("").is_err());
    }

    #[test]
    fn staged_upload_names() {
        assert!(is_staged_upload("abc#1"));
        assert!(is_staged_upload("abc#123"));
        assert!(!is_staged_upload("abc"));
        assert!(!is_staged_upload("abc#"));
        assert!(!is_staged_upload("abc#x1"));
    }
}
