//! Registered datasets: the metadata row of a dataset whose CSV bytes are a blob. Schema and
//! profile are JSON documents the store keeps without reading them.

use crate::Store;
use crate::blobs::check_digest;
use crate::db::{DbRow, col, int, json, name, now_ms, task, task_text, to_i64, to_json};
use crate::error::{Result, StoreError};
use aiaas_types::{DatasetName, Resource, Task};
use serde::{Deserialize, Serialize};

/// A dataset to register. Its bytes must already be stored as blob `digest`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewDataset {
    /// Name to register it under.
    pub name: DatasetName,
    /// SHA-256 of the CSV bytes (the blob).
    pub digest: String,
    /// Name of the target column.
    pub target: String,
    /// What a model trained on it predicts.
    pub task: Task,
    /// Data rows (without the header).
    pub rows: u64,
    /// Size of the blob in bytes.
    pub size_bytes: u64,
    /// Columns and their types.
    pub schema: serde_json::Value,
    /// Per-feature profile, the drift reference.
    pub profile: serde_json::Value,
}

/// A registered dataset.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetRecord {
    /// Its name.
    pub name: DatasetName,
    /// SHA-256 of the CSV bytes (the blob).
    pub digest: String,
    /// Name of the target column.
    pub target: String,
    /// What a model trained on it predicts.
    pub task: Task,
    /// Data rows (without the header).
    pub rows: u64,
    /// Size of the blob in bytes.
    pub size_bytes: u64,
    /// Columns and their types, as registered.
    pub schema: serde_json::Value,
    /// Per-feature profile, as registered.
    pub profile: serde_json::Value,
    /// When it was registered (ms since the Unix epoch).
    pub created_at_ms: i64,
}

const COLUMNS: &str =
    "name, digest, target, task, rows, size_bytes, schema_json, profile_json, created_at_ms";

fn from_row(row: &DbRow) -> Result<DatasetRecord> {
    Ok(DatasetRecord {
        name: name(row, "name")?,
        digest: col(row, "digest")?,
        target: col(row, "target")?,
        task: task(row, "task")?,
        rows: int(row, "rows")?,
        size_bytes: int(row, "size_bytes")?,
        schema: json(row, "schema_json")?,
        profile: json(row, "profile_json")?,
        created_at_ms: col(row, "created_at_ms")?,
    })
}

impl Store {
    /// Registers a dataset. [`StoreError::Conflict`] if the name is taken.
    pub async fn insert_dataset(&self, new: &NewDataset) -> Result<DatasetRecord> {
        check_digest(&new.digest)?;
        let sql = format!(
            "INSERT INTO datasets ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             RETURNING {COLUMNS}"
        );
        let result = sqlx::query(&sql)
            .bind(new.name.as_str())
            .bind(&new.digest)
            .bind(&new.target)
            .bind(task_text(new.task))
            .bind(to_i64(new.rows, "row count")?)
            .bind(to_i64(new.size_bytes, "dataset size")?)
            .bind(to_json(&new.schema)?)
            .bind(to_json(&new.profile)?)
            .bind(now_ms())
            .fetch_one(&self.db.pool)
            .await;
        match result {
            Ok(row) => from_row(&row),
            Err(e) if crate::db::is_unique_violation(&e) => Err(StoreError::Conflict(format!(
                "dataset \"{}\" already exists; delete it first or choose another name",
                new.name
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// The dataset `name`, or [`StoreError::NotFound`].
    pub async fn dataset(&self, name: &DatasetName) -> Result<DatasetRecord> {
        let sql = format!("SELECT {COLUMNS} FROM datasets WHERE name = $1");
        let row = sqlx::query(&sql)
            .bind(name.as_str())
            .fetch_optional(&self.db.pool)
            .await?;
        match row {
            Some(row) => from_row(&row),
            None => Err(StoreError::NotFound(
                Resource::Dataset,
                format!("dataset \"{name}\" not found"),
            )),
        }
    }

    /// All datasets, by name.
    pub async fn datasets(&self) -> Result<Vec<DatasetRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM datasets ORDER BY name");
        let rows = sqlx::query(&sql).fetch_all(&self.db.pool).await?;
        rows.iter().map(from_row).collect()
    }

    /// Removes a dataset's row and returns it (the caller then deletes the blob if
    /// [`Store::blob_in_use`] says nothing else uses it).
    ///
    /// [`StoreError::Conflict`] while a model version was trained on it or a queued or running
    /// job will read it.
    pub async fn delete_dataset(&self, name: &DatasetName) -> Result<DatasetRecord> {
        let mut w = self.db.write().await?;
        let sql = format!("SELECT {COLUMNS} FROM datasets WHERE name = $1");
        let Some(row) = sqlx::query(&sql)
            .bind(name.as_str())
            .fetch_optional(&mut *w.tx)
            .await?
        else {
            return Err(StoreError::NotFound(
                Resource::Dataset,
                format!("dataset \"{name}\" not found"),
            ));
        };
        let record = from_row(&row)?;

        let users = sqlx::query(
            "SELECT model, version FROM versions WHERE dataset = $1 ORDER BY model, version",
        )
        .bind(name.as_str())
        .fetch_all(&mut *w.tx)
        .await?;
        if !users.is_empty() {
            let mut listed = Vec::new();
            for row in users.iter().take(10) {
                let model: String = col(row, "model")?;
                let version: i64 = col(row, "version")?;
                listed.push(format!("{model} v{version}"));
            }
            let more = users.len().saturating_sub(listed.len());
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            return Err(StoreError::Conflict(format!(
                "dataset \"{name}\" is the training data of model version(s) {}{more}; \
                 delete those versions first",
                listed.join(", ")
            )));
        }

        let jobs = sqlx::query(
            "SELECT id FROM jobs WHERE dataset = $1 AND state IN ('queued', 'running') \
             ORDER BY created_at_ms, id",
        )
        .bind(name.as_str())
        .fetch_all(&mut *w.tx)
        .await?;
        if !jobs.is_empty() {
            let ids: Vec<String> = jobs
                .iter()
                .map(|row| col::<String>(row, "id"))
                .collect::<Result<_>>()?;
            return Err(StoreError::Conflict(format!(
                "dataset \"{name}\" is used by unfinished job(s) {}; wait for them or cancel them first",
                ids.join(", ")
            )));
        }

        sqlx::query("DELETE FROM datasets WHERE name = $1")
            .bind(name.as_str())
            .execute(&mut *w.tx)
            .await?;
        w.commit().await?;
        Ok(record)
    }
}
