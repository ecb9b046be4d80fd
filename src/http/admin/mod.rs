//! The admin API under `/api/v1`: JSON for the people who manage users, authenticated by Hub
//! session tokens and authorized by rule 3 (Owners and Admins manage users).

pub mod audit;
pub mod auth;
pub mod error;
pub mod extract;
pub mod invitations;
pub mod openapi;
pub mod organization;
pub mod registration;
pub mod scim_requests;
pub mod sign_in;
pub mod tokens;
pub mod users;
pub mod views;

use axum::routing::{get, post, put};
use axum::Router;

use super::AppState;

/// Path prefix of the admin API.
pub const ADMIN_BASE_PATH: &str = "/api/v1";

/// Builds the admin API routes, to be nested under [`ADMIN_BASE_PATH`].
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(users::users_list))
        .route("/users/{id}", get(users::users_get).patch(users::users_edit).delete(users::users_remove))
        .route("/users/{id}/deactivate", post(users::users_deactivate))
        .route("/users/{id}/reactivate", post(users::users_reactivate))
        .route("/users/{id}/suspend", post(users::users_suspend))
        .route("/users/{id}/lift-suspension", post(users::users_lift_suspension))
        .route("/users/{id}/remove", post(users::users_remove))
        .route(
            "/users/{id}/invitation",
            get(invitations::invitation_get).post(invitations::invitation_resend),
        )
        .route("/users/{id}/sign-in-link", axum::routing::delete(sign_in::link_delete))
        .route("/invitations", post(invitations::invitations_create))
        .route("/invitations/bulk", post(invitations::invitations_bulk))
        .route("/registrations", post(registration::registrations_create))
        .route("/groups/{id}/grants", put(users::group_grants_put).get(users::group_grants_get))
        .route("/audit", get(audit::audit_list))
        .route("/scim-tokens", get(tokens::tokens_list).post(tokens::tokens_create))
        .route("/scim-tokens/{id}", axum::routing::delete(tokens::tokens_revoke))
        .route("/scim-requests", get(scim_requests::requests_list))
        .route("/scim-requests/{id}", get(scim_requests::requests_get))
        .route(
            "/organization",
            get(organization::organization_get).patch(organization::organization_patch),
        )
        .route("/sign-in", post(sign_in::sign_in))
        .route("/sign-out", post(sign_in::session_end))
        .route("/session", get(sign_in::session_get).delete(sign_in::session_end))
        .route("/organization/sign-in", get(sign_in::provider_get).put(sign_in::provider_put))
        .route("/openapi.json", get(openapi::openapi_get))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
}
