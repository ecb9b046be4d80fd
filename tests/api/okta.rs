//! Request sequences that Okta's SCIM 2.0 provisioning sends, and the checks of Okta's
//! "SCIM 2.0 SPEC Test" suite. They cover lookups by userName with paging parameters, creates
//! with a password, duplicate creates, whole-user PUT and deactivation by a path-less PATCH.
//! They also check the shape of list and error responses.

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

/// Builds a create body as Okta sends it, with the attributes its SPEC test uses.
fn okta_user(user_name: &str, external_id: &str) -> Value {
    json!({
        "schemas": [CORE_USER],
        "userName": user_name,
        "name": {"givenName": "Morgan", "familyName": "Lee"},
        "emails": [{"primary": true, "value": user_name, "type": "work"}],
        "displayName": "Morgan Lee",
        "locale": "en-US",
        "externalId": external_id,
        "groups": [],
        "password": "1mP0ssible-To-Gue55",
        "active": true,
    })
}

fn lookup_parameters(user_name: &str) -> Vec<(&'static str, String)> {
    vec![
        ("filter", format!("userName eq \"{user_name}\"")),
        ("startIndex", "1".to_string()),
        ("count", "100".to_string()),
    ]
}

async fn lookup(app: &TestApp, user_name: &str) -> (u16, Value) {
    let parameters = lookup_parameters(user_name);
    let borrowed: Vec<(&str, &str)> = parameters.iter().map(|(name, value)| (*name, value.as_str())).collect();
    app.list_users(&borrowed).await
}

fn assert_list_counts_are_integers(body: &Value) {
    assert!(body["totalResults"].is_i64(), "totalResults is not an integer: {body}");
    assert!(body["startIndex"].is_i64(), "startIndex is not an integer: {body}");
    assert!(body["itemsPerPage"].is_i64(), "itemsPerPage is not an integer: {body}");
}

async fn lookup_empty_then_found(app: TestApp) {
    let user_name = "morgan.lee@okta.example";
    let (empty_status, empty) = lookup(&app, user_name).await;

    let created = app.post("/Users", &okta_user(user_name, "00u1abcd")).await;
    let (found_status, found) = lookup(&app, user_name).await;

    assert_eq!(empty_status, 200, "lookup failed: {empty}");
    assert_eq!(empty["totalResults"], json!(0), "user found before it was created: {empty}");
    assert_list_counts_are_integers(&empty);
    assert_eq!(created.status().as_u16(), 201, "create failed");
    assert_eq!(found_status, 200, "lookup failed: {found}");
    assert_eq!(found["totalResults"], json!(1), "created user not found: {found}");
    assert_eq!(found["startIndex"], json!(1), "startIndex differs: {found}");
    assert_eq!(found["itemsPerPage"], json!(1), "itemsPerPage differs: {found}");
    assert_list_counts_are_integers(&found);
    assert_eq!(found["Resources"][0]["userName"], json!(user_name), "another user found: {found}");
}

async fn create_hides_password(app: TestApp) {
    let user_name = "hidden.password@okta.example";

    let response = app
        .request(Method::POST, "/Users")
        .header("Content-Type", "application/scim+json; charset=utf-8")
        .header("Accept", "application/scim+json")
        .body(okta_user(user_name, "00u2password").to_string())
        .send()
        .await
        .unwrap();
    let (status, created) = status_and_json(response).await;
    let (_, fetched) = app.get_user(created["id"].as_str().unwrap_or_default()).await;
    let (_, listed) = app.list_users(&[]).await;

    assert_eq!(status, 201, "create failed: {created}");
    assert!(created.get("password").is_none(), "create response shows the password: {created}");
    assert!(fetched.get("password").is_none(), "GET shows the password: {fetched}");
    assert!(listed["Resources"][0].get("password").is_none(), "list shows the password: {listed}");
    assert!(!created.to_string().contains("1mP0ssible"), "password text in the response: {created}");
    assert_eq!(created["locale"], json!("en-US"), "locale not kept: {created}");
    assert_eq!(created["externalId"], json!("00u2password"), "externalId not kept: {created}");
    assert_eq!(created["active"], json!(true), "user not active: {created}");
    assert_eq!(created["name"]["givenName"], json!("Morgan"), "name not kept: {created}");
    assert_eq!(created["emails"][0]["value"], json!(user_name), "email not kept: {created}");
    assert!(created["id"].as_str().is_some_and(|id| !id.is_empty()), "no id: {created}");
}

async fn duplicate_create_conflicts(app: TestApp) {
    let user_name = "duplicate@okta.example";
    app.post("/Users", &okta_user(user_name, "00u3dup")).await;

    let (status, body) = status_and_json(app.post("/Users", &okta_user(user_name, "00u4dup")).await).await;
    let (_, found) = lookup(&app, user_name).await;

    assert_scim_error(status, &body, 409, Some("uniqueness"));
    assert_eq!(found["totalResults"], json!(1), "duplicate was stored: {found}");
}

async fn put_whole_user_updates_name(app: TestApp) {
    let (_, created) = status_and_json(app.post("/Users", &okta_user("put@okta.example", "00u5put")).await).await;
    let (_, mut user) = app.get_user(created["id"].as_str().unwrap()).await;
    user["name"] = json!({"givenName": "Morgana", "familyName": "Lee-Park"});
    user["password"] = json!("An0ther-Secret");

    let (status, replaced) = status_and_json(app.put(&user_path(&created), &user).await).await;
    let (_, fetched) = app.get_user(created["id"].as_str().unwrap()).await;

    assert_eq!(status, 200, "PUT of the fetched user failed: {replaced}");
    assert_eq!(replaced["name"], json!({"givenName": "Morgana", "familyName": "Lee-Park"}), "name not replaced: {replaced}");
    assert_eq!(fetched["name"], replaced["name"], "GET differs from the PUT response: {fetched}");
    assert_eq!(replaced["id"], created["id"], "id changed: {replaced}");
    assert_eq!(replaced["meta"]["version"], json!("W/\"2\""), "version not bumped once: {replaced}");
    assert_eq!(replaced[HUB_USER]["status"], json!("Invited"), "status changed: {replaced}");
    assert_eq!(replaced[HUB_USER]["platformRole"], json!("Member"), "role changed: {replaced}");
    assert!(replaced.get("password").is_none(), "PUT response shows the password: {replaced}");
}

async fn put_ignores_matching_id(app: TestApp) {
    let (_, created) = status_and_json(app.post("/Users", &okta_user("putid@okta.example", "00u6id")).await).await;
    let body = json!({
        "schemas": [CORE_USER],
        "id": created["id"],
        "userName": "putid@okta.example",
        "displayName": "Replaced",
        "active": true,
    });

    let (status, replaced) = status_and_json(app.put(&user_path(&created), &body).await).await;

    assert_eq!(status, 200, "PUT with the id in the body failed: {replaced}");
    assert_eq!(replaced["displayName"], json!("Replaced"), "displayName not replaced: {replaced}");
    assert!(replaced.get("emails").is_none(), "PUT kept an omitted attribute: {replaced}");
}

async fn pathless_replace_deactivates(app: TestApp) {
    let (_, created) = status_and_json(app.post("/Users", &okta_user("deactivate@okta.example", "00u7off")).await).await;
    let id = created["id"].as_str().unwrap();

    let (off_status, off) = app.patch_user(id, json!([{"op": "replace", "value": {"active": false}}])).await;
    let (_, fetched) = app.get_user(id).await;

    assert_eq!(off_status, 200, "deactivation failed: {off}");
    assert_eq!(off["active"], json!(false), "user still active: {off}");
    assert_eq!(fetched["active"], json!(false), "GET shows the user active: {fetched}");
    assert_eq!(fetched[HUB_USER]["status"], json!("Deactivated"), "status not Deactivated: {fetched}");

    let (on_status, on) = app
        .patch_user(id, json!([{"op": "replace", "value": {"id": id, "active": true}}]))
        .await;

    assert_eq!(on_status, 200, "reactivation with the id beside active failed: {on}");
    assert_eq!(on["active"], json!(true), "user not reactivated: {on}");
}

async fn upper_case_user_name_found(app: TestApp) {
    let user_name = "case.check@okta.example";
    let (_, created) = status_and_json(app.post("/Users", &okta_user(user_name, "00u8case")).await).await;

    let (status, found) = lookup(&app, &user_name.to_uppercase()).await;

    assert_eq!(status, 200, "lookup failed: {found}");
    assert_eq!(found["totalResults"], json!(1), "userName comparison is case-sensitive: {found}");
    assert_eq!(found["Resources"][0]["id"], created["id"], "another user found: {found}");
}

async fn unknown_id_returns_error(app: TestApp) {
    let id = uuid::Uuid::new_v4().to_string();

    let (status, body) = app.get_user(&id).await;

    assert_scim_error(status, &body, 404, None);
}

async fn first_listed_user_complete(app: TestApp) {
    app.post("/Users", &okta_user("first@okta.example", "00u9first")).await;
    app.post("/Users", &okta_user("second@okta.example", "00u9second")).await;

    let (status, body) = app.list_users(&[("count", "1"), ("startIndex", "1")]).await;
    let first = &body["Resources"][0];

    assert_eq!(status, 200, "list failed: {body}");
    assert_list_counts_are_integers(&body);
    assert_eq!(body["totalResults"], json!(2), "totalResults differs: {body}");
    assert_eq!(body["itemsPerPage"], json!(1), "count not applied: {body}");
    assert!(first["id"].is_string(), "first user has no id: {body}");
    assert_eq!(first["userName"], json!("first@okta.example"), "first user differs: {body}");
    assert!(first["name"]["givenName"].is_string(), "first user has no givenName: {body}");
    assert!(first["name"]["familyName"].is_string(), "first user has no familyName: {body}");
    assert!(first["active"].is_boolean(), "first user has no active flag: {body}");
    assert!(first["emails"][0]["value"].is_string(), "first user has no email: {body}");
}

both_backends!(
    lookup_empty_then_found,
    create_hides_password,
    duplicate_create_conflicts,
    put_whole_user_updates_name,
    put_ignores_matching_id,
    pathless_replace_deactivates,
    upper_case_user_name_found,
    unknown_id_returns_error,
    first_listed_user_complete,
);
