//! The background task that sends queued mail.
//!
//! The worker polls the queue, and wakes early when [`MailNotifier::notify`] is called after a
//! mail is queued. It sends due mails one at a time. A failed attempt is retried with
//! exponential backoff until [`WorkerSettings::max_attempts`], and then the mail is marked
//! `failed`.
//!
//! Several server instances may run a worker on one database. Before sending, a worker claims
//! the mail with [`mail_queue::claim`], which succeeds for one worker only, and the claim
//! holds for a lease of twice [`WorkerSettings::send_timeout`]. When a worker stops during a
//! send, another attempt starts after the lease, so a crash can send a mail twice but does not
//! lose it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use super::Mailer;
use crate::clock;
use crate::storage::mail_queue::{self, QueuedMail};
use crate::storage::{StorageResult, Store};

/// Timing and retry settings of the mail worker.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Time between two reads of the queue when nothing calls [`MailNotifier::notify`].
    pub poll_interval: Duration,
    /// Maximum number of due mails read from the queue at once.
    pub batch_size: u32,
    /// Attempts after which a mail is marked `failed`. A value of 0 counts as 1.
    pub max_attempts: u32,
    /// Delay before the second attempt. Each later delay doubles, up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Time limit of one send, after which the attempt counts as failed.
    pub send_timeout: Duration,
}

impl Default for WorkerSettings {
    /// Polls every second, and retries after 2 s, 4 s, 8 s and so on up to 10 minutes. The mail
    /// is given up after 20 attempts, when the delays between them add up to 1 hour 57 minutes.
    fn default() -> Self {
        WorkerSettings {
            poll_interval: Duration::from_secs(1),
            batch_size: 50,
            max_attempts: 20,
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(600),
            send_timeout: Duration::from_secs(120),
        }
    }
}

impl WorkerSettings {
    /// Returns the delay after failed attempt number `attempt` (1 for the first attempt):
    /// `backoff_base * 2^(attempt - 1)`, at most `backoff_max`.
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(31);
        self.backoff_base
            .checked_mul(1u32 << exponent)
            .map_or(self.backoff_max, |delay| delay.min(self.backoff_max))
    }

    fn claim_lease(&self) -> Duration {
        self.send_timeout.saturating_mul(2)
    }
}

/// A cloneable handle that wakes the mail worker, for request handlers that queue mail.
#[derive(Debug, Clone)]
pub struct MailNotifier(Arc<Notify>);

impl MailNotifier {
    /// Wakes the worker to read the queue now. Call it after the transaction that queued the
    /// mail commits. A call while the worker is busy makes it read the queue again right after.
    pub fn notify(&self) {
        self.0.notify_one();
    }
}

/// The running mail worker. Dropping it stops the worker after the mail in progress without
/// waiting for that, while [`MailWorker::shutdown`] waits.
#[derive(Debug)]
pub struct MailWorker {
    notifier: MailNotifier,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl MailWorker {
    /// Wakes the worker to read the queue now.
    pub fn notify(&self) {
        self.notifier.notify();
    }

    /// Returns a handle that wakes the worker, to keep in request handler state.
    pub fn notifier(&self) -> MailNotifier {
        self.notifier.clone()
    }

    /// Stops the worker and waits until the mail in progress, if any, is sent and recorded.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            tracing::error!(%error, "mail worker task failed");
        }
    }
}

/// Starts the mail worker on the current Tokio runtime.
pub fn spawn_mail_worker(store: Store, mailer: Arc<Mailer>, settings: WorkerSettings) -> MailWorker {
    let notify = Arc::new(Notify::new());
    let (stop, stop_receiver) = watch::channel(false);
    let worker = Worker {
        store,
        mailer,
        settings,
        notify: notify.clone(),
        stop: stop_receiver,
    };
    let task = tokio::spawn(worker.run());
    MailWorker {
        notifier: MailNotifier(notify),
        stop,
        task,
    }
}

/// Maximum number of full batches sent in one wake-up before the worker waits again, so a
/// queue that refills as fast as it drains cannot keep the loop from checking for shutdown.
const MAX_BATCHES_PER_WAKE_UP: u32 = 20;

/// Consecutive failures to read the queue between two error logs, after the first one.
const QUEUE_ERROR_LOG_EVERY: u64 = 60;

struct Worker {
    store: Store,
    mailer: Arc<Mailer>,
    settings: WorkerSettings,
    notify: Arc<Notify>,
    stop: watch::Receiver<bool>,
}

impl Worker {
    async fn run(mut self) {
        tracing::info!(mailer = ?self.mailer, "mail worker started");
        let mut queue_failures: u64 = 0;
        loop {
            match self.send_due().await {
                Ok(()) => {
                    if queue_failures > 0 {
                        tracing::info!(failures = queue_failures, "mail queue queries succeed again");
                    }
                    queue_failures = 0;
                }
                Err(error) => {
                    queue_failures += 1;
                    if queue_failures == 1 || queue_failures.is_multiple_of(QUEUE_ERROR_LOG_EVERY) {
                        tracing::error!(%error, consecutive_failures = queue_failures, "mail queue query failed");
                    }
                }
            }
            if self.stop_requested() {
                break;
            }
            tokio::select! {
                changed = self.stop.changed() => {
                    // An error means the MailWorker handle was dropped.
                    if changed.is_err() || *self.stop.borrow() {
                        break;
                    }
                }
                () = self.notify.notified() => {}
                () = tokio::time::sleep(self.settings.poll_interval) => {}
            }
        }
        tracing::info!("mail worker stopped");
    }

    fn stop_requested(&self) -> bool {
        // A closed channel means the MailWorker handle was dropped.
        *self.stop.borrow() || self.stop.has_changed().is_err()
    }

    /// Sends the due mails, batch by batch, until none is due or a stop is requested.
    async fn send_due(&self) -> StorageResult<()> {
        let batch_size = self.settings.batch_size.max(1);
        for _ in 0..MAX_BATCHES_PER_WAKE_UP {
            let batch = mail_queue::due(&mut self.store.db(), clock::now(), i64::from(batch_size)).await?;
            let batch_len = batch.len();
            for mail in batch {
                if self.stop_requested() {
                    return Ok(());
                }
                self.attempt(mail).await?;
            }
            if batch_len < batch_size as usize {
                break;
            }
        }
        Ok(())
    }

    /// Claims one mail, sends it and records the outcome. Returns an error only when the claim
    /// fails. Failures to record the outcome are logged instead, because the mail was already tried.
    async fn attempt(&self, mail: QueuedMail) -> StorageResult<()> {
        let lease_until = add(clock::now(), self.settings.claim_lease());
        if !self.claim(&mail, lease_until).await? {
            tracing::debug!(mail_id = %mail.id, "mail claimed by another worker");
            return Ok(());
        }
        let attempt = u32::try_from(mail.attempts + 1).unwrap_or(u32::MAX);

        let sent = tokio::time::timeout(self.settings.send_timeout, self.mailer.send_with_id(&mail.id, &mail.to_outgoing())).await;
        let (error, permanent) = match sent {
            Ok(Ok(())) => {
                tracing::info!(mail_id = %mail.id, org_id = %mail.org_id, attempt, "mail sent");
                if let Err(error) = self.record(&mail.id, Outcome::Sent).await {
                    // The mail is sent again when the lease ends, so the recipient gets it twice.
                    tracing::error!(mail_id = %mail.id, %error, "recording a sent mail failed");
                }
                return Ok(());
            }
            Ok(Err(error)) => {
                let permanent = error.is_permanent();
                (error.to_string(), permanent)
            }
            Err(_) => (format!("sending timed out after {:?}", self.settings.send_timeout), false),
        };

        if permanent || attempt >= self.settings.max_attempts {
            tracing::error!(mail_id = %mail.id, org_id = %mail.org_id, attempt, %error, "mail delivery failed, giving up");
            if let Err(storage_error) = self.record(&mail.id, Outcome::Failed { error: &error }).await {
                // The mail is tried again when the lease ends.
                tracing::error!(mail_id = %mail.id, error = %storage_error, "recording a failed mail failed");
            }
        } else {
            let delay = self.settings.retry_delay(attempt);
            tracing::warn!(mail_id = %mail.id, org_id = %mail.org_id, attempt, retry_in = ?delay, %error, "mail delivery failed, will retry");
            let retry = Outcome::Retry {
                error: &error,
                next_attempt_at: add(clock::now(), delay),
            };
            if let Err(storage_error) = self.record(&mail.id, retry).await {
                // The mail is tried again when the lease ends instead.
                tracing::error!(mail_id = %mail.id, error = %storage_error, "recording a mail retry failed");
            }
        }
        Ok(())
    }

    /// Runs [`mail_queue::claim`] in a transaction of [`Store::begin_global`], which on SQLite
    /// queues the write behind the other writers of this process.
    async fn claim(&self, mail: &QueuedMail, lease_until: DateTime<Utc>) -> StorageResult<bool> {
        let mut tx = self.store.begin_global().await?;
        let claimed = mail_queue::claim(&mut tx.db(), mail, lease_until).await?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// Stores the outcome of an attempt, in a transaction like [`Worker::claim`].
    async fn record(&self, id: &str, outcome: Outcome<'_>) -> StorageResult<()> {
        let mut tx = self.store.begin_global().await?;
        match outcome {
            Outcome::Sent => mail_queue::mark_sent(&mut tx.db(), id, clock::now()).await?,
            Outcome::Retry { error, next_attempt_at } => mail_queue::mark_retry(&mut tx.db(), id, error, next_attempt_at).await?,
            Outcome::Failed { error } => mail_queue::mark_failed(&mut tx.db(), id, error).await?,
        }
        tx.commit().await
    }
}

/// The result of one delivery attempt, as stored in the queue.
enum Outcome<'a> {
    Sent,
    Retry { error: &'a str, next_attempt_at: DateTime<Utc> },
    Failed { error: &'a str },
}

/// Adds a duration to a time, saturating far in the future instead of overflowing.
fn add(time: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(duration)
        .ok()
        .and_then(|duration| time.checked_add_signed(duration))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles_up_to_max() {
        let settings = WorkerSettings::default();
        assert_eq!(settings.retry_delay(1), Duration::from_secs(2));
        assert_eq!(settings.retry_delay(2), Duration::from_secs(4));
        assert_eq!(settings.retry_delay(9), Duration::from_secs(512));
        assert_eq!(settings.retry_delay(10), Duration::from_secs(600));
        assert_eq!(settings.retry_delay(u32::MAX), Duration::from_secs(600));
    }
}
