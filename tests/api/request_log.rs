//! The SCIM request log: capture of Entra and Okta request sequences, errors with their Hub
//! rule, redaction, the bounded queue, retention, token health and tenant isolation.

use reqwest::Method;
use serde_json::{json, Value};

use hub::clock::Clock;

use crate::both_backends;
use crate::helpers::*;

const ENTRA_AGENT: &str = "Microsoft.AAD.Provisioning";
const OKTA_AGENT: &str = "Okta SCIM Client 1.0.0";

/// Sends a SCIM request as a provisioning client with a User-Agent and a request id.
async fn send_as(app: &TestApp, agent: &str, request_id: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = app
        .request(method, path)
        .header("User-Agent", agent)
        .header("client-request-id", request_id);
    if let Some(body) = body {
        request = request.header("Content-Type", "application/scim+json").body(body.to_string());
    }
    status_and_json(request.send().await.expect("request failed")).await
}

/// Reads log entries through the admin API after the queue is written, newest first.
async fn log_entries(app: &TestApp, session: &str, query: &str) -> Value {
    app.request_log.flush().await;
    let (status, body) = app.admin_json(Method::GET, &format!("/scim-requests{query}"), session, None).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Returns the entries carrying one of the request ids, oldest first.
async fn entries_for(app: &TestApp, session: &str, request_ids: &[String]) -> Vec<Value> {
    let body = log_entries(app, session, "?limit=200").await;
    let mut entries: Vec<Value> = body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| request_ids.iter().any(|id| entry["requestId"] == id.as_str()))
        .cloned()
        .collect();
    entries.reverse();
    entries
}

fn summary(entry: &Value) -> (String, String, u64) {
    (
        entry["action"].as_str().unwrap_or_default().to_string(),
        entry["target"].as_str().unwrap_or_default().to_string(),
        entry["status"].as_u64().unwrap_or_default(),
    )
}

async fn entra_sequence_logged(app: TestApp) {
    let (_, owner) = app.signed_in_user("owner@example.com", "Owner").await;
    let ids: Vec<String> = (0..7).map(|step| format!("entra-{step}-{}", uuid::Uuid::new_v4())).collect();

    let lookup = users_query(&[("filter", "userName eq \"ada@example.com\"")]);
    let (status, _) = send_as(&app, ENTRA_AGENT, &ids[0], Method::GET, &lookup, None).await;
    assert_eq!(status, 200);
    let create = json!({
        "schemas": [CORE_USER], "userName": "ada@example.com", "externalId": "ada-1", "active": true,
        "emails": [{"value": "ada@example.com", "type": "work", "primary": true}]
    });
    let (status, user) = send_as(&app, ENTRA_AGENT, &ids[1], Method::POST, "/Users", Some(create)).await;
    assert_eq!(status, 201, "{user}");
    let user_path = user_path(&user);
    let rename = patch_body(json!([{"op": "Replace", "path": "displayName", "value": "Ada Lovelace"}]));
    assert_eq!(send_as(&app, ENTRA_AGENT, &ids[2], Method::PATCH, &user_path, Some(rename)).await.0, 200);
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Engineering"});
    let (status, group) = send_as(&app, ENTRA_AGENT, &ids[3], Method::POST, "/Groups", Some(group)).await;
    assert_eq!(status, 201, "{group}");
    let group_path = format!("/Groups/{}", group["id"].as_str().unwrap());
    let add = patch_body(json!([{"op": "Add", "path": "members", "value": [{"value": user["id"], "$ref": null}]}]));
    assert_eq!(send_as(&app, ENTRA_AGENT, &ids[4], Method::PATCH, &group_path, Some(add)).await.0, 204);
    let disable = patch_body(json!([{"op": "Replace", "path": "active", "value": "False"}]));
    assert_eq!(send_as(&app, ENTRA_AGENT, &ids[5], Method::PATCH, &user_path, Some(disable)).await.0, 200);
    assert_eq!(send_as(&app, ENTRA_AGENT, &ids[6], Method::DELETE, &user_path, None).await.0, 204);

    let entries = entries_for(&app, &owner, &ids).await;
    let summaries: Vec<(String, String, u64)> = entries.iter().map(summary).collect();
    let expected = [
        ("lookup", "", 200),
        ("createUser", "ada@example.com", 201),
        ("updateUser", "ada@example.com", 200),
        ("createGroup", "Engineering", 201),
        ("addMembers", "Engineering", 204),
        ("deactivate", "ada@example.com", 200),
        ("deleteUser", "ada@example.com", 204),
    ];
    let expected: Vec<(String, String, u64)> = expected.iter().map(|(a, t, s)| (a.to_string(), t.to_string(), *s)).collect();
    assert_eq!(summaries, expected);

    for (entry, id) in entries.iter().zip(&ids) {
        assert_eq!(entry["requestId"], id.as_str());
        assert_eq!(entry["client"], "entra");
        assert_eq!(entry["userAgent"], ENTRA_AGENT);
        assert_eq!(entry["token"]["name"], "bootstrap");
        assert!(entry["detail"].is_null(), "{entry}");
        assert!(entry["durationMs"].as_f64().unwrap() >= 0.0);
    }
    assert_eq!(entries[0]["filter"], "userName eq \"ada@example.com\"");
    assert_eq!(entries[0]["path"], "/scim/v2/Users");
    assert_eq!(entries[1]["resourceId"], user["id"]);
    assert_eq!(entries[1]["resourceType"], "User");
    assert_eq!(entries[2]["operations"], json!([{"op": "Replace", "path": "displayName"}]), "ops keep the client's case");
    assert_eq!(entries[4]["operations"], json!([{"op": "Add", "path": "members"}]));
    assert_eq!(entries[4]["resourceType"], "Group");
    assert_eq!(entries[5]["operations"], json!([{"op": "Replace", "path": "active"}]));
    assert_eq!(entries[6]["resourceId"], user["id"]);
}

async fn okta_sequence_logged(app: TestApp) {
    let (_, owner) = app.signed_in_user("owner@example.com", "Owner").await;
    let ids: Vec<String> = (0..12).map(|step| format!("okta-{step}-{}", uuid::Uuid::new_v4())).collect();

    let lookup = users_query(&[("filter", "userName eq \"grace@example.com\""), ("startIndex", "1"), ("count", "100")]);
    assert_eq!(send_as(&app, OKTA_AGENT, &ids[0], Method::GET, &lookup, None).await.0, 200);
    let create = json!({
        "schemas": [CORE_USER], "userName": "grace@example.com", "externalId": "00u1", "locale": "en-US",
        "name": {"givenName": "Grace", "familyName": "Hopper"}, "active": true, "groups": [],
        "emails": [{"value": "grace@example.com", "primary": true, "type": "work"}],
        "password": "Okta-Initial-Password-1"
    });
    let (status, user) = send_as(&app, OKTA_AGENT, &ids[1], Method::POST, "/Users", Some(create)).await;
    assert_eq!(status, 201, "{user}");
    let user_path = user_path(&user);
    assert_eq!(send_as(&app, OKTA_AGENT, &ids[2], Method::GET, &user_path, None).await.0, 200);
    let replace = json!({
        "schemas": [CORE_USER], "id": user["id"], "userName": "grace@example.com", "externalId": "00u1",
        "name": {"givenName": "Grace", "familyName": "Brewster Hopper"}, "active": true,
        "emails": [{"value": "grace@example.com", "primary": true, "type": "work"}]
    });
    assert_eq!(send_as(&app, OKTA_AGENT, &ids[3], Method::PUT, &user_path, Some(replace)).await.0, 200);
    let promote = patch_body(json!([{"op": "replace", "path": format!("{HUB_USER}:platformRole"), "value": "Admin"}]));
    assert_eq!(send_as(&app, OKTA_AGENT, &ids[4], Method::PATCH, &user_path, Some(promote)).await.0, 200);
    let deactivate = patch_body(json!([{"op": "replace", "value": {"active": false}}]));
    assert_eq!(send_as(&app, OKTA_AGENT, &ids[5], Method::PATCH, &user_path, Some(deactivate)).await.0, 200);
    let reactivate = patch_body(json!([{"op": "replace", "value": {"active": true}}]));
    assert_eq!(send_as(&app, OKTA_AGENT, &ids[6], Method::PATCH, &user_path, Some(reactivate)).await.0, 200);
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Okta Admins", "members": []});
    let (status, group) = send_as(&app, OKTA_AGENT, &ids[7], Method::POST, "/Groups", Some(group)).await;
    assert_eq!(status, 201, "{group}");
    let group_path = format!("/Groups/{}", group["id"].as_str().unwrap());
    let add = patch_body(json!([{"op": "add", "path": "members", "value": [{"value": user["id"], "display": "grace@example.com"}]}]));
    assert_eq!(send_as(&app, OKTA_AGENT, &ids[8], Method::PATCH, &group_path, Some(add)).await.0, 204);
    let remove = patch_body(json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", user["id"].as_str().unwrap())}]));
    assert_eq!(send_as(&app, OKTA_AGENT, &ids[9], Method::PATCH, &group_path, Some(remove)).await.0, 204);
    assert_eq!(send_as(&app, OKTA_AGENT, &ids[10], Method::DELETE, &group_path, None).await.0, 204);
    let (status, missing) = send_as(&app, OKTA_AGENT, &ids[11], Method::GET, &group_path, None).await;
    assert_eq!(status, 404, "{missing}");

    let entries = entries_for(&app, &owner, &ids).await;
    let summaries: Vec<(String, String, u64)> = entries.iter().map(summary).collect();
    let expected = [
        ("lookup", "", 200),
        ("createUser", "grace@example.com", 201),
        ("lookup", "grace@example.com", 200),
        ("updateUser", "grace@example.com", 200),
        ("roleChange", "grace@example.com", 200),
        ("deactivate", "grace@example.com", 200),
        ("reactivate", "grace@example.com", 200),
        ("createGroup", "Okta Admins", 201),
        ("addMembers", "Okta Admins", 204),
        ("removeMembers", "Okta Admins", 204),
        ("deleteGroup", "Okta Admins", 204),
        ("lookup", "", 404),
    ];
    let expected: Vec<(String, String, u64)> = expected.iter().map(|(a, t, s)| (a.to_string(), t.to_string(), *s)).collect();
    assert_eq!(summaries, expected);
    assert!(entries.iter().all(|entry| entry["client"] == "okta"), "{entries:?}");
    assert_eq!(entries[0]["filter"], "userName eq \"grace@example.com\"");
    assert_eq!(entries[5]["operations"], json!([{"op": "replace", "path": "active"}]));
    assert!(entries[11]["detail"].as_str().unwrap().contains("not found"), "{}", entries[11]);
}

async fn failures_show_error_and_rule(app: TestApp) {
    let (_, owner) = app.signed_in_user("owner@example.com", "Owner").await;
    app.create_user("taken@example.com", json!({})).await;
    let ids: Vec<String> = (0..4).map(|step| format!("fail-{step}-{}", uuid::Uuid::new_v4())).collect();

    let duplicate = json!({"schemas": [CORE_USER], "userName": "taken@example.com"});
    assert_eq!(send_as(&app, ENTRA_AGENT, &ids[0], Method::POST, "/Users", Some(duplicate)).await.0, 409);

    app.create_user_with_role("second-owner@example.com", "Owner").await;
    let third = json!({"schemas": [CORE_USER], "userName": "third@example.com", HUB_USER: {"platformRole": "Owner"}});
    let (status, refused) = send_as(&app, ENTRA_AGENT, &ids[1], Method::POST, "/Users", Some(third)).await;
    assert_scim_error(status, &refused, 409, None);
    let refusal = refused["detail"].as_str().unwrap();
    assert!(refusal.starts_with("Owner limit:"), "{refusal}");
    assert!(refusal.contains("Demote or deactivate an Owner first"), "{refusal}");

    let (status, settings) = app
        .admin_json(Method::PATCH, "/organization", &owner, Some(json!({"verifiedDomains": ["example.com"]})))
        .await;
    assert_eq!(status, 200, "{settings}");
    let outsider = json!({"schemas": [CORE_USER], "userName": "eve@elsewhere.org", "emails": [{"value": "eve@elsewhere.org", "primary": true}]});
    let (status, refused) = send_as(&app, ENTRA_AGENT, &ids[2], Method::POST, "/Users", Some(outsider)).await;
    assert_scim_error(status, &refused, 400, Some("invalidValue"));
    assert!(refused["detail"].as_str().unwrap().contains("verified domains"), "{refused}");

    let bad_filter = users_query(&[("filter", "userName xx \"a\"")]);
    assert_eq!(send_as(&app, ENTRA_AGENT, &ids[3], Method::GET, &bad_filter, None).await.0, 400);

    let entries = entries_for(&app, &owner, &ids).await;
    assert_eq!(entries.len(), 4, "{entries:?}");
    assert_eq!(entries[0]["status"], 409);
    assert_eq!(entries[0]["scimType"], "uniqueness");
    assert!(entries[0]["detail"].as_str().unwrap().contains("taken@example.com"), "{}", entries[0]);
    assert_eq!(entries[0]["target"], "taken@example.com");
    assert!(entries[0]["rule"].is_null());

    assert_eq!(entries[1]["rule"], "owner_limit");
    assert_eq!(entries[1]["detail"], refusal);
    assert_eq!(entries[1]["action"], "createUser");
    assert_eq!(entries[1]["target"], "third@example.com");

    assert_eq!(entries[2]["rule"], "verified_domain");
    assert_eq!(entries[2]["scimType"], "invalidValue");
    assert!(entries[2]["detail"].as_str().unwrap().contains("add the domain"), "{}", entries[2]);

    assert_eq!(entries[3]["scimType"], "invalidFilter");
    assert_eq!(entries[3]["action"], "list");

    let client_errors = log_entries(&app, &owner, "?status=clientError&limit=200").await;
    let statuses: Vec<u64> = client_errors["entries"].as_array().unwrap().iter().map(|entry| entry["status"].as_u64().unwrap()).collect();
    assert!(statuses.len() >= 4, "{client_errors}");
    assert!(statuses.iter().all(|status| (400..500).contains(status)), "{statuses:?}");
    let ruled = log_entries(&app, &owner, "?action=createUser&status=clientError").await;
    assert_eq!(ruled["entries"].as_array().unwrap().len(), 3, "{ruled}");
}

async fn last_owner_rule_logged(app: TestApp) {
    let (owner_id, owner) = app.signed_in_user("owner@example.com", "Owner").await;
    let request_id = format!("last-owner-{}", uuid::Uuid::new_v4());

    let disable = patch_body(json!([{"op": "replace", "path": "active", "value": false}]));
    let (status, refused) = send_as(&app, ENTRA_AGENT, &request_id, Method::PATCH, &format!("/Users/{owner_id}"), Some(disable)).await;
    assert_scim_error(status, &refused, 409, None);
    assert!(refused["detail"].as_str().unwrap().starts_with("Last Owner:"), "{refused}");

    let entries = entries_for(&app, &owner, &[request_id]).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["action"], "deactivate");
    assert_eq!(entries[0]["target"], "owner@example.com", "a failed change still names its user");
    assert_eq!(entries[0]["rule"], "last_owner");
    assert!(entries[0]["detail"].as_str().unwrap().contains("Make another user an Owner first"), "{}", entries[0]);
}

/// The stored columns, pinned: a new column must be checked for secrets before it is added here.
const STORED_COLUMNS: [&str; 21] = [
    "seq", "org_id", "at", "token_id", "token_name", "client", "user_agent", "method", "path", "action", "resource_type",
    "resource_id", "target", "filter", "operations", "status", "scim_type", "detail", "rule", "duration_us", "request_id",
];

async fn stored_columns(app: &TestApp) -> Vec<String> {
    use sqlx::Row;
    let sql = match app.backend {
        Backend::Sqlite => "SELECT name FROM pragma_table_info('scim_request_log') ORDER BY cid",
        Backend::Postgres => {
            "SELECT CAST(column_name AS TEXT) AS name FROM information_schema.columns WHERE table_name = 'scim_request_log' ORDER BY ordinal_position"
        }
    };
    let rows = sqlx::query(sql).fetch_all(app.store.log_pool()).await.unwrap();
    rows.iter().map(|row| row.try_get::<String, _>("name").unwrap()).collect()
}

async fn secrets_never_stored(app: TestApp) {
    let (_, owner) = app.signed_in_user("owner@example.com", "Owner").await;
    assert_eq!(stored_columns(&app).await, STORED_COLUMNS);

    let marker = format!("SECRET-{}", uuid::Uuid::new_v4().simple());
    let request_id = format!("redaction-{}", uuid::Uuid::new_v4());
    let create = json!({"schemas": [CORE_USER], "userName": "okta@example.com", "password": format!("{marker}-1")});
    assert_eq!(send_as(&app, OKTA_AGENT, &request_id, Method::POST, "/Users", Some(create)).await.0, 201);
    let wrong_type = json!({"schemas": [CORE_USER], "userName": "other@example.com", "password": {"value": format!("{marker}-2")}});
    let (status, refused) = send_as(&app, OKTA_AGENT, &request_id, Method::POST, "/Users", Some(wrong_type)).await;
    assert_eq!(status, 400, "{refused}");
    assert!(!refused.to_string().contains(&marker), "{refused}");
    let password_filter = users_query(&[("filter", &format!("password eq \"{marker}-3\""))]);
    send_as(&app, OKTA_AGENT, &request_id, Method::GET, &password_filter, None).await;
    let broken_filter = users_query(&[("filter", &format!("password eq \"{marker}-5\" and ("))]);
    let (status, refused) = send_as(&app, OKTA_AGENT, &request_id, Method::GET, &broken_filter, None).await;
    assert_eq!(status, 400, "{refused}");
    assert!(!refused.to_string().contains(&marker), "{refused}");
    let reset = patch_body(json!([{"op": "replace", "value": {"password": format!("{marker}-4")}}]));
    let created = app.get(&users_query(&[("filter", "userName eq \"okta@example.com\"")])).await;
    let (_, list) = status_and_json(created).await;
    let path = user_path(&list_resources(&list)[0]);
    send_as(&app, OKTA_AGENT, &request_id, Method::PATCH, &path, Some(reset)).await;

    let entries = entries_for(&app, &owner, &[request_id]).await;
    assert_eq!(entries.len(), 5, "{entries:?}");
    let keys: Vec<String> = entries[0].as_object().unwrap().keys().cloned().collect();
    let mut expected_keys = vec![
        "action", "at", "client", "detail", "durationMs", "filter", "id", "method", "operations", "path", "requestId",
        "resourceId", "resourceType", "rule", "scimType", "status", "target", "token", "userAgent",
    ];
    expected_keys.sort();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort();
    assert_eq!(keys_sorted, expected_keys);
    let text = Value::Array(entries).to_string();
    assert!(!text.contains(&marker), "a password reached the log: {text}");
    assert!(!text.contains(&app.token), "the bearer token reached the log");
    assert!(!text.to_ascii_lowercase().contains("bearer"), "an Authorization header reached the log: {text}");
}

/// Fills a queue of two entries while the writer is held: every request still succeeds, and
/// each entry is either written or counted as dropped.
async fn full_queue_drops_without_failing(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &|config| config.request_log.queue_capacity = 2).await else { return };
    let (_, owner) = app.signed_in_user("owner@example.com", "Owner").await;
    let before = log_entries(&app, &owner, "?limit=200").await["entries"].as_array().unwrap().len();

    let hold = app.request_log.hold().await;
    for _ in 0..30 {
        assert_eq!(app.get("/Users?count=1").await.status().as_u16(), 200, "a full log queue must not fail requests");
    }
    drop(hold);

    let after = log_entries(&app, &owner, "?limit=200").await;
    let logged = after["entries"].as_array().unwrap().len() - before;
    let dropped = after["droppedEntries"].as_u64().unwrap();
    assert!(dropped > 0, "nothing was dropped: {after}");
    assert_eq!(logged as u64 + dropped, 30, "each request is either logged or counted as dropped");
    assert!(after["lastDroppedAt"].is_string());
    assert_eq!(app.request_log.dropped_total(), dropped);
}

async fn old_entries_purged(app: TestApp) {
    use hub::domain::request_log::{Action, Client, RequestEntry};
    let (_, owner) = app.signed_in_user("owner@example.com", "Owner").await;
    let org_id = default_org_id(&app).await;
    let entry = |days_old: i64, target: &str| RequestEntry {
        org_id: org_id.clone(),
        at: app.clock.now() - chrono::Duration::days(days_old),
        token_id: "t".into(),
        token_name: "old".into(),
        client: Client::Generic,
        user_agent: None,
        method: "GET".into(),
        path: "/scim/v2/Users".into(),
        action: Action::List,
        resource_type: Some("User"),
        resource_id: None,
        target: Some(target.into()),
        filter: None,
        operations: Vec::new(),
        status: 200,
        scim_type: None,
        detail: None,
        rule: None,
        duration_us: 1,
        request_id: "r".into(),
    };
    let batch = vec![entry(31, "expired-entry"), entry(29, "kept-entry")];
    hub::storage::request_log::insert_batch(&app.store, std::sync::Arc::new(batch)).await.unwrap();

    hub::service::request_log::purge(&app.store, app.clock.now() - chrono::Duration::days(30)).await;

    let body = log_entries(&app, &owner, "?limit=200").await;
    let targets: Vec<&str> = body["entries"].as_array().unwrap().iter().filter_map(|entry| entry["target"].as_str()).collect();
    assert!(targets.contains(&"kept-entry"), "{targets:?}");
    assert!(!targets.contains(&"expired-entry"), "{targets:?}");
}

async fn default_org_id(app: &TestApp) -> String {
    hub::storage::organizations::find_by_name(&mut app.store.db(), "default").await.unwrap().unwrap().id
}

async fn token_failures_logged_with_health(app: TestApp) {
    let (_, owner) = app.signed_in_user("owner@example.com", "Owner").await;
    let (status, expiring) = app
        .admin_json(Method::POST, "/scim-tokens", &owner, Some(json!({"name": "Entra expiring", "expiresInDays": 1})))
        .await;
    assert_eq!(status, 201, "{expiring}");
    let (_, revoked) = app.admin_json(Method::POST, "/scim-tokens", &owner, Some(json!({"name": "Okta old"}))).await;
    let expiring_token = expiring["token"].as_str().unwrap().to_string();
    let revoked_token = revoked["token"].as_str().unwrap().to_string();

    for _ in 0..3 {
        let response = app.request_with_token(&expiring_token, Method::GET, "/Users?count=1").send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
    }
    let response = app.request_with_token(&expiring_token, Method::GET, "/Users/missing").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let revoked_id = revoked["id"].as_str().unwrap();
    assert_eq!(app.admin_json(Method::DELETE, &format!("/scim-tokens/{revoked_id}"), &owner, None).await.0, 204);
    let response = app.request_with_token(&revoked_token, Method::GET, "/Users").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);

    app.request_log.flush().await;
    let (_, tokens) = app.admin_json(Method::GET, "/scim-tokens", &owner, None).await;
    let row = |id: &str| tokens["tokens"].as_array().unwrap().iter().find(|token| token["id"] == id).cloned().unwrap();
    let expiring_row = row(expiring["id"].as_str().unwrap());
    assert_eq!(expiring_row["requests24h"], 4, "{expiring_row}");
    assert_eq!(expiring_row["errors24h"], 1, "{expiring_row}");
    assert!(expiring_row["createdAt"].is_string());
    assert_eq!(row(revoked_id)["errors24h"], 1);

    app.clock.advance(chrono::Duration::days(2));
    let response = app.request_with_token(&expiring_token, Method::GET, "/Users").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);

    let failures = log_entries(&app, &owner, "?status=clientError").await;
    let entries = failures["entries"].as_array().unwrap();
    let expired = &entries[0];
    assert_eq!(expired["status"], 401);
    assert_eq!(expired["token"]["name"], "Entra expiring");
    assert!(expired["detail"].as_str().unwrap().contains("expired at"), "{expired}");
    let revoked_entry = entries.iter().find(|entry| entry["token"]["id"] == revoked_id).expect("the revoked token's 401 is logged");
    assert_eq!(revoked_entry["status"], 401);
    assert!(revoked_entry["detail"].as_str().unwrap().contains("revoked"), "{revoked_entry}");

    // The day has passed on the server's clock, so the counts are back to zero.
    let (_, tokens) = app.admin_json(Method::GET, "/scim-tokens", &owner, None).await;
    let fresh = tokens["tokens"].as_array().unwrap().iter().find(|token| token["id"] == expiring["id"]).cloned().unwrap();
    assert_eq!(fresh["requests24h"], 1, "{fresh}");
    assert_eq!(fresh["errors24h"], 1, "{fresh}");
}

async fn log_isolated_per_organization(app: TestApp) {
    let (_, owner) = app.signed_in_user("owner@example.com", "Owner").await;
    let other_token = app.create_organization("globex").await;
    let body = json!({"schemas": [CORE_USER], "userName": "globex-user@globex.com"});
    let response = app
        .request_with_token(&other_token, Method::POST, "/Users")
        .header("Content-Type", "application/scim+json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);

    let ours = log_entries(&app, &owner, "?limit=200").await;
    let text = ours.to_string();
    assert!(!text.contains("globex-user"), "another organization's request is visible: {text}");

    let other_org = hub::storage::organizations::find_by_name(&mut app.store.db(), "globex").await.unwrap().unwrap();
    let query = hub::storage::request_log::RequestQuery { limit: 10, ..Default::default() };
    let theirs = hub::storage::request_log::list(app.store.log_pool(), &other_org.id, &query).await.unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].target.as_deref(), Some("globex-user@globex.com"));
    let (status, _) = app.admin_json(Method::GET, &format!("/scim-requests/{}", theirs[0].seq), &owner, None).await;
    assert_eq!(status, 404, "one organization read another's entry by id");
}

async fn filters_and_cursor_paging(app: TestApp) {
    let (_, owner) = app.signed_in_user("owner@example.com", "Owner").await;
    let (_, member) = app.signed_in_user("member@example.com", "Member").await;
    // Entries carry the server's clock, which does not move by itself in tests. Move it so the range
    // below separates the users created next from the two created above.
    app.clock.advance(chrono::Duration::seconds(1));
    let started = hub::clock::format(app.clock.now());
    for index in 0..5 {
        app.create_user(&format!("page-{index}@example.com"), json!({})).await;
    }
    app.get("/Users/not-there").await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let query = match &cursor {
            Some(cursor) => format!("?action=createUser&limit=2&cursor={cursor}"),
            None => "?action=createUser&limit=2".to_string(),
        };
        let page = log_entries(&app, &owner, &query).await;
        for entry in page["entries"].as_array().unwrap() {
            seen.push(entry["target"].as_str().unwrap().to_string());
        }
        cursor = page["nextCursor"].as_str().map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    let page_users: Vec<&String> = seen.iter().filter(|name| name.starts_with("page-")).collect();
    let expected: Vec<String> = (0..5).rev().map(|index| format!("page-{index}@example.com")).collect();
    assert_eq!(page_users, expected.iter().collect::<Vec<_>>(), "newest first, each entry once");

    app.create_user("Élodie@example.com", json!({})).await;
    let accented = log_entries(&app, &owner, &format!("?target={}", encode_query_value("Élodie"))).await;
    assert_eq!(accented["entries"].as_array().unwrap().len(), 1, "{accented}");
    let found = log_entries(&app, &owner, "?target=PAGE-3").await;
    assert_eq!(found["entries"].as_array().unwrap().len(), 1, "{found}");
    let missing = log_entries(&app, &owner, "?target=not-there&status=clientError").await;
    assert_eq!(missing["entries"][0]["status"], 404, "{missing}");
    let token_id = missing["entries"][0]["token"]["id"].as_str().unwrap().to_string();
    let by_token = log_entries(&app, &owner, &format!("?token={token_id}&limit=200")).await;
    assert!(by_token["entries"].as_array().unwrap().len() >= 6);
    let none = log_entries(&app, &owner, "?token=no-such-token").await;
    assert!(none["entries"].as_array().unwrap().is_empty());
    let later = log_entries(&app, &owner, &format!("?from={}", encode_query_value("2999-01-01T00:00:00Z"))).await;
    assert!(later["entries"].as_array().unwrap().is_empty());
    let since_start = log_entries(&app, &owner, &format!("?from={}&action=createUser", encode_query_value(&started))).await;
    // The five page users and Élodie were created after the clock moved.
    assert_eq!(since_start["entries"].as_array().unwrap().len(), 6, "{since_start}");
    let success = log_entries(&app, &owner, "?status=success&limit=200").await;
    assert!(success["entries"].as_array().unwrap().iter().all(|entry| entry["status"].as_u64().unwrap() < 400));

    let one_id = found["entries"][0]["id"].as_str().unwrap();
    let (status, one) = app.admin_json(Method::GET, &format!("/scim-requests/{one_id}"), &owner, None).await;
    assert_eq!(status, 200);
    assert_eq!(one["target"], "page-3@example.com");

    let reversed = format!("?from={}&to={}", encode_query_value("2026-02-01T00:00:00Z"), encode_query_value("2026-01-01T00:00:00Z"));
    let bad_queries = ["?status=ok", "?action=explode", "?cursor=abc", "?cursor=-1", "?from=yesterday", "?limit=many", "?limit=0", "?limit=201", &reversed];
    for bad in bad_queries {
        let (status, body) = app.admin_json(Method::GET, &format!("/scim-requests{bad}"), &owner, None).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, _) = app.admin_json(Method::GET, "/scim-requests", &member, None).await;
    assert_eq!(status, 403, "a Member must not read the request log");
    let (status, _) = app.admin_json(Method::GET, "/scim-requests/999999", &owner, None).await;
    assert_eq!(status, 404);
}

async fn bulk_logged_with_operations(app: TestApp) {
    let (_, owner) = app.signed_in_user("owner@example.com", "Owner").await;
    let request_id = format!("bulk-{}", uuid::Uuid::new_v4());
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"schemas": [CORE_USER], "userName": "bulk-a@example.com"}},
            {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"schemas": [CORE_USER], "userName": "bulk-a@example.com"}},
            {"method": "POST", "path": "/Users", "bulkId": "c", "data": {"schemas": [CORE_USER], "userName": "owner-2@example.com", HUB_USER: {"platformRole": "Owner"}}},
            {"method": "POST", "path": "/Users", "bulkId": "d", "data": {"schemas": [CORE_USER], "userName": "owner-3@example.com", HUB_USER: {"platformRole": "Owner"}}}
        ]
    });
    let (status, _) = send_as(&app, "hr-sync/2.1", &request_id, Method::POST, "/Bulk", Some(body)).await;
    assert_eq!(status, 200);

    let entries = entries_for(&app, &owner, &[request_id]).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["action"], "bulk");
    assert_eq!(entries[0]["client"], "generic");
    let operations = entries[0]["operations"].as_array().unwrap();
    assert_eq!(operations.len(), 4);
    assert_eq!(operations[0]["op"], "POST");
    assert_eq!(operations[0]["status"], 201);
    assert_eq!(operations[1]["status"], 409);
    assert_eq!(operations[1]["scimType"], "uniqueness");
    assert!(operations[1]["rule"].is_null());
    assert_eq!(operations[2]["status"], 201);
    assert_eq!(operations[3]["status"], 409);
    assert_eq!(operations[3]["rule"], "owner_limit");
}

async fn unknown_paths_logged(app: TestApp) {
    let (_, owner) = app.signed_in_user("owner@example.com", "Owner").await;
    let request_ids: Vec<String> = (0..3).map(|step| format!("unknown-{step}-{}", uuid::Uuid::new_v4())).collect();

    assert_eq!(send_as(&app, ENTRA_AGENT, &request_ids[0], Method::GET, "/Nonexistent", None).await.0, 404);
    assert_eq!(send_as(&app, ENTRA_AGENT, &request_ids[1], Method::DELETE, "/ServiceProviderConfig", None).await.0, 405);
    assert_eq!(send_as(&app, ENTRA_AGENT, &request_ids[2], Method::GET, "/Me", None).await.0, 501);
    let response = app.client.get(format!("{}/Nonexistent", app.scim_url)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 404, "an unknown path stays 404 without a token");

    let entries = entries_for(&app, &owner, &request_ids).await;
    let summaries: Vec<(String, u64)> = entries
        .iter()
        .map(|entry| (entry["action"].as_str().unwrap().to_string(), entry["status"].as_u64().unwrap()))
        .collect();
    let expected = vec![("other".to_string(), 404), ("discovery".to_string(), 405), ("other".to_string(), 501)];
    assert_eq!(summaries, expected);
}

both_backends!(
    unknown_paths_logged,
    entra_sequence_logged,
    okta_sequence_logged,
    failures_show_error_and_rule,
    last_owner_rule_logged,
    secrets_never_stored,
    old_entries_purged,
    token_failures_logged_with_health,
    log_isolated_per_organization,
    filters_and_cursor_paging,
    bulk_logged_with_operations,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_drops_on_sqlite() {
    full_queue_drops_without_failing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_drops_on_postgres() {
    full_queue_drops_without_failing(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_purge_runs() {
    let app = spawn_app_with(Backend::Sqlite, &|config| {
        config.request_log.retention = chrono::Duration::days(1);
        config.request_log.purge_interval = std::time::Duration::from_millis(100);
    })
    .await
    .unwrap();
    app.get("/Users").await;
    app.request_log.flush().await;
    let org_id = default_org_id(&app).await;
    let query = hub::storage::request_log::RequestQuery { limit: 10, ..Default::default() };
    assert_eq!(hub::storage::request_log::list(app.store.log_pool(), &org_id, &query).await.unwrap().len(), 1);

    app.clock.advance(chrono::Duration::days(2));
    let mut remaining = 1;
    for _ in 0..50 {
        remaining = hub::storage::request_log::list(app.store.log_pool(), &org_id, &query).await.unwrap().len();
        if remaining == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(remaining, 0, "the purge task did not delete the expired entry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_log_records_nothing() {
    let app = spawn_app_with(Backend::Sqlite, &|config| config.request_log.enabled = false).await.unwrap();
    let (_, owner) = app.signed_in_user("owner@example.com", "Owner").await;
    app.get("/Users").await;
    let body = log_entries(&app, &owner, "").await;
    assert_eq!(body["entries"], json!([]));
}
