//! API keys: creating, listing and revoking them, and checking a presented secret.
//!
//! A secret is `aiaas_` and 64 hex digits (256 random bits from the OS); the database keeps only
//! its SHA-256. This process keeps every key in memory by that hash, so checking a request costs
//! one hash and one map lookup, and a revocation or an expiry holds from the next request on.

use crate::error::ServiceError;
use crate::{Platform, now_ms};
use aiaas_store::{Change, KeyRecord, NewKey, Store};
use aiaas_types::{KeyId, KeyName, KeySpec, Role};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// How every secret starts, so that a leaked one is easy to recognise (and to scan for).
pub const KEY_PREFIX: &str = "aiaas_";
/// The file in the data directory that holds the first admin key.
pub const ADMIN_KEY_FILE: &str = "admin.key";
/// Most models one key may be scoped to.
pub const MAX_KEY_MODELS: usize = 1000;
/// Highest per-key rate a key may ask for, in requests per second.
pub const MAX_RATE_LIMIT: f64 = 1e7;

/// A key just created: its record, and its secret, which is never shown again.
#[derive(Debug)]
pub struct CreatedKey {
    pub record: KeyRecord,
    pub secret: String,
}

/// What [`Platform::ensure_admin_key`] found or made.
#[derive(Debug, PartialEq, Eq)]
pub enum AdminKey {
    /// Keys existed already (or another process made the first one at the same moment).
    Existing,
    /// The secret given is now the first admin key.
    Given,
    /// A new secret, now the first admin key, written to `path`.
    Created { secret: String, path: PathBuf },
}

/// The SHA-256 of a secret.
type Hash = [u8; 32];

fn hash_of(secret: &str) -> Hash {
    Sha256::digest(secret.as_bytes()).into()
}

/// The keys of this platform by the hash of their secret.
#[derive(Default)]
pub(crate) struct KeyRing {
    by_hash: RwLock<HashMap<Hash, Arc<KeyRecord>>>,
}

impl KeyRing {
    pub(crate) async fn load(store: &Store) -> Result<KeyRing, ServiceError> {
        let mut by_hash = HashMap::new();
        for (record, hex_hash) in store.keys().await? {
            let hash = hex::decode(&hex_hash)
                .ok()
                .and_then(|bytes| Hash::try_from(bytes).ok())
                .ok_or_else(|| {
                    ServiceError::Corrupt(format!("API key {} has a malformed hash", record.id))
                })?;
            by_hash.insert(hash, Arc::new(record));
        }
        Ok(KeyRing {
            by_hash: RwLock::new(by_hash),
        })
    }

    /// Takes `fresh`'s keys as this ring's (another process created or revoked one).
    pub(crate) fn replace(&self, fresh: KeyRing) {
        let keys = fresh.by_hash.into_inner().expect("key ring lock");
        *self.by_hash.write().expect("key ring lock") = keys;
    }
}

/// `bytes` random bytes from the operating system, as hex.
fn random_hex(bytes: usize) -> Result<String, ServiceError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)
        .map_err(|e| ServiceError::Internal(format!("no randomness from the OS: {e}")))?;
    Ok(hex::encode(buf))
}

/// A new key's record as `spec` asks, with a fresh id.
fn new_record(spec: KeySpec, now: i64) -> Result<KeyRecord, ServiceError> {
    Ok(KeyRecord {
        id: KeyId::new(random_hex(8)?).map_err(|e| ServiceError::Internal(e.to_string()))?,
        name: spec.name,
        role: spec.role,
        models: spec.models,
        created_at_ms: now,
        expires_at_ms: spec.expires_at_ms,
        rate_limit: spec.rate_limit,
    })
}

/// Checks a secret given for the first admin key (`AIAAS_ADMIN_KEY`): one that looks like the
/// keys aiaas makes, so that it is as hard to guess.
fn check_given_secret(secret: &str) -> Result<(), ServiceError> {
    let digits = secret.strip_prefix(KEY_PREFIX).unwrap_or_default();
    if digits.len() == 64 && digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(());
    }
    Err(ServiceError::Invalid(format!(
        "the admin key given must be {KEY_PREFIX} and 64 hex digits, as aiaas makes them \
         (for example {KEY_PREFIX}$(openssl rand -hex 32))"
    )))
}

fn check_spec(spec: &KeySpec, now: i64) -> Result<(), ServiceError> {
    let invalid = |m: String| Err(ServiceError::Invalid(m));
    if let Some(models) = &spec.models
        && (models.is_empty() || models.len() > MAX_KEY_MODELS)
    {
        return invalid(format!(
            "models must list 1 to {MAX_KEY_MODELS} models (leave it out for every model)"
        ));
    }
    if let Some(at) = spec.expires_at_ms
        && at <= now
    {
        return invalid(format!(
            "expires_at_ms {at} is not in the future (now is {now})"
        ));
    }
    if let Some(rate) = spec.rate_limit
        && !(rate > 0.0 && rate <= MAX_RATE_LIMIT)
    {
        return invalid(format!(
            "rate_limit {rate} must be above 0 and at most {MAX_RATE_LIMIT} requests per second"
        ));
    }
    Ok(())
}

impl Platform {
    /// Creates a key as `spec` asks; the answer holds the secret, which is stored only hashed.
    pub async fn create_key(&self, spec: KeySpec) -> Result<CreatedKey, ServiceError> {
        let now = now_ms();
        check_spec(&spec, now)?;
        let secret = format!("{KEY_PREFIX}{}", random_hex(32)?);
        let record = new_record(spec, now)?;
        let hash = hash_of(&secret);
        self.store()
            .insert_key(NewKey {
                record: &record,
                secret_sha256: &hex::encode(hash),
            })
            .await?;
        self.key_added(hash, &record);
        Ok(CreatedKey { record, secret })
    }

    fn key_added(&self, hash: Hash, record: &KeyRecord) {
        self.keys()
            .write()
            .expect("key ring lock")
            .insert(hash, Arc::new(record.clone()));
        tracing::info!(id = %record.id, name = %record.name, role = %record.role, "API key created");
        self.announce(Change::Keys);
    }

    /// Every key, oldest first (without secrets or their hashes).
    pub async fn list_keys(&self) -> Result<Vec<KeyRecord>, ServiceError> {
        let keys = self.store().keys().await?;
        Ok(keys.into_iter().map(|(record, _)| record).collect())
    }

    /// Revokes a key: from the next request on, it is refused.
    pub async fn revoke_key(&self, id: &KeyId) -> Result<(), ServiceError> {
        self.store().delete_key(id).await?;
        self.keys()
            .write()
            .expect("key ring lock")
            .retain(|_, record| record.id != *id);
        tracing::info!(%id, "API key revoked");
        self.announce(Change::Keys);
        Ok(())
    }

    /// The key whose secret is `secret`; `Unauthenticated` when there is none or it expired.
    pub fn authenticate(&self, secret: &str) -> Result<Arc<KeyRecord>, ServiceError> {
        let unknown = || {
            ServiceError::Unauthenticated(
                "this API key is not valid (revoked, or never issued); ask an admin for one".into(),
            )
        };
        if !secret.starts_with(KEY_PREFIX) {
            return Err(unknown());
        }
        let hash = hash_of(secret);
        let key = self
            .keys()
            .read()
            .expect("key ring lock")
            .get(&hash)
            .cloned()
            .ok_or_else(unknown)?;
        match key.expires_at_ms {
            Some(at) if at <= now_ms() => Err(ServiceError::Unauthenticated(format!(
                "API key {} ({}) expired at {at} ms; ask an admin for a new one",
                key.id, key.name
            ))),
            _ => Ok(key),
        }
    }

    /// On the first start (no keys yet), makes the first admin key: the secret `given`
    /// (`AIAAS_ADMIN_KEY`, for replicas that start together from one Secret), or else a new one
    /// written to `<dir>/admin.key`, readable by its owner only. Of processes that start at once
    /// on an empty shared database, one makes it and the others take it as existing.
    pub async fn ensure_admin_key(
        &self,
        dir: &Path,
        given: Option<&str>,
    ) -> Result<AdminKey, ServiceError> {
        if let Some(secret) = given {
            check_given_secret(secret)?;
        }
        if !self.keys().read().expect("key ring lock").is_empty() {
            return Ok(AdminKey::Existing);
        }
        let secret = match given {
            Some(secret) => secret.to_string(),
            None => format!("{KEY_PREFIX}{}", random_hex(32)?),
        };
        let spec = KeySpec {
            name: KeyName::new("admin").expect("a valid name"),
            role: Role::Admin,
            models: None,
            expires_at_ms: None,
            rate_limit: None,
        };
        let record = new_record(spec, now_ms())?;
        let hash = hash_of(&secret);
        let first = NewKey {
            record: &record,
            secret_sha256: &hex::encode(hash),
        };
        if !self.store().insert_first_key(first).await? {
            self.inner.keys.replace(KeyRing::load(self.store()).await?);
            return Ok(AdminKey::Existing);
        }
        self.key_added(hash, &record);
        if given.is_some() {
            return Ok(AdminKey::Given);
        }
        let path = dir.join(ADMIN_KEY_FILE);
        if let Err(e) = write_private(&path, &secret) {
            // Without the file nobody could use the key: take it back, so the next start tries
            // again.
            self.revoke_key(&record.id).await?;
            return Err(ServiceError::Internal(format!(
                "cannot write the admin key to {}: {e}",
                path.display()
            )));
        }
        Ok(AdminKey::Created { secret, path })
    }

    fn keys(&self) -> &RwLock<HashMap<Hash, Arc<KeyRecord>>> {
        &self.inner.keys.by_hash
    }
}

/// Writes `secret` to `path` whole or not at all (a temporary file renamed over it), readable
/// and writable by the owner only.
fn write_private(path: &Path, secret: &str) -> std::io::Result<()> {
    let temp = path.with_extension("key.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temp)?;
    writeln!(file, "{secret}")?;
    file.sync_all()?;
    std::fs::rename(&temp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(role: Role) -> KeySpec {
        KeySpec {
            name: KeyName::new("k").unwrap(),
            role,
            models: None,
            expires_at_ms: None,
            rate_limit: None,
        }
    }

    #[test]
    fn a_spec_is_checked_before_a_key_is_made() {
        let now = 1_000;
        assert!(check_spec(&spec(Role::Viewer), now).is_ok());
        let scoped = |role, n: usize| KeySpec {
            models: Some(
                (0..n)
                    .map(|i| aiaas_types::ModelName::new(format!("m{i}")).unwrap())
                    .collect(),
            ),
            ..spec(role)
        };
        assert!(check_spec(&scoped(Role::Predictor, 2), now).is_ok());
        assert!(check_spec(&scoped(Role::Viewer, 2), now).is_ok());
        assert!(check_spec(&scoped(Role::Predictor, 0), now).is_err());
        let expired = KeySpec {
            expires_at_ms: Some(now),
            ..spec(Role::Admin)
        };
        assert!(check_spec(&expired, now).is_err());
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let limited = KeySpec {
                rate_limit: Some(rate),
                ..spec(Role::Admin)
            };
            assert!(check_spec(&limited, now).is_err(), "{rate}");
        }
    }
}
