//! How busy the server is: open connections and requests in progress.
//!
//! The HTTP layer counts both; the audit broker reads them to decide whether a request
//! about to write a device should first let the others reach their own records, so that
//! one write carries them all (group commit; see the `audit` module), and the embedded store
//! whether a write may commit on its request's thread (`sigil_storage::embedded`). A connection counts
//! from the start of its task (just after accept) to its close, a request from its headers
//! to its response, so an HTTP/1.1 client with several connections and an HTTP/2 client
//! with several streams both show as concurrent.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The server's open connections and requests in progress.
#[derive(Debug, Default)]
pub struct Activity {
    connections: AtomicUsize,
    requests: AtomicUsize,
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
}
