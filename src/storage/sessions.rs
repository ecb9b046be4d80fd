//! Hub sessions and the keys that sign session tokens.

use chrono::{DateTime, Utc};
use super::sql::{query, Db};

use super::{parse_time, StorageResult};
use crate::clock;

/// A stored session; the token is a JWT that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub org_id: String,
    pub user_id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub async fn insert(db: &mut Db<'_>, session: &Session) -> StorageResult<()> {
    query("INSERT INTO sessions (id, org_id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&session.id)
        .bind(&session.org_id)
        .bind(&session.user_id)
        .bind(clock::format(session.created_at))
        .bind(clock::format(session.expires_at))
        .execute(db)
        .await?;
    Ok(())
}

pub async fn get(db: &mut Db<'_>, id: &str) -> StorageResult<Option<Session>> {
    let row = query("SELECT id, org_id, user_id, created_at, expires_at, revoked_at FROM sessions WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let created_at: String = row.try_get("created_at")?;
    let expires_at: String = row.try_get("expires_at")?;
    let revoked_at: Option<String> = row.try_get("revoked_at")?;
    Ok(Some(Session {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        user_id: row.try_get("user_id")?,
        created_at: parse_time(&created_at, "sessions.created_at")?,
        expires_at: parse_time(&expires_at, "sessions.expires_at")?,
        revoked_at: revoked_at.as_deref().map(|text| parse_time(text, "sessions.revoked_at")).transpose()?,
    }))
}

/// Returns the oldest signing secret. Instances that start together and both insert one still
/// agree, because they all pick the oldest.
pub async fn signing_secret(db: &mut Db<'_>) -> StorageResult<Option<String>> {
    let row = query("SELECT secret FROM signing_keys ORDER BY created_at ASC, id ASC LIMIT 1")
        .fetch_optional(db)
        .await?;
    row.map(|row| row.try_get("secret")).transpose().map_err(Into::into)
}

pub async fn insert_signing_secret(db: &mut Db<'_>, secret: &str) -> StorageResult<()> {
    query("INSERT INTO signing_keys (id, secret, created_at) VALUES ($1, $2, $3)")
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(secret)
        .bind(clock::format(clock::now()))
        .execute(db)
        .await?;
    Ok(())
}

/// Revokes every live session of a user; returns how many.
pub async fn revoke_for_user(db: &mut Db<'_>, user_id: &str, now: DateTime<Utc>) -> StorageResult<u64> {
    let result = query("UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
        .bind(clock::format(now))
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(result.rows_affected())
}

/// Revokes one session (sign-out, or a change of the user's access).
pub async fn revoke(db: &mut Db<'_>, id: &str, now: DateTime<Utc>) -> StorageResult<()> {
    query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(clock::format(now))
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}
