//! Organizations are isolated: a token of one organization can neither read nor change the
//! users of another, and uniqueness and the owner rules apply per organization.

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

async fn create_victim(app: &TestApp) -> Value {
    app.create_user(
        "victim@example.com",
        json!({"externalId": "victim-ext", "displayName": "Victim", HUB_USER: {"platformRole": "Owner"}}),
    )
    .await
}

async fn request_as(app: &TestApp, token: &str, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
    let response = match body {
        Some(body) => app.send_json_with_token(token, method, path, body).await,
        None => app.request_with_token(token, method, path).send().await.expect("request failed"),
    };
    status_and_json(response).await
}

async fn other_org_cannot_read_user(app: TestApp) {
    let victim = create_victim(&app).await;
    let token = app.create_organization("other").await;

    let (status, body) = request_as(&app, &token, Method::GET, &user_path(&victim), None).await;

    assert_scim_error(status, &body, 404, None);
}

async fn other_org_cannot_change_user(app: TestApp) {
    let victim = create_victim(&app).await;
    let token = app.create_organization("other").await;
    let (_, before) = app.get_user(victim["id"].as_str().unwrap()).await;
    let path = user_path(&victim);
    let put = json!({"schemas": [CORE_USER], "userName": "taken-over@example.com", "active": false});
    let patch = patch_body(json!([{"op": "replace", "path": "active", "value": false}]));

    let (put_status, put_error) = request_as(&app, &token, Method::PUT, &path, Some(&put)).await;
    let (patch_status, patch_error) = request_as(&app, &token, Method::PATCH, &path, Some(&patch)).await;
    let (delete_status, delete_error) = request_as(&app, &token, Method::DELETE, &path, None).await;
    let (after_status, after) = app.get_user(victim["id"].as_str().unwrap()).await;

    assert_scim_error(put_status, &put_error, 404, None);
    assert_scim_error(patch_status, &patch_error, 404, None);
    assert_scim_error(delete_status, &delete_error, 404, None);
    assert_eq!(after_status, 200, "user gone after another organization's DELETE: {after}");
    assert_eq!(after, before, "another organization's request changed the user");
}

async fn other_org_lists_nothing(app: TestApp) {
    let victim = create_victim(&app).await;
    let token = app.create_organization("other").await;
    let filters = [
        String::new(),
        format!("id eq \"{}\"", victim["id"].as_str().unwrap()),
        "userName eq \"victim@example.com\"".to_string(),
        "externalId eq \"victim-ext\"".to_string(),
        "userName pr".to_string(),
        "displayName co \"Victim\"".to_string(),
    ];

    for filter in filters {
        let path = if filter.is_empty() { "/Users".to_string() } else { users_query(&[("filter", &filter)]) };
        let (status, body) = request_as(&app, &token, Method::GET, &path, None).await;

        assert_eq!(status, 200, "GET {path} failed: {body}");
        assert_eq!(body["totalResults"], json!(0), "GET {path} shows another organization's user: {body}");
        assert!(list_resources(&body).is_empty(), "GET {path} returned resources: {body}");
    }
    let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName pr"});
    let (status, body) = request_as(&app, &token, Method::POST, "/Users/.search", Some(&search)).await;
    assert_eq!(status, 200, "search failed: {body}");
    assert_eq!(body["totalResults"], json!(0), "search shows another organization's user: {body}");
    let (root_status, root_body) = request_as(&app, &token, Method::POST, "/.search", Some(&search)).await;
    assert_eq!(root_status, 200, "root search failed: {root_body}");
    assert_eq!(root_body["totalResults"], json!(0), "root search shows another organization's user: {root_body}");
}

async fn same_user_name_in_other_org(app: TestApp) {
    let victim = create_victim(&app).await;
    let token = app.create_organization("other").await;
    let body = json!({"schemas": [CORE_USER], "userName": "VICTIM@example.com", "externalId": "victim-ext"});

    let (status, created) = request_as(&app, &token, Method::POST, "/Users", Some(&body)).await;
    let (_, own_list) = app.list_users(&[]).await;
    let (_, other_list) = request_as(&app, &token, Method::GET, "/Users", None).await;

    assert_eq!(status, 201, "userName of another organization blocked the create: {created}");
    assert_ne!(created["id"], victim["id"], "same id in two organizations: {created}");
    assert_eq!(own_list["totalResults"], json!(1), "first organization sees the other's user: {own_list}");
    assert_eq!(other_list["totalResults"], json!(1), "other organization's list differs: {other_list}");
    assert_eq!(other_list["Resources"][0]["id"], created["id"], "other organization lists a foreign user: {other_list}");
}

async fn owner_rules_per_organization(app: TestApp) {
    create_victim(&app).await;
    app.create_user_with_role("second.owner@example.com", "Owner").await;
    let token = app.create_organization("other").await;
    let body = json!({"schemas": [CORE_USER], "userName": "owner@other.example", HUB_USER: {"platformRole": "Owner"}});

    let (status, created) = request_as(&app, &token, Method::POST, "/Users", Some(&body)).await;

    assert_eq!(status, 201, "Owners of another organization counted: {created}");
}

async fn manager_from_other_org_rejected(app: TestApp) {
    let victim = create_victim(&app).await;
    let token = app.create_organization("other").await;
    let body = json!({
        "schemas": [CORE_USER, ENTERPRISE_USER],
        "userName": "report@other.example",
        ENTERPRISE_USER: {"manager": {"value": victim["id"]}},
    });

    let (status, error) = request_as(&app, &token, Method::POST, "/Users", Some(&body)).await;

    assert_scim_error(status, &error, 400, Some("invalidValue"));
}

both_backends!(
    other_org_cannot_read_user,
    other_org_cannot_change_user,
    other_org_lists_nothing,
    same_user_name_in_other_org,
    owner_rules_per_organization,
    manager_from_other_org_rejected,
);
