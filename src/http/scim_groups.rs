//! `/Groups` endpoints (RFC 7644 §3.3 to §3.6).
//!
//! Members are loaded only when the response shows them, so Entra's lookups with
//! `excludedAttributes=members` and PATCH requests on large groups read no member rows.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::Value;

use crate::scim::group::{append_members, member_fields, MemberFields, MemberView};

use super::auth::ScimCaller;
use super::error::ApiError;
use super::extract::{header_text, QueryParams, ScimJson};
use super::request_id::RequestId;
use super::request_log::{group_patch_action, RequestNote};
use super::response::ScimResponse;
use super::scim_users::{change_context, search_request_params};
use super::AppState;
use crate::scim::cursor::CursorContext;
use crate::scim::list::{parse_params, write_with_resources};
use crate::scim::projection::Projection;
use crate::scim::schema::GROUP_RESOURCE;
use crate::scim::user::etag;
use crate::service::groups::{self, GroupRecord};
use crate::service::users::etag_list_matches;

pub(crate) fn projection_from(query: &QueryParams) -> Result<Projection, ApiError> {
    Ok(Projection::parse(
        &GROUP_RESOURCE,
        query.get("attributes"),
        query.get("excludedAttributes"),
    )?)
}

/// Returns whether the response includes members: false when `excludedAttributes` names them,
/// or when `attributes` lists only other attributes.
pub(crate) fn wants_members(query: &QueryParams) -> bool {
    let mentions = |list: &str, sub_attributes: bool| {
        list.split(',').any(|item| {
            let item = item.trim().to_ascii_lowercase();
            let path = item.rsplit_once(':').map_or(item.as_str(), |(_, path)| path);
            path == "members" || (sub_attributes && path.starts_with("members."))
        })
    };
    // Excluding a sub-attribute such as `members.type` keeps the members.
    if query.get("excludedAttributes").is_some_and(|list| mentions(list, false)) {
        return false;
    }
    match query.get("attributes") {
        Some(list) if !list.trim().is_empty() => mentions(list, true),
        _ => true,
    }
}

fn group_response(
    state: &AppState,
    headers: &HeaderMap,
    query: &QueryParams,
    record: &GroupRecord,
    status: StatusCode,
) -> Result<ScimResponse, ApiError> {
    let base_url = state.scim_base_url(headers);
    let projection = projection_from(query)?;
    let body = crate::scim::group::render_projected(&record.group, record.members.as_deref(), &base_url, &projection);
    let mut response = ScimResponse::json(body).with_etag(etag(record.group.version));
    response.status = status;
    if status == StatusCode::CREATED {
        response.location = Some(format!("{base_url}/Groups/{}", record.group.id));
    }
    Ok(response)
}


/// GET /Groups/{id}.
pub async fn groups_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: ScimCaller,
    note: RequestNote,
    Path(id): Path<String>,
    query: QueryParams,
) -> Result<Response, ApiError> {
    let record = groups::get(&state.store, &caller.0.organization.id, &id, wants_members(&query)).await?;
    note.target(Some(&record.group.display_name));
    if let Some(if_none_match) = header_text(&headers, header::IF_NONE_MATCH) {
        if etag_list_matches(if_none_match, record.group.version) {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            if let Ok(value) = etag(record.group.version).parse() {
                response.headers_mut().insert(header::ETAG, value);
            }
            return Ok(response);
        }
    }
    Ok(group_response(&state, &headers, &query, &record, StatusCode::OK)?.into_response())
}

/// POST /Groups: 201 with the group, `Location` and `ETag`.
pub async fn groups_create(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: ScimCaller,
    Extension(request_id): Extension<RequestId>,
    note: RequestNote,
    query: QueryParams,
    ScimJson(body): ScimJson,
) -> Result<ScimResponse, ApiError> {
    note.target(body.get("displayName").and_then(Value::as_str));
    let context = change_context(&caller, &request_id);
    let input = groups::parse_body(&body)?;
    let record = groups::create(&state.store, &caller.0.organization, &context, input).await?;
    note.resource_id(&record.group.id);
    group_response(&state, &headers, &query, &record, StatusCode::CREATED)
}

/// PUT /Groups/{id}.
pub async fn groups_replace(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: ScimCaller,
    Extension(request_id): Extension<RequestId>,
    note: RequestNote,
    Path(id): Path<String>,
    query: QueryParams,
    ScimJson(body): ScimJson,
) -> Result<ScimResponse, ApiError> {
    note.target(body.get("displayName").and_then(Value::as_str));
    let context = change_context(&caller, &request_id);
    let input = groups::parse_body(&body)?;
    let if_match = header_text(&headers, header::IF_MATCH);
    let org_id = caller.0.organization.id.clone();
    groups::replace(&state.store, &caller.0.organization, &context, &id, input, if_match).await?;
    let record = groups::get(&state.store, &org_id, &id, wants_members(&query)).await?;
    group_response(&state, &headers, &query, &record, StatusCode::OK)
}

/// PATCH /Groups/{id}: 204, as Entra expects, so a change to a large group returns no member
/// list; with `attributes` or `excludedAttributes` in the query, 200 with that projection.
pub async fn groups_patch(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: ScimCaller,
    Extension(request_id): Extension<RequestId>,
    note: RequestNote,
    Path(id): Path<String>,
    query: QueryParams,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    note.patch_operations(&body);
    note.action(group_patch_action(&body));
    let context = change_context(&caller, &request_id);
    let if_match = header_text(&headers, header::IF_MATCH);
    let patched = groups::patch(&state.store, &caller.0.organization, &context, &id, &body, if_match).await;
    if patched.is_err() {
        note_display_name(&state, &caller, &note, &id).await;
    }
    let record = patched?;
    note.target(Some(&record.group.display_name));
    let wants_body = query.get("attributes").is_some() || query.get("excludedAttributes").is_some();
    if !wants_body {
        let mut response = StatusCode::NO_CONTENT.into_response();
        if let Ok(value) = etag(record.group.version).parse() {
            response.headers_mut().insert(header::ETAG, value);
        }
        return Ok(response);
    }
    let record = groups::get(&state.store, &caller.0.organization.id, &id, wants_members(&query)).await?;
    Ok(group_response(&state, &headers, &query, &record, StatusCode::OK)?.into_response())
}

/// DELETE /Groups/{id}: 204.
pub async fn groups_delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: ScimCaller,
    Extension(request_id): Extension<RequestId>,
    note: RequestNote,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let context = change_context(&caller, &request_id);
    let if_match = header_text(&headers, header::IF_MATCH);
    let deleted = groups::delete(&state.store, &caller.0.organization, &context, &id, if_match).await;
    if deleted.is_err() {
        note_display_name(&state, &caller, &note, &id).await;
    }
    note.target(Some(&deleted?.display_name));
    Ok(StatusCode::NO_CONTENT)
}

/// Notes the displayName of a group whose change failed, for searches of the request log.
async fn note_display_name(state: &AppState, caller: &ScimCaller, note: &RequestNote, id: &str) {
    if let Ok(record) = groups::get(&state.store, &caller.0.organization.id, id, false).await {
        note.target(Some(&record.group.display_name));
    }
}

/// GET /Groups with filter, sorting, paging and projection.
pub async fn groups_list(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: ScimCaller,
    note: RequestNote,
    query: QueryParams,
) -> Result<ScimResponse, ApiError> {
    note.filter(query.get("filter"));
    list_groups(&state, &headers, &caller, query).await
}

async fn list_groups(state: &AppState, headers: &HeaderMap, caller: &ScimCaller, query: QueryParams) -> Result<ScimResponse, ApiError> {
    let params = parse_params(&query.0, state.settings.max_page_size)?;
    let projection = projection_from(&query)?;
    let base_url = state.scim_base_url(headers);
    let cursor_context = CursorContext {
        now: state.clock.now().timestamp(),
        key: state.session_keys.cursor_key(),
    };
    // Members come apart as JSON text (see `render_projected`), except where a filter that ran
    // in memory needed them in the documents already.
    let page = groups::list(&state.store, &caller.0.organization.id, &params, &base_url, false, cursor_context).await?;
    let fields = if wants_members(&query) { member_fields(&projection) } else { None };
    let mut resources = Vec::with_capacity(page.groups.len());
    let mut members = Vec::with_capacity(page.groups.len());
    for group in page.groups {
        let rendered_members = group.get("members").is_some();
        let id = group.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
        resources.push(projection.apply(&GROUP_RESOURCE, group));
        members.push(match fields {
            Some(_) if !rendered_members => Some(groups::read_member_views(&state.store, &id).await?),
            _ => None,
        });
    }

    let mut response = super::scim_users::page_response(page.total, &params, page.cursors, resources);
    match fields {
        Some(fields) if members.iter().any(Option::is_some) => Ok(ScimResponse::json(list_bytes(&mut response, &members, &base_url, fields))),
        _ => Ok(ScimResponse::ok(response)),
    }
}

/// Serializes a ListResponse of groups, adding to each resource its members as JSON text.
fn list_bytes(response: &mut Value, members: &[Option<Vec<MemberView>>], base_url: &str, fields: MemberFields) -> Vec<u8> {
    let items = match response.get_mut("Resources") {
        Some(slot) => std::mem::replace(slot, Value::Array(Vec::new())),
        None => Value::Array(Vec::new()),
    };
    let items = match items {
        Value::Array(items) => items,
        _ => Vec::new(),
    };
    let resources: Vec<Vec<u8>> = items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let mut resource = serde_json::to_vec(item).unwrap_or_default();
            if let Some(Some(list)) = members.get(index) {
                append_members(&mut resource, list, base_url, fields);
            }
            resource
        })
        .collect();
    write_with_resources(response, &resources)
}

/// POST /Groups/.search (RFC 7644 §3.4.3).
pub async fn groups_search(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: ScimCaller,
    note: RequestNote,
    ScimJson(body): ScimJson,
) -> Result<ScimResponse, ApiError> {
    let query = search_request_params(&body as &Value)?;
    note.filter(query.get("filter"));
    list_groups(&state, &headers, &caller, query).await
}
