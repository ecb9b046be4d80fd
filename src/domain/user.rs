//! User statuses, platform roles and the lifecycle transitions between statuses.

use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::error::DomainError;

/// The state of a Hub account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Created by an invitation or by provisioning, not yet registered.
    Invited,
    Active,
    /// A temporary hold set in Hub; SCIM `active` does not lift it.
    Suspended,
    /// Cannot sign in; reversible by reactivation.
    Deactivated,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Invited => "Invited",
            Status::Active => "Active",
            Status::Suspended => "Suspended",
            Status::Deactivated => "Deactivated",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        [Status::Invited, Status::Active, Status::Suspended, Status::Deactivated]
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(text))
    }
}

impl fmt::Display for Status {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A platform role. The derived order puts the highest role last, so `max` picks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::Admin => "Admin",
            Role::Member => "Member",
            Role::Viewer => "Viewer",
        }
    }

    /// Parses a role name, ignoring case.
    pub fn parse(text: &str) -> Option<Role> {
        [Role::Owner, Role::Admin, Role::Member, Role::Viewer]
            .into_iter()
            .find(|role| role.as_str().eq_ignore_ascii_case(text.trim()))
    }

    pub fn parse_or_reject(text: &str) -> Result<Role, DomainError> {
        Role::parse(text).ok_or_else(|| {
            DomainError::InvalidValue(format!(
                "{text:?} is not a Hub platform role; use Owner, Admin, Member or Viewer."
            ))
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// The status of an account together with the status it had before deactivation, which
/// reactivation restores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifecycle {
    pub status: Status,
    pub previous_status: Option<Status>,
}

impl Lifecycle {
    pub fn new(status: Status) -> Self {
        Lifecycle {
            status,
            previous_status: None,
        }
    }

    /// Deactivates the account, remembering the status to restore. Deactivating a deactivated
    /// account changes nothing.
    pub fn deactivate(self) -> Self {
        if self.status == Status::Deactivated {
            return self;
        }
        Lifecycle {
            status: Status::Deactivated,
            previous_status: Some(self.status),
        }
    }

    /// Restores the status the account had before deactivation (Active when unknown).
    pub fn reactivate(self) -> Self {
        if self.status != Status::Deactivated {
            return self;
        }
        let restored = match self.previous_status {
            Some(Status::Deactivated) | None => Status::Active,
            Some(previous) => previous,
        };
        Lifecycle::new(restored)
    }

    /// Applies SCIM `active`: false deactivates, true reactivates. A suspension stays in force
    /// either way, because only Hub lifts it.
    pub fn with_active_flag(self, active: bool) -> Self {
        if active {
            self.reactivate()
        } else {
            self.deactivate()
        }
    }

    /// Suspends the account, remembering the status to restore. Only Invited and Active
    /// accounts can be suspended.
    pub fn suspend(self) -> Result<Self, DomainError> {
        match self.status {
            Status::Invited | Status::Active => Ok(Lifecycle {
                status: Status::Suspended,
                previous_status: Some(self.status),
            }),
            Status::Suspended => Ok(self),
            Status::Deactivated => Err(DomainError::InvalidValue(
                "A deactivated user cannot be suspended; reactivate the user first.".to_string(),
            )),
        }
    }

    /// Lifts a suspension, restoring the status the account had before it.
    pub fn lift_suspension(self) -> Result<Self, DomainError> {
        match self.status {
            Status::Suspended => Ok(Lifecycle::new(match self.previous_status {
                Some(Status::Invited) => Status::Invited,
                _ => Status::Active,
            })),
            other => Err(DomainError::InvalidValue(format!("The user is {other}, not Suspended."))),
        }
    }

    /// SCIM `active`: every status but Deactivated.
    pub fn is_active(self) -> bool {
        self.status != Status::Deactivated
    }
}

/// The most significant change an update made to a user, for the request log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserChange {
    Unchanged,
    Deactivated,
    Reactivated,
    RoleChanged,
    ProductsChanged,
    ProfileChanged,
}

impl UserChange {
    /// Compares two states of a user. A change of status outranks a change of role, which
    /// outranks a change of product access, which outranks a profile change.
    pub fn between(before: &User, after: &User) -> UserChange {
        let was_active = before.lifecycle.is_active();
        let is_active = after.lifecycle.is_active();
        if was_active && !is_active {
            return UserChange::Deactivated;
        }
        if !was_active && is_active {
            return UserChange::Reactivated;
        }
        if before.role != after.role {
            return UserChange::RoleChanged;
        }
        if before.products != after.products {
            return UserChange::ProductsChanged;
        }
        if before.profile != after.profile || before.lifecycle != after.lifecycle {
            return UserChange::ProfileChanged;
        }
        UserChange::Unchanged
    }
}

/// A Hub user: Hub's own state plus the SCIM profile the identity provider manages.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: String,
    pub org_id: String,
    pub lifecycle: Lifecycle,
    /// The role assigned to the user itself; groups may raise the effective role.
    pub role: Role,
    /// Product keys assigned to the user itself, sorted.
    pub products: Vec<String>,
    /// SCIM core and enterprise attributes (userName, name, emails, ...), keyed by their
    /// canonical names, with enterprise attributes under the extension URN.
    pub profile: Map<String, Value>,
    pub mfa_enabled: bool,
    pub mfa_methods: Vec<String>,
    pub last_login_at: Option<DateTime<Utc>>,
    /// Incremented on every change; the ETag.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set when the user was removed: the profile is cleared and only the id remains.
    pub removed_at: Option<DateTime<Utc>>,
}

impl User {
    pub fn user_name(&self) -> Option<&str> {
        self.profile.get("userName").and_then(Value::as_str)
    }

    pub fn external_id(&self) -> Option<&str> {
        self.profile.get("externalId").and_then(Value::as_str)
    }

    pub fn display_name(&self) -> Option<&str> {
        self.profile.get("displayName").and_then(Value::as_str)
    }

    /// Returns whether the user takes one of the organization's Owner seats.
    pub fn holds_owner_seat(&self) -> bool {
        self.removed_at.is_none() && self.lifecycle.status != Status::Deactivated && self.role == Role::Owner
    }

    /// Clears the profile for removal, keeping the id as a tombstone.
    pub fn remove(&mut self, at: DateTime<Utc>) {
        self.profile = Map::new();
        self.products = Vec::new();
        self.mfa_methods = Vec::new();
        self.mfa_enabled = false;
        self.lifecycle = self.lifecycle.deactivate();
        self.removed_at = Some(at);
    }
}

/// Checks an IANA time zone name such as "Europe/Paris".
pub fn validate_timezone(name: &str) -> Result<(), DomainError> {
    match name.parse::<chrono_tz::Tz>() {
        Ok(_) => Ok(()),
        Err(_) => Err(DomainError::InvalidValue(format!(
            "{name:?} is not an IANA time zone name; use a name such as \"Europe/Paris\" or \"America/New_York\"."
        ))),
    }
}

/// Checks product keys against the organization's products and returns them sorted without
/// duplicates.
pub fn validate_products(requested: &[String], allowed: &[String]) -> Result<Vec<String>, DomainError> {
    let mut products = Vec::with_capacity(requested.len());
    for key in requested {
        if !allowed.iter().any(|allowed_key| allowed_key == key) {
            return Err(DomainError::InvalidValue(format!(
                "{key:?} is not a product of this organization; known products are: {}.",
                allowed.join(", ")
            )));
        }
        if !products.contains(key) {
            products.push(key.clone());
        }
    }
    products.sort();
    Ok(products)
}

/// Picks the platform role from SCIM `roles` values: the primary one, else the highest.
/// Returns `None` for an empty list.
pub fn role_from_values(values: &[(String, bool)]) -> Result<Option<Role>, DomainError> {
    let mut roles = Vec::with_capacity(values.len());
    for (value, primary) in values {
        let role = Role::parse_or_reject(value)?;
        if *primary {
            return Ok(Some(role));
        }
        roles.push(role);
    }
    Ok(roles.into_iter().max())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reactivation_restores_previous_status() {
        let suspended = Lifecycle::new(Status::Suspended);

        let restored = suspended.deactivate().reactivate();

        assert_eq!(restored.status, Status::Suspended);
        assert_eq!(restored.previous_status, None);
    }

    #[test]
    fn active_true_keeps_suspension() {
        let suspended = Lifecycle::new(Status::Suspended);

        assert_eq!(suspended.with_active_flag(true).status, Status::Suspended);
    }

    #[test]
    fn primary_role_wins() {
        let values = vec![("Owner".to_string(), false), ("viewer".to_string(), true)];

        assert_eq!(role_from_values(&values).unwrap(), Some(Role::Viewer));
    }

    #[test]
    fn unknown_timezone_rejected() {
        assert!(validate_timezone("Europe/Paris").is_ok());
        assert!(validate_timezone("Mars/Olympus").is_err());
    }
}
