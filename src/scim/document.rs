//! Validation of resource bodies sent with POST and PUT (RFC 7644 §3.3 and §3.5.1).
//!
//! A body becomes a document: a JSON object whose keys are the canonical attribute names of the
//! core schema, with each extension's attributes in an object under the extension's URN.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::schema::{split_schema_prefix, AttributeDef, Mutability, ResourceTypeDef};
use super::value::coerce;

/// Validates a POST or PUT body and returns its document.
///
/// Attribute names match case-insensitively. Read-only attributes (`id`, `meta`, `groups`) are
/// ignored as RFC 7644 §3.5.1 requires, and unknown schema URNs in `schemas` are ignored because
/// providers add their own (Entra adds an ADSCIM group schema). An unknown attribute is an error.
pub fn parse_body(resource: &'static ResourceTypeDef, body: &Value) -> Result<Map<String, Value>, ScimError> {
    let Value::Object(object) = body else {
        return Err(ScimError::invalid_syntax(
            "The request body must be a JSON object describing the resource.",
        ));
    };
    check_schemas(resource, object)?;

    let mut document = Map::new();
    for (key, value) in object {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(extension) = resource.extension(key) {
            parse_extension_object(extension.id, resource, value, &mut document)?;
            continue;
        }
        if let Some((urn, rest)) = split_schema_prefix(resource, key) {
            set_attribute(resource, Some(urn), rest, key, value, &mut document)?;
            continue;
        }
        set_attribute(resource, None, key, key, value, &mut document)?;
    }
    Ok(document)
}

/// Requires `schemas` to list the resource's core schema (RFC 7643 §3).
fn check_schemas(resource: &ResourceTypeDef, object: &Map<String, Value>) -> Result<(), ScimError> {
    let schemas = object
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("schemas"))
        .map(|(_, value)| value);
    let Some(Value::Array(schemas)) = schemas else {
        return Err(ScimError::invalid_syntax(format!(
            "The request body must have a 'schemas' list containing \"{}\".",
            resource.core.id
        )));
    };
    let lists_core = schemas
        .iter()
        .filter_map(Value::as_str)
        .any(|urn| urn.eq_ignore_ascii_case(resource.core.id));
    if !lists_core {
        return Err(ScimError::invalid_syntax(format!(
            "The 'schemas' list must contain \"{}\" for a {} resource.",
            resource.core.id, resource.name
        )));
    }
    Ok(())
}

fn parse_extension_object(
    urn: &'static str,
    resource: &'static ResourceTypeDef,
    value: &Value,
    document: &mut Map<String, Value>,
) -> Result<(), ScimError> {
    match value {
        Value::Null => Ok(()),
        Value::Object(attributes) => {
            for (name, attribute_value) in attributes {
                // Some clients repeat the extension's `schemas` inside it.
                if name.eq_ignore_ascii_case("schemas") {
                    continue;
                }
                let label = format!("{urn}:{name}");
                set_attribute(resource, Some(urn), name, &label, attribute_value, document)?;
            }
            Ok(())
        }
        _ => Err(ScimError::invalid_value(format!(
            "The extension '{urn}' must be a JSON object of attributes."
        ))),
    }
}

/// Coerces one attribute and stores it at its place in the document.
fn set_attribute(
    resource: &'static ResourceTypeDef,
    urn: Option<&str>,
    name: &str,
    label: &str,
    value: &Value,
    document: &mut Map<String, Value>,
) -> Result<(), ScimError> {
    let Some(resolved) = resource.resolve(urn, name) else {
        return Err(unknown_attribute(resource, label));
    };
    if resolved.def.mutability == Mutability::ReadOnly {
        return Ok(());
    }
    let coerced = coerce(resolved.def, value, label)?;
    let target = match resolved.extension {
        None => &mut *document,
        Some(extension) => extension_object(document, extension),
    };
    match coerced {
        Some(coerced) => {
            target.insert(resolved.def.name.to_string(), coerced);
        }
        None => {
            target.remove(resolved.def.name);
        }
    }
    Ok(())
}

/// Returns the extension's object in the document, creating it when missing.
pub fn extension_object<'a>(document: &'a mut Map<String, Value>, urn: &str) -> &'a mut Map<String, Value> {
    let entry = document
        .entry(urn.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    match entry {
        Value::Object(object) => object,
        _ => unreachable!("the entry was just made an object"),
    }
}

pub fn unknown_attribute(resource: &ResourceTypeDef, label: &str) -> ScimError {
    ScimError::invalid_value(format!(
        "Unknown attribute '{label}' for a {} resource; see /Schemas for the attributes Hub accepts.",
        resource.name
    ))
}

/// Removes empty extension objects, which mean the same as an absent extension.
pub fn drop_empty_extensions(resource: &ResourceTypeDef, document: &mut Map<String, Value>) {
    for (schema, _) in &resource.extensions {
        let empty = matches!(document.get(schema.id), Some(Value::Object(object)) if object.is_empty());
        if empty {
            document.remove(schema.id);
        }
    }
}

/// Checks that every required attribute has a value (RFC 7643 §2.2).
pub fn check_required(resource: &ResourceTypeDef, document: &Map<String, Value>) -> Result<(), ScimError> {
    for def in &resource.core.attributes {
        if def.required && !has_value(document.get(def.name)) {
            return Err(missing_required(def));
        }
    }
    Ok(())
}

fn missing_required(def: &AttributeDef) -> ScimError {
    ScimError::invalid_value(format!(
        "The required attribute '{}' is missing or empty.",
        def.name
    ))
}

fn has_value(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::String(text)) => !text.trim().is_empty(),
        Some(Value::Array(items)) => !items.is_empty(),
        Some(Value::Object(object)) => !object.is_empty(),
        Some(_) => true,
    }
}
