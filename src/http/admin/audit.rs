//! `/api/v1/audit`: the organization's audit log, newest first, read-only.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::Json;
use serde_json::{json, Value};

use super::auth::AdminCaller;
use super::error::AdminError;
use crate::http::AppState;
use crate::service::admin_users::require_manage_users;
use crate::storage::audit::{self, AuditQuery};
use crate::storage::{tokens, users};

/// The name audit views show for a removed user.
pub const REMOVED_USER: &str = "Removed User";

const MAX_LIMIT: i64 = 200;

/// Reads an RFC 3339 time parameter into the stored time format.
pub(crate) fn parse_time(query: &HashMap<String, String>, name: &str) -> Result<Option<String>, AdminError> {
    match query.get(name) {
        None => Ok(None),
        Some(text) => chrono::DateTime::parse_from_rfc3339(text)
            .map(|time| Some(crate::clock::format(time.with_timezone(&chrono::Utc))))
            .map_err(|_| AdminError::bad_request(format!("{name} must be an RFC 3339 time such as 2026-01-31T09:00:00Z; got {text:?}."))),
    }
}

/// GET /api/v1/audit?user=&actor=&from=&to=&limit=&before=: filtered by the user an entry is
/// about, the actor, and a time range; `nextBefore` pages to older entries.
pub async fn audit_list(
    State(state): State<AppState>,
    caller: AdminCaller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, AdminError> {
    require_manage_users(&caller.identity)?;
    let org_id = caller.identity.organization.id.clone();
    let limit = match query.get("limit") {
        None => 50,
        Some(text) => text
            .parse::<i64>()
            .map_err(|_| AdminError::bad_request(format!("limit must be an integer; got {text:?}.")))?
            .clamp(1, MAX_LIMIT),
    };
    let before_seq = match query.get("before") {
        None => None,
        Some(text) => Some(text.parse::<i64>().map_err(|_| AdminError::bad_request(format!("before must be an integer from nextBefore; got {text:?}.")))?),
    };
    let filter = AuditQuery {
        target_id: query.get("user").cloned(),
        actor_id: query.get("actor").cloned(),
        from: parse_time(&query, "from")?,
        to: parse_time(&query, "to")?,
        before_seq,
        limit,
    };
    let entries = audit::list(&mut state.store.db(), &org_id, &filter).await?;

    let token_names: HashMap<String, String> = tokens::list(&mut state.store.db(), &org_id)
        .await?
        .into_iter()
        .map(|token| (token.id, token.name))
        .collect();
    let mut user_names: HashMap<String, String> = HashMap::new();
    for entry in &entries {
        let ids = [
            (entry.actor_type == "user").then(|| entry.actor_id.clone()).flatten(),
            (entry.target_type == "user").then(|| entry.target_id.clone()),
        ];
        for id in ids.into_iter().flatten() {
            if user_names.contains_key(&id) {
                continue;
            }
            let name = match users::get(&mut state.store.db(), &org_id, &id).await? {
                Some(user) if user.removed_at.is_none() => user.display_name().or(user.user_name()).unwrap_or_default().to_string(),
                _ => REMOVED_USER.to_string(),
            };
            user_names.insert(id, name);
        }
    }

    let items: Vec<Value> = entries
        .iter()
        .map(|entry| {
            let actor_name = match (entry.actor_type.as_str(), &entry.actor_id) {
                ("user", Some(id)) => user_names.get(id).cloned(),
                ("scim_token", Some(id)) => token_names.get(id).map(|name| format!("SCIM token {name}")),
                _ => Some("Hub".to_string()),
            };
            let target_name = (entry.target_type == "user").then(|| user_names.get(&entry.target_id).cloned()).flatten();
            json!({
                "id": entry.seq,
                "occurredAt": entry.occurred_at,
                "action": entry.action,
                "actor": {"type": entry.actor_type, "id": entry.actor_id, "name": actor_name},
                "target": {"type": entry.target_type, "id": entry.target_id, "name": target_name},
                "requestId": entry.request_id,
                "before": entry.before.as_deref().and_then(|text| serde_json::from_str::<Value>(text).ok()),
                "after": entry.after.as_deref().and_then(|text| serde_json::from_str::<Value>(text).ok()),
            })
        })
        .collect();
    let next_before = (entries.len() as i64 == limit).then(|| entries.last().map(|entry| entry.seq)).flatten();
    Ok(Json(json!({"entries": items, "nextBefore": next_before})))
}
