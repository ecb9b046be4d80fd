//! JSON shapes of the admin API.

use serde_json::{json, Value};

use crate::clock;
use crate::domain::group::{effective_products, effective_role, Membership};
use crate::domain::invitation::Invitation;
use crate::domain::user::User;
use crate::service::invitations::invitation_state;
use crate::storage::mail_queue::QueuedMail;

fn primary_value(user: &User, attribute: &str) -> Option<String> {
    let items = user.profile.get(attribute)?.as_array()?;
    items
        .iter()
        .find(|item| item.get("primary") == Some(&Value::Bool(true)))
        .or_else(|| items.first())?
        .get("value")?
        .as_str()
        .map(str::to_string)
}

/// Renders a user with every profile field of the admin API.
pub fn user_view(user: &User, memberships: &[Membership]) -> Value {
    let name = user.profile.get("name");
    json!({
        "id": user.id,
        "userName": user.user_name(),
        "externalId": user.external_id(),
        "displayName": user.display_name(),
        "givenName": name.and_then(|name| name.get("givenName")),
        "familyName": name.and_then(|name| name.get("familyName")),
        "title": user.profile.get("title"),
        "email": primary_value(user, "emails"),
        "phone": primary_value(user, "phoneNumbers"),
        "avatarUrl": primary_value(user, "photos"),
        "timezone": user.profile.get("timezone"),
        "preferredLanguage": user.profile.get("preferredLanguage"),
        "locale": user.profile.get("locale"),
        "status": user.lifecycle.status.as_str(),
        "role": user.role.as_str(),
        "effectiveRole": effective_role(user.role, memberships).as_str(),
        "products": user.products,
        "effectiveProducts": effective_products(&user.products, memberships),
        "groups": memberships.iter().map(|membership| json!({"id": membership.group_id, "displayName": membership.group_display_name})).collect::<Vec<_>>(),
        "mfa": {"enabled": user.mfa_enabled, "methods": user.mfa_methods},
        "lastLogin": user.last_login_at.map(clock::format),
        "createdAt": clock::format(user.created_at),
        "updatedAt": clock::format(user.updated_at),
    })
}

/// Renders an invitation without its link, with the delivery state of its mail.
pub fn invitation_view(invitation: &Invitation, mail: Option<&QueuedMail>, now: chrono::DateTime<chrono::Utc>) -> Value {
    json!({
        "id": invitation.id,
        "userId": invitation.user_id,
        "state": invitation_state(invitation, now),
        "sentAt": clock::format(invitation.sent_at),
        "expiresAt": clock::format(invitation.expires_at),
        "usedAt": invitation.used_at.map(clock::format),
        "delivery": mail.map(|mail| json!({
            "status": mail.status.as_str(),
            "attempts": mail.attempts,
            "lastError": mail.last_error,
            "sentAt": mail.sent_at.map(clock::format),
        })),
    })
}
