//! User management by people signed in to Hub: status changes, removal and profile edits,
//! under rule 3 (who may manage users) and the owner rules.

use serde_json::{json, Map, Value};

use super::sessions::SessionIdentity;
use super::users::{check_owner_seats, UserRecord};
use super::ServiceResult;
use crate::clock::Clock;
use crate::domain::audit::{AuditRecord, ChangeContext};
use crate::domain::group::effective_role;
use crate::domain::user::{validate_products, validate_timezone, Role, Status, User};
use crate::domain::DomainError;
use crate::scim::ScimError;
use crate::storage::{audit, groups, sessions, users, Store, StorageError, WriteTx};

/// Checks rule 3: Owners and Admins manage users.
pub fn require_manage_users(actor: &SessionIdentity) -> Result<(), DomainError> {
    if actor.effective_role >= Role::Admin {
        return Ok(());
    }
    Err(DomainError::Forbidden(format!(
        "Managing users needs the users.manage permission, which Owners and Admins have; your role is {}.",
        actor.effective_role
    )))
}

fn require_owner_for(actor: &SessionIdentity, what: &str) -> Result<(), DomainError> {
    if actor.effective_role == Role::Owner {
        return Ok(());
    }
    Err(DomainError::Forbidden(format!("Only an Owner may {what}.")))
}

/// A status change an administrator can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusAction {
    Deactivate,
    Reactivate,
    Suspend,
    LiftSuspension,
}

impl StatusAction {
    fn audit_action(self) -> &'static str {
        match self {
            StatusAction::Deactivate => "user.deactivated",
            StatusAction::Reactivate => "user.reactivated",
            StatusAction::Suspend => "user.suspended",
            StatusAction::LiftSuspension => "user.suspension_lifted",
        }
    }
}

async fn load(tx: &mut WriteTx, org_id: &str, user_id: &str) -> ServiceResult<(User, Role)> {
    let user = match users::get(&mut tx.db(), org_id, user_id).await? {
        Some(user) if user.removed_at.is_none() => user,
        _ => return Err(ScimError::not_found(format!("User {user_id:?} not found.")).into()),
    };
    let mut by_user = groups::memberships_of(&mut tx.db(), org_id, &[user.id.clone()]).await?;
    let memberships = by_user.remove(&user.id).unwrap_or_default();
    let role = effective_role(user.role, &memberships);
    Ok((user, role))
}

/// Deactivates, reactivates, suspends or lifts a suspension. Sessions of a user who can no
/// longer sign in end at once.
pub async fn change_status(
    store: &Store,
    actor: &SessionIdentity,
    context: &ChangeContext,
    user_id: &str,
    action: StatusAction,
    clock: &dyn Clock,
) -> ServiceResult<UserRecord> {
    require_manage_users(actor)?;
    let org_id = actor.organization.id.clone();
    let mut tx = store.begin_write(&org_id).await?;
    let (before, target_role) = load(&mut tx, &org_id, user_id).await?;
    if target_role == Role::Owner {
        require_owner_for(actor, "deactivate, reactivate or suspend an Owner")?;
    }
    let lifecycle = match action {
        StatusAction::Deactivate => before.lifecycle.deactivate(),
        StatusAction::Reactivate => before.lifecycle.reactivate(),
        StatusAction::Suspend => before.lifecycle.suspend()?,
        StatusAction::LiftSuspension => before.lifecycle.lift_suspension()?,
    };
    if lifecycle == before.lifecycle {
        return finish(tx, before).await;
    }
    let mut user = before.clone();
    user.lifecycle = lifecycle;
    let now = clock.now();
    save(&mut tx, context, &before, &mut user, action.audit_action(), now).await?;
    if !matches!(user.lifecycle.status, Status::Active | Status::Invited) {
        sessions::revoke_for_user(&mut tx.db(), &user.id, now).await?;
    }
    finish(tx, user).await
}

/// Removes a Deactivated user for good: the profile is cleared, the id stays for history, the
/// userName is free again.
pub async fn remove(
    store: &Store,
    actor: &SessionIdentity,
    context: &ChangeContext,
    user_id: &str,
    clock: &dyn Clock,
) -> ServiceResult<()> {
    require_manage_users(actor)?;
    let org_id = actor.organization.id.clone();
    let mut tx = store.begin_write(&org_id).await?;
    let (before, _) = load(&mut tx, &org_id, user_id).await?;
    if before.lifecycle.status != Status::Deactivated {
        return Err(DomainError::Conflict(format!(
            "Only a Deactivated user can be removed; the user is {}. Deactivate the user first.",
            before.lifecycle.status
        ))
        .into());
    }
    if before.role == Role::Owner {
        require_owner_for(actor, "remove an Owner")?;
    }
    let now = clock.now();
    let mut user = before.clone();
    user.remove(now);
    groups::remove_user_everywhere(&mut tx.db(), &user.id, now).await?;
    sessions::revoke_for_user(&mut tx.db(), &user.id, now).await?;
    save(&mut tx, context, &before, &mut user, "user.removed", now).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user_id, org_id = %org_id, "user removed");
    Ok(())
}

/// A profile edit from the admin API. Absent fields stay unchanged; `null` clears.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileEdit {
    #[serde(default, deserialize_with = "double_option")]
    pub display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub given_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub family_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub title: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub avatar_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub timezone: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub preferred_language: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub locale: Option<Option<String>>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub products: Option<Vec<String>>,
}

fn double_option<'de, D>(deserializer: D) -> Result<Option<Option<String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::Deserialize;
    Ok(Some(Option::<String>::deserialize(deserializer)?))
}

/// Edits profile fields, the role and product access.
pub async fn edit(
    store: &Store,
    actor: &SessionIdentity,
    context: &ChangeContext,
    user_id: &str,
    edit: &ProfileEdit,
    clock: &dyn Clock,
) -> ServiceResult<UserRecord> {
    require_manage_users(actor)?;
    let org_id = actor.organization.id.clone();
    let mut tx = store.begin_write(&org_id).await?;
    let (before, _) = load(&mut tx, &org_id, user_id).await?;
    let mut user = before.clone();
    apply_profile_edit(&mut user.profile, edit)?;
    if let Some(role) = &edit.role {
        let role = Role::parse_or_reject(role)?;
        if (role == Role::Owner) != (before.role == Role::Owner) {
            require_owner_for(actor, "grant or take away the Owner role")?;
        }
        user.role = role;
        if user.profile.contains_key("roles") || role != Role::Member {
            user.profile.insert("roles".into(), json!([{"value": role.as_str(), "primary": true}]));
        }
    }
    if let Some(products) = &edit.products {
        user.products = validate_products(products, &actor.organization.products)?;
    }
    if user == before {
        return finish(tx, before).await;
    }
    let seats_before = if user.role != before.role {
        Some(users::owner_seats(&mut tx.db(), &org_id).await?)
    } else {
        None
    };
    save(&mut tx, context, &before, &mut user, "user.updated", clock.now()).await?;
    check_owner_seats(&mut tx, &org_id, seats_before).await?;
    finish(tx, user).await
}

fn set_text(container: &mut Map<String, Value>, key: &str, value: &Option<String>) {
    match value.as_deref().map(str::trim).filter(|text| !text.is_empty()) {
        Some(text) => {
            container.insert(key.to_string(), json!(text));
        }
        None => {
            container.remove(key);
        }
    }
}

fn apply_profile_edit(profile: &mut Map<String, Value>, edit: &ProfileEdit) -> Result<(), DomainError> {
    if let Some(value) = &edit.display_name {
        set_text(profile, "displayName", value);
    }
    if let Some(value) = &edit.title {
        set_text(profile, "title", value);
    }
    if let Some(value) = &edit.preferred_language {
        set_text(profile, "preferredLanguage", value);
    }
    if let Some(value) = &edit.locale {
        set_text(profile, "locale", value);
    }
    if let Some(value) = &edit.timezone {
        if let Some(zone) = value {
            validate_timezone(zone)?;
        }
        set_text(profile, "timezone", value);
    }
    if edit.given_name.is_some() || edit.family_name.is_some() {
        let mut name = profile.get("name").and_then(Value::as_object).cloned().unwrap_or_default();
        if let Some(value) = &edit.given_name {
            set_text(&mut name, "givenName", value);
        }
        if let Some(value) = &edit.family_name {
            set_text(&mut name, "familyName", value);
        }
        if name.is_empty() {
            profile.remove("name");
        } else {
            profile.insert("name".into(), Value::Object(name));
        }
    }
    if let Some(value) = &edit.phone {
        replace_primary(profile, "phoneNumbers", value, "work");
    }
    if let Some(value) = &edit.avatar_url {
        if let Some(url) = value {
            let valid = url.starts_with("https://") || url.starts_with("http://");
            if !valid {
                return Err(DomainError::InvalidValue(format!("avatarUrl {url:?} must be an http or https URL.")));
            }
        }
        replace_primary(profile, "photos", value, "photo");
    }
    Ok(())
}

/// Sets the primary value of a multi-valued attribute such as phoneNumbers, or removes it.
fn replace_primary(profile: &mut Map<String, Value>, attribute: &str, value: &Option<String>, kind: &str) {
    let mut items: Vec<Value> = profile.get(attribute).and_then(Value::as_array).cloned().unwrap_or_default();
    let primary = items
        .iter()
        .position(|item| item.get("primary") == Some(&Value::Bool(true)))
        .or(if items.is_empty() { None } else { Some(0) });
    match (value.as_deref().map(str::trim).filter(|text| !text.is_empty()), primary) {
        (Some(text), Some(index)) => items[index]["value"] = json!(text),
        (Some(text), None) => items.push(json!({"value": text, "type": kind, "primary": true})),
        (None, Some(index)) => {
            items.remove(index);
        }
        (None, None) => {}
    }
    if items.is_empty() {
        profile.remove(attribute);
    } else {
        profile.insert(attribute.to_string(), Value::Array(items));
    }
}

async fn save(
    tx: &mut WriteTx,
    context: &ChangeContext,
    before: &User,
    user: &mut User,
    action: &'static str,
    now: chrono::DateTime<chrono::Utc>,
) -> ServiceResult<()> {
    let seats_before = if before.lifecycle.status != user.lifecycle.status || before.removed_at != user.removed_at {
        Some(users::owner_seats(&mut tx.db(), &user.org_id).await?)
    } else {
        None
    };
    user.version = before.version + 1;
    user.updated_at = now;
    users::update(&mut tx.db(), user).await?;
    check_owner_seats(tx, &user.org_id, seats_before).await?;
    record(tx, context, action, before, user).await?;
    Ok(())
}

async fn record(tx: &mut WriteTx, context: &ChangeContext, action: &'static str, before: &User, after: &User) -> Result<(), StorageError> {
    let snapshot = |user: &User| {
        json!({
            "status": user.lifecycle.status.as_str(),
            "role": user.role.as_str(),
            "products": user.products,
            "profile": user.profile,
            "removed": user.removed_at.is_some(),
        })
    };
    let entry = AuditRecord {
        action,
        target_type: "user",
        target_id: after.id.clone(),
        before: Some(snapshot(before)),
        after: Some(snapshot(after)),
    };
    let org_id = tx.org_id.clone();
    audit::insert(&mut tx.db(), &org_id, context, &entry).await
}

/// Loads the user's memberships for the response and commits.
async fn finish(mut tx: WriteTx, user: User) -> ServiceResult<UserRecord> {
    let org_id = tx.org_id.clone();
    let mut by_user = groups::memberships_of(&mut tx.db(), &org_id, &[user.id.clone()]).await?;
    let memberships = by_user.remove(&user.id).unwrap_or_default();
    tx.commit().await?;
    Ok(UserRecord {
        user,
        memberships,
        change: crate::domain::user::UserChange::Unchanged,
    })
}
