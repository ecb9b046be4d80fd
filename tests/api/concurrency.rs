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

/// Racing requests can find their work done by a request in the same SQLite batch whose
/// change is not committed yet. They must not respond before that change is committed,
/// because a crash could still undo the state they report. Each client reads back right after
/// its response and must see what the response reported. The race depends on timing. Without
/// the wait, about one round in ten showed it.
async fn answers_wait_for_the_changes_they_report(app: TestApp) {
    let created = app.create_user("settle@example.com", json!({"displayName": "v0"})).await;
    let path = user_path(&created);
    for round in 1..=30 {
        let name = format!("v{round}");
        let clients = (0..12).map(|_| {
            let (app, path, name) = (&app, &path, &name);
            async move {
                let operation = json!([{"op": "replace", "path": "displayName", "value": name}]);
                let (status, patched) = status_and_json(app.patch(path, &patch_body(operation)).await).await;
                let (_, read) = status_and_json(app.get(path).await).await;
                (status, patched["displayName"].clone(), read["displayName"].clone())
            }
        });
        for (status, reported, read) in join_all(clients).await {
            assert_eq!(status, 200, "round {round}");
            assert_eq!(reported, read, "round {round}: the answer reported a value the next read did not show");
        }
    }

    for round in 0..20 {
        let user = app.create_user(&format!("gone{round}@example.com"), json!({})).await;
        let path = user_path(&user);
        let clients = (0..12).map(|_| {
            let (app, path) = (&app, &path);
            async move {
                let deleted = app.delete(path).await.status().as_u16();
                let read = app.get(path).await.status().as_u16();
                (deleted, read)
            }
        });
        for (deleted, read) in join_all(clients).await {
            assert!(deleted == 204 || deleted == 404, "round {round}: DELETE answered {deleted}");
            assert_eq!(read, 404, "round {round}: DELETE answered {deleted}, yet the user was still there");
        }
    }
}

both_backends!(answers_wait_for_the_changes_they_report, racing_duplicates_fail_alone, racing_owners_keep_the_limit, racing_patches_all_apply);

