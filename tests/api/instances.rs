//! Two `hub serve` processes on one PostgreSQL database, receiving interleaved concurrent
//! requests: the owner limit, the last-Owner rule, userName uniqueness and ETag preconditions
//! must hold exactly, as on one instance.

use futures::future::join_all;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::process::ServerProcess;

const TOKEN: &str = "instances-test-token-0123456789abcdef0123456789";
const ATTEMPTS: usize = 100;

struct Pair {
    servers: [ServerProcess; 2],
    http: reqwest::Client,
    _folders: [tempfile::TempDir; 2],
    /// Last, so the servers stop before their database is dropped.
    _database: TestDatabase,
}

impl Pair {
    async fn start() -> Option<Pair> {
        let database_url = create_postgres_database(&postgres_admin_url()?).await;
        let folders = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let first = ServerProcess::start(folders[0].path(), &database_url, TOKEN, &["--no-mail-worker"]).await;
        let second = ServerProcess::start(folders[1].path(), &database_url, TOKEN, &["--no-mail-worker"]).await;
        Some(Pair {
            servers: [first, second],
            http: reqwest::Client::new(),
            _folders: folders,
            _database: database_url,
        })
    }

    /// Sends attempt `index` to one of the two instances, alternating.
    async fn send(&self, index: usize, method: reqwest::Method, path: &str, body: Value, if_match: Option<&str>) -> (u16, Value) {
        let server = &self.servers[index % 2];
        let mut request = self.http.request(method, format!("{}{path}", server.scim_url())).bearer_auth(TOKEN).json(&body);
        if let Some(etag) = if_match {
            request = request.header("If-Match", etag);
        }
        status_and_json(request.send().await.expect("request failed")).await
    }

    async fn race(&self, method: reqwest::Method, path: &str, body: impl Fn(usize) -> Value, if_match: Option<&str>) -> Vec<(u16, Value)> {
        join_all((0..ATTEMPTS).map(|index| self.send(index, method.clone(), path, body(index), if_match))).await
    }
}

fn count(outcomes: &[(u16, Value)], status: u16) -> usize {
    outcomes.iter().filter(|(code, _)| *code == status).count()
}

fn owner(user_name: &str) -> Value {
    json!({"schemas": [CORE_USER, HUB_USER], "userName": user_name, HUB_USER: {"platformRole": "Owner"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rules_hold_across_two_instances() {
    let Some(pair) = Pair::start().await else { return };

    // Owner limit: 100 Owners created at once through both instances; exactly 2 get in.
    let outcomes = pair.race(reqwest::Method::POST, "/Users", |index| owner(&format!("owner{index}@example.com")), None).await;
    assert_eq!(count(&outcomes, 201), 2, "{:?}", outcomes.iter().map(|(code, _)| code).collect::<Vec<_>>());
    assert_eq!(count(&outcomes, 409), ATTEMPTS - 2);

    // userName uniqueness: one name, 100 creates with different cases.
    let outcomes = pair
        .race(
            reqwest::Method::POST,
            "/Users",
            |index| json!({"schemas": [CORE_USER], "userName": if index % 2 == 0 { "Same@Example.com" } else { "same@example.com" }}),
            None,
        )
        .await;
    assert_eq!(count(&outcomes, 201), 1);
    assert!(outcomes.iter().all(|(code, body)| *code == 201 || (*code == 409 && body["scimType"] == "uniqueness")), "{outcomes:?}");

    // ETag preconditions: 100 PATCHes with the same If-Match; exactly one applies.
    let (_, user) = pair.send(0, reqwest::Method::POST, "/Users", json!({"schemas": [CORE_USER], "userName": "etag@example.com"}), None).await;
    let path = format!("/Users/{}", user["id"].as_str().unwrap());
    let etag = user["meta"]["version"].as_str().unwrap().to_string();
    let outcomes = pair
        .race(
            reqwest::Method::PATCH,
            &path,
            |index| patch_body(json!([{"op": "replace", "path": "title", "value": format!("t{index}")}])),
            Some(&etag),
        )
        .await;
    assert_eq!(count(&outcomes, 200), 1);
    assert_eq!(count(&outcomes, 412), ATTEMPTS - 1);

    // Last Owner: both Owners demoted at once, 50 times each, through both instances; one
    // Owner always remains.
    let (_, owners) = pair.send(0, reqwest::Method::GET, "/Users?filter=roles.value%20eq%20%22Owner%22", Value::Null, None).await;
    let owner_ids: Vec<String> = owners["Resources"].as_array().unwrap().iter().map(|user| user["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(owner_ids.len(), 2, "{owners}");
    let demote = patch_body(json!([{"op": "replace", "path": format!("{HUB_USER}:platformRole"), "value": "Member"}]));
    let paths: Vec<String> = owner_ids.iter().map(|id| format!("/Users/{id}")).collect();
    let attempts = (0..ATTEMPTS).map(|index| pair.send(index / 2, reqwest::Method::PATCH, &paths[index % 2], demote.clone(), None));
    let outcomes = join_all(attempts).await;
    assert!(count(&outcomes, 409) >= 1, "no demotion was refused: {outcomes:?}");
    let (_, owners) = pair.send(1, reqwest::Method::GET, "/Users?filter=roles.value%20eq%20%22Owner%22", Value::Null, None).await;
    assert_eq!(owners["totalResults"], 1, "{owners}");
    eprintln!(
        "two-instance race: {ATTEMPTS} Owner creates gave 2 successes; {ATTEMPTS} same-name creates gave 1; {ATTEMPTS} If-Match PATCHes gave 1; {} of {ATTEMPTS} demotions refused by the last-Owner rule",
        count(&outcomes, 409)
    );
}
