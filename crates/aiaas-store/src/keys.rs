//! API keys: who they belong to, their role and limits, and the hash of their secret (never the
//! secret itself).

use crate::Store;
use crate::db::{Db, DbRow, col, name, opt_json, to_json};
use crate::error::{Result, StoreError};
use aiaas_types::{KeyId, KeyName, ModelName, Resource, Role};
use serde::Serialize;

/// A stored API key, as listed (without its hash).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KeyRecord {
    /// Its public id (what revoking and the audit log name it by).
    pub id: KeyId,
    /// What it is for.
    pub name: KeyName,
    /// What it may do.
    pub role: Role,
    /// The models a predictor key may use; absent: every model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<ModelName>>,
    /// When it was created (ms since the Unix epoch).
    pub created_at_ms: i64,
    /// When it stops working (ms since the Unix epoch); absent: never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
    /// Requests per second it may make; absent: the server's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<f64>,
}

/// A key to store: its record and the SHA-256 of its secret, as hex.
pub struct NewKey<'a> {
    /// The key.
    pub record: &'a KeyRecord,
    /// SHA-256 of the secret, as hex.
    pub secret_sha256: &'a str,
}

impl NewKey<'_> {
    /// `sql` with the key's columns bound to `$1`..`$8`, in [`COLUMNS`]' order.
    fn bound<'q>(
        &'q self,
        sql: &'q str,
        persistent: bool,
    ) -> Result<sqlx::query::Query<'q, Db, sqlx::any::AnyArguments<'q>>> {
        let r = self.record;
        let models = r.models.as_ref().map(to_json).transpose()?;
        Ok(sqlx::query(sql)
            .bind(r.id.as_str())
            .bind(r.name.as_str())
            .bind(r.role.as_str())
            .bind(models)
            .bind(r.created_at_ms)
            .bind(r.expires_at_ms)
            .bind(r.rate_limit)
            .bind(self.secret_sha256)
            .persistent(persistent))
    }
}

const COLUMNS: &str = "id, name, role, models_json, created_at_ms, expires_at_ms, rate_limit, \
                       secret_sha256";

fn key_row(row: &DbRow) -> Result<(KeyRecord, String)> {
    let role: String = col(row, "role")?;
    let record = KeyRecord {
        id: name(row, "id")?,
        name: name(row, "name")?,
        role: role
            .parse()
            .map_err(|e| StoreError::Invalid(format!("column role: {e}")))?,
        models: opt_json(row, "models_json")?,
        created_at_ms: col(row, "created_at_ms")?,
        expires_at_ms: col(row, "expires_at_ms")?,
        rate_limit: col(row, "rate_limit")?,
    };
    Ok((record, col(row, "secret_sha256")?))
}

impl Store {
    /// Stores a new key.
    pub async fn insert_key(&self, key: NewKey<'_>) -> Result<()> {
        let sql =
            format!("INSERT INTO api_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
        key.bound(&sql, self.db.cache_optional_f64())?
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    /// Stores `key` only if there is no key yet, and says whether it did: of processes that
    /// start at once on an empty database, exactly one makes the first admin key.
    pub async fn insert_first_key(&self, key: NewKey<'_>) -> Result<bool> {
        let sql = format!(
            "INSERT INTO api_keys ({COLUMNS}) SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
             WHERE NOT EXISTS (SELECT 1 FROM api_keys)"
        );
        // The write lock makes the check and the insert one step.
        let mut w = self.db.write().await?;
        let done = key
            .bound(&sql, self.db.cache_optional_f64())?
            .execute(&mut *w.tx)
            .await?;
        w.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every key with the hash of its secret, oldest first.
    pub async fn keys(&self) -> Result<Vec<(KeyRecord, String)>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM api_keys ORDER BY created_at_ms, id"
        ))
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter().map(key_row).collect()
    }

    /// Removes a key; [`StoreError::NotFound`] if there is none with that id.
    pub async fn delete_key(&self, id: &KeyId) -> Result<()> {
        let done = sqlx::query("DELETE FROM api_keys WHERE id = $1")
            .bind(id.as_str())
            .execute(&self.db.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(
                Resource::Key,
                format!("no API key with id {id:?}"),
            ));
        }
        Ok(())
    }
}
