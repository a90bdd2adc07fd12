//! Audit devices: where lines go (a file or stdout), how a file continues its chain after a
//! restart, and the bounded queue each device owns ([`Writer`]).
//!
//! A device's lines are written by one drainer at a time, which assigns `seq` as it writes,
//! so lines in one file are in seq order whatever the number of concurrent callers. Where
//! the drainer runs, and why a blocked device never holds up the runtime or the other
//! devices, is the broker's part (see the `audit` module).
//!
//! Durability: each line is written with its newline and flushed to the operating system
//! before the caller is told it is recorded. There is no fsync unless the device's config
//! asks for it (`fsync: true`): a power loss may then lose the last lines, or leave a torn
//! last line, which the next open repairs (see [`open_file`]).
//!
//! A torn last line (a crash mid-write): on open, the bytes after the last newline are cut
//! off and a record `{"type":"audit","event":"torn_tail_truncated","truncated_bytes":N}` is
//! written as the next link of the chain, so `verify` passes and the event stays visible.
//! A last complete line that is not a chained record is not repaired: the device refuses
//! to open, and the operator must look at the file.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde_json::Map;
use tokio::sync::mpsc::UnboundedSender;

use crate::audit::chain::Chain;
use crate::audit::record::rfc3339_nanos;

/// How to enable a device.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceConfig {
    /// Append to a file, created with `mode` (default `0o600`).
    File {
        /// The file's path; its directory must exist.
        path: PathBuf,
        /// The permission bits for the file (applied on every open).
        mode: u32,
        /// Whether to fsync after every line (slower; survives power loss).
        fsync: bool,
    },
    /// Write to the server's standard output (a chain that restarts at seq 1 with the
    /// process).
    Stdout,
}

impl DeviceConfig {
    /// A file device with mode `0o600` and no fsync.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self::File {
            path: path.into(),
            mode: 0o600,
            fsync: false,
        }
    }

    /// The device type as `sys/audit` lists it: `file` or `stdout`. (Vault spells a stdout
    /// device as a file device with `file_path=stdout`; the router maps that here.)
    pub fn kind(&self) -> &'static str {
        match self {
            Self::File { .. } => "file",
            Self::Stdout => "stdout",
        }
    }
}

/// Where a device's lines go. `write_lines` writes `lines` (whole lines, each ending in a
/// newline) and flushes; on error it leaves the destination as it was before the call if it
/// can.
pub(crate) trait Sink: Send + 'static {
    fn write_lines(&mut self, lines: &[u8]) -> io::Result<()>;

    /// Whether writes go to a regular file: they wait on the disk, never on a reader (a
    /// pipe, a terminal), so a request may write them on its own thread.
    fn is_regular_file(&self) -> bool {
        false
    }
}

/// The files that have a live writer, shared by a broker's devices.
pub(crate) type OpenFiles = Arc<Mutex<HashSet<PathBuf>>>;

/// A file's writer holds this until its thread ends, so that no two writers (two device
/// names, or a re-enable while a disabled device is still stuck in a write) share a file.
#[derive(Debug)]
pub(crate) struct FileClaim {
    key: PathBuf,
    open: OpenFiles,
}

impl FileClaim {
    /// Claims `path` (by its canonical directory and file name), or says who holds it.
    pub(crate) fn take(open: &OpenFiles, path: &Path) -> Result<Self, String> {
        let key = match (path.parent(), path.file_name()) {
            (Some(dir), Some(name)) => {
                let dir = if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                };
                std::fs::canonicalize(dir)
                    .map(|d| d.join(name))
                    .unwrap_or_else(|_| path.to_owned())
            }
            _ => path.to_owned(),
        };
        let mut held = open
            .lock()
            .map_err(|_| "audit: open-file table poisoned".to_owned())?;
        if !held.insert(key.clone()) {
            return Err(format!(
                "audit: {} already has a writer (another device, or a disabled one still \
                 finishing a write)",
                path.display()
            ));
        }
        Ok(Self {
            key,
            open: Arc::clone(open),
        })
    }
}

impl Drop for FileClaim {
    fn drop(&mut self) {
        if let Ok(mut held) = self.open.lock() {
            held.remove(&self.key);
        }
    }
}

/// An append-only file.
#[derive(Debug)]
pub(crate) struct FileSink {
    /// Released when the sink drops, i.e. when the writer thread ends.
    _claim: FileClaim,
    file: File,
    /// The length after the last complete line: a failed write is cut back to it, so a
    /// half-written line never precedes the next record.
    len: u64,
    fsync: bool,
    regular: bool,
}

impl Sink for FileSink {
    fn is_regular_file(&self) -> bool {
        self.regular
    }

    fn write_lines(&mut self, lines: &[u8]) -> io::Result<()> {
        let written = self.file.write_all(lines).and_then(|()| self.file.flush());
        let synced = written.and_then(|()| {
            if self.fsync {
                self.file.sync_data()
            } else {
                Ok(())
            }
        });
        match synced {
            Ok(()) => {
                self.len += lines.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Best effort: a device that cannot write probably cannot truncate either.
                let _ = self.file.set_len(self.len);
                Err(e)
            }
        }
    }
}

/// The process's standard output.
#[derive(Debug)]
pub(crate) struct StdoutSink;

impl Sink for StdoutSink {
    fn write_lines(&mut self, lines: &[u8]) -> io::Result<()> {
        let mut out = io::stdout().lock();
        out.write_all(lines)?;
        out.flush()
    }
}

/// Opens (or creates) an audit file and continues its chain from the last complete line,
/// repairing a torn last line as the module doc describes.
pub(crate) fn open_file(
    claim: FileClaim,
    path: &Path,
    mode: u32,
    fsync: bool,
) -> Result<(FileSink, Chain), String> {
    let fail = |what: &str, e: &io::Error| format!("audit: cannot {what} {}: {e}", path.display());
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(mode)
        .open(path)
        .map_err(|e| fail("open", &e))?;
    let meta = file.metadata().map_err(|e| fail("stat", &e))?;
    if meta.is_file() {
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| fail("set the mode of", &e))?;
    }
    let len = meta.len();
    let (complete, chain) = resume(&mut file, len).map_err(|e| fail("read", &e))?;
    let chain = chain.map_err(|why| format!("audit: {}: {why}", path.display()))?;
    let mut sink = FileSink {
        _claim: claim,
        file,
        len: complete,
        fsync,
        regular: meta.is_file(),
    };
    let mut chain = chain;
    if complete < len {
        sink.file
            .set_len(complete)
            .map_err(|e| fail("truncate the torn last line of", &e))?;
        let mut rec = Map::new();
        rec.insert("type".into(), "audit".into());
        rec.insert("time".into(), rfc3339_nanos(SystemTime::now()).into());
        rec.insert("event".into(), "torn_tail_truncated".into());
        rec.insert("truncated_bytes".into(), (len - complete).into());
        let mut line = chain.seal(&rec);
        line.push(b'\n');
        sink.write_lines(&line).map_err(|e| fail("write to", &e))?;
        chain.commit(&line[..line.len() - 1]);
    }
    Ok((sink, chain))
}

/// Finds the end of the last complete line (the length to keep) and the chain after it.
fn resume(file: &mut File, len: u64) -> io::Result<(u64, Result<Chain, String>)> {
    let Some(nl) = rfind_newline(file, len)? else {
        // Empty, or a single torn line: start over.
        return Ok((0, Ok(Chain::new())));
    };
    let start = rfind_newline(file, nl)?.map_or(0, |p| p + 1);
    let mut line = vec![0; usize::try_from(nl - start).unwrap_or(0)];
    file.seek(SeekFrom::Start(start))?;
    file.read_exact(&mut line)?;
    Ok((nl + 1, Chain::after(&line)))
}

/// The offset of the last `\n` before `end`, reading backwards in blocks.
fn rfind_newline(file: &mut File, end: u64) -> io::Result<Option<u64>> {
    const BLOCK: u64 = 8192;
    let mut hi = end;
    let mut buf = vec![0; BLOCK as usize];
    while hi > 0 {
        let lo = hi.saturating_sub(BLOCK);
        let chunk = &mut buf[..(hi - lo) as usize];
        file.seek(SeekFrom::Start(lo))?;
        file.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok(Some(lo + i as u64));
        }
        hi = lo;
    }
    Ok(None)
}

/// Most jobs one write carries.
const MAX_BATCH: usize = 64;

/// Records for a device, written together and in order: each a serialized JSON object
/// without `seq`/`prev`, and where to say whether they were written.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) records: Vec<Vec<u8>>,
    pub(crate) reply: UnboundedSender<bool>,
}

/// A device's queue and its sink.
///
/// Group commit without a thread of its own: a caller queues its job, and the caller that
/// finds nobody draining the queue drains it, writing every job queued meanwhile with one
/// system call per batch (see [`Writer::drain`]). Who runs the drain is the broker's
/// choice: the caller's own thread for a regular file, the blocking pool otherwise.
pub(crate) struct Writer {
    queue: Mutex<Queue>,
    /// Held by the one drainer; its sink is written outside the queue's lock, so callers
    /// queue while a batch is being written.
    io: Mutex<Io>,
    capacity: usize,
    /// Whether the sink is a regular file (see [`Sink::is_regular_file`]).
    regular_file: bool,
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    draining: bool,
}

struct Io {
    sink: Box<dyn Sink>,
    chain: Chain,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

/// Why a job was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PushError {
    /// `capacity` jobs are already waiting.
    Full,
    /// The queue's lock is poisoned.
    Poisoned,
}

impl Writer {
    /// A writer for `sink`, continuing `chain`, that holds at most `capacity` waiting jobs.
    pub(crate) fn new(sink: Box<dyn Sink>, chain: Chain, capacity: usize) -> Self {
        Self {
            regular_file: sink.is_regular_file(),
            queue: Mutex::new(Queue::default()),
            io: Mutex::new(Io { sink, chain }),
            capacity: capacity.max(1),
        }
    }

    /// Whether the sink is a regular file, whose writes do not wait on a reader.
    pub(crate) fn is_regular_file(&self) -> bool {
        self.regular_file
    }

    /// Queues `job`. `Ok(true)`: nobody is draining, and the caller must now see that
    /// [`Writer::drain`] runs.
    pub(crate) fn push(&self, job: Job) -> Result<bool, PushError> {
        let mut queue = self.queue.lock().map_err(|_| PushError::Poisoned)?;
        if queue.jobs.len() >= self.capacity {
            return Err(PushError::Full);
        }
        queue.jobs.push(job);
        Ok(!std::mem::replace(&mut queue.draining, true))
    }

    /// Writes queued jobs, a batch per system call, until the queue is empty (`false`) or
    /// `rounds` batches were written (`true`: jobs remain, and the caller must see that
    /// `drain` runs again). Only the caller that [`Writer::push`] told to drain calls this.
    pub(crate) fn drain(&self, rounds: usize) -> bool {
        for _ in 0..rounds {
            let jobs = {
                let Ok(mut queue) = self.queue.lock() else {
                    return false;
                };
                if queue.jobs.is_empty() {
                    queue.draining = false;
                    return false;
                }
                let n = queue.jobs.len().min(MAX_BATCH);
                queue.jobs.drain(..n).collect::<Vec<_>>()
            };
            self.write_batch(jobs);
        }
        true
    }

    /// Chains and writes `jobs` as one block, and tells each caller whether it was written:
    /// the batch is recorded whole or not at all.
    fn write_batch(&self, jobs: Vec<Job>) {
        let ok = match self.io.lock() {
            Ok(mut io) => {
                let io = &mut *io;
                let before = io.chain.clone();
                let records = jobs.iter().flat_map(|job| &job.records);
                let size: usize = records.clone().map(|r| r.len() + Chain::SEAL_LEN + 1).sum();
                let mut block = Vec::with_capacity(size);
                for record in records {
                    let start = block.len();
                    io.chain.seal_json_into(record, &mut block);
                    io.chain.commit(&block[start..]);
                    block.push(b'\n');
                }
                // The sink writes the whole block, or cuts the file back to where it was.
                match io.sink.write_lines(&block) {
                    Ok(()) => true,
                    Err(e) => {
                        io.chain = before;
                        let seq = io.chain.seq() + 1;
                        tracing::warn!(seq, error = %e, "audit device write failed");
                        false
                    }
                }
            }
            Err(_) => false,
        };
        // A caller may have given up (timeout); its line is written all the same.
        for job in jobs {
            let _ = job.reply.send(ok);
        }
    }
}
