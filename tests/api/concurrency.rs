//! Concurrent writes: on SQLite they share group commits, on PostgreSQL they lock the
//! organization row. Either way, each request succeeds or fails alone, and Hub's rules hold
//! across requests that race.

use futures::future::join_all;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

fn user_body(user_name: &str, extra: Value) -> Value {
    let mut body = json!({"schemas": [CORE_USER], "userName": user_name});
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    body
}

/// Posts every body at once and returns the statuses in order.
async fn post_all(app: &TestApp, bodies: &[Value]) -> Vec<u16> {
    let requests = bodies.iter().map(|body| async move { app.post("/Users", body).await.status().as_u16() });
    join_all(requests).await
}

async fn racing_duplicates_fail_alone(app: TestApp) {
    let bodies: Vec<Value> = (0..30)
        .flat_map(|index| {
            let body = user_body(&format!("racer{index}@example.com"), json!({"displayName": format!("Racer {index}")}));
            [body.clone(), body]
        })
        .collect();

    let statuses = post_all(&app, &bodies).await;

    let created = statuses.iter().filter(|status| **status == 201).count();
    let conflicts = statuses.iter().filter(|status| **status == 409).count();
    assert_eq!(created, 30, "statuses: {statuses:?}");
    assert_eq!(conflicts, 30, "statuses: {statuses:?}");
    let (_, list) = app.list_users(&[("filter", r#"userName sw "racer""#), ("count", "100")]).await;
    assert_eq!(list["totalResults"], 30);
    for user in list_resources(&list) {
        let created_entries = app
            .audit_entries(user["id"].as_str().unwrap())
            .await
            .into_iter()
            .filter(|entry| entry.action == "user.created")
            .count();
        assert_eq!(created_entries, 1, "audit of {}", user["userName"]);
    }
}

async fn racing_owners_keep_the_limit(app: TestApp) {
    let bodies: Vec<Value> = (0..10)
        .map(|index| user_body(&format!("owner{index}@example.com"), json!({HUB_USER: {"platformRole": "Owner"}})))
        .collect();

    let statuses = post_all(&app, &bodies).await;

    let created = statuses.iter().filter(|status| **status == 201).count();
    assert_eq!(created, 2, "exactly two Owners fit: {statuses:?}");
    assert!(statuses.iter().all(|status| matches!(status, 201 | 409)), "statuses: {statuses:?}");
    let filter = format!("{HUB_USER}:platformRole eq \"Owner\"");
    let (_, list) = app.list_users(&[("filter", &filter)]).await;
    assert_eq!(list["totalResults"], 2);
}

async fn racing_patches_all_apply(app: TestApp) {
    let user = app.create_user("patched@example.com", json!({})).await;
    let id = user["id"].as_str().unwrap().to_string();
    let emails: Vec<String> = (0..20).map(|index| format!("p{index}@example.com")).collect();

    let requests = emails.iter().map(|email| {
        let operations = json!([{"op": "add", "path": "emails", "value": [{"value": email, "type": "other"}]}]);
        let id = id.clone();
        let app = &app;
        async move { app.patch_user(&id, operations).await.0 }
    });
    let statuses = join_all(requests).await;

    assert!(statuses.iter().all(|status| *status == 200), "statuses: {statuses:?}");
    let (_, stored) = app.get_user(&id).await;
    assert_eq!(stored["emails"].as_array().map(Vec::len), Some(20), "{stored}");
    for email in &emails {
        let (_, found) = app.list_users(&[("filter", &format!("emails.value eq \"{email}\""))]).await;
        assert_eq!(found["totalResults"], 1, "{email} is not in the email index");
    }
}

both_backends!(racing_duplicates_fail_alone, racing_owners_keep_the_limit, racing_patches_all_apply);

