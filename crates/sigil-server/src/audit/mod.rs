//! The audit log: every request is recorded before dispatch and every response after, on
//! every enabled device, in Vault's JSON shape with sensitive values HMACed, and — unlike
//! Vault — hash-chained so that edits, deletions, insertions and reordering are detectable
//! with [`verify`].
//!
//! Fail closed: a request proceeds only once at least one enabled device has written its
//! record (write + flush) within the timeout. With no device enabled, logging is a no-op.
//!
//! Writing is group commit: each device has a bounded queue, and the request that finds a
//! device's queue idle drains it, writing its own records and every record queued meanwhile
//! in one system call per batch. When the server has other connections or requests open
//! ([`Activity`]), that request first yields to the runtime once, so that the requests
//! able to run reach their own records and join its write: on a busy server one write then
//! carries several requests instead of one each, and the write is most of what the audit
//! log costs a request (`bench/server.sh`). With nothing else open it writes at once, as a
//! yield would only wake an idle runtime thread. If the request is cancelled while it
//! yields, its drain still runs as the request is dropped, so a queue it took charge of is
//! never left waiting. Where that drain runs:
//! - a regular file, on the request's own thread, when no other runtime thread is blocked
//!   in a disk write (an audit drain or a lone storage commit: one permit,
//!   [`Activity::claim_disk_write`]): no hand-off to another thread, whose wake-ups cost
//!   more than the write itself (`bench/server.sh`). A regular file's write waits only on
//!   the disk, as the storage's own writes do;
//! - anything else (stdout, a pipe, a device node, or a drain while the permit is taken),
//!   on the blocking pool, since a reader that stops reading blocks the write indefinitely.
//!
//! So a device that is stuck or failing holds no request longer than the timeout (except,
//! for a regular file on a stalled disk, the one request draining it), holds at most one
//! runtime thread (with the storage, at most one in all), and never blocks the other
//! devices; a full queue fails at once.
//!
//! Opening a file reads only its last line to continue the chain; run [`verify`] over the
//! whole file to check it. A drain stuck in the kernel keeps its device's claim on the
//! file after `disable` (released when the write returns): enabling a device on a file that
//! still has a writer is refused, so a file never has two chains.
//!
//! The broker does not store anything: salts are generated and kept in the barrier by the
//! caller (`sys/audit`), and handed to [`AuditBroker::enable`] at enable and at unseal.

mod chain;
mod device;
mod record;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sigil_core::SecretBytes;
use tokio::time::Instant;

use crate::activity::Activity;
use crate::api::{ApiError, Request, Response};

pub use chain::{GENESIS, VerifyError, VerifyErrorKind, VerifySummary, verify};
pub use device::DeviceConfig;
pub use record::{AuditAuth, AuditMount};

use device::{FileClaim, Job, OpenFiles, PushError, Sink, Writer};
use record::Salt;

/// How long a request waits for a device to record it, by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// How many records a device may have queued, by default.
pub const DEFAULT_QUEUE: usize = 1024;

/// The message of a request refused because nothing recorded it.
const NOT_RECORDED: &str = "audit: no device could record the request";

/// The enabled devices, and the one place requests and responses are logged.
#[derive(Debug)]
pub struct AuditBroker {
    devices: RwLock<BTreeMap<String, Device>>,
    timeout: Duration,
    queue: usize,
    failures: AtomicU64,
    files: OpenFiles,
    /// The server's connections and requests, for group commit, and the permit to drain a
    /// file inline (see the module doc).
    activity: Arc<Activity>,
}

/// The drains a request took charge of, run when this drops: after the request's yield, or
/// when the request is cancelled during it.
struct PendingDrains<'a> {
    broker: &'a AuditBroker,
    writers: Vec<Arc<Writer>>,
}

impl Drop for PendingDrains<'_> {
    fn drop(&mut self) {
        for writer in self.writers.drain(..) {
            self.broker.drain(writer);
        }
    }
}

/// One enabled device: its config (for `list`), its salt, and its queue.
#[derive(Debug)]
struct Device {
    config: DeviceConfig,
    salt: Salt,
    writer: Arc<Writer>,
}

impl Default for AuditBroker {
    fn default() -> Self {
        Self::new(DEFAULT_TIMEOUT, DEFAULT_QUEUE)
    }
}

impl AuditBroker {
    /// A broker with no devices; a log call waits at most `timeout`, and each device queues
    /// at most `queue` records (at least 1).
    pub fn new(timeout: Duration, queue: usize) -> Self {
        Self {
            devices: RwLock::new(BTreeMap::new()),
            timeout,
            queue: queue.max(1),
            failures: AtomicU64::new(0),
            files: OpenFiles::default(),
            activity: Arc::default(),
        }
    }

    /// The broker, reading how busy the server is from `activity`, which the HTTP layer
    /// keeps. A broker made with [`AuditBroker::new`] alone sees nothing else open, so it
    /// never yields before a write.
    pub fn watching(mut self, activity: Arc<Activity>) -> Self {
        self.activity = activity;
        self
    }

    /// Enables a device under `name` (Vault's path, e.g. `file`; a trailing `/` is ignored)
    /// with its 32-byte `salt`. A file device opens (or creates) its file now and continues
    /// its chain; an unwritable path is a 400.
    pub fn enable(
        &self,
        name: &str,
        config: DeviceConfig,
        salt: &SecretBytes,
    ) -> Result<(), ApiError> {
        let name = device_name(name)?;
        let salt = Salt::new(salt.expose_secret())?;
        if self.read()?.contains_key(&name) {
            return Err(ApiError::bad(format!("path already in use at {name}/")));
        }
        let (sink, chain): (Box<dyn Sink>, _) = match &config {
            DeviceConfig::File { path, mode, fsync } => {
                if *mode > 0o777 {
                    return Err(ApiError::bad(
                        "audit: mode must be an octal value up to 0777",
                    ));
                }
                let claim = FileClaim::take(&self.files, path).map_err(ApiError::bad)?;
                let (sink, chain) =
                    device::open_file(claim, path, *mode, *fsync).map_err(ApiError::bad)?;
                (Box::new(sink), chain)
            }
            DeviceConfig::Stdout => (Box::new(device::StdoutSink), chain::Chain::new()),
        };
        self.start(name, config, sink, chain, salt)
    }

    fn start(
        &self,
        name: String,
        config: DeviceConfig,
        sink: Box<dyn Sink>,
        chain: chain::Chain,
        salt: Salt,
    ) -> Result<(), ApiError> {
        let mut devices = self
            .devices
            .write()
            .map_err(|_| ApiError::internal("audit: device table poisoned"))?;
        if devices.contains_key(&name) {
            return Err(ApiError::bad(format!("path already in use at {name}/")));
        }
        let writer = Arc::new(Writer::new(sink, chain, self.queue));
        devices.insert(
            name,
            Device {
                config,
                salt,
                writer,
            },
        );
        Ok(())
    }

    /// Disables the device `name`; a drain under way finishes what is queued. Returns
    /// whether such a device was enabled. The caller deletes the salt.
    pub fn disable(&self, name: &str) -> Result<bool, ApiError> {
        let name = name.trim_end_matches('/');
        let mut devices = self
            .devices
            .write()
            .map_err(|_| ApiError::internal("audit: device table poisoned"))?;
        Ok(devices.remove(name).is_some())
    }

    /// The enabled devices, by name.
    pub fn list(&self) -> Result<Vec<(String, DeviceConfig)>, ApiError> {
        Ok(self
            .read()?
            .iter()
            .map(|(name, d)| (name.clone(), d.config.clone()))
            .collect())
    }

    /// `hmac-sha256:<hex>` of `input` under the salt of device `name` (`sys/audit-hash`), or
    /// `None` if no such device is enabled.
    pub fn hash(&self, device: &str, input: &str) -> Option<String> {
        let devices = self.devices.read().ok()?;
        devices
            .get(device.trim_end_matches('/'))
            .map(|d| d.salt.hmac(input))
    }

    /// How many log calls failed closed since start.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Records `req` before dispatch. An error means the request must not proceed.
    pub async fn log_request(
        &self,
        auth: &AuditAuth,
        req: &Request,
        mount: &AuditMount,
    ) -> Result<(), ApiError> {
        self.log(|salt| record::request_record(salt, auth, req, mount))
            .await
    }

    /// Records the outcome of `req` after dispatch. An error means the response must not be
    /// returned (Vault returns a 500 instead).
    pub async fn log_response(
        &self,
        auth: &AuditAuth,
        req: &Request,
        mount: &AuditMount,
        outcome: Result<&Response, &ApiError>,
    ) -> Result<(), ApiError> {
        self.log(|salt| record::response_record(salt, auth, req, mount, outcome))
            .await
    }

    /// Records a request that changed nothing together with its outcome, after dispatch:
    /// both records in one write on each device, in order. An error means the response must
    /// not be returned.
    pub async fn log_exchange(
        &self,
        auth: &AuditAuth,
        req: &Request,
        mount: &AuditMount,
        outcome: Result<&Response, &ApiError>,
    ) -> Result<(), ApiError> {
        self.log_records(|salt| record::exchange_records(salt, auth, req, mount, outcome))
            .await
    }

    /// Queues the record built by `build` on every device, and waits until one has written
    /// it, all have failed, or the timeout.
    async fn log(&self, build: impl Fn(&Salt) -> Vec<u8>) -> Result<(), ApiError> {
        self.log_records(|salt| vec![build(salt)]).await
    }

    /// Queues the records built by `build` (written together, in order) on every device, and
    /// waits until one has written them, all have failed, or the timeout.
    async fn log_records(&self, build: impl Fn(&Salt) -> Vec<Vec<u8>>) -> Result<(), ApiError> {
        let (reply, mut replies) = tokio::sync::mpsc::unbounded_channel();
        let mut pending = 0usize;
        let mut to_drain = Vec::new();
        {
            let devices = self.read()?;
            if devices.is_empty() {
                return Ok(());
            }
            for (name, d) in devices.iter() {
                // Serialized here, on the caller's thread: the writer only chains and writes.
                let job = Job {
                    records: build(&d.salt),
                    reply: reply.clone(),
                };
                match d.writer.push(job) {
                    Ok(drain) => {
                        pending += 1;
                        if drain {
                            to_drain.push(Arc::clone(&d.writer));
                        }
                    }
                    Err(PushError::Full) => {
                        tracing::warn!(device = %name, "audit device queue full");
                    }
                    Err(PushError::Poisoned) => {
                        tracing::warn!(device = %name, "audit device queue poisoned");
                    }
                }
            }
        }
        drop(reply);
        let drains = PendingDrains {
            broker: self,
            writers: to_drain,
        };
        if !drains.writers.is_empty() && self.activity.others() {
            tokio::task::yield_now().await;
        }
        drop(drains);
        let deadline = Instant::now() + self.timeout;
        while pending > 0 {
            match tokio::time::timeout_at(deadline, replies.recv()).await {
                Ok(Some(true)) => return Ok(()),
                Ok(Some(false)) => pending -= 1,
                Ok(None) | Err(_) => break,
            }
        }
        self.failures.fetch_add(1, Ordering::Relaxed);
        Err(ApiError::internal(NOT_RECORDED))
    }

    /// Runs `writer`'s drain: inline for a regular file when this is a multi-threaded
    /// runtime and no other runtime thread is blocked in a disk write (the permit of
    /// [`Activity::claim_disk_write`], shared with the store's inline commits), on the
    /// blocking pool otherwise (see the module doc).
    fn drain(&self, writer: Arc<Writer>) {
        /// Batches an inline drain writes before handing the rest to the blocking pool,
        /// so that a request is not kept writing others' records for long.
        const INLINE_ROUNDS: usize = 4;
        let multi_threaded = tokio::runtime::Handle::try_current().is_ok_and(|h| {
            h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
                && h.metrics().num_workers() > 1
        });
        let permit = (multi_threaded && writer.is_regular_file())
            .then(|| self.activity.claim_disk_write())
            .flatten();
        if let Some(permit) = permit {
            let more = writer.drain(INLINE_ROUNDS);
            drop(permit);
            if !more {
                return;
            }
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn_blocking(move || writer.drain(usize::MAX));
            }
            // Dropped outside a runtime (a cancelled request's pending drain): here, then.
            Err(_) => {
                writer.drain(usize::MAX);
            }
        }
    }

    fn read(&self) -> Result<std::sync::RwLockReadGuard<'_, BTreeMap<String, Device>>, ApiError> {
        self.devices
            .read()
            .map_err(|_| ApiError::internal("audit: device table poisoned"))
    }
}

/// A device name: Vault's path without the trailing slash; non-empty, no inner slashes.
fn device_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim_end_matches('/');
    if name.is_empty() || name.contains('/') {
        return Err(ApiError::bad(
            "audit: a device path must be one non-empty segment",
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests;
