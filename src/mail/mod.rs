//! Outgoing mail: the transports, the message templates and the queue worker.
//!
//! Callers do not send mail directly. They queue it with [`crate::storage::mail_queue::enqueue`],
//! in the same transaction as the change that causes it, and the worker from
//! [`worker::spawn_mail_worker`] sends it with a [`Mailer`], retrying with backoff while the
//! transport fails.
//!
//! A [`Mailer`] sends over SMTP, or writes each message as an `.eml` file into an outbox folder
//! for development and tests.

mod invitation;
pub mod worker;

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

pub use invitation::invitation_mail;
pub use worker::{spawn_mail_worker, MailNotifier, MailWorker, WorkerSettings};

/// The From address of outbox messages when none is configured.
pub const DEFAULT_OUTBOX_FROM: &str = "hub@localhost";

/// The default time limit of each SMTP command, the connection included.
pub const DEFAULT_SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// The transport for outgoing mail.
#[derive(Debug, Clone)]
pub enum MailTransportConfig {
    /// Writes each message as an `.eml` file into `dir`, which is created when missing.
    Outbox {
        dir: PathBuf,
        /// The From address, such as `Hub <hub@example.com>`.
        from: String,
    },
    /// Sends over SMTP.
    Smtp(SmtpConfig),
}

impl MailTransportConfig {
    /// Returns an outbox configuration with the default From address, [`DEFAULT_OUTBOX_FROM`].
    pub fn outbox(dir: impl Into<PathBuf>) -> MailTransportConfig {
        MailTransportConfig::Outbox {
            dir: dir.into(),
            from: DEFAULT_OUTBOX_FROM.to_string(),
        }
    }
}

/// Connection security of an SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain text, without ever upgrading to TLS. For a relay on the same host or in tests.
    None,
    /// Plain connection upgraded with STARTTLS. A send fails when the server does not offer it.
    StartTls,
    /// TLS from the first byte (implicit TLS, "SMTPS").
    Tls,
}

impl SmtpSecurity {
    /// Returns the usual port: 25 for plain SMTP, 587 for submission with STARTTLS, 465 for
    /// implicit TLS.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpSecurity::None => 25,
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Tls => 465,
        }
    }
}

/// SMTP server settings. The `Debug` output hides the password.
#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    /// Login for SMTP AUTH, set together with `password`. Leave both unset for no authentication.
    pub username: Option<String>,
    pub password: Option<String>,
    pub security: SmtpSecurity,
    /// The From address, such as `Hub <hub@example.com>`.
    pub from: String,
    /// Time limit of each SMTP command, the connection included, not of the whole send.
    pub timeout: Duration,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("security", &self.security)
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// One message to send, with a plain-text and an HTML version of the same content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    /// The recipient, as `user@example.com` or `Name <user@example.com>`.
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A failure to configure a [`Mailer`] or to send one message.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid mail configuration: {0}")]
    InvalidConfig(String),
    #[error("invalid e-mail address {address:?}: {source}")]
    InvalidAddress {
        address: String,
        source: lettre::address::AddressError,
    },
    #[error("invalid mail id {0:?}: use 1 to 64 ASCII letters, digits, '-' or '_'")]
    InvalidMailId(String),
    #[error("cannot build the message: {0}")]
    Build(#[from] lettre::error::Error),
    #[error("SMTP delivery failed: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("cannot write the outbox file {path}: {source}")]
    Outbox { path: PathBuf, source: std::io::Error },
}

impl MailError {
    /// Tells whether sending the same message again cannot succeed, because the message itself
    /// is invalid.
    ///
    /// SMTP errors count as temporary, permanent (5xx) replies included: a wrong password or a
    /// relay that rejects the sender is fixed in the configuration, and the queued mail should
    /// go out after that fix rather than be dropped.
    pub fn is_permanent(&self) -> bool {
        match self {
            MailError::InvalidAddress { .. } | MailError::InvalidMailId(_) | MailError::Build(_) => true,
            MailError::InvalidConfig(_) | MailError::Smtp(_) | MailError::Outbox { .. } => false,
        }
    }
}

/// Sends messages through the configured transport. Cheap to share behind an `Arc`.
pub struct Mailer {
    from: Mailbox,
    transport: Transport,
}

enum Transport {
    Outbox { dir: PathBuf },
    Smtp {
        /// `host:port` and the security, for `Debug`.
        server: String,
        transport: AsyncSmtpTransport<Tokio1Executor>,
    },
}

impl fmt::Debug for Mailer {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = formatter.debug_struct("Mailer");
        debug.field("from", &self.from.to_string());
        match &self.transport {
            Transport::Outbox { dir } => debug.field("outbox", dir),
            Transport::Smtp { server, .. } => debug.field("smtp", server),
        };
        debug.finish()
    }
}

impl Mailer {
    /// Builds a mailer, checking the From address and the credentials. An outbox mailer
    /// creates its folder here, while an SMTP mailer connects only when sending.
    pub fn new(config: MailTransportConfig) -> Result<Mailer, MailError> {
        match config {
            MailTransportConfig::Outbox { dir, from } => {
                let from = parse_mailbox(&from)?;
                std::fs::create_dir_all(&dir).map_err(|source| MailError::Outbox {
                    path: dir.clone(),
                    source,
                })?;
                Ok(Mailer {
                    from,
                    transport: Transport::Outbox { dir },
                })
            }
            MailTransportConfig::Smtp(config) => {
                let from = parse_mailbox(&config.from)?;
                let server = format!("{}:{} ({:?})", config.host, config.port, config.security);
                let transport = build_smtp_transport(config)?;
                Ok(Mailer {
                    from,
                    transport: Transport::Smtp { server, transport },
                })
            }
        }
    }

    /// Sends one message under a new random id.
    pub async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        self.send_with_id(&uuid::Uuid::new_v4().to_string(), mail).await
    }

    /// Sends one message under `id`, such as its mail queue id. The id becomes the local part
    /// of the Message-ID header, so every retry of a queued mail carries the same Message-ID,
    /// and it names the outbox file.
    pub async fn send_with_id(&self, id: &str, mail: &OutgoingMail) -> Result<(), MailError> {
        let message = self.build_message(id, mail)?;
        match &self.transport {
            Transport::Outbox { dir } => {
                let file_name = format!("{}-{id}.eml", crate::clock::now().format("%Y%m%dT%H%M%S%.3fZ"));
                let path = write_outbox_file(dir.clone(), file_name, message.formatted()).await?;
                tracing::debug!(mail_id = id, path = %path.display(), "wrote mail to the outbox");
            }
            Transport::Smtp { transport, .. } => {
                let response = transport.send(message).await?;
                tracing::debug!(mail_id = id, code = %response.code(), "SMTP server accepted mail");
            }
        }
        Ok(())
    }

    fn build_message(&self, id: &str, mail: &OutgoingMail) -> Result<Message, MailError> {
        let valid_id = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
        if !valid_id {
            return Err(MailError::InvalidMailId(id.to_string()));
        }
        let to = parse_mailbox(&mail.to)?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.as_str())
            .message_id(Some(format!("<{id}@{}>", self.from.email.domain())))
            .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))?;
        Ok(message)
    }
}

fn parse_mailbox(address: &str) -> Result<Mailbox, MailError> {
    address.parse().map_err(|source| MailError::InvalidAddress {
        address: address.to_string(),
        source,
    })
}

fn build_smtp_transport(config: SmtpConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    if config.host.is_empty() {
        return Err(MailError::InvalidConfig("the SMTP host is empty".to_string()));
    }
    let tls = match config.security {
        SmtpSecurity::None => Tls::None,
        SmtpSecurity::StartTls => Tls::Required(tls_parameters(&config.host)?),
        SmtpSecurity::Tls => Tls::Wrapper(tls_parameters(&config.host)?),
    };
    // `builder_dangerous` only means that the builder starts without TLS, which `tls` sets here.
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.as_str())
        .port(config.port)
        .tls(tls)
        .timeout(Some(config.timeout));
    match (config.username, config.password) {
        (Some(username), Some(password)) => builder = builder.credentials(Credentials::new(username, password)),
        (None, None) => {}
        _ => {
            return Err(MailError::InvalidConfig(
                "set both the SMTP username and password, or neither".to_string(),
            ))
        }
    }
    Ok(builder.build())
}

fn tls_parameters(host: &str) -> Result<TlsParameters, MailError> {
    TlsParameters::new(host.to_string())
        .map_err(|error| MailError::InvalidConfig(format!("cannot set up TLS for SMTP host {host:?}: {error}")))
}

/// Writes `contents` to `dir/file_name` through a temporary file that is synced and then
/// renamed, so a reader of the folder never finds a partly written `.eml` file.
async fn write_outbox_file(dir: PathBuf, file_name: String, contents: Vec<u8>) -> Result<PathBuf, MailError> {
    let path = dir.join(&file_name);
    let temp_path = dir.join(format!(".{file_name}.tmp"));
    let task_path = path.clone();
    let written = tokio::task::spawn_blocking(move || {
        let result = write_and_rename(&temp_path, &task_path, &contents);
        if result.is_err() {
            // The temporary file may not exist, depending on the step that failed.
            let _ = std::fs::remove_file(&temp_path);
        }
        result
    })
    .await
    .unwrap_or_else(|join_error| Err(std::io::Error::other(join_error)));
    written.map_err(|source| MailError::Outbox {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

fn write_and_rename(temp_path: &Path, path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::create(temp_path)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(temp_path, path)
}
