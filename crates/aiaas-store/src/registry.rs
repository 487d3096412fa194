//! The model registry: models, their immutable versions, aliases and tags.
//!
//! Publishing is two-phase: the caller stores and verifies the blobs, then
//! [`Store::publish_version`] inserts the version row in one transaction. The row is the commit
//! point, so a crash before it leaves unreferenced blobs but never a half-published version.

use crate::Store;
use crate::blobs::check_digest;
use crate::db::{
    Backend, DbRow, col, int, json, name, now_ms, opt_int, opt_json, opt_name, task, task_text,
    to_i64, to_json,
};
use crate::error::{Result, StoreError};
use aiaas_types::{AliasName, DatasetName, JobId, ModelName, Resource, Task, Version};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use aiaas_types::MAX_TAG_KEY_LEN;
/// Longest accepted tag value, in bytes.
pub const MAX_TAG_VALUE_LEN: usize = 4096;

/// A version to publish. Its blobs must already be stored and verified.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewVersion {
    /// Model to add the version to (created if new).
    pub model: ModelName,
    /// Task of the model; must match the model's if it already exists.
    pub task: Task,
    /// SHA-256 of `manifest.json`.
    pub manifest_digest: String,
    /// SHA-256 of `weights.safetensors`.
    pub weights_digest: String,
    /// Total size of the bundle in bytes.
    pub size_bytes: u64,
    /// Registered dataset it was trained on, if any.
    pub dataset: Option<DatasetName>,
    /// SHA-256 of the training data.
    pub dataset_digest: Option<String>,
    /// Job that produced it; a job publishes at most one version.
    pub job_id: Option<JobId>,
    /// Version it was derived from (optimized variants, retrains).
    pub parent: Option<Version>,
    /// Metrics per split, as the manifest records them.
    pub metrics: serde_json::Value,
    /// The manifest itself, so listings need no blob read.
    pub manifest: serde_json::Value,
}

/// A published version: its summary and its manifest.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionRecord {
    /// Number, lineage, digests, size and metrics.
    #[serde(flatten)]
    pub summary: VersionSummary,
    /// The manifest.
    pub manifest: serde_json::Value,
}

/// A published version without its manifest: what a model's listing shows (the manifest, with
/// the training data's profile, is read with the one version it belongs to).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionSummary {
    /// Model it belongs to.
    pub model: ModelName,
    /// Its number, 1, 2, ... in publishing order.
    pub version: Version,
    /// SHA-256 of `manifest.json`.
    pub manifest_digest: String,
    /// SHA-256 of `weights.safetensors`.
    pub weights_digest: String,
    /// Total size of the bundle in bytes.
    pub size_bytes: u64,
    /// Registered dataset it was trained on, if any.
    pub dataset: Option<DatasetName>,
    /// SHA-256 of the training data.
    pub dataset_digest: Option<String>,
    /// Job that produced it.
    pub job_id: Option<JobId>,
    /// Version it was derived from.
    pub parent: Option<Version>,
    /// Metrics per split.
    pub metrics: serde_json::Value,
    /// When it was published (ms since the Unix epoch).
    pub created_at_ms: i64,
}

/// One line of the model list.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    /// The model's name.
    pub name: ModelName,
    /// What its versions predict.
    pub task: Task,
    /// Highest version that still exists (`None` once every version was deleted).
    pub latest_version: Option<Version>,
    /// Number of versions that exist.
    pub version_count: u32,
    /// Alias name to version.
    pub aliases: BTreeMap<AliasName, Version>,
    /// When its first version was published (ms since the Unix epoch).
    pub created_at_ms: i64,
    /// Metrics of the version its `champion` alias names, if it has one: a model list can show
    /// each model's headline figure without reading every model.
    pub champion_metrics: Option<serde_json::Value>,
}

/// A model with all its versions (oldest first, without their manifests) and aliases.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    /// The model's name.
    pub name: ModelName,
    /// What its versions predict.
    pub task: Task,
    /// When its first version was published (ms since the Unix epoch).
    pub created_at_ms: i64,
    /// Versions that exist, oldest first (those of the page asked for, see [`VersionPage`]).
    pub versions: Vec<VersionSummary>,
    /// How many versions exist, in the page or not.
    pub version_count: u32,
    /// Alias name to version.
    pub aliases: BTreeMap<AliasName, Version>,
}

/// Which of a model's versions a listing holds: the newest `limit` of those numbered below
/// `before` (by default, every version).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VersionPage {
    /// Only versions numbered below this one.
    pub before: Option<Version>,
    /// At most this many, the newest.
    pub limit: Option<u32>,
}

/// The columns of a [`VersionSummary`]; a [`VersionRecord`] adds `manifest_json`.
const SUMMARY_COLUMNS: &str = "model, version, manifest_digest, weights_digest, size_bytes, \
     dataset, dataset_digest, job_id, parent, metrics_json, created_at_ms";
/// In the order `publish_version` binds them.
const VERSION_COLUMNS: &str = "model, version, manifest_digest, weights_digest, size_bytes, \
     dataset, dataset_digest, job_id, parent, metrics_json, manifest_json, created_at_ms";

fn summary_from_row(row: &DbRow) -> Result<VersionSummary> {
    Ok(VersionSummary {
        model: name(row, "model")?,
        version: int(row, "version")?,
        manifest_digest: col(row, "manifest_digest")?,
        weights_digest: col(row, "weights_digest")?,
        size_bytes: int(row, "size_bytes")?,
        dataset: opt_name(row, "dataset")?,
        dataset_digest: col(row, "dataset_digest")?,
        job_id: opt_name(row, "job_id")?,
        parent: opt_int(row, "parent")?,
        metrics: json(row, "metrics_json")?,
        created_at_ms: col(row, "created_at_ms")?,
    })
}

fn version_from_row(row: &DbRow) -> Result<VersionRecord> {
    Ok(VersionRecord {
        summary: summary_from_row(row)?,
        manifest: json(row, "manifest_json")?,
    })
}

fn alias_map(rows: &[DbRow]) -> Result<BTreeMap<AliasName, Version>> {
    rows.iter()
        .map(|row| Ok((name(row, "alias")?, int(row, "version")?)))
        .collect()
}

/// "model \"iris\" not found" or "model \"iris\" has no version 7", whichever is true.
async fn missing_version<'e, E>(executor: E, model: &ModelName, version: Version) -> StoreError
where
    E: sqlx::Executor<'e, Database = crate::db::Db>,
{
    let exists = sqlx::query("SELECT 1 FROM models WHERE name = $1")
        .bind(model.as_str())
        .fetch_optional(executor)
        .await;
    match exists {
        Ok(Some(_)) => StoreError::NotFound(
            Resource::Version,
            format!("model \"{model}\" has no version {version}"),
        ),
        Ok(None) => StoreError::NotFound(Resource::Model, format!("model \"{model}\" not found")),
        Err(e) => e.into(),
    }
}

fn check_tag(key: &str, value: &str) -> Result<()> {
    if !aiaas_types::is_tag_key(key) {
        return Err(StoreError::InvalidArgument(format!(
            "a tag key is 1 to {MAX_TAG_KEY_LEN} of A-Z a-z 0-9 _ . : -; {:?} is not",
            key.chars().take(40).collect::<String>(),
        )));
    }
    if value.len() > MAX_TAG_VALUE_LEN {
        return Err(StoreError::InvalidArgument(format!(
            "the value of tag {key:?} has {} bytes; the limit is {MAX_TAG_VALUE_LEN}",
            value.len()
        )));
    }
    Ok(())
}

/// The digests records name: versions' manifests, weights and the other files their manifests
/// list (a JSON object of name to digest, which each database walks its own way), datasets, and
/// the checkpoints of jobs that may still resume.
fn named_blobs(backend: Backend) -> String {
    let manifest_files = match backend {
        Backend::Sqlite => "json_each(versions.manifest_json, '$.files')",
        Backend::Postgres => "jsonb_each_text(versions.manifest_json::jsonb -> 'files')",
    };
    format!(
        "SELECT manifest_digest AS digest FROM versions \
         UNION ALL SELECT weights_digest FROM versions \
         UNION ALL SELECT f.value FROM versions, {manifest_files} AS f \
         UNION ALL SELECT digest FROM datasets \
         UNION ALL SELECT checkpoint_digest FROM jobs \
           WHERE checkpoint_digest IS NOT NULL AND state IN ('queued', 'running') \
         UNION ALL SELECT jobs.output_digest FROM jobs JOIN sweeps ON sweeps.id = jobs.sweep_id \
           WHERE jobs.output_digest IS NOT NULL AND sweeps.state = 'running'"
    )
}

impl Store {
    /// Publishes a version: creates the model if it is new, takes the next version number and
    /// inserts the row, all in one transaction. Version numbers are never reused, even after a
    /// version is deleted.
    ///
    /// Idempotent per job: if `new.job_id` already published a version, that version is returned
    /// and nothing is inserted (a worker may retry registration after a crash).
    /// Without a job (an import), weights the model already holds are refused with
    /// [`StoreError::Conflict`] naming that version: a copy would be a second number for one
    /// model, which is what an alias is for.
    ///
    /// [`StoreError::Conflict`] if the model exists with another task.
    pub async fn publish_version(&self, new: &NewVersion) -> Result<VersionRecord> {
        check_digest(&new.manifest_digest)?;
        check_digest(&new.weights_digest)?;
        if let Some(digest) = &new.dataset_digest {
            check_digest(digest)?;
        }
        let mut w = self.db.write().await?;

        if let Some(job_id) = &new.job_id {
            let sql = format!("SELECT {VERSION_COLUMNS} FROM versions WHERE job_id = $1");
            if let Some(row) = sqlx::query(&sql)
                .bind(job_id.as_str())
                .fetch_optional(&mut *w.tx)
                .await?
            {
                return version_from_row(&row);
            }
        }
        if new.job_id.is_none()
            && let Some(row) = sqlx::query(
                "SELECT version FROM versions WHERE model = $1 AND weights_digest = $2 \
                 ORDER BY version LIMIT 1",
            )
            .bind(new.model.as_str())
            .bind(&new.weights_digest)
            .fetch_optional(&mut *w.tx)
            .await?
        {
            let version: Version = int(&row, "version")?;
            return Err(StoreError::Conflict(format!(
                "model \"{}\" version {version} already has these weights (SHA-256 {}); \
                 nothing was registered",
                new.model, new.weights_digest
            )));
        }

        let now = now_ms();
        let model = sqlx::query("SELECT task, last_version FROM models WHERE name = $1")
            .bind(new.model.as_str())
            .fetch_optional(&mut *w.tx)
            .await?;
        let last: Version = match model {
            Some(row) => {
                let existing = task(&row, "task")?;
                if existing != new.task {
                    return Err(StoreError::Conflict(format!(
                        "model \"{}\" is a {existing} model; a {} version cannot join it \
                         (publish under another model name)",
                        new.model, new.task
                    )));
                }
                int(&row, "last_version")?
            }
            None => {
                sqlx::query(
                    "INSERT INTO models (name, task, last_version, created_at_ms) \
                     VALUES ($1, $2, 0, $3)",
                )
                .bind(new.model.as_str())
                .bind(task_text(new.task))
                .bind(now)
                .execute(&mut *w.tx)
                .await?;
                Version::new(0)
            }
        };
        let version = last.get().checked_add(1).map(Version::new).ok_or_else(|| {
            StoreError::Conflict(format!(
                "model \"{}\" has run out of version numbers",
                new.model
            ))
        })?;
        sqlx::query("UPDATE models SET last_version = $1 WHERE name = $2")
            .bind(i64::from(version))
            .bind(new.model.as_str())
            .execute(&mut *w.tx)
            .await?;

        let sql = format!(
            "INSERT INTO versions ({VERSION_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING {VERSION_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(new.model.as_str())
            .bind(i64::from(version))
            .bind(&new.manifest_digest)
            .bind(&new.weights_digest)
            .bind(to_i64(new.size_bytes, "bundle size")?)
            .bind(new.dataset.as_ref().map(DatasetName::as_str))
            .bind(new.dataset_digest.as_deref())
            .bind(new.job_id.as_ref().map(JobId::as_str))
            .bind(new.parent.map(i64::from))
            .bind(to_json(&new.metrics)?)
            .bind(to_json(&new.manifest)?)
            .bind(now)
            .fetch_one(&mut *w.tx)
            .await?;
        let record = version_from_row(&row)?;
        w.commit().await?;
        tracing::info!(model = %record.summary.model, version = %record.summary.version, "published model version");
        Ok(record)
    }

    /// All models, by name, with their latest version, version count, aliases and champion's
    /// metrics.
    pub async fn models(&self) -> Result<Vec<ModelSummary>> {
        let mut tx = self.db.read().await?;
        let rows = sqlx::query(
            "SELECT m.name, m.task, m.created_at_ms, MAX(v.version) AS latest, \
                    COUNT(v.version) AS version_count, \
                    (SELECT c.metrics_json FROM aliases a \
                     JOIN versions c ON c.model = a.model AND c.version = a.version \
                     WHERE a.model = m.name AND a.alias = 'champion') AS champion_metrics \
             FROM models m LEFT JOIN versions v ON v.model = m.name \
             GROUP BY m.name, m.task, m.created_at_ms ORDER BY m.name",
        )
        .fetch_all(&mut *tx)
        .await?;
        let alias_rows =
            sqlx::query("SELECT model, alias, version FROM aliases ORDER BY model, alias")
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;

        let mut aliases: BTreeMap<String, BTreeMap<AliasName, Version>> = BTreeMap::new();
        for row in &alias_rows {
            aliases
                .entry(col(row, "model")?)
                .or_default()
                .insert(name(row, "alias")?, int(row, "version")?);
        }
        rows.iter()
            .map(|row| {
                let model: String = col(row, "name")?;
                Ok(ModelSummary {
                    name: name(row, "name")?,
                    task: task(row, "task")?,
                    latest_version: opt_int(row, "latest")?,
                    version_count: int(row, "version_count")?,
                    aliases: aliases.remove(&model).unwrap_or_default(),
                    created_at_ms: col(row, "created_at_ms")?,
                    champion_metrics: opt_json(row, "champion_metrics")?,
                })
            })
            .collect()
    }

    /// A model with all its versions (no manifests read) and aliases, or
    /// [`StoreError::NotFound`].
    pub async fn model(&self, model: &ModelName) -> Result<ModelRecord> {
        self.model_page(model, VersionPage::default()).await
    }

    /// A model with the versions of `page` (no manifests read) and aliases, or
    /// [`StoreError::NotFound`].
    pub async fn model_page(&self, model: &ModelName, page: VersionPage) -> Result<ModelRecord> {
        let mut tx = self.db.read().await?;
        let Some(row) = sqlx::query("SELECT name, task, created_at_ms FROM models WHERE name = $1")
            .bind(model.as_str())
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Err(StoreError::NotFound(
                Resource::Model,
                format!("model \"{model}\" not found"),
            ));
        };
        // The newest of the page first, for LIMIT to keep them; put oldest first below.
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM versions WHERE model = $1 AND version < $2 \
             ORDER BY version DESC LIMIT $3"
        );
        let versions = sqlx::query(&sql)
            .bind(model.as_str())
            .bind(page.before.map_or(i64::MAX, i64::from))
            .bind(page.limit.map_or(i64::MAX, i64::from))
            .fetch_all(&mut *tx)
            .await?;
        let count = sqlx::query("SELECT COUNT(*) AS n FROM versions WHERE model = $1")
            .bind(model.as_str())
            .fetch_one(&mut *tx)
            .await?;
        let aliases =
            sqlx::query("SELECT alias, version FROM aliases WHERE model = $1 ORDER BY alias")
                .bind(model.as_str())
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(ModelRecord {
            name: name(&row, "name")?,
            task: task(&row, "task")?,
            created_at_ms: col(&row, "created_at_ms")?,
            versions: versions
                .iter()
                .rev()
                .map(summary_from_row)
                .collect::<Result<_>>()?,
            version_count: int(&count, "n")?,
            aliases: alias_map(&aliases)?,
        })
    }

    /// One version, or [`StoreError::NotFound`] naming what is missing.
    pub async fn version(&self, model: &ModelName, version: Version) -> Result<VersionRecord> {
        let sql =
            format!("SELECT {VERSION_COLUMNS} FROM versions WHERE model = $1 AND version = $2");
        let row = sqlx::query(&sql)
            .bind(model.as_str())
            .bind(i64::from(version))
            .fetch_optional(&self.db.pool)
            .await?;
        match row {
            Some(row) => version_from_row(&row),
            None => Err(missing_version(&self.db.pool, model, version).await),
        }
    }

    /// The version `reference` names: a version number (`"3"`) or an alias (`"champion"`).
    pub async fn resolve(&self, model: &ModelName, reference: &str) -> Result<VersionRecord> {
        if let Some(version) = aiaas_types::parse_version(reference) {
            return self.version(model, version).await;
        }
        let not_found = || {
            StoreError::NotFound(
                Resource::Version,
                format!(
                    "model \"{model}\" has no version or alias \"{}\"",
                    reference.chars().take(80).collect::<String>()
                ),
            )
        };
        let alias = AliasName::new(reference).map_err(|_| not_found())?;
        let sql = format!(
            "SELECT {} FROM versions v JOIN aliases a ON a.model = v.model AND a.version = v.version \
             WHERE a.model = $1 AND a.alias = $2",
            VERSION_COLUMNS
                .split(", ")
                .map(|c| format!("v.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let row = sqlx::query(&sql)
            .bind(model.as_str())
            .bind(alias.as_str())
            .fetch_optional(&self.db.pool)
            .await?;
        match row {
            Some(row) => version_from_row(&row),
            None => {
                let model_exists = sqlx::query("SELECT 1 FROM models WHERE name = $1")
                    .bind(model.as_str())
                    .fetch_optional(&self.db.pool)
                    .await?;
                match model_exists {
                    Some(_) => Err(not_found()),
                    None => Err(StoreError::NotFound(
                        Resource::Model,
                        format!("model \"{model}\" not found"),
                    )),
                }
            }
        }
    }

    /// Points `alias` at `version`, creating or moving it (one row upsert).
    ///
    /// [`StoreError::NotFound`] if the version does not exist; [`StoreError::InvalidArgument`] for
    /// an alias that does not start with a letter (it could read as a version number).
    pub async fn set_alias(
        &self,
        model: &ModelName,
        alias: &AliasName,
        version: Version,
    ) -> Result<()> {
        if !aiaas_types::is_alias(alias) {
            return Err(StoreError::InvalidArgument(format!(
                "alias \"{alias}\" does not start with a letter; an alias must, so that it never \
                 reads as a version number"
            )));
        }
        // The SELECT makes it a no-op when the version is missing (the foreign key would refuse
        // it anyway, with a less useful message).
        let done = sqlx::query(
            "INSERT INTO aliases (model, alias, version, updated_at_ms) \
             SELECT $1, $2, $3, $4 FROM versions WHERE model = $1 AND version = $3 \
             ON CONFLICT (model, alias) DO UPDATE \
             SET version = excluded.version, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(model.as_str())
        .bind(alias.as_str())
        .bind(i64::from(version))
        .bind(now_ms())
        .execute(&self.db.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(missing_version(&self.db.pool, model, version).await);
        }
        tracing::info!(model = %model, %alias, %version, "alias set");
        Ok(())
    }

    /// Removes an alias; [`StoreError::NotFound`] if it does not exist.
    pub async fn delete_alias(&self, model: &ModelName, alias: &AliasName) -> Result<()> {
        let done = sqlx::query("DELETE FROM aliases WHERE model = $1 AND alias = $2")
            .bind(model.as_str())
            .bind(alias.as_str())
            .execute(&self.db.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(
                Resource::Alias,
                format!("model \"{model}\" has no alias \"{alias}\""),
            ));
        }
        Ok(())
    }

    /// Deletes a version's row (and its tags) and returns it; the caller then deletes its blobs
    /// that [`Store::blob_in_use`] reports unused. The model row stays, so its version numbers
    /// are not reused.
    ///
    /// [`StoreError::Conflict`] while an alias points at the version.
    pub async fn delete_version(
        &self,
        model: &ModelName,
        version: Version,
    ) -> Result<VersionRecord> {
        let mut w = self.db.write().await?;
        let sql =
            format!("SELECT {VERSION_COLUMNS} FROM versions WHERE model = $1 AND version = $2");
        let Some(row) = sqlx::query(&sql)
            .bind(model.as_str())
            .bind(i64::from(version))
            .fetch_optional(&mut *w.tx)
            .await?
        else {
            return Err(missing_version(&mut *w.tx, model, version).await);
        };
        let record = version_from_row(&row)?;
        let aliases = sqlx::query(
            "SELECT alias FROM aliases WHERE model = $1 AND version = $2 ORDER BY alias",
        )
        .bind(model.as_str())
        .bind(i64::from(version))
        .fetch_all(&mut *w.tx)
        .await?;
        if !aliases.is_empty() {
            let names: Vec<String> = aliases
                .iter()
                .map(|row| col::<String>(row, "alias").map(|a| format!("\"{a}\"")))
                .collect::<Result<_>>()?;
            return Err(StoreError::Conflict(format!(
                "version {version} of model \"{model}\" is the target of alias {}; move or delete \
                 the alias first",
                names.join(", ")
            )));
        }
        sqlx::query("DELETE FROM versions WHERE model = $1 AND version = $2")
            .bind(model.as_str())
            .bind(i64::from(version))
            .execute(&mut *w.tx)
            .await?;
        w.commit().await?;
        tracing::info!(model = %model, %version, "deleted model version");
        Ok(record)
    }

    /// True if a version (manifest or weights), a dataset or the checkpoint of an unfinished job
    /// still refers to blob `digest`. Blobs are shared by content, so check this before deleting.
    pub async fn blob_in_use(&self, digest: &str) -> Result<bool> {
        check_digest(digest)?;
        let sql = format!(
            "SELECT 1 FROM ({}) AS named WHERE digest = $1 LIMIT 1",
            named_blobs(self.db.backend)
        );
        let row = sqlx::query(&sql)
            .bind(digest)
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Every blob digest a record refers to (as [`Store::blob_in_use`] counts them), in one
    /// query: what a sweep of the blob store keeps.
    pub async fn blobs_in_use(&self) -> Result<std::collections::HashSet<String>> {
        let sql = named_blobs(self.db.backend);
        let rows = sqlx::query(&sql).fetch_all(&self.db.pool).await?;
        rows.iter()
            .map(|row| col::<String>(row, "digest"))
            .collect()
    }

    /// Sets (or replaces) tag `key` of a version.
    pub async fn set_tag(
        &self,
        model: &ModelName,
        version: Version,
        key: &str,
        value: &str,
    ) -> Result<()> {
        check_tag(key, value)?;
        let done = sqlx::query(
            "INSERT INTO tags (model, version, key, value) \
             SELECT $1, $2, $3, $4 FROM versions WHERE model = $1 AND version = $2 \
             ON CONFLICT (model, version, key) DO UPDATE SET value = excluded.value",
        )
        .bind(model.as_str())
        .bind(i64::from(version))
        .bind(key)
        .bind(value)
        .execute(&self.db.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(missing_version(&self.db.pool, model, version).await);
        }
        Ok(())
    }

    /// Removes tag `key` of a version; a missing tag is not an error.
    pub async fn delete_tag(&self, model: &ModelName, version: Version, key: &str) -> Result<()> {
        check_tag(key, "")?;
        sqlx::query("DELETE FROM tags WHERE model = $1 AND version = $2 AND key = $3")
            .bind(model.as_str())
            .bind(i64::from(version))
            .bind(key)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    /// Every version that has tag `key` set to `value`, by model and version: one query for the
    /// whole registry (the serving pool's pinned versions at start).
    pub async fn tagged(&self, key: &str, value: &str) -> Result<Vec<(ModelName, Version)>> {
        let rows = sqlx::query(
            "SELECT model, version FROM tags WHERE key = $1 AND value = $2 ORDER BY model, version",
        )
        .bind(key)
        .bind(value)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((name(row, "model")?, int(row, "version")?)))
            .collect()
    }

    /// The tags of a version, by key; [`StoreError::NotFound`] if the version does not exist.
    pub async fn tags(
        &self,
        model: &ModelName,
        version: Version,
    ) -> Result<BTreeMap<String, String>> {
        let mut tx = self.db.read().await?;
        let exists = sqlx::query("SELECT 1 FROM versions WHERE model = $1 AND version = $2")
            .bind(model.as_str())
            .bind(i64::from(version))
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(missing_version(&mut *tx, model, version).await);
        }
        let rows = sqlx::query(
            "SELECT key, value FROM tags WHERE model = $1 AND version = $2 ORDER BY key",
        )
        .bind(model.as_str())
        .bind(i64::from(version))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|row| Ok((col(row, "key")?, col(row, "value")?)))
            .collect()
    }
}
