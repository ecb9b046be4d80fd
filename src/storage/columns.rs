//! Typed access to result rows, shared by sqlx rows and the SQLite reader's rows, so each
//! table maps its rows in one place.

use sqlx::Row;

use super::{StorageError, StorageResult};

/// A result row whose columns are read by name.
pub(crate) trait Columns {
    fn text(&self, name: &str) -> StorageResult<Option<String>>;
    fn integer(&self, name: &str) -> StorageResult<Option<i64>>;

    /// Reads a column as `T`; a NULL in a column read as a non-optional type is an error.
    fn column<T: FromColumn>(&self, name: &str) -> StorageResult<T> {
        T::from_column(self, name)
    }
}

/// A type a column converts to.
pub(crate) trait FromColumn: Sized {
    fn from_column<R: Columns + ?Sized>(row: &R, name: &str) -> StorageResult<Self>;
}

fn missing(name: &str) -> StorageError {
    StorageError::Corrupt(format!("column {name} is NULL"))
}

impl FromColumn for String {
    fn from_column<R: Columns + ?Sized>(row: &R, name: &str) -> StorageResult<Self> {
        row.text(name)?.ok_or_else(|| missing(name))
    }
}

impl FromColumn for Option<String> {
    fn from_column<R: Columns + ?Sized>(row: &R, name: &str) -> StorageResult<Self> {
        row.text(name)
    }
}

impl FromColumn for i64 {
    fn from_column<R: Columns + ?Sized>(row: &R, name: &str) -> StorageResult<Self> {
        row.integer(name)?.ok_or_else(|| missing(name))
    }
}

impl FromColumn for Option<i64> {
    fn from_column<R: Columns + ?Sized>(row: &R, name: &str) -> StorageResult<Self> {
        row.integer(name)
    }
}

impl Columns for sqlx::any::AnyRow {
    fn text(&self, name: &str) -> StorageResult<Option<String>> {
        Ok(self.try_get(name)?)
    }

    fn integer(&self, name: &str) -> StorageResult<Option<i64>> {
        Ok(self.try_get(name)?)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn text(&self, name: &str) -> StorageResult<Option<String>> {
        self.get(name).map_err(StorageError::from)
    }

    fn integer(&self, name: &str) -> StorageResult<Option<i64>> {
        self.get(name).map_err(StorageError::from)
    }
}
