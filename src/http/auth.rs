//! Bearer-token authentication of SCIM requests.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::ApiError;
use super::extract::bearer_token;
use super::AppState;
use crate::scim::ScimError;
use crate::service::tokens::{self, TokenIdentity};

/// The organization and token of an authenticated SCIM request.
pub struct ScimCaller(pub TokenIdentity);

impl FromRequestParts<AppState> for ScimCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if !parts.headers.contains_key(AUTHORIZATION) {
            state.check_unauthenticated(&parts.extensions)?;
            return Err(ScimError::unauthorized(
                "Missing Authorization header; send 'Authorization: Bearer <SCIM token>'.",
            )
            .into());
        }
        let Some(token) = bearer_token(&parts.headers) else {
            state.check_unauthenticated(&parts.extensions)?;
            return Err(ScimError::unauthorized("The Authorization header must use the Bearer scheme: 'Bearer <SCIM token>'.").into());
        };

        match tokens::verify_cached(&state.store, &state.token_cache, token).await? {
            Some(identity) => {
                tracing::Span::current().record("org_id", identity.organization.id.as_str());
                tracing::Span::current().record("token_id", identity.token_id.as_str());
                state
                    .rate_limits
                    .check_token(&identity.token_id, &identity.organization.id, identity.organization.scim_rate_limit)?;
                Ok(ScimCaller(identity))
            }
            None => {
                state.check_unauthenticated(&parts.extensions)?;
                tracing::info!("SCIM request with an unknown or revoked token");
                Err(ScimError::unauthorized("The bearer token is not valid or was revoked.").into())
            }
        }
    }
}
