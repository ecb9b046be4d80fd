//! Registration through an invitation link: `POST /api/v1/registrations` for programs, and
//! `/register` for people who follow the link from the mail.

use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};

use super::error::AdminError;
use super::extract::AdminJson;
use super::views::user_view;
use crate::http::request_id::RequestId;
use crate::http::AppState;
use crate::service::invitations;

/// The link token, from a JSON body, a form or the query string.
#[derive(Debug, serde::Deserialize)]
pub struct TokenBody {
    pub token: String,
}

/// POST /api/v1/registrations: registers the invited user; the link token is the credential.
pub async fn registrations_create(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    extensions: axum::http::Extensions,
    AdminJson(body): AdminJson<TokenBody>,
) -> Result<(StatusCode, Json<Value>), AdminError> {
    state.check_unauthenticated(&extensions)?;
    let (record, organization) = invitations::register(&state.store, &body.token, &request_id.0, state.clock.as_ref()).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"user": user_view(&record.user, &record.memberships), "organization": {"id": organization.id, "name": organization.name}})),
    ))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family: sans-serif; max-width: 36em; margin: 3em auto\"><h1>{title}</h1>{body}</body></html>",
        title = escape(title)
    ))
}

/// The query of the registration page; the token may be missing from a mangled link.
#[derive(Debug, serde::Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    pub token: Option<String>,
}

/// GET /register?token=...: a page with a button that completes the registration.
pub async fn register_page(Query(query): Query<PageQuery>) -> Response {
    let Some(token) = query.token.filter(|token| !token.trim().is_empty()) else {
        let body = page(
            "Registration link incomplete",
            "<p>This registration link has no token. Open the whole link from your invitation mail, or ask your administrator for a new invitation.</p>",
        );
        return with_private_headers((StatusCode::BAD_REQUEST, body).into_response());
    };
    let body = page(
        "Join your organization on Hub",
        &format!(
            "<p>Complete your registration to activate your account.</p>\
             <form method=\"post\" action=\"/register\"><input type=\"hidden\" name=\"token\" value=\"{}\">\
             <button type=\"submit\">Complete registration</button></form>",
            escape(&token)
        ),
    );
    with_private_headers(body.into_response())
}

/// Keeps the page with its token out of caches, referrers and frames.
fn with_private_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    headers.insert(axum::http::header::REFERRER_POLICY, axum::http::HeaderValue::from_static("no-referrer"));
    headers.insert(axum::http::header::X_FRAME_OPTIONS, axum::http::HeaderValue::from_static("DENY"));
    response
}

/// POST /register: completes the registration from the page's form.
pub async fn register_submit(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    extensions: axum::http::Extensions,
    Form(body): Form<TokenBody>,
) -> Response {
    if let Err(error) = state.check_unauthenticated(&extensions) {
        return AdminError::from(error).into_response();
    }
    let response = match invitations::register(&state.store, &body.token, &request_id.0, state.clock.as_ref()).await {
        Ok((record, organization)) => page(
            "Registration complete",
            &format!(
                "<p>Welcome, {}. Your account in {} is active.</p>",
                escape(record.user.display_name().or(record.user.user_name()).unwrap_or_default()),
                escape(&organization.name)
            ),
        )
        .into_response(),
        Err(error) => {
            let error = AdminError::from(error);
            (error.status, page("Registration failed", &format!("<p>{}</p>", escape(&error.message)))).into_response()
        }
    };
    with_private_headers(response)
}
