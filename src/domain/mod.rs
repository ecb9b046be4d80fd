//! Hub's domain rules: user statuses, platform roles and the rules that govern them.
//!
//! Nothing here depends on HTTP, SQL or SCIM wire formats. The service layer feeds these rules
//! with what it read from storage, and turns their errors into protocol errors.

pub mod audit;
pub mod error;
pub mod group;
pub mod invitation;
pub mod request_log;
pub mod rules;
pub mod sign_in;
pub mod user;

pub use error::DomainError;
