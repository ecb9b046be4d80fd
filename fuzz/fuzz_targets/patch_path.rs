//! Fuzzes PATCH request parsing: the PatchOp body, each operation's path as
//! `scim::patch::apply` parses it (the shape cache against the crate's parse), value filters
//! evaluated against the fixture user's elements, and the split of a Group PATCH into member
//! changes.
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

/// Checks that a path parsed through the shape cache equals the crate's own parse, and that
/// both fail alike.
fn check_cached_parse(path: &str) {
    let direct = path.parse::<PatchPath>();
    let cached = hub::scim::parse_cache::patch_path(path);
    match (&direct, &cached) {
        (Ok(direct), Ok(cached)) => assert_eq!(direct, cached, "cached parse differs for {path:?}"),
        (Err(direct), Err(cached)) => assert_eq!(direct.to_string(), cached.to_string(), "errors differ for {path:?}"),
        _ => panic!("cached parse of {path:?} gave {cached:?}, the crate {direct:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(body) = patch_body(data) else { return };
    let Ok(operations) = patch::parse_request(&body) else { return };

    for path in operations.iter().filter_map(|operation| operation.path.as_deref()) {
        check_cached_parse(path);
        if let Ok(PatchPath::Value(value_path)) = path.parse::<PatchPath>() {
            match_fixture_elements(&value_path);
        }
    }
    let _ = group::split_patch(operations);
});
