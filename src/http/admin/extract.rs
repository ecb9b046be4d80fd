//! A JSON body extractor whose rejections are admin API errors, not axum's plain text.

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::AdminError;

/// A JSON request body; malformed JSON, unknown fields and wrong types get a 400 (or 415 for
/// another content type) with the usual error body.
pub struct AdminJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AdminJson<T> {
    type Rejection = AdminError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(AdminJson(value)),
            Err(rejection) => {
                let status = rejection.status();
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    return Err(AdminError::new(
                        status,
                        "payload_too_large",
                        "The request body exceeds the server's size limit (--max-body-bytes).",
                    ));
                }
                let code = if status == StatusCode::UNSUPPORTED_MEDIA_TYPE { "unsupported_media_type" } else { "invalid_request" };
                let status = if status == StatusCode::UNSUPPORTED_MEDIA_TYPE { status } else { StatusCode::BAD_REQUEST };
                Err(AdminError::new(status, code, format!("The request body is invalid: {}. Send application/json as the OpenAPI document describes.", rejection.body_text())))
            }
        }
    }
}
