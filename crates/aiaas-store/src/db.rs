//! The metadata database: connection pool, embedded migrations, write transactions and the small
//! conversions every table module shares.
//!
//! One pool type serves both databases: sqlx's `Any` driver picks SQLite or PostgreSQL from the
//! URL at start-up. All queries are runtime `sqlx::query` strings with `$1` placeholders and
//! portable SQL; the few statements that differ ask [`Database::backend`]. Schema conventions
//! that keep the two in step (TEXT ids, INTEGER/BIGINT milliseconds, JSON as TEXT) are in
//! `migrations/sqlite/0001_init.sql`.

use crate::config::{DatabaseLocation, redact_url};
use crate::error::{Result, StoreError};
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Transaction};
use std::borrow::Cow;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// The database driver: `Any`, which dispatches to SQLite or PostgreSQL.
pub(crate) type Db = sqlx::Any;
/// A pool of connections to it.
pub(crate) type Pool = sqlx::Pool<Db>;
/// A row it returns.
pub(crate) type DbRow = sqlx::any::AnyRow;

/// Which database the store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    /// One file, one writer at a time, one server process.
    Sqlite,
    /// A server shared by any number of replicas and workers.
    Postgres,
}

/// Set on every SQLite connection. With WAL, `synchronous = NORMAL` survives a process crash
/// (kill -9); only a power loss can drop the last commits, and never corrupts the database.
/// After a checkpoint the write-ahead log is cut back to 64 MiB, so a burst of writes does not
/// leave a large file behind. `secure_delete`: deleted rows are overwritten, not only unlinked,
/// so an erased prediction does not stay readable in the file's free pages. A statement waits
/// up to 5 s for another connection's write lock before failing.
const SQLITE_SETUP: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; \
     PRAGMA journal_size_limit = 67108864; PRAGMA secure_delete = ON;";

/// Starts a SQLite transaction that takes the write lock at once. A plain (deferred) `BEGIN`
/// that reads and then writes can fail with "database is locked" when another writer got in
/// between, and the busy timeout does not help there; `BEGIN IMMEDIATE` waits for the lock.
const SQLITE_BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// How long opening the store waits for a PostgreSQL server that refuses connections (one
/// still starting, as in a Kubernetes rollout) before giving up.
const POSTGRES_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// PostgreSQL's read transactions see one snapshot for all their queries, as SQLite's do.
const POSTGRES_BEGIN_READ: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

/// The key of the transaction-level advisory lock that PostgreSQL write transactions take
/// first: read-then-write transactions (next version number, alias moves, job state changes)
/// then run one at a time across every replica, as they do on SQLite, without retry loops.
/// Job claims (`FOR UPDATE SKIP LOCKED`) and batched appends do not take it.
const POSTGRES_WRITE_LOCK: i64 = 0x6169_6161_7300_0001;

/// The migrations of one database, compiled into the binary: the same numbers and names for
/// both, each database's SQL in its own directory.
macro_rules! migrations {
    ($dir:literal) => {
        &[
            (
                1,
                "init",
                include_str!(concat!("../migrations/", $dir, "/0001_init.sql")),
            ),
            (
                2,
                "predictions",
                include_str!(concat!("../migrations/", $dir, "/0002_predictions.sql")),
            ),
            (
                3,
                "monitoring",
                include_str!(concat!("../migrations/", $dir, "/0003_monitoring.sql")),
            ),
            (
                4,
                "keys",
                include_str!(concat!("../migrations/", $dir, "/0004_keys.sql")),
            ),
            (
                5,
                "audit",
                include_str!(concat!("../migrations/", $dir, "/0005_audit.sql")),
            ),
            (
                6,
                "logging",
                include_str!(concat!("../migrations/", $dir, "/0006_logging.sql")),
            ),
            (
                7,
                "sweeps",
                include_str!(concat!("../migrations/", $dir, "/0007_sweeps.sql")),
            ),
        ]
    };
}

const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = migrations!("sqlite");
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = migrations!("postgres");

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
#[derive(Clone)]
pub(crate) struct Database {
    pub(crate) pool: Pool,
    pub(crate) backend: Backend,
    /// Tells this store's announcements to other processes apart from theirs.
    pub(crate) origin: u64,
    /// Serializes this process's write transactions, so they queue in order here instead of
    /// polling SQLite's busy handler (or holding pooled connections while they wait for
    /// PostgreSQL's write lock). Other processes are kept out by the database's own lock.
    write_gate: Arc<Mutex<()>>,
}

/// Names the backend, never the URL (it may hold a password).
impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// A write transaction: holds the database write lock (and this process's write gate) until it
/// is committed or dropped (dropping rolls back).
pub(crate) struct WriteTx {
    // Field order matters: the transaction ends before the gate opens.
    pub(crate) tx: Transaction<'static, Db>,
    _gate: Option<OwnedMutexGuard<()>>,
}

impl WriteTx {
    pub(crate) async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

impl Database {
    /// Opens (creating a SQLite file if missing) the database and brings its schema up to date.
    pub(crate) async fn open(location: &DatabaseLocation) -> Result<Database> {
        sqlx::any::install_default_drivers();
        let (backend, pool) = match location {
            DatabaseLocation::SqliteFile(path) => {
                // Absolute, so that the URL the `Any` driver parses names this very file.
                let path = std::path::absolute(path)
                    .map_err(|e| StoreError::io(format!("cannot resolve {}", path.display()), e))?;
                let options = SqliteConnectOptions::new().filename(path);
                (Backend::Sqlite, sqlite_pool(options).await?)
            }
            DatabaseLocation::SqliteUrl(url) => {
                let options = SqliteConnectOptions::from_str(url)?;
                (Backend::Sqlite, sqlite_pool(options).await?)
            }
            DatabaseLocation::Postgres(url) => {
                // A server that refuses connections may be starting: wait a while for it.
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(POSTGRES_CONNECT_TIMEOUT)
                    .connect(url)
                    .await
                    .map_err(|e| {
                        StoreError::Config(format!(
                            "cannot connect to PostgreSQL at {}: {e}",
                            redact_url(url)
                        ))
                    })?;
                (Backend::Postgres, pool)
            }
        };
        let migrations = match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => POSTGRES_MIGRATIONS,
        };
        // On PostgreSQL the migrator holds an advisory lock, so replicas starting together
        // apply each migration once.
        Migrator::new(Embedded(migrations))
            .await?
            .run(&pool)
            .await?;
        // std's RandomState is seeded from the OS: different in every process.
        let origin = std::hash::BuildHasher::hash_one(
            &std::collections::hash_map::RandomState::new(),
            std::process::id(),
        );
        Ok(Database {
            pool,
            backend,
            origin,
            write_gate: Arc::new(Mutex::new(())),
        })
    }

    /// Begins a transaction that may read and then write: it runs alone among write
    /// transactions, in this process and (through the database's lock) in every other.
    pub(crate) async fn write(&self) -> Result<WriteTx> {
        let gate = self.write_gate.clone().lock_owned().await;
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with(SQLITE_BEGIN_WRITE).await?,
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(POSTGRES_WRITE_LOCK)
                    .execute(&mut *tx)
                    .await?;
                tx
            }
        };
        Ok(WriteTx {
            tx,
            _gate: Some(gate),
        })
    }

    /// Begins a transaction for writes that do not depend on what they read (appends and
    /// upserts by key): atomic, but on PostgreSQL free to run beside other writers. On SQLite
    /// it is a [`Database::write`], the only kind of write SQLite has.
    pub(crate) async fn batch(&self) -> Result<WriteTx> {
        match self.backend {
            Backend::Sqlite => self.write().await,
            Backend::Postgres => Ok(WriteTx {
                tx: self.pool.begin().await?,
                _gate: None,
            }),
        }
    }

    /// The `VALUES` list of a multi-row insert: `rows` tuples of `columns` placeholders, bound
    /// row by row. SQLite gets anonymous `?`: it looks each `$n` up in a list, so with
    /// numbered ones a statement's cost grows with the square of its parameters; PostgreSQL
    /// takes only `$n`.
    pub(crate) fn values_list(&self, rows: usize, columns: usize) -> String {
        use std::fmt::Write;
        let mut sql = String::with_capacity(rows * columns * 5);
        for row in 0..rows {
            sql.push_str(if row == 0 { "(" } else { ", (" });
            for column in 0..columns {
                if column > 0 {
                    sql.push_str(", ");
                }
                match self.backend {
                    Backend::Sqlite => sql.push('?'),
                    Backend::Postgres => {
                        let _ = write!(sql, "${}", row * columns + column + 1);
                    }
                }
            }
            sql.push(')');
        }
        sql
    }

    /// Whether a statement that binds an optional `f64` may be kept prepared (`persistent`).
    /// Not on PostgreSQL: sqlx 0.8's `Any` driver sends a NULL `f64` typed as `real`, and a
    /// statement prepared with that NULL then refuses a later value as `double precision`.
    pub(crate) fn cache_optional_f64(&self) -> bool {
        self.backend == Backend::Sqlite
    }

    /// Begins a read-only transaction: one consistent snapshot for several queries.
    pub(crate) async fn read(&self) -> Result<Transaction<'static, Db>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin().await?,
            Backend::Postgres => self.pool.begin_with(POSTGRES_BEGIN_READ).await?,
        })
    }
}

/// A pool on the SQLite database `options` names, created if missing, each connection set up
/// with [`SQLITE_SETUP`].
async fn sqlite_pool(options: SqliteConnectOptions) -> Result<Pool> {
    let url = options.create_if_missing(true).to_url_lossy();
    let pool = AnyPoolOptions::new()
        .max_connections(8)
        .after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::Executor::execute(conn, SQLITE_SETUP).await?;
                Ok(())
            })
        })
        .connect(url.as_str())
        .await?;
    Ok(pool)
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
