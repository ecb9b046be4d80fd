//! `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5) and the `returned` characteristic.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::schema::{split_schema_prefix, ResourceTypeDef, Returned};

/// One attribute reference: `[urn:]name[.sub]`, resolved to canonical names.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AttributeRef {
    /// The extension URN, or `None` for core and common attributes.
    extension: Option<&'static str>,
    /// `None` when the whole extension is named.
    name: Option<&'static str>,
    sub: Option<&'static str>,
}

/// The attribute selection of a response.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    included: Vec<AttributeRef>,
    excluded: Vec<AttributeRef>,
}

impl Projection {
    /// Parses the comma-separated lists. Unknown names are ignored, because a name that
    /// matches nothing selects nothing.
    pub fn parse(
        resource: &'static ResourceTypeDef,
        attributes: Option<&str>,
        excluded_attributes: Option<&str>,
    ) -> Result<Projection, ScimError> {
        Ok(Projection {
            included: parse_list(resource, attributes),
            excluded: parse_list(resource, excluded_attributes),
        })
    }

    /// Tells whether the response carries every attribute that is returned by default, that is
    /// whether neither list was given.
    pub fn is_empty(&self) -> bool {
        self.included.is_empty() && self.excluded.is_empty()
    }

    /// Applies the projection to a rendered resource.
    pub fn apply(&self, resource: &'static ResourceTypeDef, rendered: Value) -> Value {
        let Value::Object(mut object) = rendered else { return rendered };
        drop_never_returned(resource, &mut object);
        if !self.included.is_empty() {
            object = self.keep_included(resource, object);
        } else {
            for reference in &self.excluded {
                exclude(resource, &mut object, reference);
            }
        }
        drop_absent_extensions_from_schemas(resource, &mut object);
        Value::Object(object)
    }

    fn keep_included(&self, resource: &'static ResourceTypeDef, object: Map<String, Value>) -> Map<String, Value> {
        let mut kept = Map::new();
        for (key, value) in object {
            if key == "schemas" || is_always_returned(resource, None, &key) {
                kept.insert(key, value);
                continue;
            }
            let extension = resource.extension(&key).map(|schema| schema.id);
            let selection = self.included_parts(extension, if extension.is_some() { None } else { Some(key.as_str()) });
            match (selection, extension, value) {
                (Selection::Whole, _, value) => {
                    kept.insert(key, value);
                }
                (Selection::Parts(parts), Some(urn), Value::Object(attributes)) => {
                    let mut partial = Map::new();
                    for (name, attribute_value) in attributes {
                        let wanted = parts.iter().any(|part| part.eq_ignore_ascii_case(&name))
                            || is_always_returned(resource, Some(urn), &name);
                        if wanted {
                            partial.insert(name, attribute_value);
                        }
                    }
                    if !partial.is_empty() {
                        kept.insert(key, Value::Object(partial));
                    }
                }
                (Selection::Parts(parts), None, value) => {
                    if let Some(value) = keep_sub_attributes(value, &parts) {
                        kept.insert(key, value);
                    }
                }
                _ => {}
            }
        }
        kept
    }

    /// Returns what the `attributes` list selects of a top-level key (an attribute, or an extension).
    fn included_parts(&self, extension: Option<&'static str>, name: Option<&str>) -> Selection {
        let mut parts = Vec::new();
        for reference in &self.included {
            if reference.extension != extension {
                continue;
            }
            match extension {
                Some(_) => match reference.name {
                    None => return Selection::Whole,
                    Some(attribute) => parts.push(attribute),
                },
                None => {
                    if !reference.name.zip(name).is_some_and(|(wanted, key)| wanted.eq_ignore_ascii_case(key)) {
                        continue;
                    }
                    match reference.sub {
                        None => return Selection::Whole,
                        Some(sub) => parts.push(sub),
                    }
                }
            }
        }
        if parts.is_empty() {
            Selection::Nothing
        } else {
            Selection::Parts(parts)
        }
    }
}

enum Selection {
    Nothing,
    Whole,
    Parts(Vec<&'static str>),
}

fn parse_list(resource: &'static ResourceTypeDef, list: Option<&str>) -> Vec<AttributeRef> {
    let Some(list) = list else { return Vec::new() };
    list.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .filter_map(|item| parse_reference(resource, item))
        .collect()
}

fn parse_reference(resource: &'static ResourceTypeDef, item: &str) -> Option<AttributeRef> {
    if let Some(extension) = resource.extension(item) {
        return Some(AttributeRef {
            extension: Some(extension.id),
            name: None,
            sub: None,
        });
    }
    let (urn, rest) = match split_schema_prefix(resource, item) {
        Some((urn, rest)) => (Some(urn), rest),
        None => (None, item),
    };
    let (name, sub) = match rest.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (rest, None),
    };
    let resolved = resource.resolve(urn, name)?;
    let sub = match sub {
        Some(sub) => Some(resolved.def.sub_attribute(sub)?.name),
        None => None,
    };
    Some(AttributeRef {
        extension: resolved.extension,
        name: Some(resolved.def.name),
        sub,
    })
}

fn is_always_returned(resource: &'static ResourceTypeDef, extension: Option<&str>, name: &str) -> bool {
    resource
        .resolve(extension, name)
        .is_some_and(|resolved| resolved.def.returned == Returned::Always)
}

fn keep_sub_attributes(value: Value, parts: &[&str]) -> Option<Value> {
    let keep = |object: Map<String, Value>| -> Map<String, Value> {
        object
            .into_iter()
            .filter(|(key, _)| parts.iter().any(|part| part.eq_ignore_ascii_case(key)))
            .collect()
    };
    match value {
        Value::Object(object) => {
            let kept = keep(object);
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        Value::Array(items) => {
            let kept: Vec<Value> = items
                .into_iter()
                .filter_map(|item| match item {
                    Value::Object(object) => {
                        let kept = keep(object);
                        (!kept.is_empty()).then_some(Value::Object(kept))
                    }
                    _ => None,
                })
                .collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        _ => None,
    }
}

fn exclude(resource: &'static ResourceTypeDef, object: &mut Map<String, Value>, reference: &AttributeRef) {
    let container = match reference.extension {
        None => Some(&mut *object),
        Some(urn) => match reference.name {
            None => {
                object.remove(urn);
                return;
            }
            Some(_) => object.get_mut(urn).and_then(Value::as_object_mut),
        },
    };
    let (Some(container), Some(name)) = (container, reference.name) else { return };
    if is_always_returned(resource, reference.extension, name) {
        return;
    }
    match reference.sub {
        None => {
            container.remove(name);
        }
        Some(sub) => match container.get_mut(name) {
            Some(Value::Object(inner)) => {
                inner.remove(sub);
            }
            Some(Value::Array(items)) => {
                for item in items.iter_mut().filter_map(Value::as_object_mut) {
                    item.remove(sub);
                }
            }
            _ => {}
        },
    }
}

/// Keeps in `schemas` only the extensions that still have attributes in the response.
fn drop_absent_extensions_from_schemas(resource: &'static ResourceTypeDef, object: &mut Map<String, Value>) {
    let present: Vec<bool> = match object.get("schemas") {
        Some(Value::Array(schemas)) => schemas
            .iter()
            .map(|urn| {
                let urn = urn.as_str().unwrap_or_default();
                resource.extension(urn).is_none() || object.get(urn).is_some_and(|value| value.as_object().is_some_and(|attributes| !attributes.is_empty()))
            })
            .collect(),
        _ => return,
    };
    if let Some(Value::Array(schemas)) = object.get_mut("schemas") {
        let mut index = 0;
        schemas.retain(|_| {
            let keep = present[index];
            index += 1;
            keep
        });
    }
}

/// Removes attributes whose `returned` is `never` (the password), wherever they are.
fn drop_never_returned(resource: &'static ResourceTypeDef, object: &mut Map<String, Value>) {
    for def in &resource.core.attributes {
        if def.returned == Returned::Never {
            object.remove(def.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::schema::{ENTERPRISE_USER, USER_RESOURCE};

    fn user() -> Value {
        json!({
            "schemas": ["x"],
            "id": "1",
            "userName": "a",
            "name": {"givenName": "G", "familyName": "F"},
            "emails": [{"value": "a@x", "type": "work"}],
            ENTERPRISE_USER: {"department": "D", "employeeNumber": "7"},
            "meta": {"resourceType": "User"}
        })
    }

    #[test]
    fn attributes_keep_id_and_requested() {
        let projection = Projection::parse(&USER_RESOURCE, Some("userName,name.givenName"), None).unwrap();

        let projected = projection.apply(&USER_RESOURCE, user());

        assert_eq!(
            projected,
            json!({"schemas": ["x"], "id": "1", "userName": "a", "name": {"givenName": "G"}})
        );
    }

    #[test]
    fn excluded_attributes_drop_extension_attribute() {
        let excluded = format!("emails,{ENTERPRISE_USER}:department");
        let projection = Projection::parse(&USER_RESOURCE, None, Some(&excluded)).unwrap();

        let projected = projection.apply(&USER_RESOURCE, user());

        assert!(projected.get("emails").is_none());
        assert_eq!(projected[ENTERPRISE_USER], json!({"employeeNumber": "7"}));
    }
}
