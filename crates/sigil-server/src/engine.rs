//! The contract between the router and everything mounted under it: secrets engines (`kv`,
//! later `transit`, `pki`, `identity`) and auth methods (`token`, `approle`, ...).
//!
//! The router strips the mount prefix, so a handler sees paths relative to its mount
//! (`secret/data/app` reaches the KV v2 engine as `data/app`), and storage only through its
//! own [`View`].

use serde_json::{Map, Value};

use crate::api::{ApiError, Operation, Request, Response};
use crate::view::View;

/// What a mounted backend can be asked.
#[async_trait::async_trait]
pub trait Engine: Send + Sync + 'static {
    /// Handles one request. `req.path` is relative to the mount.
    async fn handle(&self, req: &Request, view: &View) -> Result<Response, ApiError>;

    /// Whether something exists at `path` (relative to the mount), so that a write can be
    /// classified as `create` or `update` for ACL checks. Engines that do not distinguish
    /// answer `true` (every write is an update), as Vault does for paths without an existence
    /// check.
    async fn exists(&self, _path: &str, _view: &View) -> Result<bool, ApiError> {
        Ok(true)
    }

    /// Whether `req` (path relative to the mount) changes nothing: no storage write, no
    /// token or key change. The router then records its audit request and response together
    /// after it runs, in one device write, instead of waiting for the request record first:
    /// nothing leaves the server before both records are written, and a request that
    /// changes nothing has nothing to undo if they cannot be. Reads and lists by default.
    fn read_only(&self, req: &Request) -> bool {
        matches!(req.operation, Operation::Read | Operation::List)
    }

    /// Paths (relative to the mount) that need no token: logins.
    fn unauthenticated_paths(&self) -> &'static [&'static str] {
        &[]
    }

    /// Paths (relative to the mount, same patterns as [`Engine::unauthenticated_paths`]) that
    /// need the `sudo` capability besides the operation's own (Vault's root paths).
    fn sudo_paths(&self) -> &'static [&'static str] {
        &[]
    }

    /// Request keys whose values the audit log records in clear (all other strings are
    /// HMACed). Empty by default.
    fn audit_plain_keys(&self) -> &'static [&'static str] {
        &[]
    }
}

/// Splits `path` into the first segment and the rest: `("data", "app/x")`.
pub fn split_first(path: &str) -> (&str, &str) {
    match path.split_once('/') {
        Some((a, b)) => (a, b),
        None => (path, ""),
    }
}

/// Builds a `data` map from pairs (handy in handlers).
pub fn map(pairs: impl IntoIterator<Item = (&'static str, Value)>) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}
