//! Versioning with ETags (RFC 7644 §3.14): the ETag header matches `meta.version`, `If-Match`
//! guards PUT, PATCH and DELETE, and a GET with a matching `If-None-Match` returns 304.

use reqwest::{Method, Response};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

fn title_patch(title: &str) -> Value {
    patch_body(json!([{"op": "replace", "path": "title", "value": title}]))
}

fn replacement(title: &str) -> Value {
    json!({"schemas": [CORE_USER], "userName": "versioned@example.com", "title": title})
}

async fn create_versioned_user(app: &TestApp) -> Value {
    app.create_user("versioned@example.com", json!({"title": "First"})).await
}

async fn send_with_if_match(app: &TestApp, method: Method, path: &str, body: Option<&Value>, tag: &str) -> Response {
    let mut request = app.request(method, path).header("If-Match", tag);
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/scim+json")
            .body(body.to_string());
    }
    request.send().await.expect("request failed")
}

async fn get_etag_matches_version(app: TestApp) {
    let user = create_versioned_user(&app).await;

    let response = app.get(&user_path(&user)).await;
    let etag = header_text(&response, "etag");
    let (_, fetched) = status_and_json(response).await;

    assert_eq!(etag.as_deref(), Some("W/\"1\""), "ETag of a new user differs");
    assert_eq!(etag.as_deref(), fetched["meta"]["version"].as_str(), "ETag differs from meta.version: {fetched}");
}

async fn writes_with_current_tag_succeed(app: TestApp) {
    let user = create_versioned_user(&app).await;
    let path = user_path(&user);

    let put = send_with_if_match(&app, Method::PUT, &path, Some(&replacement("Second")), "W/\"1\"").await;
    let put_etag = header_text(&put, "etag");
    let (put_status, put_body) = status_and_json(put).await;
    let patch = send_with_if_match(&app, Method::PATCH, &path, Some(&title_patch("Third")), "W/\"2\"").await;
    let patch_etag = header_text(&patch, "etag");
    let (patch_status, patch_result) = status_and_json(patch).await;
    let delete = send_with_if_match(&app, Method::DELETE, &path, None, "W/\"3\"").await;
    let delete_status = delete.status().as_u16();

    assert_eq!(put_status, 200, "PUT with the current tag failed: {put_body}");
    assert_eq!(put_etag.as_deref(), Some("W/\"2\""), "PUT did not return the new tag: {put_body}");
    assert_eq!(patch_status, 200, "PATCH with the current tag failed: {patch_result}");
    assert_eq!(patch_etag.as_deref(), Some("W/\"3\""), "PATCH did not return the new tag: {patch_result}");
    assert_eq!(patch_result["meta"]["version"], json!("W/\"3\""), "meta.version differs: {patch_result}");
    assert_eq!(delete_status, 204, "DELETE with the current tag failed");
}

async fn stale_tag_rejected(app: TestApp) {
    let user = create_versioned_user(&app).await;
    let path = user_path(&user);
    app.patch(&path, &title_patch("Second")).await;
    let (_, before) = app.get_user(user["id"].as_str().unwrap()).await;

    let put = send_with_if_match(&app, Method::PUT, &path, Some(&replacement("Stale")), "W/\"1\"").await;
    let (put_status, put_error) = status_and_json(put).await;
    let patch = send_with_if_match(&app, Method::PATCH, &path, Some(&title_patch("Stale")), "W/\"1\"").await;
    let (patch_status, patch_error) = status_and_json(patch).await;
    let delete = send_with_if_match(&app, Method::DELETE, &path, None, "W/\"1\"").await;
    let (delete_status, delete_error) = status_and_json(delete).await;
    let (_, after) = app.get_user(user["id"].as_str().unwrap()).await;

    assert_scim_error(put_status, &put_error, 412, None);
    assert_scim_error(patch_status, &patch_error, 412, None);
    assert_scim_error(delete_status, &delete_error, 412, None);
    assert_eq!(after, before, "a rejected write changed the user");
}

async fn wildcard_tag_matches(app: TestApp) {
    let user = create_versioned_user(&app).await;
    let path = user_path(&user);

    let put = send_with_if_match(&app, Method::PUT, &path, Some(&replacement("Second")), "*").await;
    let put_status = put.status().as_u16();
    let patch = send_with_if_match(&app, Method::PATCH, &path, Some(&title_patch("Third")), "*").await;
    let patch_status = patch.status().as_u16();
    let delete = send_with_if_match(&app, Method::DELETE, &path, None, "*").await;
    let delete_status = delete.status().as_u16();

    assert_eq!(put_status, 200, "PUT with If-Match * failed");
    assert_eq!(patch_status, 200, "PATCH with If-Match * failed");
    assert_eq!(delete_status, 204, "DELETE with If-Match * failed");
}

async fn tag_list_with_current_matches(app: TestApp) {
    let user = create_versioned_user(&app).await;

    let patch = send_with_if_match(&app, Method::PATCH, &user_path(&user), Some(&title_patch("Listed")), "W/\"7\", W/\"1\"").await;
    let (status, body) = status_and_json(patch).await;

    assert_eq!(status, 200, "If-Match list containing the current tag rejected: {body}");
}

async fn if_none_match_current_not_modified(app: TestApp) {
    let user = create_versioned_user(&app).await;

    let response = app
        .request(Method::GET, &user_path(&user))
        .header("If-None-Match", "W/\"1\"")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let etag = header_text(&response, "etag");
    let body = response.text().await.unwrap();

    assert_eq!(status, 304, "If-None-Match with the current tag did not give 304: {body}");
    assert!(body.is_empty(), "304 has a body: {body}");
    assert_eq!(etag.as_deref(), Some("W/\"1\""), "304 without the current ETag");
}

async fn if_none_match_stale_returns_user(app: TestApp) {
    let user = create_versioned_user(&app).await;
    app.patch(&user_path(&user), &title_patch("Second")).await;

    let response = app
        .request(Method::GET, &user_path(&user))
        .header("If-None-Match", "W/\"1\"")
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(response).await;

    assert_eq!(status, 200, "If-None-Match with a stale tag did not return the user: {body}");
    assert_eq!(body["title"], json!("Second"), "stale representation returned: {body}");
}

async fn version_increases_per_change(app: TestApp) {
    let user = create_versioned_user(&app).await;
    let path = user_path(&user);

    let (_, patched) = status_and_json(app.patch(&path, &title_patch("Second")).await).await;
    let (_, replaced) = status_and_json(app.put(&path, &replacement("Third")).await).await;
    let (_, deactivated) = status_and_json(
        app.patch(&path, &patch_body(json!([{"op": "replace", "path": "active", "value": false}]))).await,
    )
    .await;

    assert_eq!(user["meta"]["version"], json!("W/\"1\""), "create version differs: {user}");
    assert_eq!(patched["meta"]["version"], json!("W/\"2\""), "PATCH version differs: {patched}");
    assert_eq!(replaced["meta"]["version"], json!("W/\"3\""), "PUT version differs: {replaced}");
    assert_eq!(deactivated["meta"]["version"], json!("W/\"4\""), "deactivation version differs: {deactivated}");
}

async fn unchanged_patch_keeps_version(app: TestApp) {
    let user = create_versioned_user(&app).await;

    let response = app.patch(&user_path(&user), &title_patch("First")).await;
    let etag = header_text(&response, "etag");
    let (status, body) = status_and_json(response).await;

    assert_eq!(status, 200, "PATCH to the same value failed: {body}");
    assert_eq!(body["meta"]["version"], json!("W/\"1\""), "a PATCH that changed nothing bumped the version: {body}");
    assert_eq!(etag.as_deref(), Some("W/\"1\""), "ETag changed");
}

async fn if_match_on_missing_user_not_found(app: TestApp) {
    let path = format!("/Users/{}", uuid::Uuid::new_v4());

    let response = send_with_if_match(&app, Method::PATCH, &path, Some(&title_patch("x")), "W/\"1\"").await;
    let (status, body) = status_and_json(response).await;

    assert_scim_error(status, &body, 404, None);
}

async fn concurrent_if_match_one_winner(app: TestApp) {
    let user = create_versioned_user(&app).await;
    let path = user_path(&user);

    let requests = (0..5).map(|index| {
        let body = title_patch(&format!("Writer {index}"));
        let path = path.clone();
        let app = &app;
        async move { status_and_json(send_with_if_match(app, Method::PATCH, &path, Some(&body), "W/\"1\"").await).await }
    });
    let results = futures::future::join_all(requests).await;

    let accepted = results.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(accepted, 1, "expected one write with the same If-Match to succeed: {results:?}");
    for (status, body) in results.iter().filter(|(status, _)| *status != 200) {
        assert_scim_error(*status, body, 412, None);
    }
}

both_backends!(
    get_etag_matches_version,
    writes_with_current_tag_succeed,
    stale_tag_rejected,
    wildcard_tag_matches,
    tag_list_with_current_matches,
    if_none_match_current_not_modified,
    if_none_match_stale_returns_user,
    version_increases_per_change,
    unchanged_patch_keeps_version,
    if_match_on_missing_user_not_found,
    concurrent_if_match_one_winner,
);
