//! The append-only audit log.

use sqlx::{Any, Executor, Row};

use super::StorageResult;
use crate::clock;
use crate::domain::audit::{AuditRecord, ChangeContext};

pub async fn insert<'e, E: Executor<'e, Database = Any>>(
    executor: E,
    org_id: &str,
    context: &ChangeContext,
    record: &AuditRecord,
) -> StorageResult<()> {
    sqlx::query(
        "INSERT INTO audit_entries (org_id, occurred_at, actor_type, actor_id, request_id, action, target_type, target_id, before_value, after_value) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(org_id)
    .bind(clock::format(clock::now()))
    .bind(context.actor.kind())
    .bind(context.actor.id().map(str::to_string))
    .bind(&context.request_id)
    .bind(record.action)
    .bind(record.target_type)
    .bind(&record.target_id)
    .bind(record.before.as_ref().map(|value| value.to_string()))
    .bind(record.after.as_ref().map(|value| value.to_string()))
    .execute(executor)
    .await?;
    Ok(())
}

/// A stored audit entry.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub occurred_at: String,
    pub actor_type: String,
    pub actor_id: Option<String>,
    pub request_id: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Lists an organization's entries about one target, oldest first.
pub async fn list_for_target<'e, E: Executor<'e, Database = Any>>(
    executor: E,
    org_id: &str,
    target_id: &str,
) -> StorageResult<Vec<AuditEntry>> {
    let rows = sqlx::query(
        "SELECT occurred_at, actor_type, actor_id, request_id, action, target_type, target_id, before_value, after_value \
         FROM audit_entries WHERE org_id = $1 AND target_id = $2 ORDER BY seq",
    )
    .bind(org_id)
    .bind(target_id)
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(AuditEntry {
                occurred_at: row.try_get("occurred_at")?,
                actor_type: row.try_get("actor_type")?,
                actor_id: row.try_get("actor_id")?,
                request_id: row.try_get("request_id")?,
                action: row.try_get("action")?,
                target_type: row.try_get("target_type")?,
                target_id: row.try_get("target_id")?,
                before: row.try_get("before_value")?,
                after: row.try_get("after_value")?,
            })
        })
        .collect()
}
