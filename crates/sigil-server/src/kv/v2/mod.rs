//! KV version 2: versioned secrets with per-secret metadata, check-and-set, soft delete,
//! undelete and destroy, as Vault's `kv-v2` API describes them.
//!
//! Routes (relative to the mount): `config`, `data/<path>`, `metadata/<path>`,
//! `delete/<path>`, `undelete/<path>`, `destroy/<path>`, `subkeys/<path>`, and OpenBao's
//! `detailed-metadata/<prefix>` (a LIST that also returns each secret's metadata). Every handler
//! that writes parses and checks its whole input before it takes the secret's lock, and writes
//! all it changes in one transaction while holding it. Reads take no lock: they see one
//! transaction's metadata and data, or start over (see `data::live_version`).
//!
//! Reads of a secret's metadata outside a write go through a cache of the parsed metadata
//! (see [`crate::cache`]): the router fences every request that may write. Reading it from
//! storage (the barrier's decryption and a JSON parse) was about 5% of a `data` read's CPU.
//! Only metadata is cached, never a secret's data.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::api::{ApiError, Operation, Request, Response};
use crate::cache::{Entries, Fenced};
use crate::engine::{Engine, split_first};
use crate::kv::Stripes;
use crate::view::View;

mod data;
mod metadata;
pub(super) mod model;
mod versions;

use model::{
    CONFIG_KEY, Config, KeyMetadata, MAX_CUSTOM_KEY_LEN, MAX_CUSTOM_KEYS, MAX_CUSTOM_VALUE_LEN,
    metadata_key, versions_dir,
};

/// The lock-table name of the mount configuration; no secret path can contain a NUL.
const CONFIG_LOCK: &str = "\0config";

/// The most bytes of stored metadata the cache keeps; past it, reads go to storage.
const MAX_CACHED_BYTES: usize = 4 << 20;

/// The KV version 2 engine.
pub struct KvV2 {
    locks: Stripes,
    metas: Fenced<Metas>,
}

/// Metadata read from storage, by secret path.
#[derive(Default)]
struct Metas {
    by_path: HashMap<String, Arc<StoredMeta>>,
    /// Stored bytes (and path bytes) of everything in `by_path`.
    bytes: usize,
}

impl Entries for Metas {
    fn clear(&mut self) {
        self.by_path.clear();
        self.bytes = 0;
    }
}

/// A secret's metadata as storage holds it, if it has any, with the storage folder of its
/// versions (hashing the path for it was about 1% of a read).
struct StoredMeta {
    meta: Option<KeyMetadata>,
    versions_dir: String,
    size: usize,
}

impl StoredMeta {
    /// The storage key of version `n` (what `model::version_key` gives, without hashing).
    fn version_key(&self, n: u64) -> String {
        format!("{}{n}", self.versions_dir)
    }
}

impl KvV2 {
    /// A KV v2 engine; all its state lives in the view it is handed (the metadata cache
    /// only holds what the view holds).
    pub fn new() -> Self {
        Self {
            locks: Stripes::new(),
            metas: Fenced::new("kv metadata"),
        }
    }

    /// A secret's metadata, through the cache. Only for requests that do not write: a write
    /// reads its metadata from storage under the secret's lock.
    async fn cached_meta(&self, view: &View, path: &str) -> Result<Arc<StoredMeta>, ApiError> {
        let load = async {
            let key = metadata_key(path);
            Ok(match view.get(&key).await? {
                None => StoredMeta {
                    meta: None,
                    versions_dir: String::new(),
                    size: 0,
                },
                Some(bytes) => {
                    let versions_dir = versions_dir(path);
                    StoredMeta {
                        meta: Some(View::parse_json(&key, &bytes)?),
                        size: bytes.len() + path.len() + versions_dir.len(),
                        versions_dir,
                    }
                }
            })
        };
        self.metas
            .read(
                |m| m.by_path.get(path).cloned(),
                load,
                |m, stored| {
                    let fits = m.bytes + stored.size <= MAX_CACHED_BYTES;
                    if stored.meta.is_some() && fits && !m.by_path.contains_key(path) {
                        m.bytes += stored.size;
                        m.by_path.insert(path.to_owned(), stored);
                    }
                },
            )
            .await
    }
}

impl Default for KvV2 {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for KvV2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KvV2")
    }
}

/// A secret's path from the rest of a route: non-empty, no trailing slash.
fn secret_path(rest: &str) -> Result<&str, ApiError> {
    if rest.is_empty() || rest.ends_with('/') {
        Err(ApiError::UnsupportedPath)
    } else {
        Ok(rest)
    }
}

impl KvV2 {
    async fn route(&self, req: &Request, view: &View) -> Result<Response, ApiError> {
        use Operation::{Create, Delete, List, Patch, Read, Update};
        let (head, rest) = split_first(&req.path);
        let op = req.operation;
        // Route first (404), then operation (405), then the secret's path (404), as Vault's
        // path table answers.
        let allowed = match head {
            "config" if !rest.is_empty() => return Err(ApiError::UnsupportedPath),
            "config" => matches!(op, Read | Create | Update),
            "data" => op != List,
            "metadata" => true,
            "detailed-metadata" => op == List,
            "delete" | "undelete" | "destroy" => matches!(op, Create | Update),
            "subkeys" => op == Read,
            _ => return Err(ApiError::UnsupportedPath),
        };
        if !allowed {
            return Err(ApiError::UnsupportedOperation);
        }
        match (head, op) {
            ("config", Read) => metadata::read_config(view).await,
            ("config", _) => self.write_config(req, view).await,
            ("metadata", List) => metadata::list(req, view, rest, false).await,
            ("detailed-metadata", _) => metadata::list(req, view, rest, true).await,
            _ => {
                let path = secret_path(rest)?;
                match (head, op) {
                    // Reads take no lock (see `data::live_version`).
                    ("data", Read) => data::read(self, req, view, path).await,
                    ("data", Patch) => self.write_data(req, view, path, true).await,
                    ("data", Delete) => self.delete_latest(req, view, path).await,
                    ("data", _) => self.write_data(req, view, path, false).await,
                    ("metadata", Read) => metadata::read(self, view, path).await,
                    ("metadata", Patch) => self.write_metadata(req, view, path, true).await,
                    ("metadata", Delete) => self.delete_metadata(view, path).await,
                    ("metadata", _) => self.write_metadata(req, view, path, false).await,
                    ("subkeys", _) => data::subkeys(self, req, view, path).await,
                    _ => match versions::Action::from_route(head) {
                        Some(action) => self.change_versions(req, view, action, path).await,
                        None => Err(ApiError::UnsupportedPath),
                    },
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl Engine for KvV2 {
    /// Routes `req`; a request that may write runs fenced from the metadata cache.
    async fn handle(&self, req: &Request, view: &View) -> Result<Response, ApiError> {
        if matches!(req.operation, Operation::Read | Operation::List) {
            return self.route(req, view).await;
        }
        let guard = self.metas.write();
        let answer = self.route(req, view).await;
        guard.finish();
        answer
    }

    /// Vault's existence check: a write to `data/<path>` or `metadata/<path>` is a `create`
    /// when the secret has no metadata yet; every other write path is always an `update`.
    async fn exists(&self, path: &str, view: &View) -> Result<bool, ApiError> {
        match split_first(path) {
            ("data" | "metadata", rest) => match secret_path(rest) {
                Ok(p) => Ok(self.cached_meta(view, p).await?.meta.is_some()),
                Err(_) => Ok(false),
            },
            _ => Ok(true),
        }
    }
}

/// The mount configuration (defaults when never written).
async fn load_config(view: &View) -> Result<Config, ApiError> {
    Ok(view.get_json(CONFIG_KEY).await?.unwrap_or_default())
}

/// A secret's metadata.
async fn load_meta(view: &View, path: &str) -> Result<Option<KeyMetadata>, ApiError> {
    view.get_json(&metadata_key(path)).await
}

/// The optional `version` query parameter (0 or absent = the latest).
fn version_param(data: &Map<String, Value>) -> Result<u64, ApiError> {
    crate::api::u64_field(data, "version")
        .map(Option::unwrap_or_default)
        .map_err(|_| ApiError::bad("version: expected a non-negative integer"))
}

/// The `versions` field of delete/undelete/destroy: a list of integers (numbers or numeric
/// strings) or a comma-separated string, non-empty. (Vault capitalizes the "no version"
/// message for delete and undelete but not for destroy; clients may match either.)
fn versions_field(data: &Map<String, Value>, destroy: bool) -> Result<Vec<u64>, ApiError> {
    let bad = || ApiError::bad("versions: expected a list of non-negative integers");
    let parse = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
    let versions = match data.get("versions") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Number(n)) => vec![n.as_u64().ok_or_else(bad)?],
        Some(Value::String(s)) => s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(parse)
            .collect::<Result<_, _>>()?,
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::Number(n) => n.as_u64().ok_or_else(bad),
                Value::String(s) => parse(s),
                _ => Err(bad()),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad()),
    };
    if versions.is_empty() {
        return Err(ApiError::bad(if destroy {
            "no version number provided"
        } else {
            "No version number provided"
        }));
    }
    Ok(versions)
}

/// The prefix of every `custom_metadata` error, as Vault words it.
const CUSTOM_ERROR: &str = "custom_metadata validation failed";

/// A custom metadata value as Vault's weak decoding reads it: strings as they are, numbers
/// as their JSON text, booleans as `1`/`0`; anything else is refused.
fn custom_string(key: &str, value: &Value) -> Result<String, ApiError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(if *b { "1" } else { "0" }.to_owned()),
        _ => Err(ApiError::bad(format!(
            "{CUSTOM_ERROR}: value for key {key:?} must be a string"
        ))),
    }
}

/// Checks custom metadata against Vault's limits, reporting every problem at once (only
/// the count when there are too many keys).
fn check_custom_metadata(map: &BTreeMap<String, String>) -> Result<(), ApiError> {
    if map.len() > MAX_CUSTOM_KEYS {
        return Err(ApiError::bad(format!(
            "{CUSTOM_ERROR}: payload must contain at most {MAX_CUSTOM_KEYS} keys, provided {}",
            map.len()
        )));
    }
    let mut errors = Vec::new();
    for (key, value) in map {
        if key.is_empty() || key.len() > MAX_CUSTOM_KEY_LEN {
            errors.push(format!(
                "{CUSTOM_ERROR}: length of key {key:?} is {} but must be 0 < len(key) <= \
                 {MAX_CUSTOM_KEY_LEN}",
                key.len()
            ));
        }
        if value.is_empty() || value.len() > MAX_CUSTOM_VALUE_LEN {
            errors.push(format!(
                "{CUSTOM_ERROR}: length of value for key {key:?} is {} but must be 0 < \
                 len(value) <= {MAX_CUSTOM_VALUE_LEN}",
                value.len()
            ));
        }
        if key.chars().any(char::is_control) {
            errors.push(format!(
                "{CUSTOM_ERROR}: key {key:?} contains unprintable characters"
            ));
        }
        if value.chars().any(char::is_control) {
            errors.push(format!(
                "{CUSTOM_ERROR}: value for key {key:?} contains unprintable characters"
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::BadRequest(errors))
    }
}

/// Applies a `custom_metadata` value to `current`: replacing it (`merge == false`) or as a
/// JSON merge patch, where a `null` value removes a key and a `null` object removes all.
/// Checks every limit on the result; `current` is untouched on error.
fn apply_custom_metadata(
    current: &BTreeMap<String, String>,
    value: &Value,
    merge: bool,
) -> Result<BTreeMap<String, String>, ApiError> {
    let obj = match value {
        Value::Object(obj) => obj,
        Value::Null if merge => return Ok(BTreeMap::new()),
        _ => {
            return Err(ApiError::bad(format!(
                "{CUSTOM_ERROR}: expected an object of strings"
            )));
        }
    };
    let mut out = if merge {
        current.clone()
    } else {
        BTreeMap::new()
    };
    for (k, v) in obj {
        if merge && v.is_null() {
            out.remove(k);
        } else {
            out.insert(k.clone(), custom_string(k, v)?);
        }
    }
    check_custom_metadata(&out)?;
    Ok(out)
}
