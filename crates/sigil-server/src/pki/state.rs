//! The engine's cache of what every `issue` and `sign` reads besides its own body: the role,
//! the resolved issuer and `config/urls`. Reading them from storage (a read transaction, the
//! barrier's decryption and a JSON parse each) cost a tenth of an issue's CPU.
//!
//! Only leaf requests read through the cache. Every other request that may write (role and
//! URL writes, issuer and key changes, imports, revocations, tidy) is wrapped in a
//! [`WriteGuard`] by the engine's router, whatever path it takes and whether it succeeds:
//! while one is running nothing is cached, and when it ends everything cached is dropped. A
//! reader fills the cache only if no write ran between its storage read and its insert (the
//! generation, as in the signer cache), so a value read before a write never outlives it.
//!
//! A write whose request is cancelled (its client went away) may still reach storage after
//! the guard is gone, so a cancelled write turns the cache off for the rest of the engine's
//! life: every later read goes to storage, which is always right.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use super::issuers::{self, IssuerEntry};
use super::role::Role;
use super::urls::Urls;
use crate::api::ApiError;
use crate::view::View;

/// The most roles, and separately issuer references, kept; past it, reads go to storage.
const MAX_ENTRIES: usize = 1024;

/// See the module documentation.
#[derive(Default)]
pub(super) struct StateCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Bumped when a write starts and when it ends.
    generation: u64,
    /// Writes running now.
    writing: usize,
    /// A write was cancelled: it may still land, so nothing is cached any more.
    off: bool,
    roles: HashMap<String, Arc<Role>>,
    issuers: HashMap<String, Arc<IssuerEntry>>,
    urls: Option<Arc<Urls>>,
}

impl Inner {
    fn changed(&mut self) {
        self.generation += 1;
        self.roles.clear();
        self.issuers.clear();
        self.urls = None;
    }

    /// The generation a reader may fill at, if it may fill at all.
    fn fillable(&self) -> Option<u64> {
        (self.writing == 0 && !self.off).then_some(self.generation)
    }
}

impl fmt::Debug for StateCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateCache").finish_non_exhaustive()
    }
}

impl StateCache {
    /// The role `name` (an unknown one is the same error as without the cache).
    pub(super) async fn role(&self, view: &View, name: &str) -> Result<Arc<Role>, ApiError> {
        self.read(
            |i| i.roles.get(name).cloned(),
            super::load_role(view, name),
            |i, role| {
                if i.roles.len() < MAX_ENTRIES {
                    i.roles.insert(name.to_owned(), role);
                }
            },
        )
        .await
    }

    /// The issuer `reference` names (an id, a name or `default`).
    pub(super) async fn issuer(
        &self,
        view: &View,
        reference: &str,
    ) -> Result<Arc<IssuerEntry>, ApiError> {
        self.read(
            |i| i.issuers.get(reference).cloned(),
            issuers::resolve_issuer(view, reference),
            |i, issuer| {
                if i.issuers.len() < MAX_ENTRIES {
                    i.issuers.insert(reference.to_owned(), issuer);
                }
            },
        )
        .await
    }

    /// The mount's `config/urls`.
    pub(super) async fn urls(&self, view: &View) -> Result<Arc<Urls>, ApiError> {
        self.read(
            |i| i.urls.clone(),
            Urls::load(view),
            |i, urls| i.urls = Some(urls),
        )
        .await
    }

    async fn read<T>(
        &self,
        cached: impl FnOnce(&Inner) -> Option<Arc<T>>,
        load: impl Future<Output = Result<T, ApiError>>,
        fill: impl FnOnce(&mut Inner, Arc<T>),
    ) -> Result<Arc<T>, ApiError> {
        let generation = {
            let inner = self.lock()?;
            if let Some(hit) = cached(&inner) {
                return Ok(hit);
            }
            inner.fillable()
        };
        let value = Arc::new(load.await?);
        let mut inner = self.lock()?;
        if generation.is_some() && inner.fillable() == generation {
            fill(&mut inner, Arc::clone(&value));
        }
        Ok(value)
    }

    /// Marks a request that may write as running; see the module documentation.
    pub(super) fn write(&self) -> WriteGuard<'_> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.writing += 1;
        inner.changed();
        WriteGuard {
            cache: self,
            finished: false,
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, ApiError> {
        self.inner
            .lock()
            .map_err(|_| ApiError::internal("the pki state cache is poisoned"))
    }
}

/// A request that may write, running. [`WriteGuard::finish`] when it has ended; dropped
/// unfinished (the request was cancelled) it turns the cache off.
pub(super) struct WriteGuard<'a> {
    cache: &'a StateCache,
    finished: bool,
}

impl WriteGuard<'_> {
    /// The request ended (successfully or not): whatever it wrote is in storage.
    pub(super) fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for WriteGuard<'_> {
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

    /// Reads `config/urls` through the cache with `load` standing in for storage.
    async fn read_urls(
        cache: &StateCache,
        load: impl Future<Output = Result<Urls, ApiError>>,
    ) -> Arc<Urls> {
        cache
            .read(|i| i.urls.clone(), load, |i, u| i.urls = Some(u))
            .await
            .unwrap()
    }

    fn urls(issuing: &str) -> Urls {
        Urls {
            issuing_certificates: vec![issuing.to_owned()],
            ..Urls::default()
        }
    }

    #[tokio::test]
    async fn a_read_fills_and_a_write_empties() {
        let cache = StateCache::default();
        read_urls(&cache, async { Ok(urls("a")) }).await;
        // Served from the cache: storage would say "b".
        let hit = read_urls(&cache, async { Ok(urls("b")) }).await;
        assert_eq!(hit.issuing_certificates, ["a"]);
        cache.write().finish();
        let fresh = read_urls(&cache, async { Ok(urls("b")) }).await;
        assert_eq!(fresh.issuing_certificates, ["b"]);
    }

    #[tokio::test]
    async fn a_read_that_overlaps_a_write_is_not_kept() {
        let cache = StateCache::default();
        // The write starts and ends while the read is at storage.
        read_urls(&cache, async {
            cache.write().finish();
            Ok(urls("old"))
        })
        .await;
        let next = read_urls(&cache, async { Ok(urls("new")) }).await;
        assert_eq!(next.issuing_certificates, ["new"]);
        // A read while a write is running is not kept either.
        let guard = cache.write();
        read_urls(&cache, async { Ok(urls("during")) }).await;
        guard.finish();
        let after = read_urls(&cache, async { Ok(urls("after")) }).await;
        assert_eq!(after.issuing_certificates, ["after"]);
    }

    #[tokio::test]
    async fn a_failed_read_is_not_kept() {
        let cache = StateCache::default();
        let failed = cache
            .read(
                |i| i.urls.clone(),
                async { Err::<Urls, _>(ApiError::internal("storage")) },
                |i, u| i.urls = Some(u),
            )
            .await;
        assert!(failed.is_err());
        assert!(cache.inner.lock().unwrap().urls.is_none());
    }

    #[tokio::test]
    async fn a_cancelled_write_turns_the_cache_off() {
        let cache = StateCache::default();
        read_urls(&cache, async { Ok(urls("a")) }).await;
        drop(cache.write());
        for n in ["b", "c"] {
            let read = read_urls(&cache, async { Ok(urls(n)) }).await;
            assert_eq!(read.issuing_certificates, [n]);
        }
        // Even after a later write ends.
        cache.write().finish();
        read_urls(&cache, async { Ok(urls("d")) }).await;
        let read = read_urls(&cache, async { Ok(urls("e")) }).await;
        assert_eq!(read.issuing_certificates, ["e"]);
    }

    #[tokio::test]
    async fn two_writes_block_filling_until_both_end() {
        let cache = StateCache::default();
        let a = cache.write();
        let b = cache.write();
        a.finish();
        read_urls(&cache, async { Ok(urls("x")) }).await;
        assert!(cache.inner.lock().unwrap().urls.is_none());
        b.finish();
        read_urls(&cache, async { Ok(urls("y")) }).await;
        assert!(cache.inner.lock().unwrap().urls.is_some());
    }
}
