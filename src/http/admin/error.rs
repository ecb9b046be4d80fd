//! Admin API errors: a status and a JSON body `{"error": {"status", "code", "message"}}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::domain::invitation::LinkError;
use crate::domain::DomainError;
use crate::scim::{ScimError, ScimType};
use crate::service::invitations::RegistrationError;
use crate::service::sessions::SessionError;
use crate::service::ServiceError;
use crate::storage::StorageError;

/// An admin API error.
#[derive(Debug)]
pub struct AdminError {
    pub status: StatusCode,
    /// A stable machine-readable code, such as `owner_limit` or `forbidden`.
    pub code: &'static str,
    pub message: String,
    /// Seconds to wait before retrying, sent as `Retry-After` (429).
    pub retry_after_seconds: Option<u64>,
}

impl AdminError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        AdminError {
            status,
            code,
            message: message.into(),
            retry_after_seconds: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl From<ScimError> for AdminError {
    fn from(error: ScimError) -> Self {
        let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let code = match (error.status, error.scim_type) {
            (429, _) => "rate_limited",
            (_, Some(ScimType::Uniqueness)) => "already_exists",
            (_, Some(_)) => "invalid_value",
            (404, _) => "not_found",
            (409, _) => "conflict",
            (412, _) => "precondition_failed",
            (500, _) => "internal",
            _ => "invalid_request",
        };
        AdminError {
            retry_after_seconds: error.retry_after_seconds,
            ..AdminError::new(status, code, error.detail)
        }
    }
}

impl From<DomainError> for AdminError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::OwnerLimit(message) => AdminError::new(StatusCode::CONFLICT, "owner_limit", message),
            DomainError::LastOwner(message) => AdminError::new(StatusCode::CONFLICT, "last_owner", message),
            DomainError::Conflict(message) => AdminError::new(StatusCode::CONFLICT, "conflict", message),
            DomainError::Forbidden(message) => AdminError::new(StatusCode::FORBIDDEN, "forbidden", message),
            DomainError::InvalidValue(message) => AdminError::new(StatusCode::BAD_REQUEST, "invalid_value", message),
            DomainError::UnverifiedDomain(message) => AdminError::new(StatusCode::BAD_REQUEST, "unverified_domain", message),
        }
    }
}

impl From<StorageError> for AdminError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::UniqueViolation { .. } => {
                AdminError::new(StatusCode::CONFLICT, "already_exists", "The value is already used by another resource.")
            }
            other => {
                tracing::error!(error = %other, cause = ?other, "storage failure");
                AdminError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal server error. The request was not applied; retry later or report the request id.",
                )
            }
        }
    }
}

impl From<ServiceError> for AdminError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::Scim(error) => error.into(),
            ServiceError::Domain(error) => error.into(),
            ServiceError::Storage(error) => error.into(),
        }
    }
}

impl From<SessionError> for AdminError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::Storage(error) => error.into(),
            other => {
                let code = match other {
                    SessionError::Expired => "session_expired",
                    SessionError::Revoked => "session_ended",
                    SessionError::Inactive(_) => "account_inactive",
                    SessionError::Changed => "session_outdated",
                    _ => "unauthorized",
                };
                tracing::info!(reason = %other, code, "session token rejected");
                AdminError::new(StatusCode::UNAUTHORIZED, code, other.to_string())
            }
        }
    }
}

impl From<RegistrationError> for AdminError {
    fn from(error: RegistrationError) -> Self {
        match error {
            RegistrationError::Service(error) => error.into(),
            RegistrationError::Link(link) => {
                let code = match link {
                    LinkError::Unknown => "invalid_link",
                    LinkError::Expired(_) => "link_expired",
                    LinkError::Used => "link_used",
                    LinkError::Replaced => "link_replaced",
                    LinkError::NotInvited(_) => "not_invited",
                };
                let status = if matches!(link, LinkError::Unknown) { StatusCode::NOT_FOUND } else { StatusCode::GONE };
                AdminError::new(status, code, link.to_string())
            }
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        if self.status.is_client_error() && self.status != StatusCode::NOT_FOUND && self.status != StatusCode::TOO_MANY_REQUESTS {
            tracing::info!(status = self.status.as_u16(), code = self.code, message = %self.message, "admin request rejected");
        }
        let body = json!({"error": {"status": self.status.as_u16(), "code": self.code, "message": self.message}});
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after_seconds {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"hub-admin\""));
        }
        response
    }
}

pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> AdminError {
    AdminError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("Method {method} is not allowed on {}; GET /api/v1/openapi.json lists the operations.", uri.path()),
    )
}

pub async fn not_found(uri: axum::http::Uri) -> AdminError {
    AdminError::not_found(format!("No admin API endpoint at {}; GET /api/v1/openapi.json lists them.", uri.path().trim_end_matches('/')))
}
