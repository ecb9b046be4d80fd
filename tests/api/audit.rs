//! Audit entries of SCIM writes: one entry per change with the token as actor, the request id,
//! and the state before and after.

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

use hub::storage::audit::AuditEntry;

fn parse_snapshot(text: Option<&str>) -> Value {
    text.map(|text| serde_json::from_str(text).expect("audit value is not JSON"))
        .unwrap_or(Value::Null)
}

async fn create_with_request_id(app: &TestApp, user_name: &str, request_id: &str) -> Value {
    let body = json!({"schemas": [CORE_USER], "userName": user_name, "displayName": "Audited"});
    let response = app
        .send_json_with_headers(Method::POST, "/Users", &body, &[("client-request-id", request_id)])
        .await;
    let (status, created) = status_and_json(response).await;
    assert_eq!(status, 201, "create failed: {created}");
    created
}

async fn patch_with_request_id(app: &TestApp, id: &str, operations: Value, request_id: &str) -> (u16, Value) {
    let response = app
        .send_json_with_headers(
            Method::PATCH,
            &format!("/Users/{id}"),
            &patch_body(operations),
            &[("client-request-id", request_id)],
        )
        .await;
    status_and_json(response).await
}

fn assert_token_actor(entry: &AuditEntry, token_id: &str) {
    assert_eq!(entry.actor_type, "scim_token", "actor type differs: {entry:?}");
    assert_eq!(entry.actor_id.as_deref(), Some(token_id), "actor is not the bootstrap token: {entry:?}");
    assert_eq!(entry.target_type, "user", "target type differs: {entry:?}");
}

async fn create_audited(app: TestApp) {
    let (_, token_id) = app.bootstrap_identity().await;

    let created = create_with_request_id(&app, "created@example.com", "req-create-1").await;
    let id = created["id"].as_str().unwrap();
    let entries = app.audit_entries(id).await;

    assert_eq!(entries.len(), 1, "expected one entry: {entries:?}");
    let entry = &entries[0];
    assert_eq!(entry.action, "user.created", "action differs: {entry:?}");
    assert_token_actor(entry, &token_id);
    assert_eq!(entry.request_id.as_deref(), Some("req-create-1"), "request id differs: {entry:?}");
    assert_eq!(entry.target_id, id, "target differs: {entry:?}");
    assert!(entry.before.is_none(), "a create has a before value: {entry:?}");
    let after = parse_snapshot(entry.after.as_deref());
    assert_eq!(after["status"], json!("Invited"), "after status differs: {after}");
    assert_eq!(after["role"], json!("Member"), "after role differs: {after}");
    assert_eq!(after["profile"]["userName"], json!("created@example.com"), "after profile differs: {after}");
}

async fn patch_audited(app: TestApp) {
    let (_, token_id) = app.bootstrap_identity().await;
    let created = create_with_request_id(&app, "patched@example.com", "req-create-2").await;
    let id = created["id"].as_str().unwrap();

    let (status, patched) = patch_with_request_id(
        &app,
        id,
        json!([{"op": "replace", "path": "displayName", "value": "Changed"}]),
        "req-patch-2",
    )
    .await;
    let entries = app.audit_entries(id).await;

    assert_eq!(status, 200, "PATCH failed: {patched}");
    assert_eq!(entries.len(), 2, "expected a create and an update entry: {entries:?}");
    let entry = &entries[1];
    assert_eq!(entry.action, "user.updated", "action differs: {entry:?}");
    assert_token_actor(entry, &token_id);
    assert_eq!(entry.request_id.as_deref(), Some("req-patch-2"), "request id differs: {entry:?}");
    let before = parse_snapshot(entry.before.as_deref());
    let after = parse_snapshot(entry.after.as_deref());
    assert_eq!(before["profile"]["displayName"], json!("Audited"), "before value differs: {before}");
    assert_eq!(after["profile"]["displayName"], json!("Changed"), "after value differs: {after}");
}

async fn deactivation_and_reactivation_audited(app: TestApp) {
    let created = create_with_request_id(&app, "toggled@example.com", "req-create-3").await;
    let id = created["id"].as_str().unwrap();

    patch_with_request_id(&app, id, json!([{"op": "replace", "path": "active", "value": false}]), "req-off-3").await;
    patch_with_request_id(&app, id, json!([{"op": "replace", "path": "active", "value": true}]), "req-on-3").await;
    let entries = app.audit_entries(id).await;

    let actions: Vec<&str> = entries.iter().map(|entry| entry.action.as_str()).collect();
    assert_eq!(actions, vec!["user.created", "user.deactivated", "user.reactivated"], "actions differ: {entries:?}");
    assert_eq!(entries[1].request_id.as_deref(), Some("req-off-3"), "deactivation request id: {:?}", entries[1]);
    assert_eq!(entries[2].request_id.as_deref(), Some("req-on-3"), "reactivation request id: {:?}", entries[2]);
    let before = parse_snapshot(entries[1].before.as_deref());
    let after = parse_snapshot(entries[1].after.as_deref());
    assert_eq!(before["status"], json!("Invited"), "deactivation before status: {before}");
    assert_eq!(after["status"], json!("Deactivated"), "deactivation after status: {after}");
    let restored = parse_snapshot(entries[2].after.as_deref());
    assert_eq!(restored["status"], json!("Invited"), "reactivation after status: {restored}");
}

async fn delete_audited_in_two_steps(app: TestApp) {
    let (_, token_id) = app.bootstrap_identity().await;
    let created = create_with_request_id(&app, "deleted@example.com", "req-create-4").await;
    let id = created["id"].as_str().unwrap();

    let response = app
        .request(Method::DELETE, &format!("/Users/{id}"))
        .header("client-request-id", "req-delete-4")
        .send()
        .await
        .unwrap();
    let entries = app.audit_entries(id).await;

    assert_eq!(response.status().as_u16(), 204, "DELETE failed");
    let actions: Vec<&str> = entries.iter().map(|entry| entry.action.as_str()).collect();
    assert_eq!(actions, vec!["user.created", "user.deactivated", "user.removed"], "actions differ: {entries:?}");
    for entry in &entries[1..] {
        assert_token_actor(entry, &token_id);
        assert_eq!(entry.request_id.as_deref(), Some("req-delete-4"), "request id differs: {entry:?}");
    }
    let deactivated_before = parse_snapshot(entries[1].before.as_deref());
    let deactivated_after = parse_snapshot(entries[1].after.as_deref());
    let removed_after = parse_snapshot(entries[2].after.as_deref());
    assert_eq!(deactivated_before["status"], json!("Invited"), "before status differs: {deactivated_before}");
    assert_eq!(deactivated_after["status"], json!("Deactivated"), "after status differs: {deactivated_after}");
    assert_eq!(entries[2].before, entries[1].after, "removal does not start from the deactivated state");
    assert_eq!(removed_after["removed"], json!(true), "removal not recorded: {removed_after}");
}

async fn delete_of_deactivated_user_audits_removal(app: TestApp) {
    let created = create_with_request_id(&app, "offdeleted@example.com", "req-create-5").await;
    let id = created["id"].as_str().unwrap();
    patch_with_request_id(&app, id, json!([{"op": "replace", "path": "active", "value": false}]), "req-off-5").await;

    app.delete(&format!("/Users/{id}")).await;
    let entries = app.audit_entries(id).await;

    let actions: Vec<&str> = entries.iter().map(|entry| entry.action.as_str()).collect();
    assert_eq!(actions, vec!["user.created", "user.deactivated", "user.removed"], "actions differ: {entries:?}");
}

async fn rejected_request_not_audited(app: TestApp) {
    let owner = app.create_user_with_role("owner@example.com", "Owner").await;
    let id = owner["id"].as_str().unwrap();

    let (status, error) = app.patch_user(id, json!([{"op": "replace", "path": "active", "value": false}])).await;
    let delete_status = app.delete(&user_path(&owner)).await.status().as_u16();
    let entries = app.audit_entries(id).await;

    assert_eq!(status, 409, "last Owner deactivated: {error}");
    assert_eq!(delete_status, 409, "last Owner deleted");
    assert_eq!(entries.len(), 1, "rejected requests left entries: {entries:?}");
}

async fn unchanged_patch_not_audited(app: TestApp) {
    let created = create_with_request_id(&app, "same@example.com", "req-create-6").await;
    let id = created["id"].as_str().unwrap();

    patch_with_request_id(&app, id, json!([{"op": "replace", "path": "displayName", "value": "Audited"}]), "req-same-6").await;
    let entries = app.audit_entries(id).await;

    assert_eq!(entries.len(), 1, "a PATCH that changed nothing was audited: {entries:?}");
}

async fn password_not_audited(app: TestApp) {
    let body = json!({"schemas": [CORE_USER], "userName": "secret@example.com", "password": "Never-Log-Me-42"});
    let (_, created) = status_and_json(app.post("/Users", &body).await).await;
    let id = created["id"].as_str().unwrap();
    let put = json!({"schemas": [CORE_USER], "userName": "secret@example.com", "password": "Never-Log-Me-43"});
    app.put(&format!("/Users/{id}"), &put).await;

    let entries = app.audit_entries(id).await;

    assert_eq!(entries.len(), 1, "a PUT that changed only the password was audited as a change: {entries:?}");
    for entry in &entries {
        let text = format!("{:?} {:?}", entry.before, entry.after);
        assert!(!text.contains("Never-Log-Me"), "password in the audit log: {entry:?}");
    }
}

async fn generated_request_id_recorded(app: TestApp) {
    let body = json!({"schemas": [CORE_USER], "userName": "generated@example.com"});

    let response = app.post("/Users", &body).await;
    let header = header_text(&response, "request-id");
    let (_, created) = status_and_json(response).await;
    let entries = app.audit_entries(created["id"].as_str().unwrap()).await;

    assert!(header.as_deref().is_some_and(|id| !id.is_empty()), "no request-id header");
    assert_eq!(entries[0].request_id, header, "audit request id differs from the request-id header: {entries:?}");
}

async fn unsafe_request_id_replaced(app: TestApp) {
    let unsafe_id = "bad id with spaces";
    let body = json!({"schemas": [CORE_USER], "userName": "unsafe@example.com"});

    let response = app
        .request(Method::POST, "/Users")
        .header("Content-Type", "application/scim+json")
        .header("client-request-id", unsafe_id)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let header = header_text(&response, "request-id");
    let (_, created) = status_and_json(response).await;
    let entries = app.audit_entries(created["id"].as_str().unwrap()).await;

    assert!(header.as_deref().is_some_and(|id| !id.is_empty() && id != unsafe_id), "unsafe request id echoed: {header:?}");
    assert_eq!(entries[0].request_id, header, "audit request id differs from the request-id header: {entries:?}");
}

both_backends!(
    create_audited,
    patch_audited,
    deactivation_and_reactivation_audited,
    delete_audited_in_two_steps,
    delete_of_deactivated_user_audits_removal,
    rejected_request_not_audited,
    unchanged_patch_not_audited,
    password_not_audited,
    generated_request_id_recorded,
    unsafe_request_id_replaced,
);
