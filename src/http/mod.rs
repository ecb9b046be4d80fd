//! The HTTP edge: the axum router, authentication, request ids and SCIM responses.
//!
//! Handlers are thin: they extract the request, call one service function and turn the result
//! into a SCIM response.

pub mod admin;
pub mod auth;
pub mod error;
pub mod extract;
pub mod rate_limit;
pub mod request_id;
pub mod request_log;
pub mod response;
pub mod scim_bulk;
pub mod scim_discovery;
pub mod scim_groups;
pub mod scim_users;
pub mod settle;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;

use crate::clock::Clock;
use crate::mail::MailNotifier;
use crate::scim::ScimError;
use crate::service::invitations::InvitationSettings;
use crate::service::provider_keys::ProviderKeys;
use crate::service::sessions::SessionKeys;
use crate::service::tokens::TokenCache;
use crate::storage::Store;
use error::ApiError;

/// Settings the HTTP layer needs.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// The externally visible base URL (`https://hub.example.com`), used in `Location` and
    /// `meta.location`. When unset, it is built from the request's `Host` header.
    pub public_url: Option<String>,
    /// Maximum request body size in bytes.
    pub max_body_bytes: usize,
    /// Largest page of a list request.
    pub max_page_size: i64,
    /// Lifetime of the sessions the sign-in gate opens.
    pub session_ttl: chrono::Duration,
}

/// State shared by every handler. Axum clones the state for each extractor and middleware
/// that takes it, so this is one reference-counted pointer: a clone is one atomic increment
/// instead of one per field and a copy of `public_base`.
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl AppState {
    pub fn new(shared: SharedState) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// The settings and services every handler reads through [`AppState`].
pub struct SharedState {
    pub store: Store,
    pub settings: Arc<HttpSettings>,
    pub clock: Arc<dyn Clock>,
    pub session_keys: Arc<SessionKeys>,
    /// The base URL of registration links.
    pub public_base: String,
    /// Wakes the mail worker when an invitation was queued.
    pub mail_notifier: Option<MailNotifier>,
    /// Recently verified SCIM tokens.
    pub token_cache: Arc<TokenCache>,
    /// Cached signing keys of organizations' identity providers.
    pub provider_keys: Arc<ProviderKeys>,
    /// Request rate limits per SCIM token and per client address.
    pub rate_limits: Arc<rate_limit::RateLimits>,
    /// The capture queue of the SCIM request log.
    pub request_log: Arc<crate::service::request_log::RequestLog>,
}

impl SharedState {
    pub fn invitation_settings(&self) -> InvitationSettings {
        InvitationSettings {
            public_base: self.public_base.clone(),
            clock: self.clock.clone(),
        }
    }

    /// Counts a request without a valid credential against its client address. The address is
    /// missing only when the router runs without connection info, which `hub serve` never does.
    pub fn check_unauthenticated(&self, extensions: &axum::http::Extensions) -> Result<(), ScimError> {
        match extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>() {
            Some(info) => self.rate_limits.check_address(info.0.ip()),
            None => Ok(()),
        }
    }

    pub fn notify_mail_worker(&self) {
        if let Some(notifier) = &self.mail_notifier {
            notifier.notify();
        }
    }

    /// Returns the SCIM base URL for resource locations.
    pub fn scim_base_url(&self, headers: &HeaderMap) -> String {
        let root = match &self.settings.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => {
                let host = headers
                    .get(axum::http::header::HOST)
                    .and_then(|value| value.to_str().ok())
                    .filter(|host| host.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c)))
                    .unwrap_or("localhost");
                let scheme = headers
                    .get("x-forwarded-proto")
                    .and_then(|value| value.to_str().ok())
                    .filter(|scheme| *scheme == "https")
                    .unwrap_or("http");
                format!("{scheme}://{host}")
            }
        };
        format!("{root}{SCIM_BASE_PATH}")
    }
}

/// Path prefix of the SCIM service.
pub const SCIM_BASE_PATH: &str = "/scim/v2";

/// Builds the application router.
pub fn router(state: AppState) -> Router {
    let max_body_bytes = state.settings.max_body_bytes;
    let scim = Router::new()
        .route("/Users", get(scim_users::users_list).post(scim_users::users_create))
        .route("/Users/.search", post(scim_users::users_search))
        .route(
            "/Users/{id}",
            get(scim_users::users_get)
                .put(scim_users::users_replace)
                .patch(scim_users::users_patch)
                .delete(scim_users::users_delete),
        )
        .route("/Groups", get(scim_groups::groups_list).post(scim_groups::groups_create))
        .route("/Groups/.search", post(scim_groups::groups_search))
        .route(
            "/Groups/{id}",
            get(scim_groups::groups_get)
                .put(scim_groups::groups_replace)
                .patch(scim_groups::groups_patch)
                .delete(scim_groups::groups_delete),
        )
        .route("/", get(scim_users::root_list))
        .route("/.search", post(scim_users::root_search))
        .route("/ServiceProviderConfig", get(scim_discovery::service_provider_config))
        .route("/ResourceTypes", get(scim_discovery::resource_types))
        .route("/ResourceTypes/{name}", get(scim_discovery::resource_type))
        .route("/Schemas", get(scim_discovery::schemas))
        .route("/Schemas/{id}", get(scim_discovery::schema))
        .route("/Me", axum::routing::any(scim_discovery::me))
        .route("/Bulk", post(scim_bulk::bulk))
        .fallback(scim_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), settle::settle_failed_writes));

    let router = Router::new()
        .route("/health", get(health))
        .route("/.well-known/jwks.json", get(admin::sign_in::jwks))
        .route(
            "/register",
            get(admin::registration::register_page).post(admin::registration::register_submit),
        )
        // A nested "/" matches the base path without its trailing slash only.
        .route(&format!("{SCIM_BASE_PATH}/"), get(scim_users::root_list).fallback(method_not_allowed))
        .nest(SCIM_BASE_PATH, scim)
        .nest(
            admin::ADMIN_BASE_PATH,
            admin::router().layer(axum::middleware::from_fn_with_state(state.clone(), settle::settle_failed_writes)),
        )
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body_bytes));
    let capture = request_log::CaptureState {
        log: state.request_log.clone(),
        clock: state.clock.clone(),
    };
    with_security_headers(router)
        .layer(axum::middleware::from_fn_with_state(capture, request_id::track_request))
        .with_state(state)
}

/// Adds security headers to every response, unless a handler set its own. Responses carry
/// personal data, so nothing is cached unless a handler sets its own rule (the JWKS document
/// does), and no browser may frame, sniff or script them.
fn with_security_headers<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    use axum::http::{header, HeaderValue};
    use tower_http::set_header::SetResponseHeaderLayer;

    let policy = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
    let headers = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CONTENT_SECURITY_POLICY, policy),
        (header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    headers.into_iter().fold(router, |router, (name, value)| {
        router.layer(SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value)))
    })
}

async fn health() -> &'static str {
    "ok"
}

/// Returns 404 under the SCIM base. A valid token is still read, so that the request shows in
/// its organization's request log. A missing or invalid one does not turn the 404 into a 401.
async fn scim_not_found(_caller: Result<auth::ScimCaller, ApiError>, uri: axum::http::Uri) -> ApiError {
    ScimError::not_found(format!(
        "No SCIM endpoint at {}; Hub serves /Users, /Groups, /Bulk, /.search, /Me, /ServiceProviderConfig, /ResourceTypes and /Schemas under {SCIM_BASE_PATH}.",
        uri.path()
    ))
    .into()
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ScimError::not_found(format!("Nothing at {}; the SCIM service is under {SCIM_BASE_PATH}.", uri.path())).into()
}

/// Returns 405 under the SCIM base, reading a valid token as [`scim_not_found`] does.
async fn method_not_allowed(_caller: Result<auth::ScimCaller, ApiError>, method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ScimError::new(405, None, format!("Method {method} is not allowed on {}.", uri.path())).into()
}
