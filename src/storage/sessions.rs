//! Hub sessions and the keys that sign session tokens.

use chrono::{DateTime, Utc};
use sqlx::{Any, Executor, Row};

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

pub async fn insert<'e, E: Executor<'e, Database = Any>>(executor: E, session: &Session) -> StorageResult<()> {
    sqlx::query("INSERT INTO sessions (id, org_id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&session.id)
        .bind(&session.org_id)
        .bind(&session.user_id)
        .bind(clock::format(session.created_at))
        .bind(clock::format(session.expires_at))
        .execute(executor)
        .await?;
    Ok(())
}

pub async fn get<'e, E: Executor<'e, Database = Any>>(executor: E, id: &str) -> StorageResult<Option<Session>> {
    let row = sqlx::query("SELECT id, org_id, user_id, created_at, expires_at, revoked_at FROM sessions WHERE id = $1")
        .bind(id)
        .fetch_optional(executor)
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
pub async fn signing_secret<'e, E>(executor: E) -> StorageResult<Option<String>>
where
    E: Executor<'e, Database = Any>,
{
    let row = sqlx::query("SELECT secret FROM signing_keys ORDER BY created_at ASC, id ASC LIMIT 1")
        .fetch_optional(executor)
        .await?;
    row.map(|row| row.try_get("secret")).transpose().map_err(Into::into)
}

pub async fn insert_signing_secret<'e, E: Executor<'e, Database = Any>>(executor: E, secret: &str) -> StorageResult<()> {
    sqlx::query("INSERT INTO signing_keys (id, secret, created_at) VALUES ($1, $2, $3)")
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(secret)
        .bind(clock::format(clock::now()))
        .execute(executor)
        .await?;
    Ok(())
}

/// Revokes every live session of a user; returns how many.
pub async fn revoke_for_user<'e, E: Executor<'e, Database = Any>>(executor: E, user_id: &str, now: DateTime<Utc>) -> StorageResult<u64> {
    let result = sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
        .bind(clock::format(now))
        .bind(user_id)
        .execute(executor)
        .await?;
    Ok(result.rows_affected())
}

/// Revokes one session (sign-out, or a change of the user's access).
pub async fn revoke<'e, E: Executor<'e, Database = Any>>(executor: E, id: &str, now: DateTime<Utc>) -> StorageResult<()> {
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(clock::format(now))
        .bind(id)
        .execute(executor)
        .await?;
    Ok(())
}
