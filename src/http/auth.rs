//! Bearer-token authentication of SCIM requests.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::ApiError;
use super::extract::bearer_token;
use super::request_log::RequestNote;
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

        let note = parts.extensions.get::<RequestNote>().cloned().unwrap_or_default();
        match tokens::verify_cached(&state.store, &state.token_cache, token).await? {
            Some(identity) => {
                note.caller(&identity);
                tracing::Span::current().record("org_id", identity.organization.id.as_str());
                tracing::Span::current().record("token_id", identity.token_id.as_str());
                let now = state.clock.now();
                if identity.expired(now) {
                    let expired_at = identity.expires_at.map(crate::clock::format).unwrap_or_default();
                    tracing::info!(token_id = %identity.token_id, %expired_at, "SCIM request with an expired token");
                    state.check_unauthenticated(&parts.extensions)?;
                    return Err(ScimError::unauthorized(format!(
                        "The bearer token \"{}\" expired at {expired_at}. An Owner creates a new one with `hub token create` or POST /api/v1/scim-tokens, and updates the identity provider's secret token.",
                        identity.token_name
                    ))
                    .into());
                }
                record_use(state, &identity.token_id, now);
                state
                    .rate_limits
                    .check_token(&identity.token_id, &identity.organization.id, identity.organization.scim_rate_limit)?;
                Ok(ScimCaller(identity))
            }
            None => {
                state.check_unauthenticated(&parts.extensions)?;
                match tokens::identify_revoked(&state.store, token).await? {
                    Some(identity) => {
                        note.caller(&identity);
                        tracing::info!(token_id = %identity.token_id, org_id = %identity.organization.id, "SCIM request with a revoked token");
                    }
                    None => tracing::info!("SCIM request with an unknown token"),
                }
                Err(ScimError::unauthorized("The bearer token is not valid or was revoked.").into())
            }
        }
    }
}

/// Writes the token's last use in the background, at most once a minute per token, so token
/// health costs no time on the request.
fn record_use(state: &AppState, token_id: &str, now: chrono::DateTime<chrono::Utc>) {
    if !state.token_cache.touch_due(token_id) {
        return;
    }
    let store = state.store.clone();
    let token_id = token_id.to_string();
    tokio::spawn(async move {
        if let Err(error) = crate::storage::tokens::touch(&mut store.db(), &token_id, now).await {
            tracing::warn!(%error, token_id, "cannot record the last use of a SCIM token");
        }
    });
}
