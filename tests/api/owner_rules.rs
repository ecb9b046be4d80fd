//! The owner rules through every write path: at most two Owners among users that are neither
//! Deactivated nor removed, and no demotion, deactivation or deletion of the last Owner who is
//! not Deactivated.

use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

fn platform_role_path() -> String {
    format!("{HUB_USER}:platformRole")
}

fn id_of(user: &Value) -> &str {
    user["id"].as_str().expect("the resource has no id")
}

fn assert_owner_limit(status: u16, body: &Value) {
    assert_scim_error(status, body, 409, None);
    assert!(
        body["detail"].as_str().is_some_and(|detail| detail.starts_with("Owner limit")),
        "detail does not start with \"Owner limit\": {body}"
    );
}

fn assert_last_owner(status: u16, body: &Value) {
    assert_scim_error(status, body, 409, None);
    assert!(
        body["detail"].as_str().is_some_and(|detail| detail.starts_with("Last Owner")),
        "detail does not start with \"Last Owner\": {body}"
    );
}

/// Counts the Owners by filtering on the Hub extension's platformRole.
async fn count_owners_by_filter(app: &TestApp) -> Value {
    let filter = format!("{HUB_USER}:platformRole eq \"Owner\"");
    let (status, body) = app.list_users(&[("filter", &filter)]).await;
    assert_eq!(status, 200, "Owner filter failed: {body}");
    body["totalResults"].clone()
}

async fn platform_role_of(app: &TestApp, id: &str) -> Value {
    let (_, user) = app.get_user(id).await;
    user[HUB_USER]["platformRole"].clone()
}

async fn deactivate(app: &TestApp, id: &str) -> (u16, Value) {
    app.patch_user(id, json!([{"op": "replace", "path": "active", "value": false}])).await
}

async fn create_third_owner_by_extension_rejected(app: TestApp) {
    app.create_user_with_role("owner1@example.com", "Owner").await;
    app.create_user_with_role("owner2@example.com", "Owner").await;
    let body = json!({"schemas": [CORE_USER], "userName": "owner3@example.com", HUB_USER: {"platformRole": "Owner"}});

    let (status, error) = status_and_json(app.post("/Users", &body).await).await;
    let (_, found) = app.list_users(&[("filter", "userName eq \"owner3@example.com\"")]).await;

    assert_owner_limit(status, &error);
    assert_eq!(found["totalResults"], json!(0), "rejected user was stored: {found}");
    assert_eq!(count_owners_by_filter(&app).await, json!(2), "Owner count changed");
}

async fn create_third_owner_by_roles_rejected(app: TestApp) {
    let owner_roles = json!({"roles": [{"value": "Owner", "primary": true}]});
    let first = app.create_user("owner1@example.com", owner_roles.clone()).await;
    app.create_user("owner2@example.com", owner_roles).await;
    let body = json!({"schemas": [CORE_USER], "userName": "owner3@example.com", "roles": [{"value": "Owner", "primary": true}]});

    let (status, error) = status_and_json(app.post("/Users", &body).await).await;

    assert_eq!(first[HUB_USER]["platformRole"], json!("Owner"), "roles did not set the Owner role: {first}");
    assert_owner_limit(status, &error);
    assert_eq!(count_owners_by_filter(&app).await, json!(2), "Owner count changed");
}

async fn roles_win_over_platform_role(app: TestApp) {
    let admin = app
        .create_user(
            "admin@example.com",
            json!({"roles": [{"value": "Admin", "primary": true}], HUB_USER: {"platformRole": "Owner"}}),
        )
        .await;
    let owner = app
        .create_user(
            "owner@example.com",
            json!({"roles": [{"value": "Owner", "primary": true}], HUB_USER: {"platformRole": "Viewer"}}),
        )
        .await;

    assert_eq!(admin[HUB_USER]["platformRole"], json!("Admin"), "platformRole won over roles: {admin}");
    assert_eq!(owner[HUB_USER]["platformRole"], json!("Owner"), "platformRole won over roles: {owner}");
    assert_eq!(count_owners_by_filter(&app).await, json!(1), "Owner count differs");
}

async fn patch_both_role_forms_roles_win(app: TestApp) {
    let user = app.create_user("both@example.com", json!({})).await;

    let (status, patched) = app
        .patch_user(
            id_of(&user),
            json!([
                {"op": "replace", "path": "roles", "value": [{"value": "Viewer", "primary": true}]},
                {"op": "replace", "path": platform_role_path(), "value": "Admin"},
            ]),
        )
        .await;

    assert_eq!(status, 200, "PATCH of both role forms failed: {patched}");
    assert_eq!(patched[HUB_USER]["platformRole"], json!("Viewer"), "platformRole won over roles: {patched}");
}

async fn put_third_owner_rejected(app: TestApp) {
    app.create_user_with_role("owner1@example.com", "Owner").await;
    app.create_user_with_role("owner2@example.com", "Owner").await;
    let member = app.create_user("member@example.com", json!({})).await;
    let bodies = [
        json!({"schemas": [CORE_USER], "userName": "member@example.com", HUB_USER: {"platformRole": "Owner"}}),
        json!({"schemas": [CORE_USER], "userName": "member@example.com", "roles": [{"value": "Owner", "primary": true}]}),
    ];

    for body in bodies {
        let (status, error) = status_and_json(app.put(&user_path(&member), &body).await).await;

        assert_owner_limit(status, &error);
    }
    assert_eq!(platform_role_of(&app, id_of(&member)).await, json!("Member"), "rejected PUT changed the role");
}

async fn patch_roles_third_owner_rejected(app: TestApp) {
    app.create_user_with_role("owner1@example.com", "Owner").await;
    app.create_user_with_role("owner2@example.com", "Owner").await;
    let member = app.create_user("member@example.com", json!({})).await;
    let operations = [
        json!([{"op": "replace", "path": "roles", "value": [{"value": "Owner", "primary": true}]}]),
        json!([{"op": "add", "path": "roles", "value": [{"value": "Owner", "primary": true}]}]),
        json!([{"op": "Replace", "path": "roles[primary eq \"True\"].value", "value": "Owner"}]),
        json!([{"op": "replace", "value": {"roles": [{"value": "Owner", "primary": true}]}}]),
    ];

    for operation in operations {
        let (status, error) = app.patch_user(id_of(&member), operation.clone()).await;

        assert_eq!(status, 409, "operations {operation} made a third Owner: {error}");
        assert_owner_limit(status, &error);
    }
    assert_eq!(platform_role_of(&app, id_of(&member)).await, json!("Member"), "rejected PATCH changed the role");
}

async fn patch_platform_role_third_owner_rejected(app: TestApp) {
    app.create_user_with_role("owner1@example.com", "Owner").await;
    app.create_user_with_role("owner2@example.com", "Owner").await;
    let member = app.create_user("member@example.com", json!({})).await;
    let operations = [
        json!([{"op": "replace", "path": platform_role_path(), "value": "Owner"}]),
        json!([{"op": "replace", "path": HUB_USER, "value": {"platformRole": "Owner"}}]),
        json!([{"op": "replace", "value": {HUB_USER: {"platformRole": "Owner"}}}]),
        json!([{"op": "replace", "value": {platform_role_path(): "owner"}}]),
    ];

    for operation in operations {
        let (status, error) = app.patch_user(id_of(&member), operation.clone()).await;

        assert_eq!(status, 409, "operations {operation} made a third Owner: {error}");
        assert_owner_limit(status, &error);
    }
    assert_eq!(platform_role_of(&app, id_of(&member)).await, json!("Member"), "rejected PATCH changed the role");
}

async fn deactivated_owner_frees_seat(app: TestApp) {
    app.create_user_with_role("owner1@example.com", "Owner").await;
    let second = app.create_user_with_role("owner2@example.com", "Owner").await;

    let (deactivate_status, deactivated) = deactivate(&app, id_of(&second)).await;
    let (status, third) = status_and_json(
        app.post(
            "/Users",
            &json!({"schemas": [CORE_USER], "userName": "owner3@example.com", HUB_USER: {"platformRole": "Owner"}}),
        )
        .await,
    )
    .await;

    assert_eq!(deactivate_status, 200, "deactivating one of two Owners failed: {deactivated}");
    assert_eq!(status, 201, "deactivated Owner still takes a seat: {third}");
}

async fn owner_reactivation_over_limit_rejected(app: TestApp) {
    app.create_user_with_role("owner1@example.com", "Owner").await;
    let second = app.create_user_with_role("owner2@example.com", "Owner").await;
    deactivate(&app, id_of(&second)).await;
    app.create_user_with_role("owner3@example.com", "Owner").await;

    let (patch_status, patch_error) = app
        .patch_user(id_of(&second), json!([{"op": "replace", "path": "active", "value": true}]))
        .await;
    let (pathless_status, pathless_error) = app
        .patch_user(id_of(&second), json!([{"op": "replace", "value": {"active": true}}]))
        .await;
    let put_body = json!({"schemas": [CORE_USER], "userName": "owner2@example.com", "active": true});
    let (put_status, put_error) = status_and_json(app.put(&user_path(&second), &put_body).await).await;
    let (_, fetched) = app.get_user(id_of(&second)).await;

    assert_owner_limit(patch_status, &patch_error);
    assert_owner_limit(pathless_status, &pathless_error);
    assert_owner_limit(put_status, &put_error);
    assert_eq!(fetched["active"], json!(false), "rejected reactivation changed the user: {fetched}");
    assert_eq!(fetched[HUB_USER]["platformRole"], json!("Owner"), "role changed: {fetched}");
}

async fn reactivation_with_demotion_allowed(app: TestApp) {
    app.create_user_with_role("owner1@example.com", "Owner").await;
    let second = app.create_user_with_role("owner2@example.com", "Owner").await;
    deactivate(&app, id_of(&second)).await;
    app.create_user_with_role("owner3@example.com", "Owner").await;

    let (status, patched) = app
        .patch_user(
            id_of(&second),
            json!([
                {"op": "replace", "path": "active", "value": true},
                {"op": "replace", "path": platform_role_path(), "value": "Admin"},
            ]),
        )
        .await;

    assert_eq!(status, 200, "reactivation as Admin rejected: {patched}");
    assert_eq!(patched["active"], json!(true), "user not reactivated: {patched}");
    assert_eq!(patched[HUB_USER]["platformRole"], json!("Admin"), "user not demoted: {patched}");
    assert_eq!(patched[HUB_USER]["status"], json!("Invited"), "previous status not restored: {patched}");
}

async fn deleted_owner_frees_seat(app: TestApp) {
    app.create_user_with_role("owner1@example.com", "Owner").await;
    let second = app.create_user_with_role("owner2@example.com", "Owner").await;

    let deleted = app.delete(&user_path(&second)).await.status().as_u16();
    let (status, third) = status_and_json(
        app.post(
            "/Users",
            &json!({"schemas": [CORE_USER], "userName": "owner3@example.com", HUB_USER: {"platformRole": "Owner"}}),
        )
        .await,
    )
    .await;

    assert_eq!(deleted, 204, "deleting one of two Owners failed");
    assert_eq!(status, 201, "deleted Owner still takes a seat: {third}");
}

async fn second_owner_demotion_allowed(app: TestApp) {
    app.create_user_with_role("owner1@example.com", "Owner").await;
    let second = app.create_user_with_role("owner2@example.com", "Owner").await;

    let (status, patched) = app
        .patch_user(id_of(&second), json!([{"op": "replace", "path": platform_role_path(), "value": "Admin"}]))
        .await;

    assert_eq!(status, 200, "demoting one of two Owners failed: {patched}");
    assert_eq!(patched[HUB_USER]["platformRole"], json!("Admin"), "Owner not demoted: {patched}");
    assert_eq!(patched["roles"][0]["value"], json!("Admin"), "roles still show Owner: {patched}");
}

async fn last_owner_demotion_rejected(app: TestApp) {
    let owner = app.create_user_with_role("owner@example.com", "Owner").await;
    app.create_user("member@example.com", json!({})).await;
    let operations = [
        json!([{"op": "replace", "path": platform_role_path(), "value": "Admin"}]),
        json!([{"op": "replace", "path": "roles", "value": [{"value": "Member", "primary": true}]}]),
        json!([{"op": "remove", "path": "roles"}]),
        json!([{"op": "Replace", "path": "roles[primary eq \"True\"].value", "value": "Viewer"}]),
    ];

    for operation in operations {
        let (status, error) = app.patch_user(id_of(&owner), operation.clone()).await;

        assert_eq!(status, 409, "operations {operation} demoted the last Owner: {error}");
        assert_last_owner(status, &error);
    }
    let put_body = json!({"schemas": [CORE_USER], "userName": "owner@example.com", HUB_USER: {"platformRole": "Member"}});
    let (put_status, put_error) = status_and_json(app.put(&user_path(&owner), &put_body).await).await;
    assert_last_owner(put_status, &put_error);
    assert_eq!(platform_role_of(&app, id_of(&owner)).await, json!("Owner"), "last Owner was demoted");
}

async fn last_owner_deactivation_rejected(app: TestApp) {
    let owner = app.create_user_with_role("owner@example.com", "Owner").await;

    let (patch_status, patch_error) = deactivate(&app, id_of(&owner)).await;
    let (legacy_status, legacy_error) = app
        .patch_user(id_of(&owner), json!([{"op": "Replace", "path": "active", "value": "False"}]))
        .await;
    let put_body = json!({"schemas": [CORE_USER], "userName": "owner@example.com", "active": false});
    let (put_status, put_error) = status_and_json(app.put(&user_path(&owner), &put_body).await).await;
    let (_, fetched) = app.get_user(id_of(&owner)).await;

    assert_last_owner(patch_status, &patch_error);
    assert_last_owner(legacy_status, &legacy_error);
    assert_last_owner(put_status, &put_error);
    assert_eq!(fetched["active"], json!(true), "last Owner was deactivated: {fetched}");
}

async fn last_owner_delete_rejected(app: TestApp) {
    let owner = app.create_user_with_role("owner@example.com", "Owner").await;

    let (status, error) = status_and_json(app.delete(&user_path(&owner)).await).await;
    let (get_status, fetched) = app.get_user(id_of(&owner)).await;

    assert_last_owner(status, &error);
    assert_eq!(get_status, 200, "last Owner was deleted: {fetched}");
    assert_eq!(fetched["active"], json!(true), "rejected DELETE deactivated the last Owner: {fetched}");
}

async fn last_active_owner_protected(app: TestApp) {
    let first = app.create_user_with_role("owner1@example.com", "Owner").await;
    let second = app.create_user_with_role("owner2@example.com", "Owner").await;
    deactivate(&app, id_of(&second)).await;

    let (demote_status, demote_error) = app
        .patch_user(id_of(&first), json!([{"op": "replace", "path": platform_role_path(), "value": "Admin"}]))
        .await;
    let (deactivate_status, deactivate_error) = deactivate(&app, id_of(&first)).await;
    let (delete_status, delete_error) = status_and_json(app.delete(&user_path(&first)).await).await;

    assert_last_owner(demote_status, &demote_error);
    assert_last_owner(deactivate_status, &deactivate_error);
    assert_last_owner(delete_status, &delete_error);
}

async fn deactivated_owner_may_be_deleted(app: TestApp) {
    app.create_user_with_role("owner1@example.com", "Owner").await;
    let second = app.create_user_with_role("owner2@example.com", "Owner").await;
    deactivate(&app, id_of(&second)).await;

    let deleted = app.delete(&user_path(&second)).await.status().as_u16();

    assert_eq!(deleted, 204, "deleting a deactivated Owner failed");
}

async fn concurrent_promotions_keep_two_owners(app: TestApp) {
    let mut ids = Vec::new();
    for index in 0..10 {
        let user = app.create_user(&format!("candidate{index}@example.com"), json!({})).await;
        ids.push(id_of(&user).to_string());
    }
    let body = patch_body(json!([{"op": "replace", "path": platform_role_path(), "value": "Owner"}]));

    let requests = ids.iter().map(|id| {
        let path = format!("/Users/{id}");
        let body = body.clone();
        let app = &app;
        async move { status_and_json(app.patch(&path, &body).await).await }
    });
    let results = join_all(requests).await;

    let accepted = results.iter().filter(|(status, _)| *status == 200).count();
    let rejected: Vec<&(u16, Value)> = results.iter().filter(|(status, _)| *status != 200).collect();
    assert_eq!(accepted, 2, "expected exactly two promotions to succeed: {results:?}");
    assert_eq!(rejected.len(), 8, "expected eight rejections: {results:?}");
    for (status, body) in rejected {
        assert_owner_limit(*status, body);
    }
    assert_eq!(count_owners_by_filter(&app).await, json!(2), "Owner filter does not count two Owners");
    let mut owners_read = 0;
    for id in &ids {
        if platform_role_of(&app, id).await == json!("Owner") {
            owners_read += 1;
        }
    }
    assert_eq!(owners_read, 2, "reading each user does not give two Owners");
}

async fn concurrent_owner_creates_keep_two(app: TestApp) {
    let requests = (0..10).map(|index| {
        let body = json!({
            "schemas": [CORE_USER],
            "userName": format!("racer{index}@example.com"),
            HUB_USER: {"platformRole": "Owner"},
        });
        let app = &app;
        async move { status_and_json(app.send_json(Method::POST, "/Users", &body).await).await }
    });
    let results = join_all(requests).await;

    let created = results.iter().filter(|(status, _)| *status == 201).count();
    let rejected: Vec<&(u16, Value)> = results.iter().filter(|(status, _)| *status != 201).collect();
    assert_eq!(created, 2, "expected exactly two Owners created: {results:?}");
    for (status, body) in rejected {
        assert_owner_limit(*status, body);
    }
    assert_eq!(count_owners_by_filter(&app).await, json!(2), "Owner filter does not count two Owners");
    let (_, all) = app.list_users(&[]).await;
    assert_eq!(all["totalResults"], json!(2), "rejected creates were stored: {all}");
}

async fn deactivated_owner_create_allowed(app: TestApp) {
    app.create_user_with_role("owner1@example.com", "Owner").await;
    app.create_user_with_role("owner2@example.com", "Owner").await;
    let body = json!({
        "schemas": [CORE_USER],
        "userName": "owner3@example.com",
        "active": false,
        HUB_USER: {"platformRole": "Owner"},
    });

    let (status, created) = status_and_json(app.post("/Users", &body).await).await;
    let (reactivate_status, reactivate_error) = app
        .patch_user(created["id"].as_str().unwrap_or_default(), json!([{"op": "replace", "path": "active", "value": true}]))
        .await;

    assert_eq!(status, 201, "a deactivated Owner was counted against the limit: {created}");
    assert_eq!(created[HUB_USER]["status"], json!("Deactivated"), "created Owner not deactivated: {created}");
    assert_owner_limit(reactivate_status, &reactivate_error);
}

async fn roles_without_primary_take_highest(app: TestApp) {
    let user = app
        .create_user(
            "several@example.com",
            json!({"roles": [{"value": "Viewer"}, {"value": "Admin"}, {"value": "Member"}]}),
        )
        .await;

    assert_eq!(user[HUB_USER]["platformRole"], json!("Admin"), "highest role not taken: {user}");
}

both_backends!(
    create_third_owner_by_extension_rejected,
    create_third_owner_by_roles_rejected,
    roles_win_over_platform_role,
    patch_both_role_forms_roles_win,
    put_third_owner_rejected,
    patch_roles_third_owner_rejected,
    patch_platform_role_third_owner_rejected,
    deactivated_owner_frees_seat,
    owner_reactivation_over_limit_rejected,
    reactivation_with_demotion_allowed,
    deleted_owner_frees_seat,
    second_owner_demotion_allowed,
    last_owner_demotion_rejected,
    last_owner_deactivation_rejected,
    last_owner_delete_rejected,
    last_active_owner_protected,
    deactivated_owner_may_be_deleted,
    concurrent_promotions_keep_two_owners,
    concurrent_owner_creates_keep_two,
    deactivated_owner_create_allowed,
    roles_without_primary_take_highest,
);
