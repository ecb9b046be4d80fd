//! SCIM errors (RFC 7644 §3.12): an HTTP status, an optional `scimType` and a detail that names
//! the attribute and value at fault.

use serde_json::{json, Value};

use super::schema::ERROR;

/// The `scimType` keywords of RFC 7644 §3.12 table 9, plus Hub's own for rule violations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimType {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    InvalidVers,
    Sensitive,
    /// RFC 9865: a cursor Hub did not issue, or one issued for another query.
    InvalidCursor,
    /// RFC 9865: a cursor older than the advertised `cursorTimeout`.
    ExpiredCursor,
    /// RFC 9865: a `count` outside 0 to `maxPageSize` in a cursor request.
    InvalidCount,
}

impl ScimType {
    pub fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidVers => "invalidVers",
            ScimType::Sensitive => "sensitive",
            ScimType::InvalidCursor => "invalidCursor",
            ScimType::ExpiredCursor => "expiredCursor",
            ScimType::InvalidCount => "invalidCount",
        }
    }
}

/// A SCIM error response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {detail}")]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<ScimType>,
    pub detail: String,
    /// For 429 and 503: the seconds a client should wait, sent as `Retry-After`.
    pub retry_after_seconds: Option<u64>,
    /// The Hub rule that rejected the request (`owner_limit`, `last_owner`,
    /// `verified_domain`), for the request log. It is not part of the response body.
    pub rule: Option<&'static str>,
}

impl ScimError {
    pub fn new(status: u16, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
            retry_after_seconds: None,
            rule: None,
        }
    }

    /// Tags the error with the Hub rule that caused it.
    pub fn with_rule(self, rule: Option<&'static str>) -> Self {
        ScimError { rule, ..self }
    }

    /// Builds a 429 with the delay after which the client may retry.
    pub fn too_many_requests(detail: impl Into<String>, retry_after_seconds: u64) -> Self {
        ScimError {
            retry_after_seconds: Some(retry_after_seconds),
            ..Self::new(429, None, detail)
        }
    }

    pub fn bad_request(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self::new(400, Some(scim_type), detail)
    }

    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidValue, detail)
    }

    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidSyntax, detail)
    }

    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidPath, detail)
    }

    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidFilter, detail)
    }

    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::Mutability, detail)
    }

    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::NoTarget, detail)
    }

    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(409, Some(ScimType::Uniqueness), detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, None, detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(409, None, detail)
    }

    pub fn precondition_failed(detail: impl Into<String>) -> Self {
        Self::new(412, None, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(401, None, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(403, None, detail)
    }

    /// A 500 whose detail gives nothing away; the cause is logged where it was caught.
    pub fn internal() -> Self {
        Self::new(
            500,
            None,
            "Internal server error. The request was not applied; retry later or report the request id.",
        )
    }

    /// Renders the RFC 7644 §3.12 error body, with `status` as a string.
    pub fn to_json(&self) -> Value {
        let mut body = json!({
            "schemas": [ERROR],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let (Some(scim_type), Some(object)) = (self.scim_type, body.as_object_mut()) {
            object.insert("scimType".into(), json!(scim_type.as_str()));
        }
        body
    }
}
