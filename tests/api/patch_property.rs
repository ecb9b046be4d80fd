//! A seeded property test of PATCH. Random requests of `add`, `replace` and `remove`, with and
//! without paths, are applied to one user, and after each, GET must show exactly what a plain
//! model of the same operations predicts.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

use crate::both_backends;
use crate::helpers::*;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Attributes the test changes: the PATCH path and where GET shows the value.
const ATTRIBUTES: [(&str, &[&str]); 8] = [
    ("displayName", &["displayName"]),
    ("title", &["title"]),
    ("nickName", &["nickName"]),
    ("userType", &["userType"]),
    ("name.givenName", &["name", "givenName"]),
    ("name.familyName", &["name", "familyName"]),
    ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", &[ENTERPRISE, "department"]),
    ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", &[ENTERPRISE, "employeeNumber"]),
];

/// Top-level attributes that a path-less operation may carry.
const TOP_LEVEL: usize = 4;

fn word(rng: &mut StdRng) -> String {
    let pieces = ["ada", "Ünal", "grace", "Łukasz", "émile", "李", "x y", "Z-9"];
    (0..rng.gen_range(1..3)).map(|_| pieces[rng.gen_range(0..pieces.len())]).collect::<Vec<_>>().join("")
}

/// Builds one operation and applies it to the model.
fn operation(rng: &mut StdRng, model: &mut BTreeMap<usize, String>) -> Value {
    let verb = ["add", "replace", "Replace", "remove"][rng.gen_range(0..4)];
    let attribute = rng.gen_range(0..ATTRIBUTES.len());
    let (path, _) = ATTRIBUTES[attribute];
    if verb == "remove" {
        model.remove(&attribute);
        return json!({"op": verb, "path": path});
    }
    let value = word(rng);
    model.insert(attribute, value.clone());
    if attribute < TOP_LEVEL && rng.gen_bool(0.3) {
        // Without a path, the value is an object of attributes (RFC 7644 §3.5.2.1/3).
        return json!({"op": verb, "value": {path: value}});
    }
    json!({"op": verb, "path": path, "value": value})
}

fn shown<'a>(document: &'a Value, location: &[&str]) -> Option<&'a Value> {
    location.iter().try_fold(document, |value, key| value.get(*key)).filter(|value| !value.is_null())
}

async fn patch_then_get_matches_the_model(app: TestApp) {
    let mut rng = StdRng::seed_from_u64(20261205);
    let created = app.create_user("model@example.com", json!({})).await;
    let id = created["id"].as_str().unwrap().to_string();
    let mut model: BTreeMap<usize, String> = BTreeMap::new();

    for request in 0..120 {
        let mut next = model.clone();
        let operations: Vec<Value> = (0..rng.gen_range(1..4)).map(|_| operation(&mut rng, &mut next)).collect();
        let (status, patched) = app.patch_user(&id, Value::Array(operations.clone())).await;
        assert_eq!(status, 200, "request {request} {operations:?}: {patched}");
        model = next;

        let (_, document) = app.get_user(&id).await;
        for (index, (path, location)) in ATTRIBUTES.iter().enumerate() {
            let expected = model.get(&index).map(|value| json!(value));
            assert_eq!(shown(&document, location).cloned(), expected, "request {request} {operations:?}: {path} in {document}");
        }
        assert_eq!(patched, document, "the PATCH response differs from the GET that follows");
    }

    // Removing the last sub-attribute of a complex attribute leaves no empty shell behind.
    let removals: Vec<Value> = ATTRIBUTES.iter().map(|(path, _)| json!({"op": "remove", "path": path})).collect();
    let (status, document) = app.patch_user(&id, Value::Array(removals)).await;
    assert_eq!(status, 200, "{document}");
    let empty = Value::Object(Map::new());
    assert!(document.get("name").is_none_or(|name| name == &empty), "{document}");
}

both_backends!(patch_then_get_matches_the_model);
