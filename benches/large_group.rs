//! Benchmark: a group of 100,000 members.
//!
//! Starts Hub in-process on a loopback port (SQLite in a temporary folder, or PostgreSQL when
//! `HUB_BENCH_POSTGRES_URL` names a server where the user may create databases), seeds users
//! and a large group through the SCIM API, then measures over HTTP:
//! - PATCH adding one member to the large group, and to a 10-member group, for comparison;
//! - GET of the large group with `excludedAttributes=members`;
//! - GET of the large group with its members.
//!
//! Run: `cargo bench --bench large_group` (`HUB_BENCH_MEMBERS` changes the group size).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde_json::{json, Value};

use hub::config::ServeConfig;
use hub::startup::Application;

const TOKEN: &str = "bench-token-0123456789abcdef0123456789";
const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// Parallel requests while seeding.
const SEED_CONCURRENCY: usize = 16;
/// Members added per PATCH while building the large group.
const MEMBERS_PER_PATCH: usize = 1000;
/// Samples per measurement.
const SAMPLES: usize = 200;

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.header("Content-Type", "application/scim+json").body(body.to_string());
        }
        let response = request.send().await.expect("request failed");
        let status = response.status().as_u16();
        let text = response.text().await.expect("cannot read body");
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("body is not JSON") };
        (status, body)
    }
}

/// A PostgreSQL database made for one run, dropped at its end.
struct BenchDatabase {
    admin_url: String,
    name: String,
}

async fn start_server() -> (Client, tempfile::TempDir, Option<BenchDatabase>) {
    let data_dir = tempfile::tempdir().expect("cannot create a temp folder");
    let database = match std::env::var("HUB_BENCH_POSTGRES_URL") {
        Ok(admin_url) if !admin_url.is_empty() => Some(create_postgres_database(&admin_url).await),
        _ => None,
    };
    let database_url = match &database {
        Some(database) => database_url(database),
        None => format!("sqlite://{}", data_dir.path().join("hub.db").display()),
    };
    let config = ServeConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: data_dir.path().to_path_buf(),
        database_url: Some(database_url.clone()),
        public_url: None,
        bootstrap_org: "bench".to_string(),
        bootstrap_token: Some(TOKEN.to_string()),
        max_body_bytes: 16 * 1024 * 1024,
        max_page_size: 1000,
        max_connections: 16,
        mail: None,
        mail_worker: Some(hub::mail::WorkerSettings::default()),
        keys_dir: None,
        signing_key_file: None,
        session_ttl: chrono::Duration::hours(1),
        rate_limits: hub::http::rate_limit::RateLimitSettings { per_token: 0, per_address: 0 },
        tls: None,
        shutdown_timeout: std::time::Duration::from_secs(5),
        request_log: hub::service::request_log::RequestLogSettings::default(),
    };
    let application = Application::build(config).await.expect("the server failed to start");
    let port = application.port();
    tokio::spawn(application.run_until_stopped(std::future::pending()));
    println!("backend: {}", if database_url.starts_with("postgres") { "PostgreSQL" } else { "SQLite" });
    let client = Client {
        http: reqwest::Client::new(),
        base: format!("http://127.0.0.1:{port}/scim/v2"),
    };
    (client, data_dir, database)
}

async fn create_postgres_database(admin_url: &str) -> BenchDatabase {
    use sqlx::Connection;
    let name = format!("hub_bench_{}", uuid::Uuid::new_v4().simple());
    let mut connection = sqlx::PgConnection::connect(admin_url).await.expect("cannot connect to PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut connection).await.expect("cannot create database");
    BenchDatabase {
        admin_url: admin_url.to_string(),
        name,
    }
}

fn database_url(database: &BenchDatabase) -> String {
    let (base, _) = database.admin_url.rsplit_once('/').expect("URL has no database path");
    format!("{base}/{}", database.name)
}

/// Drops the run's database. The server still has connections open to it, so the drop forces
/// them closed (PostgreSQL 13 and later).
async fn drop_postgres_database(database: BenchDatabase) {
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(&database.admin_url).await.expect("cannot connect to PostgreSQL");
    let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", database.name);
    if let Err(error) = sqlx::query(&statement).execute(&mut connection).await {
        eprintln!("failed to drop the database {}: {error}; drop it with psql", database.name);
    }
}

async fn create_users(client: &Client, prefix: &str, count: usize) -> Vec<String> {
    let started = Instant::now();
    let ids: Vec<String> = stream::iter(0..count)
        .map(|index| async move {
            let body = json!({"schemas": [CORE_USER], "userName": format!("{prefix}{index}@bench.example")});
            let (status, created) = client.send(reqwest::Method::POST, "/Users", Some(&body)).await;
            assert_eq!(status, 201, "create failed: {created}");
            created["id"].as_str().expect("no id").to_string()
        })
        .buffered(SEED_CONCURRENCY)
        .collect()
        .await;
    let elapsed = started.elapsed();
    println!(
        "seeded {count} users in {:.1} s ({:.0} creates/s)",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64()
    );
    ids
}

async fn create_group(client: &Client, name: &str) -> String {
    let body = json!({"schemas": [CORE_GROUP], "displayName": name});
    let (status, created) = client.send(reqwest::Method::POST, "/Groups", Some(&body)).await;
    assert_eq!(status, 201, "group create failed: {created}");
    created["id"].as_str().expect("no id").to_string()
}

fn add_members_body(ids: &[String]) -> Value {
    let members: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": members}]})
}

async fn fill_group(client: &Client, group_id: &str, ids: &[String]) {
    let started = Instant::now();
    for chunk in ids.chunks(MEMBERS_PER_PATCH) {
        let (status, body) = client
            .send(reqwest::Method::PATCH, &format!("/Groups/{group_id}"), Some(&add_members_body(chunk)))
            .await;
        assert_eq!(status, 204, "member add failed: {body}");
    }
    println!("filled the group with {} members in {:.1} s", ids.len(), started.elapsed().as_secs_f64());
}

/// Times `SAMPLES` runs of `operation` and prints the median and 99th percentile.
async fn measure<F, Fut>(label: &str, mut operation: F) -> Duration
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut samples = Vec::with_capacity(SAMPLES);
    for index in 0..SAMPLES {
        let started = Instant::now();
        operation(index).await;
        samples.push(started.elapsed());
    }
    samples.sort();
    let median = samples[SAMPLES / 2];
    let p99 = samples[SAMPLES * 99 / 100];
    println!(
        "{label:<52} median {:>8.3} ms   p99 {:>8.3} ms",
        median.as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0
    );
    median
}

#[tokio::main]
async fn main() {
    let members: usize = std::env::var("HUB_BENCH_MEMBERS").ok().and_then(|text| text.parse().ok()).unwrap_or(100_000);
    let (client, _data_dir, database) = start_server().await;

    let member_ids = create_users(&client, "member", members).await;
    let extra_ids = create_users(&client, "extra", SAMPLES * 2).await;
    let large = create_group(&client, "Large").await;
    fill_group(&client, &large, &member_ids).await;
    let small = create_group(&client, "Small").await;
    fill_group(&client, &small, &member_ids[..10]).await;

    println!();
    let client = &client;
    let (large_path, small_path) = (format!("/Groups/{large}"), format!("/Groups/{small}"));
    let large_add = measure(&format!("PATCH add 1 member, group of {members}"), |index| {
        let body = add_members_body(&extra_ids[index..=index]);
        let path = large_path.clone();
        async move {
            let (status, _) = client.send(reqwest::Method::PATCH, &path, Some(&body)).await;
            assert_eq!(status, 204);
        }
    })
    .await;
    let small_add = measure("PATCH add 1 member, group of 10", |index| {
        let body = add_members_body(&extra_ids[SAMPLES + index..=SAMPLES + index]);
        let path = small_path.clone();
        async move {
            let (status, _) = client.send(reqwest::Method::PATCH, &path, Some(&body)).await;
            assert_eq!(status, 204);
        }
    })
    .await;
    measure(&format!("GET group of {members}, excludedAttributes=members"), |_| {
        let path = format!("{large_path}?excludedAttributes=members");
        async move {
            let (status, body) = client.send(reqwest::Method::GET, &path, None).await;
            assert_eq!(status, 200);
            assert!(body.get("members").is_none());
        }
    })
    .await;
    let full_reads = SAMPLES.min(20);
    let started = Instant::now();
    for _ in 0..full_reads {
        let (status, body) = client.send(reqwest::Method::GET, &large_path, None).await;
        assert_eq!(status, 200);
        assert!(body["members"].as_array().is_some_and(|list| list.len() >= members));
    }
    println!(
        "{:<52} mean   {:>8.3} ms",
        format!("GET group of {members} with members"),
        started.elapsed().as_secs_f64() * 1000.0 / full_reads as f64
    );
    println!(
        "\nadding one member: large group costs {:.2}x the 10-member group",
        large_add.as_secs_f64() / small_add.as_secs_f64()
    );

    if let Some(database) = database {
        drop_postgres_database(database).await;
    }
}
