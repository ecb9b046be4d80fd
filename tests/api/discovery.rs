//! Discovery endpoints and authentication.

use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

async fn service_provider_config_advertises_features(app: TestApp) {
    let (status, body) = status_and_json(app.get("/ServiceProviderConfig").await).await;

    assert_eq!(status, 200);
    assert_eq!(body["patch"]["supported"], json!(true));
    assert_eq!(body["filter"]["supported"], json!(true));
    assert_eq!(body["etag"]["supported"], json!(true));
    assert_eq!(body["bulk"]["supported"], json!(true));
    assert_eq!(body["bulk"]["maxOperations"], json!(1000));
    assert_eq!(body["bulk"]["maxPayloadSize"], json!(1_048_576));
}

async fn schemas_list_user_extensions(app: TestApp) {
    let (status, body) = status_and_json(app.get("/Schemas").await).await;

    assert_eq!(status, 200);
    assert_eq!(body["schemas"], json!([LIST_RESPONSE]));
    let ids: Vec<&str> = body["Resources"].as_array().unwrap().iter().map(|schema| schema["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&CORE_USER));
    assert!(ids.contains(&ENTERPRISE_USER));
    assert!(ids.contains(&HUB_USER));
}

async fn resource_type_user_found(app: TestApp) {
    let (status, body) = status_and_json(app.get("/ResourceTypes/User").await).await;

    assert_eq!(status, 200);
    assert_eq!(body["endpoint"], json!("/Users"));
    assert_eq!(body["schema"], json!(CORE_USER));
}

async fn discovery_rejects_other_methods(app: TestApp) {
    for path in ["/ServiceProviderConfig", "/ResourceTypes", "/Schemas"] {
        let (status, body) = status_and_json(app.post(path, &json!({})).await).await;

        assert_scim_error(status, &body, 405, None);
    }
}

async fn missing_token_unauthorized(app: TestApp) {
    let response = app.client.get(format!("{}/Users", app.scim_url)).send().await.unwrap();
    let challenge = response.headers().get("www-authenticate").cloned();
    let (status, body) = status_and_json(response).await;

    assert_scim_error(status, &body, 401, None);
    assert!(challenge.is_some());
}

async fn wrong_token_unauthorized(app: TestApp) {
    let response = app
        .client
        .get(format!("{}/Users", app.scim_url))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(response).await;

    assert_scim_error(status, &body, 401, None);
}

async fn unknown_endpoint_not_found(app: TestApp) {
    let (status, body) = status_and_json(app.get("/Nothing").await).await;

    assert_scim_error(status, &body, 404, None);
}

both_backends!(
    service_provider_config_advertises_features,
    schemas_list_user_extensions,
    resource_type_user_found,
    discovery_rejects_other_methods,
    missing_token_unauthorized,
    wrong_token_unauthorized,
    unknown_endpoint_not_found,
);
