//! The `hub` command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::config::{database_url_or_default, ServeConfig};
use crate::domain::audit::{Actor, ChangeContext};
use crate::mail::{MailTransportConfig, SmtpConfig, SmtpSecurity, WorkerSettings, DEFAULT_SMTP_TIMEOUT};
use crate::service::invitations::{self, InvitationSettings, InviteRequest, Inviter};
use crate::service::keys::KeySource;
use crate::service::sessions;
use crate::service::tokens::{self, Bootstrap};
use crate::startup::{shutdown_signal, Application};
use crate::storage::{organizations, tokens as token_store, users, Store};
use crate::telemetry::{self, LogFormat};

/// Hub: the identity service of the suite, with a SCIM 2.0 provisioning server.
#[derive(Debug, Parser)]
#[command(name = "hub", version, about)]
pub struct Cli {
    #[command(flatten)]
    storage: StorageArgs,

    /// Log format on standard error.
    #[arg(long, env = "HUB_LOG_FORMAT", value_enum, default_value = "text", global = true)]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

/// Storage location of Hub's data.
#[derive(Debug, Args)]
struct StorageArgs {
    /// Folder for the SQLite database and other local state; created when missing.
    #[arg(long, env = "HUB_DATA_DIR", default_value = "./data", global = true)]
    data_dir: PathBuf,

    /// Database URL: sqlite://PATH, or postgres://USER:PASSWORD@HOST/DB for PostgreSQL.
    /// Default: sqlite://DATA_DIR/hub.db.
    #[arg(long, env = "HUB_DATABASE_URL", global = true)]
    database_url: Option<String>,

    /// Folder of Hub's session signing keys. Default: DATA_DIR/keys.
    #[arg(long, env = "HUB_KEYS_DIR", global = true)]
    keys_dir: Option<PathBuf>,

    /// A P-256 private key (PEM) that signs session tokens, managed outside Hub; replaces the
    /// key folder. Replace the file to rotate: Hub reads it again at the next sign-in.
    #[arg(long, env = "HUB_SIGNING_KEY_FILE", global = true)]
    signing_key_file: Option<PathBuf>,
}

impl StorageArgs {
    fn key_source(&self) -> KeySource {
        crate::config::key_source(self.signing_key_file.as_deref(), self.keys_dir.as_deref(), &self.data_dir)
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server. On first start with an empty database it creates the bootstrap
    /// organization and prints its SCIM token once.
    #[command(after_help = "Environment:\n  HUB_BOOTSTRAP_SCIM_TOKEN  Use this value as the bootstrap SCIM token instead of a generated one.\n                            Read from the environment only, so it stays out of process listings.\n  RUST_LOG                  Log filter, such as info or hub=debug (default: info).")]
    Serve(ServeArgs),
    /// Manage SCIM bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage Hub session tokens for the admin API.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Manage the keys that sign Hub session tokens.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Configure the identity provider whose tokens the sign-in gate accepts.
    #[command(subcommand, name = "sign-in")]
    SignIn(SignInCommand),
    /// Invite a person by email; a running `hub serve` on the same database sends the mail.
    Invite {
        /// The organization's name.
        #[arg(long)]
        org: String,
        /// Platform role: Owner, Admin, Member or Viewer.
        #[arg(long, default_value = "Member")]
        role: String,
        /// Product keys to grant, comma-separated.
        #[arg(long, value_delimiter = ',')]
        products: Vec<String>,
        /// Display name of the person.
        #[arg(long)]
        name: Option<String>,
        /// Base URL of the registration link, such as https://hub.example.com.
        #[arg(long, env = "HUB_PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
        public_url: String,
        /// The address to invite.
        email: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a new signing key in the key folder and make it current. Tokens signed with the
    /// previous key stay valid until they expire; running servers switch at their next sign-in.
    Rotate,
    /// List the published public keys (key id, creation, retirement).
    List,
}

#[derive(Debug, Subcommand)]
enum SignInCommand {
    /// Set an organization's identity provider: the issuer, the accepted audiences and where
    /// its signing keys are published.
    Set {
        /// The organization's name.
        #[arg(long)]
        org: String,
        /// The exact iss claim, such as https://login.microsoftonline.com/TENANT_ID/v2.0.
        #[arg(long)]
        issuer: String,
        /// Accepted aud values (the app registration's client id), comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        audience: Vec<String>,
        /// The provider's JWKS URL, such as https://login.microsoftonline.com/TENANT_ID/discovery/v2.0/keys.
        #[arg(long, conflicts_with = "jwks_file", required_unless_present = "jwks_file")]
        jwks_url: Option<String>,
        /// A JWKS document on this machine, for providers without a reachable URL.
        #[arg(long)]
        jwks_file: Option<PathBuf>,
    },
    /// Show an organization's identity provider settings.
    Show {
        /// The organization's name.
        #[arg(long)]
        org: String,
    },
}

#[derive(Debug, Subcommand)]
enum SessionCommand {
    /// Create a session for an Active user and print its token once, for operators and
    /// scripts. People get sessions by signing in through the identity provider.
    Create {
        /// The organization's name.
        #[arg(long)]
        org: String,
        /// The user's userName.
        #[arg(long)]
        user: String,
        /// Session lifetime in minutes.
        #[arg(long, default_value_t = 480)]
        ttl_minutes: i64,
    },
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, env = "HUB_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// Externally visible base URL, such as https://hub.example.com, used in Location headers
    /// and meta.location. Default: built from the request's Host header.
    #[arg(long, env = "HUB_PUBLIC_URL")]
    public_url: Option<String>,

    /// Name of the organization created on first start.
    #[arg(long, env = "HUB_BOOTSTRAP_ORG", default_value = "default")]
    bootstrap_org: String,

    /// Maximum request body size in bytes.
    #[arg(long, env = "HUB_MAX_BODY_BYTES", default_value_t = 1_048_576)]
    max_body_bytes: usize,

    /// Largest page a list request returns, advertised in ServiceProviderConfig.
    #[arg(long, env = "HUB_MAX_PAGE_SIZE", default_value_t = 1000, value_parser = clap::value_parser!(i64).range(1..=100_000))]
    max_page_size: i64,

    /// Maximum number of database connections.
    #[arg(long, env = "HUB_MAX_DB_CONNECTIONS", default_value_t = 16)]
    max_db_connections: u32,

    /// Lifetime in minutes of the sessions the sign-in gate opens (1 to 720).
    #[arg(long, env = "HUB_SESSION_TTL_MINUTES", default_value_t = 60, value_parser = clap::value_parser!(i64).range(1..=720))]
    session_ttl_minutes: i64,

    /// SCIM requests per second per token (an organization may set its own); 0 turns the
    /// limit off.
    #[arg(long, env = "HUB_RATE_LIMIT", default_value_t = 1000)]
    rate_limit: u32,

    /// Requests per second per client address without a valid credential (sign-in, failed
    /// authentication); 0 turns the limit off.
    #[arg(long, env = "HUB_UNAUTHENTICATED_RATE_LIMIT", default_value_t = 20)]
    unauthenticated_rate_limit: u32,

    /// PEM certificate chain: with --tls-key, Hub serves HTTPS itself and reloads both files
    /// on SIGHUP.
    #[arg(long, env = "HUB_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// PEM private key of the TLS certificate.
    #[arg(long, env = "HUB_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Seconds a stopping server (SIGTERM or SIGINT) waits for requests in flight.
    #[arg(long, env = "HUB_SHUTDOWN_TIMEOUT_SECONDS", default_value_t = 30)]
    shutdown_timeout_seconds: u64,

    /// Whether SCIM requests are recorded in the request log (on or off).
    #[arg(long, env = "HUB_REQUEST_LOG", default_value = "on", value_parser = ["on", "off"])]
    request_log: String,

    /// Days the request log keeps its entries (1 to 3650); older ones are purged hourly.
    #[arg(long, env = "HUB_REQUEST_LOG_RETENTION_DAYS", default_value_t = crate::service::request_log::DEFAULT_RETENTION_DAYS, value_parser = clap::value_parser!(i64).range(1..=3650))]
    request_log_retention_days: i64,

    /// Request log entries that may wait for storage; further entries are dropped and counted.
    #[arg(long, env = "HUB_REQUEST_LOG_QUEUE", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    request_log_queue: u64,

    #[command(flatten)]
    mail: MailArgs,

    /// Run no mail worker in this process: invitation mail stays queued in the database for
    /// another `hub serve` on the same database to send.
    #[arg(long, env = "HUB_NO_MAIL_WORKER")]
    no_mail_worker: bool,
}

/// Destination of invitation mail: an outbox folder by default, or an SMTP server.
#[derive(Debug, Args)]
struct MailArgs {
    /// SMTP server host. Without it, mail is written as .eml files to DATA_DIR/outbox.
    #[arg(long, env = "HUB_SMTP_HOST")]
    smtp_host: Option<String>,

    /// SMTP server port. Default: 587 with starttls, 465 with tls, 25 with none.
    #[arg(long, env = "HUB_SMTP_PORT")]
    smtp_port: Option<u16>,

    /// SMTP user name, when the server requires authentication.
    #[arg(long, env = "HUB_SMTP_USERNAME")]
    smtp_username: Option<String>,

    /// Connection security: none, starttls or tls. The password is read from
    /// HUB_SMTP_PASSWORD only, so it stays out of process listings.
    #[arg(long, env = "HUB_SMTP_SECURITY", default_value = "starttls", value_parser = ["none", "starttls", "tls"])]
    smtp_security: String,

    /// The From address of Hub's mail, such as "Hub <hub@example.com>".
    #[arg(long, env = "HUB_MAIL_FROM", default_value = "Hub <hub@localhost>")]
    mail_from: String,
}

impl MailArgs {
    fn transport(&self, data_dir: &std::path::Path) -> MailTransportConfig {
        let Some(host) = &self.smtp_host else {
            return MailTransportConfig::Outbox {
                dir: data_dir.join("outbox"),
                from: self.mail_from.clone(),
            };
        };
        let security = match self.smtp_security.as_str() {
            "none" => SmtpSecurity::None,
            "tls" => SmtpSecurity::Tls,
            _ => SmtpSecurity::StartTls,
        };
        MailTransportConfig::Smtp(SmtpConfig {
            host: host.clone(),
            port: self.smtp_port.unwrap_or(security.default_port()),
            username: self.smtp_username.clone(),
            password: std::env::var("HUB_SMTP_PASSWORD").ok().filter(|password| !password.is_empty()),
            security,
            from: self.mail_from.clone(),
            timeout: DEFAULT_SMTP_TIMEOUT,
        })
    }
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a SCIM token for an organization and print it once.
    Create {
        /// The organization's name.
        #[arg(long)]
        org: String,
        /// A label to recognise the token by, such as "Entra ID production".
        #[arg(long, default_value = "scim")]
        name: String,
        /// Lifetime of the token in days, such as 90d (or 90); without it the token does not
        /// expire.
        #[arg(long, value_parser = parse_days)]
        expires_in: Option<i64>,
    },
    /// Revoke a SCIM token by its id (see `hub token list`).
    Revoke {
        /// The token id.
        id: String,
    },
    /// List an organization's SCIM tokens (ids and names, never the tokens).
    List {
        /// The organization's name.
        #[arg(long)]
        org: String,
    },
}

/// Maximum lifetime of a session made by `hub session create`, in minutes (30 days).
const MAX_SESSION_MINUTES: i64 = 30 * 24 * 60;

/// Tokens shorter than this get a warning at start; generated tokens have 73 characters.
const MIN_RECOMMENDED_TOKEN_LENGTH: usize = 32;

/// Parses the command line, runs the command and returns the process exit code.
pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    match execute(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The message goes to standard error once; the log line carries the cause chain
            // for operators who collect logs.
            tracing::debug!(cause = ?error, "command failed");
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(cli.storage, args).await,
        Command::Token(command) => token(cli.storage, command).await,
        Command::Session(SessionCommand::Create { org, user, ttl_minutes }) => session_create(cli.storage, &org, &user, ttl_minutes).await,
        Command::Keys(command) => keys(cli.storage, command).await,
        Command::SignIn(command) => sign_in(cli.storage, command).await,
        Command::Invite {
            org,
            role,
            products,
            name,
            public_url,
            email,
        } => {
            let request = InviteRequest {
                email,
                display_name: name,
                role: Some(role),
                products,
            };
            invite(cli.storage, &org, request, &public_url).await
        }
    }
}

async fn serve(storage: StorageArgs, args: ServeArgs) -> anyhow::Result<()> {
    let storage_data_dir = storage.data_dir.clone();
    let config = ServeConfig {
        listen: args.listen,
        data_dir: storage.data_dir.clone(),
        database_url: storage.database_url,
        public_url: args.public_url,
        bootstrap_org: args.bootstrap_org,
        bootstrap_token: std::env::var("HUB_BOOTSTRAP_SCIM_TOKEN").ok().filter(|token| !token.is_empty()),
        max_body_bytes: args.max_body_bytes,
        max_page_size: args.max_page_size,
        max_connections: args.max_db_connections,
        mail: Some(args.mail.transport(&storage_data_dir)),
        mail_worker: (!args.no_mail_worker).then(WorkerSettings::default),
        keys_dir: storage.keys_dir,
        signing_key_file: storage.signing_key_file,
        session_ttl: chrono::Duration::minutes(args.session_ttl_minutes),
        rate_limits: crate::http::rate_limit::RateLimitSettings {
            per_token: args.rate_limit,
            per_address: args.unauthenticated_rate_limit,
        },
        tls: args.tls_cert.zip(args.tls_key).map(|(certificate, key)| crate::config::TlsFiles { certificate, key }),
        shutdown_timeout: std::time::Duration::from_secs(args.shutdown_timeout_seconds),
        request_log: crate::service::request_log::RequestLogSettings {
            enabled: args.request_log == "on",
            queue_capacity: args.request_log_queue as usize,
            retention: chrono::Duration::days(args.request_log_retention_days),
            ..Default::default()
        },
    };
    if let Some(token) = &config.bootstrap_token {
        if token.chars().count() < MIN_RECOMMENDED_TOKEN_LENGTH {
            tracing::warn!(
                length = token.chars().count(),
                "HUB_BOOTSTRAP_SCIM_TOKEN is short; use at least {MIN_RECOMMENDED_TOKEN_LENGTH} random characters"
            );
        }
    }
    let listen = config.listen;
    let application = Application::build(config).await?;
    report_bootstrap(application.bootstrap(), listen, application.port());
    application.run_until_stopped(shutdown_signal()).await
}

/// Prints what the first start created. The generated token goes to standard output only.
fn report_bootstrap(bootstrap: &Bootstrap, listen: SocketAddr, port: u16) {
    let scim_url = format!("http://{}:{port}/scim/v2", listen.ip());
    match bootstrap {
        Bootstrap::Created { organization, token } => {
            println!("Created organization '{}' with a SCIM token.", organization.name);
            println!("SCIM base URL: {scim_url}");
            println!("SCIM token (shown only now; store it safely): {token}");
            tracing::info!(org_id = %organization.id, "bootstrap organization created");
        }
        Bootstrap::CreatedWithGivenToken { organization } => {
            println!(
                "Created organization '{}' with the SCIM token from HUB_BOOTSTRAP_SCIM_TOKEN. SCIM base URL: {scim_url}",
                organization.name
            );
            tracing::info!(org_id = %organization.id, "bootstrap organization created");
        }
        Bootstrap::AddedGivenToken { organization } => {
            tracing::info!(org_id = %organization.id, "token from HUB_BOOTSTRAP_SCIM_TOKEN added");
        }
        Bootstrap::GivenTokenRevoked => {
            tracing::warn!("the token in HUB_BOOTSTRAP_SCIM_TOKEN was revoked and stays revoked; requests with it get 401");
        }
        Bootstrap::Unchanged => {}
    }
    if !matches!(bootstrap, Bootstrap::Created { .. } | Bootstrap::CreatedWithGivenToken { .. }) {
        println!("Hub is serving SCIM at {scim_url}");
    }
}

async fn open_store(storage: &StorageArgs) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&storage.data_dir)
        .with_context(|| format!("cannot create the data folder {}", storage.data_dir.display()))?;
    let url = database_url_or_default(storage.database_url.as_deref(), &storage.data_dir);
    Store::connect(&url, 2).await
}

async fn token(storage: StorageArgs, command: TokenCommand) -> anyhow::Result<()> {
    let store = open_store(&storage).await?;
    match command {
        TokenCommand::Create { org, name, expires_in } => {
            let organization = find_organization(&store, &storage, &org).await?;
            let token = tokens::generate_token();
            let expires_at = expires_in.map(|days| crate::clock::now() + chrono::Duration::days(days));
            let id = tokens::store_token(&store, &organization.id, &name, &token, expires_at).await?;
            tracing::info!(org_id = %organization.id, token_id = %id, "SCIM token created");
            println!("Token id: {id}");
            if let Some(expires_at) = expires_at {
                println!("Expires at: {}", crate::clock::format(expires_at));
            }
            println!("SCIM token (shown only now; store it safely): {token}");
        }
        TokenCommand::Revoke { id } => {
            if !token_store::revoke(&mut store.db(), &id).await? {
                // The argument is not echoed: an operator may have pasted the token itself.
                anyhow::bail!(
                    "no live token has that id in {}; `hub token list --org NAME` shows the ids (not the tokens)",
                    describe_database(&storage)
                );
            }
            tracing::info!(token_id = %id, "SCIM token revoked");
            println!("Revoked token {id}.");
        }
        TokenCommand::List { org } => {
            let organization = find_organization(&store, &storage, &org).await?;
            let since = crate::clock::now() - chrono::Duration::hours(24);
            let counts = crate::storage::request_log::token_counts(store.log_pool(), &organization.id, since).await?;
            for token in token_store::list(&mut store.db(), &organization.id).await? {
                let expired = token
                    .expires_at
                    .as_deref()
                    .and_then(crate::clock::parse)
                    .is_some_and(|expires_at| crate::clock::now() >= expires_at);
                let state = match (&token.revoked_at, &token.expires_at) {
                    (Some(at), _) => format!("revoked {at}"),
                    (None, Some(at)) if expired => format!("expired {at}"),
                    (None, Some(at)) => format!("active, expires {at}"),
                    (None, None) => "active".to_string(),
                };
                let used = token.last_used_at.as_deref().unwrap_or("never");
                let last_day = counts.get(&token.id).copied().unwrap_or_default();
                println!(
                    "{}\t{}\tcreated {}\tlast used {used}\trequests/errors in 24 h: {}/{}\t{state}",
                    token.id, token.name, token.created_at, last_day.requests, last_day.errors
                );
            }
        }
    }
    store.close().await;
    Ok(())
}

async fn find_organization(store: &Store, storage: &StorageArgs, name: &str) -> anyhow::Result<organizations::Organization> {
    organizations::find_by_name(&mut store.db(), name).await?.with_context(|| {
        format!(
            "no organization named {name:?} in {}; pass the --data-dir or --database-url the server uses",
            describe_database(storage)
        )
    })
}

/// Names the database a command uses, without its password.
fn describe_database(storage: &StorageArgs) -> String {
    crate::storage::redact_url(&database_url_or_default(storage.database_url.as_deref(), &storage.data_dir))
}

async fn session_create(storage: StorageArgs, org: &str, user_name: &str, ttl_minutes: i64) -> anyhow::Result<()> {
    if !(1..=MAX_SESSION_MINUTES).contains(&ttl_minutes) {
        anyhow::bail!("--ttl-minutes must be between 1 and {MAX_SESSION_MINUTES} (30 days)");
    }
    let store = open_store(&storage).await?;
    let organization = find_organization(&store, &storage, org).await?;

    let user = users::find_by_user_name(&mut store.db(), &organization.id, user_name)
        .await?
        .with_context(|| format!("no user with userName {user_name:?} in organization {org:?}"))?;
    if user.removed_at.is_some() || user.lifecycle.status != crate::domain::user::Status::Active {
        anyhow::bail!(
            "the user is {}, and only Active users have sessions; an invited user registers through the link in the invitation first",
            user.lifecycle.status
        );
    }

    let keys = sessions::load_keys(&store, storage.key_source()).await?;
    let token = sessions::create_session(&store, &keys, &user, chrono::Duration::minutes(ttl_minutes), crate::clock::now())
        .await
        .map_err(|error| anyhow::anyhow!("cannot create the session: {error}"))?;

    let record = crate::domain::audit::AuditRecord {
        action: "session.created",
        target_type: "user",
        target_id: user.id.clone(),
        before: None,
        after: Some(serde_json::json!({"ttlMinutes": ttl_minutes, "origin": "hub session create"})),
    };
    let context = ChangeContext {
        actor: Actor::System,
        request_id: format!("cli-{}", uuid::Uuid::new_v4()),
    };
    crate::storage::audit::insert(&mut store.db(), &organization.id, &context, &record).await?;
    tracing::info!(org_id = %organization.id, user_id = %user.id, "session created");
    println!("{token}");
    store.close().await;
    Ok(())
}

async fn invite(storage: StorageArgs, org: &str, request: InviteRequest, public_url: &str) -> anyhow::Result<()> {
    let store = open_store(&storage).await?;
    let organization = find_organization(&store, &storage, org).await?;
    let context = ChangeContext {
        actor: Actor::System,
        request_id: format!("cli-{}", uuid::Uuid::new_v4()),
    };
    let inviter = Inviter {
        actor: Actor::System,
        display_name: format!("The {} administrators", organization.name),
    };
    let settings = InvitationSettings {
        public_base: public_url.to_string(),
        clock: std::sync::Arc::new(crate::clock::SystemClock),
    };
    let outcome = invitations::invite(&store, &organization, &context, &inviter, &request, &settings)
        .await
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    println!(
        "Invited {} (user id {}); the link expires {}. A running `hub serve` on this database sends the mail.",
        request.email,
        outcome.user.id,
        crate::clock::format(outcome.invitation.expires_at)
    );
    store.close().await;
    Ok(())
}

async fn keys(storage: StorageArgs, command: KeysCommand) -> anyhow::Result<()> {
    let store = open_store(&storage).await?;
    match command {
        KeysCommand::Rotate => {
            let KeySource::Folder(folder) = storage.key_source() else {
                anyhow::bail!("the signing key is the file given by --signing-key-file; rotate it by replacing that file");
            };
            // Opening the ring first creates and publishes the first key of an empty folder,
            // so the key being replaced is on record as retired.
            crate::service::keys::KeyRing::open(&store, KeySource::Folder(folder.clone())).await?;
            let kid = crate::service::keys::rotate(&store, &folder).await?;
            println!("new signing key {kid}; tokens signed with earlier keys stay valid until they expire");
        }
        KeysCommand::List => {
            for key in crate::storage::sign_in::published_keys(&mut store.db()).await? {
                let retired = key.retired_at.map(crate::clock::format).unwrap_or_else(|| "current".into());
                println!("{}\tcreated {}\t{}", key.kid, crate::clock::format(key.created_at), retired);
            }
        }
    }
    store.close().await;
    Ok(())
}

async fn sign_in(storage: StorageArgs, command: SignInCommand) -> anyhow::Result<()> {
    let store = open_store(&storage).await?;
    match command {
        SignInCommand::Set {
            org,
            issuer,
            audience,
            jwks_url,
            jwks_file,
        } => {
            let organization = find_organization(&store, &storage, &org).await?;
            let jwks = match (jwks_url, jwks_file) {
                (Some(url), _) => crate::domain::sign_in::JwksSource::Url(url),
                (None, Some(path)) => {
                    let document = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
                    let usable = crate::service::provider_keys::check_document(&document)
                        .map_err(|error| anyhow::anyhow!("{} is not a usable JWKS document: {error}", path.display()))?;
                    if usable == 0 {
                        anyhow::bail!("{} contains no signing key Hub can use (RSA, EC P-256/P-384 or Ed25519); check that it is the provider's JWKS document", path.display());
                    }
                    crate::domain::sign_in::JwksSource::File(std::path::absolute(&path)?)
                }
                (None, None) => anyhow::bail!("give --jwks-url or --jwks-file"),
            };
            let settings = crate::domain::sign_in::ProviderSettings {
                org_id: organization.id.clone(),
                issuer,
                audiences: audience,
                jwks,
            };
            let context = ChangeContext {
                actor: Actor::System,
                request_id: format!("cli-{}", uuid::Uuid::new_v4()),
            };
            crate::service::sign_in::save_provider(&store, &context, &settings).await.map_err(|error| anyhow::anyhow!("{error}"))?;
            println!("sign-in provider of {org:?} set: issuer {}", settings.issuer);
        }
        SignInCommand::Show { org } => {
            let organization = find_organization(&store, &storage, &org).await?;
            match crate::storage::sign_in::provider(&mut store.db(), &organization.id).await? {
                Some(settings) => println!(
                    "issuer\t{}\naudiences\t{}\nkeys\t{}",
                    settings.issuer,
                    settings.audiences.join(","),
                    settings.jwks
                ),
                None => println!("no sign-in provider set for {org:?}; use hub sign-in set"),
            }
        }
    }
    store.close().await;
    Ok(())
}

/// Parses a lifetime in days: `90d` or `90`, from 1 to ten years.
fn parse_days(text: &str) -> Result<i64, String> {
    let number = text.trim().strip_suffix('d').unwrap_or(text.trim());
    let days: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a number of days; write it like 90d"))?;
    let maximum = tokens::MAX_TOKEN_DAYS;
    if !(1..=maximum).contains(&days) {
        return Err(format!("{days} days is out of range; give 1 to {maximum} days"));
    }
    Ok(days)
}
