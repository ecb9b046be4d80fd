//! The account lifecycle through SCIM: deactivation with `active=false`, reactivation that
//! restores what the user had, and DELETE that removes the user and frees its identifiers.

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

fn id_of(user: &Value) -> &str {
    user["id"].as_str().expect("the resource has no id")
}

async fn set_active(app: &TestApp, id: &str, active: bool) -> (u16, Value) {
    app.patch_user(id, json!([{"op": "replace", "path": "active", "value": active}])).await
}

async fn reactivation_restores_role_and_products(app: TestApp) {
    let user = app
        .create_user(
            "restore@example.com",
            json!({HUB_USER: {"platformRole": "Admin", "productAccess": ["desk", "billing"]}}),
        )
        .await;

    let (off_status, off) = set_active(&app, id_of(&user), false).await;
    let (on_status, on) = set_active(&app, id_of(&user), true).await;

    assert_eq!(user[HUB_USER]["productAccess"], json!(["billing", "desk"]), "products not stored sorted: {user}");
    assert_eq!(off_status, 200, "deactivation failed: {off}");
    assert_eq!(off["active"], json!(false), "user still active: {off}");
    assert_eq!(off[HUB_USER]["status"], json!("Deactivated"), "status not Deactivated: {off}");
    assert_eq!(on_status, 200, "reactivation failed: {on}");
    assert_eq!(on["active"], json!(true), "user not reactivated: {on}");
    assert_eq!(on[HUB_USER]["status"], json!("Invited"), "previous status not restored: {on}");
    assert_eq!(on[HUB_USER]["platformRole"], json!("Admin"), "role not restored: {on}");
    assert_eq!(on[HUB_USER]["productAccess"], json!(["billing", "desk"]), "products not restored: {on}");
    assert_eq!(on[HUB_USER]["effectiveRole"], json!("Admin"), "effective role not restored: {on}");
    assert_eq!(
        on[HUB_USER]["effectiveProductAccess"],
        json!(["billing", "desk"]),
        "effective products not restored: {on}"
    );
}

async fn reactivation_by_put_restores_status(app: TestApp) {
    let user = app.create_user_with_role("putback@example.com", "Viewer").await;
    let body = json!({"schemas": [CORE_USER], "userName": "putback@example.com", "active": false});
    let (off_status, off) = status_and_json(app.put(&user_path(&user), &body).await).await;

    let body = json!({"schemas": [CORE_USER], "userName": "putback@example.com", "active": true});
    let (on_status, on) = status_and_json(app.put(&user_path(&user), &body).await).await;

    assert_eq!(off_status, 200, "PUT with active false failed: {off}");
    assert_eq!(off[HUB_USER]["status"], json!("Deactivated"), "PUT did not deactivate: {off}");
    assert_eq!(on_status, 200, "PUT with active true failed: {on}");
    assert_eq!(on[HUB_USER]["status"], json!("Invited"), "PUT did not restore the status: {on}");
    assert_eq!(on[HUB_USER]["platformRole"], json!("Viewer"), "PUT without a role lost the role: {on}");
}

async fn repeated_deactivation_keeps_state(app: TestApp) {
    let user = app.create_user("twice@example.com", json!({})).await;
    let (_, first) = set_active(&app, id_of(&user), false).await;

    let (status, second) = set_active(&app, id_of(&user), false).await;
    let (_, restored) = set_active(&app, id_of(&user), true).await;

    assert_eq!(status, 200, "second deactivation failed: {second}");
    assert_eq!(second[HUB_USER]["status"], json!("Deactivated"), "status changed: {second}");
    assert_eq!(second["meta"]["version"], first["meta"]["version"], "repeated deactivation changed the version: {second}");
    assert_eq!(restored[HUB_USER]["status"], json!("Invited"), "status before deactivation lost: {restored}");
}

async fn delete_frees_user_name(app: TestApp) {
    let user = app.create_user("Casey@example.com", json!({})).await;
    let deleted = app.delete(&user_path(&user)).await.status().as_u16();

    let (status, again) = status_and_json(
        app.post("/Users", &json!({"schemas": [CORE_USER], "userName": "casey@EXAMPLE.com"})).await,
    )
    .await;

    assert_eq!(deleted, 204, "DELETE failed");
    assert_eq!(status, 201, "userName of a deleted user not reusable: {again}");
    assert_ne!(again["id"], user["id"], "new user reuses the old id: {again}");
    assert_eq!(again["userName"], json!("casey@EXAMPLE.com"), "userName differs: {again}");
}

async fn delete_frees_external_id(app: TestApp) {
    let user = app.create_user("ext.first@example.com", json!({"externalId": "E-100"})).await;
    app.delete(&user_path(&user)).await;

    let (status, again) = status_and_json(
        app.post(
            "/Users",
            &json!({"schemas": [CORE_USER], "userName": "ext.second@example.com", "externalId": "E-100"}),
        )
        .await,
    )
    .await;

    assert_eq!(status, 201, "externalId of a deleted user not reusable: {again}");
}

async fn deleted_id_stays_not_found(app: TestApp) {
    let user = app.create_user("tombstone@example.com", json!({})).await;
    let path = user_path(&user);
    app.delete(&path).await;
    app.create_user("tombstone@example.com", json!({})).await;

    let (get_status, get_body) = status_and_json(app.get(&path).await).await;
    let put_body = json!({"schemas": [CORE_USER], "userName": "tombstone@example.com"});
    let (put_status, put_error) = status_and_json(app.put(&path, &put_body).await).await;
    let (patch_status, patch_error) = app
        .patch_user(id_of(&user), json!([{"op": "replace", "path": "active", "value": true}]))
        .await;
    let (delete_status, delete_error) = status_and_json(app.delete(&path).await).await;
    let id_filter = format!("id eq \"{}\"", id_of(&user));
    let (_, found) = app.list_users(&[("filter", &id_filter)]).await;

    assert_scim_error(get_status, &get_body, 404, None);
    assert_scim_error(put_status, &put_error, 404, None);
    assert_scim_error(patch_status, &patch_error, 404, None);
    assert_scim_error(delete_status, &delete_error, 404, None);
    assert_eq!(found["totalResults"], json!(0), "deleted id found by filter: {found}");
}

async fn deactivated_users_listed(app: TestApp) {
    app.create_user("active1@example.com", json!({})).await;
    let inactive = app.create_user("inactive@example.com", json!({})).await;
    app.create_user("active2@example.com", json!({})).await;
    set_active(&app, id_of(&inactive), false).await;

    let (_, all) = app.list_users(&[]).await;
    let (_, inactive_list) = app.list_users(&[("filter", "active eq false")]).await;
    let (_, active_list) = app.list_users(&[("filter", "active eq true")]).await;
    let (_, by_name) = app.list_users(&[("filter", "userName eq \"inactive@example.com\"")]).await;

    assert_eq!(all["totalResults"], json!(3), "deactivated user missing from the list: {all}");
    assert_eq!(listed_user_names(&inactive_list), vec!["inactive@example.com"], "active eq false: {inactive_list}");
    assert_eq!(
        listed_user_names(&active_list),
        vec!["active1@example.com", "active2@example.com"],
        "active eq true: {active_list}"
    );
    assert_eq!(by_name["Resources"][0]["active"], json!(false), "filter shows the user active: {by_name}");
}

async fn deleted_users_not_listed(app: TestApp) {
    let kept = app.create_user("kept@example.com", json!({})).await;
    let removed = app.create_user("removed@example.com", json!({})).await;
    app.delete(&user_path(&removed)).await;

    let (_, all) = app.list_users(&[]).await;
    let (_, filtered) = app.list_users(&[("filter", "userName co \"@example.com\"")]).await;
    let (_, inactive) = app.list_users(&[("filter", "active eq false")]).await;

    assert_eq!(all["totalResults"], json!(1), "deleted user counted: {all}");
    assert_eq!(all["Resources"][0]["id"], kept["id"], "wrong user listed: {all}");
    assert_eq!(filtered["totalResults"], json!(1), "deleted user matched a filter: {filtered}");
    assert_eq!(inactive["totalResults"], json!(0), "deleted user listed as inactive: {inactive}");
}

async fn delete_deactivated_user(app: TestApp) {
    let user = app.create_user("offthendelete@example.com", json!({})).await;
    set_active(&app, id_of(&user), false).await;

    let deleted = app.delete(&user_path(&user)).await.status().as_u16();
    let (status, body) = app.get_user(id_of(&user)).await;

    assert_eq!(deleted, 204, "deleting a deactivated user failed");
    assert_scim_error(status, &body, 404, None);
}

fn read_only_hub_values() -> Value {
    json!({
        "status": "Active",
        "effectiveRole": "Owner",
        "effectiveProductAccess": ["desk"],
        "mfa": {"enabled": true, "methods": ["totp"]},
        "lastLogin": "2020-01-01T00:00:00Z",
    })
}

fn assert_hub_defaults(user: &Value, context: &str) {
    let hub = &user[HUB_USER];
    assert_eq!(hub["status"], json!("Invited"), "{context}: status was set: {user}");
    assert_eq!(hub["effectiveRole"], json!("Member"), "{context}: effectiveRole was set: {user}");
    assert_eq!(hub["effectiveProductAccess"], json!([]), "{context}: effectiveProductAccess was set: {user}");
    assert_eq!(hub["mfa"]["enabled"], json!(false), "{context}: mfa was set: {user}");
    assert!(hub.get("lastLogin").is_none(), "{context}: lastLogin was set: {user}");
}

async fn create_ignores_read_only_hub_values(app: TestApp) {
    let body = json!({"schemas": [CORE_USER, HUB_USER], "userName": "readonly@example.com", HUB_USER: read_only_hub_values()});

    let (status, created) = status_and_json(app.post("/Users", &body).await).await;

    assert_eq!(status, 201, "create with read-only Hub values failed: {created}");
    assert_hub_defaults(&created, "POST");
}

async fn put_ignores_read_only_hub_values(app: TestApp) {
    let user = app.create_user("readonly.put@example.com", json!({})).await;
    let body = json!({"schemas": [CORE_USER, HUB_USER], "userName": "readonly.put@example.com", HUB_USER: read_only_hub_values()});

    let (status, replaced) = status_and_json(app.put(&user_path(&user), &body).await).await;

    assert_eq!(status, 200, "PUT with read-only Hub values failed: {replaced}");
    assert_hub_defaults(&replaced, "PUT");
}

async fn deactivated_user_keeps_user_name(app: TestApp) {
    let user = app.create_user("held@example.com", json!({"externalId": "held-ext"})).await;
    set_active(&app, id_of(&user), false).await;

    let by_name = json!({"schemas": [CORE_USER], "userName": "HELD@example.com"});
    let (name_status, name_error) = status_and_json(app.post("/Users", &by_name).await).await;
    let by_external_id = json!({"schemas": [CORE_USER], "userName": "other@example.com", "externalId": "held-ext"});
    let (external_status, external_error) = status_and_json(app.post("/Users", &by_external_id).await).await;

    assert_scim_error(name_status, &name_error, 409, Some("uniqueness"));
    assert_scim_error(external_status, &external_error, 409, Some("uniqueness"));
}

both_backends!(
    reactivation_restores_role_and_products,
    reactivation_by_put_restores_status,
    repeated_deactivation_keeps_state,
    delete_frees_user_name,
    delete_frees_external_id,
    deleted_id_stays_not_found,
    deactivated_users_listed,
    deleted_users_not_listed,
    delete_deactivated_user,
    create_ignores_read_only_hub_values,
    put_ignores_read_only_hub_values,
    deactivated_user_keeps_user_name,
);
