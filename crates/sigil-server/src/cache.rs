//! A cache of what an engine reads from storage on its hot path, kept right by fencing the
//! engine's writes rather than by tracking which keys each write touches.
//!
//! The engine's router wraps every request that may write in a [`WriteGuard`], whatever path it
//! takes and whether it succeeds: while one is running nothing is cached, and when it ends
//! everything cached is dropped. A reader fills the cache only if no write ran between its
//! storage read and its insert (a generation counter says so), so a value read before a write
//! never outlives it.
//!
//! A write whose request is cancelled (its client went away) may still reach storage after its
//! guard is gone, so a cancelled write turns the cache off for the rest of its life: every
//! later read goes to storage, which is always right.
//!
//! The cache belongs to one engine instance, so to one mount. Sealing the server drops the
//! engines, and their caches with them.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::api::ApiError;

/// What a [`Fenced`] cache holds: anything that can be emptied.
pub(crate) trait Entries: Default {
    /// Drops everything held.
    fn clear(&mut self);
}

/// See the module documentation.
pub(crate) struct Fenced<C> {
    inner: Mutex<Inner<C>>,
    /// Names the cache in the error a poisoned lock gives.
    name: &'static str,
}

struct Inner<C> {
    /// Bumped when a write starts and when it ends.
    generation: u64,
    /// Writes running now.
    writing: usize,
    /// A write was cancelled: it may still land, so nothing is cached any more.
    off: bool,
    entries: C,
}

impl<C: Entries> Inner<C> {
    fn changed(&mut self) {
        self.generation += 1;
        self.entries.clear();
    }

    /// The generation a reader may fill at, if it may fill at all.
    fn fillable(&self) -> Option<u64> {
        (self.writing == 0 && !self.off).then_some(self.generation)
    }
}

impl<C> fmt::Debug for Fenced<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fenced")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<C: Entries> Fenced<C> {
    /// An empty cache; `name` appears only in the error a poisoned lock gives.
    pub(crate) fn new(name: &'static str) -> Self {
        Self {
            inner: Mutex::new(Inner {
                generation: 0,
                writing: 0,
                off: false,
                entries: C::default(),
            }),
            name,
        }
    }

    /// What `cached` finds, or else what `load` reads from storage, handed to `fill` to keep
    /// when no write overlapped the load. A failed load is not kept.
    pub(crate) async fn read<T>(
        &self,
        cached: impl FnOnce(&C) -> Option<Arc<T>>,
        load: impl Future<Output = Result<T, ApiError>>,
        fill: impl FnOnce(&mut C, Arc<T>),
    ) -> Result<Arc<T>, ApiError> {
        let generation = {
            let inner = self.lock()?;
            if let Some(hit) = cached(&inner.entries) {
                return Ok(hit);
            }
            inner.fillable()
        };
        let value = Arc::new(load.await?);
        let mut inner = self.lock()?;
        if generation.is_some() && inner.fillable() == generation {
            fill(&mut inner.entries, Arc::clone(&value));
        }
        Ok(value)
    }

    /// Marks a request that may write as running; see the module documentation.
    pub(crate) fn write(&self) -> WriteGuard<'_, C> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.writing += 1;
        inner.changed();
        WriteGuard {
            cache: self,
            finished: false,
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner<C>>, ApiError> {
        self.inner
            .lock()
            .map_err(|_| ApiError::internal(format!("the {} cache is poisoned", self.name)))
    }
}

/// A request that may write, running. [`WriteGuard::finish`] when it has ended; dropped
/// unfinished (the request was cancelled) it turns the cache off.
pub(crate) struct WriteGuard<'a, C: Entries> {
    cache: &'a Fenced<C>,
    finished: bool,
}

impl<C: Entries> WriteGuard<'_, C> {
    /// The request ended (successfully or not): whatever it wrote is in storage.
    pub(crate) fn finish(mut self) {
        self.finished = true;
    }
}

impl<C: Entries> Drop for WriteGuard<'_, C> {
    fn drop(&mut self) {
        // A poisoned lock means a panic elsewhere; the flags are still worth setting, since
        // readers refuse a poisoned cache anyway.
        let mut inner = self.cache.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.writing -= 1;
        if !self.finished {
            inner.off = true;
        }
        inner.changed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct One(Option<Arc<String>>);

    impl Entries for One {
        fn clear(&mut self) {
            self.0 = None;
        }
    }

    fn cache() -> Fenced<One> {
        Fenced::new("test")
    }

    /// Reads through the cache with `load` standing in for storage.
    async fn read(
        cache: &Fenced<One>,
        load: impl Future<Output = Result<String, ApiError>>,
    ) -> String {
        let value = cache
            .read(|c| c.0.clone(), load, |c, v| c.0 = Some(v))
            .await
            .unwrap();
        String::clone(&value)
    }

    fn held(cache: &Fenced<One>) -> bool {
        cache.inner.lock().unwrap().entries.0.is_some()
    }

    #[tokio::test]
    async fn a_read_fills_and_a_write_empties() {
        let cache = cache();
        read(&cache, async { Ok("a".into()) }).await;
        // Served from the cache: storage would say "b".
        assert_eq!(read(&cache, async { Ok("b".into()) }).await, "a");
        cache.write().finish();
        assert_eq!(read(&cache, async { Ok("b".into()) }).await, "b");
    }

    #[tokio::test]
    async fn a_read_that_overlaps_a_write_is_not_kept() {
        let cache = cache();
        // The write starts and ends while the read is at storage.
        read(&cache, async {
            cache.write().finish();
            Ok("old".into())
        })
        .await;
        assert_eq!(read(&cache, async { Ok("new".into()) }).await, "new");
        // A read while a write is running is not kept either.
        let guard = cache.write();
        read(&cache, async { Ok("during".into()) }).await;
        guard.finish();
        assert_eq!(read(&cache, async { Ok("after".into()) }).await, "after");
    }

    #[tokio::test]
    async fn a_failed_read_is_not_kept() {
        let cache = cache();
        let failed = cache
            .read(
                |c| c.0.clone(),
                async { Err(ApiError::internal("storage")) },
                |c, v| c.0 = Some(v),
            )
            .await;
        assert!(failed.is_err());
        assert!(!held(&cache));
    }

    #[tokio::test]
    async fn a_cancelled_write_turns_the_cache_off() {
        let cache = cache();
        read(&cache, async { Ok("a".into()) }).await;
        drop(cache.write());
        for n in ["b", "c"] {
            assert_eq!(read(&cache, async { Ok(n.into()) }).await, n);
        }
        // Even after a later write ends.
        cache.write().finish();
        read(&cache, async { Ok("d".into()) }).await;
        assert_eq!(read(&cache, async { Ok("e".into()) }).await, "e");
    }

    #[tokio::test]
    async fn two_writes_block_filling_until_both_end() {
        let cache = cache();
        let a = cache.write();
        let b = cache.write();
        a.finish();
        read(&cache, async { Ok("x".into()) }).await;
        assert!(!held(&cache));
        b.finish();
        read(&cache, async { Ok("y".into()) }).await;
        assert!(held(&cache));
    }
}
