//! The mount table: which engine serves which path prefix, with its storage view and tuning.
//!
//! Secrets engines mount at `<path>/` and store under `logical/<uuid>/`; auth methods mount at
//! `auth/<path>/` and store under `auth/<uuid>/`. The tables themselves are stored in the
//! barrier at [`SECRET_TABLE`] and [`AUTH_TABLE`]. Routing is longest-prefix over the mounted
//! paths; a mount may not sit inside or above another.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::api::ApiError;
use crate::engine::Engine;
use crate::view::View;

/// Where the secrets-engine table is stored.
pub const SECRET_TABLE: &str = "core/mounts";
/// Where the auth-method table is stored.
pub const AUTH_TABLE: &str = "core/auth";

/// Paths no mount may take.
const RESERVED: [&str; 4] = ["sys/", "auth/", "cubbyhole/", "identity/"];

/// Mount tuning (`config` in `sys/mounts`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountConfig {
    /// Default lease TTL in seconds (0 = the server's).
    #[serde(default)]
    pub default_lease_ttl: u64,
    /// Max lease TTL in seconds (0 = the server's).
    #[serde(default)]
    pub max_lease_ttl: u64,
    /// Request keys the audit log keeps in clear.
    #[serde(default)]
    pub audit_non_hmac_request_keys: Vec<String>,
    /// Response keys the audit log keeps in clear.
    #[serde(default)]
    pub audit_non_hmac_response_keys: Vec<String>,
    /// `listing_visibility` (stored and reported).
    #[serde(default)]
    pub listing_visibility: String,
}

/// One mount as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountEntry {
    /// The path with a trailing slash, without the `auth/` prefix for auth methods.
    pub path: String,
    /// Engine type (`kv`, `approle`, `token`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Storage id.
    pub uuid: String,
    /// Accessor (`kv_1a2b3c4d`).
    pub accessor: String,
    /// Tuning.
    #[serde(default)]
    pub config: MountConfig,
    /// Engine options (`{"version": "2"}` for KV v2).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

impl MountEntry {
    /// A new entry with fresh ids.
    pub fn new(path: &str, kind: &str) -> Self {
        let uuid = uuid::Uuid::new_v4().to_string();
        let accessor = format!("{}_{}", kind.replace('-', "_"), &uuid[..8]);
        Self {
            path: path.to_owned(),
            kind: kind.to_owned(),
            description: String::new(),
            uuid,
            accessor,
            config: MountConfig::default(),
            options: BTreeMap::new(),
        }
    }

    /// How `sys/mounts` and `sys/auth` show the entry.
    pub fn to_json(&self) -> Value {
        let options = if self.options.is_empty() {
            Value::Null
        } else {
            json!(self.options)
        };
        json!({
            "type": self.kind,
            "description": self.description,
            "accessor": self.accessor,
            "uuid": self.uuid,
            "config": {
                "default_lease_ttl": self.config.default_lease_ttl,
                "max_lease_ttl": self.config.max_lease_ttl,
                "force_no_cache": false,
                "audit_non_hmac_request_keys": self.config.audit_non_hmac_request_keys,
                "audit_non_hmac_response_keys": self.config.audit_non_hmac_response_keys,
                "listing_visibility": self.config.listing_visibility,
            },
            "options": options,
            "local": false,
            "seal_wrap": false,
            "external_entropy_access": false,
            "plugin_version": "",
            "running_plugin_version": "",
            "running_sha256": "",
        })
    }
}

/// A live mount: its entry, engine and view.
#[derive(Clone)]
pub struct Mount {
    /// The stored entry.
    pub entry: MountEntry,
    /// The engine.
    pub engine: Arc<dyn Engine>,
    /// The engine's storage.
    pub view: View,
}

impl std::fmt::Debug for Mount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mount")
            .field("entry", &self.entry)
            .finish_non_exhaustive()
    }
}

/// The live mounts of one kind, keyed by path (with trailing slash). Mounts are shared
/// (`Arc`): a request holds its mount without copying it, and a tune swaps in a new one.
#[derive(Debug, Clone, Default)]
pub struct Table {
    mounts: BTreeMap<String, Arc<Mount>>,
}

impl Table {
    /// The mount serving `path` (relative to `/v1/`, and for auth methods relative to
    /// `auth/`), with the path relative to the mount.
    pub fn route<'p>(&self, path: &'p str) -> Option<(&Arc<Mount>, &'p str)> {
        // Longest prefix: walk back over the path's slashes.
        let mut end = path.len();
        loop {
            let candidate = &path[..end];
            let with_slash;
            let key = if candidate.ends_with('/') {
                candidate
            } else {
                with_slash = format!("{candidate}/");
                &with_slash
            };
            if let Some(m) = self.mounts.get(key) {
                let rest = path.get(candidate.len()..).unwrap_or("");
                return Some((m, rest.trim_start_matches('/')));
            }
            end = candidate.trim_end_matches('/').rfind('/').map(|i| i + 1)?;
            if end == 0 {
                return None;
            }
        }
    }

    /// The mount at exactly `path` (with trailing slash).
    pub fn get(&self, path: &str) -> Option<&Arc<Mount>> {
        self.mounts.get(path)
    }

    /// Every mount in path order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Mount>> {
        self.mounts.values()
    }

    /// The stored entries.
    pub fn entries(&self) -> Vec<MountEntry> {
        self.mounts.values().map(|m| m.entry.clone()).collect()
    }

    /// Checks that `path` may be mounted here: not reserved, not already used, not nested in
    /// or above another mount.
    pub fn check_new(&self, path: &str, reserved: bool) -> Result<(), ApiError> {
        if reserved && RESERVED.iter().any(|r| path.starts_with(r)) {
            return Err(ApiError::bad(format!(
                "cannot mount under a reserved path: {path}"
            )));
        }
        if self.mounts.contains_key(path) {
            return Err(ApiError::bad(format!("path is already in use at {path}")));
        }
        if let Some(other) = self
            .mounts
            .keys()
            .find(|m| path.starts_with(m.as_str()) || m.starts_with(path))
        {
            return Err(ApiError::bad(format!(
                "path is already in use at {other} (mounts cannot nest)"
            )));
        }
        Ok(())
    }

    /// Adds (or replaces) a mount.
    pub fn insert(&mut self, mount: Arc<Mount>) {
        self.mounts.insert(mount.entry.path.clone(), mount);
    }

    /// Removes a mount.
    pub fn remove(&mut self, path: &str) -> Option<Arc<Mount>> {
        self.mounts.remove(path)
    }
}

/// Normalizes a mount path from a request: no leading slash, exactly one trailing slash,
/// no empty or dot segments.
pub fn normalize(path: &str) -> Result<String, ApiError> {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty()
        || trimmed.len() > 256
        || trimmed
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        || trimmed
            .chars()
            .any(|c| c.is_control() || c == '*' || c == '+')
    {
        return Err(ApiError::bad(format!("invalid mount path {path:?}")));
    }
    Ok(format!("{trimmed}/"))
}

/// Reads `config` tuning fields from a request body into `config`.
pub fn apply_tuning(config: &mut MountConfig, data: &Map<String, Value>) -> Result<(), ApiError> {
    if let Some(v) = crate::api::duration_field(data, "default_lease_ttl")? {
        config.default_lease_ttl = v;
    }
    if let Some(v) = crate::api::duration_field(data, "max_lease_ttl")? {
        config.max_lease_ttl = v;
    }
    if let Some(v) = crate::api::strings_field(data, "audit_non_hmac_request_keys")? {
        config.audit_non_hmac_request_keys = v;
    }
    if let Some(v) = crate::api::strings_field(data, "audit_non_hmac_response_keys")? {
        config.audit_non_hmac_response_keys = v;
    }
    if let Some(v) = crate::api::field_str(data, "listing_visibility") {
        if !matches!(v.as_str(), "" | "hidden" | "unauth") {
            return Err(ApiError::bad(
                "listing_visibility must be \"\", hidden or unauth",
            ));
        }
        config.listing_visibility = v;
    }
    if config.max_lease_ttl != 0 && config.default_lease_ttl > config.max_lease_ttl {
        return Err(ApiError::bad(
            "default_lease_ttl must not be greater than max_lease_ttl",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::PlainStore;

    struct Nothing;

    #[async_trait::async_trait]
    impl Engine for Nothing {
        async fn handle(
            &self,
            _req: &crate::api::Request,
            _view: &View,
        ) -> Result<crate::api::Response, ApiError> {
            Err(ApiError::UnsupportedPath)
        }
    }

    fn table(paths: &[&str]) -> Table {
        let mut t = Table::default();
        for p in paths {
            t.insert(Arc::new(Mount {
                entry: MountEntry::new(p, "kv"),
                engine: Arc::new(Nothing),
                view: PlainStore::view(),
            }));
        }
        t
    }

    #[test]
    fn routes_by_longest_prefix() {
        let t = table(&["secret/", "team/a/", "team/b/"]);
        let r = |p| {
            t.route(p)
                .map(|(m, rest)| (m.entry.path.clone(), rest.to_owned()))
        };
        assert_eq!(
            r("secret/data/x"),
            Some(("secret/".into(), "data/x".into()))
        );
        assert_eq!(r("secret"), Some(("secret/".into(), String::new())));
        assert_eq!(r("secret/"), Some(("secret/".into(), String::new())));
        assert_eq!(r("team/a/x/y/"), Some(("team/a/".into(), "x/y/".into())));
        assert_eq!(r("team/c/x"), None);
        assert_eq!(r("secrets/x"), None);
        assert_eq!(r(""), None);
    }

    #[test]
    fn refuses_nesting_reserved_and_malformed_paths() {
        let t = table(&["secret/", "team/a/"]);
        assert!(t.check_new("secret/", true).is_err());
        assert!(t.check_new("secret/inner/", true).is_err());
        assert!(t.check_new("team/", true).is_err());
        assert!(t.check_new("sys/", true).is_err());
        assert!(t.check_new("kv/", true).is_ok());
        for bad in ["", "/", "a//b", "a/../b", "a/*", "x\n"] {
            assert!(normalize(bad).is_err(), "{bad:?}");
        }
        assert_eq!(normalize("/kv/").unwrap(), "kv/");
    }
}
