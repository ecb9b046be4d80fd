//! Errors raised by Hub's domain rules.

/// A change that Hub's rules do not allow. Each message names the rule and what an
/// administrator can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// Rule 1: at most two Owners per organization.
    #[error("{0}")]
    OwnerLimit(String),
    /// Rule 2: an organization keeps at least one Owner who is not Deactivated.
    #[error("{0}")]
    LastOwner(String),
    /// Rule 3: the actor's role does not allow the change.
    #[error("{0}")]
    Forbidden(String),
    /// The change does not fit the resource's current state (removing a user that is not
    /// Deactivated).
    #[error("{0}")]
    Conflict(String),
    /// A value that no state of the organization would accept (an unknown role, product key or
    /// time zone).
    #[error("{0}")]
    InvalidValue(String),
    /// An invitation to an address outside the organization's verified domains.
    #[error("{0}")]
    UnverifiedDomain(String),
}

impl DomainError {
    /// Names the Hub rule behind the error, for the request log and error codes; `None` for
    /// errors that are not a rule of the organization.
    pub fn rule(&self) -> Option<&'static str> {
        match self {
            DomainError::OwnerLimit(_) => Some("owner_limit"),
            DomainError::LastOwner(_) => Some("last_owner"),
            DomainError::UnverifiedDomain(_) => Some("verified_domain"),
            DomainError::Forbidden(_) | DomainError::Conflict(_) | DomainError::InvalidValue(_) => None,
        }
    }
}
