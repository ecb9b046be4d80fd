//! Request sequences that Microsoft Entra ID provisioning sends, as Microsoft documents them in
//! "Tutorial: Develop and plan provisioning for a SCIM endpoint" and "Known issues and
//! resolutions with SCIM 2.0 protocol compliance": the connection test, creates, lookups by
//! filter, PATCH in the older capitalised form and in the `aadOptscim062020` form, disable,
//! enable and delete.

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

fn random_guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn manager_path() -> String {
    format!("{ENTERPRISE_USER}:manager")
}

/// Creates a user with the attributes that Entra's default mapping sends.
async fn create_entra_user(app: &TestApp, user_name: &str, external_id: &str) -> Value {
    app.create_user(
        user_name,
        json!({
            "schemas": [CORE_USER, ENTERPRISE_USER],
            "externalId": external_id,
            "active": true,
            "displayName": "Jordan Young",
            "name": {"givenName": "Jordan", "familyName": "Young"},
            "emails": [{"primary": true, "type": "work", "value": "jordan.young@contoso.example"}],
            "roles": [],
            "meta": {"resourceType": "User"},
        }),
    )
    .await
}

async fn test_connection_finds_no_user(app: TestApp) {
    let guid = random_guid();

    for attribute in ["userName", "externalId"] {
        let filter = format!("{attribute} eq \"{guid}\"");
        let (status, body) = app.list_users(&[("filter", &filter)]).await;

        assert_eq!(status, 200, "filter {filter} failed: {body}");
        assert_eq!(body["schemas"], json!([LIST_RESPONSE]), "filter {filter}: not a ListResponse: {body}");
        assert_eq!(body["totalResults"], json!(0), "filter {filter} matched a user: {body}");
        assert!(list_resources(&body).is_empty(), "filter {filter} returned resources: {body}");
    }
}

async fn test_connection_plus_encoded_filter(app: TestApp) {
    let guid = random_guid();

    let path = format!("/Users?filter=userName+eq+%22{guid}%22");
    let (status, body) = status_and_json(app.get(&path).await).await;

    assert_eq!(status, 200, "GET {path} failed: {body}");
    assert_eq!(body["totalResults"], json!(0), "GET {path} matched a user: {body}");
}

async fn create_accepts_entra_body(app: TestApp) {
    let external_id = random_guid();
    let body = json!({
        "schemas": [CORE_USER, ENTERPRISE_USER],
        "externalId": external_id,
        "userName": "Test_User_jyoung@contoso.example",
        "active": true,
        "displayName": "Jordan Young",
        "title": "Research Engineer",
        "preferredLanguage": "en-US",
        "nickName": null,
        "emails": [{"primary": true, "type": "work", "value": "jordan.young@contoso.example"}],
        "addresses": [{
            "type": "work",
            "formatted": null,
            "streetAddress": "1 Harbour Road",
            "locality": "Seattle",
            "region": "WA",
            "postalCode": "98101",
            "country": "US",
            "primary": false,
        }],
        "phoneNumbers": [
            {"type": "work", "value": "+1 206 555 0100"},
            {"type": "mobile", "value": "+1 206 555 0101"},
            {"type": "fax", "value": "+1 206 555 0102"},
        ],
        "name": {"givenName": "Jordan", "familyName": "Young", "formatted": "Jordan Young", "middleName": null},
        "roles": [],
        "meta": {"resourceType": "User"},
        ENTERPRISE_USER: {"employeeNumber": "1001", "department": "Research", "manager": null},
    });

    let (status, created) = status_and_json(app.post("/Users", &body).await).await;

    assert_eq!(status, 201, "create failed: {created}");
    assert_eq!(created["externalId"], json!(external_id), "externalId not kept: {created}");
    assert_eq!(created["active"], json!(true), "user not active: {created}");
    assert_eq!(created["title"], json!("Research Engineer"), "title not kept: {created}");
    assert_eq!(created["preferredLanguage"], json!("en-US"), "preferredLanguage not kept: {created}");
    assert!(created.get("nickName").is_none(), "null nickName was stored: {created}");
    assert_eq!(
        created["emails"],
        json!([{"primary": true, "type": "work", "value": "jordan.young@contoso.example"}]),
        "emails differ: {created}"
    );
    assert_eq!(
        created["addresses"],
        json!([{
            "type": "work",
            "streetAddress": "1 Harbour Road",
            "locality": "Seattle",
            "region": "WA",
            "postalCode": "98101",
            "country": "US",
            "primary": false,
        }]),
        "addresses differ: {created}"
    );
    assert_eq!(
        created["phoneNumbers"],
        json!([
            {"type": "work", "value": "+1 206 555 0100"},
            {"type": "mobile", "value": "+1 206 555 0101"},
            {"type": "fax", "value": "+1 206 555 0102"},
        ]),
        "phoneNumbers differ: {created}"
    );
    assert_eq!(
        created["name"],
        json!({"givenName": "Jordan", "familyName": "Young", "formatted": "Jordan Young"}),
        "name differs: {created}"
    );
    assert_eq!(
        created[ENTERPRISE_USER],
        json!({"employeeNumber": "1001", "department": "Research"}),
        "enterprise extension differs: {created}"
    );
    assert!(
        created["schemas"].as_array().unwrap().contains(&json!(ENTERPRISE_USER)),
        "schemas do not list the enterprise extension: {created}"
    );
    assert_eq!(created[HUB_USER]["status"], json!("Invited"), "new user not Invited: {created}");
    assert_eq!(created[HUB_USER]["platformRole"], json!("Member"), "empty roles did not give Member: {created}");
    assert_eq!(created["meta"]["resourceType"], json!("User"), "meta.resourceType missing: {created}");
}

async fn create_accepts_active_as_string(app: TestApp) {
    let body = json!({"schemas": [CORE_USER], "userName": "string.active@contoso.example", "active": "True"});

    let (status, created) = status_and_json(app.post("/Users", &body).await).await;

    assert_eq!(status, 201, "create with active \"True\" failed: {created}");
    assert_eq!(created["active"], json!(true), "active \"True\" not read as true: {created}");
}

async fn create_accepts_capitalised_sub_attributes(app: TestApp) {
    let manager = app.create_user("suzzyq@bob.example", json!({})).await;
    let manager_id = manager["id"].as_str().unwrap();
    let body = json!({
        "schemas": [ENTERPRISE_USER, CORE_USER],
        "userName": "UserName222",
        "emails": [
            {"Primary": true, "Type": "work", "Value": "work@bob.example"},
            {"Primary": false, "Type": "home", "Value": "home@bob.example"},
        ],
        ENTERPRISE_USER: {"Department": "Finance", "Manager": {"Value": manager_id}},
    });

    let (status, created) = status_and_json(app.post("/Users", &body).await).await;

    assert_eq!(status, 201, "create with capitalised sub-attributes failed: {created}");
    assert_eq!(
        created["emails"],
        json!([
            {"primary": true, "type": "work", "value": "work@bob.example"},
            {"primary": false, "type": "home", "value": "home@bob.example"},
        ]),
        "emails not stored under canonical names: {created}"
    );
    assert_eq!(created[ENTERPRISE_USER]["department"], json!("Finance"), "department not canonical: {created}");
    assert_eq!(created[ENTERPRISE_USER]["manager"]["value"], json!(manager_id), "manager not canonical: {created}");
}

async fn user_name_filter_finds_created_user(app: TestApp) {
    let user_name = "Test_User_lookup@contoso.example";
    let filter = format!("userName eq \"{user_name}\"");
    let (_, before) = app.list_users(&[("filter", &filter)]).await;

    let created = create_entra_user(&app, user_name, &random_guid()).await;
    let (status, after) = app.list_users(&[("filter", &filter)]).await;

    assert_eq!(before["totalResults"], json!(0), "user found before it was created: {before}");
    assert_eq!(status, 200, "filter failed: {after}");
    assert_eq!(after["totalResults"], json!(1), "created user not found: {after}");
    assert_eq!(after["itemsPerPage"], json!(1), "itemsPerPage differs: {after}");
    assert_eq!(after["Resources"][0]["id"], created["id"], "another user found: {after}");
    assert_eq!(after["Resources"][0]["userName"], json!(user_name), "userName differs: {after}");
}

async fn unquoted_external_id_filter(app: TestApp) {
    let created = create_entra_user(&app, "jyoung@contoso.example", "jyoung").await;

    let (status, body) = app.list_users(&[("filter", "externalId eq jyoung")]).await;

    assert_eq!(status, 200, "unquoted filter rejected: {body}");
    assert_eq!(body["totalResults"], json!(1), "unquoted filter found nothing: {body}");
    assert_eq!(body["Resources"][0]["id"], created["id"], "unquoted filter found another user: {body}");
}

async fn display_name_filter_ignores_attribute_case(app: TestApp) {
    let created = create_entra_user(&app, "display@contoso.example", &random_guid()).await;

    let (status, body) = app.list_users(&[("filter", "DisplayName eq \"Jordan Young\"")]).await;

    assert_eq!(status, 200, "filter on DisplayName rejected: {body}");
    assert_eq!(body["totalResults"], json!(1), "filter on DisplayName found nothing: {body}");
    assert_eq!(body["Resources"][0]["id"], created["id"], "filter found another user: {body}");
}

async fn legacy_patch_updates_profile(app: TestApp) {
    let created = create_entra_user(&app, "legacy@contoso.example", &random_guid()).await;
    let id = created["id"].as_str().unwrap();

    let (status, patched) = app
        .patch_user(
            id,
            json!([
                {"op": "Replace", "path": "displayName", "value": "Jordan A. Young"},
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "jay.young@contoso.example"},
                {"op": "Replace", "path": "name.familyName", "value": "Young-Smith"},
                {"op": "Add", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 206 555 0199"},
                {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 206 555 0198"},
                {"op": "Add", "path": "addresses[type eq \"work\"].locality", "value": "Redmond"},
                {"op": "Add", "path": format!("{ENTERPRISE_USER}:department"), "value": "Sales"},
            ]),
        )
        .await;

    assert_eq!(status, 200, "legacy PATCH failed: {patched}");
    assert_eq!(patched["displayName"], json!("Jordan A. Young"), "displayName not replaced: {patched}");
    assert_eq!(
        patched["emails"],
        json!([{"primary": true, "type": "work", "value": "jay.young@contoso.example"}]),
        "work email not replaced in place: {patched}"
    );
    assert_eq!(
        patched["name"],
        json!({"givenName": "Jordan", "familyName": "Young-Smith"}),
        "familyName not replaced: {patched}"
    );
    assert_eq!(
        patched["phoneNumbers"],
        json!([
            {"type": "work", "value": "+1 206 555 0199"},
            {"type": "mobile", "value": "+1 206 555 0198"},
        ]),
        "Add on a filtered path did not create the phone numbers: {patched}"
    );
    assert_eq!(
        patched["addresses"],
        json!([{"type": "work", "locality": "Redmond"}]),
        "Add on a filtered path did not create the work address: {patched}"
    );
    assert_eq!(patched[ENTERPRISE_USER]["department"], json!("Sales"), "department not added: {patched}");
    let (_, fetched) = app.get_user(id).await;
    assert_eq!(fetched, patched, "GET differs from the PATCH response");
}

async fn legacy_patch_toggles_active_string(app: TestApp) {
    let created = create_entra_user(&app, "toggle@contoso.example", &random_guid()).await;
    let id = created["id"].as_str().unwrap();
    let filter = "userName eq \"toggle@contoso.example\"";

    let (disable_status, disabled) = app
        .patch_user(id, json!([{"op": "Replace", "path": "active", "value": "False"}]))
        .await;
    let (get_status, fetched) = app.get_user(id).await;
    let (_, found) = app.list_users(&[("filter", filter)]).await;

    assert_eq!(disable_status, 200, "disable failed: {disabled}");
    assert_eq!(disabled["active"], json!(false), "\"False\" did not deactivate: {disabled}");
    assert_eq!(disabled[HUB_USER]["status"], json!("Deactivated"), "status not Deactivated: {disabled}");
    assert_eq!(get_status, 200, "disabled user not readable: {fetched}");
    assert_eq!(fetched["active"], json!(false), "GET shows the disabled user active: {fetched}");
    assert_eq!(found["totalResults"], json!(1), "disabled user not found by filter: {found}");
    assert_eq!(found["Resources"][0]["active"], json!(false), "filter shows the disabled user active: {found}");

    let (enable_status, enabled) = app
        .patch_user(id, json!([{"op": "Replace", "path": "active", "value": "True"}]))
        .await;

    assert_eq!(enable_status, 200, "enable failed: {enabled}");
    assert_eq!(enabled["active"], json!(true), "\"True\" did not reactivate: {enabled}");
    assert_eq!(enabled[HUB_USER]["status"], json!("Invited"), "previous status not restored: {enabled}");
}

async fn manager_set_and_removed(app: TestApp) {
    let manager = create_entra_user(&app, "manager@contoso.example", &random_guid()).await;
    let report = create_entra_user(&app, "report@contoso.example", &random_guid()).await;
    let report_id = report["id"].as_str().unwrap();
    let manager_id = manager["id"].as_str().unwrap();

    let (add_status, with_manager) = app
        .patch_user(report_id, json!([{"op": "Add", "path": manager_path(), "value": manager_id}]))
        .await;
    let (_, fetched) = app.get_user(report_id).await;

    assert_eq!(add_status, 200, "adding the manager failed: {with_manager}");
    assert_eq!(
        with_manager[ENTERPRISE_USER]["manager"],
        json!({"value": manager_id}),
        "manager not returned as an object: {with_manager}"
    );
    assert_eq!(fetched[ENTERPRISE_USER]["manager"]["value"], json!(manager_id), "manager not stored: {fetched}");

    let (remove_status, without_manager) = app
        .patch_user(report_id, json!([{"op": "Remove", "path": manager_path()}]))
        .await;

    assert_eq!(remove_status, 200, "removing the manager failed: {without_manager}");
    assert!(
        without_manager.get(ENTERPRISE_USER).and_then(|extension| extension.get("manager")).is_none(),
        "manager still present: {without_manager}"
    );
}

async fn manager_replace_keeps_department(app: TestApp) {
    let created = app
        .create_user("dept@contoso.example", json!({ENTERPRISE_USER: {"department": "Legal"}}))
        .await;
    let id = created["id"].as_str().unwrap();
    let manager = app.create_user("boss@contoso.example", json!({})).await;
    let manager_id = manager["id"].as_str().unwrap();

    let (_, with_manager) = app
        .patch_user(id, json!([{"op": "Replace", "path": manager_path(), "value": manager_id}]))
        .await;
    let (status, removed) = app.patch_user(id, json!([{"op": "Remove", "path": manager_path()}])).await;

    assert_eq!(with_manager[ENTERPRISE_USER]["manager"], json!({"value": manager_id}), "manager not set: {with_manager}");
    assert_eq!(status, 200, "removing the manager failed: {removed}");
    assert_eq!(removed[ENTERPRISE_USER], json!({"department": "Legal"}), "department lost with the manager: {removed}");
}

async fn pathless_replace_dotted_and_urn_keys(app: TestApp) {
    let created = create_entra_user(&app, "pathless@contoso.example", &random_guid()).await;
    let id = created["id"].as_str().unwrap();

    let (status, patched) = app
        .patch_user(
            id,
            json!([{
                "op": "Replace",
                "value": {
                    "name.givenName": "Jo",
                    "displayName": "Jo Young",
                    format!("{ENTERPRISE_USER}:employeeNumber"): "2002",
                    format!("{CORE_USER}:title"): "Lead",
                },
            }]),
        )
        .await;

    assert_eq!(status, 200, "path-less Replace failed: {patched}");
    assert_eq!(patched["name"], json!({"givenName": "Jo", "familyName": "Young"}), "dotted key not applied: {patched}");
    assert_eq!(patched["displayName"], json!("Jo Young"), "displayName not replaced: {patched}");
    assert_eq!(patched[ENTERPRISE_USER]["employeeNumber"], json!("2002"), "enterprise URN key not applied: {patched}");
    assert_eq!(patched["title"], json!("Lead"), "core URN key not applied: {patched}");
}

async fn legacy_role_add_with_json_string(app: TestApp) {
    let created = create_entra_user(&app, "roles@contoso.example", &random_guid()).await;
    let id = created["id"].as_str().unwrap();

    let (status, patched) = app
        .patch_user(
            id,
            json!([{"op": "Add", "path": "roles", "value": "[{\"value\":\"Admin\",\"primary\":true}]"}]),
        )
        .await;

    assert_eq!(status, 200, "role Add with a JSON string failed: {patched}");
    assert_eq!(patched[HUB_USER]["platformRole"], json!("Admin"), "platform role not set from roles: {patched}");
    assert_eq!(patched["roles"][0]["value"], json!("Admin"), "roles not stored as a list: {patched}");
    assert_eq!(patched["roles"][0]["primary"], json!(true), "primary flag lost: {patched}");
}

async fn primary_role_replace_sets_role(app: TestApp) {
    let created = create_entra_user(&app, "primaryrole@contoso.example", &random_guid()).await;
    let id = created["id"].as_str().unwrap();
    let path = "roles[primary eq \"True\"].value";

    let (first_status, first) = app.patch_user(id, json!([{"op": "Replace", "path": path, "value": "Admin"}])).await;
    let (second_status, second) = app.patch_user(id, json!([{"op": "Replace", "path": path, "value": "Viewer"}])).await;

    assert_eq!(first_status, 200, "first role replace failed: {first}");
    assert_eq!(first[HUB_USER]["platformRole"], json!("Admin"), "role not created from the filter: {first}");
    assert_eq!(second_status, 200, "second role replace failed: {second}");
    assert_eq!(second[HUB_USER]["platformRole"], json!("Viewer"), "role not replaced: {second}");
    assert_eq!(
        second["roles"].as_array().map(Vec::len),
        Some(1),
        "replace added a role instead of replacing it: {second}"
    );
}

async fn optscim_patch_forms(app: TestApp) {
    let created = create_entra_user(&app, "optscim@contoso.example", &random_guid()).await;
    let path = format!("{}?aadOptscim062020", user_path(&created));

    let body = patch_body(json!([
        {"op": "replace", "path": "title", "value": "Manager"},
        {"op": "add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 206 555 0111"},
        {"op": "replace", "value": {
            "displayName": "J. Young",
            "name.familyName": "Young-Lee",
            "emails[type eq \"work\"].value": "j.young@contoso.example",
            format!("{ENTERPRISE_USER}:department"): "Operations",
            "active": false,
        }},
    ]));
    let (status, patched) = status_and_json(app.patch(&path, &body).await).await;

    assert_eq!(status, 200, "aadOptscim062020 PATCH failed: {patched}");
    assert_eq!(patched["title"], json!("Manager"), "title not replaced: {patched}");
    assert_eq!(
        patched["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 206 555 0111"}]),
        "mobile number not added: {patched}"
    );
    assert_eq!(patched["displayName"], json!("J. Young"), "displayName not replaced: {patched}");
    assert_eq!(patched["name"]["familyName"], json!("Young-Lee"), "familyName not replaced: {patched}");
    assert_eq!(
        patched["emails"],
        json!([{"primary": true, "type": "work", "value": "j.young@contoso.example"}]),
        "filtered key in a path-less value not applied: {patched}"
    );
    assert_eq!(patched[ENTERPRISE_USER]["department"], json!("Operations"), "department not replaced: {patched}");
    assert_eq!(patched["active"], json!(false), "boolean false did not deactivate: {patched}");
}

async fn optscim_flag_ignored_on_lists(app: TestApp) {
    let created = create_entra_user(&app, "flag@contoso.example", &random_guid()).await;

    let path = format!(
        "/Users?aadOptscim062020&filter={}",
        encode_query_value("userName eq \"flag@contoso.example\"")
    );
    let (status, body) = status_and_json(app.get(&path).await).await;

    assert_eq!(status, 200, "GET {path} failed: {body}");
    assert_eq!(body["totalResults"], json!(1), "flag changed the result: {body}");
    assert_eq!(body["Resources"][0]["id"], created["id"], "another user found: {body}");
}

async fn optscim_flag_ignored_on_writes(app: TestApp) {
    let body = json!({"schemas": [CORE_USER], "userName": "flagwrite@contoso.example"});

    let (create_status, created) = status_and_json(app.post("/Users?aadOptscim062020", &body).await).await;
    let path = format!("{}?aadOptscim062020", user_path(&created));
    let (get_status, fetched) = status_and_json(app.get(&path).await).await;
    let deleted = app.delete(&path).await.status().as_u16();

    assert_eq!(create_status, 201, "POST with the flag failed: {created}");
    assert_eq!(get_status, 200, "GET with the flag failed: {fetched}");
    assert_eq!(deleted, 204, "DELETE with the flag failed");
}

async fn delete_then_not_found(app: TestApp) {
    let created = create_entra_user(&app, "delete@contoso.example", &random_guid()).await;
    let path = user_path(&created);

    let response = app.delete(&path).await;
    let delete_status = response.status().as_u16();
    let delete_body = response.text().await.unwrap();
    let (get_status, fetched) = status_and_json(app.get(&path).await).await;
    let (_, found) = app.list_users(&[("filter", "userName eq \"delete@contoso.example\"")]).await;

    assert_eq!(delete_status, 204, "DELETE failed: {delete_body}");
    assert!(delete_body.is_empty(), "204 has a body: {delete_body}");
    assert_scim_error(get_status, &fetched, 404, None);
    assert_eq!(found["totalResults"], json!(0), "deleted user still found by filter: {found}");
}

async fn client_request_id_recorded(app: TestApp) {
    let create_request_id = random_guid();
    let patch_request_id = random_guid();
    let body = json!({"schemas": [CORE_USER], "userName": "requestid@contoso.example"});

    let response = app
        .send_json_with_headers(Method::POST, "/Users", &body, &[("client-request-id", &create_request_id)])
        .await;
    let echoed = header_text(&response, "request-id");
    let (_, created) = status_and_json(response).await;
    let id = created["id"].as_str().unwrap().to_string();
    let patch = patch_body(json!([{"op": "Replace", "path": "displayName", "value": "Request Id"}]));
    app.send_json_with_headers(Method::PATCH, &format!("/Users/{id}"), &patch, &[("client-request-id", &patch_request_id)])
        .await;
    let entries = app.audit_entries(&id).await;

    assert_eq!(echoed.as_deref(), Some(create_request_id.as_str()), "request-id header does not echo client-request-id");
    assert_eq!(entries.len(), 2, "expected a create and an update entry: {entries:?}");
    assert_eq!(entries[0].request_id.as_deref(), Some(create_request_id.as_str()), "create entry: {:?}", entries[0]);
    assert_eq!(entries[1].request_id.as_deref(), Some(patch_request_id.as_str()), "update entry: {:?}", entries[1]);
}

async fn role_remove_with_value_list(app: TestApp) {
    let user = app
        .create_user("roleremove@contoso.example", json!({"roles": [{"value": "Admin", "primary": true}]}))
        .await;

    let (status, patched) = app
        .patch_user(
            user["id"].as_str().unwrap(),
            json!([{"op": "Remove", "path": "roles", "value": [{"value": "Admin", "primary": true}]}]),
        )
        .await;

    assert_eq!(status, 200, "role removal with a value list failed: {patched}");
    assert_eq!(patched[HUB_USER]["platformRole"], json!("Member"), "role not removed: {patched}");
}

async fn manager_cleared_with_empty_value(app: TestApp) {
    let manager = create_entra_user(&app, "clearboss@contoso.example", &random_guid()).await;
    let report = create_entra_user(&app, "clearreport@contoso.example", &random_guid()).await;
    let report_id = report["id"].as_str().unwrap();
    app.patch_user(report_id, json!([{"op": "Add", "path": manager_path(), "value": manager["id"]}])).await;

    let (status, cleared) = app
        .patch_user(report_id, json!([{"op": "Replace", "path": manager_path(), "value": {"value": ""}}]))
        .await;

    assert_eq!(status, 200, "clearing the manager with an empty value failed: {cleared}");
    assert!(
        cleared.get(ENTERPRISE_USER).and_then(|extension| extension.get("manager")).is_none(),
        "manager still present: {cleared}"
    );
}

async fn unknown_manager_rejected(app: TestApp) {
    let report = create_entra_user(&app, "orphan@contoso.example", &random_guid()).await;
    let report_id = report["id"].as_str().unwrap();
    let unknown = random_guid();

    let (unknown_status, unknown_error) = app
        .patch_user(report_id, json!([{"op": "Add", "path": manager_path(), "value": unknown}]))
        .await;
    let (self_status, self_error) = app
        .patch_user(report_id, json!([{"op": "Add", "path": manager_path(), "value": report_id}]))
        .await;

    assert_scim_error(unknown_status, &unknown_error, 400, Some("invalidValue"));
    assert_scim_error(self_status, &self_error, 400, Some("invalidValue"));
}

async fn typed_email_matching_filter(app: TestApp) {
    app.create_user(
        "match@example.com",
        json!({"emails": [{"value": "home@example.org", "type": "home"}, {"value": "work@example.com", "type": "work", "primary": true}]}),
    )
    .await;

    let (status, found) = status_and_json(app.get(&users_query(&[("filter", r#"emails[type eq "work"].value eq "work@example.com""#)])).await).await;
    let (_, wrong_type) = status_and_json(app.get(&users_query(&[("filter", r#"emails[type eq "work"].value eq "home@example.org""#)])).await).await;

    assert_eq!(status, 200, "body: {found}");
    assert_eq!(found["totalResults"], json!(1));
    assert_eq!(wrong_type["totalResults"], json!(0));
}

both_backends!(
    typed_email_matching_filter,
    test_connection_finds_no_user,
    test_connection_plus_encoded_filter,
    create_accepts_entra_body,
    create_accepts_active_as_string,
    create_accepts_capitalised_sub_attributes,
    user_name_filter_finds_created_user,
    unquoted_external_id_filter,
    display_name_filter_ignores_attribute_case,
    legacy_patch_updates_profile,
    legacy_patch_toggles_active_string,
    manager_set_and_removed,
    manager_replace_keeps_department,
    pathless_replace_dotted_and_urn_keys,
    legacy_role_add_with_json_string,
    primary_role_replace_sets_role,
    optscim_patch_forms,
    optscim_flag_ignored_on_lists,
    optscim_flag_ignored_on_writes,
    delete_then_not_found,
    client_request_id_recorded,
    role_remove_with_value_list,
    manager_cleared_with_empty_value,
    unknown_manager_rejected,
);
