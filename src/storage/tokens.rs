//! SCIM bearer tokens, stored only as SHA-256 hashes.

use super::sql::{query, Db, Row};

use super::StorageResult;
use crate::clock;

/// A stored token: its hash, never the token itself.
#[derive(Debug, Clone)]
pub struct StoredToken {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub secret_hash: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// When the token stops working, if it was created with an expiry.
    pub expires_at: Option<String>,
    /// When the token last authenticated a request, to the minute.
    pub last_used_at: Option<String>,
}

fn from_row(row: &Row) -> StorageResult<StoredToken> {
    Ok(StoredToken {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        name: row.try_get("name")?,
        secret_hash: row.try_get("secret_hash")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
        expires_at: row.try_get("expires_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

pub async fn insert(db: &mut Db<'_>,
    org_id: &str,
    name: &str,
    lookup: &str,
    secret_hash: &str,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
) -> StorageResult<String> {
    let id = uuid::Uuid::new_v4().to_string();
    query(
        "INSERT INTO scim_tokens (id, org_id, name, lookup, secret_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(org_id)
    .bind(name)
    .bind(lookup)
    .bind(secret_hash)
    .bind(clock::format(clock::now()))
    .bind(expires_at.map(clock::format))
    .execute(db)
    .await?;
    Ok(id)
}

/// Returns the tokens, revoked ones included, whose hash starts with `lookup`.
pub async fn find_by_lookup(db: &mut Db<'_>, lookup: &str) -> StorageResult<Vec<StoredToken>> {
    let rows = query(
        "SELECT id, org_id, name, secret_hash, created_at, revoked_at, expires_at, last_used_at FROM scim_tokens WHERE lookup = $1",
    )
    .bind(lookup)
    .fetch_all(db)
    .await?;
    rows.iter().map(from_row).collect()
}

pub async fn list(db: &mut Db<'_>, org_id: &str) -> StorageResult<Vec<StoredToken>> {
    let rows = query(
        "SELECT id, org_id, name, secret_hash, created_at, revoked_at, expires_at, last_used_at FROM scim_tokens WHERE org_id = $1 ORDER BY created_at, id",
    )
    .bind(org_id)
    .fetch_all(db)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Revokes a token by id; returns whether a live token was revoked.
pub async fn revoke(db: &mut Db<'_>, id: &str) -> StorageResult<bool> {
    let result = query("UPDATE scim_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(clock::format(clock::now()))
        .bind(id)
        .execute(db)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Records that a token authenticated a request at `now`.
pub async fn touch(db: &mut Db<'_>, id: &str, now: chrono::DateTime<chrono::Utc>) -> StorageResult<()> {
    query("UPDATE scim_tokens SET last_used_at = $1 WHERE id = $2")
        .bind(clock::format(now))
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}
