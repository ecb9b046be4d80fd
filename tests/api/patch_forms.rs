//! PATCH (RFC 7644 §3.5.2): add, replace and remove with and without paths, sub-attributes,
//! value filters, and the errors for required, read-only and invalid targets.

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

/// Creates a user with a name, a work and a home email, and a title.
async fn create_profile_user(app: &TestApp) -> Value {
    app.create_user(
        "pat@example.com",
        json!({
            "name": {"givenName": "Pat", "familyName": "Quinn", "middleName": "R"},
            "title": "Analyst",
            "emails": [
                {"value": "pat@old.example", "type": "work", "primary": true},
                {"value": "pat@home.example", "type": "home"},
            ],
        }),
    )
    .await
}

fn id_of(user: &Value) -> &str {
    user["id"].as_str().expect("the resource has no id")
}

async fn add_without_path_merges(app: TestApp) {
    let user = create_profile_user(&app).await;

    let (status, patched) = app
        .patch_user(
            id_of(&user),
            json!([{"op": "add", "value": {
                "nickName": "PQ",
                "emails": [{"value": "pat@other.example", "type": "other"}],
            }}]),
        )
        .await;

    assert_eq!(status, 200, "path-less add failed: {patched}");
    assert_eq!(patched["nickName"], json!("PQ"), "nickName not added: {patched}");
    assert_eq!(
        patched["emails"],
        json!([
            {"value": "pat@old.example", "type": "work", "primary": true},
            {"value": "pat@home.example", "type": "home"},
            {"value": "pat@other.example", "type": "other"},
        ]),
        "add did not append to emails: {patched}"
    );
    assert_eq!(patched["title"], json!("Analyst"), "an attribute not in the value changed: {patched}");
}

async fn replace_without_path_keeps_sub_attributes(app: TestApp) {
    let user = create_profile_user(&app).await;

    let (status, patched) = app
        .patch_user(
            id_of(&user),
            json!([{"op": "replace", "value": {"displayName": "Pat Quinn", "name": {"givenName": "Patricia"}}}]),
        )
        .await;

    assert_eq!(status, 200, "path-less replace failed: {patched}");
    assert_eq!(patched["displayName"], json!("Pat Quinn"), "displayName not set: {patched}");
    assert_eq!(
        patched["name"],
        json!({"givenName": "Patricia", "familyName": "Quinn", "middleName": "R"}),
        "sub-attributes not in the value changed: {patched}"
    );
}

async fn add_with_path_sets_attribute(app: TestApp) {
    let user = create_profile_user(&app).await;

    let (status, patched) = app
        .patch_user(id_of(&user), json!([{"op": "add", "path": "userType", "value": "Contractor"}]))
        .await;

    assert_eq!(status, 200, "add with a path failed: {patched}");
    assert_eq!(patched["userType"], json!("Contractor"), "userType not added: {patched}");
}

async fn add_to_single_value_replaces(app: TestApp) {
    let user = create_profile_user(&app).await;

    let (status, patched) = app
        .patch_user(id_of(&user), json!([{"op": "add", "path": "title", "value": "Director"}]))
        .await;

    assert_eq!(status, 200, "add on an existing single value failed: {patched}");
    assert_eq!(patched["title"], json!("Director"), "add did not replace the single value: {patched}");
}

async fn replace_sub_attribute(app: TestApp) {
    let user = create_profile_user(&app).await;

    let (status, patched) = app
        .patch_user(id_of(&user), json!([{"op": "replace", "path": "name.familyName", "value": "Quinlan"}]))
        .await;

    assert_eq!(status, 200, "sub-attribute replace failed: {patched}");
    assert_eq!(
        patched["name"],
        json!({"givenName": "Pat", "familyName": "Quinlan", "middleName": "R"}),
        "name not updated in place: {patched}"
    );
}

async fn remove_sub_attribute(app: TestApp) {
    let user = create_profile_user(&app).await;

    let (status, patched) = app
        .patch_user(id_of(&user), json!([{"op": "remove", "path": "name.middleName"}]))
        .await;

    assert_eq!(status, 200, "sub-attribute remove failed: {patched}");
    assert_eq!(patched["name"], json!({"givenName": "Pat", "familyName": "Quinn"}), "wrong sub-attribute removed: {patched}");
}

async fn remove_attribute(app: TestApp) {
    let user = create_profile_user(&app).await;

    let (status, patched) = app.patch_user(id_of(&user), json!([{"op": "remove", "path": "title"}])).await;

    assert_eq!(status, 200, "remove failed: {patched}");
    assert!(patched.get("title").is_none(), "title still present: {patched}");
    assert_eq!(patched["name"]["givenName"], json!("Pat"), "another attribute removed: {patched}");
}

async fn replace_filtered_sub_attribute(app: TestApp) {
    let user = create_profile_user(&app).await;

    let (status, patched) = app
        .patch_user(
            id_of(&user),
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "pat@new.example"}]),
        )
        .await;

    assert_eq!(status, 200, "filtered replace failed: {patched}");
    assert_eq!(
        patched["emails"],
        json!([
            {"value": "pat@new.example", "type": "work", "primary": true},
            {"value": "pat@home.example", "type": "home"},
        ]),
        "filtered replace touched the wrong email: {patched}"
    );
}

async fn replace_with_and_filter(app: TestApp) {
    let user = create_profile_user(&app).await;

    let (status, patched) = app
        .patch_user(
            id_of(&user),
            json!([{
                "op": "replace",
                "path": "emails[type eq \"work\" and value co \"@old.example\"].value",
                "value": "pat@new.example",
            }]),
        )
        .await;

    assert_eq!(status, 200, "replace with an and filter failed: {patched}");
    assert_eq!(patched["emails"][0]["value"], json!("pat@new.example"), "matching email not replaced: {patched}");
    assert_eq!(patched["emails"][1]["value"], json!("pat@home.example"), "other email changed: {patched}");
}

async fn replace_filtered_element(app: TestApp) {
    let user = create_profile_user(&app).await;

    let (status, patched) = app
        .patch_user(
            id_of(&user),
            json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": {"value": "pat@cottage.example", "type": "home"}}]),
        )
        .await;

    assert_eq!(status, 200, "replace of a filtered element failed: {patched}");
    assert_eq!(
        patched["emails"],
        json!([
            {"value": "pat@old.example", "type": "work", "primary": true},
            {"value": "pat@cottage.example", "type": "home"},
        ]),
        "home email not replaced: {patched}"
    );
}

async fn remove_entry_by_filter(app: TestApp) {
    let user = create_profile_user(&app).await;

    let (status, patched) = app
        .patch_user(id_of(&user), json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]))
        .await;

    assert_eq!(status, 200, "filtered remove failed: {patched}");
    assert_eq!(
        patched["emails"],
        json!([{"value": "pat@old.example", "type": "work", "primary": true}]),
        "wrong email removed: {patched}"
    );
}

async fn remove_last_entry_clears_attribute(app: TestApp) {
    let user = app
        .create_user("single@example.com", json!({"phoneNumbers": [{"value": "555-0100", "type": "work"}]}))
        .await;

    let (status, patched) = app
        .patch_user(id_of(&user), json!([{"op": "remove", "path": "phoneNumbers[value eq \"555-0100\"]"}]))
        .await;

    assert_eq!(status, 200, "filtered remove failed: {patched}");
    assert!(patched.get("phoneNumbers").is_none(), "empty phoneNumbers left behind: {patched}");
}

async fn replace_whole_multi_valued(app: TestApp) {
    let user = create_profile_user(&app).await;

    let (status, patched) = app
        .patch_user(
            id_of(&user),
            json!([{"op": "replace", "path": "emails", "value": [{"value": "only@example.com", "type": "work"}]}]),
        )
        .await;

    assert_eq!(status, 200, "replace of emails failed: {patched}");
    assert_eq!(
        patched["emails"],
        json!([{"value": "only@example.com", "type": "work"}]),
        "replace did not replace every email: {patched}"
    );
}

async fn add_existing_value_not_duplicated(app: TestApp) {
    let user = create_profile_user(&app).await;

    let (status, patched) = app
        .patch_user(
            id_of(&user),
            json!([{"op": "add", "path": "emails", "value": [{"value": "PAT@home.example", "type": "home"}]}]),
        )
        .await;

    assert_eq!(status, 200, "add of an existing email failed: {patched}");
    assert_eq!(patched["emails"].as_array().map(Vec::len), Some(2), "existing email added twice: {patched}");
}

async fn new_primary_demotes_old(app: TestApp) {
    let user = create_profile_user(&app).await;

    let (status, patched) = app
        .patch_user(
            id_of(&user),
            json!([{"op": "add", "path": "emails", "value": [{"value": "pat@primary.example", "type": "other", "primary": true}]}]),
        )
        .await;
    let primaries: Vec<&Value> = patched["emails"]
        .as_array()
        .map(|emails| emails.iter().filter(|email| email["primary"] == json!(true)).collect())
        .unwrap_or_default();

    assert_eq!(status, 200, "add of a primary email failed: {patched}");
    assert_eq!(primaries.len(), 1, "more than one primary email: {patched}");
    assert_eq!(primaries[0]["value"], json!("pat@primary.example"), "new email is not the primary one: {patched}");
}

async fn remove_whole_extension(app: TestApp) {
    let user = app
        .create_user("extension@example.com", json!({ENTERPRISE_USER: {"department": "Legal", "costCenter": "7"}}))
        .await;

    let (status, patched) = app
        .patch_user(id_of(&user), json!([{"op": "remove", "path": ENTERPRISE_USER}]))
        .await;

    assert_eq!(status, 200, "removing the extension failed: {patched}");
    assert!(patched.get(ENTERPRISE_USER).is_none(), "extension still present: {patched}");
    assert!(
        !patched["schemas"].as_array().unwrap().contains(&json!(ENTERPRISE_USER)),
        "schemas still list the removed extension: {patched}"
    );
}

async fn replace_extension_by_urn_path(app: TestApp) {
    let user = create_profile_user(&app).await;

    let (status, patched) = app
        .patch_user(
            id_of(&user),
            json!([{"op": "replace", "path": ENTERPRISE_USER, "value": {"department": "Audit", "division": "North"}}]),
        )
        .await;

    assert_eq!(status, 200, "replace of the extension failed: {patched}");
    assert_eq!(
        patched[ENTERPRISE_USER],
        json!({"department": "Audit", "division": "North"}),
        "extension attributes not set: {patched}"
    );
}

async fn remove_user_name_rejected(app: TestApp) {
    let user = create_profile_user(&app).await;

    let (status, body) = app.patch_user(id_of(&user), json!([{"op": "remove", "path": "userName"}])).await;
    let (_, fetched) = app.get_user(id_of(&user)).await;

    assert_eq!(status, 400, "removing userName was not rejected: {body}");
    assert_eq!(body["schemas"], json!([ERROR]), "not a SCIM error: {body}");
    assert_eq!(fetched["userName"], json!("pat@example.com"), "userName changed: {fetched}");
}

async fn replace_user_name_empty_rejected(app: TestApp) {
    let user = create_profile_user(&app).await;

    let (status, body) = app
        .patch_user(id_of(&user), json!([{"op": "replace", "path": "userName", "value": ""}]))
        .await;

    assert_eq!(status, 400, "an empty userName was accepted: {body}");
    assert_eq!(body["schemas"], json!([ERROR]), "not a SCIM error: {body}");
}

async fn read_only_targets_rejected(app: TestApp) {
    let user = create_profile_user(&app).await;
    let cases = [
        ("id".to_string(), json!("another-id")),
        ("meta".to_string(), json!({"resourceType": "Group"})),
        ("meta.lastModified".to_string(), json!("2020-01-01T00:00:00Z")),
        ("groups".to_string(), json!([{"value": "g-1"}])),
        (format!("{HUB_USER}:status"), json!("Active")),
        (format!("{HUB_USER}:effectiveRole"), json!("Owner")),
        (format!("{HUB_USER}:lastLogin"), json!("2020-01-01T00:00:00Z")),
        (format!("{HUB_USER}:mfa"), json!({"enabled": true})),
    ];

    for (path, value) in cases {
        let (status, body) = app
            .patch_user(id_of(&user), json!([{"op": "replace", "path": path, "value": value}]))
            .await;

        assert_eq!(status, 400, "replace of read-only {path} not rejected: {body}");
        assert_eq!(body["scimType"], json!("mutability"), "replace of read-only {path}: wrong scimType: {body}");
    }
    let (_, fetched) = app.get_user(id_of(&user)).await;
    assert_eq!(fetched["id"], user["id"], "id changed: {fetched}");
    assert_eq!(fetched[HUB_USER]["status"], json!("Invited"), "status changed: {fetched}");
}

async fn invalid_paths_rejected(app: TestApp) {
    let user = create_profile_user(&app).await;
    let paths = [
        "nosuchAttribute",
        "name.nosuchPart",
        "emails[type eq \"work\"",
        "emails[nosuch eq \"x\"].value",
        "emails[type eq \"work\"].nosuch",
        "name[givenName eq \"Pat\"]",
        "urn:example:unknown:2.0:User:attribute",
    ];

    for path in paths {
        let (status, body) = app
            .patch_user(id_of(&user), json!([{"op": "replace", "path": path, "value": "x"}]))
            .await;

        assert_eq!(status, 400, "path {path:?} not rejected: {body}");
        assert_eq!(body["scimType"], json!("invalidPath"), "path {path:?}: wrong scimType: {body}");
    }
}

async fn unmatched_filter_no_target(app: TestApp) {
    let user = create_profile_user(&app).await;
    let paths = [
        "emails[value co \"nomatch\"].value",
        "emails[type ne \"work\" and type ne \"home\"].value",
        "emails[value sw \"zzz\"]",
    ];

    for path in paths {
        let (status, body) = app
            .patch_user(id_of(&user), json!([{"op": "replace", "path": path, "value": "new@example.com"}]))
            .await;

        assert_eq!(status, 400, "replace on unmatched {path:?} not rejected: {body}");
        assert_eq!(body["scimType"], json!("noTarget"), "replace on unmatched {path:?}: wrong scimType: {body}");
    }
}

async fn remove_without_path_rejected(app: TestApp) {
    let user = create_profile_user(&app).await;

    let (status, body) = app.patch_user(id_of(&user), json!([{"op": "remove"}])).await;

    assert_scim_error(status, &body, 400, Some("noTarget"));
}

async fn invalid_operations_rejected(app: TestApp) {
    let user = create_profile_user(&app).await;
    let operations = [
        json!([{"op": "move", "path": "title", "value": "x"}]),
        json!([{"path": "title", "value": "x"}]),
        json!([{"op": 7, "path": "title", "value": "x"}]),
        json!([{"op": "add", "path": "title"}]),
        json!(["replace"]),
        json!([]),
    ];

    for operation in operations {
        let (status, body) = app.patch_user(id_of(&user), operation.clone()).await;

        assert_eq!(status, 400, "operations {operation} not rejected: {body}");
        assert_eq!(body["schemas"], json!([ERROR]), "operations {operation}: not a SCIM error: {body}");
    }
}

async fn patch_without_patch_op_schema_rejected(app: TestApp) {
    let user = create_profile_user(&app).await;
    let body = json!({
        "schemas": [CORE_USER],
        "Operations": [{"op": "replace", "path": "title", "value": "x"}],
    });

    let (status, error) = status_and_json(app.patch(&user_path(&user), &body).await).await;

    assert_scim_error(status, &error, 400, Some("invalidSyntax"));
}

async fn patch_returns_full_resource(app: TestApp) {
    let user = create_profile_user(&app).await;

    let response = app
        .patch(&user_path(&user), &patch_body(json!([{"op": "replace", "path": "title", "value": "Lead"}])))
        .await;
    let etag = header_text(&response, "etag");
    let (status, patched) = status_and_json(response).await;

    assert_eq!(status, 200, "PATCH failed: {patched}");
    assert_eq!(patched["id"], user["id"], "id differs: {patched}");
    assert_eq!(patched["userName"], json!("pat@example.com"), "userName missing: {patched}");
    assert_eq!(patched["emails"], user["emails"], "emails missing: {patched}");
    assert_eq!(patched["name"], user["name"], "name missing: {patched}");
    assert!(patched["schemas"].as_array().unwrap().contains(&json!(CORE_USER)), "schemas missing: {patched}");
    assert_eq!(patched[HUB_USER]["status"], json!("Invited"), "Hub extension missing: {patched}");
    assert_eq!(patched["meta"]["version"], json!("W/\"2\""), "version not bumped: {patched}");
    assert_eq!(etag.as_deref(), patched["meta"]["version"].as_str(), "ETag differs from meta.version");
}

async fn patch_unknown_user_not_found(app: TestApp) {
    let id = uuid::Uuid::new_v4().to_string();

    let (status, body) = app.patch_user(&id, json!([{"op": "replace", "path": "title", "value": "x"}])).await;

    assert_scim_error(status, &body, 404, None);
}

async fn password_patch_not_stored(app: TestApp) {
    let user = create_profile_user(&app).await;

    let (status, patched) = app
        .patch_user(id_of(&user), json!([{"op": "replace", "path": "password", "value": "S3cret-Value"}]))
        .await;

    assert_eq!(status, 200, "password replace failed: {patched}");
    assert!(patched.get("password").is_none(), "password returned: {patched}");
    assert!(!patched.to_string().contains("S3cret-Value"), "password text returned: {patched}");
}

async fn add_empty_list_changes_nothing(app: TestApp) {
    let user = create_profile_user(&app).await;
    let operations = [
        json!([{"op": "add", "path": "emails", "value": []}]),
        json!([{"op": "add", "value": {"emails": []}}]),
    ];

    for operation in operations {
        let (status, patched) = app.patch_user(id_of(&user), operation.clone()).await;

        assert_eq!(status, 200, "operations {operation} failed: {patched}");
        assert_eq!(patched["emails"], user["emails"], "operations {operation} changed the emails: {patched}");
    }
}

async fn remove_listed_values_only(app: TestApp) {
    let user = create_profile_user(&app).await;

    let (status, patched) = app
        .patch_user(
            id_of(&user),
            json!([{"op": "remove", "path": "emails", "value": [{"value": "pat@home.example"}]}]),
        )
        .await;

    assert_eq!(status, 200, "remove with a value list failed: {patched}");
    assert_eq!(
        patched["emails"],
        json!([{"value": "pat@old.example", "type": "work", "primary": true}]),
        "remove with a value list removed the wrong emails: {patched}"
    );
}

async fn concurrent_patches_keep_every_change(app: TestApp) {
    let user = create_profile_user(&app).await;
    let path = user_path(&user);

    let requests = (0..10).map(|index| {
        let body = patch_body(json!([
            {"op": "add", "path": "emails", "value": [{"value": format!("extra{index}@example.com"), "type": "other"}]}
        ]));
        let path = path.clone();
        let app = &app;
        async move { status_and_json(app.patch(&path, &body).await).await }
    });
    let results = futures::future::join_all(requests).await;
    let (_, fetched) = app.get_user(id_of(&user)).await;

    assert!(results.iter().all(|(status, _)| *status == 200), "a concurrent PATCH failed: {results:?}");
    assert_eq!(fetched["emails"].as_array().map(Vec::len), Some(12), "a concurrent PATCH was lost: {fetched}");
    assert_eq!(fetched["meta"]["version"], json!("W/\"11\""), "version does not count every change: {fetched}");
}

both_backends!(
    add_without_path_merges,
    replace_without_path_keeps_sub_attributes,
    add_with_path_sets_attribute,
    add_to_single_value_replaces,
    replace_sub_attribute,
    remove_sub_attribute,
    remove_attribute,
    replace_filtered_sub_attribute,
    replace_with_and_filter,
    replace_filtered_element,
    remove_entry_by_filter,
    remove_last_entry_clears_attribute,
    replace_whole_multi_valued,
    add_existing_value_not_duplicated,
    new_primary_demotes_old,
    remove_whole_extension,
    replace_extension_by_urn_path,
    remove_user_name_rejected,
    replace_user_name_empty_rejected,
    read_only_targets_rejected,
    invalid_paths_rejected,
    unmatched_filter_no_target,
    remove_without_path_rejected,
    invalid_operations_rejected,
    patch_without_patch_op_schema_rejected,
    patch_returns_full_resource,
    patch_unknown_user_not_found,
    password_patch_not_stored,
    add_empty_list_changes_nothing,
    remove_listed_values_only,
    concurrent_patches_keep_every_change,
);
