//! Mail delivery: the SMTP and outbox transports, the invitation message, and the queue
//! worker's claims, retries and give-ups, against the minimal SMTP server at the end of this
//! file.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use mail_parser::{MessageParser, MimeHeaders};

use hub::mail::{
    invitation_mail, spawn_mail_worker, MailError, MailTransportConfig, Mailer, OutgoingMail, SmtpConfig, SmtpSecurity,
    WorkerSettings,
};
use hub::storage::mail_queue::{self, MailStatus, QueuedMail};
use hub::storage::Store;

use crate::helpers::{spawn_app_with_mail, Backend, TestApp};

const LINK: &str = "https://hub.example.com/register?token=tok_3f9a&org=acme";

fn expiry() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 18, 9, 30, 0).unwrap()
}

fn sample_invitation(to: &str) -> OutgoingMail {
    invitation_mail(to, "Acme & Sons", "Grace <Hopper>", LINK, expiry())
}

fn smtp_config(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".to_string(),
        port,
        username: None,
        password: None,
        security: SmtpSecurity::None,
        from: "Hub <hub@example.com>".to_string(),
        timeout: Duration::from_secs(5),
    }
}

fn smtp_mailer(port: u16) -> Arc<Mailer> {
    Arc::new(Mailer::new(MailTransportConfig::Smtp(smtp_config(port))).expect("cannot build the SMTP mailer"))
}

/// Worker settings with millisecond backoff, so retries happen within a test.
fn fast_settings(max_attempts: u32) -> WorkerSettings {
    WorkerSettings {
        poll_interval: Duration::from_millis(50),
        batch_size: 10,
        max_attempts,
        backoff_base: Duration::from_millis(20),
        backoff_max: Duration::from_millis(100),
        send_timeout: Duration::from_secs(10),
    }
}

fn parse(data: &[u8]) -> mail_parser::Message<'_> {
    MessageParser::default()
        .parse(data)
        .unwrap_or_else(|| panic!("not a parseable message:\n{}", String::from_utf8_lossy(data)))
}

/// Returns the content types of the message's leaf parts, such as `text/plain`.
fn leaf_content_types(message: &mail_parser::Message<'_>) -> Vec<String> {
    message
        .parts
        .iter()
        .filter(|part| !matches!(part.body, mail_parser::PartType::Multipart(_)))
        .map(|part| {
            let content_type = part.content_type().expect("a part has no Content-Type");
            format!("{}/{}", content_type.ctype(), content_type.subtype().unwrap_or_default())
        })
        .collect()
}

/// Checks a formatted invitation message: a multipart/alternative with one text and one HTML
/// part, both naming the organization and inviter, with the link and expiry.
fn assert_invitation_message(data: &[u8], expected_from: &str) {
    let message = parse(data);

    let subject = message.subject().expect("no Subject");
    assert!(subject.contains("Acme & Sons"), "subject lacks the organization: {subject}");
    assert!(subject.contains("Grace <Hopper>"), "subject lacks the inviter: {subject}");
    let from = message.from().and_then(|from| from.first()).and_then(|from| from.address());
    assert_eq!(from, Some(expected_from));
    let to = message.to().and_then(|to| to.first()).and_then(|to| to.address());
    assert_eq!(to, Some("ada@example.com"));
    assert!(message.date().is_some(), "no Date header");
    assert!(message.message_id().is_some(), "no Message-ID header");

    let root_type = message.content_type().expect("no Content-Type");
    assert_eq!(root_type.ctype(), "multipart");
    assert_eq!(root_type.subtype(), Some("alternative"));
    assert_eq!(leaf_content_types(&message), vec!["text/plain", "text/html"]);

    let text = message.body_text(0).expect("no text part");
    assert!(text.contains("Acme & Sons"), "text lacks the organization: {text}");
    assert!(text.contains("Grace <Hopper>"), "text lacks the inviter: {text}");
    assert!(text.contains(LINK), "text lacks the link: {text}");
    assert!(text.contains("Friday, 18 December 2026 at 09:30 UTC"), "text lacks the readable expiry: {text}");
    assert!(text.contains("2026-12-18T09:30:00.000Z"), "text lacks the RFC 3339 expiry: {text}");

    let html = message.body_html(0).expect("no HTML part");
    assert!(html.contains("Acme &amp; Sons"), "HTML lacks the escaped organization: {html}");
    assert!(html.contains("Grace &lt;Hopper&gt;"), "HTML lacks the escaped inviter: {html}");
    assert!(!html.contains("<Hopper>"), "HTML contains the unescaped inviter: {html}");
    let escaped_link = LINK.replace('&', "&amp;");
    assert!(html.contains(&format!("href=\"{escaped_link}\"")), "HTML lacks the link: {html}");
    assert!(html.contains("Friday, 18 December 2026 at 09:30 UTC"), "HTML lacks the readable expiry: {html}");
    assert!(html.contains("2026-12-18T09:30:00.000Z"), "HTML lacks the RFC 3339 expiry: {html}");
}

/// Returns the `.eml` files and any other files of an outbox folder.
fn outbox_files(dir: &std::path::Path) -> (Vec<std::path::PathBuf>, Vec<std::path::PathBuf>) {
    let mut eml = Vec::new();
    let mut other = Vec::new();
    for entry in std::fs::read_dir(dir).expect("cannot list the outbox") {
        let path = entry.expect("cannot read an outbox entry").path();
        if path.extension().is_some_and(|extension| extension == "eml") {
            eml.push(path);
        } else {
            other.push(path);
        }
    }
    (eml, other)
}

#[tokio::test]
async fn invitation_over_smtp_has_both_parts() {
    let sink = SmtpSink::start(0).await;
    let mailer = smtp_mailer(sink.port);

    mailer
        .send(&sample_invitation("Ada Lovelace <ada@example.com>"))
        .await
        .expect("sending over SMTP failed");

    let received = sink.wait_for_messages(1).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].mail_from, "<hub@example.com>");
    assert_eq!(received[0].recipients, vec!["<ada@example.com>".to_string()]);
    assert_invitation_message(&received[0].data, "hub@example.com");
}

#[tokio::test]
async fn outbox_writes_parseable_eml() {
    let dir = tempfile::tempdir().expect("cannot create a temp folder");
    let outbox = dir.path().join("outbox");
    let mailer = Mailer::new(MailTransportConfig::outbox(&outbox)).expect("cannot build the outbox mailer");

    mailer
        .send_with_id("mail-0001", &sample_invitation("Ada Lovelace <ada@example.com>"))
        .await
        .expect("writing to the outbox failed");

    let (eml, other) = outbox_files(&outbox);
    assert!(other.is_empty(), "temporary files left in the outbox: {other:?}");
    assert_eq!(eml.len(), 1, "expected one .eml file: {eml:?}");
    let file_name = eml[0].file_name().unwrap().to_string_lossy().to_string();
    assert!(file_name.ends_with("-mail-0001.eml"), "file name lacks the mail id: {file_name}");
    let timestamp = file_name.trim_end_matches("-mail-0001.eml");
    assert!(
        chrono::NaiveDateTime::parse_from_str(timestamp, "%Y%m%dT%H%M%S%.3fZ").is_ok(),
        "file name does not start with a timestamp: {file_name}"
    );

    let data = std::fs::read(&eml[0]).expect("cannot read the .eml file");
    assert_invitation_message(&data, "hub@localhost");
    assert_eq!(parse(&data).message_id(), Some("mail-0001@localhost"));
}

#[tokio::test]
async fn outbox_uses_configured_from() {
    let dir = tempfile::tempdir().expect("cannot create a temp folder");
    let config = MailTransportConfig::Outbox {
        dir: dir.path().to_path_buf(),
        from: "Acme Hub <hub@acme.example>".to_string(),
    };
    let mailer = Mailer::new(config).expect("cannot build the outbox mailer");

    mailer.send(&sample_invitation("ada@example.com")).await.expect("writing to the outbox failed");

    let (eml, _) = outbox_files(dir.path());
    assert_eq!(eml.len(), 1, "expected one .eml file: {eml:?}");
    let data = std::fs::read(&eml[0]).expect("cannot read the .eml file");
    let message = parse(&data);
    let from = message.from().and_then(|from| from.first()).expect("no From");
    assert_eq!(from.address(), Some("hub@acme.example"));
    assert_eq!(from.name(), Some("Acme Hub"));
}

#[tokio::test]
async fn subject_line_break_adds_no_header() {
    let dir = tempfile::tempdir().expect("cannot create a temp folder");
    let mailer = Mailer::new(MailTransportConfig::outbox(dir.path())).expect("cannot build the outbox mailer");
    let mail = OutgoingMail {
        to: "ada@example.com".to_string(),
        subject: "Hello\r\nBcc: mallory@example.com".to_string(),
        text: "text".to_string(),
        html: "<p>html</p>".to_string(),
    };

    mailer.send(&mail).await.expect("writing to the outbox failed");

    let (eml, _) = outbox_files(dir.path());
    let data = std::fs::read(&eml[0]).expect("cannot read the .eml file");
    let message = parse(&data);
    assert!(message.header("Bcc").is_none(), "the subject injected a header:\n{}", String::from_utf8_lossy(&data));
}

#[tokio::test]
async fn invitation_names_are_single_line() {
    let mail = invitation_mail("ada@example.com", "Acme\r\nBcc: x@example.com", "Grace\nHopper", LINK, expiry());

    assert!(!mail.subject.contains('\r'), "subject has CR: {:?}", mail.subject);
    assert!(!mail.subject.contains('\n'), "subject has LF: {:?}", mail.subject);
    assert!(mail.subject.contains("Grace Hopper"), "subject: {:?}", mail.subject);
}

#[tokio::test]
async fn mail_id_must_be_file_name_safe() {
    let dir = tempfile::tempdir().expect("cannot create a temp folder");
    let mailer = Mailer::new(MailTransportConfig::outbox(dir.path())).expect("cannot build the outbox mailer");

    for id in ["", "../escape", "a/b", "id with space", &"x".repeat(65)] {
        let error = mailer
            .send_with_id(id, &sample_invitation("ada@example.com"))
            .await
            .expect_err(&format!("mail id {id:?} was accepted"));
        assert!(matches!(error, MailError::InvalidMailId(_)), "mail id {id:?}: unexpected error {error}");
        assert!(error.is_permanent(), "mail id {id:?}: error is not permanent");
    }
    let (eml, other) = outbox_files(dir.path());
    assert!(eml.is_empty(), "files written for invalid ids: {eml:?}");
    assert!(other.is_empty(), "files written for invalid ids: {other:?}");
}

#[tokio::test]
async fn smtp_tls_never_falls_back_to_plain() {
    let sink = SmtpSink::start(0).await;

    for security in [SmtpSecurity::StartTls, SmtpSecurity::Tls] {
        let config = SmtpConfig {
            security,
            timeout: Duration::from_secs(2),
            ..smtp_config(sink.port)
        };
        let mailer = Mailer::new(MailTransportConfig::Smtp(config)).expect("cannot build the SMTP mailer");

        let error = mailer
            .send(&sample_invitation("ada@example.com"))
            .await
            .expect_err(&format!("{security:?}: sending to a plain-text server succeeded"));
        assert!(matches!(error, MailError::Smtp(_)), "{security:?}: unexpected error {error}");
        assert!(!error.is_permanent(), "{security:?}: a transport error counts as permanent");
    }
    assert!(sink.messages().is_empty(), "a message was sent without TLS");
}

#[tokio::test]
async fn smtp_debug_hides_password() {
    let config = SmtpConfig {
        username: Some("hub".to_string()),
        password: Some("s3cret-smtp-password".to_string()),
        ..smtp_config(2525)
    };

    let debug = format!("{:?}", MailTransportConfig::Smtp(config.clone()));
    assert!(!debug.contains("s3cret-smtp-password"), "password in Debug output: {debug}");
    assert!(debug.contains("username: Some(\"hub\")"), "username missing from Debug output: {debug}");
    let mailer = Mailer::new(MailTransportConfig::Smtp(config)).expect("cannot build the SMTP mailer");
    let debug = format!("{mailer:?}");
    assert!(!debug.contains("s3cret-smtp-password"), "password in Mailer Debug output: {debug}");
}

#[tokio::test]
async fn smtp_username_requires_password() {
    let config = SmtpConfig {
        username: Some("hub".to_string()),
        ..smtp_config(2525)
    };

    let error = Mailer::new(MailTransportConfig::Smtp(config)).expect_err("a username without a password was accepted");
    assert!(matches!(error, MailError::InvalidConfig(_)), "unexpected error: {error}");
}

#[tokio::test]
async fn invalid_from_address_rejected() {
    let config = SmtpConfig {
        from: "not an address".to_string(),
        ..smtp_config(2525)
    };

    let error = Mailer::new(MailTransportConfig::Smtp(config)).expect_err("an invalid From address was accepted");
    assert!(matches!(error, MailError::InvalidAddress { .. }), "unexpected error: {error}");
}

// Queue and worker tests, on SQLite and PostgreSQL.

/// Queues a sample invitation in the bootstrap organization and returns the mail id.
async fn queue_invitation(app: &TestApp, invitation_id: &str, to: &str) -> String {
    let (org_id, _) = app.bootstrap_identity().await;
    mail_queue::enqueue(&mut app.store.db(), &org_id, Some(invitation_id), &sample_invitation(to), hub::clock::now())
        .await
        .expect("cannot queue a mail")
}

/// Polls the queue until the mail satisfies `condition`, and panics after 20 seconds.
async fn wait_for_mail(store: &Store, id: &str, description: &str, condition: impl Fn(&QueuedMail) -> bool) -> QueuedMail {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mail = mail_queue::find(&mut store.db(), id)
            .await
            .expect("cannot read the mail queue")
            .expect("the queued mail is missing");
        if condition(&mail) {
            return mail;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {description}; mail: {mail:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Returns a loopback port that nothing listens on, for now.
fn unused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("cannot bind a loopback port");
    listener.local_addr().expect("no local address").port()
}

async fn queued_mail_retried_until_server_listens(app: TestApp) {
    let port = unused_port();
    let worker = spawn_mail_worker(app.store.clone(), smtp_mailer(port), fast_settings(1000));
    let invitation_id = uuid::Uuid::new_v4().to_string();
    let id = queue_invitation(&app, &invitation_id, "ada@example.com").await;
    worker.notify();

    let failing = wait_for_mail(&app.store, &id, "two attempts failed", |mail| {
        mail.attempts >= 2 && mail.last_error.is_some()
    })
    .await;
    assert_eq!(failing.status, MailStatus::Pending);
    assert!(failing.sent_at.is_none(), "sent_at set before delivery: {failing:?}");

    let sink = SmtpSink::start(port).await;
    let sent = wait_for_mail(&app.store, &id, "the mail was sent", |mail| mail.status == MailStatus::Sent).await;
    worker.shutdown().await;

    assert!(sent.attempts > 1, "expected several attempts: {sent:?}");
    assert!(sent.sent_at.is_some(), "sent_at missing: {sent:?}");
    assert!(sent.last_error.is_some(), "the last error of the failed attempts is missing: {sent:?}");
    assert_eq!(sent.text_body, "", "text body kept after sending");
    assert_eq!(sent.html_body, "", "HTML body kept after sending");
    let latest = mail_queue::latest_for_invitation(&mut app.store.db(), &invitation_id)
        .await
        .expect("cannot read the mail queue")
        .expect("no mail for the invitation");
    assert_eq!(latest.id, id);
    assert_eq!(latest.status, MailStatus::Sent);

    let received = sink.messages();
    assert_eq!(received.len(), 1, "expected exactly one delivery");
    assert_invitation_message(&received[0].data, "hub@example.com");
    let message_id = parse(&received[0].data).message_id().map(str::to_string);
    assert_eq!(message_id, Some(format!("{id}@example.com")));
}

async fn mail_failing_on_every_attempt_ends_failed(app: TestApp) {
    let worker = spawn_mail_worker(app.store.clone(), smtp_mailer(unused_port()), fast_settings(3));
    let invitation_id = uuid::Uuid::new_v4().to_string();
    let id = queue_invitation(&app, &invitation_id, "ada@example.com").await;
    worker.notify();

    let failed = wait_for_mail(&app.store, &id, "the mail failed", |mail| mail.status == MailStatus::Failed).await;
    worker.shutdown().await;

    assert_eq!(failed.attempts, 3);
    assert!(failed.sent_at.is_none(), "sent_at set for a failed mail: {failed:?}");
    let last_error = failed.last_error.as_deref().unwrap_or_default();
    assert!(last_error.contains("SMTP delivery failed"), "unexpected last error: {last_error}");
    assert_eq!(failed.text_body, "", "text body kept after giving up");
    assert_eq!(failed.html_body, "", "HTML body kept after giving up");
}

async fn invalid_recipient_fails_at_once(app: TestApp) {
    let sink = SmtpSink::start(0).await;
    let worker = spawn_mail_worker(app.store.clone(), smtp_mailer(sink.port), fast_settings(5));
    let id = queue_invitation(&app, "invitation-1", "not an address").await;
    worker.notify();

    let failed = wait_for_mail(&app.store, &id, "the mail failed", |mail| mail.status == MailStatus::Failed).await;
    worker.shutdown().await;

    assert_eq!(failed.attempts, 1, "an invalid message was retried: {failed:?}");
    let last_error = failed.last_error.as_deref().unwrap_or_default();
    assert!(last_error.contains("invalid e-mail address"), "unexpected last error: {last_error}");
    assert!(sink.messages().is_empty(), "a message was delivered");
}

async fn two_workers_send_each_mail_once(app: TestApp) {
    let sink = SmtpSink::start(0).await;
    let mut ids = Vec::new();
    for index in 0..8 {
        ids.push(queue_invitation(&app, &format!("invitation-{index}"), &format!("user{index}@example.com")).await);
    }

    let first = spawn_mail_worker(app.store.clone(), smtp_mailer(sink.port), fast_settings(5));
    let second = spawn_mail_worker(app.store.clone(), smtp_mailer(sink.port), fast_settings(5));
    first.notify();
    second.notifier().notify();
    for id in &ids {
        let sent = wait_for_mail(&app.store, id, "the mail was sent", |mail| mail.status == MailStatus::Sent).await;
        assert_eq!(sent.attempts, 1, "mail {id} was attempted more than once");
    }
    first.shutdown().await;
    second.shutdown().await;

    let received = sink.messages();
    assert_eq!(received.len(), ids.len(), "expected one delivery per mail");
    let mut message_ids: Vec<String> = received
        .iter()
        .map(|message| parse(&message.data).message_id().expect("no Message-ID").to_string())
        .collect();
    message_ids.sort();
    let mut expected: Vec<String> = ids.iter().map(|id| format!("{id}@example.com")).collect();
    expected.sort();
    assert_eq!(message_ids, expected);
}

async fn worker_sends_mail_queued_before_start(app: TestApp) {
    let sink = SmtpSink::start(0).await;
    let id = queue_invitation(&app, "invitation-early", "ada@example.com").await;

    let worker = spawn_mail_worker(app.store.clone(), smtp_mailer(sink.port), WorkerSettings::default());
    let sent = wait_for_mail(&app.store, &id, "the mail was sent", |mail| mail.status == MailStatus::Sent).await;
    worker.shutdown().await;

    assert_eq!(sent.attempts, 1);
    assert!(sent.last_error.is_none(), "unexpected error: {sent:?}");
    assert_eq!(sink.messages().len(), 1);
}

async fn shutdown_finishes_mail_in_progress(app: TestApp) {
    let sink = SmtpSink::start_with_data_delay(0, Duration::from_millis(500)).await;
    let worker = spawn_mail_worker(app.store.clone(), smtp_mailer(sink.port), fast_settings(5));
    let id = queue_invitation(&app, "invitation-slow", "ada@example.com").await;
    worker.notify();

    // The sink stores the message before its delayed reply, so the send is still in progress.
    let received = sink.wait_for_messages(1).await;
    assert_eq!(received.len(), 1, "the send did not start");
    worker.shutdown().await;

    let mail = mail_queue::find(&mut app.store.db(), &id)
        .await
        .expect("cannot read the mail queue")
        .expect("the queued mail is missing");
    assert_eq!(mail.status, MailStatus::Sent, "shutdown returned before recording the send: {mail:?}");
    assert_eq!(mail.attempts, 1);
}

/// Defines a SQLite and a PostgreSQL test for each function, on a server that runs no mail
/// worker of its own, so the workers a test starts are the only ones reading the queue.
macro_rules! backends_without_mail_worker {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = crate::helpers::spawn_app_with_mail(crate::helpers::Backend::Sqlite, None, None).await.unwrap();
                    super::$name(app).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(app) = crate::helpers::spawn_app_with_mail(crate::helpers::Backend::Postgres, None, None).await else { return };
                    super::$name(app).await;
                }
            )*
        }
    };
}

backends_without_mail_worker!(
    queued_mail_retried_until_server_listens,
    shutdown_finishes_mail_in_progress,
    mail_failing_on_every_attempt_ends_failed,
    invalid_recipient_fails_at_once,
    two_workers_send_each_mail_once,
    worker_sends_mail_queued_before_start,
);

async fn invitation_delivered_over_smtp_after_outage(backend: Backend) {
    let port = unused_port();
    let mail = hub::mail::MailTransportConfig::Smtp(smtp_config(port));
    let Some(app) = spawn_app_with_mail(backend, Some(mail), Some(fast_settings(1000))).await else { return };
    let (_, admin) = app.signed_in_user("admin@example.com", "Admin").await;

    let body = serde_json::json!({"email": "ada@example.com", "displayName": "Ada", "role": "Member"});
    let (status, created) = app.admin_json(reqwest::Method::POST, "/invitations", &admin, Some(body)).await;
    assert_eq!(status, 201, "body: {created}");
    let user_id = created["user"]["id"].as_str().unwrap().to_string();
    let path = format!("/users/{user_id}/invitation");
    let mut pending = serde_json::Value::Null;
    for _ in 0..100 {
        let (_, state) = app.admin_json(reqwest::Method::GET, &path, &admin, None).await;
        if state["delivery"]["attempts"].as_i64().unwrap_or(0) >= 2 {
            pending = state;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(pending["delivery"]["status"], serde_json::json!("pending"), "state: {pending}");
    assert!(pending["delivery"]["lastError"].is_string(), "state: {pending}");

    let sink = SmtpSink::start(port).await;
    let received = sink.wait_for_messages(2).await;
    let to_ada: Vec<&ReceivedMessage> = received.iter().filter(|message| message.recipients.iter().any(|to| to.contains("ada@example.com"))).collect();
    // The worker records the delivery after the SMTP server has the message, so poll for it.
    let mut delivered = serde_json::Value::Null;
    for _ in 0..50 {
        (_, delivered) = app.admin_json(reqwest::Method::GET, &path, &admin, None).await;
        if delivered["delivery"]["status"] == "sent" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert_eq!(to_ada.len(), 1, "received: {received:?}");
    let text = String::from_utf8_lossy(&to_ada[0].data).to_string();
    assert!(text.contains("/register?token="), "no registration link: {text}");
    assert_eq!(delivered["delivery"]["status"], serde_json::json!("sent"), "state: {delivered}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitation_delivered_over_smtp_after_outage_sqlite() {
    invitation_delivered_over_smtp_after_outage(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitation_delivered_over_smtp_after_outage_postgres() {
    invitation_delivered_over_smtp_after_outage(Backend::Postgres).await;
}

// A minimal SMTP server that accepts every message and keeps it in memory.

/// A message received by [`SmtpSink`]: the envelope and the DATA bytes without dot-stuffing.
#[derive(Debug, Clone)]
struct ReceivedMessage {
    mail_from: String,
    recipients: Vec<String>,
    data: Vec<u8>,
}

/// An SMTP server on 127.0.0.1 speaking just enough SMTP for lettre: EHLO or HELO, MAIL FROM,
/// RCPT TO, DATA, RSET, NOOP and QUIT. Dropping it stops the server and its sessions.
struct SmtpSink {
    port: u16,
    messages: Arc<Mutex<Vec<ReceivedMessage>>>,
    task: tokio::task::JoinHandle<()>,
}

/// Maximum length of one command or DATA line, in bytes.
const SMTP_MAX_LINE: u64 = 64 * 1024;
/// Maximum number of commands in one session.
const SMTP_MAX_COMMANDS: usize = 1000;
const SMTP_MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;

impl SmtpSink {
    /// Starts the server on `port`, or on a free port for 0.
    async fn start(port: u16) -> SmtpSink {
        SmtpSink::start_with_data_delay(port, Duration::ZERO).await
    }

    /// Starts the server, which waits `data_delay` after storing each message before it replies
    /// to the end of DATA.
    async fn start_with_data_delay(port: u16, data_delay: Duration) -> SmtpSink {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap_or_else(|error| panic!("cannot listen on 127.0.0.1:{port}: {error}"));
        let port = listener.local_addr().expect("no local address").port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let task_messages = messages.clone();
        let task = tokio::spawn(async move {
            // Owned by this task, so aborting the task also aborts the sessions.
            let mut sessions = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                sessions.spawn(serve_smtp_session(stream, task_messages.clone(), data_delay));
                while sessions.try_join_next().is_some() {}
            }
        });
        SmtpSink { port, messages, task }
    }

    fn messages(&self) -> Vec<ReceivedMessage> {
        self.messages.lock().unwrap().clone()
    }

    /// Waits up to 10 seconds for `count` messages and returns the messages received.
    async fn wait_for_messages(&self, count: usize) -> Vec<ReceivedMessage> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.messages.lock().unwrap().len() < count && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.messages()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_smtp_session(
    stream: tokio::net::TcpStream,
    messages: Arc<Mutex<Vec<ReceivedMessage>>>,
    data_delay: Duration,
) -> std::io::Result<()> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    writer.write_all(b"220 127.0.0.1 test SMTP sink ready\r\n").await?;
    let mut mail_from = String::new();
    let mut recipients = Vec::new();
    let mut line = Vec::new();

    for _ in 0..SMTP_MAX_COMMANDS {
        line.clear();
        if (&mut reader).take(SMTP_MAX_LINE).read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let command = String::from_utf8_lossy(&line).trim_end().to_string();
        let verb = command.split(' ').next().unwrap_or_default().to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-127.0.0.1 greets you\r\n250 8BITMIME\r\n",
            "HELO" | "NOOP" => b"250 OK\r\n",
            "MAIL" => {
                mail_from = smtp_argument(&command, "MAIL FROM:");
                recipients.clear();
                b"250 OK\r\n"
            }
            "RCPT" => {
                recipients.push(smtp_argument(&command, "RCPT TO:"));
                b"250 OK\r\n"
            }
            "RSET" => {
                mail_from.clear();
                recipients.clear();
                b"250 OK\r\n"
            }
            "DATA" => {
                writer.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                let data = read_smtp_data(&mut reader).await?;
                messages.lock().unwrap().push(ReceivedMessage {
                    mail_from: mail_from.clone(),
                    recipients: std::mem::take(&mut recipients),
                    data,
                });
                tokio::time::sleep(data_delay).await;
                b"250 OK queued\r\n"
            }
            "QUIT" => {
                writer.write_all(b"221 Bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 Command not implemented\r\n",
        };
        writer.write_all(reply).await?;
    }
    Ok(())
}

/// Returns the text after a command's prefix, such as `<a@example.com>` from
/// `MAIL FROM:<a@example.com>`, without parameters such as `BODY=8BITMIME`.
fn smtp_argument(command: &str, prefix: &str) -> String {
    let argument = command.get(prefix.len()..).unwrap_or_default().trim_start();
    argument.split(' ').next().unwrap_or_default().to_string()
}

/// Reads DATA lines up to the lone "." and removes the dot-stuffing (RFC 5321, section 4.5.2).
async fn read_smtp_data(reader: &mut tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>) -> std::io::Result<Vec<u8>> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};

    let mut data = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if (&mut *reader).take(SMTP_MAX_LINE).read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed during DATA"));
        }
        if line == b".\r\n" {
            return Ok(data);
        }
        let unstuffed = if line.starts_with(b"..") { &line[1..] } else { &line[..] };
        data.extend_from_slice(unstuffed);
        if data.len() > SMTP_MAX_MESSAGE_BYTES {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "message too large"));
        }
    }
}
