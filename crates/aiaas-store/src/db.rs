//! The metadata database: connection pool, embedded migrations, write transactions and the small
//! conversions every table module shares.
//!
//! All queries are runtime `sqlx::query` strings with `$1` placeholders, written to run on both
//! SQLite and PostgreSQL. Only this module knows the database is SQLite: a `postgres` feature
//! would add a second pool type, `migrations/postgres/`, and its own `BEGIN` statement here.

use crate::config::DatabaseLocation;
use crate::error::{Result, StoreError};
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, Transaction};
use std::borrow::Cow;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// The database backend of this build.
pub(crate) type Db = Sqlite;
/// A pool of connections to it.
pub(crate) type Pool = sqlx::Pool<Db>;
/// A row it returns.
pub(crate) type DbRow = sqlx::sqlite::SqliteRow;

/// Bytes the write-ahead log keeps after a checkpoint.
const WAL_SIZE_LIMIT: u64 = 64 << 20;

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Starts a transaction that takes SQLite's write lock at once. A plain (deferred) `BEGIN` that
/// reads and then writes can fail with "database is locked" when another writer got in between,
/// and SQLite's busy timeout does not help there; `BEGIN IMMEDIATE` waits for the lock instead.
/// (PostgreSQL: plain `BEGIN`, with row locks in the queries.)
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// The SQLite schema migrations, compiled into the binary. PostgreSQL's will live in
/// `migrations/postgres/` with the same numbers.
const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "predictions",
        include_str!("../migrations/sqlite/0002_predictions.sql"),
    ),
    (
        3,
        "monitoring",
        include_str!("../migrations/sqlite/0003_monitoring.sql"),
    ),
    (
        4,
        "keys",
        include_str!("../migrations/sqlite/0004_keys.sql"),
    ),
    (
        5,
        "audit",
        include_str!("../migrations/sqlite/0005_audit.sql"),
    ),
    (
        6,
        "logging",
        include_str!("../migrations/sqlite/0006_logging.sql"),
    ),
];

/// A [`MigrationSource`] over migrations embedded with `include_str!` (sqlx's `migrate!` macro
/// would need the `macros` feature).
#[derive(Debug)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        let migrations = self
            .0
            .iter()
            .map(|&(version, description, sql)| {
                // The checksum covers the text: a checkout with CRLF line ends must not make an
                // existing database look modified.
                let sql = sql.replace("\r\n", "\n");
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    Cow::Owned(sql),
                    false,
                )
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}

/// The database half of the store.
#[derive(Clone, Debug)]
pub(crate) struct Database {
    pub(crate) pool: Pool,
    /// Serializes this process's write transactions, so they queue in order here instead of
    /// polling SQLite's busy handler. Other processes are kept out by `BEGIN IMMEDIATE`.
    write_gate: Arc<Mutex<()>>,
}

/// A write transaction: holds the database write lock (and this process's write gate) until it
/// is committed or dropped (dropping rolls back).
pub(crate) struct WriteTx {
    // Field order matters: the transaction ends before the gate opens.
    pub(crate) tx: Transaction<'static, Db>,
    _gate: OwnedMutexGuard<()>,
}

impl WriteTx {
    pub(crate) async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

impl Database {
    /// Opens (creating if missing) the database and brings its schema up to date.
    pub(crate) async fn open(location: &DatabaseLocation) -> Result<Database> {
        let options = match location {
            DatabaseLocation::SqliteFile(path) => SqliteConnectOptions::new().filename(path),
            DatabaseLocation::SqliteUrl(url) => SqliteConnectOptions::from_str(url)?,
        }
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // With WAL, NORMAL survives a process crash (kill -9); only a power loss can drop the
        // last commits, and never corrupts the database.
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
        // After a checkpoint the write-ahead log is cut back to this size, so a burst of writes
        // does not leave a large file behind.
        .pragma("journal_size_limit", WAL_SIZE_LIMIT.to_string())
        // Deleted rows are overwritten, not only unlinked: an erased prediction must not stay
        // readable in the file's free pages.
        .pragma("secure_delete", "ON");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        let migrator = Migrator::new(Embedded(SQLITE_MIGRATIONS)).await?;
        migrator.run(&pool).await?;
        Ok(Database {
            pool,
            write_gate: Arc::new(Mutex::new(())),
        })
    }

    /// Begins a transaction that may read and then write.
    pub(crate) async fn write(&self) -> Result<WriteTx> {
        let gate = self.write_gate.clone().lock_owned().await;
        let tx = self.pool.begin_with(BEGIN_WRITE).await?;
        Ok(WriteTx { tx, _gate: gate })
    }

    /// Begins a read-only transaction: one consistent snapshot for several queries.
    pub(crate) async fn read(&self) -> Result<Transaction<'static, Db>> {
        Ok(self.pool.begin().await?)
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// True if `error` is a unique-key violation (a name or id already taken).
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

/// Reads a column, naming it in the error.
pub(crate) fn col<'r, T>(row: &'r DbRow, name: &str) -> Result<T>
where
    T: sqlx::Decode<'r, Db> + sqlx::Type<Db>,
{
    use sqlx::Row;
    row.try_get(name).map_err(StoreError::Database)
}

/// A stored integer that must fit `T` (a version, a count, a size).
pub(crate) fn int<T: TryFrom<i64>>(row: &DbRow, name: &str) -> Result<T> {
    let value: i64 = col(row, name)?;
    T::try_from(value)
        .map_err(|_| StoreError::Invalid(format!("column {name} holds {value}, out of range")))
}

/// A nullable stored integer that must fit `T`.
pub(crate) fn opt_int<T: TryFrom<i64>>(row: &DbRow, name: &str) -> Result<Option<T>> {
    let value: Option<i64> = col(row, name)?;
    value
        .map(|v| {
            T::try_from(v)
                .map_err(|_| StoreError::Invalid(format!("column {name} holds {v}, out of range")))
        })
        .transpose()
}

/// A stored name or id (`ModelName`, `JobId`, ...), checked again on the way out.
pub(crate) fn name<T>(row: &DbRow, column: &str) -> Result<T>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let text: String = col(row, column)?;
    text.parse()
        .map_err(|e| StoreError::Invalid(format!("column {column}: {e}")))
}

/// A nullable stored name or id.
pub(crate) fn opt_name<T>(row: &DbRow, column: &str) -> Result<Option<T>>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let text: Option<String> = col(row, column)?;
    text.map(|t| {
        t.parse()
            .map_err(|e| StoreError::Invalid(format!("column {column}: {e}")))
    })
    .transpose()
}

/// A stored JSON document.
pub(crate) fn json<T: DeserializeOwned>(row: &DbRow, column: &str) -> Result<T> {
    let text: String = col(row, column)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Invalid(format!("column {column}: {e}")))
}

/// A nullable stored JSON document.
pub(crate) fn opt_json<T: DeserializeOwned>(row: &DbRow, column: &str) -> Result<Option<T>> {
    let text: Option<String> = col(row, column)?;
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| StoreError::Invalid(format!("column {column}: {e}")))
    })
    .transpose()
}

/// A value as JSON text for a `*_json` column.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Invalid(format!("cannot encode as JSON: {e}")))
}

/// An unsigned size or count as a database integer.
pub(crate) fn to_i64(value: u64, what: &str) -> Result<i64> {
    i64::try_from(value)
        .map_err(|_| StoreError::InvalidArgument(format!("{what} {value} is too large")))
}

/// The `Task` enum as stored text, and back.
pub(crate) fn task_text(task: aiaas_types::Task) -> String {
    task.to_string()
}

/// A stored task.
pub(crate) fn task(row: &DbRow, column: &str) -> Result<aiaas_types::Task> {
    let text: String = col(row, column)?;
    serde_json::from_value(serde_json::Value::String(text.clone()))
        .map_err(|_| StoreError::Invalid(format!("column {column}: unknown task {text:?}")))
}
