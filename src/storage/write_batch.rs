//! Group commit for SQLite.
//!
//! With `synchronous = FULL`, every SQLite commit waits for the disk to sync the WAL, and one
//! writer at a time may write. Serial commits therefore cap writes at the disk's sync rate. Here
//! consecutive write transactions share one SQLite transaction: each runs inside its own
//! savepoint, so a failed one rolls back alone, and the shared transaction commits once the
//! queue of writers is empty, or after `MAX_WRITERS` writers or `MAX_AGE`. No request gets
//! its response before the commit with its changes has synced, so durability is unchanged,
//! and a failed commit fails every writer in it.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{Any, AnyConnection, AnyPool, Transaction};
use tokio::sync::{oneshot, Mutex, OwnedMutexGuard};

use super::{StorageError, StorageResult};

/// Writers committed together at most.
const MAX_WRITERS: usize = 64;
/// Age of the shared transaction after which it commits even while writers queue, which
/// bounds the wait of its first writer and of writes on other connections.
const MAX_AGE: Duration = Duration::from_millis(10);

/// The shared transaction and the writers whose changes it holds.
pub struct Batch {
    tx: Option<Transaction<'static, Any>>,
    started: Instant,
    waiters: Vec<oneshot::Sender<Result<(), String>>>,
    /// Set when a writer ended without committing; its savepoint is undone before the next use.
    rollback_pending: bool,
}

/// Serializes SQLite writers into shared transactions.
pub struct GroupCommit {
    pool: AnyPool,
    batch: Arc<Mutex<Batch>>,
    /// Writers waiting for the batch; a finishing writer commits at once when there are none.
    queued: AtomicUsize,
}

impl GroupCommit {
    pub fn new(pool: AnyPool) -> Arc<Self> {
        Arc::new(GroupCommit {
            pool,
            batch: Arc::new(Mutex::new(Batch {
                tx: None,
                started: Instant::now(),
                waiters: Vec::new(),
                rollback_pending: false,
            })),
            queued: AtomicUsize::new(0),
        })
    }

    /// Waits for the batch and opens a savepoint in it for one writer.
    pub async fn begin(self: &Arc<Self>) -> StorageResult<BatchWriter> {
        let queued = Queued::enter(&self.queued);
        let mut batch = self.batch.clone().lock_owned().await;
        drop(queued);

        undo_abandoned(&mut batch).await?;
        let opened_batch = batch.tx.is_none();
        if opened_batch {
            batch.tx = Some(self.pool.begin().await?);
            batch.started = Instant::now();
        }
        let connection: &mut AnyConnection = batch.tx.as_mut().expect("the batch transaction was just opened");
        sqlx::query("SAVEPOINT hub_write").execute(connection).await?;
        Ok(BatchWriter {
            batch: Some(batch),
            group: self.clone(),
            opened_batch,
        })
    }

    /// Tells whether the batch should commit now rather than wait for queued writers.
    fn should_commit(&self, batch: &Batch) -> bool {
        self.queued.load(Ordering::SeqCst) == 0 || batch.waiters.len() >= MAX_WRITERS || batch.started.elapsed() >= MAX_AGE
    }
}

/// Counts a writer as queued until it locks the batch or stops waiting.
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn enter(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Queued(counter)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Commits the batch after `MAX_AGE` if writers still wait for it, in case the writers that
/// were queued went away (a client disconnected) and no one else commits it.
fn commit_later(batch: Arc<Mutex<Batch>>) {
    tokio::spawn(async move {
        tokio::time::sleep(MAX_AGE).await;
        let mut batch = batch.lock().await;
        if batch.waiters.is_empty() {
            return;
        }
        if let Err(error) = undo_abandoned(&mut batch).await {
            tracing::error!(%error, "rolling back an abandoned SQLite write failed");
        }
        commit_batch(&mut batch).await;
    });
}

/// Rolls back the savepoint of a writer that ended without committing.
async fn undo_abandoned(batch: &mut Batch) -> StorageResult<()> {
    if !batch.rollback_pending {
        return Ok(());
    }
    if let Some(tx) = batch.tx.as_mut() {
        let connection: &mut AnyConnection = tx;
        sqlx::query("ROLLBACK TO SAVEPOINT hub_write").execute(&mut *connection).await?;
        sqlx::query("RELEASE SAVEPOINT hub_write").execute(&mut *connection).await?;
    }
    batch.rollback_pending = false;
    Ok(())
}

/// Commits the shared transaction and sends the outcome to every writer in it.
async fn commit_batch(batch: &mut Batch) {
    let waiters = std::mem::take(&mut batch.waiters);
    let Some(tx) = batch.tx.take() else { return };
    let outcome = tx.commit().await.map_err(|error| error.to_string());
    if let Err(error) = &outcome {
        tracing::error!(%error, writers = waiters.len(), "committing a batch of SQLite writes failed");
    }
    for waiter in waiters {
        let _ = waiter.send(outcome.clone());
    }
}

/// One writer's place in the batch: its savepoint, and the lock on the batch until it ends.
pub struct BatchWriter {
    batch: Option<OwnedMutexGuard<Batch>>,
    group: Arc<GroupCommit>,
    opened_batch: bool,
}

impl BatchWriter {
    /// Returns whether this writer began the shared transaction. Such a transaction holds no
    /// lock yet, because SQLite takes its write lock at a transaction's first write.
    pub fn opened_batch(&self) -> bool {
        self.opened_batch
    }

    /// Releases the savepoint and waits until the shared transaction holding it has committed.
    ///
    /// The release and the commit run in a task of their own, because a caller may stop
    /// waiting: a client that disconnects drops its request. Were the shared commit running in
    /// that caller, stopping it would drop the other writers' notices unsent. Their requests
    /// would fail although their changes might be committed.
    pub async fn commit(mut self) -> StorageResult<()> {
        let batch = self.batch.take().expect("a writer commits once");
        let group = self.group.clone();
        let (sender, receiver) = oneshot::channel();
        tokio::spawn(finish_writer(batch, group, sender));

        match receiver.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(StorageError::Corrupt(format!("the write was not committed: {error}"))),
            Err(_) => Err(StorageError::Corrupt("the write batch ended without committing".to_string())),
        }
    }
}

/// Releases a writer's savepoint, adds the writer to the batch's waiters, and commits the batch
/// when no other writer queues for it.
async fn finish_writer(mut batch: OwnedMutexGuard<Batch>, group: Arc<GroupCommit>, sender: oneshot::Sender<Result<(), String>>) {
    let connection: &mut AnyConnection = batch.tx.as_mut().expect("an open writer has a batch transaction");
    if let Err(error) = sqlx::query("RELEASE SAVEPOINT hub_write").execute(connection).await {
        batch.rollback_pending = true;
        let _ = sender.send(Err(error.to_string()));
        return;
    }
    batch.waiters.push(sender);
    if group.should_commit(&batch) {
        commit_batch(&mut batch).await;
    } else {
        commit_later(group.batch.clone());
    }
}

impl Drop for BatchWriter {
    /// Undoes the savepoint of a writer that did not commit. The batch may still hold earlier
    /// writers waiting for their commit, so it commits them when no writer queues. Without
    /// such writers the shared transaction holds nothing, and is rolled back: left open, it
    /// would keep SQLite's write lock from other processes (the `hub` commands) until the
    /// next write.
    fn drop(&mut self) {
        let Some(mut batch) = self.batch.take() else { return };
        batch.rollback_pending = true;
        let group = self.group.clone();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        runtime.spawn(async move {
            if let Err(error) = undo_abandoned(&mut batch).await {
                tracing::error!(%error, "rolling back an abandoned SQLite write failed");
            }
            if batch.waiters.is_empty() {
                if let Some(tx) = batch.tx.take() {
                    if let Err(error) = tx.rollback().await {
                        tracing::error!(%error, "ending an empty SQLite write batch failed");
                    }
                }
                return;
            }
            if group.should_commit(&batch) {
                commit_batch(&mut batch).await;
            } else {
                commit_later(group.batch.clone());
            }
        });
    }
}

impl Deref for BatchWriter {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        self.batch.as_ref().and_then(|batch| batch.tx.as_deref()).expect("an open writer has a batch transaction")
    }
}

impl DerefMut for BatchWriter {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.batch.as_mut().and_then(|batch| batch.tx.as_deref_mut()).expect("an open writer has a batch transaction")
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use std::future::Future;

    use sqlx::any::{AnyConnectOptions, AnyPoolOptions};

    use super::*;

    async fn pool(folder: &std::path::Path) -> AnyPool {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}?mode=rwc", folder.join("batch.db").display());
        // Full syncs make each commit slow enough for a caller to give up in the middle of it.
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .after_connect(|connection, _| {
                Box::pin(async move {
                    sqlx::Executor::execute(connection, "PRAGMA synchronous = FULL").await?;
                    Ok(())
                })
            })
            .connect_with(AnyConnectOptions::from_str(&url).unwrap())
            .await
            .unwrap();
        sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await.unwrap();
        sqlx::query("CREATE TABLE rows (id BIGINT PRIMARY KEY)").execute(&pool).await.unwrap();
        pool
    }

    /// A writer whose caller stops waiting in the middle of committing the shared batch must
    /// not fail the other writer in that batch. The first writer commits and waits for the
    /// second, which was queued. The second writer's caller then drops its commit after a
    /// number of polls that grows each round, so some round drops it while it commits the
    /// batch for both.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelled_commit_spares_batch_partner() {
        let folder = tempfile::tempdir().unwrap();
        let pool = pool(folder.path()).await;
        let group = GroupCommit::new(pool.clone());

        for round in 0..60_i64 {
            let mut first = group.begin().await.unwrap();
            sqlx::query("INSERT INTO rows (id) VALUES ($1)").bind(round * 2).execute(&mut *first).await.unwrap();
            let second_group = group.clone();
            let second = tokio::spawn(async move {
                let mut writer = second_group.begin().await.unwrap();
                sqlx::query("INSERT INTO rows (id) VALUES ($1)").bind(round * 2 + 1).execute(&mut *writer).await.unwrap();
                let mut commit = Box::pin(writer.commit());
                for _ in 0..round {
                    let polled = std::future::poll_fn(|context| std::task::Poll::Ready(commit.as_mut().poll(context))).await;
                    if polled.is_ready() {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
            });
            // Let the second writer queue for the batch before the first one commits.
            while group.queued.load(Ordering::SeqCst) == 0 {
                tokio::task::yield_now().await;
            }

            let outcome = first.commit().await;
            second.await.unwrap();
            assert!(outcome.is_ok(), "round {round}: the first writer failed: {outcome:?}");
        }
    }
}
