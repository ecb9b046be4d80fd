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
    ScimResponse::ok(discovery::service_provider_config(&base_url, state.settings.max_body_bytes))
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

/// `/Me` needs a caller that is a user; SCIM tokens belong to an organization, not a person,
/// so RFC 7644 §3.11 allows a 501 response.
pub async fn me(_caller: ScimCaller) -> ApiError {
    ScimError::new(
        501,
        None,
        "/Me is not implemented: SCIM tokens authenticate an organization's provisioning client, not a user.",
    )
    .into()
}

