//! Request extractors that answer with SCIM errors instead of axum's plain-text rejections.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde_json::Value;

use super::error::ApiError;
use super::AppState;
use crate::scim::ScimError;

/// A JSON request body sent as `application/scim+json` or `application/json` (or without a
/// content type, which some clients do).
pub struct ScimJson(pub Value);

impl FromRequest<AppState> for ScimJson {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(content_type) = request.headers().get(CONTENT_TYPE) {
            let content_type = content_type.to_str().unwrap_or_default().to_ascii_lowercase();
            let media_type = content_type.split(';').next().unwrap_or_default().trim().to_string();
            let is_json = media_type == "application/json" || media_type.ends_with("+json") || media_type.is_empty();
            if !is_json {
                return Err(ScimError::new(
                    415,
                    None,
                    format!("Content-Type {media_type:?} is not supported; send application/scim+json or application/json."),
                )
                .into());
            }
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            let status = rejection.status().as_u16();
            if status == 413 {
                tracing::info!(limit = state.settings.max_body_bytes, "request body over the size limit");
                ScimError::new(
                    413,
                    None,
                    format!(
                        "The request body exceeds the limit of {} bytes; send fewer changes per request (the server's --max-body-bytes sets the limit).",
                        state.settings.max_body_bytes
                    ),
                )
            } else {
                ScimError::invalid_syntax(format!("The request body could not be read: {}.", rejection.body_text()))
            }
        })?;
        let value = serde_json::from_slice::<Value>(&bytes).map_err(|error| {
            ScimError::invalid_syntax(format!("The request body is not valid JSON: {error}."))
        })?;
        crate::scim::limits::check_body(&value).inspect_err(|error| tracing::info!(detail = %error.detail, "request body over a size limit"))?;
        Ok(ScimJson(value))
    }
}

/// Returns the bearer token of an `Authorization` header, or `None` when the header is missing,
/// uses another scheme or carries an empty token.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Returns a header's value as text, or `None` when it is missing or not visible ASCII.
pub fn header_text<'a>(headers: &'a axum::http::HeaderMap, name: axum::http::header::HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// The raw query parameters, for SCIM's case-insensitive parameter names. A parameter that
/// appears twice keeps its last value.
pub struct QueryParams(pub HashMap<String, String>);

impl QueryParams {
    /// Returns a parameter by name, ignoring case as SCIM parameter names do.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        Ok(QueryParams(pairs))
    }
}
