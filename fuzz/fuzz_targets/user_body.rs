//! Fuzzes the JSON bodies of POST and PUT requests. Each input is validated as a User, with the
//! calls that `service::users::create` and `replace` make, and as a Group, with
//! `scim::group::parse_group_body`. Accepted bodies are applied and rendered.
#![no_main]

use hub::scim::group::parse_group_body;
use hub::scim::user::render;
use hub_fuzz::{apply_group_input, apply_user_input, new_user, validate_user_body, BASE_URL, FIXTURE_GROUP, FIXTURE_USER};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn create_and_replace_user(body: &Value) {
    let Ok(input) = validate_user_body(body) else { return };

    let mut created = new_user();
    if apply_user_input(&mut created, input.clone(), None).is_ok() {
        let _ = render(&created, &[], BASE_URL);
    }
    let mut replaced = FIXTURE_USER.clone();
    if apply_user_input(&mut replaced, input, None).is_ok() {
        let _ = render(&replaced, &[], BASE_URL);
    }
}

fn create_and_replace_group(body: &Value) {
    let Ok(input) = parse_group_body(body) else { return };

    for creating in [true, false] {
        let mut group = FIXTURE_GROUP.clone();
        if apply_group_input(&mut group, &input, creating).is_ok() {
            let _ = hub::scim::group::render(&group, None, BASE_URL);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else { return };

    create_and_replace_user(&body);
    create_and_replace_group(&body);
});
