//! KV version 2: versioned secrets with per-secret metadata, check-and-set, soft delete,
//! undelete and destroy, as Vault's `kv-v2` API describes them.
//!
//! Routes (relative to the mount): `config`, `data/<path>`, `metadata/<path>`,
//! `delete/<path>`, `undelete/<path>`, `destroy/<path>`, `subkeys/<path>`. Every handler
//! parses and checks its whole input before it takes the secret's lock, and writes all it
//! changes in one transaction while holding it.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::api::{ApiError, Operation, Request, Response};
use crate::engine::{Engine, split_first};
use crate::kv::Stripes;
use crate::view::View;

mod data;
mod metadata;
pub(super) mod model;
mod versions;

use model::{
    CONFIG_KEY, Config, KeyMetadata, MAX_CUSTOM_KEY_LEN, MAX_CUSTOM_KEYS, MAX_CUSTOM_VALUE_LEN,
    metadata_key,
};

/// The lock-table name of the mount configuration; no secret path can contain a NUL.
const CONFIG_LOCK: &str = "\0config";

/// The KV version 2 engine.
pub struct KvV2 {
    locks: Stripes,
}

impl KvV2 {
    /// A KV v2 engine; all its state lives in the view it is handed.
    pub fn new() -> Self {
        Self {
            locks: Stripes::new(),
        }
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

#[async_trait::async_trait]
impl Engine for KvV2 {
    async fn handle(&self, req: &Request, view: &View) -> Result<Response, ApiError> {
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
            ("metadata", List) => metadata::list(req, view, rest).await,
            _ => {
                let path = secret_path(rest)?;
                match (head, op) {
                    ("data", Read) => data::read(req, view, path).await,
                    ("data", Patch) => self.write_data(req, view, path, true).await,
                    ("data", Delete) => self.delete_latest(req, view, path).await,
                    ("data", _) => self.write_data(req, view, path, false).await,
                    ("metadata", Read) => metadata::read(view, path).await,
                    ("metadata", Patch) => self.write_metadata(req, view, path, true).await,
                    ("metadata", Delete) => self.delete_metadata(view, path).await,
                    ("metadata", _) => self.write_metadata(req, view, path, false).await,
                    ("subkeys", _) => data::subkeys(req, view, path).await,
                    _ => self.change_versions(req, view, head, path).await,
                }
            }
        }
    }

    /// Vault's existence check: a write to `data/<path>` or `metadata/<path>` is a `create`
    /// when the secret has no metadata yet; every other write path is always an `update`.
    async fn exists(&self, path: &str, view: &View) -> Result<bool, ApiError> {
        match split_first(path) {
            ("data" | "metadata", rest) => match secret_path(rest) {
                Ok(p) => Ok(load_meta(view, p).await?.is_some()),
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
/// strings) or a comma-separated string, non-empty.
fn versions_field(data: &Map<String, Value>) -> Result<Vec<u64>, ApiError> {
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
        return Err(ApiError::bad("no version number provided"));
    }
    Ok(versions)
}

/// Checks one custom metadata entry against Vault's limits.
fn check_custom_entry(key: &str, value: &str) -> Result<(), ApiError> {
    if key.is_empty() {
        return Err(ApiError::bad("custom_metadata: keys must not be empty"));
    }
    if key.len() > MAX_CUSTOM_KEY_LEN {
        return Err(ApiError::bad(format!(
            "custom_metadata: length of key {key:?} is {} but max is {MAX_CUSTOM_KEY_LEN}",
            key.len()
        )));
    }
    if value.len() > MAX_CUSTOM_VALUE_LEN {
        return Err(ApiError::bad(format!(
            "custom_metadata: length of value for key {key:?} is {} but max is \
             {MAX_CUSTOM_VALUE_LEN}",
            value.len()
        )));
    }
    if key.chars().chain(value.chars()).any(char::is_control) {
        return Err(ApiError::bad(format!(
            "custom_metadata: key {key:?} or its value contains a control character"
        )));
    }
    Ok(())
}

/// Applies a `custom_metadata` object to `current`: replacing it (`merge == false`) or as a
/// JSON merge patch where `null` removes a key. Checks every limit; `current` is untouched on
/// error.
fn apply_custom_metadata(
    current: &BTreeMap<String, String>,
    value: &Value,
    merge: bool,
) -> Result<BTreeMap<String, String>, ApiError> {
    let Value::Object(obj) = value else {
        return Err(ApiError::bad(
            "custom_metadata: expected an object of strings",
        ));
    };
    let mut out = if merge {
        current.clone()
    } else {
        BTreeMap::new()
    };
    for (k, v) in obj {
        match v {
            Value::String(s) => {
                check_custom_entry(k, s)?;
                out.insert(k.clone(), s.clone());
            }
            Value::Null if merge => {
                out.remove(k);
            }
            _ => {
                return Err(ApiError::bad(format!(
                    "custom_metadata: value for key {k:?} must be a string"
                )));
            }
        }
    }
    if out.len() > MAX_CUSTOM_KEYS {
        return Err(ApiError::bad(format!(
            "custom_metadata: payload must contain at most {MAX_CUSTOM_KEYS} keys, provided {}",
            out.len()
        )));
    }
    Ok(out)
}
