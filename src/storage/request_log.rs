//! Storage of the SCIM request log: batched inserts, filtered reads newest first, per-token
//! counts, dropped-entry counters and the retention purge.

use std::collections::HashMap;

use sqlx::{Any, AnyPool, Executor, Row};

use std::sync::{Arc, Mutex};

use super::{StorageError, StorageResult, Store, SQLITE_LOG_PRAGMAS};
use crate::clock;
use crate::domain::request_log::{RequestEntry, StatusClass};

/// The stored columns, in insert order. The redaction test pins this list.
pub const COLUMNS: [&str; 20] = [
    "org_id",
    "at",
    "token_id",
    "token_name",
    "client",
    "user_agent",
    "method",
    "path",
    "action",
    "resource_type",
    "resource_id",
    "target",
    "filter",
    "operations",
    "status",
    "scim_type",
    "detail",
    "rule",
    "duration_us",
    "request_id",
];

/// Rows per INSERT statement on the sqlx path. sqlx's SQLite driver looks up each parameter by
/// name, and SQLite's lookup walks the statement's parameter list. Binding therefore costs the
/// square of the parameter count: with 200-row statements, perf showed most of the writer's
/// time there. A batch is written as statements of this many
/// rows plus one-row statements for the remainder, so the prepared statement cache keeps two.
const ROWS_PER_STATEMENT: usize = 10;

/// Writes a batch of entries in one transaction: on a SQLite file through the store's own
/// rusqlite connection, otherwise through the request log's sqlx pool.
pub async fn insert_batch(store: &Store, entries: Arc<Vec<RequestEntry>>) -> StorageResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    match store.log_writer() {
        Some(writer) => writer.insert_batch(entries).await,
        None => insert_batch_pooled(store.log_pool(), &entries).await,
    }
}

async fn insert_batch_pooled(pool: &AnyPool, entries: &[RequestEntry]) -> StorageResult<()> {
    let mut tx = pool.begin().await?;
    let mut chunks = entries.chunks_exact(ROWS_PER_STATEMENT);
    for chunk in chunks.by_ref() {
        insert_rows(&mut *tx, chunk).await?;
    }
    for entry in chunks.remainder() {
        insert_rows(&mut *tx, std::slice::from_ref(entry)).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Builds the INSERT statement for `rows` rows.
fn insert_sql(rows: usize) -> String {
    let width = COLUMNS.len();
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let placeholders: Vec<String> = (1..=width).map(|column| format!("${}", row * width + column)).collect();
            format!("({})", placeholders.join(", "))
        })
        .collect();
    format!("INSERT INTO scim_request_log ({}) VALUES {}", COLUMNS.join(", "), values.join(", "))
}

static INSERT_ONE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| insert_sql(1));
static INSERT_CHUNK: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| insert_sql(ROWS_PER_STATEMENT));

async fn insert_rows<'e, E: Executor<'e, Database = Any>>(executor: E, entries: &[RequestEntry]) -> StorageResult<()> {
    let sql: &str = match entries.len() {
        1 => &INSERT_ONE,
        ROWS_PER_STATEMENT => &INSERT_CHUNK,
        rows => &insert_sql(rows),
    };

    let mut statement = sqlx::query(sql);
    for entry in entries {
        let operations = (!entry.operations.is_empty()).then(|| serde_json::to_string(&entry.operations).unwrap_or_default());
        statement = statement
            .bind(entry.org_id.clone())
            .bind(clock::format(entry.at))
            .bind(entry.token_id.clone())
            .bind(entry.token_name.clone())
            .bind(entry.client.as_str())
            .bind(entry.user_agent.clone())
            .bind(entry.method.clone())
            .bind(entry.path.clone())
            .bind(entry.action.as_str())
            .bind(entry.resource_type)
            .bind(entry.resource_id.clone())
            .bind(entry.target.clone())
            .bind(entry.filter.clone())
            .bind(operations)
            .bind(i64::from(entry.status))
            .bind(entry.scim_type.clone())
            .bind(entry.detail.clone())
            .bind(entry.rule.clone())
            .bind(entry.duration_us)
            .bind(entry.request_id.clone());
    }
    statement.execute(executor).await?;
    Ok(())
}

/// Writes request log entries to a SQLite file on a connection of its own, off the async
/// threads. Binding by position on one prepared statement costs a few microseconds per row,
/// where sqlx's SQLite driver spends more on every statement's round trip to its worker thread
/// and on looking up each parameter by name.
pub struct SqliteLogWriter {
    connection: Arc<Mutex<rusqlite::Connection>>,
}

impl SqliteLogWriter {
    /// Opens the request log's database file, whose schema the sqlx migrations created.
    pub fn open(path: &std::path::Path) -> StorageResult<SqliteLogWriter> {
        // The connection sits behind a mutex of its own, so SQLite's is not needed.
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = rusqlite::Connection::open_with_flags(path, flags)?;
        connection.execute_batch(SQLITE_LOG_PRAGMAS)?;
        Ok(SqliteLogWriter {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    async fn insert_batch(&self, entries: Arc<Vec<RequestEntry>>) -> StorageResult<()> {
        let connection = self.connection.clone();
        let written = tokio::task::spawn_blocking(move || {
            let mut connection = connection.lock().map_err(|_| StorageError::Corrupt("request log writer lock poisoned".into()))?;
            insert_rows_blocking(&mut connection, &entries)
        })
        .await;
        written.map_err(|error| StorageError::Corrupt(format!("request log writer task failed: {error}")))?
    }
}

impl std::fmt::Debug for SqliteLogWriter {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("SqliteLogWriter")
    }
}

/// Rows per INSERT statement on the rusqlite path, which binds by position. The rows share each
/// statement's fixed work: resetting it, opening cursors, updating the AUTOINCREMENT counter.
const ROWS_PER_BLOCK: usize = 32;

static INSERT_BLOCK: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| insert_sql(ROWS_PER_BLOCK));

fn insert_rows_blocking(connection: &mut rusqlite::Connection, entries: &[RequestEntry]) -> StorageResult<()> {
    let tx = connection.transaction()?;
    {
        let mut blocks = entries.chunks_exact(ROWS_PER_BLOCK);
        let mut statement = tx.prepare_cached(&INSERT_BLOCK)?;
        for block in blocks.by_ref() {
            for (row, entry) in block.iter().enumerate() {
                bind_entry(&mut statement, row * COLUMNS.len(), entry)?;
            }
            statement.raw_execute()?;
        }
        let mut statement = tx.prepare_cached(&INSERT_ONE)?;
        for entry in blocks.remainder() {
            bind_entry(&mut statement, 0, entry)?;
            statement.raw_execute()?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Binds one entry's columns to the parameters after `offset`, in the order of `COLUMNS`.
fn bind_entry(statement: &mut rusqlite::CachedStatement<'_>, offset: usize, entry: &RequestEntry) -> rusqlite::Result<()> {
    let operations = (!entry.operations.is_empty()).then(|| serde_json::to_string(&entry.operations).unwrap_or_default());
    let values: [&dyn rusqlite::ToSql; 20] = [
        &entry.org_id,
        &clock::format(entry.at),
        &entry.token_id,
        &entry.token_name,
        &entry.client.as_str(),
        &entry.user_agent,
        &entry.method,
        &entry.path,
        &entry.action.as_str(),
        &entry.resource_type,
        &entry.resource_id,
        &entry.target,
        &entry.filter,
        &operations,
        &i64::from(entry.status),
        &entry.scim_type,
        &entry.detail,
        &entry.rule,
        &entry.duration_us,
        &entry.request_id,
    ];
    for (column, value) in values.into_iter().enumerate() {
        statement.raw_bind_parameter(offset + column + 1, value)?;
    }
    Ok(())
}

/// Adds entries the capture queue dropped to an organization's counter.
pub async fn add_drops(pool: &AnyPool, org_id: &str, count: u64, at: chrono::DateTime<chrono::Utc>) -> StorageResult<()> {
    sqlx::query(
        "INSERT INTO scim_request_log_drops (org_id, dropped, last_dropped_at) VALUES ($1, $2, $3) \
         ON CONFLICT (org_id) DO UPDATE SET dropped = scim_request_log_drops.dropped + excluded.dropped, last_dropped_at = excluded.last_dropped_at",
    )
    .bind(org_id)
    .bind(i64::try_from(count).unwrap_or(i64::MAX))
    .bind(clock::format(at))
    .execute(pool)
    .await?;
    Ok(())
}

/// Returns how many entries of an organization were dropped, and when the last was.
pub async fn drops(pool: &AnyPool, org_id: &str) -> StorageResult<(i64, Option<String>)> {
    let row = sqlx::query("SELECT dropped, last_dropped_at FROM scim_request_log_drops WHERE org_id = $1")
        .bind(org_id)
        .fetch_optional(pool)
        .await?;
    match row {
        Some(row) => Ok((row.try_get("dropped")?, row.try_get("last_dropped_at")?)),
        None => Ok((0, None)),
    }
}

/// A stored entry as read back, with its position in the log.
#[derive(Debug, Clone)]
pub struct StoredRequest {
    /// Position in the log, newer entries have larger values; the entry's id.
    pub seq: i64,
    pub at: String,
    pub token_id: String,
    pub token_name: String,
    pub client: String,
    pub user_agent: Option<String>,
    pub method: String,
    pub path: String,
    pub action: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub target: Option<String>,
    pub filter: Option<String>,
    /// JSON array of operation summaries.
    pub operations: Option<String>,
    pub status: i64,
    pub scim_type: Option<String>,
    pub detail: Option<String>,
    pub rule: Option<String>,
    pub duration_us: i64,
    pub request_id: String,
}

fn from_row(row: &sqlx::any::AnyRow) -> StorageResult<StoredRequest> {
    Ok(StoredRequest {
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        token_id: row.try_get("token_id")?,
        token_name: row.try_get("token_name")?,
        client: row.try_get("client")?,
        user_agent: row.try_get("user_agent")?,
        method: row.try_get("method")?,
        path: row.try_get("path")?,
        action: row.try_get("action")?,
        resource_type: row.try_get("resource_type")?,
        resource_id: row.try_get("resource_id")?,
        target: row.try_get("target")?,
        filter: row.try_get("filter")?,
        operations: row.try_get("operations")?,
        status: row.try_get("status")?,
        scim_type: row.try_get("scim_type")?,
        detail: row.try_get("detail")?,
        rule: row.try_get("rule")?,
        duration_us: row.try_get("duration_us")?,
        request_id: row.try_get("request_id")?,
    })
}

/// Filters for reading an organization's log, newest first.
#[derive(Debug, Clone, Default)]
pub struct RequestQuery {
    pub status_class: Option<StatusClass>,
    pub action: Option<String>,
    pub token_id: Option<String>,
    /// Text searched, ignoring case, in the target, the resource id and the filter.
    pub target_text: Option<String>,
    /// Entries at or after this time, as stored text.
    pub from: Option<String>,
    /// Entries before this time.
    pub to: Option<String>,
    /// Entries older than this position, for paging.
    pub before_seq: Option<i64>,
    pub limit: i64,
}

/// Escapes `%`, `_` and the escape character itself for a LIKE pattern.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for character in text.chars() {
        if matches!(character, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(character);
    }
    pattern.push('%');
    pattern
}

/// A bound value of a log query.
enum Value {
    Text(String),
    Integer(i64),
}

/// Lists an organization's entries matching the query, newest first.
pub async fn list(pool: &AnyPool, org_id: &str, query: &RequestQuery) -> StorageResult<Vec<StoredRequest>> {
    let mut conditions = vec!["org_id = $1".to_string()];
    let mut values: Vec<Value> = Vec::new();
    let mut push = |condition: &str, value: Value, conditions: &mut Vec<String>| {
        values.push(value);
        conditions.push(condition.replace('?', &format!("${}", values.len() + 1)));
    };
    if let Some(class) = query.status_class {
        let (low, high) = class.range();
        push("status >= ?", Value::Integer(i64::from(low)), &mut conditions);
        push("status < ?", Value::Integer(i64::from(high)), &mut conditions);
    }
    if let Some(action) = &query.action {
        push("action = ?", Value::Text(action.clone()), &mut conditions);
    }
    if let Some(token_id) = &query.token_id {
        push("token_id = ?", Value::Text(token_id.clone()), &mut conditions);
    }
    if let Some(text) = &query.target_text {
        // SQLite's LOWER() folds ASCII letters only, so each column is also matched against
        // the text as given: "Élodie" then finds "Élodie", though not "ÉLODIE" on SQLite.
        let folded = like_pattern(&text.to_lowercase());
        let exact = like_pattern(text);
        for column in ["target", "resource_id", "filter"] {
            push(&format!("LOWER({column}) LIKE ? ESCAPE '\\'"), Value::Text(folded.clone()), &mut conditions);
            push(&format!("{column} LIKE ? ESCAPE '\\'"), Value::Text(exact.clone()), &mut conditions);
        }
        // The six LIKE terms are alternatives: join the last six conditions with OR.
        let alternatives: Vec<String> = conditions.split_off(conditions.len() - 6);
        conditions.push(format!("({})", alternatives.join(" OR ")));
    }
    if let Some(from) = &query.from {
        push("at >= ?", Value::Text(from.clone()), &mut conditions);
    }
    if let Some(to) = &query.to {
        push("at < ?", Value::Text(to.clone()), &mut conditions);
    }
    if let Some(before) = query.before_seq {
        push("seq < ?", Value::Integer(before), &mut conditions);
    }

    let limit_placeholder = values.len() + 2;
    let sql = format!(
        "SELECT seq, {} FROM scim_request_log WHERE {} ORDER BY seq DESC LIMIT ${limit_placeholder}",
        COLUMNS[1..].join(", "),
        conditions.join(" AND ")
    );
    let mut statement = sqlx::query(&sql).bind(org_id);
    for value in values {
        statement = match value {
            Value::Text(text) => statement.bind(text),
            Value::Integer(number) => statement.bind(number),
        };
    }
    let rows = statement.bind(query.limit).fetch_all(pool).await?;
    rows.iter().map(from_row).collect()
}

/// Reads one entry of an organization by its position.
pub async fn get(pool: &AnyPool, org_id: &str, seq: i64) -> StorageResult<Option<StoredRequest>> {
    let sql = format!("SELECT seq, {} FROM scim_request_log WHERE org_id = $1 AND seq = $2", COLUMNS[1..].join(", "));
    let row = sqlx::query(&sql).bind(org_id).bind(seq).fetch_optional(pool).await?;
    row.as_ref().map(from_row).transpose()
}

/// Requests and errors (status 400 and above) of a token in a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCounts {
    pub requests: i64,
    pub errors: i64,
}

/// Counts each token's logged requests and errors since `since`.
pub async fn token_counts(pool: &AnyPool, org_id: &str, since: chrono::DateTime<chrono::Utc>) -> StorageResult<HashMap<String, TokenCounts>> {
    let rows = sqlx::query(
        "SELECT token_id, COUNT(*) AS requests, SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END) AS errors \
         FROM scim_request_log WHERE org_id = $1 AND at >= $2 GROUP BY token_id",
    )
    .bind(org_id)
    .bind(clock::format(since))
    .fetch_all(pool)
    .await?;
    let mut counts = HashMap::new();
    for row in &rows {
        let token_id: String = row.try_get("token_id")?;
        counts.insert(
            token_id,
            TokenCounts {
                requests: row.try_get("requests")?,
                errors: row.try_get("errors")?,
            },
        );
    }
    Ok(counts)
}

/// Rows deleted per statement, so a purge of millions of rows holds no long lock.
const PURGE_CHUNK: i64 = 5000;

/// Deletes every entry older than `before`, in chunks, and returns how many went.
pub async fn purge(pool: &AnyPool, before: chrono::DateTime<chrono::Utc>) -> StorageResult<u64> {
    let cutoff = clock::format(before);
    let mut deleted = 0;
    loop {
        let result = sqlx::query(
            "DELETE FROM scim_request_log WHERE seq IN (SELECT seq FROM scim_request_log WHERE at < $1 ORDER BY seq LIMIT $2)",
        )
        .bind(&cutoff)
        .bind(PURGE_CHUNK)
        .execute(pool)
        .await?;
        deleted += result.rows_affected();
        if result.rows_affected() < PURGE_CHUNK as u64 {
            return Ok(deleted);
        }
    }
}
