//! The basic User operations: create, read, replace, patch, delete and list.

use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

async fn create_returns_resource_and_location(app: TestApp) {
    let body = json!({
        "schemas": [CORE_USER],
        "userName": "bjensen@example.com",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
    });

    let response = app.post("/Users", &body).await;
    let location = response.headers().get("location").map(|value| value.to_str().unwrap().to_string());
    let etag = response.headers().get("etag").map(|value| value.to_str().unwrap().to_string());
    let (status, created) = status_and_json(response).await;

    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap();
    assert_eq!(location.as_deref(), Some(format!("{}/Users/{id}", app.scim_url).as_str()));
    assert_eq!(created["meta"]["location"].as_str(), location.as_deref());
    assert_eq!(etag.as_deref(), created["meta"]["version"].as_str());
    assert_eq!(created[HUB_USER]["status"], json!("Invited"));
    assert_eq!(created[HUB_USER]["platformRole"], json!("Member"));
    assert_eq!(created["active"], json!(true));
}

async fn get_after_delete_not_found(app: TestApp) {
    let created = app.create_user("gone@example.com", json!({})).await;
    let path = format!("/Users/{}", created["id"].as_str().unwrap());

    let deleted = app.delete(&path).await;
    let (status, body) = status_and_json(app.get(&path).await).await;

    assert_eq!(deleted.status().as_u16(), 204);
    assert_scim_error(status, &body, 404, None);
}

async fn deleted_user_name_reusable(app: TestApp) {
    let created = app.create_user("reuse@example.com", json!({})).await;
    app.delete(&format!("/Users/{}", created["id"].as_str().unwrap())).await;

    let again = app.create_user("Reuse@example.com", json!({})).await;

    assert_ne!(again["id"], created["id"]);
}

async fn list_pages_in_creation_order(app: TestApp) {
    for index in 0..5 {
        app.create_user(&format!("user{index}@example.com"), json!({})).await;
    }

    let (status, body) = status_and_json(app.get("/Users?startIndex=2&count=2").await).await;

    assert_eq!(status, 200);
    assert_eq!(body["totalResults"], json!(5));
    assert_eq!(body["startIndex"], json!(2));
    assert_eq!(body["itemsPerPage"], json!(2));
    assert_eq!(body["Resources"][0]["userName"], json!("user1@example.com"));
    assert_eq!(body["Resources"][1]["userName"], json!("user2@example.com"));
}

/// An update writes only the columns that changed; every column must still reach storage
/// when it does change, alone or with all the others.
async fn storage_update_writes_changed_columns(app: TestApp) {
    use hub::clock::Clock;
    use hub::domain::user::{Lifecycle, Role, Status};
    let created = app.create_user("columns@example.com", json!({"externalId": "ext-columns"})).await;
    let org = default_organization(&app).await;
    let id = created["id"].as_str().unwrap();
    let read = |app: &TestApp| {
        let store = app.store.clone();
        let org_id = org.id.clone();
        let id = id.to_string();
        async move { hub::storage::users::get(&mut store.db(), &org_id, &id).await.unwrap().unwrap() }
    };
    let write = |before: hub::domain::user::User, after: hub::domain::user::User| {
        let store = app.store.clone();
        let org_id = org.id.clone();
        async move {
            let mut tx = store.begin_write(&org_id).await.unwrap();
            hub::storage::users::update_from(&mut tx.db(), &before, &after).await.unwrap();
            tx.commit().await.unwrap();
        }
    };

    let before = read(&app).await;
    let mut renamed = before.clone();
    renamed.profile.insert("displayName".into(), json!("Only The Name"));
    renamed.version += 1;
    write(before, renamed.clone()).await;
    assert_eq!(read(&app).await, renamed);

    let mut everything = renamed.clone();
    everything.profile.insert("userName".into(), json!("renamed@example.com"));
    everything.profile.insert("externalId".into(), json!("ext-renamed"));
    everything.profile.insert("displayName".into(), json!("Every Column"));
    everything.lifecycle = Lifecycle::new(Status::Active).deactivate();
    everything.role = Role::Admin;
    everything.products = vec!["analytics".to_string()];
    everything.mfa_enabled = true;
    everything.mfa_methods = vec!["totp".to_string()];
    everything.last_login_at = Some(app.clock.now());
    everything.version += 1;
    everything.updated_at = app.clock.now() + chrono::Duration::seconds(5);
    write(renamed, everything.clone()).await;
    assert_eq!(read(&app).await, everything);
}

both_backends!(
    create_returns_resource_and_location,
    storage_update_writes_changed_columns,
    get_after_delete_not_found,
    deleted_user_name_reusable,
    list_pages_in_creation_order,
);
