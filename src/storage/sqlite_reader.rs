//! Reads on SQLite without a thread hop.
//!
//! sqlx runs each SQLite connection on its own thread and passes every query and row through
//! channels. For the point reads that dominate SCIM traffic (a user by id, a userName
//! lookup), those hand-offs cost more than the query. This reader keeps a few read-only
//! connections and runs short queries on the calling thread. Long ones (whole-organization
//! scans, all members of a large group) go to the blocking pool, so they do not stall the
//! server's async workers. Writes run on the write connection of [`super::write_batch`], whose
//! transactions these connections see as soon as they commit (WAL mode).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use super::columns::Columns;
use super::filter_sql::Bind;
use super::{StorageError, StorageResult};

/// Idle connections kept for reuse.
const MAX_IDLE: usize = 8;
/// Long reads that may run at once, per CPU. Each runs on a thread and a connection of its
/// own, with that connection's page cache. Under 32 concurrent list requests, unbounded long
/// reads took 32 threads and connections and raised the peak RSS by about 30 MiB, without
/// finishing sooner on 2 cores.
const LONG_READS_PER_CPU: usize = 2;
/// Long reads that may run at once on any machine.
const MIN_LONG_READS: usize = 4;
/// Prepared statements cached per connection.
const STATEMENT_CACHE: usize = 128;

/// A small pool of read-only connections to the SQLite file.
#[derive(Debug)]
pub struct SqliteReader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Permits of the long reads running now; see [`LONG_READS_PER_CPU`].
    long_reads: Arc<Semaphore>,
}

/// How long a query may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cost {
    /// Bounded by an index and a page size: runs on the calling thread.
    Short,
    /// May read the whole organization: runs on the blocking pool.
    Long,
}

impl SqliteReader {
    /// Prepares a reader of the database file at `path`; connections open on first use.
    pub fn new(path: PathBuf) -> Arc<Self> {
        let cpus = std::thread::available_parallelism().map_or(1, |count| count.get());
        Arc::new(SqliteReader {
            path,
            idle: Mutex::new(Vec::new()),
            long_reads: Arc::new(Semaphore::new((cpus * LONG_READS_PER_CPU).max(MIN_LONG_READS))),
        })
    }

    fn open(&self) -> StorageResult<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let connection = Connection::open_with_flags(&self.path, flags)?;
        connection.busy_timeout(std::time::Duration::from_secs(10))?;
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(connection)
    }

    fn take(&self) -> StorageResult<Connection> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match idle {
            Some(connection) => Ok(connection),
            None => self.open(),
        }
    }

    fn give_back(&self, connection: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE {
                idle.push(connection);
            }
        }
    }

    /// Runs a query whose placeholders are `$1`, `$2`, ... and maps each row.
    pub async fn query<T, F>(self: &Arc<Self>, cost: Cost, sql: String, binds: Vec<Bind>, map: F) -> StorageResult<Vec<T>>
    where
        T: Send + 'static,
        F: FnMut(&NamedRow<'_>) -> StorageResult<T> + Send + 'static,
    {
        match cost {
            Cost::Short => self.run(&sql, &binds, map),
            Cost::Long => {
                let permit = self.long_reads.clone().acquire_owned().await;
                let permit = permit.map_err(|_| StorageError::Corrupt("the database reader has shut down".to_string()))?;
                let reader = self.clone();
                // The permit moves into the task, so a request dropped while its read runs
                // does not let another read start beside it.
                tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    reader.run(&sql, &binds, map)
                })
                .await
                .map_err(|error| StorageError::Corrupt(format!("a database read task failed: {error}")))?
            }
        }
    }

    fn run<T>(&self, sql: &str, binds: &[Bind], mut map: impl FnMut(&NamedRow<'_>) -> StorageResult<T>) -> StorageResult<Vec<T>> {
        let connection = self.take()?;
        let result = run_on(&connection, sql, binds, &mut map);
        // A connection that failed may be in a bad state; only healthy ones are reused.
        if result.is_ok() {
            self.give_back(connection);
        }
        result
    }
}

fn run_on<T>(
    connection: &Connection,
    sql: &str,
    binds: &[Bind],
    map: &mut impl FnMut(&NamedRow<'_>) -> StorageResult<T>,
) -> StorageResult<Vec<T>> {
    let mut statement = connection.prepare_cached(sql)?;
    bind_numbered(&mut statement, binds)?;
    let names: Vec<String> = statement.column_names().into_iter().map(str::to_string).collect();
    let mut rows = statement.raw_query();
    let mut mapped = Vec::new();
    while let Some(row) = rows.next()? {
        mapped.push(map(&NamedRow { row, names: &names })?);
    }
    Ok(mapped)
}

/// A result row with its query's column names, read once per query. rusqlite finds a column
/// by name through SQLite's column names, case-insensitively, on every read. For a page of a
/// hundred users of seventeen columns, that search cost a tenth of the page.
pub struct NamedRow<'a> {
    row: &'a rusqlite::Row<'a>,
    names: &'a [String],
}

impl NamedRow<'_> {
    /// Returns the index of a column. The mapping code names columns as the queries do, so
    /// an exact comparison finds them; a miss falls back to rusqlite's own search.
    fn get<T: rusqlite::types::FromSql>(&self, name: &str) -> StorageResult<T> {
        match self.names.iter().position(|candidate| candidate == name) {
            Some(index) => Ok(self.row.get(index)?),
            None => Ok(self.row.get(name)?),
        }
    }
}

impl Columns for NamedRow<'_> {
    fn text(&self, name: &str) -> StorageResult<Option<String>> {
        self.get(name)
    }

    fn integer(&self, name: &str) -> StorageResult<Option<i64>> {
        self.get(name)
    }
}

/// Binds `$N` to `binds[N - 1]`, whatever order the placeholders appear in the text.
pub(crate) fn bind_numbered(statement: &mut rusqlite::CachedStatement<'_>, binds: &[Bind]) -> StorageResult<()> {
    for index in 1..=statement.parameter_count() {
        let name = statement.parameter_name(index).unwrap_or_default();
        let number: usize = name
            .strip_prefix('$')
            .and_then(|digits| digits.parse().ok())
            .ok_or_else(|| StorageError::Corrupt(format!("unexpected SQL placeholder {name:?}")))?;
        let value = binds
            .get(number - 1)
            .ok_or_else(|| StorageError::Corrupt(format!("no value for SQL placeholder {name}")))?;
        match value {
            Bind::Text(text) => statement.raw_bind_parameter(index, text.as_str())?,
            Bind::Int(number) => statement.raw_bind_parameter(index, number)?,
            Bind::NullText | Bind::NullInt => statement.raw_bind_parameter(index, rusqlite::types::Null)?,
        }
    }
    Ok(())
}
