//! How busy the server is: open connections and requests in progress.
//!
//! The HTTP layer counts both. The audit broker reads them to decide whether a request
//! about to write a device should first let the others reach their own records, so that
//! one write carries them all (group commit; see the `audit` module); the embedded store,
//! whether a write may commit on its request's thread (`sigil_storage::embedded`). A
//! connection counts from the start of its task (just after accept) to its close, a request
//! from its headers to its response, so an HTTP/1.1 client with several connections and an
//! HTTP/2 client with several streams both show as concurrent.
//!
//! It also hands out the one permit for a runtime thread to block in a disk write
//! ([`Activity::claim_disk_write`]): an audit drain to a regular file and a lone storage
//! commit both write on their request's thread, and sharing one permit keeps a stalled disk
//! from holding more than one runtime thread, so the other keeps answering (`sys/health`
//! among them).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The server's open connections and requests in progress.
#[derive(Debug, Default)]
pub struct Activity {
    connections: AtomicUsize,
    requests: AtomicUsize,
    /// Whether a runtime thread holds the disk-write permit.
    disk_write: AtomicBool,
}

/// The permit to block a runtime thread in a disk write, released when this drops.
#[derive(Debug)]
#[must_use = "the permit is released when it drops"]
pub struct DiskWrite(Arc<Activity>);

impl Drop for DiskWrite {
    fn drop(&mut self) {
        self.0.disk_write.store(false, Ordering::Release);
    }
}

/// One connection or request, counted until this drops.
#[derive(Debug)]
#[must_use = "it counts only while it is held"]
pub struct Counted<'a>(&'a AtomicUsize);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn count(counter: &AtomicUsize) -> Counted<'_> {
    counter.fetch_add(1, Ordering::Relaxed);
    Counted(counter)
}

impl Activity {
    /// Counts an open connection until the guard drops.
    pub fn connection(&self) -> Counted<'_> {
        count(&self.connections)
    }

    /// Counts a request in progress until the guard drops.
    pub fn request(&self) -> Counted<'_> {
        count(&self.requests)
    }

    /// Whether anything besides the caller's own connection and request is open: another
    /// connection, or another request (an HTTP/2 stream) on the same one.
    pub fn others(&self) -> bool {
        self.connections.load(Ordering::Relaxed) > 1 || self.requests.load(Ordering::Relaxed) > 1
    }

    /// Whether no request besides the caller's own is in progress. Unlike [`Self::others`],
    /// idle connections (a client's pool, the dev agent's) do not count: nothing on them
    /// waits for a thread.
    pub fn no_other_request(&self) -> bool {
        self.requests.load(Ordering::Relaxed) <= 1
    }

    /// The permit to block this runtime thread in a disk write, unless another thread holds
    /// it.
    pub fn claim_disk_write(self: &Arc<Self>) -> Option<DiskWrite> {
        self.disk_write
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            .then(|| DiskWrite(Arc::clone(self)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_the_guards() {
        let activity = Activity::default();
        assert!(!activity.others());
        let conn = activity.connection();
        let req = activity.request();
        assert!(!activity.others(), "the caller alone");
        let second = activity.request();
        assert!(activity.others(), "two streams on one connection");
        drop(second);
        assert!(!activity.others());
        assert!(activity.no_other_request());
        let other = activity.connection();
        assert!(activity.others(), "another connection, even idle");
        assert!(
            activity.no_other_request(),
            "an idle connection is no request"
        );
        let second = activity.request();
        assert!(!activity.no_other_request());
        drop((second, other, req, conn));
        assert!(!activity.others());
        assert!(activity.no_other_request());
    }

    #[test]
    fn one_disk_write_permit_at_a_time() {
        let activity = Arc::new(Activity::default());
        let permit = activity.claim_disk_write().expect("free");
        assert!(activity.claim_disk_write().is_none(), "held");
        drop(permit);
        assert!(activity.claim_disk_write().is_some(), "released on drop");
    }
}
