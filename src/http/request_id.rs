//! Request ids and the per-request span.
//!
//! The id comes from Entra's `client-request-id` header (or `x-request-id`) when it is a
//! reasonable token, otherwise Hub makes one. It is logged with every event of the request and
//! returned in the `request-id` response header.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::request_log::{Capture, CaptureState};

/// The id of the current request, available to handlers as an extension.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

const MAX_REQUEST_ID_LENGTH: usize = 128;

fn client_request_id(request: &Request) -> Option<String> {
    ["client-request-id", "x-request-id"].iter().find_map(|name| {
        let value = request.headers().get(*name)?.to_str().ok()?.trim();
        let acceptable = !value.is_empty()
            && value.len() <= MAX_REQUEST_ID_LENGTH
            && value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
        acceptable.then(|| value.to_string())
    })
}

/// Wraps each request in a span with its id, logs its outcome and duration, and records SCIM
/// requests in the request log. One middleware does both, because every layer costs a clone
/// of the routes' services per request.
pub async fn track_request(State(capture_state): State<CaptureState>, mut request: Request, next: Next) -> Response {
    let request_id = client_request_id(&request).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    request.extensions_mut().insert(RequestId(request_id.clone()));
    let capture = Capture::start(&capture_state, &mut request, &request_id);
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %request.method(),
        path = %request.uri().path(),
        org_id = tracing::field::Empty,
        token_id = tracing::field::Empty,
    );
    let started = Instant::now();

    let mut response = next.run(request).instrument(span.clone()).await;

    let status = response.status().as_u16();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        // 501 is a deliberate response (GET /Me with a SCIM token), not a failure of the server.
        if status >= 500 && status != 501 {
            tracing::error!(status, elapsed_ms, "request failed");
        } else {
            tracing::info!(status, elapsed_ms, "request finished");
        }
    });
    if let Some(capture) = capture {
        capture.finish(&capture_state, &response);
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("request-id", value);
    }
    response
}
