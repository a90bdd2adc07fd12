//! The engine's cache of what every `issue` and `sign` reads besides its own body: the role,
//! the resolved issuer and `config/urls`. Reading them from storage (a read transaction, the
//! barrier's decryption and a JSON parse each) cost a tenth of an issue's CPU.
//!
//! Only leaf requests read through the cache. Every other request that may write (role and
//! URL writes, issuer and key changes, imports, revocations, tidy) is fenced by the engine's
//! router (see [`crate::cache`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::issuers::{self, IssuerEntry};
use super::role::Role;
use super::urls::Urls;
use crate::api::ApiError;
use crate::cache::{Entries, Fenced, WriteGuard};
use crate::view::View;

/// The most roles, and separately issuer references, kept; past it, reads go to storage.
const MAX_ENTRIES: usize = 1024;

/// See the module documentation.
pub(super) struct StateCache(Fenced<State>);

#[derive(Default)]
struct State {
    roles: HashMap<String, Arc<Role>>,
    issuers: HashMap<String, Arc<IssuerEntry>>,
    urls: Option<Arc<Urls>>,
}

impl Entries for State {
    fn clear(&mut self) {
        self.roles.clear();
        self.issuers.clear();
        self.urls = None;
    }
}

impl Default for StateCache {
    fn default() -> Self {
        Self(Fenced::new("pki state"))
    }
}

impl fmt::Debug for StateCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateCache").finish_non_exhaustive()
    }
}

/// Keeps `value` under `key` unless `map` is full.
fn keep<T>(map: &mut HashMap<String, Arc<T>>, key: &str, value: Arc<T>) {
    if map.len() < MAX_ENTRIES {
        map.insert(key.to_owned(), value);
    }
}

impl StateCache {
    /// The role `name` (an unknown one is the same error as without the cache).
    pub(super) async fn role(&self, view: &View, name: &str) -> Result<Arc<Role>, ApiError> {
        self.0
            .read(
                |s| s.roles.get(name).cloned(),
                super::load_role(view, name),
                |s, role| keep(&mut s.roles, name, role),
            )
            .await
    }

    /// The issuer `reference` names (an id, a name or `default`).
    pub(super) async fn issuer(
        &self,
        view: &View,
        reference: &str,
    ) -> Result<Arc<IssuerEntry>, ApiError> {
        self.0
            .read(
                |s| s.issuers.get(reference).cloned(),
                issuers::resolve_issuer(view, reference),
                |s, issuer| keep(&mut s.issuers, reference, issuer),
            )
            .await
    }

    /// The mount's `config/urls`.
    pub(super) async fn urls(&self, view: &View) -> Result<Arc<Urls>, ApiError> {
        self.0
            .read(
                |s| s.urls.clone(),
                Urls::load(view),
                |s, urls| s.urls = Some(urls),
            )
            .await
    }

    /// Marks a request that may write as running; see [`crate::cache`].
    pub(super) fn write(&self) -> WriteGuard<'_, impl Entries> {
        self.0.write()
    }
}
