//! `/Bulk`: bulkId references, failures, limits and Hub's rules across operations.

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

fn bulk(operations: Value) -> Value {
    json!({"schemas": [BULK_REQUEST], "Operations": operations})
}

fn create_user_op(bulk_id: &str, user_name: &str, extra: Value) -> Value {
    let mut data = json!({"schemas": [CORE_USER], "userName": user_name});
    if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
    json!({"method": "POST", "path": "/Users", "bulkId": bulk_id, "data": data})
}

fn statuses(response: &Value) -> Vec<String> {
    response["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|operation| operation["status"].as_str().unwrap().to_string())
        .collect()
}

async fn group_with_members_created_in_same_request(app: TestApp) {
    let request = bulk(json!([
        {"method": "POST", "path": "/Groups", "bulkId": "g1", "data": {"schemas": [CORE_GROUP], "displayName": "Bulk team", "members": [{"type": "User", "value": "bulkId:u1"}, {"type": "User", "value": "bulkId:u2"}]}},
        create_user_op("u1", "one@example.com", json!({})),
        create_user_op("u2", "two@example.com", json!({})),
    ]));

    let (status, response) = status_and_json(app.post("/Bulk", &request).await).await;

    assert_eq!(status, 200, "body: {response}");
    assert_eq!(response["schemas"], json!([BULK_RESPONSE]));
    assert_eq!(statuses(&response), vec!["201", "201", "201"]);
    let group_location = response["Operations"][0]["location"].as_str().unwrap();
    let group_id = group_location.rsplit('/').next().unwrap();
    let (_, group) = status_and_json(app.get(&format!("/Groups/{group_id}")).await).await;
    let user_ids: Vec<&str> = response["Operations"].as_array().unwrap()[1..]
        .iter()
        .map(|operation| operation["location"].as_str().unwrap().rsplit('/').next().unwrap())
        .collect();
    let members: Vec<&str> = group["members"].as_array().unwrap().iter().map(|member| member["value"].as_str().unwrap()).collect();
    assert_eq!(members, user_ids);
    assert!(response["Operations"][0]["version"].is_string());
}

async fn circular_references_rejected(app: TestApp) {
    let request = bulk(json!([
        {"method": "POST", "path": "/Groups", "bulkId": "a", "data": {"schemas": [CORE_GROUP], "displayName": "A", "members": [{"value": "bulkId:b"}]}},
        {"method": "POST", "path": "/Groups", "bulkId": "b", "data": {"schemas": [CORE_GROUP], "displayName": "B", "members": [{"value": "bulkId:a"}]}},
        create_user_op("c", "fine@example.com", json!({})),
    ]));

    let (status, response) = status_and_json(app.post("/Bulk", &request).await).await;

    assert_eq!(status, 200, "body: {response}");
    assert_eq!(statuses(&response), vec!["409", "409", "201"]);
    let detail = response["Operations"][0]["response"]["detail"].as_str().unwrap();
    assert!(detail.contains("cycle"), "detail: {detail}");
    let (_, groups) = status_and_json(app.get("/Groups").await).await;
    assert_eq!(groups["totalResults"], json!(0));
}

async fn unknown_and_failed_references(app: TestApp) {
    let request = bulk(json!([
        {"method": "POST", "path": "/Groups", "bulkId": "g", "data": {"schemas": [CORE_GROUP], "displayName": "G", "members": [{"value": "bulkId:nobody"}]}},
        create_user_op("bad", "", json!({})),
        {"method": "PATCH", "path": "/Users/bulkId:bad", "data": patch_body(json!([{"op": "replace", "path": "displayName", "value": "X"}]))},
    ]));

    let (_, response) = status_and_json(app.post("/Bulk", &request).await).await;

    assert_eq!(statuses(&response), vec!["400", "400", "409"]);
    assert_eq!(response["Operations"][1]["response"]["scimType"], json!("invalidValue"));
    assert_eq!(response["Operations"][1]["response"]["status"], json!("400"));
}

async fn fail_on_errors_stops_processing(app: TestApp) {
    let mut request = bulk(json!([
        create_user_op("a", "", json!({})),
        create_user_op("b", "b@example.com", json!({})),
        create_user_op("c", "c@example.com", json!({})),
    ]));
    request["failOnErrors"] = json!(1);

    let (status, response) = status_and_json(app.post("/Bulk", &request).await).await;
    let (_, users) = status_and_json(app.get("/Users").await).await;

    assert_eq!(status, 200, "body: {response}");
    assert_eq!(statuses(&response), vec!["400"]);
    assert_eq!(users["totalResults"], json!(0));
}

async fn owner_limit_across_operations(app: TestApp) {
    let owner = json!({HUB_USER: {"platformRole": "Owner"}});
    let request = bulk(json!([
        create_user_op("o1", "o1@example.com", owner.clone()),
        create_user_op("o2", "o2@example.com", owner.clone()),
        create_user_op("o3", "o3@example.com", owner),
    ]));

    let (_, response) = status_and_json(app.post("/Bulk", &request).await).await;

    assert_eq!(statuses(&response), vec!["201", "201", "409"]);
    let detail = response["Operations"][2]["response"]["detail"].as_str().unwrap();
    assert!(detail.starts_with("Owner limit"), "detail: {detail}");
}

async fn put_patch_delete_with_versions(app: TestApp) {
    let user = app.create_user("versioned@example.com", json!({})).await;
    let id = user["id"].as_str().unwrap();
    let version = user["meta"]["version"].as_str().unwrap();
    let request = bulk(json!([
        {"method": "PATCH", "path": format!("/Users/{id}"), "version": version, "data": patch_body(json!([{"op": "replace", "path": "title", "value": "Lead"}]))},
        {"method": "PUT", "path": format!("/Users/{id}"), "version": version, "data": {"schemas": [CORE_USER], "userName": "versioned@example.com"}},
        {"method": "DELETE", "path": format!("/Users/{id}")},
        {"method": "DELETE", "path": "/Users/no-such-id"},
    ]));

    let (_, response) = status_and_json(app.post("/Bulk", &request).await).await;

    assert_eq!(statuses(&response), vec!["200", "412", "204", "404"]);
    let (status, _) = status_and_json(app.get(&format!("/Users/{id}")).await).await;
    assert_eq!(status, 404);
}

async fn too_many_operations_rejected(app: TestApp) {
    let operations: Vec<Value> = (0..1001).map(|index| create_user_op(&format!("u{index}"), &format!("u{index}@example.com"), json!({}))).collect();

    let (status, body) = status_and_json(app.post("/Bulk", &bulk(Value::Array(operations))).await).await;

    assert_scim_error(status, &body, 413, Some("tooMany"));
    assert!(body["detail"].as_str().unwrap().contains("1000"), "detail: {body}");
}

async fn malformed_bulk_rejected(app: TestApp) {
    let cases = [
        json!({"Operations": []}),
        bulk(json!([])),
        bulk(json!([{"method": "GET", "path": "/Users"}])),
        bulk(json!([{"method": "POST", "path": "/Users", "data": {"schemas": [CORE_USER], "userName": "x@example.com"}}])),
        bulk(json!([create_user_op("same", "a@example.com", json!({})), create_user_op("same", "b@example.com", json!({}))])),
    ];
    for body in cases {
        let (status, error) = status_and_json(app.post("/Bulk", &body).await).await;

        assert_eq!(status, 400, "request {body}: {error}");
        assert_eq!(error["schemas"], json!([ERROR]));
    }
}

async fn unsupported_path_reported(app: TestApp) {
    let request = bulk(json!([{"method": "POST", "path": "/Things", "bulkId": "t", "data": {}}]));

    let (_, response) = status_and_json(app.post("/Bulk", &request).await).await;

    assert_eq!(statuses(&response), vec!["400"]);
    assert_eq!(response["Operations"][0]["response"]["scimType"], json!("invalidPath"));
}

both_backends!(
    group_with_members_created_in_same_request,
    circular_references_rejected,
    unknown_and_failed_references,
    fail_on_errors_stops_processing,
    owner_limit_across_operations,
    put_patch_delete_with_versions,
    too_many_operations_rejected,
    malformed_bulk_rejected,
    unsupported_path_reported,
);
