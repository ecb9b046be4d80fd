//! The admin API: invitations, registration, user management, authorization, audit, tokens and
//! the OpenAPI description.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

/// Waits for the outbox to hold `count` mails to `recipient` and returns them, oldest first.
async fn outbox_mails(app: &TestApp, recipient: &str, count: usize) -> Vec<String> {
    let outbox = app.data_dir.join("outbox");
    let to_line = format!("To: {recipient}");
    for _ in 0..100 {
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&outbox)
            .map(|entries| entries.filter_map(|entry| entry.ok().map(|entry| entry.path())).collect())
            .unwrap_or_default();
        files.retain(|path| path.extension().is_some_and(|extension| extension == "eml"));
        files.sort();
        let mails: Vec<String> = files
            .iter()
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .filter(|mail| mail.lines().any(|line| line.starts_with(&to_line)))
            .collect();
        if mails.len() >= count {
            return mails;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the outbox did not receive {count} mails to {recipient} within 10 s");
}

/// Extracts the registration token from a mail.
fn link_token(mail: &str) -> String {
    let unfolded = mail.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
    let start = unfolded.find("token=").expect("no registration link in the mail") + "token=".len();
    unfolded[start..].chars().take_while(char::is_ascii_hexdigit).collect()
}

async fn register(app: &TestApp, token: &str) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/api/v1/registrations", app.base_url))
        .json(&json!({"token": token}))
        .send()
        .await
        .expect("request failed");
    status_and_json(response).await
}

fn invite(email: &str, role: &str) -> Value {
    json!({"email": email, "displayName": email.split('@').next().unwrap(), "role": role, "products": ["desk"]})
}

async fn invitation_registers_user(app: TestApp) {
    let (_, admin) = app.signed_in_user("admin@example.com", "Admin").await;

    let (status, created) = app.admin_json(Method::POST, "/invitations", &admin, Some(invite("new@example.com", "Member"))).await;
    let mails = outbox_mails(&app, "new@example.com", 1).await;
    let token = link_token(&mails[0]);
    let (registered_status, registered) = register(&app, &token).await;
    let (again_status, again) = register(&app, &token).await;

    assert_eq!(status, 201, "body: {created}");
    assert_eq!(created["user"]["status"], json!("Invited"));
    assert!(mails[0].contains("default"), "mail does not name the organization");
    assert!(mails[0].contains("admin@example.com"), "mail does not name the inviter");
    assert!(mails[0].contains("text/html"), "mail lacks the HTML part");
    assert!(mails[0].contains("text/plain"), "mail lacks the text part");
    assert_eq!(token.len(), 64);
    assert_eq!(registered_status, 201, "body: {registered}");
    assert_eq!(registered["user"]["status"], json!("Active"));
    assert_eq!(again_status, 410);
    assert_eq!(again["error"]["code"], json!("link_used"));
}

async fn invitation_link_expires_after_seven_days(app: TestApp) {
    let (_, admin) = app.signed_in_user("admin@example.com", "Admin").await;
    app.admin_json(Method::POST, "/invitations", &admin, Some(invite("late@example.com", "Member"))).await;
    let token = link_token(&outbox_mails(&app, "late@example.com", 1).await[0]);

    app.clock.advance(chrono::Duration::days(7) + chrono::Duration::seconds(1));
    let (status, body) = register(&app, &token).await;

    assert_eq!(status, 410);
    assert_eq!(body["error"]["code"], json!("link_expired"));
    assert!(body["error"]["message"].as_str().unwrap().contains("new invitation"), "body: {body}");
}

async fn resend_replaces_old_link(app: TestApp) {
    let (_, admin) = app.signed_in_user("admin@example.com", "Admin").await;
    let (_, created) = app.admin_json(Method::POST, "/invitations", &admin, Some(invite("again@example.com", "Member"))).await;
    let user_id = created["user"]["id"].as_str().unwrap().to_string();
    let old_token = link_token(&outbox_mails(&app, "again@example.com", 1).await[0]);

    app.clock.advance(chrono::Duration::days(8));
    let (status, resent) = app.admin_json(Method::POST, &format!("/users/{user_id}/invitation"), &admin, None).await;
    let mails = outbox_mails(&app, "again@example.com", 2).await;
    let new_token = link_token(&mails[1]);
    let (old_status, old_body) = register(&app, &old_token).await;
    let (new_status, _) = register(&app, &new_token).await;

    assert_eq!(status, 201, "body: {resent}");
    assert_ne!(old_token, new_token);
    assert_eq!(old_status, 410);
    assert_eq!(old_body["error"]["code"], json!("link_replaced"));
    assert_eq!(new_status, 201);
}

async fn unknown_link_rejected(app: TestApp) {
    let (status, body) = register(&app, "0000").await;

    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], json!("invalid_link"));
}

async fn bulk_invite_reports_each_entry(app: TestApp) {
    let (_, owner) = app.signed_in_user("owner@example.com", "Owner").await;
    let mut entries = vec![
        invite("second-owner@example.com", "Owner"),
        json!({"email": "not-an-address", "role": "Member"}),
        invite("third-owner@example.com", "Owner"),
    ];
    entries.extend((0..17).map(|index| invite(&format!("bulk{index}@example.com"), "Member")));

    let (status, body) = app.admin_json(Method::POST, "/invitations/bulk", &owner, Some(json!({"invitations": entries}))).await;
    let results = body["results"].as_array().unwrap();

    assert_eq!(status, 200, "body: {body}");
    assert_eq!(results.len(), 20);
    assert_eq!(results[0]["status"], json!(201), "the second Owner fits: {body}");
    assert_eq!(results[1]["status"], json!(400), "invalid address: {body}");
    assert_eq!(results[1]["error"]["code"], json!("invalid_value"));
    assert_eq!(results[2]["status"], json!(409), "a third Owner: {body}");
    assert_eq!(results[2]["error"]["code"], json!("owner_limit"));
    assert!(results[3..].iter().all(|result| result["status"] == json!(201)), "body: {body}");
    assert_eq!(body["created"], json!(18));
    assert_eq!(body["failed"], json!(2));
}

async fn bulk_invite_size_limited(app: TestApp) {
    let (_, admin) = app.signed_in_user("admin@example.com", "Admin").await;
    let entries: Vec<Value> = (0..21).map(|index| invite(&format!("many{index}@example.com"), "Member")).collect();

    let (status, body) = app.admin_json(Method::POST, "/invitations/bulk", &admin, Some(json!({"invitations": entries}))).await;

    assert_eq!(status, 400, "body: {body}");
}

async fn existing_user_reported_not_duplicated(app: TestApp) {
    let (_, admin) = app.signed_in_user("admin@example.com", "Admin").await;
    app.create_user("taken@example.com", json!({})).await;

    let (status, body) = app.admin_json(Method::POST, "/invitations", &admin, Some(invite("Taken@example.com", "Member"))).await;

    assert_eq!(status, 409, "body: {body}");
    assert_eq!(body["error"]["code"], json!("already_exists"));
}

async fn verified_domains_restrict_invitations(app: TestApp) {
    let (_, admin) = app.signed_in_user("admin@example.com", "Admin").await;
    let mut organization = default_organization(&app).await;
    organization.verified_domains = vec!["example.com".to_string()];
    hub::storage::organizations::update_settings(&mut app.store.db(), &organization).await.unwrap();

    let (status, body) = app.admin_json(Method::POST, "/invitations", &admin, Some(invite("someone@elsewhere.org", "Member"))).await;

    assert_eq!(status, 400, "body: {body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("verified domains"), "body: {body}");
}

async fn members_and_viewers_cannot_manage(app: TestApp) {
    let (_, member) = app.signed_in_user("member@example.com", "Member").await;
    let (_, viewer) = app.signed_in_user("viewer@example.com", "Viewer").await;
    let target = app.create_user("target@example.com", json!({})).await;
    let target_id = target["id"].as_str().unwrap();

    for token in [&member, &viewer] {
        let (list_status, list) = app.admin_json(Method::GET, "/users", token, None).await;
        let (invite_status, _) = app.admin_json(Method::POST, "/invitations", token, Some(invite("x@example.com", "Member"))).await;
        let (deactivate_status, _) = app.admin_json(Method::POST, &format!("/users/{target_id}/deactivate"), token, None).await;

        assert_eq!(list_status, 403, "body: {list}");
        assert_eq!(list["error"]["code"], json!("forbidden"));
        assert_eq!(invite_status, 403);
        assert_eq!(deactivate_status, 403);
    }
}

async fn only_owner_manages_owners(app: TestApp) {
    let (owner_id, owner) = app.signed_in_user("owner@example.com", "Owner").await;
    let (_, admin) = app.signed_in_user("admin@example.com", "Admin").await;
    let member = app.create_user("member@example.com", json!({})).await;
    let member_id = member["id"].as_str().unwrap();

    let (deactivate_status, _) = app.admin_json(Method::POST, &format!("/users/{owner_id}/deactivate"), &admin, None).await;
    let (promote_status, _) = app.admin_json(Method::PATCH, &format!("/users/{member_id}"), &admin, Some(json!({"role": "Owner"}))).await;
    let (invite_status, _) = app.admin_json(Method::POST, "/invitations", &admin, Some(invite("boss@example.com", "Owner"))).await;
    let (owner_promote_status, promoted) = app.admin_json(Method::PATCH, &format!("/users/{member_id}"), &owner, Some(json!({"role": "Owner"}))).await;

    assert_eq!(deactivate_status, 403);
    assert_eq!(promote_status, 403);
    assert_eq!(invite_status, 403);
    assert_eq!(owner_promote_status, 200, "body: {promoted}");
    assert_eq!(promoted["role"], json!("Owner"));
}

async fn missing_or_bad_session_unauthorized(app: TestApp) {
    let no_token = app.client.get(format!("{}/api/v1/users", app.base_url)).send().await.unwrap();
    let challenge = no_token.headers().get("www-authenticate").cloned();
    let (status, body) = status_and_json(no_token).await;
    let (bad_status, _) = app.admin_json(Method::GET, "/users", "not.a.jwt", None).await;

    assert_eq!(status, 401, "body: {body}");
    assert!(challenge.is_some());
    assert_eq!(bad_status, 401);
}

async fn deactivation_ends_sessions_at_once(app: TestApp) {
    let (_, owner) = app.signed_in_user("owner@example.com", "Owner").await;
    let (admin_id, admin) = app.signed_in_user("admin@example.com", "Admin").await;
    let (before, _) = app.admin_json(Method::GET, "/users", &admin, None).await;

    let (status, _) = app.admin_json(Method::POST, &format!("/users/{admin_id}/deactivate"), &owner, None).await;
    let (after, body) = app.admin_json(Method::GET, "/users", &admin, None).await;

    assert_eq!(before, 200);
    assert_eq!(status, 200);
    assert_eq!(after, 401, "body: {body}");
}

async fn reactivation_restores_role_and_products(app: TestApp) {
    let (_, owner) = app.signed_in_user("owner@example.com", "Owner").await;
    let target = app
        .create_user("worker@example.com", json!({HUB_USER: {"platformRole": "Admin", "productAccess": ["desk", "billing"]}}))
        .await;
    let target_id = target["id"].as_str().unwrap();
    app.set_status(target_id, hub::domain::user::Status::Active).await;

    let (_, deactivated) = app.admin_json(Method::POST, &format!("/users/{target_id}/deactivate"), &owner, None).await;
    let (_, reactivated) = app.admin_json(Method::POST, &format!("/users/{target_id}/reactivate"), &owner, None).await;

    assert_eq!(deactivated["status"], json!("Deactivated"));
    assert_eq!(deactivated["role"], json!("Admin"));
    assert_eq!(reactivated["status"], json!("Active"));
    assert_eq!(reactivated["role"], json!("Admin"));
    assert_eq!(reactivated["products"], json!(["billing", "desk"]));
}

async fn suspension_and_lift(app: TestApp) {
    let (_, admin) = app.signed_in_user("admin@example.com", "Admin").await;
    let (member_id, member) = app.signed_in_user("member@example.com", "Member").await;

    let (_, suspended) = app.admin_json(Method::POST, &format!("/users/{member_id}/suspend"), &admin, None).await;
    let (session_status, _) = app.admin_json(Method::GET, "/users", &member, None).await;
    let scim_enable = patch_body(json!([{"op": "replace", "path": "active", "value": true}]));
    let (_, after_scim) = status_and_json(app.patch(&format!("/Users/{member_id}"), &scim_enable).await).await;
    let (_, lifted) = app.admin_json(Method::POST, &format!("/users/{member_id}/lift-suspension"), &admin, None).await;

    assert_eq!(suspended["status"], json!("Suspended"));
    assert_eq!(session_status, 401);
    assert_eq!(after_scim[HUB_USER]["status"], json!("Suspended"), "SCIM active must not lift a suspension");
    assert_eq!(lifted["status"], json!("Active"));
}

async fn removal_needs_deactivation_and_shows_removed_user(app: TestApp) {
    let (_, admin) = app.signed_in_user("admin@example.com", "Admin").await;
    let target = app.create_user("leaver@example.com", json!({"displayName": "Leaver"})).await;
    let target_id = target["id"].as_str().unwrap();

    let (early_status, early) = app.admin_json(Method::POST, &format!("/users/{target_id}/remove"), &admin, None).await;
    app.admin_json(Method::POST, &format!("/users/{target_id}/deactivate"), &admin, None).await;
    let removed = app.admin(Method::DELETE, &format!("/users/{target_id}"), &admin).send().await.unwrap();
    let (get_status, _) = app.admin_json(Method::GET, &format!("/users/{target_id}"), &admin, None).await;
    let (_, audit) = app.admin_json(Method::GET, &format!("/audit?user={target_id}"), &admin, None).await;
    let again = app.create_user("leaver@example.com", json!({})).await;

    assert_eq!(early_status, 409, "body: {early}");
    assert_eq!(removed.status().as_u16(), 204);
    assert_eq!(get_status, 404);
    let entries = audit["entries"].as_array().unwrap();
    assert!(!entries.is_empty());
    assert!(entries.iter().all(|entry| entry["target"]["name"] == json!("Removed User")), "audit: {audit}");
    assert_eq!(entries[0]["action"], json!("user.removed"));
    assert_ne!(again["id"], target["id"]);
}

async fn user_list_filters_and_search(app: TestApp) {
    let (_, admin) = app.signed_in_user("admin@example.com", "Admin").await;
    app.create_user("ada@example.com", json!({"displayName": "Ada Lovelace", HUB_USER: {"productAccess": ["billing"]}})).await;
    app.create_user("alan@example.com", json!({"displayName": "Alan Turing", HUB_USER: {"platformRole": "Viewer"}})).await;

    let cases = [
        ("/users?search=lovelace", 1),
        ("/users?search=EXAMPLE.COM", 3),
        ("/users?role=Viewer", 1),
        ("/users?status=Invited", 2),
        ("/users?status=Active", 1),
        ("/users?product=billing", 1),
        ("/users?mfa=true", 0),
        ("/users?pageSize=2&page=2", 3),
    ];
    for (path, total) in cases {
        let (status, body) = app.admin_json(Method::GET, path, &admin, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["total"], json!(total), "{path}: {body}");
    }
    let (_, page) = app.admin_json(Method::GET, "/users?pageSize=2&page=2", &admin, None).await;
    assert_eq!(page["users"].as_array().unwrap().len(), 1);
    let (bad, _) = app.admin_json(Method::GET, "/users?status=Gone", &admin, None).await;
    assert_eq!(bad, 400);
}

async fn profile_edit_validates_timezone(app: TestApp) {
    let (_, admin) = app.signed_in_user("admin@example.com", "Admin").await;
    let target = app.create_user("edit@example.com", json!({})).await;
    let path = format!("/users/{}", target["id"].as_str().unwrap());

    let (status, edited) = app
        .admin_json(
            Method::PATCH,
            &path,
            &admin,
            Some(json!({"displayName": "Edited", "timezone": "Europe/Paris", "phone": "+33 1 23", "avatarUrl": "https://cdn.example.com/a.png"})),
        )
        .await;
    let (bad_status, bad) = app.admin_json(Method::PATCH, &path, &admin, Some(json!({"timezone": "Mars/Base"}))).await;

    assert_eq!(status, 200, "body: {edited}");
    assert_eq!(edited["displayName"], json!("Edited"));
    assert_eq!(edited["timezone"], json!("Europe/Paris"));
    assert_eq!(edited["phone"], json!("+33 1 23"));
    assert_eq!(edited["avatarUrl"], json!("https://cdn.example.com/a.png"));
    assert_eq!(bad_status, 400, "body: {bad}");
}

async fn group_grants_through_admin_api(app: TestApp) {
    let (_, admin) = app.signed_in_user("admin@example.com", "Admin").await;
    let member = app.create_user("member@example.com", json!({})).await;
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Billing", "members": [{"value": member["id"]}]});
    let (_, group) = status_and_json(app.post("/Groups", &body).await).await;
    let path = format!("/groups/{}/grants", group["id"].as_str().unwrap());

    let (status, grants) = app.admin_json(Method::PUT, &path, &admin, Some(json!({"role": "Admin", "products": ["billing"]}))).await;
    let (owner_status, _) = app.admin_json(Method::PUT, &path, &admin, Some(json!({"role": "Owner"}))).await;
    let (_, user) = app.admin_json(Method::GET, &format!("/users/{}", member["id"].as_str().unwrap()), &admin, None).await;

    assert_eq!(status, 200, "body: {grants}");
    assert_eq!(owner_status, 403);
    assert_eq!(user["effectiveRole"], json!("Admin"));
    assert_eq!(user["effectiveProducts"], json!(["billing"]));
}

async fn scim_tokens_managed(app: TestApp) {
    let (_, owner) = app.signed_in_user("owner@example.com", "Owner").await;
    let (_, admin) = app.signed_in_user("admin@example.com", "Admin").await;

    let (admin_status, refused) = app.admin_json(Method::POST, "/scim-tokens", &admin, Some(json!({"name": "Mine"}))).await;
    let (status, created) = app.admin_json(Method::POST, "/scim-tokens", &owner, Some(json!({"name": "Okta"}))).await;
    let admin = owner;
    let token = created["token"].as_str().unwrap().to_string();
    let works = app.client.get(format!("{}/Users", app.scim_url)).bearer_auth(&token).send().await.unwrap();
    let (_, listed) = app.admin_json(Method::GET, "/scim-tokens", &admin, None).await;
    let revoked = app.admin(Method::DELETE, &format!("/scim-tokens/{}", created["id"].as_str().unwrap()), &admin).send().await.unwrap();
    let after = app.client.get(format!("{}/Users", app.scim_url)).bearer_auth(&token).send().await.unwrap();

    assert_eq!(admin_status, 403, "body: {refused}");
    assert_eq!(status, 201);
    assert_eq!(works.status().as_u16(), 200);
    assert!(!listed.to_string().contains(&token), "the list must not show token values");
    assert_eq!(revoked.status().as_u16(), 204);
    assert_eq!(after.status().as_u16(), 401);
}

async fn audit_filters_by_actor_and_time(app: TestApp) {
    let (admin_id, admin) = app.signed_in_user("admin@example.com", "Admin").await;
    app.admin_json(Method::POST, "/invitations", &admin, Some(invite("audited@example.com", "Member"))).await;

    let (_, by_actor) = app.admin_json(Method::GET, &format!("/audit?actor={admin_id}"), &admin, None).await;
    let (_, future) = app.admin_json(Method::GET, "/audit?from=2999-01-01T00:00:00Z", &admin, None).await;
    let (bad, _) = app.admin_json(Method::GET, "/audit?from=yesterday", &admin, None).await;

    let actions: Vec<&str> = by_actor["entries"].as_array().unwrap().iter().map(|entry| entry["action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["user.invited"]);
    assert_eq!(by_actor["entries"][0]["actor"]["name"], json!("admin@example.com"));
    assert!(future["entries"].as_array().unwrap().is_empty());
    assert_eq!(bad, 400);
}

async fn scim_created_user_gets_invitation(app: TestApp) {
    let created = app
        .create_user("provisioned@example.com", json!({"emails": [{"value": "provisioned@example.com", "type": "work", "primary": true}]}))
        .await;

    let mails = outbox_mails(&app, "provisioned@example.com", 1).await;
    let token = link_token(&mails[0]);
    let (status, registered) = register(&app, &token).await;

    assert_eq!(status, 201, "body: {registered}");
    assert_eq!(registered["user"]["id"], created["id"]);
}

async fn sessions_never_cross_organizations(app: TestApp) {
    let (_, admin) = app.signed_in_user("admin@example.com", "Admin").await;
    let other_token = app.create_organization("other").await;
    let other_body = json!({"schemas": [CORE_USER], "userName": "stranger@other.example"});
    let other = app.send_json_with_token(&other_token, Method::POST, "/Users", &other_body).await;
    let (_, stranger) = status_and_json(other).await;
    let stranger_id = stranger["id"].as_str().unwrap();

    let (status, _) = app.admin_json(Method::GET, &format!("/users/{stranger_id}"), &admin, None).await;
    let (deactivate, _) = app.admin_json(Method::POST, &format!("/users/{stranger_id}/deactivate"), &admin, None).await;
    let (_, list) = app.admin_json(Method::GET, "/users?search=stranger", &admin, None).await;

    assert_eq!(status, 404);
    assert_eq!(deactivate, 404);
    assert_eq!(list["total"], json!(0));
}

async fn openapi_matches_routes(app: TestApp) {
    let (_, admin) = app.signed_in_user("admin@example.com", "Admin").await;
    let (status, document) = status_and_json(app.client.get(format!("{}/api/v1/openapi.json", app.base_url)).send().await.unwrap()).await;
    assert_eq!(status, 200);

    for (path, operations) in document["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            let concrete = path.replace("{id}", "00000000-0000-0000-0000-000000000000").replace("/api/v1", "");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = app
                .admin(method.clone(), &concrete, &admin)
                .header("Content-Type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let unknown_route = status == 405 || (status == 404 && body["error"]["message"].as_str().is_some_and(|message| message.starts_with("No admin API endpoint")));
            assert!(!unknown_route, "{method} {path} is documented but not routed (status {status}, body {body})");
        }
    }
}

async fn organization_settings_owner_only(app: TestApp) {
    let (_, owner) = app.signed_in_user("owner@example.com", "Owner").await;
    let (_, admin) = app.signed_in_user("admin@example.com", "Admin").await;

    let (admin_status, _) = app.admin_json(Method::PATCH, "/organization", &admin, Some(json!({"scimUsersActive": true}))).await;
    let (status, settings) = app
        .admin_json(Method::PATCH, "/organization", &owner, Some(json!({"scimUsersActive": true, "verifiedDomains": ["Example.com"]})))
        .await;
    let (bad_status, _) = app.admin_json(Method::PATCH, "/organization", &owner, Some(json!({"verifiedDomains": ["not a domain"]}))).await;
    let provisioned = app.create_user("direct@example.com", json!({})).await;

    assert_eq!(admin_status, 403);
    assert_eq!(status, 200, "body: {settings}");
    assert_eq!(settings["verifiedDomains"], json!(["example.com"]));
    assert_eq!(bad_status, 400);
    assert_eq!(provisioned[HUB_USER]["status"], json!("Active"), "provisioned users start Active: {provisioned}");
}

/// An email value that is not an address must not stop the invitation nor skip the
/// verified-domain check: the userName takes its place.
async fn invalid_email_invites_user_name(app: TestApp) {
    let (_, owner) = app.signed_in_user("owner@example.com", "Owner").await;
    let not_an_address = json!({"emails": [{"value": "not an address", "primary": true}]});
    let invited = app.create_user("ada@example.com", not_an_address.clone()).await;
    let path = format!("/users/{}/invitation", invited["id"].as_str().unwrap());
    let (invitation_status, invitation) = app.admin_json(Method::GET, &path, &owner, None).await;

    let (settings_status, _) = app.admin_json(Method::PATCH, "/organization", &owner, Some(json!({"verifiedDomains": ["example.com"]}))).await;
    let outsider = json!({"schemas": [CORE_USER], "userName": "eve@elsewhere.test", "emails": not_an_address["emails"]});
    let (outsider_status, outsider_body) = status_and_json(app.post("/Users", &outsider).await).await;
    let (listed_status, listed) = app.list_users(&[("filter", r#"userName eq "eve@elsewhere.test""#)]).await;

    assert_eq!(invitation_status, 200, "the userName receives the invitation: {invitation}");
    assert_eq!(settings_status, 200);
    assert_scim_error(outsider_status, &outsider_body, 400, Some("invalidValue"));
    assert!(outsider_body["detail"].as_str().unwrap().contains("elsewhere.test"), "{outsider_body}");
    assert_eq!(listed_status, 200);
    assert_eq!(listed["totalResults"], 0, "a refused create stores nothing");
}

async fn scim_deactivation_ends_sessions(app: TestApp) {
    let (member_id, member) = app.signed_in_user("member@example.com", "Member").await;
    let (before, _) = app.admin_json(Method::GET, &format!("/users/{member_id}"), &member, None).await;

    let off = patch_body(json!([{"op": "Replace", "path": "active", "value": "False"}]));
    app.patch(&format!("/Users/{member_id}"), &off).await;
    let on = patch_body(json!([{"op": "Replace", "path": "active", "value": "True"}]));
    app.patch(&format!("/Users/{member_id}"), &on).await;
    let (after, body) = app.admin_json(Method::GET, &format!("/users/{member_id}"), &member, None).await;

    assert_eq!(before, 403, "a Member reaches the API but may not manage users");
    assert_eq!(after, 401, "the old session must stay ended after reactivation: {body}");
}

async fn admin_errors_are_json(app: TestApp) {
    let (_, admin) = app.signed_in_user("admin@example.com", "Admin").await;

    let broken = app
        .admin(Method::POST, "/invitations", &admin)
        .header("Content-Type", "application/json")
        .body("{\"email\":")
        .send()
        .await
        .unwrap();
    let (broken_status, broken_body) = status_and_json(broken).await;
    let (unknown_status, unknown_body) = app.admin_json(Method::POST, "/invitations", &admin, Some(json!({"email": "a@example.com", "colour": "red"}))).await;
    let (method_status, method_body) = app.admin_json(Method::PUT, "/invitations", &admin, Some(json!({}))).await;

    assert_eq!(broken_status, 400);
    assert_eq!(broken_body["error"]["code"], json!("invalid_request"));
    assert_eq!(unknown_status, 400);
    assert!(unknown_body["error"]["message"].as_str().unwrap().contains("colour"), "body: {unknown_body}");
    assert_eq!(method_status, 405);
    assert_eq!(method_body["error"]["code"], json!("method_not_allowed"));
}

async fn admin_cannot_resend_owner_invitation(app: TestApp) {
    let (_, owner) = app.signed_in_user("owner@example.com", "Owner").await;
    let (_, admin) = app.signed_in_user("admin@example.com", "Admin").await;
    let (_, invited) = app.admin_json(Method::POST, "/invitations", &owner, Some(invite("boss@example.com", "Owner"))).await;
    let path = format!("/users/{}/invitation", invited["user"]["id"].as_str().unwrap());

    let (status, body) = app.admin_json(Method::POST, &path, &admin, None).await;

    assert_eq!(status, 403, "body: {body}");
}

async fn me_returns_session_user(app: TestApp) {
    let (member_id, member) = app.signed_in_user("me@example.com", "Member").await;
    let me = |token: &str| app.client.get(format!("{}/Me", app.scim_url)).bearer_auth(token).send();

    let (status, body) = status_and_json(me(&member).await.unwrap()).await;
    let (scim_status, scim_body) = status_and_json(me(&app.token).await.unwrap()).await;
    let (bad_status, bad_body) = status_and_json(me("nonsense").await.unwrap()).await;
    let patch = app
        .client
        .patch(format!("{}/Me", app.scim_url))
        .bearer_auth(&member)
        .header("Content-Type", "application/scim+json")
        .body(patch_body(json!([{"op": "replace", "path": "title", "value": "X"}])).to_string())
        .send()
        .await
        .unwrap();
    let (patch_status, patch_body) = status_and_json(patch).await;

    assert_eq!(status, 200, "body: {body}");
    assert_eq!(body["id"], json!(member_id));
    assert_eq!(body["userName"], json!("me@example.com"));
    assert_scim_error(scim_status, &scim_body, 501, None);
    assert_scim_error(bad_status, &bad_body, 401, None);
    assert_scim_error(patch_status, &patch_body, 501, None);
}

/// /Me is an alias of the user's resource: the attribute parameters and ETags work on it.
async fn me_honours_attributes_and_etags(app: TestApp) {
    let (member_id, member) = app.signed_in_user("me@example.com", "Member").await;
    let me = |query: &str, if_none_match: Option<&str>| {
        let mut request = app.client.get(format!("{}/Me{query}", app.scim_url)).bearer_auth(&member);
        if let Some(tag) = if_none_match {
            request = request.header("If-None-Match", tag);
        }
        request.send()
    };

    let full = me("", None).await.unwrap();
    let tag = header_text(&full, "etag").expect("/Me returns an ETag");
    let location = header_text(&full, "location");
    let (_, narrow) = status_and_json(me("?attributes=userName", None).await.unwrap()).await;
    let (_, without_meta) = status_and_json(me("?excludedAttributes=meta,emails", None).await.unwrap()).await;
    let unchanged = me("", Some(&tag)).await.unwrap();

    assert_eq!(location, Some(format!("{}/Users/{member_id}", app.scim_url)));
    let mut narrow_keys: Vec<&String> = narrow.as_object().unwrap().keys().collect();
    narrow_keys.sort();
    assert_eq!(narrow_keys, ["id", "schemas", "userName"], "{narrow}");
    assert!(without_meta.get("meta").is_none(), "{without_meta}");
    assert!(without_meta.get("emails").is_none(), "{without_meta}");
    assert_eq!(without_meta["userName"], json!("me@example.com"));
    assert_eq!(unchanged.status().as_u16(), 304);
}

both_backends!(
    me_returns_session_user,
    me_honours_attributes_and_etags,
    invalid_email_invites_user_name,
    scim_deactivation_ends_sessions,
    admin_errors_are_json,
    admin_cannot_resend_owner_invitation,
    organization_settings_owner_only,
    invitation_registers_user,
    invitation_link_expires_after_seven_days,
    resend_replaces_old_link,
    unknown_link_rejected,
    bulk_invite_reports_each_entry,
    bulk_invite_size_limited,
    existing_user_reported_not_duplicated,
    verified_domains_restrict_invitations,
    members_and_viewers_cannot_manage,
    only_owner_manages_owners,
    missing_or_bad_session_unauthorized,
    deactivation_ends_sessions_at_once,
    reactivation_restores_role_and_products,
    suspension_and_lift,
    removal_needs_deactivation_and_shows_removed_user,
    user_list_filters_and_search,
    profile_edit_validates_timezone,
    group_grants_through_admin_api,
    scim_tokens_managed,
    audit_filters_by_actor_and_time,
    scim_created_user_gets_invitation,
    sessions_never_cross_organizations,
    openapi_matches_routes,
);
