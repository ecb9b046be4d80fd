//! Fuzzes PATCH requests applied to a fixed User and a fixed Group, with the calls that
//! `service::users::patch` and `service::groups::patch` make, then renders the results.
#![no_main]

use hub::scim::group::{patch_view as group_patch_view, split_document, split_patch};
use hub::scim::patch;
use hub::scim::schema::{GROUP_RESOURCE, USER_RESOURCE};
use hub::scim::user::{patch_view as user_patch_view, render, split_input};
use hub_fuzz::{apply_group_input, apply_user_input, fixture_memberships, patch_body, BASE_URL, FIXTURE_GROUP, FIXTURE_USER};
use libfuzzer_sys::fuzz_target;

fn patch_user(operations: &[patch::Operation]) {
    let view = user_patch_view(&FIXTURE_USER);
    let Ok(patched) = patch::apply(&USER_RESOURCE, &view, operations) else { return };
    let previous = split_input(view);
    let input = split_input(patched);

    let mut user = FIXTURE_USER.clone();
    if apply_user_input(&mut user, input, Some(&previous)).is_ok() {
        let _ = render(&user, &fixture_memberships(), BASE_URL);
    }
}

fn patch_group(operations: Vec<patch::Operation>) {
    let Ok(split) = split_patch(operations) else { return };
    if split.attribute_operations.is_empty() {
        return;
    }
    let view = group_patch_view(&FIXTURE_GROUP);
    let Ok(patched) = patch::apply(&GROUP_RESOURCE, &view, &split.attribute_operations) else { return };
    let Ok(mut input) = split_document(patched, None) else { return };
    // The view contains the current grants, so a patched view always states them.
    input.has_grants = true;

    let mut group = FIXTURE_GROUP.clone();
    if apply_group_input(&mut group, &input, false).is_ok() {
        let _ = hub::scim::group::render(&group, None, BASE_URL);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(body) = patch_body(data) else { return };
    let Ok(operations) = patch::parse_request(&body) else { return };

    patch_user(&operations);
    patch_group(operations);
});
