//! The token store: service tokens, their accessors, TTLs, uses and the parent → child tree.
//!
//! A token's secret id is never stored: entries live under `id/<hex HMAC-SHA256(store key,
//! token)>`, where the store key is random, made on first use and kept in the view. Indexes:
//! `accessor/<accessor>` holds that HMAC; `parent/<parent accessor>/<child accessor>` is the
//! tree that revocation walks. Lookups find entries by their HMAC key, so no secret is ever
//! compared byte by byte.
//!
//! Looked-up entries are cached in memory (bounded), so a request does not read and decrypt
//! its token's entry from storage. Every write of the store empties the cache after it
//! commits, and a lookup that read storage before a write cannot put its stale entry back
//! (a generation count is checked under the cache's lock): a revoked or changed token is
//! never served from the cache.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use serde::{Deserialize, Serialize};
use sigil_core::hash::{MacAlgorithm, MacKey};
use sigil_storage::Page;
use tokio::sync::{Mutex, OnceCell};

use crate::api::{ApiError, Auth};
use crate::view::{View, ViewOp, to_json};

/// Vault's default token TTL: 768h.
pub const DEFAULT_TTL: u64 = 768 * 3600;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A stored token, as the router and handlers see the caller. Holds no secret: the token
/// itself is only the HMAC in `hash`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenEntry {
    /// The accessor (safe to show).
    pub accessor: String,
    /// Policies attached to the token.
    pub policies: Vec<String>,
    /// Token metadata.
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    /// Display name (`token` or `token-<name>`, `approle`).
    #[serde(default)]
    pub display_name: String,
    /// Uses left (0 = unlimited).
    #[serde(default)]
    pub num_uses: u64,
    /// Unix seconds at creation.
    #[serde(default)]
    pub creation_time: u64,
    /// The TTL given at creation, in seconds (0 = none).
    #[serde(default)]
    pub creation_ttl: u64,
    /// Hard cap on the lifetime, in seconds from creation (0 = none).
    #[serde(default)]
    pub explicit_max_ttl: u64,
    /// The issuing auth method's TTL ceiling, from creation (0 = the store's maximum).
    #[serde(default)]
    pub max_ttl: u64,
    /// Renewal period for periodic tokens (0 = not periodic).
    #[serde(default)]
    pub period: u64,
    /// Whether the token may be renewed.
    #[serde(default)]
    pub renewable: bool,
    /// Whether the token has no parent.
    #[serde(default)]
    pub orphan: bool,
    /// The path that created it (`auth/token/create`, `auth/approle/login`).
    #[serde(default)]
    pub path: String,
    /// The parent's accessor (empty for orphans).
    #[serde(default)]
    pub parent: String,
    /// Unix seconds when it expires (0 = never).
    #[serde(default)]
    pub expire_time: u64,
    /// Hex HMAC of the token (the storage key; not the token).
    #[serde(default)]
    pub hash: String,
}

impl TokenEntry {
    /// Whether this is a root token.
    pub fn is_root(&self) -> bool {
        self.policies.iter().any(|p| p == "root")
    }

    /// Seconds left at `now` (0 for tokens that never expire).
    pub fn ttl_at(&self, now: u64) -> u64 {
        if self.expire_time == 0 {
            0
        } else {
            self.expire_time.saturating_sub(now)
        }
    }

    /// The `auth` block for this entry and its token.
    pub fn auth(&self, client_token: String, now: u64) -> Auth {
        Auth {
            client_token,
            accessor: self.accessor.clone(),
            policies: self.policies.clone(),
            token_policies: self.policies.clone(),
            identity_policies: Vec::new(),
            metadata: self
                .meta
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().into()))
                .collect(),
            lease_duration: self.ttl_at(now),
            renewable: self.renewable,
            entity_id: String::new(),
            token_type: "service".into(),
            orphan: self.orphan,
            num_uses: self.num_uses,
        }
    }
}

/// What a caller asks for when creating a token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenParams {
    /// Requested policies (`None`: the parent's).
    pub policies: Option<Vec<String>>,
    /// Metadata.
    pub meta: BTreeMap<String, String>,
    /// Display name suffix.
    pub display_name: String,
    /// Requested TTL in seconds (`None` or 0: the default).
    pub ttl: Option<u64>,
    /// Hard lifetime cap.
    pub explicit_max_ttl: u64,
    /// Renewal period (periodic token).
    pub period: u64,
    /// Renewable (Vault's default is true).
    pub renewable: Option<bool>,
    /// Create without a parent.
    pub no_parent: bool,
    /// Do not attach `default`.
    pub no_default_policy: bool,
    /// Uses allowed (0 = unlimited).
    pub num_uses: u64,
    /// The creating path.
    pub path: String,
    /// Extra TTL ceiling from the issuing auth method (0 = none), e.g. AppRole's `token_max_ttl`.
    pub max_ttl: u64,
}

/// The token store.
pub struct TokenStore {
    view: View,
    default_ttl: u64,
    max_ttl: u64,
    key: OnceCell<MacKey>,
    // Serializes read-modify-write of entries (uses, renewals, revocation).
    lock: Mutex<()>,
    cache: EntryCache,
}

/// The most entries the lookup cache holds; it is emptied when full.
const CACHE_MAX: usize = 4096;

/// Entries by HMAC, with the generation of the last write.
#[derive(Default)]
struct EntryCache {
    generation: AtomicU64,
    map: RwLock<HashMap<String, Arc<TokenEntry>>>,
}

impl EntryCache {
    fn get(&self, hash: &str) -> Option<Arc<TokenEntry>> {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(hash)
            .cloned()
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches `entry` unless a write happened since `generation` was read.
    fn insert(&self, generation: u64, hash: &str, entry: Arc<TokenEntry>) {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if map.len() >= CACHE_MAX {
            map.clear();
        }
        map.insert(hash.to_owned(), entry);
    }

    /// Called after every write.
    fn invalidate(&self) {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        map.clear();
    }
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenStore")
            .field("view", &self.view)
            .field("default_ttl", &self.default_ttl)
            .field("max_ttl", &self.max_ttl)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// A fresh random base62 string of `len` characters (unbiased: rejection sampling).
pub fn random_base62(len: usize) -> Result<String, ApiError> {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let bytes = sigil_core::random::bytes(len * 2).map_err(ApiError::internal)?;
        for b in bytes {
            // 248 = 4 * 62: values at or above it would bias the result.
            if b < 248 && out.len() < len {
                out.push(char::from(BASE62[usize::from(b % 62)]));
            }
        }
    }
    Ok(out)
}

fn sanitize(policies: &[String]) -> Vec<String> {
    let mut out: Vec<String> = policies
        .iter()
        .map(|p| p.trim().to_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

impl TokenStore {
    /// A store over `view`, with the mount's default and maximum TTLs in seconds (0 = Vault's
    /// 768h).
    pub fn new(view: View, default_ttl: u64, max_ttl: u64) -> Self {
        let default_ttl = if default_ttl == 0 {
            DEFAULT_TTL
        } else {
            default_ttl
        };
        let max_ttl = if max_ttl == 0 { DEFAULT_TTL } else { max_ttl };
        Self {
            view,
            default_ttl,
            max_ttl,
            key: OnceCell::new(),
            lock: Mutex::new(()),
            cache: EntryCache::default(),
        }
    }

    /// A transaction on the view, then the cache emptied (even if the write failed: its
    /// outcome is then unknown).
    async fn commit(&self, ops: Vec<ViewOp>) -> Result<(), ApiError> {
        let out = self.view.transaction(ops).await;
        self.cache.invalidate();
        out
    }

    /// One entry written, then the cache emptied.
    async fn put_entry(&self, entry: &TokenEntry) -> Result<(), ApiError> {
        let out = self
            .view
            .put(&format!("id/{}", entry.hash), to_json(entry)?)
            .await;
        self.cache.invalidate();
        out
    }

    /// The store's view.
    pub fn view(&self) -> &View {
        &self.view
    }

    async fn mac_key(&self) -> Result<&MacKey, ApiError> {
        self.key
            .get_or_try_init(|| async {
                let bytes = match self.view.get("salt").await? {
                    Some(b) => b,
                    None => {
                        let b = sigil_core::random::bytes(32).map_err(ApiError::internal)?;
                        self.view.put("salt", b.clone()).await?;
                        b
                    }
                };
                MacKey::new(MacAlgorithm::HmacSha256, &bytes).map_err(ApiError::internal)
            })
            .await
    }

    /// Hex HMAC of a secret under the store key (also used by AppRole for secret ids).
    pub async fn hmac(&self, secret: &str) -> Result<String, ApiError> {
        let key = self.mac_key().await?;
        Ok(sigil_core::encoding::hex_encode(
            &key.sign(secret.as_bytes()),
        ))
    }

    async fn by_hash(&self, hash: &str) -> Result<Option<TokenEntry>, ApiError> {
        self.view.get_json(&format!("id/{hash}")).await
    }

    /// The entry for `token`, or `None` if unknown or expired (an expired token is revoked).
    pub async fn lookup(&self, token: &str, now: u64) -> Result<Option<Arc<TokenEntry>>, ApiError> {
        if token.is_empty() || token.len() > 256 {
            return Ok(None);
        }
        let hash = self.hmac(token).await?;
        if let Some(cached) = self.cache.get(&hash) {
            return self.live_arc(Some(cached), now).await;
        }
        let generation = self.cache.generation();
        let entry = self.by_hash(&hash).await?.map(Arc::new);
        if let Some(e) = &entry {
            self.cache.insert(generation, &hash, Arc::clone(e));
        }
        self.live_arc(entry, now).await
    }

    /// The entry with `accessor`, or `None` if unknown or expired.
    pub async fn lookup_accessor(
        &self,
        accessor: &str,
        now: u64,
    ) -> Result<Option<Arc<TokenEntry>>, ApiError> {
        if accessor.is_empty() || !accessor.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Ok(None);
        }
        let Some(hash) = self.view.get(&format!("accessor/{accessor}")).await? else {
            return Ok(None);
        };
        let hash = String::from_utf8(hash).map_err(ApiError::internal)?;
        self.live(self.by_hash(&hash).await?, now).await
    }

    async fn live(
        &self,
        entry: Option<TokenEntry>,
        now: u64,
    ) -> Result<Option<Arc<TokenEntry>>, ApiError> {
        self.live_arc(entry.map(Arc::new), now).await
    }

    async fn live_arc(
        &self,
        entry: Option<Arc<TokenEntry>>,
        now: u64,
    ) -> Result<Option<Arc<TokenEntry>>, ApiError> {
        match entry {
            Some(e) if e.expire_time != 0 && now >= e.expire_time => {
                self.revoke_tree(&e.accessor).await?;
                Ok(None)
            }
            other => Ok(other),
        }
    }

    /// Spends one use of a limited-use token. The use that brings it to 0 is allowed; the
    /// token is revoked at once, so no later request can use it.
    pub async fn use_once(&self, entry: &TokenEntry) -> Result<(), ApiError> {
        if entry.num_uses == 0 {
            return Ok(());
        }
        let _guard = self.lock.lock().await;
        let Some(mut stored) = self.by_hash(&entry.hash).await? else {
            return Err(ApiError::PermissionDenied);
        };
        if stored.num_uses == 0 {
            return Ok(());
        }
        stored.num_uses -= 1;
        if stored.num_uses == 0 {
            let ops = self.tree_ops(&stored.accessor).await?;
            return self.commit(ops).await;
        }
        self.put_entry(&stored).await
    }

    /// Creates a token under `parent` (`None`: an orphan issued by an auth method).
    pub async fn create(
        &self,
        parent: Option<&TokenEntry>,
        params: TokenParams,
        now: u64,
    ) -> Result<Auth, ApiError> {
        let parent_root = parent.is_some_and(TokenEntry::is_root);
        let mut policies = match (&params.policies, parent) {
            (Some(p), _) => sanitize(p),
            (None, Some(parent)) => sanitize(&parent.policies),
            (None, None) => Vec::new(),
        };
        if let Some(parent) = parent.filter(|_| !parent_root) {
            if policies.iter().any(|p| p == "root") {
                return Err(ApiError::bad(
                    "root tokens may not be created from a non-root token",
                ));
            }
            if !policies
                .iter()
                .all(|p| p == "default" || parent.policies.contains(p))
            {
                return Err(ApiError::bad("child policies must be subset of parent"));
            }
            if params.period > 0 {
                return Err(ApiError::bad(
                    "root or sudo privileges required to create periodic token",
                ));
            }
        }
        // A parent revoked since the router looked it up (its last use was this request, or a
        // concurrent revocation) would leave the child dangling outside the tree; in Vault
        // such a child dies with its parent anyway, so refuse it.
        if let Some(parent) = parent
            && self
                .view
                .get(&format!("accessor/{}", parent.accessor))
                .await?
                .is_none()
        {
            return Err(ApiError::PermissionDenied);
        }
        if policies.iter().any(|p| p == "root") {
            policies = vec!["root".into()];
        } else if !params.no_default_policy && !policies.iter().any(|p| p == "default") {
            policies.push("default".into());
            policies.sort();
        }
        let requested = params.ttl.unwrap_or(0);
        let root_only = policies == ["root"];
        let ttl = if params.period > 0 {
            cap(params.period, params.explicit_max_ttl)
        } else if requested == 0 && root_only && params.explicit_max_ttl == 0 {
            0
        } else {
            let base = if requested == 0 {
                self.default_ttl
            } else {
                requested
            };
            let mut t = cap(base.min(self.max_ttl), params.explicit_max_ttl);
            t = cap(t, params.max_ttl);
            t
        };
        let orphan = parent.is_none() || params.no_parent;
        let token = format!("hvs.{}", random_base62(24)?);
        let accessor = random_base62(24)?;
        let hash = self.hmac(&token).await?;
        let display_name = if params.display_name.is_empty() {
            "token".to_owned()
        } else {
            format!("token-{}", params.display_name)
        };
        let entry = TokenEntry {
            accessor: accessor.clone(),
            policies,
            meta: params.meta,
            display_name,
            num_uses: params.num_uses,
            creation_time: now,
            creation_ttl: ttl,
            explicit_max_ttl: params.explicit_max_ttl,
            max_ttl: params.max_ttl,
            period: params.period,
            renewable: params.renewable.unwrap_or(true) && ttl > 0,
            orphan,
            path: params.path,
            parent: if orphan {
                String::new()
            } else {
                parent.map(|p| p.accessor.clone()).unwrap_or_default()
            },
            expire_time: if ttl == 0 { 0 } else { now.saturating_add(ttl) },
            hash: hash.clone(),
        };
        let mut ops = vec![
            ViewOp::Put(format!("id/{hash}"), to_json(&entry)?),
            ViewOp::Put(format!("accessor/{accessor}"), hash.into_bytes()),
        ];
        if !entry.parent.is_empty() {
            ops.push(ViewOp::Put(
                format!("parent/{}/{accessor}", entry.parent),
                Vec::new(),
            ));
        }
        self.commit(ops).await?;
        Ok(entry.auth(token, now))
    }

    /// Creates a root token (no TTL, no parent) for `sys/init` and dev mode.
    pub async fn create_root(&self, now: u64) -> Result<String, ApiError> {
        let params = TokenParams {
            policies: Some(vec!["root".into()]),
            path: "auth/token/root".into(),
            ..TokenParams::default()
        };
        Ok(self.create(None, params, now).await?.client_token)
    }

    /// Renews a token by `increment` seconds (0: its original TTL), within its caps.
    pub async fn renew(
        &self,
        entry: &TokenEntry,
        increment: u64,
        now: u64,
    ) -> Result<TokenEntry, ApiError> {
        let _guard = self.lock.lock().await;
        let Some(mut e) = self.by_hash(&entry.hash).await? else {
            return Err(ApiError::bad("invalid token"));
        };
        if e.expire_time == 0 {
            return Ok(e);
        }
        if !e.renewable {
            return Err(ApiError::bad("lease is not renewable"));
        }
        let mut ttl = if e.period > 0 {
            e.period
        } else {
            let want = if increment == 0 {
                e.creation_ttl
            } else {
                increment
            };
            let max = cap(self.max_ttl, e.max_ttl);
            let max_left = (e.creation_time.saturating_add(max)).saturating_sub(now);
            want.min(max_left)
        };
        if e.explicit_max_ttl > 0 {
            let left = (e.creation_time.saturating_add(e.explicit_max_ttl)).saturating_sub(now);
            ttl = ttl.min(left);
        }
        e.expire_time = now.saturating_add(ttl);
        self.put_entry(&e).await?;
        Ok(e)
    }

    async fn tree_ops(&self, accessor: &str) -> Result<Vec<ViewOp>, ApiError> {
        let mut ops = Vec::new();
        let mut todo = vec![accessor.to_owned()];
        while let Some(acc) = todo.pop() {
            if let Some(hash) = self.view.get(&format!("accessor/{acc}")).await? {
                let hash = String::from_utf8(hash).map_err(ApiError::internal)?;
                if let Some(e) = self.by_hash(&hash).await?.filter(|e| !e.parent.is_empty()) {
                    ops.push(ViewOp::Delete(format!("parent/{}/{acc}", e.parent)));
                }
                ops.push(ViewOp::Delete(format!("id/{hash}")));
                ops.push(ViewOp::Delete(format!("accessor/{acc}")));
            }
            for child in self
                .view
                .list(&format!("parent/{acc}/"), Page::default())
                .await?
            {
                ops.push(ViewOp::Delete(format!("parent/{acc}/{child}")));
                todo.push(child);
            }
        }
        Ok(ops)
    }

    /// Revokes the token with `accessor` and all its descendants, in one transaction.
    pub async fn revoke_tree(&self, accessor: &str) -> Result<(), ApiError> {
        let ops = self.tree_ops(accessor).await?;
        if ops.is_empty() {
            return Ok(());
        }
        self.commit(ops).await
    }

    /// Revokes only the token with `accessor`; its children become orphans.
    pub async fn revoke_orphan(&self, accessor: &str) -> Result<(), ApiError> {
        let _guard = self.lock.lock().await;
        let Some(hash) = self.view.get(&format!("accessor/{accessor}")).await? else {
            return Ok(());
        };
        let hash = String::from_utf8(hash).map_err(ApiError::internal)?;
        let mut ops = vec![
            ViewOp::Delete(format!("id/{hash}")),
            ViewOp::Delete(format!("accessor/{accessor}")),
        ];
        if let Some(e) = self.by_hash(&hash).await?.filter(|e| !e.parent.is_empty()) {
            ops.push(ViewOp::Delete(format!("parent/{}/{accessor}", e.parent)));
        }
        let children = self
            .view
            .list(&format!("parent/{accessor}/"), Page::default())
            .await?;
        for child in children {
            ops.push(ViewOp::Delete(format!("parent/{accessor}/{child}")));
            if let Some(ch) = self.view.get(&format!("accessor/{child}")).await? {
                let ch = String::from_utf8(ch).map_err(ApiError::internal)?;
                if let Some(mut ce) = self.by_hash(&ch).await? {
                    ce.parent.clear();
                    ce.orphan = true;
                    ops.push(ViewOp::Put(format!("id/{ch}"), to_json(&ce)?));
                }
            }
        }
        self.commit(ops).await
    }

    /// Every accessor.
    pub async fn accessors(&self) -> Result<Vec<String>, ApiError> {
        self.view.list("accessor/", Page::default()).await
    }
}

fn cap(ttl: u64, max: u64) -> u64 {
    if max > 0 { ttl.min(max) } else { ttl }
}

#[cfg(test)]
mod tests;
