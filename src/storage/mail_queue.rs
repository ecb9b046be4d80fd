//! The durable queue of outgoing mail.
//!
//! A mail is queued as `pending` and due at once. A worker claims a due mail with [`claim`],
//! sends it, and then records the outcome: [`mark_sent`], [`mark_retry`] with the time of the
//! next attempt, or [`mark_failed`] when it gives up. Sent and failed mails keep their row, with
//! the bodies cleared, so the delivery state stays visible.

use chrono::{DateTime, Utc};
use super::sql::{query, Db, Row};

use super::{parse_time, StorageError, StorageResult};
use crate::clock;
use crate::mail::OutgoingMail;

/// The maximum length in characters of a stored `last_error`. Longer messages are cut.
pub const MAX_ERROR_CHARS: usize = 2000;

/// The delivery state of a queued mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailStatus {
    /// Waiting for its first or next attempt.
    Pending,
    Sent,
    /// Given up after the maximum number of attempts, or because the message is invalid.
    Failed,
}

impl MailStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MailStatus::Pending => "pending",
            MailStatus::Sent => "sent",
            MailStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<MailStatus> {
        match text {
            "pending" => Some(MailStatus::Pending),
            "sent" => Some(MailStatus::Sent),
            "failed" => Some(MailStatus::Failed),
            _ => None,
        }
    }
}

/// A row of the mail queue.
#[derive(Debug, Clone)]
pub struct QueuedMail {
    pub id: String,
    pub org_id: String,
    pub invitation_id: Option<String>,
    pub recipient: String,
    pub subject: String,
    /// Empty once the mail is sent or failed.
    pub text_body: String,
    /// Empty once the mail is sent or failed.
    pub html_body: String,
    pub status: MailStatus,
    /// Delivery attempts started so far.
    pub attempts: i64,
    /// The time a pending mail is due, or while a worker sends it, the end of that worker's lease.
    pub next_attempt_at: DateTime<Utc>,
    /// The error of the latest failed attempt, kept after a later attempt succeeds.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl QueuedMail {
    /// Returns the message to send.
    pub fn to_outgoing(&self) -> OutgoingMail {
        OutgoingMail {
            to: self.recipient.clone(),
            subject: self.subject.clone(),
            text: self.text_body.clone(),
            html: self.html_body.clone(),
        }
    }
}

const COLUMNS: &str = "id, org_id, invitation_id, recipient, subject, text_body, html_body, status, attempts, \
                       next_attempt_at, last_error, created_at, sent_at";

fn from_row(row: &Row) -> StorageResult<QueuedMail> {
    let status: String = row.try_get("status")?;
    let next_attempt_at: String = row.try_get("next_attempt_at")?;
    let created_at: String = row.try_get("created_at")?;
    let sent_at: Option<String> = row.try_get("sent_at")?;
    Ok(QueuedMail {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        invitation_id: row.try_get("invitation_id")?,
        recipient: row.try_get("recipient")?,
        subject: row.try_get("subject")?,
        text_body: row.try_get("text_body")?,
        html_body: row.try_get("html_body")?,
        status: MailStatus::parse(&status)
            .ok_or_else(|| StorageError::Corrupt(format!("column mail_queue.status: unknown status {status:?}")))?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: parse_time(&next_attempt_at, "mail_queue.next_attempt_at")?,
        last_error: row.try_get("last_error")?,
        created_at: parse_time(&created_at, "mail_queue.created_at")?,
        sent_at: sent_at.as_deref().map(|text| parse_time(text, "mail_queue.sent_at")).transpose()?,
    })
}

/// Queues a mail, due at `now`, and returns its id. Run it in the transaction of the change that
/// causes the mail, so both are stored or neither.
pub async fn enqueue(db: &mut Db<'_>,
    org_id: &str,
    invitation_id: Option<&str>,
    mail: &OutgoingMail,
    now: DateTime<Utc>,
) -> StorageResult<String> {
    let id = uuid::Uuid::now_v7().to_string();
    let now = clock::format(now);
    query(
        "INSERT INTO mail_queue (id, org_id, invitation_id, recipient, subject, text_body, html_body, status, attempts, \
         next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $9)",
    )
    .bind(&id)
    .bind(org_id)
    .bind(invitation_id)
    .bind(&mail.to)
    .bind(&mail.subject)
    .bind(&mail.text)
    .bind(&mail.html)
    .bind(&now)
    .bind(&now)
    .execute(db)
    .await?;
    Ok(id)
}

/// Returns up to `limit` pending mails due at `now`, the longest waiting first.
pub async fn due(db: &mut Db<'_>, now: DateTime<Utc>, limit: i64) -> StorageResult<Vec<QueuedMail>> {
    let rows = query(&format!(
        "SELECT {COLUMNS} FROM mail_queue WHERE status = 'pending' AND next_attempt_at <= $1 \
         ORDER BY next_attempt_at, id LIMIT $2"
    ))
    .bind(clock::format(now))
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Claims a mail read by [`due`] for one attempt: counts the attempt and moves the mail's due
/// time to `lease_until`, so other workers skip it meanwhile. Returns false, changing nothing,
/// when another worker claimed or finished the mail since it was read.
pub async fn claim(db: &mut Db<'_>,
    mail: &QueuedMail,
    lease_until: DateTime<Utc>,
) -> StorageResult<bool> {
    let result = query(
        "UPDATE mail_queue SET attempts = attempts + 1, next_attempt_at = $1 \
         WHERE id = $2 AND status = 'pending' AND attempts = $3 AND next_attempt_at = $4",
    )
    .bind(clock::format(lease_until))
    .bind(&mail.id)
    .bind(mail.attempts)
    .bind(clock::format(mail.next_attempt_at))
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Marks a mail sent and clears its bodies.
pub async fn mark_sent(db: &mut Db<'_>, id: &str, now: DateTime<Utc>) -> StorageResult<()> {
    query("UPDATE mail_queue SET status = 'sent', sent_at = $1, text_body = '', html_body = '' WHERE id = $2")
        .bind(clock::format(now))
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Records a failed attempt of a pending mail and makes it due again at `next_attempt_at`.
pub async fn mark_retry(db: &mut Db<'_>,
    id: &str,
    error: &str,
    next_attempt_at: DateTime<Utc>,
) -> StorageResult<()> {
    query("UPDATE mail_queue SET last_error = $1, next_attempt_at = $2 WHERE id = $3 AND status = 'pending'")
        .bind(truncate_error(error))
        .bind(clock::format(next_attempt_at))
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Gives a mail up with the error of its last attempt, and clears its bodies.
pub async fn mark_failed(db: &mut Db<'_>, id: &str, error: &str) -> StorageResult<()> {
    query("UPDATE mail_queue SET status = 'failed', last_error = $1, text_body = '', html_body = '' WHERE id = $2")
        .bind(truncate_error(error))
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Returns the most recently queued mail of an invitation, for showing its delivery state.
pub async fn latest_for_invitation(db: &mut Db<'_>,
    invitation_id: &str,
) -> StorageResult<Option<QueuedMail>> {
    let row = query(&format!(
        "SELECT {COLUMNS} FROM mail_queue WHERE invitation_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1"
    ))
    .bind(invitation_id)
    .fetch_optional(db)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Returns a mail by id.
pub async fn find(db: &mut Db<'_>, id: &str) -> StorageResult<Option<QueuedMail>> {
    let row = query(&format!("SELECT {COLUMNS} FROM mail_queue WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?;
    row.as_ref().map(from_row).transpose()
}

fn truncate_error(error: &str) -> &str {
    match error.char_indices().nth(MAX_ERROR_CHARS) {
        Some((end, _)) => &error[..end],
        None => error,
    }
}
