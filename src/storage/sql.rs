//! Statements that run on a sqlx connection or on the SQLite write connection.
//!
//! Writes on SQLite run on a connection Hub owns ([`super::write_batch`]), on the
//! calling thread. sqlx runs each SQLite connection on a thread of its own, and every
//! statement was a round trip to that thread while the other writers waited for the write
//! lock. PostgreSQL and reads outside a transaction stay on sqlx. A statement is written once,
//! with `$1` placeholders, and [`Db`] says where it runs.

use std::sync::Arc;

use sqlx::{AnyConnection, AnyPool};

use super::columns::{Columns, FromColumn};
use super::filter_sql::Bind;
use super::{StorageError, StorageResult};

/// The connection a statement runs on.
pub enum Db<'a> {
    /// A pooled sqlx connection, outside any transaction.
    Pool(&'a AnyPool),
    /// A sqlx transaction (PostgreSQL, or SQLite without a file).
    Conn(&'a mut AnyConnection),
    /// The SQLite write connection, inside the shared write transaction.
    Lite(&'a mut rusqlite::Connection),
}

/// A statement and its bound values, in placeholder order.
pub struct Statement {
    sql: String,
    binds: Vec<Bind>,
}

/// Starts a statement.
pub fn query(sql: impl Into<String>) -> Statement {
    Statement {
        sql: sql.into(),
        binds: Vec::new(),
    }
}

/// The outcome of a statement that returns no rows.
#[derive(Debug, Clone, Copy)]
pub struct Done {
    rows_affected: u64,
}

impl Done {
    pub fn rows_affected(&self) -> u64 {
        self.rows_affected
    }
}

/// A value that binds to a placeholder.
pub trait IntoBind {
    fn into_bind(self) -> Bind;
}

impl IntoBind for &str {
    fn into_bind(self) -> Bind {
        Bind::Text(self.to_string())
    }
}

impl IntoBind for String {
    fn into_bind(self) -> Bind {
        Bind::Text(self)
    }
}

impl IntoBind for &String {
    fn into_bind(self) -> Bind {
        Bind::Text(self.clone())
    }
}

impl IntoBind for i64 {
    fn into_bind(self) -> Bind {
        Bind::Int(self)
    }
}

impl IntoBind for &i64 {
    fn into_bind(self) -> Bind {
        Bind::Int(*self)
    }
}

impl IntoBind for Bind {
    fn into_bind(self) -> Bind {
        self
    }
}

impl IntoBind for Option<String> {
    fn into_bind(self) -> Bind {
        self.map_or(Bind::NullText, Bind::Text)
    }
}

impl IntoBind for Option<&str> {
    fn into_bind(self) -> Bind {
        self.map_or(Bind::NullText, |text| Bind::Text(text.to_string()))
    }
}

impl IntoBind for &Option<String> {
    fn into_bind(self) -> Bind {
        self.as_deref().into_bind()
    }
}

impl IntoBind for Option<i64> {
    fn into_bind(self) -> Bind {
        self.map_or(Bind::NullInt, Bind::Int)
    }
}

impl Statement {
    /// Binds the next placeholder.
    pub fn bind(mut self, value: impl IntoBind) -> Self {
        self.binds.push(value.into_bind());
        self
    }

    /// Runs a statement that returns no rows.
    pub async fn execute(self, db: &mut Db<'_>) -> StorageResult<Done> {
        let rows_affected = match db {
            Db::Pool(pool) => self.sqlx().execute(*pool).await?.rows_affected(),
            Db::Conn(connection) => self.sqlx().execute(&mut **connection).await?.rows_affected(),
            Db::Lite(connection) => lite_execute(connection, &self.sql, &self.binds)?,
        };
        Ok(Done { rows_affected })
    }

    /// Runs a query and returns its rows.
    pub async fn fetch_all(self, db: &mut Db<'_>) -> StorageResult<Vec<Row>> {
        match db {
            Db::Pool(pool) => self.sqlx().fetch_all(*pool).await?.iter().map(Row::from_sqlx).collect(),
            Db::Conn(connection) => self.sqlx().fetch_all(&mut **connection).await?.iter().map(Row::from_sqlx).collect(),
            Db::Lite(connection) => lite_query(connection, &self.sql, &self.binds),
        }
    }

    /// Runs a query and returns its first row, if any.
    pub async fn fetch_optional(self, db: &mut Db<'_>) -> StorageResult<Option<Row>> {
        match db {
            Db::Pool(pool) => self.sqlx().fetch_optional(*pool).await?.as_ref().map(Row::from_sqlx).transpose(),
            Db::Conn(connection) => self.sqlx().fetch_optional(&mut **connection).await?.as_ref().map(Row::from_sqlx).transpose(),
            Db::Lite(connection) => Ok(lite_query(connection, &self.sql, &self.binds)?.into_iter().next()),
        }
    }

    /// Runs a query that returns exactly one row.
    pub async fn fetch_one(self, db: &mut Db<'_>) -> StorageResult<Row> {
        let sql = self.sql.clone();
        self.fetch_optional(db)
            .await?
            .ok_or_else(|| StorageError::Corrupt(format!("a query returned no row: {sql}")))
    }

    fn sqlx(&self) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
        bind_all(sqlx::query(&self.sql), &self.binds)
    }
}

/// Binds values in order onto a query built with `filter_sql`.
pub(crate) fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for value in binds {
        query = match value {
            Bind::Text(text) => query.bind(text.as_str()),
            Bind::Int(number) => query.bind(*number),
            Bind::NullText => query.bind(None::<String>),
            Bind::NullInt => query.bind(None::<i64>),
        };
    }
    query
}

/// A result row, copied out of the connection so it outlives the statement.
#[derive(Debug, Clone)]
pub struct Row {
    /// The query's column names, shared by all its rows.
    names: Arc<[String]>,
    cells: Vec<Cell>,
}

#[derive(Debug, Clone)]
enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl Row {
    /// Reads a column as `T`, like sqlx's `Row::try_get`.
    pub(crate) fn try_get<T: FromColumn>(&self, name: &str) -> StorageResult<T> {
        T::from_column(self, name)
    }

    fn cell(&self, name: &str) -> StorageResult<&Cell> {
        self.names
            .iter()
            .position(|candidate| candidate.eq_ignore_ascii_case(name))
            .map(|index| &self.cells[index])
            .ok_or_else(|| StorageError::Corrupt(format!("no column {name} in the result")))
    }

    /// Copies a sqlx row. The Any driver shows a column's type only by decoding it, so each
    /// cell is tried as an integer, then as text, then as a real number.
    fn from_sqlx(row: &sqlx::any::AnyRow) -> StorageResult<Row> {
        use sqlx::{Column, Row as _};
        let mut names = Vec::with_capacity(row.columns().len());
        let mut cells = Vec::with_capacity(row.columns().len());
        for (index, column) in row.columns().iter().enumerate() {
            names.push(column.name().to_string());
            cells.push(sqlx_cell(row, index, column.name())?);
        }
        Ok(Row {
            names: names.into(),
            cells,
        })
    }
}

fn sqlx_cell(row: &sqlx::any::AnyRow, index: usize, name: &str) -> StorageResult<Cell> {
    use sqlx::Row as _;
    if let Ok(value) = row.try_get::<Option<i64>, _>(index) {
        return Ok(value.map_or(Cell::Null, Cell::Int));
    }
    if let Ok(value) = row.try_get::<Option<String>, _>(index) {
        return Ok(value.map_or(Cell::Null, Cell::Text));
    }
    if let Ok(value) = row.try_get::<Option<i32>, _>(index) {
        return Ok(value.map_or(Cell::Null, |number| Cell::Int(i64::from(number))));
    }
    if let Ok(value) = row.try_get::<Option<bool>, _>(index) {
        return Ok(value.map_or(Cell::Null, |flag| Cell::Int(i64::from(flag))));
    }
    if let Ok(value) = row.try_get::<Option<f64>, _>(index) {
        return Ok(value.map_or(Cell::Null, Cell::Real));
    }
    Err(StorageError::Corrupt(format!("column {name} has a type Hub does not read")))
}

impl Columns for Row {
    fn text(&self, name: &str) -> StorageResult<Option<String>> {
        match self.cell(name)? {
            Cell::Null => Ok(None),
            Cell::Text(text) => Ok(Some(text.clone())),
            Cell::Int(number) => Ok(Some(number.to_string())),
            Cell::Real(number) => Ok(Some(number.to_string())),
        }
    }

    fn integer(&self, name: &str) -> StorageResult<Option<i64>> {
        match self.cell(name)? {
            Cell::Null => Ok(None),
            Cell::Int(number) => Ok(Some(*number)),
            Cell::Text(text) => Err(StorageError::Corrupt(format!("column {name} contains text {text:?}, not an integer"))),
            Cell::Real(number) => Err(StorageError::Corrupt(format!("column {name} contains {number}, not an integer"))),
        }
    }
}

fn lite_execute(connection: &rusqlite::Connection, sql: &str, binds: &[Bind]) -> StorageResult<u64> {
    let mut statement = connection.prepare_cached(sql).map_err(write_error)?;
    super::sqlite_reader::bind_numbered(&mut statement, binds)?;
    // Some statements run for their effect return rows all the same, such as a PRAGMA that
    // sets a value and reports it. rusqlite refuses to execute those, so they are stepped
    // through instead.
    if statement.column_count() > 0 {
        let mut rows = statement.raw_query();
        while rows.next().map_err(write_error)?.is_some() {}
        return Ok(connection.changes());
    }
    let changed = statement.raw_execute().map_err(write_error)?;
    Ok(changed as u64)
}

fn lite_query(connection: &rusqlite::Connection, sql: &str, binds: &[Bind]) -> StorageResult<Vec<Row>> {
    let mut statement = connection.prepare_cached(sql).map_err(write_error)?;
    super::sqlite_reader::bind_numbered(&mut statement, binds)?;
    let names: Arc<[String]> = statement.column_names().into_iter().map(str::to_string).collect();
    let mut rows = statement.raw_query();
    let mut copied = Vec::new();
    while let Some(row) = rows.next().map_err(write_error)? {
        let mut cells = Vec::with_capacity(names.len());
        for index in 0..names.len() {
            cells.push(lite_cell(row.get_ref(index)?)?);
        }
        copied.push(Row {
            names: names.clone(),
            cells,
        });
    }
    Ok(copied)
}

fn lite_cell(value: rusqlite::types::ValueRef<'_>) -> StorageResult<Cell> {
    use rusqlite::types::ValueRef;
    Ok(match value {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(number) => Cell::Int(number),
        ValueRef::Real(number) => Cell::Real(number),
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => Cell::Text(
            String::from_utf8(bytes.to_vec()).map_err(|_| StorageError::Corrupt("a text column is not UTF-8".to_string()))?,
        ),
    })
}

/// Maps a SQLite error of a write. A unique constraint gets its own variant, as from sqlx, so
/// that callers respond with 409; SQLite's message names the columns.
pub(crate) fn write_error(error: rusqlite::Error) -> StorageError {
    if let rusqlite::Error::SqliteFailure(failure, message) = &error {
        let unique = failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY;
        if unique {
            return StorageError::UniqueViolation {
                constraint: message.clone().unwrap_or_else(|| error.to_string()),
            };
        }
    }
    StorageError::Write(error)
}
