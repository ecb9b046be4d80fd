//! Storage on SQLite or PostgreSQL.
//!
//! Queries are written once in SQL that both databases accept (`$1` placeholders, TEXT for
//! JSON and timestamps, BIGINT for integers), and each backend has its own migrations folder
//! with the same version numbers. PostgreSQL runs them through sqlx's `Any` driver. SQLite
//! runs reads on [`sqlite_reader`] and writes on the write connection of `write_batch`, both
//! through rusqlite on the calling thread. sqlx keeps its SQLite pool for migrations and the
//! `hub` commands' reads.
//!
//! Writes go through [`WriteTx`], which serializes the writes of one organization. On
//! PostgreSQL it locks the organization's row. On SQLite it also takes an in-process mutex,
//! because SQLite has a single writer, and a mutex queues writers without the busy-wait of
//! SQLite's own lock.

pub mod audit;
mod columns;
pub mod filter_sql;
pub mod groups;
pub mod invitations;
pub mod mail_queue;
pub mod offset_anchors;
pub mod organizations;
pub mod request_log;
pub mod sessions;
pub mod sign_in;
pub mod sql;
pub mod sqlite_reader;
pub mod statistics;
pub mod tokens;
pub mod users;
mod write_batch;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

pub use sqlite_reader::Cost;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor, Transaction};

/// Maps a result row of either driver to a value.
pub(crate) trait MapRow {
    type Output: Send + 'static;
    fn map<R: columns::Columns>(row: &R) -> StorageResult<Self::Output>;
}

/// Reads `COUNT(*) AS total`.
pub(crate) struct CountRow;

impl MapRow for CountRow {
    type Output = i64;
    fn map<R: columns::Columns>(row: &R) -> StorageResult<i64> {
        row.column("total")
    }
}

/// Returns the file of a `sqlite://` URL, or `None` for an in-memory database.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    let in_memory = path.is_empty() || path.contains(":memory:") || url.contains("mode=memory");
    (!in_memory).then(|| std::path::PathBuf::from(path))
}

/// Returns the request log's SQLite file for a main database file: `hub.db` gets
/// `hub-requests.db` in the same folder.
pub fn sqlite_log_file(main: &std::path::Path) -> std::path::PathBuf {
    let stem = main.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_else(|| "hub".to_string());
    main.with_file_name(format!("{stem}-requests.db"))
}

/// SQLite settings of the request log's connections. `synchronous = NORMAL` in WAL mode keeps
/// every committed entry through a crash of Hub, but a power loss may lose the commits since
/// the last checkpoint. The log is a diagnostic record, and a sync per batch would compete with
/// the main database's syncs for the disk.
pub(crate) const SQLITE_LOG_PRAGMAS: &str = "PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL;";

/// Opens the request log's SQLite database beside the main file (in memory for an in-memory
/// main database) and runs its migrations.
async fn connect_sqlite_log(main: Option<&std::path::Path>) -> anyhow::Result<AnyPool> {
    let url = match main {
        Some(main) => format!("sqlite://{}?mode=rwc", sqlite_log_file(main).display()),
        None => "sqlite::memory:".to_string(),
    };
    let options = AnyConnectOptions::from_str(&url).with_context(|| format!("invalid request log database URL {url:?}"))?;
    // An in-memory database lives as long as its one connection, so that connection is kept.
    let in_memory = main.is_none();
    let pool = AnyPoolOptions::new()
        .max_connections(if in_memory { 1 } else { 4 })
        .min_connections(if in_memory { 1 } else { 0 })
        .idle_timeout(if in_memory { None } else { Some(Duration::from_secs(600)) })
        .max_lifetime(if in_memory { None } else { Some(Duration::from_secs(1800)) })
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(|connection, _| {
            Box::pin(async move {
                connection.execute(SQLITE_LOG_PRAGMAS).await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .with_context(|| format!("cannot open the request log database {url:?}"))?;
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&pool)
        .await
        .context("cannot switch the request log database to WAL mode")?;
    sqlx::migrate!("./migrations/sqlite-request-log")
        .run(&pool)
        .await
        .context("request log database migration failed")?;
    Ok(pool)
}

/// A row of a listing with its place in the list order.
#[derive(Debug, Clone)]
pub struct Keyed<T> {
    pub item: T,
    /// Insertion order, the last tie-breaker of every list order.
    pub seq: i64,
    /// The sort key as text, when the list is sorted.
    pub key: Option<String>,
}

/// One page of a listing query: the condition (filter and keyset, with placeholders from `$2`),
/// its bound values, the order and the page bounds.
#[derive(Debug, Clone)]
pub struct ListQuery<'a> {
    pub condition: Option<String>,
    pub binds: &'a [filter_sql::Bind],
    pub sort_key: Option<&'a str>,
    pub order_by: String,
    pub limit: i64,
    pub offset: i64,
}

impl ListQuery<'_> {
    /// Lists every bound value: the organization as `$1`, then the condition's.
    fn binds_after(&self, org_id: &str) -> Vec<filter_sql::Bind> {
        let mut all = vec![filter_sql::Bind::Text(org_id.to_string())];
        all.extend_from_slice(self.binds);
        all
    }

    /// Rates the query: a page of at most 1,000 rows is short, larger and unbounded reads are long.
    fn cost(&self) -> Cost {
        if self.limit <= 1000 {
            Cost::Short
        } else {
            Cost::Long
        }
    }

    fn key_expression(&self) -> &str {
        self.sort_key.unwrap_or("NULL")
    }

    /// Builds the SQL after the fixed conditions: the listing condition, the order and the bounds.
    fn tail(&self) -> String {
        let mut tail = String::new();
        if let Some(condition) = &self.condition {
            tail.push_str(&format!(" AND ({condition})"));
        }
        tail.push_str(&format!(" ORDER BY {}", self.order_by));
        tail.push_str(&format!(" LIMIT {} OFFSET {}", self.limit.max(0), self.offset.max(0)));
        tail
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A storage failure. Unique-constraint violations have their own variant, so callers can
/// respond with 409.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("unique constraint {constraint} violated")]
    UniqueViolation { constraint: String },
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Database(sqlx::Error),
    #[error("SQLite read failed: {0}")]
    Read(#[from] rusqlite::Error),
    #[error("SQLite write failed: {0}")]
    Write(rusqlite::Error),
}

impl From<sqlx::Error> for StorageError {
    fn from(error: sqlx::Error) -> Self {
        if let sqlx::Error::Database(database_error) = &error {
            if database_error.is_unique_violation() {
                // PostgreSQL names the index; SQLite names the columns in the message.
                let constraint = database_error
                    .constraint()
                    .map(str::to_string)
                    .unwrap_or_else(|| database_error.message().to_string());
                return StorageError::UniqueViolation { constraint };
            }
        }
        StorageError::Database(error)
    }
}

pub type StorageResult<T> = Result<T, StorageError>;

/// The database connection pool and what the backend needs for serialized writes.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Present on SQLite only: serializes writers and commits them in groups.
    write_batch: Option<Arc<write_batch::GroupCommit>>,
    /// Present on SQLite files only: reads outside transactions without sqlx's thread hop.
    reader: Option<Arc<sqlite_reader::SqliteReader>>,
    /// The SCIM request log's pool. On SQLite it is a separate database file, so that log
    /// writes and provisioning writes never wait for each other's write lock. On PostgreSQL it
    /// is the main pool.
    log_pool: AnyPool,
    /// Present on SQLite files only: the request log's writer connection.
    log_writer: Option<Arc<request_log::SqliteLogWriter>>,
    /// The paging anchors of each organization's user list.
    anchors: Arc<offset_anchors::AnchorCache>,
}

/// SQLite settings applied to every connection. `synchronous = FULL` syncs the WAL on every
/// commit, so an acknowledged write survives a power loss, not only a process crash.
const SQLITE_CONNECTION_PRAGMAS: &str =
    "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;";

/// Turns off SQLite's memory statistics before the library initializes. With them on, every
/// allocation inside SQLite takes a process-wide mutex, an eighth of the log writer's time.
fn configure_sqlite_library() {
    static CONFIGURED: std::sync::Once = std::sync::Once::new();
    CONFIGURED.call_once(|| {
        // SAFETY: `sqlite3_config` must run before `sqlite3_initialize` and while no other
        // thread calls SQLite. Every database Hub opens goes through `Store::connect`, which
        // calls this first; if something initialized SQLite already, the call returns
        // SQLITE_MISUSE and changes nothing.
        let code = unsafe { rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0 as std::ffi::c_int) };
        if code != rusqlite::ffi::SQLITE_OK {
            tracing::debug!(code, "SQLite was initialized before Hub configured it; its memory statistics stay on");
        }
    });
}

impl Store {
    /// Connects to `url` (`sqlite://...` or `postgres://...`), creating a SQLite file when
    /// missing, and runs the backend's migrations.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Store> {
        configure_sqlite_library();
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!("unsupported database URL scheme in {:?}; use sqlite:// or postgres://", redact_url(url));
        };

        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let separator = if url.contains('?') { '&' } else { '?' };
                format!("{url}{separator}mode=rwc")
            }
            _ => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url)
            .with_context(|| format!("invalid database URL {:?}", redact_url(&url)))?;
        let mut pool_options = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30));
        if backend == Backend::Sqlite {
            // Reads and writes on SQLite have connections of their own (`sqlite_reader`,
            // `write_batch`); this pool serves the rest. Each of its connections is a thread
            // and a page cache, so ones opened for a burst close after a minute unused.
            pool_options = pool_options.idle_timeout(Duration::from_secs(60)).after_connect(|connection, _| {
                Box::pin(async move {
                    connection.execute(SQLITE_CONNECTION_PRAGMAS).await?;
                    Ok(())
                })
            });
        }
        let pool = pool_options
            .connect_with(options)
            .await
            .with_context(|| format!("cannot connect to the database at {:?}", redact_url(&url)))?;

        if backend == Backend::Sqlite {
            // WAL lets readers proceed while one writer commits; the mode is stored in the file.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await
                .context("cannot switch SQLite to WAL mode")?;
        }
        let migrator = match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        migrator.run(&pool).await.context("database migration failed")?;
        let filled = users::backfill_filter_columns(&pool)
            .await
            .context("filling the filter columns of existing users failed")?;
        if filled > 0 {
            tracing::info!(users = filled, "filled the filter columns of existing users");
        }

        let write_batch = match sqlite_file(&url) {
            Some(file) if backend == Backend::Sqlite => Some(
                write_batch::GroupCommit::open(&file, SQLITE_CONNECTION_PRAGMAS).context("cannot open the SQLite database for writing")?,
            ),
            _ => None,
        };
        let reader = match backend {
            Backend::Sqlite => sqlite_file(&url).map(sqlite_reader::SqliteReader::new),
            Backend::Postgres => None,
        };
        let log_pool = match backend {
            Backend::Sqlite => connect_sqlite_log(sqlite_file(&url).as_deref()).await?,
            Backend::Postgres => pool.clone(),
        };
        let log_writer = match sqlite_file(&url) {
            Some(main) if backend == Backend::Sqlite => Some(Arc::new(
                request_log::SqliteLogWriter::open(&sqlite_log_file(&main)).context("cannot open the request log database for writing")?,
            )),
            _ => None,
        };
        Ok(Store {
            pool,
            backend,
            write_batch,
            reader,
            log_pool,
            log_writer,
            anchors: Arc::default(),
        })
    }

    /// Returns the pool of the SCIM request log.
    pub fn log_pool(&self) -> &AnyPool {
        &self.log_pool
    }

    /// Returns the request log's own writer connection, on a SQLite file.
    pub(crate) fn log_writer(&self) -> Option<&request_log::SqliteLogWriter> {
        self.log_writer.as_deref()
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Runs statements on the pool, outside any transaction.
    pub fn db(&self) -> sql::Db<'_> {
        sql::Db::Pool(&self.pool)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs a read outside any transaction and maps its rows with `M`. `binds` has every
    /// placeholder's value, `$1` first.
    pub(crate) async fn read_rows<M: MapRow>(&self, cost: Cost, sql: String, binds: Vec<filter_sql::Bind>) -> StorageResult<Vec<M::Output>> {
        if let Some(reader) = &self.reader {
            return reader.query(cost, sql, binds, |row| M::map(row)).await;
        }
        let rows = sql::bind_all(sqlx::query(&sql), &binds).fetch_all(&self.pool).await?;
        rows.iter().map(|row| M::map(row)).collect()
    }

    /// Begins a write transaction of one organization, waiting for the organization's other
    /// writes to finish.
    /// On PostgreSQL the organization row's lock is that wait. On SQLite the shared transaction
    /// already serializes writers, so only the writer that opens it updates the row: that takes
    /// SQLite's write lock before any read, which a `hub` command writing in between would foil.
    pub async fn begin_write(&self, org_id: &str) -> StorageResult<WriteTx> {
        let mut tx = self.begin_global().await?;
        if let TxHandle::Batched(writer) = &tx.tx {
            if !writer.opened_batch() {
                tx.org_id = org_id.to_string();
                return Ok(tx);
            }
        }
        let locked = sql::query("UPDATE organizations SET write_sequence = write_sequence + 1 WHERE id = $1")
            .bind(org_id)
            .execute(&mut tx.db())
            .await?;
        if locked.rows_affected() != 1 {
            return Err(StorageError::Corrupt(format!("organization {org_id} does not exist")));
        }
        tx.org_id = org_id.to_string();
        Ok(tx)
    }

    /// Waits until the writes that a write transaction begun now could see have committed.
    /// Only SQLite's shared transactions show a writer uncommitted changes of others; on
    /// PostgreSQL this returns at once.
    pub async fn settle(&self) {
        if let Some(batch) = &self.write_batch {
            batch.settle().await;
        }
    }

    /// Begins a transaction that is not tied to one organization (creating organizations).
    pub async fn begin_global(&self) -> StorageResult<WriteTx> {
        let tx = match &self.write_batch {
            Some(batch) => TxHandle::Batched(batch.begin().await?),
            None => TxHandle::Single(self.pool.begin().await?),
        };
        Ok(WriteTx {
            tx,
            org_id: String::new(),
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.log_pool.close().await;
    }
}

/// A write transaction. Dropping it without [`WriteTx::commit`] rolls it back.
pub struct WriteTx {
    /// The transaction; [`WriteTx::db`] runs statements in it.
    pub tx: TxHandle,
    /// The organization whose writes this transaction serializes; empty for global ones.
    pub org_id: String,
}

impl WriteTx {
    /// Commits, and returns once the changes are durable.
    pub async fn commit(self) -> StorageResult<()> {
        match self.tx {
            TxHandle::Single(tx) => Ok(tx.commit().await?),
            TxHandle::Batched(writer) => writer.commit().await,
        }
    }
}

/// A transaction of its own (PostgreSQL), or a writer's savepoint in a shared SQLite
/// transaction.
pub enum TxHandle {
    Single(Transaction<'static, Any>),
    Batched(write_batch::BatchWriter),
}

impl WriteTx {
    /// Returns the connection to run the transaction's statements on.
    pub fn db(&mut self) -> sql::Db<'_> {
        match &mut self.tx {
            TxHandle::Single(tx) => sql::Db::Conn(&mut **tx),
            TxHandle::Batched(writer) => writer.db(),
        }
    }
}

/// Hides the password of a database URL for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_string(),
    }
}

/// Parses a JSON column, naming the column when the stored text is invalid.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(text: &str, column: &str) -> StorageResult<T> {
    serde_json::from_str(text).map_err(|error| StorageError::Corrupt(format!("column {column}: {error}")))
}

pub(crate) fn parse_time(text: &str, column: &str) -> StorageResult<chrono::DateTime<chrono::Utc>> {
    crate::clock::parse(text).ok_or_else(|| StorageError::Corrupt(format!("column {column}: invalid time {text:?}")))
}
