//! PATCH (RFC 7644 §3.5.2) applied to a resource document.
//!
//! Requests are normalised first, because identity providers send forms beyond the RFC. These
//! include op names in any case (`Replace`) and path-less values whose keys are dotted
//! (`name.givenName`) or URN-qualified. They also include `Add` on a value-filtered path that
//! matches nothing yet, which creates the element the filter describes, and member removal by
//! a value list.

use scim_v2::filter::{AttrPath, PatchPath, PatchValuePath};
use serde_json::{Map, Value};

use super::document::{check_required, extension_object, unknown_attribute};
use super::error::ScimError;
use super::filter::{equality_terms, matches_element};
use super::schema::{split_schema_prefix, AttrType, AttributeDef, Mutability, ResourceTypeDef, PATCH_OP};
use super::value::{coerce, coerce_single};

/// Maximum number of operations in one PATCH request.
pub const MAX_OPERATIONS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Replace,
    Remove,
}

/// One operation after normalisation: always with a path except path-less add and replace,
/// which are expanded into one operation per attribute.
#[derive(Debug, Clone)]
pub struct Operation {
    pub kind: OpKind,
    pub path: Option<String>,
    pub value: Option<Value>,
}

/// Parses the PatchOp body (RFC 7644 §3.5.2) into operations.
pub fn parse_request(body: &Value) -> Result<Vec<Operation>, ScimError> {
    let Value::Object(object) = body else {
        return Err(ScimError::invalid_syntax("The PATCH body must be a JSON object (a PatchOp message)."));
    };
    let schemas = field(object, "schemas");
    let lists_patch_op = matches!(schemas, Some(Value::Array(items))
        if items.iter().filter_map(Value::as_str).any(|urn| urn.eq_ignore_ascii_case(PATCH_OP)));
    if !lists_patch_op {
        return Err(ScimError::invalid_syntax(format!(
            "The PATCH body must have a 'schemas' list containing \"{PATCH_OP}\"."
        )));
    }
    let Some(Value::Array(raw_operations)) = field(object, "Operations") else {
        return Err(ScimError::invalid_syntax("The PATCH body must have an 'Operations' list."));
    };
    if raw_operations.is_empty() {
        return Err(ScimError::invalid_syntax("The 'Operations' list is empty."));
    }
    if raw_operations.len() > MAX_OPERATIONS {
        return Err(ScimError::new(
            400,
            Some(super::ScimType::TooMany),
            format!(
                "The PATCH request has {} operations; the maximum is {MAX_OPERATIONS}.",
                raw_operations.len()
            ),
        ));
    }
    raw_operations
        .iter()
        .enumerate()
        .map(|(index, raw)| parse_operation(index, raw))
        .collect()
}

fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

fn parse_operation(index: usize, raw: &Value) -> Result<Operation, ScimError> {
    let Value::Object(object) = raw else {
        return Err(ScimError::invalid_syntax(format!("Operation {index} must be a JSON object.")));
    };
    let kind = match field(object, "op").and_then(Value::as_str) {
        Some(op) if op.eq_ignore_ascii_case("add") => OpKind::Add,
        Some(op) if op.eq_ignore_ascii_case("replace") => OpKind::Replace,
        Some(op) if op.eq_ignore_ascii_case("remove") => OpKind::Remove,
        Some(op) => {
            return Err(ScimError::invalid_syntax(format!(
                "Operation {index} has op {op:?}; it must be add, replace or remove."
            )))
        }
        None => return Err(ScimError::invalid_syntax(format!("Operation {index} has no 'op'."))),
    };
    let path = match field(object, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(path)) if path.trim().is_empty() => None,
        Some(Value::String(path)) => Some(path.trim().to_string()),
        Some(_) => return Err(ScimError::invalid_path(format!("Operation {index} has a 'path' that is not a string."))),
    };
    let value = field(object, "value").cloned();
    if kind != OpKind::Remove && value.is_none() {
        return Err(ScimError::invalid_value(format!("Operation {index} ({kind:?}) has no 'value'.")));
    }
    if kind == OpKind::Remove && path.is_none() {
        return Err(ScimError::no_target(format!(
            "Operation {index} (remove) has no 'path'; remove needs a path to the attribute or values to remove."
        )));
    }
    Ok(Operation { kind, path, value })
}

/// Applies the operations to a document of the given resource type.
///
/// All operations succeed or the document is left as it was, because the caller receives a
/// changed copy only on success.
pub fn apply(
    resource: &'static ResourceTypeDef,
    document: &Map<String, Value>,
    operations: &[Operation],
) -> Result<Map<String, Value>, ScimError> {
    let mut patched = document.clone();
    for operation in operations {
        apply_operation(resource, &mut patched, operation)?;
    }
    super::document::drop_empty_extensions(resource, &mut patched);
    check_required(resource, &patched)?;
    Ok(patched)
}

/// Rejects a value filter that compares with U+0000, as list filters are rejected.
pub fn check_no_nul(path: &PatchPath) -> Result<(), ScimError> {
    let PatchPath::Value(value_path) = path else { return Ok(()) };
    match super::filter::nul_in_value_filter(&value_path.filter) {
        Some(attribute) => Err(ScimError::invalid_path(format!(
            "The path's filter value for {}.{attribute} contains the invalid character U+0000; remove it from the value.",
            value_path.attr
        ))),
        None => Ok(()),
    }
}

fn apply_operation(
    resource: &'static ResourceTypeDef,
    document: &mut Map<String, Value>,
    operation: &Operation,
) -> Result<(), ScimError> {
    let Some(path) = &operation.path else {
        return apply_without_path(resource, document, operation);
    };
    if let Some(extension) = resource.extension(path) {
        return apply_to_extension(resource, document, operation, extension.id);
    }
    let parsed: PatchPath = super::parse_cache::patch_path(path)
        .map_err(|error| {
            let quoted = serde_json::to_string(path).unwrap_or_default();
            ScimError::invalid_path(format!("The path {quoted} is not a valid SCIM path: {}.", super::filter::describe_syntax_error(path, &error)))
        })?;
    check_no_nul(&parsed)?;
    let target = Target::resolve(resource, &parsed, path)?;
    target.check_mutability(document, operation.kind)?;
    if target.def.mutability == Mutability::WriteOnly {
        // Hub keeps no passwords: sign-in goes through the identity provider.
        return Ok(());
    }
    match &parsed {
        PatchPath::Attr(attr_path) => apply_attribute(document, &target, attr_path, operation),
        PatchPath::Value(value_path) => apply_value_path(document, &target, value_path, operation),
    }
}

/// Applies a path-less add or replace. Each key of the value object is one attribute: plain,
/// dotted (`name.givenName`), URN-qualified, or a whole extension object.
fn apply_without_path(
    resource: &'static ResourceTypeDef,
    document: &mut Map<String, Value>,
    operation: &Operation,
) -> Result<(), ScimError> {
    let Some(Value::Object(values)) = &operation.value else {
        return Err(ScimError::invalid_value(
            "An add or replace without 'path' needs a 'value' that is a JSON object of attributes.",
        ));
    };
    for (key, value) in values {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if resource.extension(key).is_none() && is_read_only(resource, key) {
            // Okta sends the read-only `id` beside the attributes it changes.
            continue;
        }
        let sub_operation = Operation {
            kind: operation.kind,
            path: Some(key.clone()),
            value: Some(value.clone()),
        };
        apply_operation(resource, document, &sub_operation)?;
    }
    Ok(())
}

fn is_read_only(resource: &'static ResourceTypeDef, key: &str) -> bool {
    let (urn, name) = match split_schema_prefix(resource, key) {
        Some((urn, rest)) => (Some(urn), rest),
        None => (None, key),
    };
    let top = name.split('.').next().unwrap_or(name);
    resource
        .resolve(urn, top)
        .is_some_and(|resolved| resolved.def.mutability == Mutability::ReadOnly)
}

/// Applies an operation whose path is an extension URN: add and replace become one operation
/// per attribute, and remove drops the whole extension.
fn apply_to_extension(
    resource: &'static ResourceTypeDef,
    document: &mut Map<String, Value>,
    operation: &Operation,
    urn: &'static str,
) -> Result<(), ScimError> {
    if operation.kind == OpKind::Remove {
        document.remove(urn);
        return Ok(());
    }
    let Some(Value::Object(values)) = &operation.value else {
        return Err(ScimError::invalid_value(format!("The value for the extension '{urn}' must be a JSON object.")));
    };
    for (name, value) in values {
        if name.eq_ignore_ascii_case("schemas") {
            continue;
        }
        let sub_operation = Operation {
            kind: operation.kind,
            path: Some(format!("{urn}:{name}")),
            value: Some(value.clone()),
        };
        apply_operation(resource, document, &sub_operation)?;
    }
    Ok(())
}

/// The attribute a path points at, resolved against the schemas.
struct Target {
    extension: Option<&'static str>,
    def: &'static AttributeDef,
    /// The path as the client wrote it, for error messages.
    label: String,
}

impl Target {
    fn resolve(resource: &'static ResourceTypeDef, parsed: &PatchPath, label: &str) -> Result<Self, ScimError> {
        let attr_path = match parsed {
            PatchPath::Attr(path) => path,
            PatchPath::Value(value_path) => &value_path.attr,
        };
        let resolved = resource
            .resolve(attr_path.uri.as_deref(), &attr_path.name)
            .ok_or_else(|| ScimError::invalid_path(format!("The path {label:?} names no attribute of a {} resource.", resource.name)))
            .map_err(|error| {
                if attr_path.uri.is_none() {
                    error
                } else {
                    ScimError::invalid_path(unknown_attribute(resource, label).detail)
                }
            })?;
        Ok(Target {
            extension: resolved.extension,
            def: resolved.def,
            label: label.to_string(),
        })
    }

    fn container<'a>(&self, document: &'a mut Map<String, Value>) -> &'a mut Map<String, Value> {
        match self.extension {
            None => document,
            Some(urn) => extension_object(document, urn),
        }
    }

    fn current<'a>(&self, document: &'a Map<String, Value>) -> Option<&'a Value> {
        match self.extension {
            None => document.get(self.def.name),
            Some(urn) => document.get(urn)?.get(self.def.name),
        }
    }

    /// Rejects changes to read-only attributes, and to immutable ones that already have a value
    /// (RFC 7643 §7).
    fn check_mutability(&self, document: &Map<String, Value>, kind: OpKind) -> Result<(), ScimError> {
        match self.def.mutability {
            Mutability::ReadOnly => Err(ScimError::mutability(format!(
                "The attribute '{}' is read-only and cannot be changed.",
                self.label
            ))),
            Mutability::Immutable if kind != OpKind::Add || self.current(document).is_some() => {
                Err(ScimError::mutability(format!(
                    "The attribute '{}' is immutable once set.",
                    self.label
                )))
            }
            _ => Ok(()),
        }
    }
}

fn apply_attribute(
    document: &mut Map<String, Value>,
    target: &Target,
    attr_path: &AttrPath,
    operation: &Operation,
) -> Result<(), ScimError> {
    match &attr_path.sub_attr {
        None => apply_whole_attribute(document, target, operation),
        Some(sub_name) => {
            let sub = target.def.sub_attribute(sub_name).ok_or_else(|| {
                ScimError::invalid_path(format!(
                    "The attribute '{}' has no sub-attribute '{sub_name}'.",
                    target.def.name
                ))
            })?;
            check_sub_mutability(target, sub)?;
            apply_sub_attribute(document, target, sub, operation)
        }
    }
}

fn check_sub_mutability(target: &Target, sub: &AttributeDef) -> Result<(), ScimError> {
    if sub.mutability == Mutability::ReadOnly {
        return Err(ScimError::mutability(format!(
            "The attribute '{}' is read-only and cannot be changed.",
            target.label
        )));
    }
    Ok(())
}

fn apply_whole_attribute(document: &mut Map<String, Value>, target: &Target, operation: &Operation) -> Result<(), ScimError> {
    let def = target.def;
    if operation.kind == OpKind::Remove {
        return remove_whole_attribute(document, target, operation.value.as_ref());
    }
    let value = operation.value.as_ref().unwrap_or(&Value::Null);
    let coerced = coerce(def, value, &target.label)?;
    let container = target.container(document);
    let Some(coerced) = coerced else {
        // Entra replaces with null (or an empty list) to unassign a value; adding nothing
        // changes nothing.
        if operation.kind == OpKind::Replace {
            container.remove(def.name);
        }
        return Ok(());
    };

    match (def.multi_valued, def.kind, operation.kind) {
        (true, _, OpKind::Add) => {
            let existing = container.remove(def.name).unwrap_or(Value::Array(Vec::new()));
            let merged = merge_values(def, existing, coerced);
            container.insert(def.name.to_string(), merged);
        }
        (false, AttrType::Complex, _) => {
            // RFC 7644 §3.5.2.1 and §3.5.2.3: sub-attributes not in the value stay unchanged.
            let mut merged = match container.remove(def.name) {
                Some(Value::Object(existing)) => existing,
                _ => Map::new(),
            };
            if let Value::Object(new_values) = coerced {
                merged.extend(new_values);
            }
            container.insert(def.name.to_string(), Value::Object(merged));
        }
        _ => {
            container.insert(def.name.to_string(), coerced);
        }
    }
    enforce_single_primary(container, def);
    Ok(())
}

/// Removes an attribute, or with a value list (Entra's member removal) only the listed values.
fn remove_whole_attribute(document: &mut Map<String, Value>, target: &Target, value: Option<&Value>) -> Result<(), ScimError> {
    let def = target.def;
    if def.required {
        return Err(ScimError::invalid_value(format!(
            "The required attribute '{}' cannot be removed.",
            target.label
        )));
    }
    let container = target.container(document);
    let Some(listed) = value.filter(|value| def.multi_valued && !value.is_null()) else {
        container.remove(def.name);
        return Ok(());
    };
    let Some(listed) = coerce(def, listed, &target.label)? else {
        return Ok(());
    };
    let listed = listed.as_array().cloned().unwrap_or_default();
    if let Some(Value::Array(items)) = container.get_mut(def.name) {
        items.retain(|item| !listed.iter().any(|removed| same_element(def, item, removed)));
        if items.is_empty() {
            container.remove(def.name);
        }
    }
    Ok(())
}

fn apply_sub_attribute(
    document: &mut Map<String, Value>,
    target: &Target,
    sub: &'static AttributeDef,
    operation: &Operation,
) -> Result<(), ScimError> {
    let label = &target.label;
    let new_value = match operation.kind {
        OpKind::Remove => None,
        _ => coerce(sub, operation.value.as_ref().unwrap_or(&Value::Null), label)?,
    };
    let def = target.def;
    let container = target.container(document);

    if def.multi_valued {
        // `emails.value` without a filter addresses every element.
        let Some(Value::Array(items)) = container.get_mut(def.name) else {
            if let Some(new_value) = new_value {
                let mut element = Map::new();
                element.insert(sub.name.to_string(), new_value);
                container.insert(def.name.to_string(), Value::Array(vec![Value::Object(element)]));
            }
            return Ok(());
        };
        for item in items.iter_mut() {
            set_or_remove(item, sub.name, new_value.clone());
        }
        return Ok(());
    }

    let entry = container
        .entry(def.name.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    set_or_remove(entry, sub.name, new_value);
    if entry.as_object().is_some_and(Map::is_empty) {
        container.remove(def.name);
    }
    Ok(())
}

fn set_or_remove(element: &mut Value, name: &str, value: Option<Value>) {
    if !element.is_object() {
        *element = Value::Object(Map::new());
    }
    if let Value::Object(object) = element {
        match value {
            Some(value) => {
                object.insert(name.to_string(), value);
            }
            None => {
                object.remove(name);
            }
        }
    }
}

/// Applies an operation on `attr[filter]` or `attr[filter].sub`.
fn apply_value_path(
    document: &mut Map<String, Value>,
    target: &Target,
    value_path: &PatchValuePath,
    operation: &Operation,
) -> Result<(), ScimError> {
    let def = target.def;
    if def.kind != AttrType::Complex || !def.multi_valued {
        return Err(ScimError::invalid_path(format!(
            "The path {:?} filters '{}', which is not a multi-valued complex attribute.",
            target.label, def.name
        )));
    }
    let sub = match &value_path.sub_attr {
        None => None,
        Some(name) => {
            let sub = def.sub_attribute(name).ok_or_else(|| {
                ScimError::invalid_path(format!("The attribute '{}' has no sub-attribute '{name}'.", def.name))
            })?;
            check_sub_mutability(target, sub)?;
            Some(sub)
        }
    };

    let container = target.container(document);
    let mut items = match container.remove(def.name) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    let mut matched = Vec::new();
    for (index, item) in items.iter().enumerate() {
        if matches_element(def, item, &value_path.filter).map_err(as_path_error)? {
            matched.push(index);
        }
    }

    let result = match operation.kind {
        OpKind::Remove => {
            remove_matched(&mut items, &matched, sub);
            Ok(())
        }
        OpKind::Add | OpKind::Replace if matched.is_empty() => {
            upsert_element(&mut items, target, value_path, sub, operation)
        }
        OpKind::Add | OpKind::Replace => replace_matched(&mut items, &matched, target, value_path, sub, operation),
    };
    if !items.is_empty() {
        container.insert(def.name.to_string(), Value::Array(items));
    }
    enforce_single_primary(container, def);
    result
}

fn as_path_error(error: ScimError) -> ScimError {
    ScimError::invalid_path(error.detail)
}

fn remove_matched(items: &mut Vec<Value>, matched: &[usize], sub: Option<&AttributeDef>) {
    match sub {
        None => {
            let mut index = 0;
            items.retain(|_| {
                let keep = !matched.contains(&index);
                index += 1;
                keep
            });
        }
        Some(sub) => {
            for &index in matched {
                set_or_remove(&mut items[index], sub.name, None);
            }
        }
    }
}

fn replace_matched(
    items: &mut [Value],
    matched: &[usize],
    target: &Target,
    value_path: &PatchValuePath,
    sub: Option<&'static AttributeDef>,
    operation: &Operation,
) -> Result<(), ScimError> {
    let value = operation.value.as_ref().unwrap_or(&Value::Null);
    match sub {
        Some(sub) => {
            let new_value = coerce(sub, value, &target.label)?;
            for &index in matched {
                set_or_remove(&mut items[index], sub.name, new_value.clone());
            }
        }
        None => {
            let Some(replacement) = coerce_single(target.def, value, &target.label)? else {
                return Err(ScimError::invalid_value(format!("The value for {:?} is empty.", target.label)));
            };
            let replacement = with_filter_terms(replacement, value_path);
            for &index in matched {
                items[index] = replacement.clone();
            }
        }
    }
    Ok(())
}

/// Creates the element a value filter describes, for an add or replace that matched nothing.
///
/// Entra sends `Add` (and sometimes `Replace`) on `phoneNumbers[type eq "work"].value` before a
/// work number exists. This is only possible when the filter is made of `eq` terms, because
/// those terms state what the new element must contain. Otherwise the target is missing.
fn upsert_element(
    items: &mut Vec<Value>,
    target: &Target,
    value_path: &PatchValuePath,
    sub: Option<&'static AttributeDef>,
    operation: &Operation,
) -> Result<(), ScimError> {
    if equality_terms(&value_path.filter).is_none() {
        return Err(ScimError::no_target(format!(
            "The filter in {:?} matches no value, so there is nothing to {}.",
            target.label,
            if operation.kind == OpKind::Add { "add to" } else { "replace" }
        )));
    }
    let value = operation.value.as_ref().unwrap_or(&Value::Null);
    let element = match sub {
        Some(sub) => {
            let Some(sub_value) = coerce(sub, value, &target.label)? else {
                return Ok(());
            };
            let mut element = Map::new();
            element.insert(sub.name.to_string(), sub_value);
            Value::Object(element)
        }
        None => match coerce_single(target.def, value, &target.label)? {
            Some(element) => element,
            None => return Ok(()),
        },
    };
    let element = with_filter_terms(element, value_path);
    let element = coerce_single(target.def, &element, &target.label)?.unwrap_or(element);
    items.push(element);
    Ok(())
}

/// Adds the filter's `eq` terms (such as `type: work`) that the element does not set itself.
fn with_filter_terms(element: Value, value_path: &PatchValuePath) -> Value {
    let Value::Object(mut object) = element else { return element };
    for (name, value) in equality_terms(&value_path.filter).unwrap_or_default() {
        let present = object.keys().any(|key| key.eq_ignore_ascii_case(&name));
        if !present {
            object.insert(name, value);
        }
    }
    Value::Object(object)
}

/// Appends values to a multi-valued attribute, merging a value into an existing element that
/// is the same value (RFC 7644 §3.5.2.1: adding an existing value changes nothing).
fn merge_values(def: &AttributeDef, existing: Value, added: Value) -> Value {
    let mut items = match existing {
        Value::Array(items) => items,
        other => vec![other],
    };
    let added = match added {
        Value::Array(added) => added,
        other => vec![other],
    };
    for value in added {
        match items.iter_mut().find(|item| same_element(def, item, &value)) {
            Some(item) => {
                if let (Value::Object(item), Value::Object(value)) = (item, value) {
                    item.extend(value);
                }
            }
            None => items.push(value),
        }
    }
    Value::Array(items)
}

/// Returns whether two elements of a multi-valued attribute are the same value: equal `value` (and
/// equal `type` where both have one) for complex attributes, equal JSON otherwise.
fn same_element(def: &AttributeDef, left: &Value, right: &Value) -> bool {
    if def.kind != AttrType::Complex {
        return strings_equal(def, left, right);
    }
    let (Some(left_value), Some(right_value)) = (left.get("value"), right.get("value")) else {
        return left == right;
    };
    let value_def = def.sub_attribute("value").unwrap_or(def);
    if !strings_equal(value_def, left_value, right_value) {
        return false;
    }
    match (left.get("type"), right.get("type")) {
        (Some(left_type), Some(right_type)) => left_type == right_type,
        _ => true,
    }
}

fn strings_equal(def: &AttributeDef, left: &Value, right: &Value) -> bool {
    match (left.as_str(), right.as_str()) {
        (Some(left), Some(right)) if !def.case_exact => left.to_lowercase() == right.to_lowercase(),
        _ => left == right,
    }
}

/// Keeps at most one `primary: true`: the last one set wins, as the newest value is the one the
/// client just asked to make primary.
fn enforce_single_primary(container: &mut Map<String, Value>, def: &AttributeDef) {
    if def.sub_attribute("primary").is_none() {
        return;
    }
    let Some(Value::Array(items)) = container.get_mut(def.name) else { return };
    let last_primary = items
        .iter()
        .rposition(|item| item.get("primary") == Some(&Value::Bool(true)));
    let Some(last_primary) = last_primary else { return };
    for (index, item) in items.iter_mut().enumerate() {
        if index != last_primary {
            if let Some(object) = item.as_object_mut() {
                if object.get("primary") == Some(&Value::Bool(true)) {
                    object.insert("primary".into(), Value::Bool(false));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::schema::{ENTERPRISE_USER, USER_RESOURCE};

    fn patch(document: Value, body: Value) -> Result<Value, ScimError> {
        let operations = parse_request(&body)?;
        let document = document.as_object().unwrap().clone();
        apply(&USER_RESOURCE, &document, &operations).map(Value::Object)
    }

    fn body(operations: Value) -> Value {
        json!({"schemas": [PATCH_OP], "Operations": operations})
    }

    #[test]
    fn add_on_filtered_path_creates_element() {
        let document = json!({"userName": "a"});

        let patched = patch(
            document,
            body(json!([{"op": "Add", "path": "phoneNumbers[type eq \"work\"].value", "value": "555"}])),
        )
        .unwrap();

        assert_eq!(patched["phoneNumbers"], json!([{"value": "555", "type": "work"}]));
    }

    #[test]
    fn replace_on_filtered_path_updates_element() {
        let document = json!({"userName": "a", "emails": [{"value": "old@x", "type": "work"}, {"value": "h@x", "type": "home"}]});

        let patched = patch(
            document,
            body(json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@x"}])),
        )
        .unwrap();

        assert_eq!(patched["emails"][0]["value"], json!("new@x"));
        assert_eq!(patched["emails"][1]["value"], json!("h@x"));
    }

    #[test]
    fn manager_bare_string_and_remove() {
        let path = format!("{ENTERPRISE_USER}:manager");
        let document = json!({"userName": "a"});

        let patched = patch(document, body(json!([{"op": "Add", "path": path, "value": "m-1"}]))).unwrap();
        assert_eq!(patched[ENTERPRISE_USER]["manager"], json!({"value": "m-1"}));

        let removed = patch(patched, body(json!([{"op": "Remove", "path": path}]))).unwrap();
        assert!(removed.get(ENTERPRISE_USER).is_none());
    }

    #[test]
    fn pathless_replace_with_dotted_and_urn_keys() {
        let document = json!({"userName": "a", "name": {"familyName": "F"}});
        let value = json!({
            "name.givenName": "G",
            "active": "False",
            format!("{ENTERPRISE_USER}:department"): "Sales",
        });

        let patched = patch(document, body(json!([{"op": "replace", "value": value}]))).unwrap();

        assert_eq!(patched["name"], json!({"familyName": "F", "givenName": "G"}));
        assert_eq!(patched["active"], json!(false));
        assert_eq!(patched[ENTERPRISE_USER]["department"], json!("Sales"));
    }

    #[test]
    fn remove_required_attribute_rejected() {
        let error = patch(json!({"userName": "a"}), body(json!([{"op": "remove", "path": "userName"}]))).unwrap_err();

        assert_eq!(error.status, 400);
    }

    #[test]
    fn replace_read_only_rejected() {
        let error = patch(json!({"userName": "a"}), body(json!([{"op": "replace", "path": "id", "value": "x"}]))).unwrap_err();

        assert_eq!(error.scim_type, Some(crate::scim::ScimType::Mutability));
    }

    #[test]
    fn remove_by_value_list_keeps_others() {
        let document = json!({"userName": "a", "emails": [{"value": "a@x"}, {"value": "b@x"}]});

        let patched = patch(
            document,
            body(json!([{"op": "Remove", "path": "emails", "value": [{"value": "a@x"}]}])),
        )
        .unwrap();

        assert_eq!(patched["emails"], json!([{"value": "b@x"}]));
    }
}
