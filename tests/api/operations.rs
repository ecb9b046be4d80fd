//! Running the server: TLS with certificate reload, graceful shutdown, and secrets kept out of
//! the log.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;
use crate::process::ServerProcess;

/// Writes a self-signed certificate for 127.0.0.1 and returns its PEM.
fn write_certificate(folder: &std::path::Path) -> String {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()]).expect("cannot make a certificate");
    let pem = certified.cert.pem();
    std::fs::write(folder.join("cert.pem"), &pem).unwrap();
    std::fs::write(folder.join("key.pem"), certified.key_pair.serialize_pem()).unwrap();
    pem
}

fn client_trusting(pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .tls_built_in_root_certs(false)
        .build()
        .unwrap()
}

async fn tls_served_and_reloaded(backend: Backend) {
    let folder = tempfile::tempdir().unwrap();
    let first = write_certificate(folder.path());
    let (certificate, key) = (folder.path().join("cert.pem"), folder.path().join("key.pem"));
    let Some(app) = spawn_app_with(backend, &|config| {
        config.tls = Some(hub::config::TlsFiles {
            certificate: certificate.clone(),
            key: key.clone(),
        });
    })
    .await
    else {
        return;
    };
    let https = app.base_url.replace("http://", "https://");
    let config_url = format!("{https}/scim/v2/ServiceProviderConfig");

    let response = client_trusting(&first).get(&config_url).bearer_auth(&app.token).send().await.expect("TLS request failed");
    assert_eq!(response.status().as_u16(), 200);
    assert!(app.client.get(format!("{}/health", app.base_url)).send().await.is_err(), "plain HTTP must not be served");

    // A renewed certificate is picked up on SIGHUP, without a restart.
    let second = write_certificate(folder.path());
    let status = std::process::Command::new("kill").arg("-HUP").arg(std::process::id().to_string()).status().unwrap();
    assert!(status.success());
    let mut reloaded = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if client_trusting(&second).get(&config_url).bearer_auth(&app.token).send().await.is_ok() {
            reloaded = true;
            break;
        }
    }
    assert!(reloaded, "the new certificate was not served after SIGHUP");
    assert!(client_trusting(&first).get(&config_url).send().await.is_err(), "the old certificate is still served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_served_and_reloaded_sqlite() {
    tls_served_and_reloaded(Backend::Sqlite).await;
}


async fn sigterm_stops_cleanly_and_logs_no_secrets(backend: Backend) {
    let folder = tempfile::tempdir().unwrap();
    let Some(database_url) = test_database(backend, folder.path()).await else { return };
    let token = "process-test-token-0123456789abcdef0123456789";
    let mut server = ServerProcess::start(folder.path(), &database_url, token, &[]).await;
    let client = reqwest::Client::new();
    let scim = server.scim_url();

    // Traffic that carries every kind of secret: the SCIM token, a wrong token, an invitation
    // link (sent by mail) and a session token.
    let response = client
        .post(format!("{scim}/Users"))
        .bearer_auth(token)
        .json(&json!({"schemas": [CORE_USER], "userName": "log@example.com", "emails": [{"value": "log@example.com", "primary": true}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    client.get(format!("{scim}/Users")).bearer_auth("wrong-secret-token-value-123456").send().await.unwrap();
    let session = std::process::Command::new(env!("CARGO_BIN_EXE_hub"))
        .args(["--data-dir", folder.path().to_str().unwrap(), "--database-url", &database_url])
        .args(["session", "create", "--org", "default", "--user", "log@example.com"])
        .output()
        .unwrap();
    // The user is Invited, so no session is made; an operator error must not echo anything.
    assert!(!session.status.success());
    client.get(format!("{}/api/v1/session", server.base_url)).bearer_auth("eyJhbGciOiJFUzI1NiJ9.e30.secret").send().await.unwrap();

    // A request in flight when SIGTERM arrives still gets its response.
    let slow = {
        let client = client.clone();
        let url = format!("{scim}/Users?count=1000");
        let token = token.to_string();
        tokio::spawn(async move { client.get(url).bearer_auth(token).send().await.map(|response| response.status().as_u16()) })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    server.signal("TERM");
    let exited = server.wait_for_exit(Duration::from_secs(20)).await;
    assert_eq!(exited, Some(true), "hub did not exit 0 after SIGTERM; log:\n{}", server.log());
    assert_eq!(slow.await.unwrap().ok(), Some(200));

    let log = server.log();
    assert!(log.contains("shutdown requested"), "{log}");
    assert!(log.contains("hub stopped"), "{log}");
    let outbox_link = std::fs::read_dir(folder.path().join("outbox"))
        .map(|entries| entries.count())
        .unwrap_or(0);
    assert!(outbox_link > 0, "the invitation mail was not written");
    for secret in [token, "wrong-secret-token-value-123456", "eyJhbGciOiJFUzI1NiJ9", "token="] {
        assert!(!log.contains(secret), "the log contains {secret:?}:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_cleanly_and_logs_no_secrets_sqlite() {
    sigterm_stops_cleanly_and_logs_no_secrets(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_cleanly_and_logs_no_secrets_postgres() {
    sigterm_stops_cleanly_and_logs_no_secrets(Backend::Postgres).await;
}
