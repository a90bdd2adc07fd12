//! The token store: service tokens, their accessors, TTLs, use counts and the parent → child
//! tree.
//!
//! A token is `hvs.` + 24 random base62 characters (about 143 bits). It is never stored: its
//! entry lives under `id/<HMAC-SHA256(store key, token)>`, so a copy of storage (already
//! barrier-encrypted) still does not yield usable tokens, and lookups are by keyed hash, with
//! no comparison of secrets at all. `accessor/<accessor>` points to the same hash, and
//! `parent/<parent accessor>/<child accessor>` records the tree so a revocation reaches every
//! descendant.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sigil_core::encoding::Encoding;
use sigil_core::hash::{MacAlgorithm, MacKey};
use tokio::sync::{Mutex, OnceCell};

use crate::api::{ApiError, Auth};
use crate::view::{View, ViewOp};

const KEY_PATH: &str = "hmac-key";
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A stored token, as the router and handlers see the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenEntry {
    /// The accessor (safe to show).
    pub accessor: String,
    /// The keyed hash of the token (the storage key).
    pub id_hash: String,
    /// The parent's accessor; empty for orphans.
    pub parent: String,
    /// Policies attached to the token, sorted.
    pub policies: Vec<String>,
    /// Metadata.
    pub meta: BTreeMap<String, String>,
    /// Display name.
    pub display_name: String,
    /// Uses left (0 = unlimited).
    pub num_uses: u64,
    /// Unix seconds.
    pub creation_time: u64,
    /// TTL given at creation (seconds, 0 = none).
    pub creation_ttl: u64,
    /// Unix seconds when it expires (0 = never).
    pub expire_time: u64,
    /// Hard limit on the lifetime in seconds (0 = none).
    pub explicit_max_ttl: u64,
    /// Renewal period in seconds (0 = not periodic).
    pub period: u64,
    /// Whether it can be renewed.
    pub renewable: bool,
    /// Whether it has no parent.
    pub orphan: bool,
    /// The path that created it (`auth/token/create`, `auth/approle/login`).
    pub path: String,
}

impl TokenEntry {
    /// Whether the token carries the root policy.
    pub fn is_root(&self) -> bool {
        self.policies.iter().any(|p| p == "root")
    }

    /// Seconds left at `now` (0 for tokens that never expire).
    pub fn ttl(&self, now: u64) -> u64 {
        if self.expire_time == 0 {
            0
        } else {
            self.expire_time.saturating_sub(now)
        }
    }

    /// The `auth` block for a response carrying this token.
    pub fn auth(&self, client_token: String, now: u64) -> Auth {
        let token_policies = self.policies.clone();
        Auth {
            client_token,
            accessor: self.accessor.clone(),
            policies: token_policies.clone(),
            token_policies,
            identity_policies: Vec::new(),
            metadata: self
                .meta
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
            lease_duration: self.ttl(now),
            renewable: self.renewable && self.expire_time != 0,
            entity_id: String::new(),
            token_type: "service".into(),
            orphan: self.orphan,
            num_uses: self.num_uses,
        }
    }
}

/// What a new token should be.
#[derive(Debug, Clone, Default)]
pub struct TokenParams {
    /// Policies requested (`None`: the parent's, or only `default` without a parent).
    pub policies: Option<Vec<String>>,
    /// Do not attach `default`.
    pub no_default_policy: bool,
    /// TTL in seconds (`None`: the default).
    pub ttl: Option<u64>,
    /// Hard lifetime limit in seconds (0 = none).
    pub explicit_max_ttl: u64,
    /// Renewal period in seconds (0 = none).
    pub period: u64,
    /// Uses allowed (0 = unlimited).
    pub num_uses: u64,
    /// Renewable (`None`: true).
    pub renewable: Option<bool>,
    /// Display name.
    pub display_name: String,
    /// Metadata.
    pub meta: BTreeMap<String, String>,
    /// Make an orphan even with a parent.
    pub orphan: bool,
    /// The creating path.
    pub path: String,
}

/// The token store over its view.
pub struct TokenStore {
    view: View,
    key: OnceCell<MacKey>,
    default_ttl: u64,
    max_ttl: u64,
    /// Serializes use-count decrements and renewals (read-modify-write of one entry).
    write_lock: Mutex<()>,
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenStore")
            .field("default_ttl", &self.default_ttl)
            .field("max_ttl", &self.max_ttl)
            .finish_non_exhaustive()
    }
}

impl TokenStore {
    /// A store over `view` with the server's default and maximum TTLs (seconds).
    pub fn new(view: View, default_ttl: u64, max_ttl: u64) -> Self {
        Self {
            view,
            key: OnceCell::new(),
            default_ttl,
            max_ttl,
            write_lock: Mutex::new(()),
        }
    }

    async fn key(&self) -> Result<&MacKey, ApiError> {
        self.key
            .get_or_try_init(|| async {
                let _guard = self.write_lock.lock().await;
                let bytes = match self.view.get(KEY_PATH).await? {
                    Some(k) => zeroize::Zeroizing::new(k),
                    None => {
                        let k = sigil_core::random::secret_bytes(32).map_err(ApiError::internal)?;
                        self.view.put(KEY_PATH, k.expose_secret().to_vec()).await?;
                        zeroize::Zeroizing::new(k.expose_secret().to_vec())
                    }
                };
                MacKey::new(MacAlgorithm::HmacSha256, &bytes).map_err(ApiError::internal)
            })
            .await
    }

    /// The keyed hash under which a secret value (token, secret-id) is stored.
    pub async fn hash(&self, secret: &str) -> Result<String, ApiError> {
        let tag = self.key().await?.sign(secret.as_bytes());
        Ok(Encoding::Hex.encode(&tag))
    }

    /// The entry for a token, if it exists and has not expired at `now`.
    pub async fn lookup(&self, token: &str, now: u64) -> Result<Option<Arc<TokenEntry>>, ApiError> {
        if token.is_empty() || token.len() > 256 {
            return Ok(None);
        }
        let h = self.hash(token).await?;
        self.by_hash(&h, now).await
    }

    /// The entry for an accessor, if live.
    pub async fn lookup_accessor(
        &self,
        accessor: &str,
        now: u64,
    ) -> Result<Option<Arc<TokenEntry>>, ApiError> {
        if !valid_id(accessor) {
            return Ok(None);
        }
        let Some(h) = self.view.get(&format!("accessor/{accessor}")).await? else {
            return Ok(None);
        };
        let h = String::from_utf8(h).map_err(|_| ApiError::internal("corrupt accessor index"))?;
        self.by_hash(&h, now).await
    }

    async fn by_hash(&self, h: &str, now: u64) -> Result<Option<Arc<TokenEntry>>, ApiError> {
        let Some(entry) = self.view.get_json::<TokenEntry>(&format!("id/{h}")).await? else {
            return Ok(None);
        };
        if entry.expire_time != 0 && now >= entry.expire_time {
            self.revoke_tree(&entry.accessor).await?;
            return Ok(None);
        }
        Ok(Some(Arc::new(entry)))
    }

    /// Counts one use of a limited token; the use that exhausts it still proceeds, and the
    /// token is revoked with it (as Vault does).
    pub async fn use_once(&self, entry: &TokenEntry) -> Result<(), ApiError> {
        if entry.num_uses == 0 {
            return Ok(());
        }
        let _guard = self.write_lock.lock().await;
        let key = format!("id/{}", entry.id_hash);
        let Some(mut current) = self.view.get_json::<TokenEntry>(&key).await? else {
            return Err(ApiError::PermissionDenied);
        };
        if current.num_uses <= 1 {
            drop(_guard);
            return self.revoke_tree(&current.accessor).await;
        }
        current.num_uses -= 1;
        self.view.put_json(&key, &current).await
    }

    /// Makes a root token (for `sys/init` and `sigil dev`). It never expires.
    pub async fn create_root(&self, now: u64) -> Result<String, ApiError> {
        let params = TokenParams {
            policies: Some(vec!["root".into()]),
            no_default_policy: true,
            ttl: Some(0),
            display_name: "root".into(),
            path: "auth/token/root".into(),
            ..TokenParams::default()
        };
        let (token, _) = self.create(None, params, now).await?;
        Ok(token)
    }

    /// Creates a token; `parent` is the caller (its policies bound the child's unless it is
    /// root). Returns the token and its `auth` block.
    pub async fn create(
        &self,
        parent: Option<&TokenEntry>,
        params: TokenParams,
        now: u64,
    ) -> Result<(String, Auth), ApiError> {
        let parent_root = parent.is_some_and(TokenEntry::is_root);
        let mut policies = match (params.policies.clone(), parent) {
            (Some(p), _) => p,
            (None, Some(parent)) => parent.policies.clone(),
            (None, None) => Vec::new(),
        };
        policies.retain(|p| !p.is_empty());
        for p in &mut policies {
            *p = p.trim().to_lowercase();
        }
        if let Some(parent) = parent
            && !parent_root
        {
            if policies.iter().any(|p| p == "root") {
                return Err(ApiError::bad(
                    "root tokens may not be created by a non-root token",
                ));
            }
            if let Some(p) = policies
                .iter()
                .find(|p| *p != "default" && !parent.policies.contains(p))
            {
                return Err(ApiError::bad(format!(
                    "child policies must be subset of parent: {p:?} is not held by the parent"
                )));
            }
        }
        let root = policies.iter().any(|p| p == "root");
        if !params.no_default_policy && !root && !policies.iter().any(|p| p == "default") {
            policies.push("default".into());
        }
        policies.sort();
        policies.dedup();

        let (ttl, expire_time) = self.initial_ttl(&params, root, now)?;
        let token = format!("hvs.{}", random_base62(24)?);
        let accessor = random_base62(24)?;
        let id_hash = self.hash(&token).await?;
        let orphan = parent.is_none() || params.orphan;
        let entry = TokenEntry {
            accessor: accessor.clone(),
            id_hash: id_hash.clone(),
            parent: if orphan {
                String::new()
            } else {
                parent.map(|p| p.accessor.clone()).unwrap_or_default()
            },
            policies,
            meta: params.meta,
            display_name: if params.display_name.is_empty() {
                "token".into()
            } else {
                params.display_name
            },
            num_uses: params.num_uses,
            creation_time: now,
            creation_ttl: ttl,
            expire_time,
            explicit_max_ttl: params.explicit_max_ttl,
            period: params.period,
            renewable: params.renewable.unwrap_or(true),
            orphan,
            path: params.path,
        };
        let mut ops = vec![
            ViewOp::Put(format!("id/{id_hash}"), crate::view::to_json(&entry)?),
            ViewOp::Put(format!("accessor/{accessor}"), id_hash.into_bytes()),
        ];
        if !entry.parent.is_empty() {
            ops.push(ViewOp::Put(
                format!("parent/{}/{accessor}", entry.parent),
                Vec::new(),
            ));
        }
        self.view.transaction(ops).await?;
        let auth = entry.auth(token.clone(), now);
        Ok((token, auth))
    }

    /// TTL rules: a period wins; otherwise the requested TTL or the default, capped by the
    /// server's maximum and by `explicit_max_ttl`. Root-policy tokens may have no TTL.
    fn initial_ttl(&self, p: &TokenParams, root: bool, now: u64) -> Result<(u64, u64), ApiError> {
        let mut ttl = if p.period > 0 {
            p.period
        } else {
            match p.ttl {
                Some(0) if root => return Ok((0, 0)),
                Some(0) | None => self.default_ttl,
                Some(t) => t,
            }
        };
        if p.period == 0 && self.max_ttl > 0 {
            ttl = ttl.min(self.max_ttl);
        }
        if p.explicit_max_ttl > 0 {
            ttl = ttl.min(p.explicit_max_ttl);
        }
        if ttl == 0 {
            return Ok((0, 0));
        }
        let expire = now
            .checked_add(ttl)
            .ok_or_else(|| ApiError::bad("ttl is too large"))?;
        Ok((ttl, expire))
    }

    /// Renews a token by `increment` seconds (0 = its original TTL), within its limits.
    pub async fn renew(
        &self,
        entry: &TokenEntry,
        increment: u64,
        now: u64,
    ) -> Result<Auth, ApiError> {
        let _guard = self.write_lock.lock().await;
        let key = format!("id/{}", entry.id_hash);
        let mut e = self
            .view
            .get_json::<TokenEntry>(&key)
            .await?
            .ok_or(ApiError::PermissionDenied)?;
        if e.expire_time == 0 {
            return Ok(e.auth(String::new(), now));
        }
        if !e.renewable {
            return Err(ApiError::bad("lease is not renewable"));
        }
        let mut ttl = if e.period > 0 {
            e.period
        } else if increment > 0 {
            increment
        } else {
            e.creation_ttl
        };
        let mut limit = u64::MAX;
        if e.explicit_max_ttl > 0 {
            limit = e.creation_time.saturating_add(e.explicit_max_ttl);
        }
        if e.period == 0 && self.max_ttl > 0 {
            limit = limit.min(e.creation_time.saturating_add(self.max_ttl));
        }
        ttl = ttl.min(limit.saturating_sub(now));
        if ttl == 0 {
            return Err(ApiError::bad("past the max TTL, cannot renew"));
        }
        e.expire_time = now.saturating_add(ttl);
        self.view.put_json(&key, &e).await?;
        Ok(e.auth(String::new(), now))
    }

    /// Revokes a token and every descendant.
    pub async fn revoke_tree(&self, accessor: &str) -> Result<(), ApiError> {
        let mut stack = vec![accessor.to_owned()];
        let mut order = Vec::new();
        while let Some(a) = stack.pop() {
            for child in self.children(&a).await? {
                stack.push(child);
            }
            order.push(a);
        }
        // Children first, so a failure part-way never leaves a live child of a dead parent.
        for a in order.iter().rev() {
            self.revoke_one(a).await?;
        }
        Ok(())
    }

    /// Revokes a token and makes its children orphans.
    pub async fn revoke_orphan(&self, accessor: &str, now: u64) -> Result<(), ApiError> {
        for child in self.children(accessor).await? {
            if let Some(c) = self.lookup_accessor(&child, now).await? {
                let mut c = (*c).clone();
                c.parent.clear();
                c.orphan = true;
                self.view
                    .transaction(vec![
                        ViewOp::Put(format!("id/{}", c.id_hash), crate::view::to_json(&c)?),
                        ViewOp::Delete(format!("parent/{accessor}/{child}")),
                    ])
                    .await?;
            }
        }
        self.revoke_one(accessor).await
    }

    async fn children(&self, accessor: &str) -> Result<Vec<String>, ApiError> {
        let mut out = self
            .view
            .list(
                &format!("parent/{accessor}/"),
                sigil_storage::Page::default(),
            )
            .await?;
        out.retain(|c| !c.ends_with('/'));
        Ok(out)
    }

    async fn revoke_one(&self, accessor: &str) -> Result<(), ApiError> {
        let Some(h) = self.view.get(&format!("accessor/{accessor}")).await? else {
            return Ok(());
        };
        let h = String::from_utf8(h).map_err(|_| ApiError::internal("corrupt accessor index"))?;
        let parent = self
            .view
            .get_json::<TokenEntry>(&format!("id/{h}"))
            .await?
            .map(|e| e.parent)
            .unwrap_or_default();
        let mut ops = vec![
            ViewOp::Delete(format!("id/{h}")),
            ViewOp::Delete(format!("accessor/{accessor}")),
        ];
        if !parent.is_empty() {
            ops.push(ViewOp::Delete(format!("parent/{parent}/{accessor}")));
        }
        self.view.transaction(ops).await
    }

    /// Every live accessor (`LIST auth/token/accessors`).
    pub async fn accessors(&self) -> Result<Vec<String>, ApiError> {
        self.view
            .list("accessor/", sigil_storage::Page::default())
            .await
    }
}

/// Random base62 text of `len` characters (rejection sampling: no modulo bias).
pub(crate) fn random_base62(len: usize) -> Result<String, ApiError> {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let bytes = sigil_core::random::bytes(len * 2).map_err(ApiError::internal)?;
        for b in bytes {
            if b < 248 && out.len() < len {
                out.push(char::from(BASE62[usize::from(b % 62)]));
            }
        }
    }
    Ok(out)
}

fn valid_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests;
