//! Crash safety: `hub serve` is killed with SIGKILL while 16 clients write, then restarted on
//! the same data. Every write that got a 2xx must be there, and every other write must be
//! absent or complete.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;
use crate::process::ServerProcess;

const CLIENTS: usize = 16;
const TOKEN: &str = "crash-test-token-0123456789abcdef0123456789";

/// The writes that were acknowledged with a 2xx before the kill.
#[derive(Default)]
struct Acknowledged {
    /// userName → id of users whose create returned 201.
    created: HashMap<String, String>,
    /// ids whose displayName PATCH to "after" returned 200.
    patched: HashSet<String>,
    /// ids whose addition to the group returned a 2xx.
    members: HashSet<String>,
    /// userNames whose create was sent, whether or not a response came back.
    attempted: HashSet<String>,
}

struct Client {
    http: reqwest::Client,
    scim: String,
}

impl Client {
    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> Option<(u16, Value)> {
        let response = self
            .http
            .request(method, format!("{}{path}", self.scim))
            .bearer_auth(TOKEN)
            .json(&body)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .ok()?;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        Some((status, body))
    }
}

/// Creates a user, renames it and adds it to the group, over and over until the server dies.
async fn write_until_killed(client: Client, index: usize, group_id: String, stop: Arc<AtomicBool>, acked: Arc<Mutex<Acknowledged>>) {
    for round in 0..10_000 {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let user_name = format!("c{index}-{round}@example.com");
        acked.lock().unwrap().attempted.insert(user_name.clone());
        let create = json!({"schemas": [CORE_USER], "userName": user_name, "displayName": "before"});
        let Some((201, created)) = client.send(reqwest::Method::POST, "/Users", create).await else { return };
        let id = created["id"].as_str().unwrap().to_string();
        acked.lock().unwrap().created.insert(user_name, id.clone());

        let rename = patch_body(json!([{"op": "replace", "path": "displayName", "value": "after"}]));
        let Some((200, _)) = client.send(reqwest::Method::PATCH, &format!("/Users/{id}"), rename).await else { return };
        acked.lock().unwrap().patched.insert(id.clone());

        let join = patch_body(json!([{"op": "add", "path": "members", "value": [{"value": id}]}]));
        match client.send(reqwest::Method::PATCH, &format!("/Groups/{group_id}"), join).await {
            Some((200 | 204, _)) => {
                acked.lock().unwrap().members.insert(id);
            }
            _ => return,
        }
    }
}

async fn acknowledged_writes_survive_sigkill(backend: Backend) {
    let folder = tempfile::tempdir().unwrap();
    let Some(database_url) = test_database(backend, folder.path()).await else { return };
    let mut server = ServerProcess::start(folder.path(), &database_url, TOKEN, &["--no-mail-worker"]).await;
    let setup = Client {
        http: reqwest::Client::new(),
        scim: server.scim_url(),
    };
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Crash"});
    let (status, group) = setup.send(reqwest::Method::POST, "/Groups", group).await.unwrap();
    assert_eq!(status, 201, "{group}");
    let group_id = group["id"].as_str().unwrap().to_string();

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let writers: Vec<_> = (0..CLIENTS)
        .map(|index| {
            let client = Client {
                http: reqwest::Client::new(),
                scim: server.scim_url(),
            };
            tokio::spawn(write_until_killed(client, index, group_id.clone(), stop.clone(), acked.clone()))
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.signal("KILL");
    stop.store(true, Ordering::SeqCst);
    server.wait_for_exit(Duration::from_secs(10)).await.expect("hub did not die");
    for writer in writers {
        writer.await.unwrap();
    }

    let restarted = ServerProcess::start(folder.path(), &database_url, TOKEN, &["--no-mail-worker"]).await;
    let check = Client {
        http: reqwest::Client::new(),
        scim: restarted.scim_url(),
    };
    let acked = acked.lock().unwrap();
    assert!(acked.created.len() >= CLIENTS, "too few writes before the kill to prove anything: {}", acked.created.len());

    let (status, list) = check.send(reqwest::Method::GET, "/Users?count=1000&attributes=userName,displayName", Value::Null).await.unwrap();
    assert_eq!(status, 200);
    let stored: HashMap<String, (String, String)> = list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| {
            let name = user["userName"].as_str().unwrap().to_string();
            (name, (user["id"].as_str().unwrap().to_string(), user["displayName"].as_str().unwrap_or_default().to_string()))
        })
        .collect();
    for (user_name, id) in &acked.created {
        let (stored_id, display_name) = stored.get(user_name).unwrap_or_else(|| panic!("acknowledged create of {user_name} lost"));
        assert_eq!(stored_id, id);
        if acked.patched.contains(id) {
            assert_eq!(display_name, "after", "acknowledged PATCH of {user_name} lost");
        }
    }
    // Every stored user is a whole write: one that was sent, with one of the two names.
    for (user_name, (_, display_name)) in &stored {
        assert!(acked.attempted.contains(user_name), "{user_name} appeared from nowhere");
        assert!(display_name == "before" || display_name == "after", "{user_name} is half written: {display_name:?}");
    }

    let (status, group) = check.send(reqwest::Method::GET, &format!("/Groups/{group_id}"), Value::Null).await.unwrap();
    assert_eq!(status, 200);
    let members: HashSet<String> = group["members"]
        .as_array()
        .map(|members| members.iter().filter_map(|member| member["value"].as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    for id in &acked.members {
        assert!(members.contains(id), "acknowledged membership of {id} lost");
    }
    for id in &members {
        assert!(stored.values().any(|(stored_id, _)| stored_id == id), "member {id} is not a stored user");
    }
    eprintln!(
        "crash test ({backend:?}): {} creates, {} PATCHes and {} memberships acknowledged and found after SIGKILL; {} users stored",
        acked.created.len(),
        acked.patched.len(),
        acked.members.len(),
        stored.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_sigkill_sqlite() {
    acknowledged_writes_survive_sigkill(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_sigkill_postgres() {
    acknowledged_writes_survive_sigkill(Backend::Postgres).await;
}
