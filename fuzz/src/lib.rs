//! Fixtures and helpers shared by the fuzz targets.
//!
//! The service layer's write paths need a database, so the targets call the pure SCIM and
//! domain functions those paths are built from, in the same order and with the same arguments.
//! A fixture that fails to build panics at start-up, and that is a mistake in this file, not in Hub.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use hub::domain::group::{Group, Membership};
use hub::domain::user::{Lifecycle, Role, Status, User};
use hub::service::users::{self, RoleSource};
use hub::service::{groups, ServiceError};
use hub::storage::organizations::Organization;
use hub::scim::document::{check_required, drop_empty_extensions, parse_body};
use hub::scim::schema::{PATCH_OP, USER_RESOURCE};
use hub::scim::user::{split_input, UserInput};
use serde_json::{json, Map, Value};

/// Base URL passed to the render functions.
pub const BASE_URL: &str = "https://hub.example.test/scim/v2";

/// Product keys of the fixture organization; `productAccess` values outside it are rejected.
pub const ORG_PRODUCTS: &[&str] = &["analytics", "billing", "crm"];

fn fixed_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default()
}

/// Returns the organization's product keys as the service layer passes them.
pub fn org_products() -> Vec<String> {
    ORG_PRODUCTS.iter().map(|key| key.to_string()).collect()
}

/// Returns a new Invited Member without a profile, the state `service::users::create` starts from.
pub fn new_user() -> User {
    User {
        id: "0197a5d2-6b1e-7c3a-9f00-000000000001".to_string(),
        org_id: "org-fuzz".to_string(),
        lifecycle: Lifecycle::new(Status::Invited),
        role: Role::Member,
        products: Vec::new(),
        profile: Map::new(),
        mfa_enabled: false,
        mfa_methods: Vec::new(),
        last_login_at: None,
        version: 1,
        created_at: fixed_time(),
        updated_at: fixed_time(),
        removed_at: None,
    }
}

/// Body that the fixture user was created from: every kind of core, enterprise and Hub
/// attribute that PATCH paths and filters address.
fn fixture_user_body() -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "urn:hub:params:scim:schemas:extension:hub:2.0:User"
        ],
        "externalId": "00u1a2b3c4d5e6f7g8h9",
        "userName": "ada.lovelace@example.com",
        "name": {
            "formatted": "Ms. Ada Lovelace",
            "familyName": "Lovelace",
            "givenName": "Ada",
            "honorificPrefix": "Ms."
        },
        "displayName": "Ada Lovelace",
        "nickName": "Ada",
        "title": "Analyst",
        "userType": "Employee",
        "preferredLanguage": "en-GB",
        "locale": "en-GB",
        "timezone": "Europe/London",
        "active": true,
        "emails": [
            {"value": "ada.lovelace@example.com", "type": "work", "primary": true},
            {"value": "ada@home.example.org", "type": "home"}
        ],
        "phoneNumbers": [
            {"value": "+44 20 7946 0000", "type": "work"},
            {"value": "+44 7700 900000", "type": "mobile", "primary": true}
        ],
        "addresses": [{
            "type": "work",
            "streetAddress": "12 St James's Square",
            "locality": "London",
            "postalCode": "SW1Y 4LB",
            "country": "GB",
            "primary": true
        }],
        "roles": [{"value": "Admin", "primary": true}],
        "entitlements": [{"value": "reports.read"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "1815",
            "costCenter": "R&D",
            "organization": "Analytical Engines",
            "department": "Mathematics",
            "manager": {"value": "0197a5d2-6b1e-7c3a-9f00-000000000002"}
        },
        "urn:hub:params:scim:schemas:extension:hub:2.0:User": {
            "platformRole": "Admin",
            "productAccess": ["crm", "analytics"]
        }
    })
}

/// An Active Admin with a full profile, made the way a POST would make it.
pub static FIXTURE_USER: LazyLock<User> = LazyLock::new(|| {
    let input = validate_user_body(&fixture_user_body())
        .unwrap_or_else(|error| panic!("the fixture user body is invalid: {}", error.detail));
    let mut user = new_user();
    user.lifecycle = Lifecycle::new(Status::Active);
    apply_user_input(&mut user, input, None)
        .unwrap_or_else(|error| panic!("the fixture user input is invalid: {error}"));
    user
});

/// A group the fixture user belongs to, granting a role and a product.
pub static FIXTURE_GROUP: LazyLock<Group> = LazyLock::new(|| Group {
    id: "0197a5d2-6b1e-7c3a-9f00-0000000000a1".to_string(),
    org_id: "org-fuzz".to_string(),
    display_name: "Finance Analysts".to_string(),
    external_id: Some("grp-finance".to_string()),
    grant_role: Some(Role::Viewer),
    grant_products: vec!["billing".to_string()],
    version: 3,
    created_at: fixed_time(),
    updated_at: fixed_time(),
});

/// The fixture user's membership in the fixture group.
pub fn fixture_memberships() -> Vec<Membership> {
    vec![Membership {
        group_id: FIXTURE_GROUP.id.clone(),
        group_display_name: FIXTURE_GROUP.display_name.clone(),
        grant_role: FIXTURE_GROUP.grant_role,
        grant_products: FIXTURE_GROUP.grant_products.clone(),
    }]
}

/// Validates a User POST or PUT body with the calls that `service::users::create` and
/// `replace` make before they open a transaction.
pub fn validate_user_body(body: &Value) -> Result<UserInput, hub::scim::ScimError> {
    let mut document = parse_body(&USER_RESOURCE, body)?;
    drop_empty_extensions(&USER_RESOURCE, &mut document);
    check_required(&USER_RESOURCE, &document)?;
    Ok(split_input(document))
}

/// Returns the fixture organization, whose products are [`ORG_PRODUCTS`].
pub fn organization() -> Organization {
    Organization {
        id: "org-1".to_string(),
        name: "fuzz".to_string(),
        verified_domains: Vec::new(),
        products: org_products(),
        scim_users_active: false,
        scim_rate_limit: None,
    }
}

/// Applies a split user document to a user with the service layer's own function.
///
/// `previous` is `None` for a POST or PUT body, and the split view before the PATCH for a
/// patched document.
pub fn apply_user_input(user: &mut User, input: UserInput, previous: Option<&UserInput>) -> Result<(), ServiceError> {
    let source = match previous {
        None => RoleSource::Body,
        Some(previous) => RoleSource::Patch(previous.clone()),
    };
    users::apply_input(user, input, &organization(), source)
}

/// Builds a PATCH request body from fuzz input.
///
/// Input that starts with `{` is the whole body as JSON. Any other input has one operation per
/// line, as `op<TAB>path<TAB>value`: a missing field leaves its key out of the operation, and a
/// value that is not JSON is sent as a JSON string. Returns `None` for invalid UTF-8 or a
/// body that is not JSON.
pub fn patch_body(data: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(data).ok()?;
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(text).ok();
    }
    let operations: Vec<Value> = text.lines().filter(|line| !line.is_empty()).map(operation_from_line).collect();
    Some(json!({"schemas": [PATCH_OP], "Operations": operations}))
}

fn operation_from_line(line: &str) -> Value {
    let mut fields = line.splitn(3, '\t');
    let mut operation = Map::new();
    if let Some(op) = fields.next() {
        operation.insert("op".into(), Value::String(op.to_string()));
    }
    if let Some(path) = fields.next() {
        operation.insert("path".into(), Value::String(path.to_string()));
    }
    if let Some(value) = fields.next() {
        let parsed = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
        operation.insert("value".into(), parsed);
    }
    Value::Object(operation)
}

/// Applies a validated group document to a group with the service layer's own function.
pub fn apply_group_input(group: &mut Group, input: &hub::scim::group::GroupInput, creating: bool) -> Result<(), ServiceError> {
    groups::apply_input(group, input, &organization(), creating)
}
