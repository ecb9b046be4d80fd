//! The SCIM User resource of a Hub user: rendering, and splitting a request document into the
//! profile and the attributes Hub governs itself (`active`, the Hub extension).
//!
//! The core `roles` attribute carries the platform role, because Entra maps app role
//! assignments there. It is kept in the profile as sent (with its `display` and `type`), and
//! rewritten when the role changes through the Hub extension.

use serde_json::{json, Map, Value};

use super::schema::{CORE_USER, ENTERPRISE_USER, HUB_USER};
use crate::clock;
use crate::domain::group::{effective_products, effective_role, Membership};
use crate::domain::user::User;

/// The weak entity tag of a resource version (RFC 7644 §3.14).
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Renders the full User resource; attribute projection is applied afterwards.
pub fn render(user: &User, memberships: &[Membership], base_url: &str) -> Value {
    render_with_profile(user, user.profile.clone(), memberships, base_url)
}

/// Renders a user that is no longer needed, moving its profile into the resource instead of
/// copying it. A page of a list renders a hundred users this way.
pub fn render_owned(mut user: User, memberships: &[Membership], base_url: &str) -> Value {
    let profile = std::mem::take(&mut user.profile);
    render_with_profile(&user, profile, memberships, base_url)
}

fn render_with_profile(user: &User, mut profile: Map<String, Value>, memberships: &[Membership], base_url: &str) -> Value {
    // `shift_remove` keeps the order of the other attributes, which `remove` would not.
    let enterprise = profile.shift_remove(ENTERPRISE_USER);
    let mut schemas = vec![json!(CORE_USER)];
    if enterprise.is_some() {
        schemas.push(json!(ENTERPRISE_USER));
    }
    schemas.push(json!(HUB_USER));

    // The profile becomes the resource, so its attributes are not hashed into a second map.
    let mut resource = profile;
    resource.shift_insert(0, "schemas".into(), Value::Array(schemas));
    resource.shift_insert(1, "id".into(), json!(user.id));
    resource.insert("active".into(), json!(user.lifecycle.is_active()));
    if !memberships.is_empty() {
        resource.insert("groups".into(), groups_value(memberships, base_url));
    }
    if let Some(enterprise) = enterprise {
        resource.insert(ENTERPRISE_USER.into(), enterprise);
    }
    resource.insert(HUB_USER.into(), hub_extension(user, memberships));
    resource.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": clock::format(user.created_at),
            "lastModified": clock::format(user.updated_at),
            "location": format!("{base_url}/Users/{}", user.id),
            "version": etag(user.version),
        }),
    );
    Value::Object(resource)
}

/// Renders the read-only `groups` attribute: the user's direct memberships.
fn groups_value(memberships: &[Membership], base_url: &str) -> Value {
    let groups: Vec<Value> = memberships
        .iter()
        .map(|membership| {
            json!({
                "value": membership.group_id,
                "$ref": format!("{base_url}/Groups/{}", membership.group_id),
                "display": membership.group_display_name,
                "type": "direct",
            })
        })
        .collect();
    Value::Array(groups)
}

fn hub_extension(user: &User, memberships: &[Membership]) -> Value {
    let mut extension = Map::new();
    extension.insert("status".into(), json!(user.lifecycle.status.as_str()));
    extension.insert("platformRole".into(), json!(user.role.as_str()));
    extension.insert("productAccess".into(), json!(user.products));
    extension.insert("effectiveRole".into(), json!(effective_role(user.role, memberships).as_str()));
    extension.insert(
        "effectiveProductAccess".into(),
        json!(effective_products(&user.products, memberships)),
    );
    extension.insert(
        "mfa".into(),
        json!({"enabled": user.mfa_enabled, "methods": user.mfa_methods}),
    );
    if let Some(last_login) = user.last_login_at {
        extension.insert("lastLogin".into(), json!(clock::format(last_login)));
    }
    Value::Object(extension)
}

/// Builds the document a PATCH works on: the profile plus the writable attributes Hub governs.
pub fn patch_view(user: &User) -> Map<String, Value> {
    let mut view = user.profile.clone();
    view.insert("active".into(), json!(user.lifecycle.is_active()));
    let mut hub = Map::new();
    hub.insert("platformRole".into(), json!(user.role.as_str()));
    if !user.products.is_empty() {
        hub.insert("productAccess".into(), json!(user.products));
    }
    view.insert(HUB_USER.into(), Value::Object(hub));
    view
}

/// A request document split into the profile and the attributes Hub governs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserInput {
    pub profile: Map<String, Value>,
    pub active: Option<bool>,
    /// `roles` as (value, primary) pairs; `None` when the attribute is absent.
    pub roles: Option<Vec<(String, bool)>>,
    /// The Hub extension's `platformRole`.
    pub platform_role: Option<String>,
    /// The Hub extension's `productAccess`.
    pub products: Option<Vec<String>>,
}

/// Splits a validated document (from a POST or PUT body, or a patched view).
pub fn split_input(mut document: Map<String, Value>) -> UserInput {
    let active = document.remove("active").and_then(|value| value.as_bool());
    // `roles` stays in the profile as the client sent it; its values set the platform role.
    let roles = document.get("roles").map(role_values);
    // Hub stores no password: people sign in through their identity provider.
    document.remove("password");

    let mut platform_role = None;
    let mut products = None;
    if let Some(Value::Object(mut hub)) = document.remove(HUB_USER) {
        platform_role = hub.remove("platformRole").and_then(|value| value.as_str().map(str::to_string));
        products = hub.remove("productAccess").map(|value| string_list(&value));
    }
    UserInput {
        profile: document,
        active,
        roles,
        platform_role,
        products,
    }
}

fn role_values(value: &Value) -> Vec<(String, bool)> {
    let items = match value {
        Value::Array(items) => items.as_slice(),
        other => std::slice::from_ref(other),
    };
    items
        .iter()
        .filter_map(|item| {
            let role = item.get("value").and_then(Value::as_str)?;
            let primary = item.get("primary").and_then(Value::as_bool).unwrap_or(false);
            Some((role.to_string(), primary))
        })
        .collect()
}

fn string_list(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().filter_map(|item| item.as_str().map(str::to_string)).collect(),
        Value::String(text) => vec![text.clone()],
        _ => Vec::new(),
    }
}
