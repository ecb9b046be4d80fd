//! The SCIM Group resource: rendering, request bodies, and PATCH operations split into member
//! changes (applied as row changes) and attribute changes (applied to a small document).

use scim_v2::filter::{AttrExp, CompValue, CompareOp, PatchPath, ValFilter};
use serde_json::{json, Map, Value};

use super::document::{check_required, drop_empty_extensions, parse_body};
use super::error::ScimError;
use super::patch::{OpKind, Operation};
use super::schema::{CORE_GROUP, GROUP_RESOURCE, HUB_GROUP};
use super::user::etag;
use super::value::coerce;
use crate::clock;
use crate::domain::group::Group;

/// A member as rendered. Members are shown by id only: `display` is accepted in requests and
/// ignored, because a name that changes with the user would make the group's representation
/// differ from what the client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    pub user_id: String,
    pub display: Option<String>,
}

/// The member sub-attributes a response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberFields {
    pub value: bool,
    pub reference: bool,
    pub kind: bool,
}

/// Renders and serializes a group, writing its members as JSON text straight from the rows:
/// as `Value`s, 100,000 members took about 150 MB, ten times their JSON.
pub fn render_projected(group: &Group, members: Option<&[MemberView]>, base_url: &str, projection: &super::projection::Projection) -> Vec<u8> {
    let body = projection.apply(&GROUP_RESOURCE, render(group, None, base_url));
    let mut bytes = serde_json::to_vec(&body).unwrap_or_default();
    if let (Some(members), Some(fields)) = (members, member_fields(projection)) {
        append_members(&mut bytes, members, base_url, fields);
    }
    bytes
}

/// Returns the member sub-attributes a projection keeps, or `None` when it drops `members`.
/// It projects a one-member sample, so the rules of `Projection` hold for members too.
pub fn member_fields(projection: &super::projection::Projection) -> Option<MemberFields> {
    let sample = json!({
        "schemas": [CORE_GROUP],
        "id": "sample",
        "displayName": "sample",
        "members": [{"value": "sample", "$ref": "sample", "type": "User"}],
    });
    let projected = projection.apply(&GROUP_RESOURCE, sample);
    let Some(Value::Object(kept)) = projected.get("members").and_then(|members| members.get(0)) else {
        return None;
    };
    Some(MemberFields {
        value: kept.contains_key("value"),
        reference: kept.contains_key("$ref"),
        kind: kept.contains_key("type"),
    })
}

/// Adds `"members": [...]` to a serialized group object. Without members the attribute
/// stays out, as `render` leaves it out.
pub fn append_members(object: &mut Vec<u8>, members: &[MemberView], base_url: &str, fields: MemberFields) {
    if members.is_empty() || object.last() != Some(&b'}') {
        return;
    }
    object.pop();
    object.reserve(members.len() * (base_url.len() + 120));
    object.extend_from_slice(b",\"members\":");
    write_members(object, members, base_url, fields);
    object.push(b'}');
}

/// Appends the members array as JSON text with the given sub-attributes.
fn write_members(out: &mut Vec<u8>, members: &[MemberView], base_url: &str, fields: MemberFields) {
    out.push(b'[');
    for (index, member) in members.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.push(b'{');
        let mut first = true;
        let mut field = |out: &mut Vec<u8>, name: &str, value: &str| {
            if !first {
                out.push(b',');
            }
            first = false;
            write_json_string(out, name);
            out.push(b':');
            write_json_string(out, value);
        };
        if fields.value {
            field(out, "value", &member.user_id);
        }
        if fields.reference {
            field(out, "$ref", &format!("{base_url}/Users/{}", member.user_id));
        }
        if fields.kind {
            field(out, "type", "User");
        }
        out.push(b'}');
    }
    out.push(b']');
}

/// Appends `text` as a JSON string, escaped by serde_json.
fn write_json_string(out: &mut Vec<u8>, text: &str) {
    // serde_json's writer errors come from the writer itself, and writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// Renders a group. `members` is `None` when the members were not loaded (excluded by the
/// request), which leaves the attribute out.
pub fn render(group: &Group, members: Option<&[MemberView]>, base_url: &str) -> Value {
    let mut resource = Map::new();
    let has_grants = group.grant_role.is_some() || !group.grant_products.is_empty();
    if has_grants {
        resource.insert("schemas".into(), json!([CORE_GROUP, HUB_GROUP]));
    } else {
        resource.insert("schemas".into(), json!([CORE_GROUP]));
    }
    resource.insert("id".into(), json!(group.id));
    if let Some(external_id) = &group.external_id {
        resource.insert("externalId".into(), json!(external_id));
    }
    resource.insert("displayName".into(), json!(group.display_name));
    if let Some(members) = members.filter(|members| !members.is_empty()) {
        let rendered: Vec<Value> = members
            .iter()
            .map(|member| {
                let mut object = Map::new();
                object.insert("value".into(), json!(member.user_id));
                object.insert("$ref".into(), json!(format!("{base_url}/Users/{}", member.user_id)));
                object.insert("type".into(), json!("User"));
                Value::Object(object)
            })
            .collect();
        resource.insert("members".into(), Value::Array(rendered));
    }
    if has_grants {
        resource.insert(HUB_GROUP.into(), grants_value(group));
    }
    resource.insert(
        "meta".into(),
        json!({
            "resourceType": "Group",
            "created": clock::format(group.created_at),
            "lastModified": clock::format(group.updated_at),
            "location": format!("{base_url}/Groups/{}", group.id),
            "version": etag(group.version),
        }),
    );
    Value::Object(resource)
}

fn grants_value(group: &Group) -> Value {
    let mut extension = Map::new();
    if let Some(role) = group.grant_role {
        extension.insert("platformRole".into(), json!(role.as_str()));
    }
    extension.insert("productAccess".into(), json!(group.grant_products));
    Value::Object(extension)
}

/// Builds the document of the group attributes a PATCH may change besides members.
pub fn patch_view(group: &Group) -> Map<String, Value> {
    let mut view = Map::new();
    view.insert("displayName".into(), json!(group.display_name));
    if let Some(external_id) = &group.external_id {
        view.insert("externalId".into(), json!(external_id));
    }
    let mut grants = Map::new();
    if let Some(role) = group.grant_role {
        grants.insert("platformRole".into(), json!(role.as_str()));
    }
    if !group.grant_products.is_empty() {
        grants.insert("productAccess".into(), json!(group.grant_products));
    }
    if !grants.is_empty() {
        view.insert(HUB_GROUP.into(), Value::Object(grants));
    }
    view
}

/// A validated group document without members.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupInput {
    pub display_name: String,
    pub external_id: Option<String>,
    /// Member user ids; `None` when the body has no `members`.
    pub members: Option<Vec<String>>,
    /// The grant role as sent; `None` when the extension has no `platformRole`.
    pub grant_role: Option<String>,
    pub grant_products: Option<Vec<String>>,
    /// Whether the body carried the Hub group extension at all.
    pub has_grants: bool,
}

/// Validates a POST or PUT body.
pub fn parse_group_body(body: &Value) -> Result<GroupInput, ScimError> {
    // Checked before parsing, which drops a member left empty once its read-only `display`
    // is removed, and a PUT would then replace the members without it.
    if let Value::Object(fields) = body {
        for (key, value) in fields {
            if is_members_key(key) {
                check_member_values(value)?;
            }
        }
    }
    let mut document = parse_body(&GROUP_RESOURCE, body)?;
    drop_empty_extensions(&GROUP_RESOURCE, &mut document);
    check_required(&GROUP_RESOURCE, &document)?;
    let members = match document.remove("members") {
        None => None,
        Some(value) => Some(member_ids(&value)?),
    };
    split_document(document, members)
}

/// Splits a group document (a body or a patched view) into its parts.
pub fn split_document(mut document: Map<String, Value>, members: Option<Vec<String>>) -> Result<GroupInput, ScimError> {
    let display_name = document
        .get("displayName")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .ok_or_else(|| ScimError::invalid_value("The required attribute 'displayName' is missing or empty."))?
        .to_string();
    let external_id = document.get("externalId").and_then(Value::as_str).map(str::to_string);
    let grants = document.remove(HUB_GROUP);
    let has_grants = grants.is_some();
    let (grant_role, grant_products) = match grants {
        Some(Value::Object(mut grants)) => (
            grants.remove("platformRole").and_then(|value| value.as_str().map(str::to_string)),
            grants.remove("productAccess").map(|value| {
                value
                    .as_array()
                    .map(|items| items.iter().filter_map(|item| item.as_str().map(str::to_string)).collect())
                    .unwrap_or_default()
            }),
        ),
        _ => (None, None),
    };
    Ok(GroupInput {
        display_name,
        external_id,
        members,
        grant_role,
        grant_products,
        has_grants,
    })
}

/// Reads member ids from a `members` value: objects with `value` (Entra adds `"$ref": null`),
/// or bare ids. Only users can be members.
pub fn member_ids(value: &Value) -> Result<Vec<String>, ScimError> {
    let Some(members_def) = GROUP_RESOURCE.core.attribute("members") else {
        return Err(ScimError::internal());
    };
    check_member_values(value)?;
    let Some(coerced) = coerce(members_def, value, "members")? else {
        return Ok(Vec::new());
    };
    let mut ids = Vec::new();
    for member in coerced.as_array().map(Vec::as_slice).unwrap_or_default() {
        if let Some(kind) = member.get("type").and_then(Value::as_str) {
            if !kind.eq_ignore_ascii_case("User") {
                return Err(ScimError::invalid_value(format!(
                    "Member type {kind:?} is not supported: Hub groups contain users only."
                )));
            }
        }
        let Some(id) = member.get("value").and_then(Value::as_str) else {
            return Err(ScimError::invalid_value("Each member must have a 'value' with the id of a user."));
        };
        if !ids.iter().any(|existing| existing == id) {
            ids.push(id.to_string());
        }
    }
    Ok(ids)
}

/// Tells whether a body key names the members, by name or with the core Group URN.
fn is_members_key(key: &str) -> bool {
    let name = match key.rsplit_once(':') {
        Some((urn, name)) if urn.eq_ignore_ascii_case(CORE_GROUP) => name,
        Some(_) => return false,
        None => key,
    };
    name.eq_ignore_ascii_case("members")
}

/// Rejects a member object without a `value`. Coercion drops the read-only `display`, so
/// `{"display": "x"}` would otherwise vanish and the request succeed without that member.
fn check_member_values(value: &Value) -> Result<(), ScimError> {
    let elements = match value {
        Value::Array(elements) => elements.as_slice(),
        other => std::slice::from_ref(other),
    };
    for element in elements {
        let Value::Object(member) = element else { continue };
        let value = member.iter().find(|(name, _)| name.eq_ignore_ascii_case("value")).map(|(_, value)| value);
        if value.is_none_or(|value| value.is_null() || value.as_str().is_some_and(|text| text.trim().is_empty())) {
            return Err(ScimError::invalid_value(format!(
                "Member {element} has no 'value'; each member needs the id of a user in 'value'."
            )));
        }
    }
    Ok(())
}

/// A change of a group's members, in request order.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberChange {
    Add(Vec<String>),
    Remove(Vec<String>),
    RemoveAll,
    Replace(Vec<String>),
    /// Remove the members a value filter matches, for filters other than `value eq`.
    RemoveMatching(ValFilter),
}

/// A PATCH split into member changes and the operations on the other attributes.
#[derive(Debug, Clone, Default)]
pub struct GroupPatch {
    pub member_changes: Vec<MemberChange>,
    pub attribute_operations: Vec<Operation>,
}

/// Splits PATCH operations into member changes and attribute operations.
///
/// Member changes come in the forms providers send:
/// - `add` of `members` with one or many values;
/// - `remove` with `members[value eq "id"]`;
/// - `remove` of `members` with a value list (Entra), or without one (all members);
/// - `replace` of `members`, and `members` inside a path-less value (Okta).
pub fn split_patch(operations: Vec<Operation>) -> Result<GroupPatch, ScimError> {
    let mut split = GroupPatch::default();
    for operation in operations {
        match &operation.path {
            None => split_pathless(operation, &mut split)?,
            Some(path) => match member_path(path)? {
                Some(target) => split.member_changes.push(member_change(operation.kind, target, operation.value.as_ref())?),
                None => split.attribute_operations.push(operation),
            },
        }
    }
    Ok(split)
}

fn split_pathless(operation: Operation, split: &mut GroupPatch) -> Result<(), ScimError> {
    let Some(Value::Object(values)) = &operation.value else {
        split.attribute_operations.push(operation);
        return Ok(());
    };
    let mut others = Map::new();
    for (key, value) in values {
        if is_members_key(key) {
            let change = member_change(operation.kind, MemberTarget::All, Some(value))?;
            split.member_changes.push(change);
        } else {
            others.insert(key.clone(), value.clone());
        }
    }
    if !others.is_empty() {
        split.attribute_operations.push(Operation {
            kind: operation.kind,
            path: None,
            value: Some(Value::Object(others)),
        });
    }
    Ok(())
}

enum MemberTarget {
    All,
    Filtered(ValFilter),
}

/// Recognises paths on `members`, with or without the core Group URN.
fn member_path(path: &str) -> Result<Option<MemberTarget>, ScimError> {
    let Ok(parsed) = super::parse_cache::patch_path(path) else {
        return Ok(None);
    };
    super::patch::check_no_nul(&parsed)?;
    let (attr, filter, sub) = match parsed {
        PatchPath::Attr(attr) => {
            let sub = attr.sub_attr.clone();
            (attr, None, sub)
        }
        PatchPath::Value(value_path) => (value_path.attr, Some(value_path.filter), value_path.sub_attr),
    };
    let core_uri = attr.uri.as_deref().is_none_or(|uri| uri.eq_ignore_ascii_case(CORE_GROUP));
    if !core_uri || !attr.name.eq_ignore_ascii_case("members") {
        return Ok(None);
    }
    if attr.sub_attr.is_some() || sub.is_some() {
        return Err(ScimError::mutability(format!(
            "The path {path:?} changes a member's sub-attribute; members can only be added or removed."
        )));
    }
    Ok(Some(match filter {
        None => MemberTarget::All,
        Some(filter) => MemberTarget::Filtered(filter),
    }))
}

fn member_change(kind: OpKind, target: MemberTarget, value: Option<&Value>) -> Result<MemberChange, ScimError> {
    match (kind, target) {
        (OpKind::Add, MemberTarget::All) => Ok(MemberChange::Add(member_ids(value.unwrap_or(&Value::Null))?)),
        (OpKind::Replace, MemberTarget::All) => Ok(MemberChange::Replace(member_ids(value.unwrap_or(&Value::Null))?)),
        (OpKind::Remove, MemberTarget::All) => match value.filter(|value| !value.is_null()) {
            Some(value) => Ok(MemberChange::Remove(member_ids(value)?)),
            None => Ok(MemberChange::RemoveAll),
        },
        (OpKind::Remove, MemberTarget::Filtered(filter)) => Ok(match value_equalities(&filter) {
            Some(ids) => MemberChange::Remove(ids),
            None => MemberChange::RemoveMatching(filter),
        }),
        (_, MemberTarget::Filtered(_)) => Err(ScimError::invalid_path(
            "A filter on members can only be used to remove them; add members with path \"members\".",
        )),
    }
}

/// Returns the ids of a filter made of `value eq "id"` terms joined by `or`.
fn value_equalities(filter: &ValFilter) -> Option<Vec<String>> {
    match filter {
        ValFilter::Attr(AttrExp::Comparison(path, CompareOp::Eq, CompValue::Str(id)))
            if path.name.eq_ignore_ascii_case("value") && path.sub_attr.is_none() =>
        {
            Some(vec![id.clone()])
        }
        ValFilter::Or(items) => {
            let mut ids = Vec::new();
            for item in items {
                ids.extend(value_equalities(item)?);
            }
            Some(ids)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::patch::parse_request;

    fn split(operations: Value) -> GroupPatch {
        let body = json!({"schemas": [crate::scim::schema::PATCH_OP], "Operations": operations});
        split_patch(parse_request(&body).unwrap()).unwrap()
    }

    #[test]
    fn entra_member_forms_recognised() {
        let patch = split(json!([
            {"op": "Add", "path": "members", "value": [{"$ref": null, "value": "u1"}, {"value": "u2"}]},
            {"op": "Remove", "path": "members", "value": [{"value": "u3"}]},
            {"op": "remove", "path": "members[value eq \"u4\"]"},
            {"op": "Replace", "path": "displayName", "value": "Sales"},
        ]));

        assert_eq!(
            patch.member_changes,
            vec![
                MemberChange::Add(vec!["u1".into(), "u2".into()]),
                MemberChange::Remove(vec!["u3".into()]),
                MemberChange::Remove(vec!["u4".into()]),
            ]
        );
        assert_eq!(patch.attribute_operations.len(), 1);
    }

    #[test]
    fn okta_pathless_members_and_rename() {
        let patch = split(json!([
            {"op": "replace", "value": {"id": "g1", "displayName": "Renamed", "members": [{"value": "u1", "display": "A"}]}}
        ]));

        assert_eq!(patch.member_changes, vec![MemberChange::Replace(vec!["u1".into()])]);
        assert_eq!(patch.attribute_operations.len(), 1);
    }

    #[test]
    fn remove_without_value_removes_all() {
        let patch = split(json!([{"op": "remove", "path": "members"}]));

        assert_eq!(patch.member_changes, vec![MemberChange::RemoveAll]);
    }

    #[test]
    fn group_member_type_rejected() {
        let error = member_ids(&json!([{"value": "g2", "type": "Group"}])).unwrap_err();

        assert_eq!(error.status, 400);
    }

    #[test]
    fn member_without_value_rejected() {
        let error = member_ids(&json!([{"value": "u1"}, {"display": "Ada"}])).unwrap_err();
        let entra = member_ids(&json!([{"value": "u1", "$ref": null}])).unwrap();

        assert_eq!(error.status, 400);
        assert!(error.detail.contains("Ada"), "{}", error.detail);
        assert_eq!(entra, ["u1"]);
    }
}
