//! Rejected requests: SCIM error bodies (RFC 7644 §3.12) for invalid JSON, invalid resources,
//! invalid filters, unsupported media types, uniqueness conflicts and Hub's own value checks,
//! and the guarantee that a rejected request changes nothing.

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

fn id_of(user: &Value) -> &str {
    user["id"].as_str().expect("the resource has no id")
}

fn detail_of(body: &Value) -> String {
    body["detail"].as_str().unwrap_or_default().to_string()
}

async fn send_raw(app: &TestApp, method: Method, path: &str, content_type: &str, body: &str) -> (u16, Value) {
    let response = app
        .request(method, path)
        .header("Content-Type", content_type)
        .body(body.to_string())
        .send()
        .await
        .expect("request failed");
    status_and_json(response).await
}

async fn malformed_json_rejected(app: TestApp) {
    let user = app.create_user("syntax@example.com", json!({})).await;
    let path = user_path(&user);
    let requests = [(Method::POST, "/Users".to_string()), (Method::PUT, path.clone()), (Method::PATCH, path)];

    for (method, path) in requests {
        let (status, body) = send_raw(&app, method.clone(), &path, "application/scim+json", "{\"schemas\": [").await;

        assert_eq!(status, 400, "{method} {path} with malformed JSON: {body}");
        assert_scim_error(status, &body, 400, Some("invalidSyntax"));
    }
}

async fn non_object_body_rejected(app: TestApp) {
    for text in ["[]", "\"user\"", "42", "null", ""] {
        let (status, body) = send_raw(&app, Method::POST, "/Users", "application/scim+json", text).await;

        assert_eq!(status, 400, "body {text:?} not rejected: {body}");
        assert_scim_error(status, &body, 400, Some("invalidSyntax"));
    }
}

async fn missing_schemas_rejected(app: TestApp) {
    let bodies = [
        json!({"userName": "noschemas@example.com"}),
        json!({"schemas": [], "userName": "noschemas@example.com"}),
        json!({"schemas": [ENTERPRISE_USER], "userName": "noschemas@example.com"}),
        json!({"schemas": CORE_USER, "userName": "noschemas@example.com"}),
    ];

    for body in bodies {
        let (status, error) = status_and_json(app.post("/Users", &body).await).await;

        assert_eq!(status, 400, "body {body} not rejected: {error}");
        assert_scim_error(status, &error, 400, Some("invalidSyntax"));
    }
}

async fn missing_user_name_rejected(app: TestApp) {
    let bodies = [
        json!({"schemas": [CORE_USER], "displayName": "No Name"}),
        json!({"schemas": [CORE_USER], "userName": ""}),
        json!({"schemas": [CORE_USER], "userName": "   "}),
        json!({"schemas": [CORE_USER], "userName": null}),
    ];

    for body in bodies {
        let (status, error) = status_and_json(app.post("/Users", &body).await).await;

        assert_eq!(status, 400, "body {body} not rejected: {error}");
        assert_eq!(error["schemas"], json!([ERROR]), "body {body}: not a SCIM error: {error}");
        assert!(detail_of(&error).contains("userName"), "body {body}: detail does not name userName: {error}");
    }
    let (_, all) = app.list_users(&[]).await;
    assert_eq!(all["totalResults"], json!(0), "a rejected user was stored: {all}");
}

async fn wrong_types_rejected(app: TestApp) {
    let cases = [
        ("userName", json!({"schemas": [CORE_USER], "userName": 42})),
        ("active", json!({"schemas": [CORE_USER], "userName": "types@example.com", "active": "maybe"})),
        ("active", json!({"schemas": [CORE_USER], "userName": "types@example.com", "active": 1})),
        ("displayName", json!({"schemas": [CORE_USER], "userName": "types@example.com", "displayName": true})),
        ("name", json!({"schemas": [CORE_USER], "userName": "types@example.com", "name": "Jo Smith"})),
        ("emails", json!({"schemas": [CORE_USER], "userName": "types@example.com", "emails": [{"value": 5}]})),
        ("primary", json!({"schemas": [CORE_USER], "userName": "types@example.com", "emails": [{"value": "a@b.example", "primary": "often"}]})),
        ("userName", json!({"schemas": [CORE_USER], "userName": ["a@example.com", "b@example.com"]})),
    ];

    for (attribute, body) in cases {
        let (status, error) = status_and_json(app.post("/Users", &body).await).await;

        assert_eq!(status, 400, "body {body} not rejected: {error}");
        assert_eq!(error["scimType"], json!("invalidValue"), "body {body}: wrong scimType: {error}");
        assert!(detail_of(&error).contains(attribute), "body {body}: detail does not name {attribute}: {error}");
    }
}

async fn patch_wrong_type_rejected(app: TestApp) {
    let user = app.create_user("patchtypes@example.com", json!({})).await;

    let (status, error) = app
        .patch_user(id_of(&user), json!([{"op": "replace", "path": "active", "value": "maybe"}]))
        .await;

    assert_scim_error(status, &error, 400, Some("invalidValue"));
    assert!(detail_of(&error).contains("active"), "detail does not name active: {error}");
}

async fn unknown_attribute_rejected(app: TestApp) {
    let cases = [
        ("favouriteColour", json!({"schemas": [CORE_USER], "userName": "unknown@example.com", "favouriteColour": "teal"})),
        ("shoeSize", json!({"schemas": [CORE_USER], "userName": "unknown@example.com", ENTERPRISE_USER: {"shoeSize": "9"}})),
        ("nickname2", json!({"schemas": [CORE_USER], "userName": "unknown@example.com", "name": {"nickname2": "J"}})),
    ];

    for (attribute, body) in cases {
        let (status, error) = status_and_json(app.post("/Users", &body).await).await;

        assert_eq!(status, 400, "unknown attribute {attribute} accepted: {error}");
        assert_eq!(error["schemas"], json!([ERROR]), "not a SCIM error: {error}");
        assert!(detail_of(&error).contains(attribute), "detail does not name {attribute}: {error}");
    }
}

async fn invalid_filter_rejected(app: TestApp) {
    app.create_user("filter@example.com", json!({"displayName": "Filter"})).await;
    let filters = [
        "userName eq",
        "userName xx \"a\"",
        "(userName eq \"a\"",
        "userName eq \"a\" and",
        "nosuchAttribute eq \"x\"",
        "name.nosuchPart eq \"x\"",
        "active gt true",
        "emails[type eq \"work\"",
    ];

    for filter in filters {
        let (status, body) = app.list_users(&[("filter", filter)]).await;

        assert_eq!(status, 400, "filter {filter:?} accepted: {body}");
        assert_eq!(body["scimType"], json!("invalidFilter"), "filter {filter:?}: wrong scimType: {body}");
    }
}

/// U+0000 in a filter value is refused as in request bodies: PostgreSQL cannot compare text
/// holding it, and no stored value contains it. Both the JSON escape and the raw character.
async fn nul_in_filter_rejected(app: TestApp) {
    app.create_user("nul@example.com", json!({})).await;
    for filter in ["userName eq \"nul\\u0000@example.com\"", "userName eq \"nul\u{0}@example.com\"", "emails[value co \"\\u0000\"]"] {
        let (status, body) = app.list_users(&[("filter", filter)]).await;

        assert_eq!(status, 400, "filter {filter:?}: {body}");
        assert_eq!(body["scimType"], json!("invalidFilter"), "filter {filter:?}: wrong scimType: {body}");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("U+0000") || detail.contains("control character"), "filter {filter:?}: {body}");
    }
}

/// U+0000 in a PATCH path's value filter gets a 400 as well, on users and on group members.
async fn nul_in_patch_path_rejected(app: TestApp) {
    let user = app.create_user("nulpath@example.com", json!({"emails": [{"value": "nulpath@example.com", "type": "work"}]})).await;
    let user_id = user["id"].as_str().unwrap();
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Nul", "members": [{"value": user_id}]});
    let (status, group) = status_and_json(app.post("/Groups", &group).await).await;
    assert_eq!(status, 201, "{group}");
    let group_id = group["id"].as_str().unwrap();

    for (path, attribute_path) in [
        (format!("/Users/{user_id}"), "emails[value eq \"a\\u0000\"]"),
        (format!("/Groups/{group_id}"), "members[value eq \"\\u0000\"]"),
    ] {
        let body = patch_body(json!([{"op": "remove", "path": attribute_path}]));
        let (status, body) = status_and_json(app.patch(&path, &body).await).await;

        assert_eq!(status, 400, "{path} {attribute_path}: {body}");
        assert!(body["detail"].as_str().unwrap_or_default().contains("U+0000"), "{path}: {body}");
    }
}

/// Lists with a filter while the organization has no users and expects `invalidFilter`.
async fn assert_filter_rejected_without_users(app: &TestApp, filter: &str) {
    let (status, body) = app.list_users(&[("filter", filter)]).await;

    assert_eq!(status, 400, "filter {filter:?} accepted while the organization has no users: {body}");
    assert_eq!(body["scimType"], json!("invalidFilter"), "filter {filter:?}: wrong scimType: {body}");
}

async fn unknown_filter_attribute_without_users(app: TestApp) {
    assert_filter_rejected_without_users(&app, "nosuchAttribute eq \"x\"").await;
}

async fn boolean_ordering_filter_without_users(app: TestApp) {
    assert_filter_rejected_without_users(&app, "active gt true").await;
}

async fn invalid_date_filter_without_users(app: TestApp) {
    assert_filter_rejected_without_users(&app, "meta.lastModified gt \"yesterday\"").await;
}

async fn invalid_list_parameters_rejected(app: TestApp) {
    let cases: [&[(&str, &str)]; 3] = [
        &[("count", "ten")],
        &[("startIndex", "first")],
        &[("sortBy", "userName"), ("sortOrder", "sideways")],
    ];

    for parameters in cases {
        let (status, body) = app.list_users(parameters).await;

        assert_eq!(status, 400, "parameters {parameters:?} accepted: {body}");
        assert_eq!(body["schemas"], json!([ERROR]), "parameters {parameters:?}: not a SCIM error: {body}");
    }
}

async fn text_content_type_unsupported(app: TestApp) {
    let user = app.create_user("media@example.com", json!({})).await;
    let path = user_path(&user);
    let create = json!({"schemas": [CORE_USER], "userName": "plain@example.com"}).to_string();
    let patch = patch_body(json!([{"op": "replace", "path": "title", "value": "x"}])).to_string();
    let requests = [
        (Method::POST, "/Users".to_string(), create.clone()),
        (Method::PUT, path.clone(), create),
        (Method::PATCH, path, patch),
    ];

    for (method, path, body) in requests {
        let (status, error) = send_raw(&app, method.clone(), &path, "text/plain", &body).await;

        assert_eq!(status, 415, "{method} {path} with text/plain: {error}");
        assert_scim_error(status, &error, 415, None);
    }
}

async fn json_content_types_accepted(app: TestApp) {
    let cases = [
        ("application/json", "json@example.com"),
        ("application/json; charset=utf-8", "json.charset@example.com"),
        ("application/scim+json; charset=utf-8", "scim.charset@example.com"),
    ];

    for (content_type, user_name) in cases {
        let body = json!({"schemas": [CORE_USER], "userName": user_name}).to_string();
        let (status, created) = send_raw(&app, Method::POST, "/Users", content_type, &body).await;

        assert_eq!(status, 201, "Content-Type {content_type} rejected: {created}");
    }
}

async fn invalid_timezone_rejected(app: TestApp) {
    let body = json!({"schemas": [CORE_USER], "userName": "tz@example.com", "timezone": "Mars/Olympus"});
    let (create_status, create_error) = status_and_json(app.post("/Users", &body).await).await;
    let user = app.create_user("tz@example.com", json!({"timezone": "Europe/Paris"})).await;

    let (patch_status, patch_error) = app
        .patch_user(id_of(&user), json!([{"op": "replace", "path": "timezone", "value": "Europe/Atlantis"}]))
        .await;
    let (_, fetched) = app.get_user(id_of(&user)).await;

    assert_scim_error(create_status, &create_error, 400, Some("invalidValue"));
    assert!(detail_of(&create_error).contains("Mars/Olympus"), "detail does not show the value: {create_error}");
    assert_scim_error(patch_status, &patch_error, 400, Some("invalidValue"));
    assert_eq!(user["timezone"], json!("Europe/Paris"), "valid time zone not stored: {user}");
    assert_eq!(fetched["timezone"], json!("Europe/Paris"), "rejected PATCH changed the time zone: {fetched}");
}

async fn unknown_product_rejected(app: TestApp) {
    let body = json!({"schemas": [CORE_USER], "userName": "product@example.com", HUB_USER: {"productAccess": ["desk", "payroll"]}});
    let (create_status, create_error) = status_and_json(app.post("/Users", &body).await).await;
    let user = app.create_user("product@example.com", json!({HUB_USER: {"productAccess": ["desk"]}})).await;

    let (patch_status, patch_error) = app
        .patch_user(
            id_of(&user),
            json!([{"op": "add", "path": format!("{HUB_USER}:productAccess"), "value": ["payroll"]}]),
        )
        .await;
    let (_, fetched) = app.get_user(id_of(&user)).await;

    assert_scim_error(create_status, &create_error, 400, Some("invalidValue"));
    assert!(detail_of(&create_error).contains("payroll"), "detail does not name the product: {create_error}");
    assert_scim_error(patch_status, &patch_error, 400, Some("invalidValue"));
    assert_eq!(fetched[HUB_USER]["productAccess"], json!(["desk"]), "rejected PATCH changed products: {fetched}");
}

async fn unknown_role_rejected(app: TestApp) {
    let bodies = [
        json!({"schemas": [CORE_USER], "userName": "role@example.com", HUB_USER: {"platformRole": "Superuser"}}),
        json!({"schemas": [CORE_USER], "userName": "role@example.com", "roles": [{"value": "Superuser", "primary": true}]}),
    ];
    for body in bodies {
        let (status, error) = status_and_json(app.post("/Users", &body).await).await;

        assert_eq!(status, 400, "body {body} accepted: {error}");
        assert_eq!(error["scimType"], json!("invalidValue"), "body {body}: wrong scimType: {error}");
    }
    let user = app.create_user("role@example.com", json!({})).await;

    let (patch_status, patch_error) = app
        .patch_user(id_of(&user), json!([{"op": "Replace", "path": "roles[primary eq \"True\"].value", "value": "Root"}]))
        .await;
    let (extension_status, extension_error) = app
        .patch_user(id_of(&user), json!([{"op": "replace", "path": format!("{HUB_USER}:platformRole"), "value": "Root"}]))
        .await;

    assert_scim_error(patch_status, &patch_error, 400, Some("invalidValue"));
    assert_scim_error(extension_status, &extension_error, 400, Some("invalidValue"));
}

async fn rejected_patch_changes_nothing(app: TestApp) {
    let user = app.create_user("atomic@example.com", json!({"displayName": "Before", "title": "Clerk"})).await;
    let (_, before) = app.get_user(id_of(&user)).await;
    let audit_before = app.audit_entries(id_of(&user)).await.len();

    let (status, error) = app
        .patch_user(
            id_of(&user),
            json!([
                {"op": "replace", "path": "displayName", "value": "After"},
                {"op": "remove", "path": "title"},
                {"op": "replace", "path": "nosuchAttribute", "value": "x"},
            ]),
        )
        .await;
    let (_, after) = app.get_user(id_of(&user)).await;
    let audit_after = app.audit_entries(id_of(&user)).await.len();

    assert_eq!(status, 400, "invalid PATCH accepted: {error}");
    assert_eq!(after, before, "a rejected PATCH changed the user");
    assert_eq!(after["meta"]["version"], json!("W/\"1\""), "version changed: {after}");
    assert_eq!(audit_after, audit_before, "a rejected PATCH was audited");
}

async fn rejected_put_changes_nothing(app: TestApp) {
    let user = app.create_user("atomicput@example.com", json!({"displayName": "Before"})).await;
    let (_, before) = app.get_user(id_of(&user)).await;
    let body = json!({
        "schemas": [CORE_USER],
        "userName": "atomicput@example.com",
        "displayName": "After",
        "timezone": "Nowhere/Special",
    });

    let (status, error) = status_and_json(app.put(&user_path(&user), &body).await).await;
    let (_, after) = app.get_user(id_of(&user)).await;

    assert_eq!(status, 400, "invalid PUT accepted: {error}");
    assert_eq!(after, before, "a rejected PUT changed the user");
}

async fn duplicate_user_name_conflicts(app: TestApp) {
    app.create_user("Taken@example.com", json!({})).await;
    let other = app.create_user("free@example.com", json!({})).await;

    let create = json!({"schemas": [CORE_USER], "userName": "taken@EXAMPLE.com"});
    let (create_status, create_error) = status_and_json(app.post("/Users", &create).await).await;
    let (patch_status, patch_error) = app
        .patch_user(id_of(&other), json!([{"op": "replace", "path": "userName", "value": "TAKEN@example.com"}]))
        .await;
    let put = json!({"schemas": [CORE_USER], "userName": "taken@example.com"});
    let (put_status, put_error) = status_and_json(app.put(&user_path(&other), &put).await).await;
    let (_, fetched) = app.get_user(id_of(&other)).await;

    assert_scim_error(create_status, &create_error, 409, Some("uniqueness"));
    assert_scim_error(patch_status, &patch_error, 409, Some("uniqueness"));
    assert_scim_error(put_status, &put_error, 409, Some("uniqueness"));
    assert_eq!(fetched["userName"], json!("free@example.com"), "rejected rename changed the user: {fetched}");
}

async fn own_user_name_case_change_allowed(app: TestApp) {
    let user = app.create_user("recase@example.com", json!({})).await;

    let (status, patched) = app
        .patch_user(id_of(&user), json!([{"op": "replace", "path": "userName", "value": "ReCase@example.com"}]))
        .await;

    assert_eq!(status, 200, "changing the case of the own userName rejected: {patched}");
    assert_eq!(patched["userName"], json!("ReCase@example.com"), "userName not changed: {patched}");
}

async fn duplicate_external_id_conflicts(app: TestApp) {
    app.create_user("first@example.com", json!({"externalId": "X-1"})).await;
    let second = app.create_user("second@example.com", json!({"externalId": "x-1"})).await;

    let body = json!({"schemas": [CORE_USER], "userName": "third@example.com", "externalId": "X-1"});
    let (create_status, create_error) = status_and_json(app.post("/Users", &body).await).await;
    let (patch_status, patch_error) = app
        .patch_user(id_of(&second), json!([{"op": "replace", "path": "externalId", "value": "X-1"}]))
        .await;

    assert_eq!(second["externalId"], json!("x-1"), "externalId differing in case rejected: {second}");
    assert_scim_error(create_status, &create_error, 409, Some("uniqueness"));
    assert_scim_error(patch_status, &patch_error, 409, Some("uniqueness"));
}

async fn two_primary_emails_rejected(app: TestApp) {
    let body = json!({
        "schemas": [CORE_USER],
        "userName": "primaries@example.com",
        "emails": [{"value": "a@example.com", "primary": true}, {"value": "b@example.com", "primary": true}],
    });

    let (status, error) = status_and_json(app.post("/Users", &body).await).await;

    assert_scim_error(status, &error, 400, Some("invalidValue"));
}

async fn missing_user_not_found(app: TestApp) {
    let path = format!("/Users/{}", uuid::Uuid::new_v4());
    let body = json!({"schemas": [CORE_USER], "userName": "ghost@example.com"});

    let (get_status, get_error) = status_and_json(app.get(&path).await).await;
    let (put_status, put_error) = status_and_json(app.put(&path, &body).await).await;
    let (delete_status, delete_error) = status_and_json(app.delete(&path).await).await;

    assert_scim_error(get_status, &get_error, 404, None);
    assert_scim_error(put_status, &put_error, 404, None);
    assert_scim_error(delete_status, &delete_error, 404, None);
}

async fn oversized_body_rejected(app: TestApp) {
    let padding = "x".repeat(2 * 1024 * 1024);
    let body = json!({"schemas": [CORE_USER], "userName": "big@example.com", "displayName": padding}).to_string();

    let (status, error) = send_raw(&app, Method::POST, "/Users", "application/scim+json", &body).await;

    assert_scim_error(status, &error, 413, None);
}

async fn concurrent_duplicate_creates_conflict(app: TestApp) {
    let requests = (0..8).map(|index| {
        let user_name = if index % 2 == 0 { "Racer@example.com" } else { "racer@EXAMPLE.com" };
        let body = json!({"schemas": [CORE_USER], "userName": user_name});
        let app = &app;
        async move { status_and_json(app.post("/Users", &body).await).await }
    });
    let results = futures::future::join_all(requests).await;

    let created = results.iter().filter(|(status, _)| *status == 201).count();
    assert_eq!(created, 1, "expected exactly one create to succeed: {results:?}");
    for (status, body) in results.iter().filter(|(status, _)| *status != 201) {
        assert_scim_error(*status, body, 409, Some("uniqueness"));
    }
    let (_, all) = app.list_users(&[]).await;
    assert_eq!(all["totalResults"], json!(1), "duplicates were stored: {all}");
}

async fn client_id_ignored_on_create(app: TestApp) {
    let body = json!({
        "schemas": [CORE_USER],
        "id": "chosen-by-client",
        "userName": "clientid@example.com",
        "meta": {"created": "2001-01-01T00:00:00Z", "version": "W/\"99\""},
    });

    let (status, created) = status_and_json(app.post("/Users", &body).await).await;
    let (get_status, _) = app.get_user("chosen-by-client").await;

    assert_eq!(status, 201, "create with a client id failed: {created}");
    assert_ne!(created["id"], json!("chosen-by-client"), "client chose the id: {created}");
    assert_ne!(created["meta"]["created"], json!("2001-01-01T00:00:00Z"), "client chose meta.created: {created}");
    assert_eq!(created["meta"]["version"], json!("W/\"1\""), "client chose the version: {created}");
    assert_eq!(get_status, 404, "a user is reachable under the client's id");
}

async fn unsupported_method_rejected(app: TestApp) {
    let user = app.create_user("methods@example.com", json!({})).await;
    let body = json!({"schemas": [CORE_USER], "userName": "methods2@example.com"});
    let requests = [
        (Method::POST, user_path(&user)),
        (Method::PUT, "/Users".to_string()),
        (Method::DELETE, "/Users".to_string()),
        (Method::PATCH, "/Users".to_string()),
    ];

    for (method, path) in requests {
        let (status, error) = status_and_json(app.send_json(method.clone(), &path, &body).await).await;

        assert_eq!(status, 405, "{method} {path}: {error}");
        assert_scim_error(status, &error, 405, None);
    }
}

async fn responses_use_scim_media_type(app: TestApp) {
    let create = app.post("/Users", &json!({"schemas": [CORE_USER], "userName": "media.type@example.com"})).await;
    let create_type = header_text(&create, "content-type");
    let list_type = header_text(&app.get("/Users").await, "content-type");
    let missing_type = header_text(&app.get(&format!("/Users/{}", uuid::Uuid::new_v4())).await, "content-type");
    let invalid_type = header_text(&app.post("/Users", &json!({"schemas": [CORE_USER]})).await, "content-type");

    for (request, content_type) in [
        ("POST /Users", create_type),
        ("GET /Users", list_type),
        ("GET of a missing user", missing_type),
        ("invalid POST", invalid_type),
    ] {
        assert!(
            content_type.as_deref().is_some_and(|value| value.starts_with("application/scim+json")),
            "{request}: Content-Type is {content_type:?}"
        );
    }
}

async fn invalid_term_after_false_and(app: TestApp) {
    app.create_user("shortcut@example.com", json!({})).await;
    let filters = [
        "userName eq \"nobody@example.com\" and nosuchAttribute eq \"x\"",
        "userName pr or nosuchAttribute eq \"x\"",
        "userName eq \"nobody@example.com\" and active gt true",
    ];

    for filter in filters {
        let (status, body) = app.list_users(&[("filter", filter)]).await;

        assert_eq!(status, 400, "filter {filter:?} accepted: {body}");
        assert_eq!(body["scimType"], json!("invalidFilter"), "filter {filter:?}: wrong scimType: {body}");
    }
}

async fn root_search_rejects_unknown_attribute(app: TestApp) {
    app.create_user("rootsearch@example.com", json!({})).await;
    let request = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": "nosuchAttribute eq \"x\"",
    });

    let (status, body) = status_and_json(app.post("/.search", &request).await).await;

    assert_scim_error(status, &body, 400, Some("invalidFilter"));
}

both_backends!(
    nul_in_filter_rejected,
    nul_in_patch_path_rejected,
    malformed_json_rejected,
    non_object_body_rejected,
    missing_schemas_rejected,
    missing_user_name_rejected,
    wrong_types_rejected,
    patch_wrong_type_rejected,
    unknown_attribute_rejected,
    invalid_filter_rejected,
    unknown_filter_attribute_without_users,
    boolean_ordering_filter_without_users,
    invalid_date_filter_without_users,
    invalid_list_parameters_rejected,
    text_content_type_unsupported,
    json_content_types_accepted,
    invalid_timezone_rejected,
    unknown_product_rejected,
    unknown_role_rejected,
    rejected_patch_changes_nothing,
    rejected_put_changes_nothing,
    duplicate_user_name_conflicts,
    own_user_name_case_change_allowed,
    duplicate_external_id_conflicts,
    two_primary_emails_rejected,
    missing_user_not_found,
    oversized_body_rejected,
    concurrent_duplicate_creates_conflict,
    client_id_ignored_on_create,
    unsupported_method_rejected,
    responses_use_scim_media_type,
    invalid_term_after_false_and,
    root_search_rejects_unknown_attribute,
);
