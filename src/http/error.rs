//! Turning errors into SCIM error responses (RFC 7644 §3.12).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::response::SCIM_CONTENT_TYPE;
use crate::domain::DomainError;
use crate::scim::ScimError;
use crate::service::ServiceError;
use crate::storage::StorageError;

/// A SCIM error on its way to the client.
#[derive(Debug)]
pub struct ApiError(pub ScimError);

impl From<ScimError> for ApiError {
    fn from(error: ScimError) -> Self {
        ApiError(error)
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::Scim(error) => ApiError(error),
            ServiceError::Domain(error) => ApiError(domain_error(error)),
            ServiceError::Storage(error) => ApiError(storage_error(error)),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(error: StorageError) -> Self {
        ApiError(storage_error(error))
    }
}

/// Rule violations are conflicts with the organization's current state (409); other domain
/// errors are invalid values (400). Each rule violation carries the rule's name for the request
/// log, and its detail already tells the administrator what to do.
fn domain_error(error: DomainError) -> ScimError {
    let rule = error.rule();
    if let Some(rule) = rule {
        tracing::warn!(rule, detail = %error, "request rejected by a Hub rule");
    }
    let scim_error = match error {
        DomainError::OwnerLimit(detail) | DomainError::LastOwner(detail) | DomainError::Conflict(detail) => ScimError::conflict(detail),
        DomainError::InvalidValue(detail) | DomainError::UnverifiedDomain(detail) => ScimError::invalid_value(detail),
        DomainError::Forbidden(detail) => ScimError::forbidden(detail),
    };
    scim_error.with_rule(rule)
}

/// Maps a unique index that fired despite the checks in the transaction to a uniqueness error.
/// Any other storage error is logged and hidden behind a generic 500.
fn storage_error(error: StorageError) -> ScimError {
    match error {
        StorageError::UniqueViolation { constraint } => {
            let attribute = if constraint.contains("external_id") {
                "externalId"
            } else if constraint.contains("user_name") {
                "userName"
            } else {
                "a unique attribute"
            };
            ScimError::uniqueness(format!("The value of {attribute} is already used by another resource."))
        }
        other => {
            tracing::error!(error = %other, cause = ?other, "storage failure");
            ScimError::internal()
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = self.0;
        let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // Rejections of a flood are logged by the rate limiter, which thins them out.
        if status.is_client_error() && status != StatusCode::NOT_FOUND && status != StatusCode::TOO_MANY_REQUESTS {
            tracing::info!(status = error.status, scim_type = ?error.scim_type.map(|kind| kind.as_str()), detail = %error.detail, "request rejected");
        }
        let body = error.to_json().to_string();
        let mut response = (status, body).into_response();
        response.extensions_mut().insert(super::request_log::ErrorSummary {
            scim_type: error.scim_type.map(|kind| kind.as_str()),
            detail: error.detail.clone(),
            rule: error.rule,
        });
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_CONTENT_TYPE));
        if let Some(seconds) = error.retry_after_seconds {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"hub-scim\""),
            );
        }
        response
    }
}
