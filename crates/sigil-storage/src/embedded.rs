//! The embedded backend: one redb file, durable before acknowledgement, with group commit.
//!
//! redb allows one write transaction at a time and makes each durable with an fsync. Doing one
//! fsync per request would cap writes at the disk's fsync rate, so
//! writes go through a single writer thread that drains whatever requests are queued, applies
//! them in one write transaction, commits once, and only then acknowledges each of them. Under
//! load, requests that arrive while an fsync is in flight share the next one. Requests stay
//! atomic: a batch either commits as a whole or every request in it gets the error.
//!
//! A write with nothing to share its commit with skips the writer thread: when no other write
//! is under way and the owner grants a permit to block the caller's thread
//! ([`Embedded::commit_inline_when`]; the server grants one when no other request is in
//! progress and no other runtime thread is blocked on the disk), the request commits on its
//! own thread, as the audit log's writes do. Handing the write to the writer and the answer
//! back cost two thread wake-ups: an eighth to a fifth of a lone `pki_issue`'s server CPU on
//! this VM (`bench/server.sh` at c=1: 253-280 µs of CPU per issue with the hand-off, 222-231
//! without). Under load the owner grants no permit, and writes are folded into group commits
//! as before.
//!
//! Reads use redb's MVCC read transactions directly on the caller's thread: they never wait for
//! the writer and see every acknowledged write. Opening a read transaction and its table costs
//! more than a small lookup, so reads share one snapshot until the next commit: the writer
//! drops it after every commit, before it acknowledges the commit's requests, and a read that
//! finds none opens the next one. A snapshot never outlives the commit after it (but for the
//! reads already using it), so it never holds back the reuse of freed pages for long.
//!
//! Memory: redb keeps recently used pages, and pages written but not yet flushed, in a cache
//! of its own, which never shrinks once filled. Its default of 1 GiB let a server grow to
//! hundreds of MiB under write load (about 3 KiB per issued certificate kept; 200 MiB after
//! seconds of `pki_issue` in `bench/server.sh`), so the cache is bounded here:
//! [`DEFAULT_CACHE_SIZE`] unless the operator picks another size (`storage.cache_size`). A
//! smaller cache measured the same throughput on that bench; the file's pages stay in the
//! operating system's page cache either way, so a miss costs a `pread`, not a disk read.

use std::fmt;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, mpsc};
use std::thread;

use redb::{Database, Durability, ReadOnlyTable, ReadableDatabase as _, TableDefinition};
use tokio::sync::oneshot;

use crate::{Backend, Error, Op, Page, Result, check_key, check_prefix, listing};

const TABLE: TableDefinition<'static, &'static str, &'static [u8]> = TableDefinition::new("kv");

/// The bytes redb may keep in memory for one database, unless configured otherwise.
pub const DEFAULT_CACHE_SIZE: usize = 16 * 1024 * 1024;

/// The most requests folded into one commit.
const MAX_BATCH: usize = 512;

struct WriteRequest {
    ops: Vec<Op>,
    done: oneshot::Sender<Result<()>>,
}

type Snapshot = Arc<ReadOnlyTable<&'static str, &'static [u8]>>;

/// The table as of the last commit, shared by reads until the writer drops it.
#[derive(Default)]
struct SharedSnapshot(Mutex<Option<Snapshot>>);

impl SharedSnapshot {
    /// The slot, even after a panic while it was held: it only ever holds a whole snapshot or
    /// none, and a writer must always be able to drop it.
    fn slot(&self) -> MutexGuard<'_, Option<Snapshot>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, db: &Database) -> Result<Snapshot> {
        let mut slot = self.slot();
        if let Some(s) = &*slot {
            return Ok(Arc::clone(s));
        }
        let table = Arc::new(db.begin_read().map_err(io)?.open_table(TABLE).map_err(io)?);
        *slot = Some(Arc::clone(&table));
        Ok(table)
    }

    /// Called by the writer after each commit: later reads open a snapshot that has it.
    fn drop_current(&self) {
        *self.slot() = None;
    }
}

/// A backend storing everything in one redb file.
pub struct Embedded {
    db: Arc<Database>,
    snapshot: Arc<SharedSnapshot>,
    /// `None` only while dropping.
    writer: Option<mpsc::SyncSender<WriteRequest>>,
    writer_thread: Option<thread::JoinHandle<()>>,
    path: PathBuf,
    /// Held by whoever commits: the writer thread for a batch, or a request committing inline.
    committing: Arc<Mutex<()>>,
    /// Transactions submitted and not yet answered.
    pending: AtomicUsize,
    /// Grants a write the right to commit on its caller's thread (see
    /// [`Embedded::commit_inline_when`]).
    inline: OnceLock<InlineGrant>,
}

/// Lets a write commit on its caller's thread: held for the commit, dropped after it.
pub type InlinePermit = Box<dyn Send>;

type InlineGrant = Box<dyn Fn() -> Option<InlinePermit> + Send + Sync>;

/// One transaction counted in [`Embedded::pending`] until this drops.
struct Pending<'a> {
    count: &'a AtomicUsize,
    alone: bool,
}

impl<'a> Pending<'a> {
    fn count(count: &'a AtomicUsize) -> Self {
        let before = count.fetch_add(1, Ordering::AcqRel);
        Self {
            count,
            alone: before == 0,
        }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Embedded {
    /// Opens (or creates) the database file at `path` with a cache of
    /// [`DEFAULT_CACHE_SIZE`] bytes, and starts its writer thread.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with_cache(path, DEFAULT_CACHE_SIZE)
    }

    /// [`Embedded::open`] with a cache of at most `cache_size` bytes (see the module doc).
    pub fn open_with_cache(path: &Path, cache_size: usize) -> Result<Self> {
        let db = redb::Builder::new()
            .set_cache_size(cache_size)
            .create(path)
            .map_err(|e| Error::Io(format!("opening {}: {e}", path.display())))?;
        // Create the table up front so readers never meet a missing table.
        let txn = db.begin_write().map_err(io)?;
        txn.open_table(TABLE).map_err(io)?;
        txn.commit().map_err(io)?;

        let db = Arc::new(db);
        let snapshot = Arc::new(SharedSnapshot::default());
        let (writer, requests) = mpsc::sync_channel::<WriteRequest>(4 * MAX_BATCH);
        let thread_db = Arc::clone(&db);
        let thread_snapshot = Arc::clone(&snapshot);
        let committing = Arc::new(Mutex::new(()));
        let thread_committing = Arc::clone(&committing);
        let writer_thread = thread::Builder::new()
            .name("sigil-storage-writer".into())
            .spawn(move || writer_loop(&thread_db, &thread_snapshot, &requests, &thread_committing))
            .map_err(|e| Error::Io(format!("starting the writer thread: {e}")))?;
        Ok(Self {
            db,
            snapshot,
            writer: Some(writer),
            writer_thread: Some(writer_thread),
            path: path.to_owned(),
            committing,
            pending: AtomicUsize::new(0),
            inline: OnceLock::new(),
        })
    }

    /// Lets a write with no other write pending commit on the caller's thread, without the
    /// writer thread, whenever `grant` gives it a permit (see the module doc). The caller's
    /// thread then blocks for the commit's fsync, so `grant` must refuse whenever other work
    /// could be waiting for that thread. The permit is dropped once the commit is done. Set
    /// once; later calls are ignored. Without it every write goes through the writer thread.
    pub fn commit_inline_when(
        &self,
        grant: impl Fn() -> Option<InlinePermit> + Send + Sync + 'static,
    ) {
        let _ = self.inline.set(Box::new(grant));
    }

    /// Commits `ops` here if granted and no commit is under way; `None` otherwise.
    fn commit_here(&self, ops: &[Op]) -> Option<Result<()>> {
        let _permit = (self.inline.get()?)()?;
        let _committing = self.committing.try_lock().ok()?;
        let result = commit(&self.db, [ops]);
        // As in the writer: even a failed commit may have changed what a new read sees.
        self.snapshot.drop_current();
        Some(result.map_err(Error::Io))
    }

    fn first_at_or_after(&self, bound: Bound<&str>) -> Result<Option<String>> {
        let table = self.snapshot.get(&self.db)?;
        let mut range = table.range::<&str>((bound, Bound::Unbounded)).map_err(io)?;
        match range.next() {
            Some(entry) => {
                let (k, _) = entry.map_err(io)?;
                Ok(Some(k.value().to_owned()))
            }
            None => Ok(None),
        }
    }
}

/// The writer thread: drain, apply in one transaction, commit, drop the read snapshot,
/// acknowledge. Ends when every sender (every `Embedded` handle) is gone.
fn writer_loop(
    db: &Database,
    snapshot: &SharedSnapshot,
    requests: &mpsc::Receiver<WriteRequest>,
    committing: &Mutex<()>,
) {
    while let Ok(first) = requests.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match requests.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        // A request committing inline holds this only for its own commit.
        let guard = committing.lock().unwrap_or_else(PoisonError::into_inner);
        let result = commit(db, batch.iter().map(|r| r.ops.as_slice()));
        // Even a failed commit may have changed what a new read transaction sees.
        snapshot.drop_current();
        drop(guard);
        for request in batch {
            let answer = match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(Error::Io(e.clone())),
            };
            // The requester may have gone away (its task was cancelled); the write stands.
            let _ = request.done.send(answer);
        }
    }
}

/// Applies every request's ops in one durable write transaction.
fn commit<'a>(
    db: &Database,
    batch: impl IntoIterator<Item = &'a [Op]>,
) -> std::result::Result<(), String> {
    let mut txn = db.begin_write().map_err(|e| e.to_string())?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| e.to_string())?;
    {
        let mut table = txn.open_table(TABLE).map_err(|e| e.to_string())?;
        for ops in batch {
            for op in ops {
                match op {
                    Op::Put(k, v) => {
                        table
                            .insert(k.as_str(), v.as_slice())
                            .map_err(|e| e.to_string())?;
                    }
                    Op::Delete(k) => {
                        table.remove(k.as_str()).map_err(|e| e.to_string())?;
                    }
                }
            }
        }
    }
    txn.commit().map_err(|e| e.to_string())
}

fn io(e: impl fmt::Display) -> Error {
    Error::Io(e.to_string())
}

#[async_trait::async_trait]
impl Backend for Embedded {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        check_key(key)?;
        let table = self.snapshot.get(&self.db)?;
        Ok(table.get(key).map_err(io)?.map(|v| v.value().to_vec()))
    }

    async fn list(&self, prefix: &str, page: Page<'_>) -> Result<Vec<String>> {
        check_prefix(prefix)?;
        listing::children(prefix, page, |bound| self.first_at_or_after(bound))
    }

    async fn transaction(&self, ops: Vec<Op>) -> Result<()> {
        for op in &ops {
            op.check()?;
        }
        if ops.is_empty() {
            return Ok(());
        }
        let pending = Pending::count(&self.pending);
        if pending.alone
            && let Some(result) = self.commit_here(&ops)
        {
            return result;
        }
        let (done, ack) = oneshot::channel();
        self.writer
            .as_ref()
            .ok_or(Error::Closed)?
            .send(WriteRequest { ops, done })
            .map_err(|_| Error::Closed)?;
        ack.await.map_err(|_| Error::Closed)?
    }

    fn name(&self) -> &'static str {
        "embedded"
    }
}

impl Drop for Embedded {
    /// Closes the queue and waits for the writer to finish what was queued, so the file is
    /// closed (and can be reopened) when the backend is gone.
    fn drop(&mut self) {
        self.snapshot.drop_current();
        drop(self.writer.take());
        if let Some(t) = self.writer_thread.take() {
            // A panicked writer has nothing left to flush.
            let _ = t.join();
        }
    }
}

impl fmt::Debug for Embedded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Embedded")
            .field("path", &self.path)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the conformance suite on databases opened by `open`, each in a new file.
    async fn conformance_with(open: impl Fn(&Path) -> Embedded) {
        let dir = tempfile::tempdir().unwrap();
        let n = AtomicUsize::new(0);
        crate::conformance::run(|| {
            let i = n.fetch_add(1, Ordering::Relaxed);
            let db = open(&dir.path().join(format!("db{i}.redb")));
            async move { db }
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conformance() {
        conformance_with(|path| Embedded::open(path).unwrap()).await;
    }

    /// The whole suite again with a cache far smaller than what it writes, so that redb
    /// evicts read pages and flushes its write buffer before commits.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conformance_with_a_tiny_cache() {
        conformance_with(|path| Embedded::open_with_cache(path, 64 * 1024).unwrap()).await;
    }

    /// The whole suite again with every lone write committed on its caller's thread; the
    /// suite's concurrent writers still meet the writer thread.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conformance_committing_inline() {
        conformance_with(|path| {
            let db = Embedded::open(path).unwrap();
            db.commit_inline_when(|| Some(Box::new(())));
            db
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_transaction_larger_than_the_cache_commits_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let value = |i: usize| vec![u8::try_from(i % 251).unwrap(); 4096];
        let ops = (0..256)
            .map(|i| Op::Put(format!("big/{i:03}"), value(i)))
            .collect::<Vec<_>>();
        {
            let db = Embedded::open_with_cache(&path, 64 * 1024).unwrap();
            db.transaction(ops).await.unwrap();
            assert_eq!(db.get("big/200").await.unwrap(), Some(value(200)));
        }
        let db = Embedded::open_with_cache(&path, 64 * 1024).unwrap();
        for i in 0..256 {
            assert_eq!(
                db.get(&format!("big/{i:03}")).await.unwrap(),
                Some(value(i))
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn data_survives_reopening() {
        for inline in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let asked = Arc::new(AtomicUsize::new(0));
            survives_reopening(&dir.path().join("db.redb"), inline.then_some(&asked)).await;
            assert_eq!(
                asked.load(Ordering::Relaxed) > 0,
                inline,
                "inline: {inline}"
            );
        }
    }

    /// Writes, reopens and reads `path`; with `asked`, lone writes commit inline and count
    /// how often a permit was asked for.
    async fn survives_reopening(path: &Path, asked: Option<&Arc<AtomicUsize>>) {
        {
            let db = Embedded::open(path).unwrap();
            if let Some(asked) = asked {
                let asked = Arc::clone(asked);
                db.commit_inline_when(move || {
                    asked.fetch_add(1, Ordering::Relaxed);
                    Some(Box::new(()))
                });
            }
            db.put("a/b", b"1".to_vec()).await.unwrap();
            db.transaction(vec![
                Op::Put("c".into(), b"2".to_vec()),
                Op::Delete("a/b".into()),
            ])
            .await
            .unwrap();
        }
        let db = Embedded::open(path).unwrap();
        assert_eq!(db.get("a/b").await.unwrap(), None);
        assert_eq!(db.get("c").await.unwrap(), Some(b"2".to_vec()));
    }
}
