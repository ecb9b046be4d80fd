//! Size limits on the parts of a SCIM request body, checked before any other processing.
//!
//! The body size limit already bounds the whole request. These limits stop single values from
//! growing absurd inside it: a 900 KB display name would otherwise be stored, indexed and
//! copied into every audit entry about the user.

use serde_json::Value;

use super::{ScimError, ScimType};

/// Maximum length of a string value, in characters: enough for any name, address or photo URL.
pub const MAX_STRING_CHARS: usize = 4096;
/// Maximum number of values of one multi-valued attribute (emails, phoneNumbers, productAccess...).
pub const MAX_VALUES: usize = 1000;
/// Maximum number of attributes in one JSON object.
pub const MAX_ATTRIBUTES: usize = 200;
/// Maximum nesting of objects and arrays.
pub const MAX_DEPTH: usize = 16;

/// Lists whose length other limits govern: group members (the body size) and the operations of
/// PATCH and Bulk requests (their own advertised maximums). A PATCH operation's value list is
/// exempt too, because adding members sends them there.
const LENGTH_CHECKED_ELSEWHERE: [&str; 2] = ["members", "operations"];

/// Checks every value of a request body against the limits above.
pub fn check_body(body: &Value) -> Result<(), ScimError> {
    check(body, &mut String::new(), 0, false)
}

fn check(value: &Value, path: &mut String, depth: usize, exempt_length: bool) -> Result<(), ScimError> {
    if depth > MAX_DEPTH {
        return Err(too_large(format!(
            "The body nests objects and lists deeper than {MAX_DEPTH} levels at {}.",
            shown(path)
        )));
    }
    match value {
        Value::String(text) => check_string(text, path),
        Value::Array(items) => {
            if items.len() > MAX_VALUES && !exempt_length {
                return Err(too_large(format!(
                    "Attribute {} has {} values; Hub accepts at most {MAX_VALUES}.",
                    shown(path),
                    items.len()
                )));
            }
            for (index, item) in items.iter().enumerate() {
                let length = path.len();
                path.push_str(&format!("[{index}]"));
                check(item, path, depth + 1, false)?;
                path.truncate(length);
            }
            Ok(())
        }
        Value::Object(object) => {
            if object.len() > MAX_ATTRIBUTES {
                return Err(too_large(format!(
                    "{} has {} attributes; Hub accepts at most {MAX_ATTRIBUTES} in one object.",
                    if path.is_empty() { "The body".to_string() } else { format!("Attribute {path}") },
                    object.len()
                )));
            }
            for (name, item) in object {
                check_string(name, path)?;
                let length = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(name);
                let exempt = LENGTH_CHECKED_ELSEWHERE.contains(&name.to_ascii_lowercase().as_str())
                    || is_patch_value(&path[..length], name);
                check(item, path, depth + 1, exempt)?;
                path.truncate(length);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Tells whether `name` under `parent` is the value of a PATCH operation
/// (`Operations[N].value`), which may list many group members.
fn is_patch_value(parent: &str, name: &str) -> bool {
    name.eq_ignore_ascii_case("value") && parent.to_ascii_lowercase().starts_with("operations[") && !parent.contains('.')
}

fn check_string(text: &str, path: &str) -> Result<(), ScimError> {
    // PostgreSQL cannot store U+0000 in text, and no SCIM attribute has a use for it, so
    // both backends reject it alike instead of SQLite storing what PostgreSQL fails on.
    // NOTE: string literals in a `filter` query parameter are not checked here.
    if text.contains('\0') {
        return Err(ScimError::new(
            400,
            Some(ScimType::InvalidValue),
            format!("The value of {} contains the character U+0000, which Hub does not accept.", shown(path)),
        ));
    }
    // Byte length bounds the character count from above, so most strings skip the count.
    if text.len() > MAX_STRING_CHARS && text.chars().count() > MAX_STRING_CHARS {
        return Err(too_large(format!(
            "The value of {} is {} characters long; Hub accepts at most {MAX_STRING_CHARS} characters per value.",
            shown(path),
            text.chars().count()
        )));
    }
    Ok(())
}

fn shown(path: &str) -> String {
    if path.is_empty() {
        "the body".to_string()
    } else {
        path.chars().take(200).collect()
    }
}

fn too_large(detail: String) -> ScimError {
    ScimError::new(400, Some(ScimType::InvalidValue), detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn long_strings_named_by_path() {
        let body = json!({"emails": [{"value": "a@x.com"}, {"value": "x".repeat(MAX_STRING_CHARS + 1)}]});
        let error = check_body(&body).unwrap_err();
        assert!(error.detail.contains("emails[1].value"), "{}", error.detail);
        assert!(error.detail.contains("4096"), "{}", error.detail);
    }

    #[test]
    fn nul_characters_refused() {
        let error = check_body(&json!({"userName": "a\u{0}b@example.com"})).unwrap_err();
        assert!(error.detail.contains("userName"), "{}", error.detail);
        assert!(error.detail.contains("U+0000"), "{}", error.detail);
    }

    #[test]
    fn multibyte_strings_counted_in_characters() {
        assert!(check_body(&json!({"displayName": "é".repeat(MAX_STRING_CHARS)})).is_ok());
    }

    #[test]
    fn member_lists_exempt_from_the_value_count() {
        let members: Vec<Value> = (0..MAX_VALUES + 1).map(|index| json!({"value": index.to_string()})).collect();
        assert!(check_body(&json!({"members": members.clone()})).is_ok());
        let patch = json!({"Operations": [{"op": "add", "path": "members", "value": members.clone()}]});
        assert!(check_body(&patch).is_ok());
        assert!(check_body(&json!({"emails": members})).is_err());
    }

    #[test]
    fn deep_nesting_refused() {
        let mut value = json!("leaf");
        for _ in 0..MAX_DEPTH + 1 {
            value = json!({ "a": value });
        }
        assert!(check_body(&value).is_err());
    }
}
