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

/// Signs in an Owner of another organization: its SCIM token and a session token.
async fn other_owner(app: &TestApp) -> (String, String) {
    use hub::clock::Clock;

    let token = app.create_organization("other").await;
    let body = json!({"schemas": [CORE_USER, HUB_USER], "userName": "other-owner@example.com", HUB_USER: {"platformRole": "Owner"}});
    let (status, created) = request_as(app, &token, Method::POST, "/Users", Some(&body)).await;
    assert_eq!(status, 201, "{created}");
    let org_id = hub::service::tokens::verify(&app.store, &token).await.unwrap().unwrap().organization.id;
    let mut user = hub::storage::users::get(&mut app.store.db(), &org_id, created["id"].as_str().unwrap()).await.unwrap().unwrap();
    user.lifecycle = hub::domain::user::Lifecycle::new(hub::domain::user::Status::Active);
    hub::storage::users::update(&mut app.store.db(), &user).await.unwrap();
    let session = hub::service::sessions::create_session(&app.store, &app.session_keys, &user, chrono::Duration::hours(1), app.clock.now())
        .await
        .unwrap();
    (token, session)
}

/// Asserts a refusal that reveals nothing of the victim.
fn assert_hidden(what: &str, status: u16, body: &Value, secrets: &[&str]) {
    assert!(status == 404 || status == 401 || status == 400, "{what}: status {status}: {body}");
    let text = body.to_string();
    for secret in secrets {
        assert!(!text.contains(secret), "{what} leaks {secret}: {text}");
    }
}

async fn every_endpoint_hides_other_organizations(app: TestApp) {
    let victim = create_victim(&app).await;
    let victim_id = victim["id"].as_str().unwrap().to_string();
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Victim Group", "members": [{"value": victim_id}]});
    let (_, group) = status_and_json(app.post("/Groups", &group).await).await;
    let group_id = group["id"].as_str().unwrap().to_string();
    let (_, token_id) = app.bootstrap_identity().await;
    let secrets = ["victim@example.com", "Victim", "victim-ext"];
    let (token, session) = other_owner(&app).await;

    // SCIM, with the other organization's token.
    let group_path = format!("/Groups/{group_id}");
    let user_path = format!("/Users/{victim_id}");
    let replace_group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Taken"});
    let add_member = patch_body(json!([{"op": "add", "path": "members", "value": [{"value": victim_id}]}]));
    let scim_requests: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, group_path.clone(), None),
        (Method::PUT, group_path.clone(), Some(replace_group)),
        (Method::PATCH, group_path.clone(), Some(add_member.clone())),
        (Method::DELETE, group_path.clone(), None),
        (Method::GET, format!("{user_path}?attributes=userName"), None),
    ];
    for (method, path, body) in scim_requests {
        let (status, body) = request_as(&app, &token, method.clone(), &path, body.as_ref()).await;
        assert_hidden(&format!("{method} {path}"), status, &body, &secrets);
    }
    for (path, filter) in [
        ("/Groups", format!("id eq \"{group_id}\"")),
        ("/Groups", format!("members.value eq \"{victim_id}\"")),
        ("/Users", "userName sw \"victim\"".to_string()),
        ("/Users", format!("externalId eq \"victim-ext\" or id eq \"{victim_id}\"")),
    ] {
        let (status, list) = request_as(&app, &token, Method::GET, &format!("{path}?filter={}", encode_query_value(&filter)), None).await;
        assert_eq!(status, 200);
        assert_eq!(list["totalResults"], 0, "{path} {filter}: {list}");
    }
    let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": format!("id eq \"{victim_id}\" or id eq \"{group_id}\"")});
    let (status, list) = request_as(&app, &token, Method::POST, "/.search", Some(&search)).await;
    assert_eq!((status, list["totalResults"].as_i64()), (200, Some(0)), "{list}");
    let bulk = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "PATCH", "path": user_path, "data": patch_body(json!([{"op": "replace", "path": "active", "value": false}]))},
            {"method": "DELETE", "path": group_path},
        ]
    });
    let (status, results) = request_as(&app, &token, Method::POST, "/Bulk", Some(&bulk)).await;
    assert_eq!(status, 200, "{results}");
    for operation in results["Operations"].as_array().unwrap() {
        assert_eq!(operation["status"], "404", "{results}");
    }
    // The victim cannot be added to the other organization's own group either.
    let own = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Own", "members": [{"value": victim_id}]});
    let (status, body) = request_as(&app, &token, Method::POST, "/Groups", Some(&own)).await;
    assert_hidden("group with a foreign member", status, &body, &secrets);

    // The admin API, with a session of the other organization's Owner.
    let admin_requests: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/users/{victim_id}"), None),
        (Method::PATCH, format!("/users/{victim_id}"), Some(json!({"displayName": "x"}))),
        (Method::POST, format!("/users/{victim_id}/deactivate"), None),
        (Method::POST, format!("/users/{victim_id}/suspend"), None),
        (Method::DELETE, format!("/users/{victim_id}"), None),
        (Method::GET, format!("/users/{victim_id}/invitation"), None),
        (Method::POST, format!("/users/{victim_id}/invitation"), None),
        (Method::DELETE, format!("/users/{victim_id}/sign-in-link"), None),
        (Method::GET, format!("/groups/{group_id}/grants"), None),
        (Method::PUT, format!("/groups/{group_id}/grants"), Some(json!({"role": "Owner", "products": []}))),
        (Method::DELETE, format!("/scim-tokens/{token_id}"), None),
    ];
    for (method, path, body) in admin_requests {
        let (status, body) = app.admin_json(method.clone(), &path, &session, body).await;
        assert_hidden(&format!("admin {method} {path}"), status, &body["error"], &secrets);
    }
    let (status, users) = app.admin_json(Method::GET, "/users?search=victim", &session, None).await;
    assert_eq!((status, users["total"].as_i64()), (200, Some(0)), "{users}");
    let (status, audit) = app.admin_json(Method::GET, &format!("/audit?user={victim_id}"), &session, None).await;
    assert_eq!(status, 200);
    assert!(!audit.to_string().contains("victim"), "{audit}");

    // Nothing changed for the victim, and the victim's token still works.
    let (status, after) = app.get_user(&victim_id).await;
    assert_eq!(status, 200);
    assert_eq!(after["active"], true);
    assert_eq!(status_and_json(app.get(&format!("/Groups/{group_id}")).await).await.0, 200);
}

async fn audit_entries_cannot_be_changed(app: TestApp) {
    let (_, owner) = app.signed_in_user("owner@example.com", "Owner").await;
    let (status, audit) = app.admin_json(Method::GET, "/audit", &owner, None).await;
    assert_eq!(status, 200);
    let before = audit.to_string();
    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        let (status, _) = app.admin_json(method.clone(), "/audit", &owner, Some(json!({"entries": []}))).await;
        assert_eq!(status, 405, "{method} /audit");
        let (status, _) = app.admin_json(method.clone(), "/audit/1", &owner, Some(json!({}))).await;
        assert!(status == 404 || status == 405, "{method} /audit/1: {status}");
    }
    let (_, after) = app.admin_json(Method::GET, "/audit", &owner, None).await;
    assert_eq!(after.to_string(), before);
}

both_backends!(
    other_org_cannot_read_user,
    other_org_cannot_change_user,
    other_org_lists_nothing,
    same_user_name_in_other_org,
    owner_rules_per_organization,
    manager_from_other_org_rejected,
    every_endpoint_hides_other_organizations,
    audit_entries_cannot_be_changed,
);
