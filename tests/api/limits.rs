//! Limits on hostile input (sizes, nesting, counts) and the headers every response carries.

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

async fn user_count(app: &TestApp) -> i64 {
    let (_, list) = app.list_users(&[("count", "0")]).await;
    list["totalResults"].as_i64().unwrap()
}

async fn oversized_values_refused_and_nothing_written(app: TestApp) {
    let before = user_count(&app).await;

    let long_name = "x".repeat(hub::scim::limits::MAX_STRING_CHARS + 1);
    let response = app
        .post("/Users", &json!({"schemas": [CORE_USER], "userName": "long@example.com", "displayName": long_name}))
        .await;
    let (status, body) = status_and_json(response).await;
    assert_scim_error(status, &body, 400, Some("invalidValue"));
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("displayName"), "{detail}");
    assert!(detail.contains("4096"), "{detail}");

    let emails: Vec<Value> = (0..=hub::scim::limits::MAX_VALUES).map(|index| json!({"value": format!("a{index}@example.com")})).collect();
    let response = app.post("/Users", &json!({"schemas": [CORE_USER], "userName": "many@example.com", "emails": emails})).await;
    let (status, body) = status_and_json(response).await;
    assert_scim_error(status, &body, 400, Some("invalidValue"));
    assert!(body["detail"].as_str().unwrap().contains("emails"), "{body}");

    let mut nested = json!("deep");
    for _ in 0..40 {
        nested = json!({ "a": nested });
    }
    let response = app.post("/Users", &json!({"schemas": [CORE_USER], "userName": "deep@example.com", "nickName": nested})).await;
    let (status, body) = status_and_json(response).await;
    assert_scim_error(status, &body, 400, Some("invalidValue"));

    // PATCH values are checked the same way.
    let user = app.create_user("patched@example.com", json!({})).await;
    let (status, body) = app
        .patch_user(user["id"].as_str().unwrap(), json!([{"op": "replace", "path": "title", "value": "t".repeat(5000)}]))
        .await;
    assert_scim_error(status, &body, 400, Some("invalidValue"));
    assert!(body["detail"].as_str().unwrap().contains("value"), "{body}");

    assert_eq!(user_count(&app).await, before + 1, "only the valid user exists");
}

async fn filters_bounded_in_length_and_depth(app: TestApp) {
    let deep = format!("{}userName eq \"a\"{}", "(".repeat(40), ")".repeat(40));
    let (status, body) = app.list_users(&[("filter", &deep)]).await;
    assert_scim_error(status, &body, 400, Some("invalidFilter"));
    assert!(body["detail"].as_str().unwrap().contains("32"), "{body}");

    // Nesting up to the limit still works.
    let fine = format!("{}userName eq \"a\"{}", "(".repeat(30), ")".repeat(30));
    let (status, body) = app.list_users(&[("filter", &fine)]).await;
    assert_eq!(status, 200, "{body}");

    // Brackets inside quoted values do not count.
    let quoted = format!("userName eq \"{}\"", "(".repeat(100));
    assert_eq!(app.list_users(&[("filter", &quoted)]).await.0, 200);

    let long = format!("userName eq \"{}\"", "a".repeat(5000));
    let (status, body) = app.list_users(&[("filter", &long)]).await;
    assert_scim_error(status, &body, 400, Some("invalidFilter"));
    assert!(body["detail"].as_str().unwrap().contains("4096"), "{body}");
}

async fn patch_operation_count_bounded(app: TestApp) {
    let user = app.create_user("ops@example.com", json!({})).await;
    let operations: Vec<Value> = (0..=hub::scim::patch::MAX_OPERATIONS).map(|_| json!({"op": "replace", "path": "title", "value": "t"})).collect();
    let (status, body) = app.patch_user(user["id"].as_str().unwrap(), Value::Array(operations)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("1000"), "{body}");
}

async fn large_member_lists_still_accepted(app: TestApp) {
    // Member lists are bounded by the body size only, so Entra's large groups fit.
    let members: Vec<Value> = (0..1500).map(|index| json!({"value": format!("missing-{index}")})).collect();
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Big", "members": members});
    let (status, body) = status_and_json(app.post("/Groups", &group).await).await;
    // The members do not exist, so the request fails for that reason, not for its size.
    assert!(!body["detail"].as_str().unwrap_or_default().contains("Hub accepts at most"), "{status} {body}");
}

async fn security_headers_on_every_response(app: TestApp) {
    let responses = [
        app.get("/ServiceProviderConfig").await,
        app.get("/Users/does-not-exist").await,
        app.client.get(format!("{}/api/v1/users", app.base_url)).send().await.unwrap(),
        app.client.get(format!("{}/health", app.base_url)).send().await.unwrap(),
        app.client.get(format!("{}/nothing-here", app.base_url)).send().await.unwrap(),
    ];
    for response in responses {
        let url = response.url().to_string();
        for (name, expected) in [
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "no-referrer"),
            ("cache-control", "no-store"),
        ] {
            assert_eq!(header_text(&response, name).as_deref(), Some(expected), "{name} on {url}");
        }
        assert!(header_text(&response, "content-security-policy").is_some_and(|policy| policy.contains("frame-ancestors 'none'")), "{url}");
    }
    // The JWKS document keeps its own caching rule.
    let jwks = app.client.get(format!("{}/.well-known/jwks.json", app.base_url)).send().await.unwrap();
    assert_eq!(header_text(&jwks, "cache-control").as_deref(), Some("public, max-age=300"));
}

both_backends!(
    oversized_values_refused_and_nothing_written,
    filters_bounded_in_length_and_depth,
    patch_operation_count_bounded,
    large_member_lists_still_accepted,
    security_headers_on_every_response,
    oversized_admin_bodies_get_413,
);

/// Starts a server with low rate limits on each backend and runs `test` on it.
macro_rules! with_rate_limits {
    ($name:ident, $per_token:expr, $per_address:expr) => {
        mod $name {
            async fn start(backend: crate::helpers::Backend) -> Option<crate::helpers::TestApp> {
                crate::helpers::spawn_app_with(backend, &|config| {
                    config.rate_limits = hub::http::rate_limit::RateLimitSettings {
                        per_token: $per_token,
                        per_address: $per_address,
                    };
                })
                .await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(start(crate::helpers::Backend::Sqlite).await.unwrap()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(app) = start(crate::helpers::Backend::Postgres).await else { return };
                super::$name(app).await;
            }
        }
    };
}

fn new_user(user_name: &str) -> Value {
    json!({"schemas": [CORE_USER], "userName": user_name})
}

/// Sends requests until one is refused with 429 (at most `limit`); returns that response.
async fn first_refusal(limit: usize, mut send: impl AsyncFnMut() -> reqwest::Response) -> reqwest::Response {
    for _ in 0..limit {
        let response = send().await;
        if response.status().as_u16() == 429 {
            return response;
        }
    }
    panic!("no 429 within {limit} requests");
}

async fn token_rate_limited_without_losing_work(app: TestApp) {
    let refused = first_refusal(50, async || app.get("/Users?count=1").await).await;
    let retry_after: u64 = header_text(&refused, "retry-after").expect("no Retry-After").parse().unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let (status, body) = status_and_json(refused).await;
    assert_eq!(status, 429);
    assert_eq!(body["schemas"][0], ERROR);
    assert_eq!(body["status"], "429");
    assert!(body["detail"].as_str().unwrap().contains("5 per second"), "{body}");

    // A refused create writes nothing; after the wait, the same request succeeds.
    let response = app.post("/Users", &new_user("late@example.com")).await;
    assert_eq!(response.status().as_u16(), 429);
    tokio::time::sleep(std::time::Duration::from_secs(retry_after)).await;
    let (_, list) = app.list_users(&[("filter", "userName eq \"late@example.com\"")]).await;
    assert_eq!(list["totalResults"], 0, "{list}");
    let response = app.post("/Users", &new_user("late@example.com")).await;
    assert_eq!(response.status().as_u16(), 201);
}

async fn organization_sets_its_own_rate(app: TestApp) {
    let (_, owner) = app.signed_in_user("owner@example.com", "Owner").await;
    let (status, body) = app
        .admin_json(reqwest::Method::PATCH, "/organization", &owner, Some(json!({"scimRateLimit": 2})))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scimRateLimit"], 2);
    let (status, _) = app.admin_json(reqwest::Method::PATCH, "/organization", &owner, Some(json!({"scimRateLimit": 0}))).await;
    assert_eq!(status, 400);

    let refused = first_refusal(10, async || app.get("/ServiceProviderConfig").await).await;
    let (_, body) = status_and_json(refused).await;
    assert!(body["detail"].as_str().unwrap().contains("2 per second"), "{body}");
}

async fn unauthenticated_requests_limited_per_address(app: TestApp) {
    let url = format!("{}/Users", app.scim_url);
    let refused = first_refusal(20, async || app.client.get(&url).bearer_auth("wrong-token").send().await.unwrap()).await;
    assert!(header_text(&refused, "retry-after").is_some());

    // Failed sign-ins count too.
    let sign_in = format!("{}/api/v1/sign-in", app.base_url);
    let response = app.client.post(&sign_in).json(&json!({"idToken": "x"})).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 429);
    let (_, body) = status_and_json(response).await;
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");

    // Requests with a valid token are not counted against the address.
    assert_eq!(app.get("/Users?count=1").await.status().as_u16(), 200);
}

with_rate_limits!(token_rate_limited_without_losing_work, 5, 1000);
with_rate_limits!(organization_sets_its_own_rate, 1000, 1000);
with_rate_limits!(unauthenticated_requests_limited_per_address, 100_000, 3);

async fn oversized_admin_bodies_get_413(app: TestApp) {
    let response = app
        .client
        .post(format!("{}/api/v1/sign-in", app.base_url))
        .header("Content-Type", "application/json")
        .body(format!("{{\"idToken\": \"{}\"}}", "x".repeat(2 * 1024 * 1024)))
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(response).await;
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("payload_too_large")), "{body}");
}
