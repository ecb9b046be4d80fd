//! Token health: an expiry set at creation, a precise 401 once it passed, and the time of the
//! last use.

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

async fn token_row(app: &TestApp, owner: &str, id: &str) -> Value {
    let (status, list) = app.admin_json(Method::GET, "/scim-tokens", owner, None).await;
    assert_eq!(status, 200, "{list}");
    list["tokens"].as_array().unwrap().iter().find(|token| token["id"] == id).cloned().unwrap_or_else(|| panic!("token {id} not listed: {list}"))
}

async fn expired_token_refused_with_its_date(app: TestApp) {
    let (_, owner) = app.signed_in_user("owner@example.com", "Owner").await;
    let (status, created) = app
        .admin_json(Method::POST, "/scim-tokens", &owner, Some(json!({"name": "Entra ID", "expiresInDays": 1})))
        .await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();
    let expires_at = created["expiresAt"].as_str().unwrap().to_string();

    let response = app.request_with_token(&token, Method::GET, "/Users?count=1").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let row = token_row(&app, &owner, &id).await;
    assert_eq!(row["expiresAt"], expires_at.as_str());
    assert_eq!(row["expired"], false);

    // The last use is written in the background, shortly after the request.
    let mut last_used = Value::Null;
    for _ in 0..50 {
        last_used = token_row(&app, &owner, &id).await["lastUsedAt"].clone();
        if last_used.is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(last_used.is_string(), "lastUsedAt was not recorded");

    app.clock.advance(chrono::Duration::days(2));
    let response = app.request_with_token(&token, Method::GET, "/Users?count=1").send().await.unwrap();
    let (status, body) = status_and_json(response).await;
    assert_scim_error(status, &body, 401, None);
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("expired"), "{detail}");
    assert!(detail.contains(&expires_at), "{detail}");
    assert_eq!(token_row(&app, &owner, &id).await["expired"], true);

    // Tokens without an expiry keep working.
    assert_eq!(app.get("/Users?count=1").await.status().as_u16(), 200);
}

async fn expiry_out_of_range_rejected(app: TestApp) {
    let (_, owner) = app.signed_in_user("owner@example.com", "Owner").await;
    for days in [0, -5, 3651] {
        let (status, body) = app
            .admin_json(Method::POST, "/scim-tokens", &owner, Some(json!({"name": "x", "expiresInDays": days})))
            .await;
        assert_eq!(status, 400, "{days}: {body}");
    }
}

both_backends!(expired_token_refused_with_its_date, expiry_out_of_range_rejected);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_line_creates_expiring_tokens() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let run = |arguments: &[&str]| crate::process::run_hub(&app, arguments);

    let created = run(&["token", "create", "--org", "default", "--name", "okta", "--expires-in", "90d"]);
    let output = String::from_utf8_lossy(&created.stdout).to_string();
    assert!(created.status.success(), "{output}");
    assert!(output.contains("Expires at:"), "{output}");

    let listed = run(&["token", "list", "--org", "default"]);
    let listing = String::from_utf8_lossy(&listed.stdout).to_string();
    assert!(listing.contains("active, expires"), "{listing}");
    assert!(listing.contains("last used never"), "{listing}");

    let refused = run(&["token", "create", "--org", "default", "--expires-in", "soon"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("90d"));
}
