//! The append-only audit log.

use super::sql::{query, Db, Row};

use super::StorageResult;
use crate::clock;
use crate::domain::audit::{AuditRecord, ChangeContext};

pub async fn insert(db: &mut Db<'_>,
    org_id: &str,
    context: &ChangeContext,
    record: &AuditRecord,
) -> StorageResult<()> {
    query(
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
    .execute(db)
    .await?;
    Ok(())
}

/// A stored audit entry.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// Position in the log; newer entries have larger values.
    pub seq: i64,
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
pub async fn list_for_target(db: &mut Db<'_>,
    org_id: &str,
    target_id: &str,
) -> StorageResult<Vec<AuditEntry>> {
    let rows = query(
        "SELECT seq, occurred_at, actor_type, actor_id, request_id, action, target_type, target_id, before_value, after_value \
         FROM audit_entries WHERE org_id = $1 AND target_id = $2 ORDER BY seq",
    )
    .bind(org_id)
    .bind(target_id)
    .fetch_all(db)
    .await?;
    rows.iter().map(entry_from_row).collect()
}

fn entry_from_row(row: &Row) -> StorageResult<AuditEntry> {
            Ok(AuditEntry {
                seq: row.try_get("seq")?,
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
}

/// Filters for reading the audit log, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Entries about this user or group.
    pub target_id: Option<String>,
    /// Entries made by this actor (a user id or a SCIM token id).
    pub actor_id: Option<String>,
    /// Entries at or after this time (RFC 3339 text as stored).
    pub from: Option<String>,
    /// Entries before this time.
    pub to: Option<String>,
    /// Entries older than this position, for paging.
    pub before_seq: Option<i64>,
    pub limit: i64,
}

/// Lists an organization's entries, newest first.
pub async fn list(db: &mut Db<'_>, org_id: &str, query: &AuditQuery) -> StorageResult<Vec<AuditEntry>> {
    let mut conditions = vec!["org_id = $1".to_string()];
    let mut values: Vec<String> = Vec::new();
    let mut push = |condition: &str, value: &str, conditions: &mut Vec<String>| {
        values.push(value.to_string());
        conditions.push(condition.replace('?', &format!("${}", values.len() + 1)));
    };
    if let Some(target) = &query.target_id {
        push("target_id = ?", target, &mut conditions);
    }
    if let Some(actor) = &query.actor_id {
        push("actor_id = ?", actor, &mut conditions);
    }
    if let Some(from) = &query.from {
        push("occurred_at >= ?", from, &mut conditions);
    }
    if let Some(to) = &query.to {
        push("occurred_at < ?", to, &mut conditions);
    }

    let seq_placeholder = values.len() + 2;
    let limit_placeholder = seq_placeholder + 1;
    let sql = format!(
        "SELECT seq, occurred_at, actor_type, actor_id, request_id, action, target_type, target_id, before_value, after_value \
         FROM audit_entries WHERE {} AND seq < ${seq_placeholder} ORDER BY seq DESC LIMIT ${limit_placeholder}",
        conditions.join(" AND ")
    );

    let mut statement = super::sql::query(&sql).bind(org_id);
    for value in &values {
        statement = statement.bind(value);
    }
    let rows = statement
        .bind(query.before_seq.unwrap_or(i64::MAX))
        .bind(query.limit)
        .fetch_all(db)
        .await?;
    rows.iter().map(entry_from_row).collect()
}
