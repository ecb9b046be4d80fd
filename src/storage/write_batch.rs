//! Group commit for SQLite.
//!
//! With `synchronous = FULL`, every SQLite commit waits for the disk to sync the WAL, and one
//! writer at a time may write. Serial commits therefore cap writes at the disk's sync rate. Here
//! consecutive write transactions share one SQLite transaction: each runs inside its own
//! savepoint, so a failed one rolls back alone, and the shared transaction commits once the
//! queue of writers is empty, or after `MAX_WRITERS` writers or `MAX_AGE`. No request gets
//! its response before the commit with its changes has synced, so durability is unchanged,
//! and a failed commit fails every writer in it.
//!
//! The shared transaction runs on a connection of Hub's own, and its statements run on the
//! writer's thread (see [`super::sql`]). Each step on it is synchronous, so a writer whose
//! request is dropped can never stop between a statement and its bookkeeping.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{oneshot, Mutex, OwnedMutexGuard};

use super::sql::{write_error, Db};
use super::{StorageError, StorageResult};

/// Writers committed together at most.
const MAX_WRITERS: usize = 64;
/// Age of the shared transaction after which it commits even while writers queue, which
/// bounds the wait of its first writer and of writes on other connections.
const MAX_AGE: Duration = Duration::from_millis(10);
/// Prepared statements kept on the write connection: every write statement Hub has fits.
const STATEMENT_CACHE: usize = 256;

/// The write connection, its shared transaction and the writers whose changes it holds.
pub struct Batch {
    connection: Connection,
    /// Whether the shared transaction is open.
    open: bool,
    started: Instant,
    waiters: Vec<oneshot::Sender<Result<(), String>>>,
}

/// Serializes SQLite writers into shared transactions.
pub struct GroupCommit {
    batch: Arc<Mutex<Batch>>,
    /// Writers waiting for the batch; a finishing writer commits at once when there are none.
    queued: AtomicUsize,
}

impl GroupCommit {
    /// Opens the write connection to the database file at `path`, with the settings of every
    /// Hub connection (`pragmas`).
    pub fn open(path: &Path, pragmas: &str) -> StorageResult<Arc<Self>> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let connection = Connection::open_with_flags(path, flags).map_err(write_error)?;
        connection.execute_batch(pragmas).map_err(write_error)?;
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(Arc::new(GroupCommit {
            batch: Arc::new(Mutex::new(Batch {
                connection,
                open: false,
                started: Instant::now(),
                waiters: Vec::new(),
            })),
            queued: AtomicUsize::new(0),
        }))
    }

    /// Waits for the batch and opens a savepoint in it for one writer.
    pub async fn begin(self: &Arc<Self>) -> StorageResult<BatchWriter> {
        let queued = Queued::enter(&self.queued);
        let mut batch = self.batch.clone().lock_owned().await;
        drop(queued);

        let opened_batch = !batch.open;
        if opened_batch {
            run(&batch.connection, "BEGIN")?;
            batch.open = true;
            batch.started = Instant::now();
        }
        if let Err(error) = run(&batch.connection, "SAVEPOINT hub_write") {
            if opened_batch {
                roll_back(&mut batch);
            }
            return Err(error);
        }
        Ok(BatchWriter {
            batch: Some(batch),
            group: self.clone(),
            opened_batch,
        })
    }

    /// Waits until the changes in the batch, if any, have committed. A writer reads the
    /// uncommitted changes of the writers before it in the batch. A response based on them,
    /// such as a 404 for a user another writer just deleted, must wait for them like a write.
    pub async fn settle(self: &Arc<Self>) {
        let mut batch = self.batch.clone().lock_owned().await;
        if !batch.open || batch.waiters.is_empty() {
            return;
        }
        let (sender, receiver) = oneshot::channel();
        batch.waiters.push(sender);
        self.finish(&mut batch);
        drop(batch);
        let _ = receiver.await;
    }

    /// Tells whether the batch should commit now rather than wait for queued writers.
    fn should_commit(&self, batch: &Batch) -> bool {
        self.queued.load(Ordering::SeqCst) == 0 || batch.waiters.len() >= MAX_WRITERS || batch.started.elapsed() >= MAX_AGE
    }

    /// Commits the batch now, or leaves it to a writer that queues for it, with a timer in
    /// case none comes.
    fn finish(&self, batch: &mut Batch) {
        if self.should_commit(batch) {
            commit_batch(batch);
        } else {
            commit_later(self.batch.clone());
        }
    }
}

/// Runs one statement without results on the write connection.
fn run(connection: &Connection, sql: &str) -> StorageResult<()> {
    let mut statement = connection.prepare_cached(sql).map_err(write_error)?;
    statement.raw_execute().map_err(write_error)?;
    Ok(())
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
    let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
    runtime.spawn(async move {
        tokio::time::sleep(MAX_AGE).await;
        let mut batch = batch.lock().await;
        if !batch.waiters.is_empty() {
            commit_batch(&mut batch);
        }
    });
}

/// Commits the shared transaction and sends the outcome to every writer in it.
fn commit_batch(batch: &mut Batch) {
    let waiters = std::mem::take(&mut batch.waiters);
    if !batch.open {
        return;
    }
    let outcome = off_the_runtime(|| run(&batch.connection, "COMMIT")).map_err(|error| error.to_string());
    if let Err(error) = &outcome {
        tracing::error!(%error, writers = waiters.len(), "committing a batch of SQLite writes failed");
        // A failed COMMIT may leave the transaction open; nothing of it is kept.
        if !batch.connection.is_autocommit() {
            let _ = run(&batch.connection, "ROLLBACK");
        }
    }
    batch.open = false;
    for waiter in waiters {
        let _ = waiter.send(outcome.clone());
    }
}

/// Runs a step that may wait for the disk (a commit's sync, a checkpoint) so that the async
/// worker's other tasks move to another thread meanwhile. A runtime with one thread has no
/// other thread, and the step runs in place.
fn off_the_runtime<T>(step: impl FnOnce() -> T) -> T {
    let multi_thread = tokio::runtime::Handle::try_current()
        .map(|runtime| runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
        .unwrap_or(false);
    if multi_thread {
        tokio::task::block_in_place(step)
    } else {
        step()
    }
}

/// Rolls the shared transaction back, failing the writers that wait for its commit.
fn roll_back(batch: &mut Batch) {
    if !batch.connection.is_autocommit() {
        if let Err(error) = run(&batch.connection, "ROLLBACK") {
            tracing::error!(%error, "rolling back a batch of SQLite writes failed");
        }
    }
    batch.open = false;
    for waiter in std::mem::take(&mut batch.waiters) {
        let _ = waiter.send(Err("the write batch was rolled back".to_string()));
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

    /// Returns the write connection, inside this writer's savepoint.
    pub fn db(&mut self) -> Db<'_> {
        let batch = self.batch.as_mut().expect("an open writer has the batch");
        Db::Lite(&mut batch.connection)
    }

    /// Releases the savepoint and waits until the shared transaction holding it has committed.
    /// The wait alone may be cancelled: by then the writer's changes are in the batch, which
    /// commits them whether anyone waits or not.
    pub async fn commit(mut self) -> StorageResult<()> {
        let mut batch = self.batch.take().expect("a writer commits once");
        if let Err(error) = run(&batch.connection, "RELEASE SAVEPOINT hub_write") {
            undo_savepoint(&mut batch, &self.group);
            return Err(error);
        }
        let (sender, receiver) = oneshot::channel();
        batch.waiters.push(sender);

        // Deciding in a task of its own gives writers that are about to queue the moment to
        // do so, and they join this batch instead of paying a sync each. Deciding right here
        // committed a /Bulk of 1,000 creates on two connections nearly one write per sync, at
        // half the users per second.
        let group = self.group.clone();
        tokio::spawn(async move {
            let mut batch = batch;
            group.finish(&mut batch);
        });

        match receiver.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(StorageError::Corrupt(format!("the write was not committed: {error}"))),
            Err(_) => Err(StorageError::Corrupt("the write batch ended without committing".to_string())),
        }
    }
}

/// Undoes a writer's savepoint. The batch may still hold earlier writers waiting for their
/// commit, so it commits them when no writer queues. Without such writers the shared
/// transaction holds nothing, and is rolled back: left open, it would keep SQLite's write lock
/// from other processes (the `hub` commands) until the next write.
fn undo_savepoint(batch: &mut Batch, group: &GroupCommit) {
    let undone = run(&batch.connection, "ROLLBACK TO SAVEPOINT hub_write").and_then(|()| run(&batch.connection, "RELEASE SAVEPOINT hub_write"));
    if let Err(error) = undone {
        tracing::error!(%error, "undoing an SQLite write failed; rolling back its batch");
        roll_back(batch);
        return;
    }
    if batch.waiters.is_empty() {
        roll_back(batch);
        return;
    }
    group.finish(batch);
}

impl Drop for BatchWriter {
    /// Undoes the savepoint of a writer that did not commit.
    fn drop(&mut self) {
        let Some(mut batch) = self.batch.take() else { return };
        undo_savepoint(&mut batch, &self.group);
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use super::*;
    use crate::storage::sql::query;

    fn group(folder: &std::path::Path) -> Arc<GroupCommit> {
        let path = folder.join("batch.db");
        let setup = Connection::open(&path).unwrap();
        setup.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE rows (id BIGINT PRIMARY KEY);").unwrap();
        // Full syncs make each commit slow enough for a caller to give up in the middle of it.
        GroupCommit::open(&path, "PRAGMA synchronous = FULL;").unwrap()
    }

    async fn insert(writer: &mut BatchWriter, id: i64) {
        query("INSERT INTO rows (id) VALUES ($1)").bind(id).execute(&mut writer.db()).await.unwrap();
    }

    /// A writer whose caller stops waiting for its commit must not fail the other writer in
    /// that batch. The first writer commits and waits for the second, which was queued. The
    /// second writer's caller then drops its commit after a number of polls that grows each
    /// round, so some round drops it while it waits for the batch both are in.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelled_commit_spares_batch_partner() {
        let folder = tempfile::tempdir().unwrap();
        let group = group(folder.path());

        for round in 0..60_i64 {
            let mut first = group.begin().await.unwrap();
            insert(&mut first, round * 2).await;
            let second_group = group.clone();
            let second = tokio::spawn(async move {
                let mut writer = second_group.begin().await.unwrap();
                insert(&mut writer, round * 2 + 1).await;
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

    /// Statements that return rows although they run for their effect, such as the PRAGMA
    /// that bounds ANALYZE, run on the write connection like any other.
    #[tokio::test]
    async fn statements_returning_rows_execute() {
        let folder = tempfile::tempdir().unwrap();
        let group = group(folder.path());

        let mut writer = group.begin().await.unwrap();
        query("PRAGMA analysis_limit = 400").execute(&mut writer.db()).await.unwrap();
        query("ANALYZE").execute(&mut writer.db()).await.unwrap();
        writer.commit().await.unwrap();
    }

    /// A writer dropped without committing leaves nothing behind, and does not undo the
    /// writer before it in the same batch.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropped_writer_rolls_back_alone() {
        let folder = tempfile::tempdir().unwrap();
        let group = group(folder.path());

        let mut kept = group.begin().await.unwrap();
        insert(&mut kept, 1).await;
        let kept_commit = tokio::spawn(kept.commit());

        let mut dropped = group.begin().await.unwrap();
        insert(&mut dropped, 2).await;
        drop(dropped);
        kept_commit.await.unwrap().unwrap();

        let mut reader = group.begin().await.unwrap();
        let rows = query("SELECT id FROM rows ORDER BY id").fetch_all(&mut reader.db()).await.unwrap();
        let ids: Vec<i64> = rows.iter().map(|row| row.try_get("id").unwrap()).collect();
        assert_eq!(ids, vec![1]);
    }
}
