//! Use cases: each opens what it needs from storage, applies SCIM and domain rules, writes the
//! audit log, and commits, so a failed request changes nothing.

pub mod admin_users;
pub mod groups;
pub mod invitations;
pub mod keys;
pub(crate) mod listing;
pub mod provider_keys;
pub mod request_log;
pub mod search;
pub mod sessions;
pub mod sign_in;
pub mod tokens;
pub mod users;

use crate::domain::DomainError;
use crate::scim::ScimError;
use crate::storage::StorageError;

/// A failed use case, by cause.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Scim(#[from] ScimError),
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

pub type ServiceResult<T> = Result<T, ServiceError>;
