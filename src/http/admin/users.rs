//! `/api/v1/users` and group grants.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::auth::AdminCaller;
use super::error::AdminError;
use super::extract::AdminJson;
use super::views::user_view;
use crate::domain::group::{effective_products, effective_role};
use crate::domain::user::{validate_products, Role, Status};
use crate::http::AppState;
use crate::service::admin_users::{self, require_manage_users, ProfileEdit, StatusAction};
use crate::storage::{groups, users};

/// Largest page of the user list.
const MAX_PAGE_SIZE: usize = 200;

/// GET /api/v1/users: search (name, email) and filters (status, role, product, mfa) with
/// page-number pagination.
pub async fn users_list(
    State(state): State<AppState>,
    caller: AdminCaller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, AdminError> {
    require_manage_users(&caller.identity)?;
    let org_id = &caller.identity.organization.id;
    let page: usize = parse_number(&query, "page", 1)?.max(1);
    let page_size: usize = parse_number(&query, "pageSize", 50)?.clamp(1, MAX_PAGE_SIZE);
    let status = match query.get("status") {
        Some(text) => Some(Status::parse(text).ok_or_else(|| AdminError::bad_request(format!("status {text:?} is invalid; use Invited, Active, Suspended or Deactivated.")))?),
        None => None,
    };
    let role = match query.get("role") {
        Some(text) => Some(Role::parse(text).ok_or_else(|| AdminError::bad_request(format!("role {text:?} is invalid; use Owner, Admin, Member or Viewer.")))?),
        None => None,
    };
    let mfa = match query.get("mfa").map(String::as_str) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(text) => return Err(AdminError::bad_request(format!("mfa {text:?} is invalid; use true or false."))),
    };
    let search = query.get("search").map(|text| text.trim().to_lowercase()).filter(|text| !text.is_empty());
    let product = query.get("product");

    // NOTE: the filters run in memory over the organization's users. That is fine for thousands
    // of users, and this is the place to move them to SQL for larger organizations.
    let all = users::list_all(&mut state.store.db(), org_id).await?;
    let mut memberships = HashMap::new();
    for chunk in all.chunks(500) {
        let ids: Vec<String> = chunk.iter().map(|user| user.id.clone()).collect();
        memberships.extend(groups::memberships_of(&mut state.store.db(), org_id, &ids).await?);
    }
    let mut matched = Vec::new();
    for user in &all {
        let user_memberships = memberships.get(&user.id).cloned().unwrap_or_default();
        let keep = status.is_none_or(|status| user.lifecycle.status == status)
            && role.is_none_or(|role| effective_role(user.role, &user_memberships) == role)
            && mfa.is_none_or(|mfa| user.mfa_enabled == mfa)
            && product.is_none_or(|product| effective_products(&user.products, &user_memberships).contains(product))
            && search.as_deref().is_none_or(|search| search_text(user).contains(search));
        if keep {
            matched.push(user_view(user, &user_memberships));
        }
    }
    let total = matched.len();
    let items: Vec<Value> = matched.into_iter().skip((page - 1) * page_size).take(page_size).collect();
    Ok(Json(json!({"users": items, "total": total, "page": page, "pageSize": page_size})))
}

/// Builds the text a search looks in: userName, display name, name parts and email addresses.
fn search_text(user: &crate::domain::user::User) -> String {
    let mut parts: Vec<String> = Vec::new();
    parts.extend(user.user_name().map(str::to_string));
    parts.extend(user.display_name().map(str::to_string));
    if let Some(name) = user.profile.get("name").and_then(Value::as_object) {
        parts.extend(name.values().filter_map(Value::as_str).map(str::to_string));
    }
    if let Some(emails) = user.profile.get("emails").and_then(Value::as_array) {
        parts.extend(emails.iter().filter_map(|email| email.get("value")).filter_map(Value::as_str).map(str::to_string));
    }
    parts.join(" ").to_lowercase()
}

fn parse_number(query: &HashMap<String, String>, name: &str, default: usize) -> Result<usize, AdminError> {
    match query.get(name) {
        None => Ok(default),
        Some(text) => text
            .parse()
            .map_err(|_| AdminError::bad_request(format!("{name} must be a positive integer; got {text:?}."))),
    }
}

/// GET /api/v1/users/{id}.
pub async fn users_get(State(state): State<AppState>, caller: AdminCaller, Path(id): Path<String>) -> Result<Json<Value>, AdminError> {
    require_manage_users(&caller.identity)?;
    let record = crate::service::users::get(&state.store, &caller.identity.organization.id, &id).await?;
    Ok(Json(user_view(&record.user, &record.memberships)))
}

/// PATCH /api/v1/users/{id}: profile fields, role and product access.
pub async fn users_edit(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(id): Path<String>,
    AdminJson(edit): AdminJson<ProfileEdit>,
) -> Result<Json<Value>, AdminError> {
    let record = admin_users::edit(&state.store, &caller.identity, &caller.context(), &id, &edit, state.clock.as_ref()).await?;
    Ok(Json(user_view(&record.user, &record.memberships)))
}

async fn change_status(state: AppState, caller: AdminCaller, id: String, action: StatusAction) -> Result<Json<Value>, AdminError> {
    let record = admin_users::change_status(&state.store, &caller.identity, &caller.context(), &id, action, state.clock.as_ref()).await?;
    Ok(Json(user_view(&record.user, &record.memberships)))
}

/// POST /api/v1/users/{id}/deactivate.
pub async fn users_deactivate(State(state): State<AppState>, caller: AdminCaller, Path(id): Path<String>) -> Result<Json<Value>, AdminError> {
    change_status(state, caller, id, StatusAction::Deactivate).await
}

/// POST /api/v1/users/{id}/reactivate.
pub async fn users_reactivate(State(state): State<AppState>, caller: AdminCaller, Path(id): Path<String>) -> Result<Json<Value>, AdminError> {
    change_status(state, caller, id, StatusAction::Reactivate).await
}

/// POST /api/v1/users/{id}/suspend.
pub async fn users_suspend(State(state): State<AppState>, caller: AdminCaller, Path(id): Path<String>) -> Result<Json<Value>, AdminError> {
    change_status(state, caller, id, StatusAction::Suspend).await
}

/// POST /api/v1/users/{id}/lift-suspension.
pub async fn users_lift_suspension(State(state): State<AppState>, caller: AdminCaller, Path(id): Path<String>) -> Result<Json<Value>, AdminError> {
    change_status(state, caller, id, StatusAction::LiftSuspension).await
}

/// POST /api/v1/users/{id}/remove (and DELETE /api/v1/users/{id}): only for Deactivated users.
pub async fn users_remove(State(state): State<AppState>, caller: AdminCaller, Path(id): Path<String>) -> Result<StatusCode, AdminError> {
    admin_users::remove(&state.store, &caller.identity, &caller.context(), &id, state.clock.as_ref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The grants of a group in the admin API.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrantsBody {
    /// Owner, Admin, Member or Viewer; null for no role.
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub products: Vec<String>,
}

/// GET /api/v1/groups/{id}/grants.
pub async fn group_grants_get(State(state): State<AppState>, caller: AdminCaller, Path(id): Path<String>) -> Result<Json<Value>, AdminError> {
    require_manage_users(&caller.identity)?;
    let record = crate::service::groups::get(&state.store, &caller.identity.organization.id, &id, false).await?;
    Ok(Json(json!({
        "groupId": record.group.id,
        "displayName": record.group.display_name,
        "role": record.group.grant_role.map(|role| role.as_str()),
        "products": record.group.grant_products,
    })))
}

/// PUT /api/v1/groups/{id}/grants: sets the role and products the group grants. Granting or
/// taking away Owner needs an Owner.
pub async fn group_grants_put(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(id): Path<String>,
    AdminJson(body): AdminJson<GrantsBody>,
) -> Result<Json<Value>, AdminError> {
    require_manage_users(&caller.identity)?;
    let organization = &caller.identity.organization;
    let role = body.role.as_deref().map(Role::parse_or_reject).transpose()?;
    let products = validate_products(&body.products, &organization.products)?;
    let current = crate::service::groups::get(&state.store, &organization.id, &id, false).await?;
    let touches_owner = (current.group.grant_role == Some(Role::Owner)) != (role == Some(Role::Owner));
    if touches_owner && caller.identity.effective_role != Role::Owner {
        return Err(crate::domain::DomainError::Forbidden("Only an Owner may grant or take away the Owner role.".to_string()).into());
    }
    let mut grants = serde_json::Map::new();
    if let Some(role) = role {
        grants.insert("platformRole".into(), json!(role.as_str()));
    }
    grants.insert("productAccess".into(), json!(products));
    let patch = json!({
        "schemas": [crate::scim::schema::PATCH_OP],
        "Operations": [
            {"op": "remove", "path": crate::scim::schema::HUB_GROUP},
            {"op": "add", "path": crate::scim::schema::HUB_GROUP, "value": grants},
        ]
    });
    let updated = crate::service::groups::patch(&state.store, organization, &caller.context(), &id, &patch, None).await?;
    Ok(Json(json!({
        "groupId": updated.group.id,
        "displayName": updated.group.display_name,
        "role": updated.group.grant_role.map(|role| role.as_str()),
        "products": updated.group.grant_products,
    })))
}
