//! Session-token authentication of admin API requests.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;

use super::error::AdminError;
use crate::http::extract::bearer_token;
use crate::domain::audit::{Actor, ChangeContext};
use crate::http::request_id::RequestId;
use crate::http::AppState;
use crate::service::sessions::{self, SessionIdentity};

/// The signed-in person making an admin request, and the request id for the audit log.
pub struct AdminCaller {
    pub identity: SessionIdentity,
    pub request_id: String,
}

impl AdminCaller {
    pub fn context(&self) -> ChangeContext {
        ChangeContext {
            actor: Actor::User {
                user_id: self.identity.user.id.clone(),
            },
            request_id: self.request_id.clone(),
        }
    }

    /// Returns the name shown to invited people.
    pub fn display_name(&self) -> String {
        let user = &self.identity.user;
        user.display_name().or(user.user_name()).unwrap_or("An administrator").to_string()
    }
}

impl FromRequestParts<AppState> for AdminCaller {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(token) = bearer_token(&parts.headers).map(str::to_string) else {
            state.check_unauthenticated(&parts.extensions)?;
            return Err(AdminError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Missing session token; send 'Authorization: Bearer <Hub session token>'.",
            ));
        };
        let identity = match sessions::verify(&state.store, &state.session_keys, state.clock.as_ref(), &token).await {
            Ok(identity) => identity,
            Err(error) => {
                state.check_unauthenticated(&parts.extensions)?;
                return Err(error.into());
            }
        };
        tracing::Span::current().record("org_id", identity.organization.id.as_str());
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map(|id| id.0.clone())
            .unwrap_or_default();
        Ok(AdminCaller { identity, request_id })
    }
}
