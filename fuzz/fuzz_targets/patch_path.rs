//! Fuzzes PATCH request parsing: the PatchOp body, each operation's path as
//! `scim::patch::apply` parses it, value filters evaluated against the fixture user's
//! elements, and the split of a Group PATCH into member changes.
#![no_main]

use hub::scim::schema::USER_RESOURCE;
use hub::scim::{filter, group, patch};
use hub_fuzz::{patch_body, FIXTURE_USER};
use libfuzzer_sys::fuzz_target;
use scim_v2::filter::PatchPath;
use serde_json::Value;

/// Evaluates a value path's filter on each element the fixture user has for its attribute,
/// as `scim::patch::apply` does to find the elements an operation changes.
fn match_fixture_elements(value_path: &scim_v2::filter::PatchValuePath) {
    let _ = filter::equality_terms(&value_path.filter);
    let Some(resolved) = USER_RESOURCE.resolve(value_path.attr.uri.as_deref(), &value_path.attr.name) else {
        return;
    };
    let Some(Value::Array(elements)) = FIXTURE_USER.profile.get(resolved.def.name) else {
        return;
    };
    for element in elements {
        let _ = filter::matches_element(resolved.def, element, &value_path.filter);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(body) = patch_body(data) else { return };
    let Ok(operations) = patch::parse_request(&body) else { return };

    for path in operations.iter().filter_map(|operation| operation.path.as_deref()) {
        if let Ok(PatchPath::Value(value_path)) = path.parse::<PatchPath>() {
            match_fixture_elements(&value_path);
        }
    }
    let _ = group::split_patch(operations);
});
