//! The sign-in gate, tested with tokens from a test identity provider whose RSA and EC keys are
//! generated here and served as JWKS on loopback. Covered: each refusal, registration, last
//! login and MFA, sessions that stop at once, and rotation of the provider's keys and Hub's.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hub::clock::Clock;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use reqwest::Method;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

const TENANT: &str = "6f1c2a8e-0000-4000-8000-00000000abcd";
const AUDIENCE: &str = "api://hub-test-product";

fn issuer() -> String {
    format!("https://login.microsoftonline.com/{TENANT}/v2.0")
}

/// A signing key of the test provider: its private half and public JWK.
#[derive(Clone)]
struct TestKey {
    kid: String,
    algorithm: Algorithm,
    encoding: Arc<EncodingKey>,
    jwk: Value,
    /// The public key in PEM form, for the HS256 confusion attack.
    public_pem: String,
}

/// RSA keys take a while to generate, so the whole test binary shares two.
static RSA_KEYS: LazyLock<Vec<TestKey>> = LazyLock::new(|| (0..2).map(|index| rsa_key(&format!("rsa-{index}"))).collect());

fn rsa_key(kid: &str) -> TestKey {
    let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("cannot generate an RSA key");
    let der = rsa::pkcs1::EncodeRsaPrivateKey::to_pkcs1_der(&private).expect("cannot encode the RSA key");
    let public = private.to_public_key();
    let public_pem = public.to_public_key_pem(LineEnding::LF).expect("cannot encode the RSA public key");
    TestKey {
        kid: kid.to_string(),
        algorithm: Algorithm::RS256,
        encoding: Arc::new(EncodingKey::from_rsa_der(der.as_bytes())),
        jwk: json!({
            "kty": "RSA", "use": "sig", "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        }),
        public_pem,
    }
}

fn ec_key(kid: &str) -> TestKey {
    use p256::pkcs8::EncodePrivateKey as _;
    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let der = secret.to_pkcs8_der().expect("cannot encode the EC key");
    let point = secret.public_key().to_encoded_point(false);
    TestKey {
        kid: kid.to_string(),
        algorithm: Algorithm::ES256,
        encoding: Arc::new(EncodingKey::from_ec_der(der.as_bytes())),
        jwk: json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "kid": kid, "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
            "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
        }),
        public_pem: String::new(),
    }
}

/// A JWKS endpoint on loopback whose keys a test can change.
struct Provider {
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
    url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Provider {
    async fn start(keys: &[&TestKey]) -> Provider {
        let published = Arc::new(Mutex::new(keys.iter().map(|key| key.jwk.clone()).collect::<Vec<_>>()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, counter) = (published.clone(), fetches.clone());
        let router = axum::Router::new().route(
            "/discovery/v2.0/keys",
            axum::routing::get(move || {
                let served = served.clone();
                let counter = counter.clone();
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let keys = served.lock().unwrap().clone();
                    axum::Json(json!({ "keys": keys }))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("cannot bind the JWKS server");
        let url = format!("http://{}/discovery/v2.0/keys", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.ok();
        });
        Provider {
            keys: published,
            fetches,
            url,
            server,
        }
    }

    fn publish(&self, keys: &[&TestKey]) {
        *self.keys.lock().unwrap() = keys.iter().map(|key| key.jwk.clone()).collect();
    }
}

/// Points the default organization's sign-in at the provider.
async fn configure(app: &TestApp, provider: &Provider) {
    let org = default_organization(app).await;
    let settings = hub::domain::sign_in::ProviderSettings {
        org_id: org.id,
        issuer: issuer(),
        audiences: vec![AUDIENCE.to_string(), "00000000-1111-2222-3333-444444444444".to_string()],
        jwks: hub::domain::sign_in::JwksSource::Url(provider.url.clone()),
    };
    let context = hub::domain::audit::ChangeContext {
        actor: hub::domain::audit::Actor::System,
        request_id: "test".into(),
    };
    hub::service::sign_in::save_provider(&app.store, &context, &settings)
        .await
        .expect("cannot set the sign-in provider");
}

/// Entra-style ID token claims for a person, valid now on the server's clock.
fn claims(app: &TestApp, object_id: &str, user_name: &str) -> Value {
    let now = app.clock.now().timestamp();
    json!({
        "iss": issuer(), "aud": AUDIENCE, "tid": TENANT,
        "iat": now, "nbf": now - 5, "exp": now + 3600,
        "oid": object_id, "sub": format!("pairwise-{object_id}"),
        "preferred_username": user_name, "email": user_name, "name": "Test Person",
        "amr": ["pwd", "mfa", "otp"],
    })
}

fn sign(key: &TestKey, claims: &Value) -> String {
    let mut header = Header::new(key.algorithm);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding).expect("cannot sign the test token")
}

async fn sign_in(app: &TestApp, id_token: &str) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/api/v1/sign-in", app.base_url))
        .json(&json!({ "idToken": id_token }))
        .send()
        .await
        .expect("request failed");
    status_and_json(response).await
}

async fn check_session(app: &TestApp, session: &str) -> (u16, Value) {
    app.admin_json(Method::GET, "/session", session, None).await
}

/// Creates an Active user over SCIM and returns its id.
async fn active_user(app: &TestApp, user_name: &str, extra: Value) -> String {
    let created = app.create_user(user_name, extra).await;
    let id = created["id"].as_str().expect("no id").to_string();
    app.set_status(&id, hub::domain::user::Status::Active).await;
    id
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

async fn valid_tokens_open_sessions(app: TestApp) {
    let ec = ec_key("ec-1");
    let provider = Provider::start(&[&RSA_KEYS[0], &ec]).await;
    configure(&app, &provider).await;
    let id = active_user(&app, "ada@example.com", json!({})).await;

    let (status, body) = sign_in(&app, &sign(&RSA_KEYS[0], &claims(&app, "oid-ada", "Ada@Example.com"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["id"], id.as_str());
    assert_eq!(body["role"], "Member");
    assert_eq!(body["tokenType"], "Bearer");
    assert_eq!(body["registered"], false);
    let session = body["sessionToken"].as_str().expect("no session token").to_string();

    let (status, checked) = check_session(&app, &session).await;
    assert_eq!(status, 200, "{checked}");
    assert_eq!(checked["user"]["id"], id.as_str());
    assert_eq!(checked["organization"]["name"], "default");

    // The object id was recorded, so a later token matches by it even with another username.
    let (status, body) = sign_in(&app, &sign(&ec, &claims(&app, "oid-ada", "ada.lovelace@example.com"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["id"], id.as_str());

    // The session token works on the admin API and on /Me like any Hub session.
    let response = app.request_with_token(&session, Method::GET, "/Me").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(provider.fetches.load(Ordering::SeqCst), 1, "the key set should be read once and cached");
}

async fn last_login_and_mfa_recorded(app: TestApp) {
    let provider = Provider::start(&[&RSA_KEYS[0]]).await;
    configure(&app, &provider).await;
    let id = active_user(&app, "grace@example.com", json!({})).await;
    let (_, before) = app.get_user(&id).await;
    assert!(before[HUB_USER].get("lastLogin").is_none(), "{before}");

    let (status, _) = sign_in(&app, &sign(&RSA_KEYS[0], &claims(&app, "oid-grace", "grace@example.com"))).await;
    assert_eq!(status, 200);

    let (_, user) = app.get_user(&id).await;
    assert_eq!(user[HUB_USER]["mfa"]["enabled"], true, "{user}");
    assert_eq!(user[HUB_USER]["mfa"]["methods"], json!(["TOTP"]));
    assert!(user[HUB_USER]["lastLogin"].is_string(), "{user}");

    // A later sign-in without a second factor records MFA as off.
    let mut factors_only = claims(&app, "oid-grace", "grace@example.com");
    factors_only["amr"] = json!(["pwd", "sms"]);
    assert_eq!(sign_in(&app, &sign(&RSA_KEYS[0], &factors_only)).await.1["user"]["mfa"]["enabled"], true);
    let mut single_factor = claims(&app, "oid-grace", "grace@example.com");
    single_factor["amr"] = json!(["pwd"]);
    let (status, signed_in) = sign_in(&app, &sign(&RSA_KEYS[0], &single_factor)).await;
    assert_eq!(status, 200);

    // The admin Users list shows both, and filters by MFA.
    let (_, admin) = app.signed_in_user("admin@example.com", "Admin").await;
    let (status, list) = app.admin_json(Method::GET, "/users?mfa=false&search=grace", &admin, None).await;
    assert_eq!(status, 200, "{list}");
    let listed = list["users"].as_array().cloned().unwrap_or_default();
    let grace = listed.iter().find(|user| user["id"] == id.as_str()).unwrap_or_else(|| panic!("grace not listed: {list}"));
    assert_eq!(grace["mfa"]["enabled"], false);
    assert!(grace["lastLogin"].is_string());
    assert_eq!(signed_in["user"]["lastLogin"], grace["lastLogin"]);

    let actions: Vec<String> = app.audit_entries(&id).await.into_iter().map(|entry| entry.action).collect();
    assert!(actions.iter().filter(|action| *action == "user.signed_in").count() == 3, "{actions:?}");
}

async fn claim_failures_refused(app: TestApp) {
    let provider = Provider::start(&[&RSA_KEYS[0]]).await;
    configure(&app, &provider).await;
    let id = active_user(&app, "eve@example.com", json!({})).await;
    let good = claims(&app, "oid-eve", "eve@example.com");
    let now = app.clock.now().timestamp();

    let with = |name: &str, value: Value| {
        let mut changed = good.clone();
        changed[name] = value;
        changed
    };
    // Signed by the second RSA key, but claiming the kid of the published one.
    let mut forged_key = RSA_KEYS[1].clone();
    forged_key.kid = RSA_KEYS[0].kid.clone();
    let unknown_kid = TestKey {
        kid: "not-published".into(),
        ..RSA_KEYS[0].clone()
    };
    let header_none = URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT"}).to_string());
    let payload = URL_SAFE_NO_PAD.encode(good.to_string());
    let mut hmac_header = Header::new(Algorithm::HS256);
    hmac_header.kid = Some(RSA_KEYS[0].kid.clone());
    let confused = jsonwebtoken::encode(&hmac_header, &good, &EncodingKey::from_secret(RSA_KEYS[0].public_pem.as_bytes())).unwrap();

    let cases: Vec<(&str, String, &str)> = vec![
        ("signature", sign(&forged_key, &good), "token_signature"),
        ("issuer", sign(&RSA_KEYS[0], &with("iss", json!("https://login.microsoftonline.com/other/v2.0"))), "token_issuer"),
        ("audience", sign(&RSA_KEYS[0], &with("aud", json!("api://someone-else"))), "token_audience"),
        ("expired", sign(&RSA_KEYS[0], &with("exp", json!(now - 600))), "token_expired"),
        ("not before", sign(&RSA_KEYS[0], &with("nbf", json!(now + 600))), "token_not_yet_valid"),
        ("unknown kid", sign(&unknown_kid, &good), "token_unknown_key"),
        ("alg none", format!("{header_none}.{payload}."), "token_algorithm"),
        ("HS256 with the public key", confused, "token_algorithm"),
        ("garbage", "not-a-token".to_string(), "token_malformed"),
        ("no expiry", sign(&RSA_KEYS[0], &with("exp", Value::Null)), "token_claim_missing"),
        ("audience of the wrong type", sign(&RSA_KEYS[0], &with("aud", json!(123))), "token_claim_invalid"),
        ("expiry beyond any calendar", sign(&RSA_KEYS[0], &with("exp", json!(1e20))), "token_claim_invalid"),
        ("expiry as text", sign(&RSA_KEYS[0], &with("exp", json!("tomorrow"))), "token_claim_invalid"),
        ("oversized", sign(&RSA_KEYS[0], &with("padding", json!("p".repeat(20_000)))), "token_too_large"),
        ("critical header", {
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some(RSA_KEYS[0].kid.clone());
            let header = json!({"alg": "RS256", "kid": header.kid, "crit": ["exp"], "exp": 1});
            let signed = sign(&RSA_KEYS[0], &good);
            let rest = signed.split_once('.').unwrap().1.to_string();
            format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()))
        }, "token_critical_header"),
    ];
    for (case, token, code) in cases {
        let (status, body) = sign_in(&app, &token).await;
        assert_eq!(status, 401, "{case}: {body}");
        assert_eq!(error_code(&body), code, "{case}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.contains(&provider.url), "{case} leaks the key URL: {message}");
        assert!(!message.contains(AUDIENCE), "{case} leaks the audience: {message}");
    }

    // A clock difference within the tolerated skew is accepted.
    let (status, body) = sign_in(&app, &sign(&RSA_KEYS[0], &with("exp", json!(now - 20)))).await;
    assert_eq!(status, 200, "{body}");

    // Nothing was recorded for the refused tokens: exactly one sign-in.
    let signed_in = app.audit_entries(&id).await.iter().filter(|entry| entry.action == "user.signed_in").count();
    assert_eq!(signed_in, 1);
}

async fn statuses_refused_with_distinct_codes(app: TestApp) {
    let provider = Provider::start(&[&RSA_KEYS[0]]).await;
    configure(&app, &provider).await;
    let (_, admin) = app.signed_in_user("admin@example.com", "Admin").await;
    let token_for = |object_id: &str, user_name: &str| sign(&RSA_KEYS[0], &claims(&app, object_id, user_name));

    let (status, body) = sign_in(&app, &token_for("oid-nobody", "nobody@example.com")).await;
    assert_eq!((status, error_code(&body)), (403, "user_unknown"), "{body}");

    let suspended = active_user(&app, "sam@example.com", json!({})).await;
    let (status, _) = app.admin_json(Method::POST, &format!("/users/{suspended}/suspend"), &admin, None).await;
    assert_eq!(status, 200);
    let (status, body) = sign_in(&app, &token_for("oid-sam", "sam@example.com")).await;
    assert_eq!((status, error_code(&body)), (403, "user_suspended"), "{body}");

    let deactivated = active_user(&app, "dee@example.com", json!({})).await;
    let (status, _) = app.patch_user(&deactivated, json!([{"op": "replace", "path": "active", "value": false}])).await;
    assert_eq!(status, 200);
    let (status, body) = sign_in(&app, &token_for("oid-dee", "dee@example.com")).await;
    assert_eq!((status, error_code(&body)), (403, "user_deactivated"), "{body}");

    // A removed user signed in once, so Hub still has the object id and returns "removed".
    let removed = active_user(&app, "rae@example.com", json!({})).await;
    let (status, _) = sign_in(&app, &token_for("oid-rae", "rae@example.com")).await;
    assert_eq!(status, 200);
    let response = app.delete(&format!("/Users/{removed}")).await;
    assert_eq!(response.status().as_u16(), 204);
    let (status, body) = sign_in(&app, &token_for("oid-rae", "rae@example.com")).await;
    assert_eq!((status, error_code(&body)), (403, "user_removed"), "{body}");

    // A username that belongs to an account linked to another object id is not taken over.
    let (status, body) = sign_in(&app, &token_for("oid-impostor", "ada@example.com")).await;
    assert_eq!((status, error_code(&body)), (403, "user_unknown"), "{body}");
    active_user(&app, "ada@example.com", json!({})).await;
    let (status, _) = sign_in(&app, &token_for("oid-ada", "ada@example.com")).await;
    assert_eq!(status, 200);
    let (status, body) = sign_in(&app, &token_for("oid-impostor", "ada@example.com")).await;
    assert_eq!((status, error_code(&body)), (403, "identity_mismatch"), "{body}");
}

async fn invited_user_registers_by_signing_in(app: TestApp) {
    let provider = Provider::start(&[&RSA_KEYS[0]]).await;
    configure(&app, &provider).await;

    // Entra provisions the user with its object id as externalId; the user starts Invited.
    let created = app.create_user("ivy@example.com", json!({"externalId": "oid-ivy"})).await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created[HUB_USER]["status"], "Invited", "{created}");

    let (status, body) = sign_in(&app, &sign(&RSA_KEYS[0], &claims(&app, "oid-ivy", "ivy.other@example.com"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["registered"], true);
    assert_eq!(body["user"]["id"], id.as_str());
    let (_, user) = app.get_user(&id).await;
    assert_eq!(user[HUB_USER]["status"], "Active");
    let actions: Vec<String> = app.audit_entries(&id).await.into_iter().map(|entry| entry.action).collect();
    assert!(actions.contains(&"user.registered".to_string()), "{actions:?}");

    // An invitation past its 7 days no longer lets the person in.
    let late = app.create_user("lee@example.com", json!({})).await;
    app.clock.advance(chrono::Duration::days(8));
    let (status, body) = sign_in(&app, &sign(&RSA_KEYS[0], &claims(&app, "oid-lee", "lee@example.com"))).await;
    assert_eq!((status, error_code(&body)), (403, "invitation_unusable"), "{body}");
    let (_, user) = app.get_user(late["id"].as_str().unwrap()).await;
    assert_eq!(user[HUB_USER]["status"], "Invited");
}

async fn sessions_stop_on_the_next_check(app: TestApp) {
    let provider = Provider::start(&[&RSA_KEYS[0]]).await;
    configure(&app, &provider).await;
    let (_, admin) = app.signed_in_user("admin@example.com", "Admin").await;
    let open = |object_id: &'static str, user_name: &'static str| {
        let token = sign(&RSA_KEYS[0], &claims(&app, object_id, user_name));
        let app = &app;
        async move {
            let (status, body) = sign_in(app, &token).await;
            assert_eq!(status, 200, "{body}");
            let session = body["sessionToken"].as_str().unwrap().to_string();
            assert_eq!(check_session(app, &session).await.0, 200);
            session
        }
    };

    let deactivated = active_user(&app, "d@example.com", json!({})).await;
    let session = open("oid-d", "d@example.com").await;
    app.patch_user(&deactivated, json!([{"op": "replace", "path": "active", "value": false}])).await;
    let (status, body) = check_session(&app, &session).await;
    // Deactivation ends the user's sessions outright; either way the very next check fails.
    assert_eq!(status, 401, "{body}");
    assert!(["session_ended", "account_inactive"].contains(&error_code(&body)), "{body}");

    let suspended = active_user(&app, "s@example.com", json!({})).await;
    let session = open("oid-s", "s@example.com").await;
    app.admin_json(Method::POST, &format!("/users/{suspended}/suspend"), &admin, None).await;
    let (status, body) = check_session(&app, &session).await;
    assert_eq!(status, 401, "{body}");
    assert!(["session_ended", "account_inactive"].contains(&error_code(&body)), "{body}");

    let removed = active_user(&app, "r@example.com", json!({})).await;
    let session = open("oid-r", "r@example.com").await;
    app.delete(&format!("/Users/{removed}")).await;
    assert_eq!(check_session(&app, &session).await.0, 401);

    let promoted = active_user(&app, "p@example.com", json!({})).await;
    let session = open("oid-p", "p@example.com").await;
    let (status, _) = app.patch_user(&promoted, json!([{"op": "replace", "path": "roles", "value": [{"value": "Admin", "primary": true}]}])).await;
    assert_eq!(status, 200);
    let (status, body) = check_session(&app, &session).await;
    assert_eq!((status, error_code(&body)), (401, "session_outdated"), "{body}");
    // Signing in again gives a session with the new role.
    let session = open("oid-p", "p@example.com").await;
    assert_eq!(check_session(&app, &session).await.1["role"], "Admin");

    let granted = active_user(&app, "g@example.com", json!({})).await;
    let session = open("oid-g", "g@example.com").await;
    let (status, _) = app
        .patch_user(&granted, json!([{"op": "add", "path": format!("{HUB_USER}:productAccess"), "value": ["desk"]}]))
        .await;
    assert_eq!(status, 200);
    assert_eq!(error_code(&check_session(&app, &session).await.1), "session_outdated");

    // Sign-out ends the session.
    active_user(&app, "o@example.com", json!({})).await;
    let session = open("oid-o", "o@example.com").await;
    let response = app.admin(Method::DELETE, "/session", &session).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let (status, body) = check_session(&app, &session).await;
    assert_eq!((status, error_code(&body)), (401, "session_ended"), "{body}");
}

async fn provider_key_rotation_picked_up(app: TestApp) {
    let provider = Provider::start(&[&RSA_KEYS[0]]).await;
    configure(&app, &provider).await;
    active_user(&app, "rot@example.com", json!({})).await;
    let token_with = |key: &TestKey| sign(key, &claims(&app, "oid-rot", "rot@example.com"));

    assert_eq!(sign_in(&app, &token_with(&RSA_KEYS[0])).await.0, 200);

    // The provider rotates: the new kid appears beside the old one.
    let next = ec_key("ec-next");
    provider.publish(&[&RSA_KEYS[0], &next]);

    // Right after a read, an unknown kid does not make Hub read the set again...
    let (status, body) = sign_in(&app, &token_with(&next)).await;
    assert_eq!((status, error_code(&body)), (401, "token_unknown_key"), "{body}");
    assert_eq!(provider.fetches.load(Ordering::SeqCst), 1);

    // ...but once the short guard interval passed, it does, and the new key works.
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    let (status, body) = sign_in(&app, &token_with(&next)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(provider.fetches.load(Ordering::SeqCst), 2);

    // The old key, dropped by the provider, stops working after the next read.
    provider.publish(&[&next]);
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    let (status, body) = sign_in(&app, &token_with(&RSA_KEYS[1])).await;
    assert_eq!(error_code(&body), "token_unknown_key", "{status} {body}");
    let (status, body) = sign_in(&app, &token_with(&RSA_KEYS[0])).await;
    assert_eq!((status, error_code(&body)), (401, "token_unknown_key"), "{body}");
}

fn header_kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

async fn hub_key_rotation_keeps_sessions(app: TestApp) {
    let provider = Provider::start(&[&RSA_KEYS[0]]).await;
    configure(&app, &provider).await;
    active_user(&app, "kim@example.com", json!({})).await;
    let id_token = || sign(&RSA_KEYS[0], &claims(&app, "oid-kim", "kim@example.com"));

    let (_, first) = sign_in(&app, &id_token()).await;
    let old_session = first["sessionToken"].as_str().unwrap().to_string();
    let old_kid = header_kid(&old_session);

    let new_kid = hub::service::keys::rotate(&app.store, &app.data_dir.join("keys")).await.expect("rotation failed");
    assert_ne!(new_kid, old_kid);

    let (_, second) = sign_in(&app, &id_token()).await;
    let new_session = second["sessionToken"].as_str().unwrap().to_string();
    assert_eq!(header_kid(&new_session), new_kid);
    assert_eq!(check_session(&app, &old_session).await.0, 200, "a session signed before the rotation must keep working");
    assert_eq!(check_session(&app, &new_session).await.0, 200);

    // Both keys are published, and a product can verify the new token offline.
    let jwks: Value = app.client.get(format!("{}/.well-known/jwks.json", app.base_url)).send().await.unwrap().json().await.unwrap();
    let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().filter_map(|key| key["kid"].as_str()).collect();
    assert!(kids.contains(&old_kid.as_str()), "{jwks}");
    assert!(kids.contains(&new_kid.as_str()), "{jwks}");
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(
        jwks["keys"].as_array().unwrap().iter().find(|key| key["kid"] == new_kid.as_str()).unwrap().clone(),
    )
    .unwrap();
    let mut validation = jsonwebtoken::Validation::new(Algorithm::ES256);
    validation.set_issuer(&["hub"]);
    validation.validate_aud = false;
    let offline = jsonwebtoken::decode::<Value>(&new_session, &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(), &validation)
        .expect("the session token does not verify with the published key");
    assert_eq!(offline.claims["role"], "Member");
    assert_eq!(offline.claims["sub"], second["user"]["id"]);
}

async fn provider_settings_through_the_admin_api(app: TestApp) {
    let (_, owner) = app.signed_in_user("owner@example.com", "Owner").await;
    let (_, admin) = app.signed_in_user("admin@example.com", "Admin").await;
    let settings = json!({"issuer": issuer(), "audiences": [AUDIENCE], "jwksUrl": format!("https://login.microsoftonline.com/{TENANT}/discovery/v2.0/keys")});

    let (status, body) = app.admin_json(Method::GET, "/organization/sign-in", &admin, None).await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = app.admin_json(Method::PUT, "/organization/sign-in", &admin, Some(settings.clone())).await;
    assert_eq!(status, 403);
    let (status, body) = app.admin_json(Method::PUT, "/organization/sign-in", &owner, Some(settings.clone())).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.admin_json(Method::GET, "/organization/sign-in", &admin, None).await;
    assert_eq!(status, 200);
    assert_eq!(body["issuer"], issuer());

    let mut insecure = settings.clone();
    insecure["jwksUrl"] = json!("http://keys.example.com/keys");
    let (status, body) = app.admin_json(Method::PUT, "/organization/sign-in", &owner, Some(insecure)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("https"), "{body}");
    let mut file = settings.clone();
    file["jwksFile"] = json!("/etc/passwd");
    let (status, _) = app.admin_json(Method::PUT, "/organization/sign-in", &owner, Some(file)).await;
    assert_eq!(status, 400);

    // One identity-provider tenant belongs to one organization.
    let other_org = hub::storage::organizations::insert(&mut app.store.db(), "other").await.unwrap().id;
    let context = hub::domain::audit::ChangeContext {
        actor: hub::domain::audit::Actor::System,
        request_id: "test".into(),
    };
    let taken = hub::domain::sign_in::ProviderSettings {
        org_id: other_org,
        issuer: issuer(),
        audiences: vec![AUDIENCE.into()],
        jwks: hub::domain::sign_in::JwksSource::Url("https://example.com/keys".into()),
    };
    let result = hub::service::sign_in::save_provider(&app.store, &context, &taken).await;
    assert!(result.is_err(), "a second organization took the same issuer");
}

async fn session_endpoint_needs_a_session(app: TestApp) {
    let response = app.client.get(format!("{}/api/v1/session", app.base_url)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    // A SCIM token is not a session.
    let (status, _) = app.admin_json(Method::GET, "/session", BOOTSTRAP_TOKEN, None).await;
    assert_eq!(status, 401);
    // Without a configured provider, every token is refused for its issuer.
    let (status, body) = sign_in(&app, &sign(&RSA_KEYS[0], &claims(&app, "oid-x", "x@example.com"))).await;
    assert_eq!((status, error_code(&body)), (401, "token_issuer"), "{body}");
}

/// Runs the `hub` binary on the test server's database and data folder.
fn hub_command(app: &TestApp, arguments: &[&str]) -> (bool, String) {
    let output = crate::process::run_hub(app, arguments);
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

async fn command_line_sets_provider_and_rotates_keys(app: TestApp) {
    let provider = Provider::start(&[&RSA_KEYS[0]]).await;
    let issuer = issuer();
    let (ok, output) = hub_command(&app, &["sign-in", "set", "--org", "default", "--issuer", &issuer, "--audience", AUDIENCE, "--jwks-url", &provider.url]);
    assert!(ok, "{output}");
    let (ok, output) = hub_command(&app, &["sign-in", "show", "--org", "default"]);
    assert!(ok, "{output}");
    assert!(output.contains(&issuer), "{output}");
    assert!(output.contains(AUDIENCE), "{output}");
    let (ok, output) = hub_command(&app, &["sign-in", "set", "--org", "default", "--issuer", &issuer, "--audience", AUDIENCE, "--jwks-url", "http://keys.example.com/"]);
    assert!(!ok, "{output}");
    assert!(output.contains("https"), "{output}");

    active_user(&app, "cli@example.com", json!({})).await;
    let id_token = || sign(&RSA_KEYS[0], &claims(&app, "oid-cli", "cli@example.com"));
    let (status, first) = sign_in(&app, &id_token()).await;
    assert_eq!(status, 200, "{first}");
    let old_session = first["sessionToken"].as_str().unwrap().to_string();

    let (ok, output) = hub_command(&app, &["keys", "rotate"]);
    assert!(ok, "{output}");
    let (ok, listed) = hub_command(&app, &["keys", "list"]);
    assert!(ok, "{listed}");
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(listed.contains("current"), "{listed}");

    // The running server signs with the new key at its next sign-in.
    let (_, second) = sign_in(&app, &id_token()).await;
    let new_session = second["sessionToken"].as_str().unwrap().to_string();
    assert_ne!(header_kid(&new_session), header_kid(&old_session));
    assert!(listed.contains(&header_kid(&new_session)), "{listed}");
    assert_eq!(check_session(&app, &old_session).await.0, 200);
    assert_eq!(check_session(&app, &new_session).await.0, 200);
}

async fn unverified_email_cannot_take_over_and_links_can_be_removed(app: TestApp) {
    let provider = Provider::start(&[&RSA_KEYS[0]]).await;
    configure(&app, &provider).await;
    let (_, admin) = app.signed_in_user("admin@example.com", "Admin").await;
    let carol = app.create_user("carol@example.com", json!({"externalId": "carol"})).await;
    let carol_id = carol["id"].as_str().unwrap().to_string();

    // Someone else's account whose self-asserted email claims to be Carol's gets nowhere.
    let mut mallory = claims(&app, "oid-mallory", "mallory@example.com");
    mallory["email"] = json!("carol@example.com");
    let (status, body) = sign_in(&app, &sign(&RSA_KEYS[0], &mallory)).await;
    assert_eq!((status, error_code(&body)), (403, "user_unknown"), "{body}");

    // An email the provider vouches for (Entra's xms_edov) counts.
    let mut verified = claims(&app, "oid-carol", "carol.b@example.com");
    verified["email"] = json!("Carol@Example.com");
    verified["xms_edov"] = json!(true);
    let (status, body) = sign_in(&app, &sign(&RSA_KEYS[0], &verified)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["id"], carol_id.as_str());
    let linked = app.audit_entries(&carol_id).await.into_iter().find(|entry| entry.action == "user.signed_in").unwrap();
    let after: Value = serde_json::from_str(linked.after.as_deref().unwrap()).unwrap();
    assert_eq!(after["objectId"], "oid-carol");
    assert_eq!(after["matchedBy"], "userName");

    // Carol's account was recreated in the provider: the old link refuses the new object id
    // until an administrator removes it.
    let recreated = claims(&app, "oid-carol-2", "carol@example.com");
    let (status, body) = sign_in(&app, &sign(&RSA_KEYS[0], &recreated)).await;
    assert_eq!((status, error_code(&body)), (403, "identity_mismatch"), "{body}");
    let response = app.admin(Method::DELETE, &format!("/users/{carol_id}/sign-in-link"), &admin).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let (status, body) = sign_in(&app, &sign(&RSA_KEYS[0], &recreated)).await;
    assert_eq!(status, 200, "{body}");
    let actions: Vec<String> = app.audit_entries(&carol_id).await.into_iter().map(|entry| entry.action).collect();
    assert!(actions.contains(&"user.sign_in_unlinked".to_string()), "{actions:?}");

    let response = app.admin(Method::DELETE, "/users/no-such-user/sign-in-link", &admin).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 404);

    // A request naming another organization is refused for that reason.
    let other = hub::storage::organizations::insert(&mut app.store.db(), "elsewhere").await.unwrap();
    let response = app
        .client
        .post(format!("{}/api/v1/sign-in", app.base_url))
        .json(&json!({"idToken": sign(&RSA_KEYS[0], &recreated), "organizationId": other.id}))
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(response).await;
    assert_eq!((status, error_code(&body)), (401, "token_organization"), "{body}");
}

/// A product's server signs in all its users from one address: successful sign-ins are not
/// counted against the per-address limit, failed ones are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_failed_sign_ins_count_against_the_address() {
    let app = spawn_app_with(Backend::Sqlite, &|config| {
        config.rate_limits.per_address = 2;
    })
    .await
    .unwrap();
    let provider = Provider::start(&[&RSA_KEYS[0]]).await;
    configure(&app, &provider).await;
    active_user(&app, "busy@example.com", json!({})).await;

    for _ in 0..6 {
        let (status, body) = sign_in(&app, &sign(&RSA_KEYS[0], &claims(&app, "oid-busy", "busy@example.com"))).await;
        assert_eq!(status, 200, "{body}");
    }
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(sign_in(&app, "not-a-token").await.0);
    }
    assert_eq!(codes, vec![401, 401, 429, 429]);
}

/// A refused sign-in must end its write transaction at once, or on SQLite the write lock stays
/// taken and the `hub` commands (another process) cannot write until the next request does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_sign_in_releases_the_sqlite_lock() {
    use sqlx::Connection;

    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let provider = Provider::start(&[&RSA_KEYS[0]]).await;
    configure(&app, &provider).await;
    let (status, _) = sign_in(&app, &sign(&RSA_KEYS[0], &claims(&app, "oid-nobody", "nobody@example.com"))).await;
    assert_eq!(status, 403);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut other = sqlx::SqliteConnection::connect(&app.database_url).await.expect("cannot open the database");
    sqlx::query("PRAGMA busy_timeout = 1000").execute(&mut other).await.unwrap();
    let locked = sqlx::query("BEGIN IMMEDIATE").execute(&mut other).await;
    assert!(locked.is_ok(), "another process cannot write after a refused sign-in: {locked:?}");
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
}

both_backends!(
    valid_tokens_open_sessions,
    last_login_and_mfa_recorded,
    claim_failures_refused,
    statuses_refused_with_distinct_codes,
    invited_user_registers_by_signing_in,
    sessions_stop_on_the_next_check,
    provider_key_rotation_picked_up,
    hub_key_rotation_keeps_sessions,
    provider_settings_through_the_admin_api,
    session_endpoint_needs_a_session,
    command_line_sets_provider_and_rotates_keys,
    unverified_email_cannot_take_over_and_links_can_be_removed,
);
