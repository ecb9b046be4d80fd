//! Audit records: who changed what, with the values before and after.

use serde_json::Value;

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A provisioning client authenticated by a SCIM bearer token.
    ScimToken { token_id: String },
    /// A person signed in to Hub.
    User { user_id: String },
    /// Hub itself, or an operator at the command line.
    System,
}

impl Actor {
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::ScimToken { .. } => "scim_token",
            Actor::User { .. } => "user",
            Actor::System => "system",
        }
    }

    pub fn id(&self) -> Option<&str> {
        match self {
            Actor::ScimToken { token_id } => Some(token_id),
            Actor::User { user_id } => Some(user_id),
            Actor::System => None,
        }
    }
}

/// The context a change happens in: the actor and the request it came with.
#[derive(Debug, Clone)]
pub struct ChangeContext {
    pub actor: Actor,
    pub request_id: String,
}

/// One audit entry before it is stored. Values must not contain secrets.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub action: &'static str,
    pub target_type: &'static str,
    pub target_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}
