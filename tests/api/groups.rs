//! Groups: the forms Entra ID and Okta send, filters, grants and the owner rules through groups.

use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const HUB_GROUP: &str = "urn:hub:params:scim:schemas:extension:hub:2.0:Group";
const ENTRA_GROUP_SCHEMA: &str = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";

async fn create_group(app: &TestApp, name: &str, extra: Value) -> Value {
    let mut body = json!({"schemas": [CORE_GROUP], "displayName": name});
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    let (status, created) = status_and_json(app.post("/Groups", &body).await).await;
    assert_eq!(status, 201, "creating group {name} failed: {created}");
    created
}

fn id(resource: &Value) -> String {
    resource["id"].as_str().expect("resource without id").to_string()
}

async fn member_ids(app: &TestApp, group_id: &str) -> Vec<String> {
    let (status, group) = status_and_json(app.get(&format!("/Groups/{group_id}")).await).await;
    assert_eq!(status, 200, "reading group failed: {group}");
    group["members"]
        .as_array()
        .map(|members| members.iter().map(|member| member["value"].as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

async fn user_hub(app: &TestApp, user_id: &str) -> Value {
    let (status, user) = status_and_json(app.get(&format!("/Users/{user_id}")).await).await;
    assert_eq!(status, 200, "reading user failed: {user}");
    user[HUB_USER].clone()
}

async fn entra_group_create_ignores_extra_schema(app: TestApp) {
    let body = json!({
        "schemas": [CORE_GROUP, ENTRA_GROUP_SCHEMA],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "Group1DisplayName",
        "meta": {"resourceType": "Group"},
    });

    let response = app.post("/Groups", &body).await;
    let location = response.headers().get("location").cloned();
    let (status, created) = status_and_json(response).await;

    assert_eq!(status, 201, "body: {created}");
    assert!(location.is_some());
    assert_eq!(created["displayName"], json!("Group1DisplayName"));
    assert_eq!(created["externalId"], json!("8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"));
    assert!(created.get("members").is_none(), "empty group shows members: {created}");
}

async fn create_with_null_ref_members(app: TestApp) {
    let alice = app.create_user("alice@example.com", json!({})).await;
    let bob = app.create_user("bob@example.com", json!({})).await;

    let group = create_group(
        &app,
        "Sales",
        json!({"members": [{"$ref": null, "value": id(&alice)}, {"value": id(&bob), "display": "Bob"}]}),
    )
    .await;

    assert_eq!(member_ids(&app, &id(&group)).await, vec![id(&alice), id(&bob)]);
}

async fn display_name_unique_ignoring_case(app: TestApp) {
    create_group(&app, "Engineering", json!({})).await;

    let body = json!({"schemas": [CORE_GROUP], "displayName": "ENGINEERING"});
    let (status, error) = status_and_json(app.post("/Groups", &body).await).await;

    assert_scim_error(status, &error, 409, Some("uniqueness"));
}

async fn entra_patch_member_forms(app: TestApp) {
    let mut ids = Vec::new();
    for index in 0..4 {
        ids.push(id(&app.create_user(&format!("m{index}@example.com"), json!({})).await));
    }
    let group = create_group(&app, "Entra", json!({})).await;
    let path = format!("/Groups/{}", id(&group));

    let add = patch_body(json!([
        {"op": "Add", "path": "members", "value": [{"$ref": null, "value": ids[0]}, {"$ref": null, "value": ids[1]}, {"value": ids[2]}]}
    ]));
    let added = app.patch(&path, &add).await;
    assert_eq!(added.status().as_u16(), 204);
    assert_eq!(member_ids(&app, &id(&group)).await, ids[..3].to_vec());

    let remove_listed = patch_body(json!([{"op": "Remove", "path": "members", "value": [{"value": ids[0]}]}]));
    assert_eq!(app.patch(&path, &remove_listed).await.status().as_u16(), 204);
    assert_eq!(member_ids(&app, &id(&group)).await, ids[1..3].to_vec());

    let remove_filtered = patch_body(json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", ids[1])}]));
    assert_eq!(app.patch(&path, &remove_filtered).await.status().as_u16(), 204);
    assert_eq!(member_ids(&app, &id(&group)).await, vec![ids[2].clone()]);

    let rename_and_add = patch_body(json!([
        {"op": "Replace", "path": "displayName", "value": "Entra renamed"},
        {"op": "Replace", "path": "externalId", "value": "ext-entra"},
        {"op": "Add", "path": "members", "value": [{"value": ids[3]}]},
    ]));
    assert_eq!(app.patch(&path, &rename_and_add).await.status().as_u16(), 204);
    let (_, renamed) = status_and_json(app.get(&path).await).await;
    assert_eq!(renamed["displayName"], json!("Entra renamed"));
    assert_eq!(renamed["externalId"], json!("ext-entra"));
    assert_eq!(member_ids(&app, &id(&group)).await, vec![ids[2].clone(), ids[3].clone()]);
}

async fn adding_existing_member_is_noop(app: TestApp) {
    let alice = app.create_user("alice@example.com", json!({})).await;
    let group = create_group(&app, "G", json!({"members": [{"value": id(&alice)}]})).await;
    let path = format!("/Groups/{}", id(&group));

    let again = app.patch(&path, &patch_body(json!([{"op": "add", "path": "members", "value": {"value": id(&alice)}}]))).await;
    let absent = app
        .patch(&path, &patch_body(json!([{"op": "remove", "path": "members[value eq \"not-a-member\"]"}])))
        .await;

    assert_eq!(again.status().as_u16(), 204);
    assert_eq!(absent.status().as_u16(), 204);
    assert_eq!(member_ids(&app, &id(&group)).await, vec![id(&alice)]);
}

/// Checks that a member without a value is rejected in every form, so a PUT cannot drop the
/// members.
async fn member_without_value_rejected(app: TestApp) {
    let alice = app.create_user("alice@example.com", json!({})).await;
    let group = create_group(&app, "Kept", json!({"members": [{"value": id(&alice)}]})).await;
    let path = format!("/Groups/{}", id(&group));
    let valueless = json!([{"display": "x"}]);

    let (post_status, post_error) = status_and_json(app.post("/Groups", &json!({"schemas": [CORE_GROUP], "displayName": "New", "members": valueless})).await).await;
    let (put_status, put_error) = status_and_json(app.put(&path, &json!({"schemas": [CORE_GROUP], "displayName": "Kept", "members": valueless})).await).await;
    let empty_value = patch_body(json!([{"op": "add", "path": "members", "value": [{"value": ""}]}]));
    let (empty_status, empty_error) = status_and_json(app.patch(&path, &empty_value).await).await;
    let pathless = patch_body(json!([{"op": "add", "value": {format!("{CORE_GROUP}:members"): valueless}}]));
    let (pathless_status, pathless_error) = status_and_json(app.patch(&path, &pathless).await).await;
    let upper_case = patch_body(json!([{"op": "add", "path": "members", "value": [{"VALUE": id(&alice)}]}]));
    let upper_case_status = app.patch(&path, &upper_case).await.status().as_u16();

    assert_scim_error(post_status, &post_error, 400, Some("invalidValue"));
    assert_scim_error(put_status, &put_error, 400, Some("invalidValue"));
    assert_scim_error(empty_status, &empty_error, 400, Some("invalidValue"));
    assert_scim_error(pathless_status, &pathless_error, 400, Some("invalidValue"));
    assert_eq!(upper_case_status, 204, "attribute names match regardless of case");
    assert_eq!(member_ids(&app, &id(&group)).await, [id(&alice)]);
}

async fn unknown_member_rejected_whole(app: TestApp) {
    let alice = app.create_user("alice@example.com", json!({})).await;
    let group = create_group(&app, "G", json!({})).await;
    let path = format!("/Groups/{}", id(&group));
    let (_, before) = status_and_json(app.get(&path).await).await;

    let body = patch_body(json!([
        {"op": "replace", "path": "displayName", "value": "Changed"},
        {"op": "add", "path": "members", "value": [{"value": id(&alice)}, {"value": "no-such-user"}]},
    ]));
    let (status, error) = status_and_json(app.patch(&path, &body).await).await;
    let (_, after) = status_and_json(app.get(&path).await).await;

    assert_scim_error(status, &error, 400, Some("invalidValue"));
    assert!(error["detail"].as_str().unwrap().contains("no-such-user"), "detail: {error}");
    assert_eq!(after, before, "a failed PATCH changed the group");
}

async fn okta_push_forms(app: TestApp) {
    let alice = app.create_user("alice@example.com", json!({})).await;
    let bob = app.create_user("bob@example.com", json!({})).await;
    let body = json!({"schemas": [CORE_GROUP], "displayName": "Okta push", "members": []});
    let (status, group) = status_and_json(app.post("/Groups", &body).await).await;
    assert_eq!(status, 201, "body: {group}");
    let path = format!("/Groups/{}", id(&group));

    let rename = patch_body(json!([{"op": "replace", "value": {"id": id(&group), "displayName": "Okta renamed"}}]));
    assert_eq!(app.patch(&path, &rename).await.status().as_u16(), 204);

    let membership = patch_body(json!([
        {"op": "remove", "path": format!("members[value eq \"{}\"]", id(&bob))},
        {"op": "add", "path": "members", "value": [{"value": id(&alice), "display": "alice@example.com"}]},
    ]));
    assert_eq!(app.patch(&path, &membership).await.status().as_u16(), 204);
    assert_eq!(member_ids(&app, &id(&group)).await, vec![id(&alice)]);

    let replace = patch_body(json!([{"op": "replace", "path": "members", "value": [{"value": id(&bob)}]}]));
    assert_eq!(app.patch(&path, &replace).await.status().as_u16(), 204);
    assert_eq!(member_ids(&app, &id(&group)).await, vec![id(&bob)]);

    let clear = patch_body(json!([{"op": "remove", "path": "members"}]));
    assert_eq!(app.patch(&path, &clear).await.status().as_u16(), 204);
    assert!(member_ids(&app, &id(&group)).await.is_empty());

    let (_, renamed) = status_and_json(app.get(&path).await).await;
    assert_eq!(renamed["displayName"], json!("Okta renamed"));
    assert_eq!(app.delete(&path).await.status().as_u16(), 204);
    let (status, error) = status_and_json(app.get(&path).await).await;
    assert_scim_error(status, &error, 404, None);
}

async fn filters_and_excluded_members(app: TestApp) {
    let alice = app.create_user("alice@example.com", json!({})).await;
    let group = create_group(&app, "Finance", json!({"externalId": "fin-1", "members": [{"value": id(&alice)}]})).await;
    create_group(&app, "Legal", json!({})).await;

    let cases = [
        ("displayName%20eq%20%22finance%22", 1),
        ("externalId%20eq%20%22fin-1%22", 1),
        ("externalId%20eq%20%22FIN-1%22", 0),
        (&format!("members.value%20eq%20%22{}%22", id(&alice)) as &str, 1),
        (&format!("id%20eq%20%22{}%22", id(&group)) as &str, 1),
        ("displayName%20sw%20%22L%22", 1),
        ("displayName%20eq%20%226a4b1c2e-0000-0000-0000-000000000000%22", 0),
    ];
    for (filter, expected) in cases {
        let (status, body) = status_and_json(app.get(&format!("/Groups?filter={filter}")).await).await;
        assert_eq!(status, 200, "filter {filter}: {body}");
        assert_eq!(body["totalResults"], json!(expected), "filter {filter}: {body}");
    }

    let path = format!("/Groups?filter=displayName%20eq%20%22Finance%22&excludedAttributes=members");
    let (_, found) = status_and_json(app.get(&path).await).await;
    assert!(found["Resources"][0].get("members").is_none(), "members not excluded: {found}");
    let (_, one) = status_and_json(app.get(&format!("/Groups/{}?excludedAttributes=members", id(&group))).await).await;
    assert!(one.get("members").is_none(), "members not excluded: {one}");
    assert_eq!(one["displayName"], json!("Finance"));
}

async fn user_groups_attribute_lists_memberships(app: TestApp) {
    let alice = app.create_user("alice@example.com", json!({})).await;
    let group = create_group(&app, "Support", json!({"members": [{"value": id(&alice)}]})).await;

    let (_, user) = status_and_json(app.get(&format!("/Users/{}", id(&alice))).await).await;

    assert_eq!(user["groups"][0]["value"], json!(id(&group)));
    assert_eq!(user["groups"][0]["display"], json!("Support"));
    let read_only = patch_body(json!([{"op": "add", "path": "groups", "value": [{"value": id(&group)}]}]));
    let (status, error) = status_and_json(app.patch(&format!("/Users/{}", id(&alice)), &read_only).await).await;
    assert_scim_error(status, &error, 400, Some("mutability"));
}

/// Checks that a user's `groups` follow the groups' creation order, whatever order the
/// memberships were made in, on a read by id and in a list.
async fn user_groups_follow_group_creation_order(app: TestApp) {
    let alice = app.create_user("alice@example.com", json!({})).await;
    let mut groups = Vec::new();
    for name in ["First", "Second", "Third"] {
        groups.push(id(&create_group(&app, name, json!({})).await));
    }
    for group in groups.iter().rev() {
        let add = patch_body(json!([{"op": "add", "path": "members", "value": [{"value": id(&alice)}]}]));
        let (status, body) = status_and_json(app.patch(&format!("/Groups/{group}"), &add).await).await;
        assert!(status == 200 || status == 204, "adding alice failed: {status} {body}");
    }

    let (_, user) = status_and_json(app.get(&format!("/Users/{}", id(&alice))).await).await;
    let (_, list) = status_and_json(app.get("/Users?filter=userName%20eq%20%22alice@example.com%22").await).await;

    for groups_attribute in [&user["groups"], &list["Resources"][0]["groups"]] {
        let read: Vec<&str> = groups_attribute.as_array().unwrap().iter().map(|group| group["value"].as_str().unwrap()).collect();
        assert_eq!(read, groups, "groups out of creation order: {groups_attribute}");
    }
}

async fn grants_set_effective_access(app: TestApp) {
    let alice = app.create_user("alice@example.com", json!({HUB_USER: {"platformRole": "Viewer", "productAccess": ["desk"]}})).await;
    let group = create_group(
        &app,
        "Admins",
        json!({HUB_GROUP: {"platformRole": "Admin", "productAccess": ["billing"]}, "members": [{"value": id(&alice)}]}),
    )
    .await;

    let hub = user_hub(&app, &id(&alice)).await;
    assert_eq!(hub["platformRole"], json!("Viewer"));
    assert_eq!(hub["effectiveRole"], json!("Admin"));
    assert_eq!(hub["effectiveProductAccess"], json!(["billing", "desk"]));

    let revoke = patch_body(json!([{"op": "remove", "path": format!("{HUB_GROUP}:platformRole")}]));
    assert_eq!(app.patch(&format!("/Groups/{}", id(&group)), &revoke).await.status().as_u16(), 204);
    let hub = user_hub(&app, &id(&alice)).await;
    assert_eq!(hub["effectiveRole"], json!("Viewer"));
}

async fn owner_limit_through_group_members(app: TestApp) {
    app.create_user_with_role("owner1@example.com", "Owner").await;
    let owners = create_group(&app, "Owners", json!({HUB_GROUP: {"platformRole": "Owner"}})).await;
    let second = app.create_user("second@example.com", json!({})).await;
    let third = app.create_user("third@example.com", json!({})).await;
    let path = format!("/Groups/{}", id(&owners));

    let add_second = patch_body(json!([{"op": "add", "path": "members", "value": [{"value": id(&second)}]}]));
    assert_eq!(app.patch(&path, &add_second).await.status().as_u16(), 204);
    let add_third = patch_body(json!([{"op": "add", "path": "members", "value": [{"value": id(&third)}]}]));
    let (status, error) = status_and_json(app.patch(&path, &add_third).await).await;

    assert_scim_error(status, &error, 409, None);
    assert!(error["detail"].as_str().unwrap().starts_with("Owner limit"), "detail: {error}");
    assert_eq!(member_ids(&app, &id(&owners)).await, vec![id(&second)]);
    assert_eq!(user_hub(&app, &id(&third)).await["effectiveRole"], json!("Member"));
}

async fn owner_grant_on_full_group_rejected(app: TestApp) {
    app.create_user_with_role("owner1@example.com", "Owner").await;
    app.create_user_with_role("owner2@example.com", "Owner").await;
    let member = app.create_user("member@example.com", json!({})).await;
    let group = create_group(&app, "Staff", json!({"members": [{"value": id(&member)}]})).await;

    let grant = patch_body(json!([{"op": "add", "path": format!("{HUB_GROUP}:platformRole"), "value": "Owner"}]));
    let (status, error) = status_and_json(app.patch(&format!("/Groups/{}", id(&group)), &grant).await).await;
    let create_body = json!({"schemas": [CORE_GROUP], "displayName": "New owners", HUB_GROUP: {"platformRole": "Owner"}, "members": [{"value": id(&member)}]});
    let (create_status, create_error) = status_and_json(app.post("/Groups", &create_body).await).await;

    assert_scim_error(status, &error, 409, None);
    assert_scim_error(create_status, &create_error, 409, None);
    assert_eq!(user_hub(&app, &id(&member)).await["effectiveRole"], json!("Member"));
}

async fn last_owner_through_group(app: TestApp) {
    let owner = app.create_user("owner@example.com", json!({})).await;
    let group = create_group(
        &app,
        "Owners",
        json!({HUB_GROUP: {"platformRole": "Owner"}, "members": [{"value": id(&owner)}]}),
    )
    .await;
    let path = format!("/Groups/{}", id(&group));

    let remove_member = patch_body(json!([{"op": "remove", "path": "members", "value": [{"value": id(&owner)}]}]));
    let (member_status, member_error) = status_and_json(app.patch(&path, &remove_member).await).await;
    let remove_grant = patch_body(json!([{"op": "remove", "path": format!("{HUB_GROUP}:platformRole")}]));
    let (grant_status, grant_error) = status_and_json(app.patch(&path, &remove_grant).await).await;
    let delete = app.delete(&path).await;
    let delete_status = delete.status().as_u16();
    let (_, delete_error) = status_and_json(delete).await;

    assert_scim_error(member_status, &member_error, 409, None);
    assert!(member_error["detail"].as_str().unwrap().starts_with("Last Owner"), "detail: {member_error}");
    assert_scim_error(grant_status, &grant_error, 409, None);
    assert_scim_error(delete_status, &delete_error, 409, None);
    assert_eq!(member_ids(&app, &id(&group)).await, vec![id(&owner)]);
}

async fn deactivated_member_frees_owner_seat(app: TestApp) {
    app.create_user_with_role("owner1@example.com", "Owner").await;
    let second = app.create_user("second@example.com", json!({})).await;
    let group = create_group(
        &app,
        "Owners",
        json!({HUB_GROUP: {"platformRole": "Owner"}, "members": [{"value": id(&second)}]}),
    )
    .await;
    let deactivate = patch_body(json!([{"op": "replace", "path": "active", "value": false}]));
    let (status, _) = status_and_json(app.patch(&format!("/Users/{}", id(&second)), &deactivate).await).await;
    assert_eq!(status, 200);

    let third = app.create_user_with_role("third@example.com", "Owner").await;
    let reactivate = patch_body(json!([{"op": "replace", "path": "active", "value": true}]));
    let (status, error) = status_and_json(app.patch(&format!("/Users/{}", id(&second)), &reactivate).await).await;

    assert_eq!(third[HUB_USER]["effectiveRole"], json!("Owner"));
    assert_scim_error(status, &error, 409, None);
    assert_eq!(member_ids(&app, &id(&group)).await, vec![id(&second)], "deactivation must keep memberships");
}

async fn concurrent_owner_group_adds(app: TestApp) {
    app.create_user_with_role("owner1@example.com", "Owner").await;
    let group = create_group(&app, "Owners", json!({HUB_GROUP: {"platformRole": "Owner"}})).await;
    let mut candidates = Vec::new();
    for index in 0..10 {
        candidates.push(id(&app.create_user(&format!("candidate{index}@example.com"), json!({})).await));
    }
    let path = format!("/Groups/{}", id(&group));

    let attempts = candidates.iter().map(|candidate| {
        let body = patch_body(json!([{"op": "add", "path": "members", "value": [{"value": candidate}]}]));
        let request = app
            .request(Method::PATCH, &path)
            .header("Content-Type", "application/scim+json")
            .body(body.to_string());
        async move { request.send().await.expect("request failed").status().as_u16() }
    });
    let statuses = join_all(attempts).await;

    assert_eq!(statuses.iter().filter(|status| **status == 204).count(), 1, "statuses: {statuses:?}");
    assert_eq!(statuses.iter().filter(|status| **status == 409).count(), 9, "statuses: {statuses:?}");
    assert_eq!(member_ids(&app, &id(&group)).await.len(), 1);
    let (_, owners) = status_and_json(app.get("/Users?count=100").await).await;
    let effective_owners = owners["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|user| user[HUB_USER]["effectiveRole"] == json!("Owner"))
        .count();
    assert_eq!(effective_owners, 2);
}

async fn put_replaces_members_keeps_grants(app: TestApp) {
    let alice = app.create_user("alice@example.com", json!({})).await;
    let bob = app.create_user("bob@example.com", json!({})).await;
    let group = create_group(
        &app,
        "Team",
        json!({HUB_GROUP: {"productAccess": ["desk"]}, "members": [{"value": id(&alice)}]}),
    )
    .await;

    let body = json!({"schemas": [CORE_GROUP], "displayName": "Team B", "members": [{"value": id(&bob)}]});
    let (status, replaced) = status_and_json(app.put(&format!("/Groups/{}", id(&group)), &body).await).await;

    assert_eq!(status, 200, "body: {replaced}");
    assert_eq!(replaced["displayName"], json!("Team B"));
    assert_eq!(member_ids(&app, &id(&group)).await, vec![id(&bob)]);
    assert_eq!(replaced[HUB_GROUP]["productAccess"], json!(["desk"]));
}

async fn group_etag_preconditions(app: TestApp) {
    let group = create_group(&app, "Tagged", json!({})).await;
    let path = format!("/Groups/{}", id(&group));
    let version = group["meta"]["version"].as_str().unwrap().to_string();

    let not_modified = app.request(Method::GET, &path).header("If-None-Match", &version).send().await.unwrap();
    let stale = app
        .request(Method::PATCH, &path)
        .header("If-Match", "W/\"999\"")
        .header("Content-Type", "application/scim+json")
        .body(patch_body(json!([{"op": "replace", "path": "displayName", "value": "X"}])).to_string())
        .send()
        .await
        .unwrap();
    let (stale_status, stale_error) = status_and_json(stale).await;

    assert_eq!(not_modified.status().as_u16(), 304);
    assert_scim_error(stale_status, &stale_error, 412, None);
}

async fn group_changes_audited(app: TestApp) {
    let alice = app.create_user("alice@example.com", json!({})).await;
    let group = create_group(&app, "Audited", json!({})).await;
    let path = format!("/Groups/{}", id(&group));
    let add = patch_body(json!([{"op": "add", "path": "members", "value": [{"value": id(&alice)}]}]));
    app.patch(&path, &add).await;
    app.delete(&path).await;

    let org = hub::storage::organizations::find_by_name(&mut app.store.db(), "default").await.unwrap().unwrap();
    let entries = hub::storage::audit::list_for_target(&mut app.store.db(), &org.id, &id(&group)).await.unwrap();
    let actions: Vec<&str> = entries.iter().map(|entry| entry.action.as_str()).collect();

    assert_eq!(actions, vec!["group.created", "group.updated", "group.deleted"]);
    assert!(entries[1].after.as_deref().unwrap().contains(&id(&alice)), "membership change not recorded");
    assert!(entries.iter().all(|entry| entry.actor_type == "scim_token"));
}

async fn get_group(app: &TestApp, group_id: &str, query: &str) -> (u16, Value) {
    status_and_json(app.get(&format!("/Groups/{group_id}{query}")).await).await
}

/// Checks each projection of a group's members, which are written as JSON text apart from the
/// rest of the document, against the whole-document rules.
async fn member_projections(app: TestApp) {
    let first = app.create_user("m1@example.com", json!({})).await;
    let second = app.create_user("m2@example.com", json!({})).await;
    let members = json!([{"value": id(&first)}, {"value": id(&second)}]);
    let group = create_group(&app, "Projected", json!({"members": members})).await;
    let group_id = id(&group);

    let (status, whole) = get_group(&app, &group_id, "").await;
    assert_eq!(status, 200);
    let listed = whole["members"].as_array().expect("members missing");
    assert_eq!(listed.len(), 2);
    let reference = listed[0]["$ref"].as_str().unwrap();
    assert!(reference.ends_with(&format!("/Users/{}", listed[0]["value"].as_str().unwrap())), "{reference}");
    assert_eq!(listed[0]["type"], "User");
    assert_eq!(whole["displayName"], "Projected");
    assert!(whole["meta"]["location"].is_string());

    let (_, values) = get_group(&app, &group_id, "?attributes=members.value").await;
    assert_eq!(values["members"], json!([{"value": id(&first)}, {"value": id(&second)}]), "{values}");
    assert!(values.get("displayName").is_none(), "{values}");
    assert_eq!(values["id"], group_id);

    let (_, without_type) = get_group(&app, &group_id, "?excludedAttributes=members.type").await;
    let first_member = without_type["members"][0].as_object().unwrap();
    assert!(!first_member.contains_key("type"), "{without_type}");
    assert!(first_member.contains_key("value"), "{without_type}");

    let (_, names) = get_group(&app, &group_id, "?attributes=displayName").await;
    assert!(names.get("members").is_none(), "{names}");
    let (_, excluded) = get_group(&app, &group_id, "?excludedAttributes=members").await;
    assert!(excluded.get("members").is_none(), "{excluded}");
    assert_eq!(excluded["displayName"], "Projected");

    let (_, members_only) = get_group(&app, &group_id, "?attributes=members").await;
    assert_eq!(members_only["members"].as_array().unwrap().len(), 2);

    // Lists write the members apart too, and a filter on members may run in memory.
    let by_name = format!("?filter={}", encode_query_value("displayName eq \"Projected\""));
    let (status, listed) = status_and_json(app.get(&format!("/Groups{by_name}")).await).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["itemsPerPage"], 1);
    assert_eq!(listed["Resources"][0]["members"].as_array().unwrap().len(), 2, "{listed}");
    assert_eq!(listed["Resources"][0]["members"][1]["type"], "User");
    let (_, values) = status_and_json(app.get(&format!("/Groups{by_name}&attributes=members.value")).await).await;
    assert_eq!(values["Resources"][0]["members"], json!([{"value": id(&first)}, {"value": id(&second)}]), "{values}");
    let (_, excluded) = status_and_json(app.get(&format!("/Groups{by_name}&excludedAttributes=members")).await).await;
    assert!(excluded["Resources"][0].get("members").is_none(), "{excluded}");
    for filter in [format!("members.value eq \"{}\"", id(&second)), format!("members[value eq \"{}\"]", id(&first))] {
        let (status, found) = status_and_json(app.get(&format!("/Groups?filter={}", encode_query_value(&filter))).await).await;
        assert_eq!(status, 200, "{filter}: {found}");
        assert_eq!(found["totalResults"], 1, "{filter}: {found}");
        assert_eq!(found["Resources"][0]["members"].as_array().unwrap().len(), 2, "{filter}: {found}");
    }
    let (_, all) = status_and_json(app.get("/Groups?count=10").await).await;
    assert_eq!(all["Resources"].as_array().unwrap().len(), 1, "{all}");

    let empty = create_group(&app, "Empty", json!({})).await;
    let (_, empty) = status_and_json(app.get(&format!("/Groups/{}", id(&empty))).await).await;
    assert!(empty.get("members").is_none() || empty["members"] == json!([]), "{empty}");
}

/// Deleting a member user changes the group's member list, so the group's version moves on and
/// a client holding the old ETag gets the new list instead of 304.
async fn member_delete_moves_group_version(app: TestApp) {
    let member = app.create_user("leaver@example.com", json!({})).await;
    let group = create_group(&app, "Leavers", json!({"members": [{"value": id(&member)}]})).await;
    let group_id = id(&group);
    let (_, before) = get_group(&app, &group_id, "").await;
    let version = before["meta"]["version"].as_str().unwrap().to_string();

    let response = app.delete(&format!("/Users/{}", id(&member))).await;
    assert_eq!(response.status().as_u16(), 204);

    let (_, after) = get_group(&app, &group_id, "").await;
    assert_ne!(after["meta"]["version"], version.as_str(), "{after}");
    assert!(after.get("members").is_none(), "{after}");
    assert_ne!(after["meta"]["lastModified"], before["meta"]["lastModified"]);
    let response = app
        .request(Method::GET, &format!("/Groups/{group_id}"))
        .header("If-None-Match", version.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

both_backends!(
    member_without_value_rejected,
    entra_group_create_ignores_extra_schema,
    create_with_null_ref_members,
    display_name_unique_ignoring_case,
    entra_patch_member_forms,
    adding_existing_member_is_noop,
    unknown_member_rejected_whole,
    okta_push_forms,
    filters_and_excluded_members,
    user_groups_attribute_lists_memberships,
    user_groups_follow_group_creation_order,
    grants_set_effective_access,
    owner_limit_through_group_members,
    owner_grant_on_full_group_rejected,
    last_owner_through_group,
    deactivated_member_frees_owner_seat,
    concurrent_owner_group_adds,
    put_replaces_members_keeps_grants,
    group_etag_preconditions,
    group_changes_audited,
    member_projections,
    member_delete_moves_group_version,
);
