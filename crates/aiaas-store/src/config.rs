//! [`StoreConfig`]: where the metadata database and the blobs live, and the parsing of those
//! locations into the backends this build supports.

use crate::error::{Result, StoreError};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

/// Where the store keeps its data.
///
/// With the defaults everything lives under `./aiaas-data`: the SQLite database `aiaas.db` and
/// the blobs under `blobs/sha256/`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Local directory for the default database and blob locations (created if missing).
    pub data_dir: PathBuf,
    /// Metadata database URL: `sqlite:` (default `sqlite://<data_dir>/aiaas.db`) or
    /// `postgres://user:password@host:port/database`.
    pub database_url: Option<String>,
    /// Blob store location: a local path or `file://` URL; default `<data_dir>`; or
    /// `s3://bucket/prefix` (the `s3` feature, on by default).
    pub store_url: Option<String>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            data_dir: PathBuf::from("./aiaas-data"),
            database_url: None,
            store_url: None,
        }
    }
}

impl StoreConfig {
    /// A configuration with everything under `data_dir`.
    pub fn in_dir(data_dir: impl Into<PathBuf>) -> Self {
        StoreConfig {
            data_dir: data_dir.into(),
            ..StoreConfig::default()
        }
    }

    /// Checks that both URLs name backends this build supports, without opening anything.
    pub fn validate(&self) -> Result<()> {
        self.database()?;
        self.blob_location()?;
        Ok(())
    }

    /// Whether the database is one several processes can share (PostgreSQL), as opposed to a
    /// SQLite file, which one server owns.
    pub fn shared_database(&self) -> bool {
        matches!(self.database(), Ok(DatabaseLocation::Postgres(_)))
    }

    /// The database this configuration names.
    pub(crate) fn database(&self) -> Result<DatabaseLocation> {
        let Some(url) = self.database_url.as_deref() else {
            return Ok(DatabaseLocation::SqliteFile(self.data_dir.join("aiaas.db")));
        };
        if url.starts_with("sqlite:") {
            Ok(DatabaseLocation::SqliteUrl(url.to_string()))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseLocation::Postgres(url.to_string()))
        } else {
            Err(StoreError::Config(format!(
                "database_url {}: unsupported database; use a sqlite: URL such as \
                 sqlite:///var/lib/aiaas/aiaas.db, a postgres://user:password@host/database URL, \
                 or leave it unset for <data_dir>/aiaas.db",
                redact_url(url)
            )))
        }
    }

    /// The blob store this configuration names.
    pub(crate) fn blob_location(&self) -> Result<BlobLocation> {
        let Some(url) = self.store_url.as_deref() else {
            return Ok(BlobLocation::Local(self.data_dir.clone()));
        };
        match url.split_once("://") {
            None => Ok(BlobLocation::Local(PathBuf::from(url))),
            Some(("file", path)) => {
                if !path.starts_with('/') {
                    return Err(StoreError::Config(format!(
                        "store_url {url:?}: a file:// URL needs an absolute path \
                         (file:///var/lib/aiaas); use a plain path for a relative directory"
                    )));
                }
                Ok(BlobLocation::Local(PathBuf::from(path)))
            }
            Some(("s3", rest)) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(StoreError::Config(format!(
                        "store_url {url:?}: name a bucket, as in s3://bucket/prefix"
                    )));
                }
                Ok(BlobLocation::S3 {
                    url: url.to_string(),
                    prefix: prefix.trim_matches('/').to_string(),
                })
            }
            Some((scheme, _)) => Err(StoreError::Config(format!(
                "store_url {}: unsupported scheme {scheme:?}; use a local path, a file:// URL \
                 or (with the `s3` feature) an s3:// URL",
                redact_url(url)
            ))),
        }
    }
}

impl fmt::Debug for StoreConfig {
    /// Hides passwords in the URLs, so the effective configuration can be logged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("store_url", &self.store_url.as_deref().map(redact_url))
            .finish()
    }
}

/// A parsed database location.
#[derive(Debug)]
pub(crate) enum DatabaseLocation {
    /// The default: a file path, used as is (no URL parsing of odd characters).
    SqliteFile(PathBuf),
    /// A `sqlite:` URL given by the user.
    SqliteUrl(String),
    /// A `postgres://` (or `postgresql://`) URL.
    Postgres(String),
}

/// A parsed blob store location.
#[derive(Debug)]
pub(crate) enum BlobLocation {
    /// A local directory.
    Local(PathBuf),
    /// An S3 bucket and a key prefix inside it.
    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    S3 { url: String, prefix: String },
}

/// Where the records are, for the log: a path, or a URL with its password hidden.
impl fmt::Display for DatabaseLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseLocation::SqliteFile(path) => write!(f, "SQLite {}", path.display()),
            DatabaseLocation::SqliteUrl(url) => write!(f, "SQLite {}", redact_url(url)),
            DatabaseLocation::Postgres(url) => write!(f, "PostgreSQL {}", redact_url(url)),
        }
    }
}

/// Where the blobs are, for the log.
impl fmt::Display for BlobLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobLocation::Local(path) => write!(f, "{}", path.display()),
            BlobLocation::S3 { url, .. } => write!(f, "{}", redact_url(url)),
        }
    }
}

/// `scheme://user:secret@host` becomes `scheme://user:***@host`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}{tail}")
            } else {
                url.to_string()
            }
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact_url("postgres://aiaas:hunter2@db:5432/aiaas"),
            "postgres://aiaas:***@db:5432/aiaas"
        );
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
        let config = StoreConfig {
            database_url: Some("postgres://u:pw@h/d".into()),
            ..StoreConfig::default()
        };
        assert!(!format!("{config:?}").contains("pw"));
    }

    #[test]
    fn urls_are_classified() {
        let mut config = StoreConfig::in_dir("/tmp/x");
        assert!(matches!(
            config.blob_location().unwrap(),
            BlobLocation::Local(p) if p == std::path::Path::new("/tmp/x")
        ));
        config.store_url = Some("file:///srv/blobs".into());
        assert!(matches!(
            config.blob_location().unwrap(),
            BlobLocation::Local(p) if p == std::path::Path::new("/srv/blobs")
        ));
        config.store_url = Some("s3://bucket/some/prefix/".into());
        assert!(matches!(
            config.blob_location().unwrap(),
            BlobLocation::S3 { prefix, .. } if prefix == "some/prefix"
        ));
        config.store_url = Some("gs://bucket".into());
        assert!(matches!(config.validate(), Err(StoreError::Config(_))));
        config.store_url = None;
        config.database_url = Some("postgres://h/d".into());
        assert!(matches!(
            config.database().unwrap(),
            DatabaseLocation::Postgres(url) if url == "postgres://h/d"
        ));
        config.database_url = Some("mysql://h/d".into());
        assert!(matches!(config.validate(), Err(StoreError::Config(_))));
    }
}
