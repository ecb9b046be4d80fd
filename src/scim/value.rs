//! Coercion of incoming attribute values to the types their schema declares.
//!
//! Identity providers send values in forms the RFC does not describe: Entra sends booleans as
//! `"True"`, single values without the array around them, the enterprise manager as a bare id,
//! and legacy role updates as a JSON string. Coercion accepts these forms and rejects anything
//! else with an error that names the attribute and the value.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::schema::{AttrType, AttributeDef, Mutability};

/// Coerces a value for `def`, returning `None` when it means "unassigned" (null or empty).
///
/// `label` is the attribute's path as the client wrote it, for error messages. Read-only
/// sub-attributes are dropped, because RFC 7644 §3.5.1 requires read-only values in requests to be ignored.
pub fn coerce(def: &AttributeDef, value: &Value, label: &str) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if def.multi_valued {
        return coerce_multi(def, value, label);
    }
    let single = match value {
        Value::Array(items) if items.is_empty() => return Ok(None),
        Value::Array(items) if items.len() == 1 => &items[0],
        Value::Array(_) => {
            return Err(ScimError::invalid_value(format!(
                "Attribute '{label}' is single-valued but received {} values.",
                value.as_array().map_or(0, Vec::len)
            )))
        }
        other => other,
    };
    coerce_single(def, single, label)
}

fn coerce_multi(def: &AttributeDef, value: &Value, label: &str) -> Result<Option<Value>, ScimError> {
    let parsed;
    let value = match value {
        // Entra's legacy role update sends the list as a JSON string.
        Value::String(text) if def.kind == AttrType::Complex && looks_like_json(text) => {
            parsed = serde_json::from_str::<Value>(text).map_err(|_| {
                ScimError::invalid_value(format!(
                    "Attribute '{label}' must be a list of objects; the string {text:?} is not valid JSON."
                ))
            })?;
            &parsed
        }
        other => other,
    };
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };

    let mut coerced = Vec::with_capacity(items.len());
    for item in items {
        if let Some(item) = coerce_single(def, item, label)? {
            coerced.push(item);
        }
    }
    if coerced.is_empty() {
        return Ok(None);
    }
    check_single_primary(&coerced, label)?;
    Ok(Some(Value::Array(coerced)))
}

fn looks_like_json(text: &str) -> bool {
    let trimmed = text.trim_start();
    trimmed.starts_with('[') || trimmed.starts_with('{')
}

/// Rejects a multi-valued attribute with more than one `primary: true` (RFC 7643 §2.4).
fn check_single_primary(items: &[Value], label: &str) -> Result<(), ScimError> {
    let primaries = items
        .iter()
        .filter(|item| item.get("primary") == Some(&Value::Bool(true)))
        .count();
    if primaries > 1 {
        return Err(ScimError::invalid_value(format!(
            "Attribute '{label}' has {primaries} values marked primary; at most one may be."
        )));
    }
    Ok(())
}

/// Coerces one value (an element of a multi-valued attribute, or a singular value).
pub fn coerce_single(
    def: &AttributeDef,
    value: &Value,
    label: &str,
) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    match def.kind {
        AttrType::Complex => coerce_complex(def, value, label),
        AttrType::Boolean => coerce_boolean(value, label).map(Some),
        AttrType::Integer => match value.as_i64() {
            Some(number) => Ok(Some(Value::from(number))),
            None => Err(type_error(label, "an integer", value)),
        },
        AttrType::Decimal => match value {
            Value::Number(_) => Ok(Some(value.clone())),
            _ => Err(type_error(label, "a number", value)),
        },
        AttrType::DateTime => coerce_date_time(value, label).map(Some),
        AttrType::String | AttrType::Reference | AttrType::Binary => {
            coerce_string(def, value, label).map(Some)
        }
    }
}

fn coerce_complex(def: &AttributeDef, value: &Value, label: &str) -> Result<Option<Value>, ScimError> {
    let object = match value {
        Value::Object(object) => object,
        // A bare value for a complex attribute that has a `value` sub-attribute, as Entra sends
        // the enterprise manager: "manager": "<id>" means {"value": "<id>"}.
        Value::String(_) | Value::Number(_) | Value::Bool(_) if def.sub_attribute("value").is_some() => {
            let mut wrapped = Map::new();
            wrapped.insert("value".into(), value.clone());
            return coerce_complex(def, &Value::Object(wrapped), label);
        }
        _ => return Err(type_error(label, "an object", value)),
    };

    let mut coerced = Map::new();
    for (key, sub_value) in object {
        let Some(sub_def) = def.sub_attribute(key) else {
            return Err(ScimError::invalid_value(format!(
                "Attribute '{label}' has no sub-attribute '{key}'."
            )));
        };
        if sub_def.mutability == Mutability::ReadOnly {
            continue;
        }
        let sub_label = format!("{label}.{}", sub_def.name);
        // An empty string inside a complex value means unassigned, as Entra clears a manager
        // with {"value": ""}.
        if sub_value.as_str().is_some_and(str::is_empty) {
            continue;
        }
        if let Some(sub_value) = coerce(sub_def, sub_value, &sub_label)? {
            coerced.insert(sub_def.name.to_string(), sub_value);
        }
    }
    if coerced.is_empty() {
        return Ok(None);
    }
    Ok(Some(Value::Object(coerced)))
}

/// Accepts JSON booleans and the strings "true" and "false" in any case, as Entra sends them.
pub fn coerce_boolean(value: &Value, label: &str) -> Result<Value, ScimError> {
    match value {
        Value::Bool(flag) => Ok(Value::Bool(*flag)),
        Value::String(text) if text.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
        Value::String(text) if text.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
        _ => Err(type_error(label, "a boolean (true or false)", value)),
    }
}

fn coerce_date_time(value: &Value, label: &str) -> Result<Value, ScimError> {
    let Value::String(text) = value else {
        return Err(type_error(label, "a dateTime string", value));
    };
    match chrono::DateTime::parse_from_rfc3339(text) {
        Ok(_) => Ok(value.clone()),
        Err(_) => Err(ScimError::invalid_value(format!(
            "Attribute '{label}' must be an RFC 3339 dateTime such as 2024-01-31T09:00:00Z; got {text:?}."
        ))),
    }
}

fn coerce_string(def: &AttributeDef, value: &Value, label: &str) -> Result<Value, ScimError> {
    let Value::String(text) = value else {
        return Err(type_error(label, "a string", value));
    };
    if !def.canonical_only {
        return Ok(value.clone());
    }
    match def
        .canonical_values
        .iter()
        .find(|canonical| canonical.eq_ignore_ascii_case(text))
    {
        Some(canonical) => Ok(Value::String((*canonical).to_string())),
        None => Err(ScimError::invalid_value(format!(
            "Attribute '{label}' does not accept {text:?}; allowed values are {}.",
            def.canonical_values.join(", ")
        ))),
    }
}

fn type_error(label: &str, expected: &str, value: &Value) -> ScimError {
    // A password is never echoed, because error details are logged and shown to admins.
    let attribute = label.rsplit(['.', ':']).next().unwrap_or(label);
    if attribute.eq_ignore_ascii_case("password") {
        return ScimError::invalid_value(format!("Attribute '{label}' must be {expected}; the value is not shown."));
    }
    let mut shown = value.to_string();
    if shown.len() > 80 {
        let cut = (0..=80).rev().find(|i| shown.is_char_boundary(*i)).unwrap_or(0);
        shown.truncate(cut);
        shown.push('…');
    }
    ScimError::invalid_value(format!("Attribute '{label}' must be {expected}; got {shown}."))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA};

    #[test]
    fn string_booleans_accepted() {
        let active = USER_SCHEMA.attribute("active").unwrap();

        assert_eq!(coerce(active, &json!("False"), "active").unwrap(), Some(json!(false)));
        assert_eq!(coerce(active, &json!("TRUE"), "active").unwrap(), Some(json!(true)));
        assert!(coerce(active, &json!("yes"), "active").is_err());
    }

    #[test]
    fn bare_manager_id_wrapped() {
        let manager = ENTERPRISE_USER_SCHEMA.attribute("manager").unwrap();

        let coerced = coerce(manager, &json!("42"), "manager").unwrap();

        assert_eq!(coerced, Some(json!({"value": "42"})));
    }

    #[test]
    fn single_email_wrapped_in_list() {
        let emails = USER_SCHEMA.attribute("emails").unwrap();

        let coerced = coerce(emails, &json!({"value": "a@x", "primary": "True"}), "emails").unwrap();

        assert_eq!(coerced, Some(json!([{"value": "a@x", "primary": true}])));
    }

    #[test]
    fn two_primary_emails_rejected() {
        let emails = USER_SCHEMA.attribute("emails").unwrap();
        let value = json!([{"value": "a@x", "primary": true}, {"value": "b@x", "primary": true}]);

        let error = coerce(emails, &value, "emails").unwrap_err();

        assert_eq!(error.status, 400);
    }
}
