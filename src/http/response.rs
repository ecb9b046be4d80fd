//! SCIM success responses: JSON bodies with `application/scim+json`, ETags and `Location`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

/// A SCIM resource or message with optional ETag and Location headers.
pub struct ScimResponse {
    pub status: StatusCode,
    pub body: Value,
    pub etag: Option<String>,
    pub location: Option<String>,
    /// The serialized body, when a handler wrote it itself (a large group's members, or a
    /// user without attribute projection). It replaces `body`.
    pub raw_body: Option<Vec<u8>>,
}

impl ScimResponse {
    pub fn ok(body: Value) -> Self {
        ScimResponse {
            status: StatusCode::OK,
            body,
            etag: None,
            location: None,
            raw_body: None,
        }
    }

    /// A response whose body the handler serialized itself.
    pub fn raw(body: Vec<u8>) -> Self {
        ScimResponse {
            raw_body: Some(body),
            ..ScimResponse::ok(Value::Null)
        }
    }

    pub fn with_etag(mut self, etag: String) -> Self {
        self.etag = Some(etag);
        self
    }
}

impl IntoResponse for ScimResponse {
    fn into_response(self) -> Response {
        let body = match self.raw_body {
            Some(bytes) => bytes,
            None => serde_json::to_vec(&self.body).unwrap_or_default(),
        };
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_CONTENT_TYPE));
        if let Some(etag) = self.etag.and_then(|etag| HeaderValue::from_str(&etag).ok()) {
            headers.insert(header::ETAG, etag);
        }
        if let Some(location) = self.location.and_then(|location| HeaderValue::from_str(&location).ok()) {
            headers.insert(header::LOCATION, location);
        }
        response
    }
}

