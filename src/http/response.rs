//! SCIM success responses: JSON bodies with `application/scim+json`, ETags and `Location`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

/// The body of a SCIM response.
pub enum Body {
    /// A document, serialized when the response is sent.
    Document(Value),
    /// JSON text that the handler wrote itself (a large group's members, or a user without
    /// attribute projection).
    Json(Vec<u8>),
}

/// A SCIM resource or message with optional ETag and Location headers.
pub struct ScimResponse {
    pub status: StatusCode,
    pub body: Body,
    pub etag: Option<String>,
    pub location: Option<String>,
}

impl ScimResponse {
    pub fn ok(body: Value) -> Self {
        ScimResponse {
            status: StatusCode::OK,
            body: Body::Document(body),
            etag: None,
            location: None,
        }
    }

    /// Returns a 200 response whose body the handler serialized itself.
    pub fn json(body: Vec<u8>) -> Self {
        ScimResponse {
            body: Body::Json(body),
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
        let body = match self.body {
            Body::Json(bytes) => bytes,
            Body::Document(document) => serde_json::to_vec(&document).unwrap_or_default(),
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

