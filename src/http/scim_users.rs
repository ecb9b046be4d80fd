//! `/Users` endpoints (RFC 7644 §3.3 to §3.6).

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::Value;

use super::auth::ScimCaller;
use super::error::ApiError;
use super::extract::{header_text, QueryParams, ScimJson};
use super::request_id::RequestId;
use super::request_log::{user_patch_intent, RequestNote};
use super::response::ScimResponse;
use super::AppState;
use crate::domain::audit::{Actor, ChangeContext};
use crate::scim::cursor::CursorContext;
use crate::scim::list::{cursor_list_response, list_response, parse_params, write_with_resources, ListParams, PageCursors};
use crate::scim::projection::Projection;
use crate::scim::schema::{GROUP_RESOURCE, USER_RESOURCE};
use crate::scim::user::{etag, write_json};
use crate::scim::ScimError;
use crate::service::search;
use crate::service::invitations::Inviter;
use crate::service::users::{self, UserJson, UserRecord};

pub(crate) fn change_context(caller: &ScimCaller, request_id: &RequestId) -> ChangeContext {
    ChangeContext {
        actor: Actor::ScimToken {
            token_id: caller.0.token_id.clone(),
        },
        request_id: request_id.0.clone(),
    }
}


/// Renders one user with the projection the query requests, plus its ETag.
fn user_response(
    state: &AppState,
    headers: &HeaderMap,
    query: &QueryParams,
    record: UserRecord,
    status: StatusCode,
) -> Result<ScimResponse, ApiError> {
    let base_url = state.scim_base_url(headers);
    let projection = projection_from(query)?;
    let version_tag = etag(record.user.version);
    let location = (status == StatusCode::CREATED).then(|| format!("{base_url}/Users/{}", record.user.id));
    let mut response = if projection.is_empty() {
        let mut body = Vec::with_capacity(1024);
        write_json(&mut body, &record.user, &record.memberships, &base_url);
        ScimResponse::json(body)
    } else {
        ScimResponse::ok(projection.apply(&USER_RESOURCE, record.into_resource(&base_url)))
    }
    .with_etag(version_tag);
    response.status = status;
    response.location = location;
    Ok(response)
}

fn projection_from(query: &QueryParams) -> Result<Projection, ApiError> {
    Ok(Projection::parse(&USER_RESOURCE, query.get("attributes"), query.get("excludedAttributes"))?)
}

/// GET /Users/{id}; a matching `If-None-Match` returns 304.
pub async fn users_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: ScimCaller,
    note: RequestNote,
    Path(id): Path<String>,
    query: QueryParams,
) -> Result<Response, ApiError> {
    let record = users::get(&state.store, &caller.0.organization.id, &id).await?;
    note.target(record.user.user_name());
    read_response(&state, &headers, &query, record)
}

/// Builds the response to a read of one user, for `/Users/{id}` and `/Me`: 304 when
/// `If-None-Match` names the current version, otherwise the resource with the requested
/// attributes.
pub(crate) fn read_response(state: &AppState, headers: &HeaderMap, query: &QueryParams, record: UserRecord) -> Result<Response, ApiError> {
    if let Some(if_none_match) = header_text(headers, header::IF_NONE_MATCH) {
        if users::etag_list_matches(if_none_match, record.user.version) {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            if let Ok(value) = etag(record.user.version).parse() {
                response.headers_mut().insert(header::ETAG, value);
            }
            return Ok(response);
        }
    }
    Ok(user_response(state, headers, query, record, StatusCode::OK)?.into_response())
}

/// POST /Users: 201 with the resource, `Location` and `ETag`.
pub async fn users_create(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: ScimCaller,
    Extension(request_id): Extension<RequestId>,
    note: RequestNote,
    query: QueryParams,
    ScimJson(body): ScimJson,
) -> Result<ScimResponse, ApiError> {
    note.target(body.get("userName").and_then(Value::as_str));
    let context = change_context(&caller, &request_id);
    let inviter = Inviter {
        actor: context.actor.clone(),
        display_name: format!("{} (through the identity provider)", caller.0.organization.name),
    };
    let settings = state.invitation_settings();
    let user = users::create(&state.store, &caller.0.organization, &context, &body, Some((&inviter, &settings))).await?;
    note.resource_id(&user.user.id);
    state.notify_mail_worker();
    user_response(&state, &headers, &query, user, StatusCode::CREATED)
}

/// PUT /Users/{id}.
pub async fn users_replace(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: ScimCaller,
    Extension(request_id): Extension<RequestId>,
    note: RequestNote,
    Path(id): Path<String>,
    query: QueryParams,
    ScimJson(body): ScimJson,
) -> Result<ScimResponse, ApiError> {
    note.target(body.get("userName").and_then(Value::as_str));
    let context = change_context(&caller, &request_id);
    let if_match = header_text(&headers, header::IF_MATCH);
    let user = users::replace(&state.store, &caller.0.organization, &context, &id, &body, if_match).await?;
    note.user_change(user.change);
    user_response(&state, &headers, &query, user, StatusCode::OK)
}

/// PATCH /Users/{id}: 200 with the resource, which Entra and Okta both accept.
pub async fn users_patch(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: ScimCaller,
    Extension(request_id): Extension<RequestId>,
    note: RequestNote,
    Path(id): Path<String>,
    query: QueryParams,
    ScimJson(body): ScimJson,
) -> Result<ScimResponse, ApiError> {
    note.patch_operations(&body);
    note.action(user_patch_intent(&body));
    let context = change_context(&caller, &request_id);
    let if_match = header_text(&headers, header::IF_MATCH);
    let patched = users::patch(&state.store, &caller.0.organization, &context, &id, &body, if_match).await;
    if patched.is_err() {
        note_user_name(&state, &caller, &note, &id).await;
    }
    let user = patched?;
    note.target(user.user.user_name());
    note.user_change(user.change);
    user_response(&state, &headers, &query, user, StatusCode::OK)
}

/// DELETE /Users/{id}: 204.
pub async fn users_delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: ScimCaller,
    Extension(request_id): Extension<RequestId>,
    note: RequestNote,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let context = change_context(&caller, &request_id);
    let if_match = header_text(&headers, header::IF_MATCH);
    let deleted = users::delete(&state.store, &caller.0.organization, &context, &id, if_match).await;
    if deleted.is_err() {
        note_user_name(&state, &caller, &note, &id).await;
    }
    note.target(deleted?.user_name());
    Ok(StatusCode::NO_CONTENT)
}

/// Notes the userName of a user whose change failed, so that the failure shows when an admin
/// searches the request log by name. Reads the user once more, on failures only.
async fn note_user_name(state: &AppState, caller: &ScimCaller, note: &RequestNote, id: &str) {
    if let Ok(record) = users::get(&state.store, &caller.0.organization.id, id).await {
        note.target(record.user.user_name());
    }
}

/// GET /Users with filter, sorting, paging and projection.
pub async fn users_list(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: ScimCaller,
    note: RequestNote,
    query: QueryParams,
) -> Result<ScimResponse, ApiError> {
    note.filter(query.get("filter"));
    list_users(&state, &headers, &caller, query).await
}

async fn list_users(
    state: &AppState,
    headers: &HeaderMap,
    caller: &ScimCaller,
    query: QueryParams,
) -> Result<ScimResponse, ApiError> {
    let params = parse_params(&query.0, state.settings.max_page_size)?;
    let projection = projection_from(&query)?;
    let base_url = state.scim_base_url(headers);
    let cursor_context = CursorContext {
        now: state.clock.now().timestamp(),
        key: state.session_keys.cursor_key(),
    };
    let form = if projection.is_empty() { users::PageForm::Json } else { users::PageForm::Documents };
    let page = users::list(&state.store, &caller.0.organization.id, &params, &base_url, form, cursor_context).await?;

    let mut documents = Vec::with_capacity(page.users.len());
    let mut written = Vec::new();
    for user in page.users {
        match user {
            UserJson::Document(document) => documents.push(projection.apply(&USER_RESOURCE, document)),
            UserJson::Written(json) => written.push(json),
        }
    }
    if written.is_empty() {
        return Ok(ScimResponse::ok(page_response(page.total, &params, page.cursors, documents)));
    }

    // A page is written whole or rendered whole, so `documents` is empty here.
    let mut response = page_response(page.total, &params, page.cursors, Vec::new());
    response["itemsPerPage"] = written.len().into();
    Ok(ScimResponse::json(write_with_resources(&response, &written)))
}

/// POST /Users/.search (RFC 7644 §3.4.3): the list parameters in a SearchRequest body.
pub async fn users_search(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: ScimCaller,
    note: RequestNote,
    ScimJson(body): ScimJson,
) -> Result<ScimResponse, ApiError> {
    let query = search_request_params(&body)?;
    note.filter(query.get("filter"));
    list_users(&state, &headers, &caller, query).await
}

/// POST /.search at the root (RFC 7644 §3.4.3): users then groups, each with the projection of
/// its own schemas, paged together. A filter on an attribute that one resource type lacks
/// matches no resource of that type.
pub async fn root_search(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: ScimCaller,
    note: RequestNote,
    ScimJson(body): ScimJson,
) -> Result<ScimResponse, ApiError> {
    let query = search_request_params(&body)?;
    search_everything(&state, &headers, &caller, &note, &query).await
}

/// GET at the SCIM base: the root search with its parameters in the query string. RFC 7644
/// §3.4.2.1 allows queries at the server root.
pub async fn root_list(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: ScimCaller,
    note: RequestNote,
    query: QueryParams,
) -> Result<ScimResponse, ApiError> {
    search_everything(&state, &headers, &caller, &note, &query).await
}

/// Lists users and groups together for a root query, from the body or the query string.
async fn search_everything(
    state: &AppState,
    headers: &HeaderMap,
    caller: &ScimCaller,
    note: &RequestNote,
    query: &QueryParams,
) -> Result<ScimResponse, ApiError> {
    note.filter(query.get("filter"));
    let params = parse_params(&query.0, state.settings.max_page_size)?;
    if params.cursor.is_some() {
        return Err(ScimError::invalid_value(
            "Cursor paging is available on /Users and /Groups and their /.search; queries at the root page by startIndex.",
        )
        .into());
    }
    let base_url = state.scim_base_url(headers);
    let cursor_context = CursorContext {
        now: state.clock.now().timestamp(),
        key: state.session_keys.cursor_key(),
    };
    let with_members = super::scim_groups::wants_members(query);
    let page = search::search(&state.store, &caller.0.organization.id, &params, &base_url, with_members, cursor_context).await?;

    let user_projection = projection_from(query)?;
    let group_projection = super::scim_groups::projection_from(query)?;
    let resources = page
        .resources
        .into_iter()
        .map(|(resource, document)| {
            if std::ptr::eq(resource, &*USER_RESOURCE) {
                user_projection.apply(&USER_RESOURCE, document)
            } else {
                group_projection.apply(&GROUP_RESOURCE, document)
            }
        })
        .collect();
    Ok(ScimResponse::ok(list_response(page.total, params.start_index, resources)))
}


/// Turns a SearchRequest body into the same parameters as a query string.
pub(crate) fn search_request_params(body: &Value) -> Result<QueryParams, ApiError> {
    let Value::Object(object) = body else {
        return Err(ScimError::invalid_syntax("The search request must be a JSON object.").into());
    };
    let mut params = std::collections::HashMap::new();
    for (key, value) in object {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        let text = match value {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            Value::Array(items) => items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
            Value::Null => continue,
            other => {
                return Err(ScimError::invalid_value(format!("Search parameter '{key}' has an unsupported value {other}.")).into())
            }
        };
        params.insert(key.clone(), text);
    }
    Ok(QueryParams(params))
}

/// Builds the ListResponse of an index or a cursor request.
pub(crate) fn page_response(total: i64, params: &ListParams, cursors: Option<PageCursors>, resources: Vec<Value>) -> Value {
    match cursors {
        Some(cursors) => cursor_list_response(total, cursors, resources),
        None => list_response(total, params.start_index, resources),
    }
}
