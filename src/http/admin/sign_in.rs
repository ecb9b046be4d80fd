//! The sign-in gate over HTTP: products exchange an identity-provider token for a Hub session
//! (`POST /api/v1/sign-in`), check the session on each request (`GET /api/v1/session`) and end
//! it (`DELETE /api/v1/session`). Owners set the provider at `/api/v1/organization/sign-in`.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};

use super::auth::AdminCaller;
use super::error::AdminError;
use super::extract::AdminJson;
use super::views::user_view;
use crate::domain::sign_in::{JwksSource, ProviderSettings};
use crate::domain::user::Role;
use crate::domain::DomainError;
use crate::http::request_id::RequestId;
use crate::http::AppState;
use crate::service::admin_users::require_manage_users;
use crate::service::sessions::SessionIdentity;
use crate::service::sign_in::{self, Gate, SignInError, SignInRequest};
use crate::storage::sign_in as store_sign_in;

/// The body of a sign-in: the person's ID token from the identity provider.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignInBody {
    pub id_token: String,
    /// The organization the product serves, if the product sends it; else the token's issuer
    /// picks it.
    #[serde(default)]
    pub organization_id: Option<String>,
}

/// POST /api/v1/sign-in: verifies the token and opens a session.
pub async fn sign_in(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    extensions: axum::http::Extensions,
    AdminJson(body): AdminJson<SignInBody>,
) -> Result<Response, AdminError> {
    let gate = Gate {
        store: &state.store,
        session_keys: &state.session_keys,
        provider_keys: &state.provider_keys,
        clock: state.clock.as_ref(),
    };
    let request = SignInRequest {
        id_token: body.id_token.trim(),
        org_id: body.organization_id.as_deref(),
        request_id: &request_id.0,
        session_ttl: state.settings.session_ttl,
    };
    // A product's server signs in all its users from one address, so only failed sign-ins
    // count against the address, as failed authentication does elsewhere.
    let signed_in = match gate.sign_in(request).await {
        Ok(signed_in) => signed_in,
        Err(error) => {
            state.check_unauthenticated(&extensions)?;
            return Err(error.into());
        }
    };

    let mut view = session_view(&signed_in.identity);
    view["sessionToken"] = json!(signed_in.token);
    view["tokenType"] = json!("Bearer");
    view["registered"] = json!(signed_in.registered);
    Ok(no_store(Json(view)))
}

/// GET /api/v1/session: who the session's user is and what they may access now. Products call
/// it on each request; a deactivated, suspended or removed user, or one whose access changed,
/// gets 401 here at once.
pub async fn session_get(caller: AdminCaller) -> Response {
    no_store(Json(session_view(&caller.identity)))
}

/// DELETE /api/v1/session (also POST /api/v1/sign-out): ends the session.
pub async fn session_end(State(state): State<AppState>, caller: AdminCaller) -> Result<StatusCode, AdminError> {
    crate::service::sessions::end_session(&state.store, &caller.identity, state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn session_view(identity: &SessionIdentity) -> Value {
    json!({
        "user": user_view(&identity.user, &identity.memberships),
        "organization": {"id": identity.organization.id, "name": identity.organization.name},
        "role": identity.effective_role.as_str(),
        "products": identity.products,
        "session": {"id": identity.session_id, "expiresAt": crate::clock::format(identity.expires_at)},
    })
}

fn no_store(body: Json<Value>) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// DELETE /api/v1/users/{id}/sign-in-link: removes the link to the identity-provider account
/// made at the user's first sign-in.
pub async fn link_delete(
    State(state): State<AppState>,
    caller: AdminCaller,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<StatusCode, AdminError> {
    sign_in::unlink(&state.store, &caller.identity, &caller.context(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// GET /api/v1/organization/sign-in: the identity provider settings (Owners and Admins).
pub async fn provider_get(State(state): State<AppState>, caller: AdminCaller) -> Result<Json<Value>, AdminError> {
    require_manage_users(&caller.identity)?;
    let settings = store_sign_in::provider(&mut state.store.db(), &caller.identity.organization.id).await?;
    let settings = settings.ok_or_else(|| {
        AdminError::not_found("No sign-in provider is set; an Owner sets one with PUT /api/v1/organization/sign-in.")
    })?;
    Ok(Json(sign_in::provider_view(&settings)))
}

/// The settings an Owner sends. Only URLs are accepted here: a file path would let an API
/// caller make Hub read files on its disk; files are for `hub sign-in set`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderBody {
    pub issuer: String,
    pub audiences: Vec<String>,
    pub jwks_url: String,
}

/// PUT /api/v1/organization/sign-in: Owners only, since the provider decides who can sign in.
pub async fn provider_put(
    State(state): State<AppState>,
    caller: AdminCaller,
    AdminJson(body): AdminJson<ProviderBody>,
) -> Result<Json<Value>, AdminError> {
    if caller.identity.effective_role != Role::Owner {
        return Err(DomainError::Forbidden("Only an Owner may set the organization's sign-in provider.".to_string()).into());
    }
    let settings = ProviderSettings {
        org_id: caller.identity.organization.id.clone(),
        issuer: body.issuer,
        audiences: body.audiences,
        jwks: JwksSource::Url(body.jwks_url),
    };
    let previous = store_sign_in::provider(&mut state.store.db(), &settings.org_id).await?;
    sign_in::save_provider(&state.store, &caller.context(), &settings).await?;

    // Keys cached for the old source must not outlive the change.
    if let Some(previous) = previous {
        state.provider_keys.forget(&previous.jwks);
    }
    state.provider_keys.forget(&settings.jwks);
    Ok(Json(sign_in::provider_view(&settings)))
}

/// GET /.well-known/jwks.json: the public keys of Hub session tokens, for products that verify
/// tokens offline and accept that a revocation reaches them only when the token expires.
pub async fn jwks(State(state): State<AppState>) -> Result<Response, AdminError> {
    let document = crate::service::keys::jwks_document(&state.store, state.clock.now()).await?;
    let mut response = Json(document).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    Ok(response)
}

impl From<SignInError> for AdminError {
    fn from(error: SignInError) -> Self {
        match error {
            SignInError::Token(refusal) => {
                tracing::info!(code = refusal.code(), "sign-in token rejected");
                AdminError::new(StatusCode::UNAUTHORIZED, refusal.code(), refusal.to_string())
            }
            SignInError::Refused(refusal) => AdminError::new(StatusCode::FORBIDDEN, refusal.code(), refusal.to_string()),
            SignInError::KeysUnavailable => {
                AdminError::new(StatusCode::SERVICE_UNAVAILABLE, "provider_keys_unavailable", error.to_string())
            }
            SignInError::Session(error) => error.into(),
            SignInError::Service(error) => error.into(),
        }
    }
}
