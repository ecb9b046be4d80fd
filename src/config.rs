//! Settings of `hub serve`, from command-line flags and `HUB_` environment variables.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::mail::{MailTransportConfig, WorkerSettings};
use crate::http::rate_limit::RateLimitSettings;
use crate::service::keys::KeySource;

/// Everything `hub serve` needs to start.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Folder for the SQLite database and other local state; created when missing.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; defaults to `hub.db` in the data folder.
    pub database_url: Option<String>,
    /// Externally visible base URL for resource locations; derived from `Host` when unset.
    pub public_url: Option<String>,
    /// Name of the organization created on first start.
    pub bootstrap_org: String,
    /// The bootstrap SCIM token to use instead of a generated one. Secret: never logged.
    pub bootstrap_token: Option<String>,
    /// Maximum request body size in bytes.
    pub max_body_bytes: usize,
    /// Largest page of a list request (RFC 7644 §3.4.2.4), advertised in ServiceProviderConfig.
    pub max_page_size: i64,
    /// Maximum database connections in the pool.
    pub max_connections: u32,
    /// Mail transport for invitations. `None` writes `.eml` files to `DATA_DIR/outbox`.
    pub mail: Option<MailTransportConfig>,
    /// Polling and retry timing of the mail queue worker. `None` runs no worker in this process,
    /// so another instance on the same database sends the queued mail.
    pub mail_worker: Option<WorkerSettings>,
    /// Folder of Hub's session signing keys; defaults to `keys` in the data folder.
    pub keys_dir: Option<PathBuf>,
    /// One PEM file with the session signing key, managed outside Hub; overrides the folder.
    pub signing_key_file: Option<PathBuf>,
    /// Lifetime of the sessions the sign-in gate opens.
    pub session_ttl: chrono::Duration,
    /// Request rate limits per SCIM token and per client address.
    pub rate_limits: RateLimitSettings,
    /// Certificate and key for serving HTTPS itself; `None` serves plain HTTP (behind a proxy
    /// that terminates TLS, or for local use).
    pub tls: Option<TlsFiles>,
    /// How long a stopping server waits for requests in flight.
    pub shutdown_timeout: std::time::Duration,
    /// Capture, queue and retention of the SCIM request log.
    pub request_log: crate::service::request_log::RequestLogSettings,
}

/// PEM files of the server's TLS certificate chain and private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

impl ServeConfig {
    /// Returns the database URL, defaulting to a SQLite file in the data folder.
    pub fn effective_database_url(&self) -> String {
        database_url_or_default(self.database_url.as_deref(), &self.data_dir)
    }

    /// Returns the mail transport, defaulting to the outbox folder in the data folder.
    pub fn effective_mail(&self) -> MailTransportConfig {
        self.mail
            .clone()
            .unwrap_or_else(|| MailTransportConfig::outbox(self.data_dir.join("outbox")))
    }

    /// Returns where the session signing key lives.
    pub fn key_source(&self) -> KeySource {
        key_source(self.signing_key_file.as_deref(), self.keys_dir.as_deref(), &self.data_dir)
    }

    /// Returns the base URL of the links Hub sends (registration links).
    pub fn public_base(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{bound}"),
        }
    }
}

/// Returns the configured key file, else the key folder (by default `keys` in the data folder).
pub fn key_source(file: Option<&Path>, folder: Option<&Path>, data_dir: &Path) -> KeySource {
    match (file, folder) {
        (Some(file), _) => KeySource::File(file.to_path_buf()),
        (None, Some(folder)) => KeySource::Folder(folder.to_path_buf()),
        (None, None) => KeySource::Folder(data_dir.join("keys")),
    }
}

/// Returns `url`, or the SQLite file `hub.db` inside `data_dir`.
pub fn database_url_or_default(url: Option<&str>, data_dir: &Path) -> String {
    match url {
        Some(url) if !url.trim().is_empty() => url.to_string(),
        _ => format!("sqlite://{}", data_dir.join("hub.db").display()),
    }
}
