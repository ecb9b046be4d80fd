//! Case folding of resource documents for filtering in the database.
//!
//! RFC 7643 §2.2 makes most string attributes case-insensitive (`caseExact` false). SQLite's
//! `lower()` folds ASCII letters only, and PostgreSQL's depends on the database locale, so the
//! database cannot fold "ÉLODIE" the way the in-memory evaluator does. Hub therefore stores a
//! folded copy of each profile, lower-cased here with Rust's Unicode rules. Filters then compare
//! that copy with an operand folded the same way, and both evaluators agree on every script.

use serde_json::{Map, Value};

use super::schema::{AttrType, AttributeDef, ResourceTypeDef};

/// Lower-cases the string values of attributes that are not `caseExact`, keeping `caseExact`
/// ones (ids, externalId, binary values) as they are. Unknown keys are kept unchanged.
pub fn fold_document(resource: &'static ResourceTypeDef, document: &Map<String, Value>) -> Map<String, Value> {
    let mut folded = Map::with_capacity(document.len());
    for (key, value) in document {
        let folded_value = match resource.extension(key) {
            Some(extension) => fold_extension(&extension.attributes, value),
            None => match resource.resolve(None, key) {
                Some(resolved) if resolved.extension.is_none() => fold_attribute(resolved.def, value),
                _ => value.clone(),
            },
        };
        folded.insert(key.clone(), folded_value);
    }
    folded
}

/// Folds the object of an extension schema, whose keys are the extension's attributes.
fn fold_extension(attributes: &[AttributeDef], value: &Value) -> Value {
    let Value::Object(object) = value else { return value.clone() };
    let folded = object
        .iter()
        .map(|(key, inner)| {
            let def = attributes.iter().find(|def| def.name.eq_ignore_ascii_case(key));
            let folded = def.map_or_else(|| inner.clone(), |def| fold_attribute(def, inner));
            (key.clone(), folded)
        })
        .collect();
    Value::Object(folded)
}

/// Folds one attribute value: each element of a multi-valued one, each sub-attribute of a
/// complex one.
pub fn fold_attribute(def: &AttributeDef, value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(|item| fold_attribute(def, item)).collect()),
        Value::Object(_) if def.kind == AttrType::Complex => fold_extension(&def.sub_attributes, value),
        Value::String(text) if !def.case_exact => Value::String(fold(text)),
        other => other.clone(),
    }
}

/// Folds one string the way filters and sorting compare case-insensitive values.
pub fn fold(text: &str) -> String {
    text.to_lowercase()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::schema::{ENTERPRISE_USER, USER_RESOURCE};

    #[test]
    fn folds_case_insensitive_values_only() {
        let document = json!({
            "userName": "ÉLodie@Example.com",
            "externalId": "ABC-1",
            "emails": [{"value": "E@X.org", "type": "Work", "primary": true}],
            "name": {"givenName": "ÉLODIE"},
            ENTERPRISE_USER: {"department": "SALES", "manager": {"value": "M-1"}},
            "custom": "KEEP"
        });

        let folded = fold_document(&USER_RESOURCE, document.as_object().unwrap());

        assert_eq!(folded["userName"], "élodie@example.com");
        assert_eq!(folded["externalId"], "ABC-1");
        assert_eq!(folded["emails"][0], json!({"value": "e@x.org", "type": "work", "primary": true}));
        assert_eq!(folded["name"]["givenName"], "élodie");
        assert_eq!(folded[ENTERPRISE_USER]["department"], "sales");
        assert_eq!(folded["custom"], "KEEP");
    }
}
