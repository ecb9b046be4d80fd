//! Discovery endpoints (RFC 7644 §4) and the endpoints Hub does not offer yet.

use axum::extract::{Path, State};
use axum::http::HeaderMap;

use super::auth::ScimCaller;
use super::error::ApiError;
use super::response::ScimResponse;
use super::AppState;
use crate::scim::{discovery, ScimError};

pub async fn service_provider_config(State(state): State<AppState>, headers: HeaderMap, _caller: ScimCaller) -> ScimResponse {
    let base_url = state.scim_base_url(&headers);
    ScimResponse::ok(discovery::service_provider_config(&base_url, state.settings.max_body_bytes, state.settings.max_page_size))
}

pub async fn resource_types(State(state): State<AppState>, headers: HeaderMap, _caller: ScimCaller) -> ScimResponse {
    ScimResponse::ok(discovery::resource_types(&state.scim_base_url(&headers)))
}

pub async fn resource_type(
    State(state): State<AppState>,
    headers: HeaderMap,
    _caller: ScimCaller,
    Path(name): Path<String>,
) -> Result<ScimResponse, ApiError> {
    discovery::resource_type(&state.scim_base_url(&headers), &name)
        .map(ScimResponse::ok)
        .ok_or_else(|| ScimError::not_found(format!("Resource type {name:?} not found; Hub serves User and Group.")).into())
}

pub async fn schemas(State(state): State<AppState>, headers: HeaderMap, caller: ScimCaller) -> ScimResponse {
    let products = &caller.0.organization.products;
    ScimResponse::ok(discovery::schemas(&state.scim_base_url(&headers), products))
}

pub async fn schema(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: ScimCaller,
    Path(id): Path<String>,
) -> Result<ScimResponse, ApiError> {
    let products = &caller.0.organization.products;
    discovery::schema(&state.scim_base_url(&headers), &id, products)
        .map(ScimResponse::ok)
        .ok_or_else(|| ScimError::not_found(format!("Schema {id:?} not found; GET /Schemas lists the schemas Hub serves.")).into())
}

/// GET /Me (RFC 7644 §3.11): the User resource of the person a Hub session token belongs to.
///
/// SCIM tokens belong to an organization's provisioning client, not to a person, so /Me with a
/// SCIM token returns 501, as the RFC allows. Changes through /Me return 501 too, because a
/// person's own changes go through the admin API, where rule 3 applies.
pub async fn me(
    State(state): State<AppState>,
    method: axum::http::Method,
    headers: HeaderMap,
    note: super::request_log::RequestNote,
    query: super::extract::QueryParams,
) -> Result<axum::response::Response, ApiError> {
    let token = super::extract::bearer_token(&headers)
        .map(str::to_string)
        .ok_or_else(|| ScimError::unauthorized("Missing Authorization header; send 'Authorization: Bearer <token>'."))?;

    let session = crate::service::sessions::verify(&state.store, &state.session_keys, state.clock.as_ref(), &token).await;
    let identity = match session {
        Ok(identity) => identity,
        Err(crate::service::sessions::SessionError::Invalid) => {
            if let Some(caller) = crate::service::tokens::verify(&state.store, &token).await? {
                note.caller(&caller);
                return Err(ScimError::new(
                    501,
                    None,
                    "/Me needs a Hub session token: a SCIM token authenticates an organization's provisioning client, not a person.",
                )
                .into());
            }
            return Err(ScimError::unauthorized("The bearer token is not valid or was revoked.").into());
        }
        Err(crate::service::sessions::SessionError::Storage(error)) => return Err(error.into()),
        Err(other) => return Err(ScimError::unauthorized(other.to_string()).into()),
    };
    // HEAD is GET without the body (RFC 9110 §9.3.2); the server drops the body itself.
    if method != axum::http::Method::GET && method != axum::http::Method::HEAD {
        return Err(ScimError::new(
            501,
            None,
            format!("{method} on /Me is not implemented; change your profile through the admin API at /api/v1/users/{}.", identity.user.id),
        )
        .into());
    }
    let record = crate::service::users::UserRecord {
        user: identity.user,
        memberships: identity.memberships,
        change: crate::domain::user::UserChange::Unchanged,
    };
    // /Me is an alias of the user's resource (RFC 7644 §3.11), so `attributes`,
    // `excludedAttributes` and `If-None-Match` work as on /Users/{id}.
    let location = format!("{}/Users/{}", state.scim_base_url(&headers), record.user.id);
    let mut response = super::scim_users::read_response(&state, &headers, &query, record)?;
    if let Ok(value) = location.parse() {
        response.headers_mut().insert(axum::http::header::LOCATION, value);
    }
    Ok(response)
}

