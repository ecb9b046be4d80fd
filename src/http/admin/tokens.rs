//! `/api/v1/scim-tokens`: SCIM bearer tokens of the organization.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::auth::AdminCaller;
use super::error::AdminError;
use super::extract::AdminJson;
use crate::domain::audit::AuditRecord;
use crate::http::AppState;
use crate::domain::user::Role;
use crate::domain::DomainError;
use crate::service::admin_users::require_manage_users;
use crate::service::tokens::{generate_token, store_token, MAX_TOKEN_DAYS};
use crate::storage::{audit, request_log, tokens};

/// GET /api/v1/scim-tokens: ids, names and dates, never the tokens. Each token also shows its
/// requests and errors (status 400 and above) of the last 24 hours, from the request log.
pub async fn tokens_list(State(state): State<AppState>, caller: AdminCaller) -> Result<Json<Value>, AdminError> {
    require_manage_users(&caller.identity)?;
    let org_id = &caller.identity.organization.id;
    let stored = tokens::list(&mut state.store.db(), org_id).await?;
    let counts = request_log::token_counts(state.store.log_pool(), org_id, state.clock.now() - chrono::Duration::hours(24)).await?;
    let items: Vec<Value> = stored
        .iter()
        .map(|token| {
            let expired = token
                .expires_at
                .as_deref()
                .and_then(crate::clock::parse)
                .is_some_and(|expires_at| state.clock.now() >= expires_at);
            let last_day = counts.get(&token.id).copied().unwrap_or_default();
            json!({
                "id": token.id,
                "name": token.name,
                "createdAt": token.created_at,
                "lastUsedAt": token.last_used_at,
                "expiresAt": token.expires_at,
                "expired": expired,
                "revokedAt": token.revoked_at,
                "requests24h": last_day.requests,
                "errors24h": last_day.errors,
            })
        })
        .collect();
    Ok(Json(json!({"tokens": items})))
}

/// The body of a token creation.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    pub name: String,
    /// Days until the token stops working; absent for a token without expiry.
    #[serde(default, rename = "expiresInDays")]
    pub expires_in_days: Option<i64>,
}

/// Rule 3 applied to tokens: a SCIM token can change any user, Owners included, so only Owners
/// create and revoke them.
fn require_owner(caller: &AdminCaller) -> Result<(), AdminError> {
    if caller.identity.effective_role == Role::Owner {
        return Ok(());
    }
    Err(DomainError::Forbidden("Only an Owner may create or revoke SCIM tokens, because a SCIM token can change any user.".to_string()).into())
}

/// POST /api/v1/scim-tokens: the new token is in this response only.
pub async fn tokens_create(
    State(state): State<AppState>,
    caller: AdminCaller,
    AdminJson(body): AdminJson<CreateBody>,
) -> Result<(StatusCode, [(axum::http::HeaderName, &'static str); 1], Json<Value>), AdminError> {
    require_owner(&caller)?;
    let name = body.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(AdminError::bad_request("name must have 1 to 100 characters."));
    }
    let expires_at = match body.expires_in_days {
        None => None,
        Some(days) if (1..=MAX_TOKEN_DAYS).contains(&days) => Some(state.clock.now() + chrono::Duration::days(days)),
        Some(days) => {
            return Err(AdminError::bad_request(format!(
                "expiresInDays {days} is invalid; give 1 to {MAX_TOKEN_DAYS} days, or leave it out for a token without expiry."
            )))
        }
    };
    let org_id = caller.identity.organization.id.clone();
    let token = generate_token();
    let id = store_token(&state.store, &org_id, name, &token, expires_at).await?;
    let record = AuditRecord {
        action: "scim_token.created",
        target_type: "scim_token",
        target_id: id.clone(),
        before: None,
        after: Some(json!({"name": name, "expiresAt": expires_at.map(crate::clock::format)})),
    };
    audit::insert(&mut state.store.db(), &org_id, &caller.context(), &record).await?;
    tracing::info!(token_id = %id, org_id = %org_id, "SCIM token created");
    Ok((
        StatusCode::CREATED,
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(json!({"id": id, "name": name, "token": token, "expiresAt": expires_at.map(crate::clock::format)})),
    ))
}

/// DELETE /api/v1/scim-tokens/{id}: revokes a token of the organization.
pub async fn tokens_revoke(State(state): State<AppState>, caller: AdminCaller, Path(id): Path<String>) -> Result<StatusCode, AdminError> {
    require_owner(&caller)?;
    let org_id = caller.identity.organization.id.clone();
    let owned = tokens::list(&mut state.store.db(), &org_id).await?.into_iter().any(|token| token.id == id && token.revoked_at.is_none());
    if !owned || !tokens::revoke(&mut state.store.db(), &id).await? {
        return Err(AdminError::not_found("No live SCIM token of this organization has that id."));
    }
    state.token_cache.clear();
    let record = AuditRecord {
        action: "scim_token.revoked",
        target_type: "scim_token",
        target_id: id.clone(),
        before: None,
        after: None,
    };
    audit::insert(&mut state.store.db(), &org_id, &caller.context(), &record).await?;
    tracing::info!(token_id = %id, org_id = %org_id, "SCIM token revoked");
    Ok(StatusCode::NO_CONTENT)
}
