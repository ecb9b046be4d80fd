//! `/api/v1/scim-requests`: the organization's SCIM request log, newest first, read-only, for
//! Owners and Admins.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::Json;
use serde_json::{json, Value};

use super::audit::parse_time;
use super::auth::AdminCaller;
use super::error::AdminError;
use crate::domain::request_log::{Action, StatusClass};
use crate::http::AppState;
use crate::service::admin_users::require_manage_users;
use crate::storage::request_log::{self, RequestQuery, StoredRequest};

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

/// GET /api/v1/scim-requests?status=&action=&token=&target=&from=&to=&limit=&cursor=
///
/// `status` is `success`, `clientError` or `serverError`. `target` searches the target name,
/// the resource id and the filter, ignoring case. `from` and `to` bound the time as RFC 3339,
/// and `cursor` is the `nextCursor` of the previous page.
pub async fn requests_list(
    State(state): State<AppState>,
    caller: AdminCaller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, AdminError> {
    require_manage_users(&caller.identity)?;
    let org_id = caller.identity.organization.id.clone();
    let filter = parse_query(&query)?;

    let mut page_query = filter.clone();
    page_query.limit = filter.limit + 1;
    let mut entries = request_log::list(state.store.log_pool(), &org_id, &page_query).await?;
    let next_cursor = if entries.len() as i64 > filter.limit {
        entries.truncate(filter.limit as usize);
        entries.last().map(|entry| entry.seq.to_string())
    } else {
        None
    };
    let (dropped, last_dropped_at) = request_log::drops(state.store.log_pool(), &org_id).await?;

    let items: Vec<Value> = entries.iter().map(render).collect();
    Ok(Json(json!({
        "entries": items,
        "nextCursor": next_cursor,
        "droppedEntries": dropped,
        "lastDroppedAt": last_dropped_at,
    })))
}

/// GET /api/v1/scim-requests/{id}: one entry of the organization.
pub async fn requests_get(State(state): State<AppState>, caller: AdminCaller, Path(id): Path<String>) -> Result<Json<Value>, AdminError> {
    require_manage_users(&caller.identity)?;
    let not_found = || AdminError::not_found(format!("No SCIM request log entry of this organization has the id {id:?}."));
    let seq = id.parse::<i64>().map_err(|_| not_found())?;
    let entry = request_log::get(state.store.log_pool(), &caller.identity.organization.id, seq)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(render(&entry)))
}

fn parse_query(query: &HashMap<String, String>) -> Result<RequestQuery, AdminError> {
    let status_class = match query.get("status") {
        None => None,
        Some(text) => Some(StatusClass::parse(text).ok_or_else(|| {
            AdminError::bad_request(format!("status must be success, clientError or serverError; got {text:?}."))
        })?),
    };
    let action = match query.get("action") {
        None => None,
        Some(text) => match Action::parse(text) {
            Some(action) => Some(action.as_str().to_string()),
            None => {
                return Err(AdminError::bad_request(format!(
                    "action {text:?} is unknown; use one of {}.",
                    Action::names().join(", ")
                )))
            }
        },
    };
    let limit = match query.get("limit") {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|limit| (1..=MAX_LIMIT).contains(limit))
            .ok_or_else(|| AdminError::bad_request(format!("limit must be an integer from 1 to {MAX_LIMIT}; got {text:?}.")))?,
    };
    let before_seq = match query.get("cursor") {
        None => None,
        Some(text) => Some(
            text.parse::<i64>()
                .ok()
                .filter(|cursor| *cursor > 0)
                .ok_or_else(|| AdminError::bad_request(format!("cursor must be the nextCursor of a previous page; got {text:?}.")))?,
        ),
    };
    let target_text = query.get("target").map(|text| text.trim().to_string()).filter(|text| !text.is_empty());
    let from = parse_time(query, "from")?;
    let to = parse_time(query, "to")?;
    if let (Some(from), Some(to)) = (&from, &to) {
        if from > to {
            return Err(AdminError::bad_request(format!("from ({from}) must not be later than to ({to}).")));
        }
    }
    Ok(RequestQuery {
        status_class,
        action,
        token_id: query.get("token").cloned(),
        target_text,
        from,
        to,
        before_seq,
        limit,
    })
}

/// Renders an entry. Every stored field is shown, because none of them contains a secret.
fn render(entry: &StoredRequest) -> Value {
    let operations = entry
        .operations
        .as_deref()
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .unwrap_or_else(|| json!([]));
    json!({
        "id": entry.seq.to_string(),
        "at": entry.at,
        "token": {"id": entry.token_id, "name": entry.token_name},
        "client": entry.client,
        "userAgent": entry.user_agent,
        "method": entry.method,
        "path": entry.path,
        "action": entry.action,
        "resourceType": entry.resource_type,
        "resourceId": entry.resource_id,
        "target": entry.target,
        "filter": entry.filter,
        "operations": operations,
        "status": entry.status,
        "scimType": entry.scim_type,
        "detail": entry.detail,
        "rule": entry.rule,
        "durationMs": entry.duration_us as f64 / 1000.0,
        "requestId": entry.request_id,
    })
}
