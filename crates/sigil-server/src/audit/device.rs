//! Audit devices: where lines go (a file or stdout), how a file continues its chain after a
//! restart, and the writer thread with its bounded queue that each device owns.
//!
//! Each device has its own OS thread, fed through a bounded queue: a device whose disk or
//! pipe blocks holds up only its own thread, never the runtime or the other devices. The
//! thread assigns `seq` as it writes, so lines in one file are in seq order whatever the
//! number of concurrent callers.
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
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde_json::Map;
use tokio::sync::mpsc::UnboundedSender;

use crate::api::ApiError;
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

/// Where a device's lines go. `write_line` writes `line` and a newline, and flushes; on
/// error it leaves the destination as it was before the call if it can.
pub(crate) trait Sink: Send + 'static {
    fn write_line(&mut self, line: &[u8]) -> io::Result<()>;
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
}

impl Sink for FileSink {
    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line);
        buf.push(b'\n');
        let written = self.file.write_all(&buf).and_then(|()| self.file.flush());
        let synced = written.and_then(|()| {
            if self.fsync {
                self.file.sync_data()
            } else {
                Ok(())
            }
        });
        match synced {
            Ok(()) => {
                self.len += buf.len() as u64;
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
    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        let mut out = io::stdout().lock();
        out.write_all(line)?;
        out.write_all(b"\n")?;
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
        let line = chain.seal(&rec);
        sink.write_line(&line).map_err(|e| fail("write to", &e))?;
        chain.commit(&line);
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

/// Most records one write carries.
const MAX_BATCH: usize = 64;

/// Records for a device's writer, written together and in order: each a serialized JSON
/// object without `seq`/`prev`, and where to say whether they were written.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) records: Vec<Vec<u8>>,
    pub(crate) reply: UnboundedSender<bool>,
}

/// Starts a device's writer thread with a queue of `capacity` records. The thread ends when
/// the returned sender (the device) is dropped and its queue is drained.
pub(crate) fn spawn_writer(
    name: &str,
    mut sink: Box<dyn Sink>,
    mut chain: Chain,
    capacity: usize,
) -> Result<SyncSender<Job>, ApiError> {
    let (tx, rx) = sync_channel::<Job>(capacity);
    std::thread::Builder::new()
        .name(format!("audit-{name}"))
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                // Records queued meanwhile go out in the same write: under load one wakeup
                // and one system call serve many requests.
                let mut jobs = vec![first];
                while jobs.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(job) => jobs.push(job),
                        Err(_) => break,
                    }
                }
                let before = chain.clone();
                let mut block = Vec::new();
                let mut replies = Vec::with_capacity(jobs.len());
                for job in jobs {
                                        for record in job.records {
                        let line = chain.seal_json(&record);
                        chain.commit(&line);
                        if !block.is_empty() {
                            block.push(b'\n');
                        }
                        block.extend_from_slice(&line);
                    }
                    replies.push(job.reply);
                }
                // The sink writes the block and its final newline, or cuts the file back to
                // where it was: the batch is recorded whole or not at all.
                let ok = match sink.write_line(&block) {
                    Ok(()) => true,
                    Err(e) => {
                        chain = before;
                        tracing::warn!(seq = chain.seq() + 1, error = %e, "audit device write failed");
                        false
                    }
                };
                // A caller may have given up (timeout); its line is written all the same.
                for reply in replies {
                    let _ = reply.send(ok);
                }
            }
        })
        .map_err(|_| ApiError::internal("audit: cannot start the device's writer"))?;
    Ok(tx)
}
