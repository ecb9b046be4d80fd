//! The SCIM request log's capture queue, its writer and the retention purge.
//!
//! A request hands its entry to a bounded queue and goes on; it never waits for storage. One
//! writer task per process drains the queue in batches, each batch one transaction. When the
//! queue is full the entry is dropped and counted per organization, and the counts are stored
//! with the next batch so the admin API can show them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, OwnedRwLockWriteGuard, RwLock};

use crate::clock::Clock;
use crate::domain::request_log::RequestEntry;
use crate::storage::{request_log, Store};

/// Settings of the request log.
#[derive(Debug, Clone)]
pub struct RequestLogSettings {
    /// Whether SCIM requests are recorded at all.
    pub enabled: bool,
    /// Entries waiting for the writer before new ones are dropped.
    pub queue_capacity: usize,
    /// How long entries are kept.
    pub retention: chrono::Duration,
    /// How often entries older than the retention are deleted.
    pub purge_interval: Duration,
}

/// Default retention of the request log, in days.
pub const DEFAULT_RETENTION_DAYS: i64 = 30;

impl Default for RequestLogSettings {
    fn default() -> Self {
        RequestLogSettings {
            enabled: true,
            queue_capacity: 10_000,
            retention: chrono::Duration::days(DEFAULT_RETENTION_DAYS),
            purge_interval: Duration::from_secs(3600),
        }
    }
}

/// Entries written per transaction at most.
const BATCH_SIZE: usize = 2000;

/// Pause after a batch smaller than [`BATCH_SIZE`], so that under steady load entries gather
/// into fewer, larger transactions. In a profile under 16,000 requests per second, commits of
/// small batches took as much of the writer's time as the inserts. Entries reach storage at
/// most this much later.
const LINGER: Duration = Duration::from_millis(50);

/// How long a flush waits for the writer before giving up.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

enum Message {
    Entry(Box<RequestEntry>),
    /// Replied to once every entry queued before it is written.
    Flush(oneshot::Sender<()>),
}

/// State the request side and the writer share.
#[derive(Debug, Default)]
struct Shared {
    /// Dropped entries per organization, not yet stored.
    pending_drops: Mutex<HashMap<String, u64>>,
    dropped_total: AtomicU64,
    /// Taken for reading by the writer around each batch, so [`RequestLog::hold`] can pause it.
    gate: Arc<RwLock<()>>,
}

/// The capture queue of one process. Cloning the `Arc` shares the queue.
#[derive(Debug)]
pub struct RequestLog {
    sender: Option<mpsc::Sender<Message>>,
    shared: Arc<Shared>,
    writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl RequestLog {
    /// Starts the writer, or returns a log that records nothing when the settings disable it.
    pub fn start(store: Store, clock: Arc<dyn Clock>, settings: &RequestLogSettings) -> Arc<RequestLog> {
        if !settings.enabled {
            tracing::info!("SCIM request log disabled");
            return Arc::new(RequestLog {
                sender: None,
                shared: Arc::default(),
                writer: Mutex::new(None),
            });
        }
        let (sender, receiver) = mpsc::channel(settings.queue_capacity.max(1));
        let shared = Arc::new(Shared::default());
        let writer = tokio::spawn(write_entries(store, clock, receiver, shared.clone()));
        tracing::info!(queue_capacity = settings.queue_capacity, "SCIM request log started");
        Arc::new(RequestLog {
            sender: Some(sender),
            shared,
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Tells whether requests are recorded, so the HTTP layer skips building entries otherwise.
    pub fn is_enabled(&self) -> bool {
        self.sender.is_some()
    }

    /// Queues an entry without waiting. A full queue drops the entry and counts it.
    pub fn submit(&self, entry: RequestEntry) {
        let Some(sender) = &self.sender else { return };
        match sender.try_send(Message::Entry(Box::new(entry))) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(Message::Entry(entry))) => self.count_drop(&entry.org_id),
            Err(mpsc::error::TrySendError::Full(Message::Flush(_))) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::warn!("SCIM request log writer stopped; entry not recorded");
            }
        }
    }

    fn count_drop(&self, org_id: &str) {
        let total = self.shared.dropped_total.fetch_add(1, Ordering::Relaxed) + 1;
        if let Ok(mut pending) = self.shared.pending_drops.lock() {
            *pending.entry(org_id.to_string()).or_default() += 1;
        }
        // The first drop and every thousandth are logged, so a flood does not flood the log too.
        if total == 1 || total.is_multiple_of(1000) {
            tracing::warn!(org_id, dropped_total = total, "SCIM request log queue full; entry dropped");
        }
    }

    /// Returns how many entries this process dropped since it started.
    pub fn dropped_total(&self) -> u64 {
        self.shared.dropped_total.load(Ordering::Relaxed)
    }

    /// Waits until every entry queued so far is written (at most ten seconds), for shutdown
    /// and for tests that read the log right after a request.
    pub async fn flush(&self) {
        let Some(sender) = &self.sender else { return };
        let (done, written) = oneshot::channel();
        let waited = tokio::time::timeout(FLUSH_TIMEOUT, async {
            if sender.send(Message::Flush(done)).await.is_ok() {
                let _ = written.await;
            }
        })
        .await;
        if waited.is_err() {
            tracing::warn!("SCIM request log not flushed within the timeout");
        }
    }

    /// Pauses the writer until the returned guard is dropped, so tests can fill the queue.
    pub async fn hold(&self) -> OwnedRwLockWriteGuard<()> {
        self.shared.gate.clone().write_owned().await
    }

    /// Writes what is queued and stops the writer.
    pub async fn shutdown(&self) {
        self.flush().await;
        let writer = self.writer.lock().ok().and_then(|mut writer| writer.take());
        if let Some(writer) = writer {
            writer.abort();
            tracing::info!("SCIM request log stopped");
        }
    }
}

/// Drains the queue in batches until every sender is gone.
async fn write_entries(store: Store, clock: Arc<dyn Clock>, mut receiver: mpsc::Receiver<Message>, shared: Arc<Shared>) {
    let mut messages = Vec::with_capacity(BATCH_SIZE);
    loop {
        messages.clear();
        if receiver.recv_many(&mut messages, BATCH_SIZE).await == 0 {
            return;
        }
        let _open = shared.gate.read().await;

        let mut entries = Vec::with_capacity(messages.len());
        let mut waiters = Vec::new();
        for message in messages.drain(..) {
            match message {
                Message::Entry(entry) => entries.push(*entry),
                Message::Flush(waiter) => waiters.push(waiter),
            }
        }
        let full = entries.len() == BATCH_SIZE;
        write_batch(&store, &shared, entries).await;
        store_drops(&store, clock.as_ref(), &shared).await;
        let flushing = !waiters.is_empty();
        for waiter in waiters {
            let _ = waiter.send(());
        }
        if !full && !flushing {
            tokio::time::sleep(LINGER).await;
        }
    }
}

/// Writes one batch. A failed write loses the batch, which is counted as dropped: the log
/// must never hold up or fail the requests it records.
async fn write_batch(store: &Store, shared: &Shared, entries: Vec<RequestEntry>) {
    let entries = Arc::new(entries);
    let Err(error) = request_log::insert_batch(store, entries.clone()).await else { return };
    tracing::error!(%error, entries = entries.len(), "cannot write SCIM request log entries; they are dropped");
    shared.dropped_total.fetch_add(entries.len() as u64, Ordering::Relaxed);
    if let Ok(mut pending) = shared.pending_drops.lock() {
        for entry in entries.iter() {
            *pending.entry(entry.org_id.clone()).or_default() += 1;
        }
    }
}

/// Adds the drops counted since the last batch to each organization's stored counter.
async fn store_drops(store: &Store, clock: &dyn Clock, shared: &Shared) {
    let pending: Vec<(String, u64)> = match shared.pending_drops.lock() {
        Ok(mut pending) => pending.drain().collect(),
        Err(_) => return,
    };
    for (org_id, count) in pending {
        if let Err(error) = request_log::add_drops(store.log_pool(), &org_id, count, clock.now()).await {
            tracing::error!(%error, org_id, count, "cannot store the count of dropped SCIM request log entries");
        }
    }
}

/// Deletes entries older than the retention, now and then every `purge_interval`.
pub fn spawn_purge(store: Store, clock: Arc<dyn Clock>, settings: &RequestLogSettings) -> tokio::task::JoinHandle<()> {
    let retention = settings.retention;
    let interval = settings.purge_interval;
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            purge(&store, clock.now() - retention).await;
        }
    })
}

/// Deletes entries older than `before`, logging the outcome.
pub async fn purge(store: &Store, before: chrono::DateTime<chrono::Utc>) {
    match request_log::purge(store.log_pool(), before).await {
        Ok(0) => {}
        Ok(deleted) => tracing::info!(deleted, before = %crate::clock::format(before), "SCIM request log entries purged"),
        Err(error) => tracing::error!(%error, "cannot purge the SCIM request log; retrying at the next interval"),
    }
}
