//! Invitations. Only the SHA-256 of a link token is stored.

use chrono::{DateTime, Utc};
use super::sql::{query, Db, Row};

use super::{parse_time, StorageResult};
use crate::clock;
use crate::domain::invitation::Invitation;

const COLUMNS: &str = "id, org_id, user_id, invited_by, sent_at, expires_at, used_at, revoked_at";

fn optional_time(row: &Row, column: &str) -> StorageResult<Option<DateTime<Utc>>> {
    let text: Option<String> = row.try_get(column)?;
    text.as_deref().map(|text| parse_time(text, column)).transpose()
}

fn from_row(row: &Row) -> StorageResult<Invitation> {
    let sent_at: String = row.try_get("sent_at")?;
    let expires_at: String = row.try_get("expires_at")?;
    Ok(Invitation {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        user_id: row.try_get("user_id")?,
        invited_by: row.try_get("invited_by")?,
        sent_at: parse_time(&sent_at, "invitations.sent_at")?,
        expires_at: parse_time(&expires_at, "invitations.expires_at")?,
        used_at: optional_time(row, "used_at")?,
        revoked_at: optional_time(row, "revoked_at")?,
    })
}

pub async fn insert(db: &mut Db<'_>, invitation: &Invitation, token_hash: &str) -> StorageResult<()> {
    query(
        "INSERT INTO invitations (id, org_id, user_id, token_hash, invited_by, sent_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&invitation.id)
    .bind(&invitation.org_id)
    .bind(&invitation.user_id)
    .bind(token_hash)
    .bind(&invitation.invited_by)
    .bind(clock::format(invitation.sent_at))
    .bind(clock::format(invitation.expires_at))
    .execute(db)
    .await?;
    Ok(())
}

pub async fn find_by_token_hash(db: &mut Db<'_>, token_hash: &str) -> StorageResult<Option<Invitation>> {
    let row = query(&format!("SELECT {COLUMNS} FROM invitations WHERE token_hash = $1"))
        .bind(token_hash)
        .fetch_optional(db)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Returns the user's most recent invitation.
pub async fn latest_for_user(db: &mut Db<'_>,
    org_id: &str,
    user_id: &str,
) -> StorageResult<Option<Invitation>> {
    let row = query(&format!(
        "SELECT {COLUMNS} FROM invitations WHERE org_id = $1 AND user_id = $2 ORDER BY sent_at DESC, id DESC LIMIT 1"
    ))
    .bind(org_id)
    .bind(user_id)
    .fetch_optional(db)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Marks every open link of the user as replaced; returns how many there were.
pub async fn revoke_open(db: &mut Db<'_>,
    org_id: &str,
    user_id: &str,
    now: DateTime<Utc>,
) -> StorageResult<u64> {
    let result = query(
        "UPDATE invitations SET revoked_at = $1 WHERE org_id = $2 AND user_id = $3 AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(clock::format(now))
    .bind(org_id)
    .bind(user_id)
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}

/// Marks a link used; returns false when it was used or replaced meanwhile.
pub async fn mark_used(db: &mut Db<'_>, id: &str, now: DateTime<Utc>) -> StorageResult<bool> {
    let result = query("UPDATE invitations SET used_at = $1 WHERE id = $2 AND used_at IS NULL AND revoked_at IS NULL")
        .bind(clock::format(now))
        .bind(id)
        .execute(db)
        .await?;
    Ok(result.rows_affected() == 1)
}
