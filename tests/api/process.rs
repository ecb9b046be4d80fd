//! Runs `hub serve` as a separate process, for tests that signal, kill or duplicate it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `hub serve` process; killed when dropped.
pub struct ServerProcess {
    pub child: Child,
    pub base_url: String,
    pub log_path: PathBuf,
}

impl ServerProcess {
    /// Starts `hub serve` on a free loopback port with the bootstrap token, and waits until
    /// `/health` responds.
    pub async fn start(data_dir: &Path, database_url: &str, token: &str, extra: &[&str]) -> ServerProcess {
        let port = free_port();
        let log_path = data_dir.join(format!("hub-{port}.log"));
        let log = std::fs::File::create(&log_path).expect("cannot create the server log");
        let child = Command::new(env!("CARGO_BIN_EXE_hub"))
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--database-url")
            .arg(database_url)
            .arg("--rate-limit")
            .arg("0")
            .args(extra)
            .env("HUB_BOOTSTRAP_SCIM_TOKEN", token)
            .env("RUST_LOG", "info")
            .env("HUB_LOG_FORMAT", "text")
            .stdout(log.try_clone().expect("cannot share the log file"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("cannot start hub serve");
        let server = ServerProcess {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            log_path,
        };
        server.wait_until_ready().await;
        server
    }

    async fn wait_until_ready(&self) {
        let client = reqwest::Client::new();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if client.get(format!("{}/health", self.base_url)).send().await.is_ok_and(|response| response.status().is_success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("hub serve did not answer within 60 s; log:\n{}", self.log());
    }

    pub fn scim_url(&self) -> String {
        format!("{}/scim/v2", self.base_url)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (TERM, KILL, HUP) with the `kill` command.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill").arg(format!("-{name}")).arg(self.pid().to_string()).status().expect("cannot run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the process to exit and returns whether it exited with status 0.
    pub async fn wait_for_exit(&mut self, limit: Duration) -> Option<bool> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.success());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("cannot find a free port");
    listener.local_addr().expect("no local address").port()
}

/// Runs a `hub` command on a test server's database and data folder.
pub fn run_hub(app: &crate::helpers::TestApp, arguments: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hub"))
        .arg("--data-dir")
        .arg(&app.data_dir)
        .arg("--database-url")
        .arg(&app.database_url)
        .args(arguments)
        .env("RUST_LOG", "warn")
        .output()
        .expect("cannot run hub")
}
