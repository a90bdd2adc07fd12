//! The `transit` secrets engine: encryption as a service, speaking Vault's transit API so that
//! hvac and `bao write transit/...` work unchanged, with ciphertexts, signatures and backups
//! byte-compatible with Vault/OpenBao for the same key material.
//!
//! Layout: [`key`] is the key model and its crypto (pure, no I/O); [`ops`] the stateless
//! operations (encrypt, decrypt, rewrap, datakey, sign, verify, hmac, hash, random) with
//! Vault's batch semantics; [`backup`] the export, backup and restore formats; this file the
//! routing, the key cache and key management.
//!
//! Keys live in the mount's view at `policy/<name>`, one barrier-encrypted document each.
//! Parsed keys are cached per mount: a request finds its key in a read-locked map and runs
//! without touching storage. Every change to a key (create, rotate, config, trim, delete,
//! restore) holds the key's stripe lock, re-reads storage, writes, then replaces the cache
//! entry; a cache miss loads under the same lock, so a slow reader can never put back a
//! version older than a concurrent write. The engine is the only writer of its view.
//!
//! Automatic rotation happens on access: a key whose latest version is older than its
//! `auto_rotate_period` is rotated before the request that finds it uses it (every read of
//! the key passes there, so no client can observe an overdue key).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::UNIX_EPOCH;

use serde_json::{Map, Value, json};
use sigil_storage::Page;

use crate::api::{ApiError, Operation, Request, Response, bool_field, duration_field};
use crate::engine::{Engine, split_first};
use crate::kv::Stripes;
use crate::view::View;

mod backup;
mod key;
mod ops;

#[cfg(test)]
mod tests;

use key::{HMAC_MAX, HMAC_MIN, Key, Kind, Spec};

/// Where keys live in the mount's view.
const KEY_PREFIX: &str = "policy/";
/// Where the mount's `config/keys` lives.
const CONFIG_KEYS: &str = "config/keys";

/// The transit engine of one mount.
pub struct Transit {
    cache: RwLock<HashMap<String, Arc<Key>>>,
    stripes: Stripes,
}

impl Default for Transit {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Transit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transit").finish_non_exhaustive()
    }
}

impl Transit {
    /// An engine with an empty cache.
    pub fn new() -> Self {
        Self {
            cache: RwLock::new(HashMap::new()),
            stripes: Stripes::new(),
        }
    }

    fn cached(&self, name: &str) -> Option<Arc<Key>> {
        self.cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    fn cache_put(&self, key: Key) -> Arc<Key> {
        let key = Arc::new(key);
        self.cache
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.name.clone(), Arc::clone(&key));
        key
    }

    fn cache_drop(&self, name: &str) {
        self.cache
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
    }

    /// Reads a key from storage, bypassing the cache.
    async fn read_stored(view: &View, name: &str) -> Result<Option<Key>, ApiError> {
        let Some(bytes) = view.get(&format!("{KEY_PREFIX}{name}")).await? else {
            return Ok(None);
        };
        let bytes = zeroize::Zeroizing::new(bytes);
        let stored: key::Stored = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::internal(format!("transit key {name}: {e}")))?;
        Ok(Some(Key::from_stored(stored)?))
    }

    async fn persist(view: &View, key: &Key) -> Result<(), ApiError> {
        // The barrier zeroizes the plaintext document once it is sealed.
        let bytes = serde_json::to_vec(&key.to_stored())
            .map_err(|e| ApiError::internal(format!("transit key: {e}")))?;
        view.put(&format!("{KEY_PREFIX}{}", key.name), bytes).await
    }

    /// The key named `name`, rotated first if its automatic rotation is due.
    async fn load(
        &self,
        view: &View,
        name: &str,
        now_nanos: u64,
    ) -> Result<Option<Arc<Key>>, ApiError> {
        let now_unix = now_nanos / 1_000_000_000;
        if let Some(k) = self.cached(name)
            && !k.rotation_due(now_unix)
        {
            return Ok(Some(k));
        }
        let _guard = self.stripes.lock(name).await;
        if let Some(k) = self.cached(name)
            && !k.rotation_due(now_unix)
        {
            return Ok(Some(k));
        }
        let Some(mut key) = Self::read_stored(view, name).await? else {
            return Ok(None);
        };
        if key.rotation_due(now_unix) {
            key.rotate(now_nanos)?;
            Self::persist(view, &key).await?;
        }
        Ok(Some(self.cache_put(key)))
    }

    /// Changes a stored key under its lock: `change` sees a fresh copy from storage; nothing
    /// is written when it fails. `None` when there is no such key.
    async fn modify<T>(
        &self,
        view: &View,
        name: &str,
        change: impl FnOnce(&mut Key) -> Result<T, ApiError>,
    ) -> Result<Option<(Arc<Key>, T)>, ApiError> {
        let _guard = self.stripes.lock(name).await;
        let Some(mut key) = Self::read_stored(view, name).await? else {
            return Ok(None);
        };
        let out = change(&mut key)?;
        Self::persist(view, &key).await?;
        Ok(Some((self.cache_put(key), out)))
    }

    /// Creates a key unless one exists. Returns the key and whether it was made now.
    async fn upsert(
        &self,
        view: &View,
        name: &str,
        spec: &Spec,
        now_nanos: u64,
    ) -> Result<(Arc<Key>, bool), ApiError> {
        let _guard = self.stripes.lock(name).await;
        if let Some(existing) = Self::read_stored(view, name).await? {
            return Ok((self.cache_put(existing), false));
        }
        let key = Key::create(name, spec, now_nanos)?;
        Self::persist(view, &key).await?;
        Ok((self.cache_put(key), true))
    }

    async fn disable_upsert(view: &View) -> Result<bool, ApiError> {
        let cfg: Option<Map<String, Value>> = view.get_json(CONFIG_KEYS).await?;
        Ok(cfg
            .and_then(|c| c.get("disable_upsert").and_then(Value::as_bool))
            .unwrap_or(false))
    }
}

/// The request time in nanoseconds since the epoch.
fn nanos(req: &Request) -> u64 {
    req.time
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

/// Vault's key-name rule: word characters, dots and dashes, starting and ending with a word
/// character; never a path.
fn check_name(name: &str) -> Result<(), ApiError> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let ok = !name.is_empty()
        && name.len() <= 256
        && name.chars().all(|c| word(c) || c == '-' || c == '.')
        && name.starts_with(word)
        && name.ends_with(word);
    if ok {
        Ok(())
    } else {
        Err(ApiError::UnsupportedPath)
    }
}

#[async_trait::async_trait]
impl Engine for Transit {
    async fn handle(&self, req: &Request, view: &View) -> Result<Response, ApiError> {
        let path = req.path.trim_end_matches('/');
        let (head, rest) = split_first(path);
        let op = req.operation;
        match (head, op) {
            ("keys", Operation::List) if rest.is_empty() => Self::list(view).await,
            ("keys", _) if !rest.is_empty() => self.keys_path(req, view, rest).await,
            ("encrypt", Operation::Create | Operation::Update) => {
                check_name(rest)?;
                ops::encrypt(self, req, view, rest).await
            }
            ("decrypt", Operation::Create | Operation::Update) => {
                check_name(rest)?;
                ops::decrypt(self, req, view, rest).await
            }
            ("rewrap", Operation::Create | Operation::Update) => {
                check_name(rest)?;
                ops::rewrap(self, req, view, rest).await
            }
            ("datakey", Operation::Create | Operation::Update) => {
                let (plaintext, name) = split_first(rest);
                check_name(name)?;
                ops::datakey(self, req, view, plaintext, name).await
            }
            ("sign", Operation::Create | Operation::Update) => {
                let (name, alg) = split_first(rest);
                check_name(name)?;
                ops::sign(self, req, view, name, alg).await
            }
            ("verify", Operation::Create | Operation::Update) => {
                let (name, alg) = split_first(rest);
                check_name(name)?;
                ops::verify(self, req, view, name, alg).await
            }
            ("hmac", Operation::Create | Operation::Update) => {
                let (name, alg) = split_first(rest);
                check_name(name)?;
                ops::hmac(self, req, view, name, alg).await
            }
            ("hash", Operation::Create | Operation::Update) => ops::hash(req, rest),
            ("random", Operation::Create | Operation::Update) => ops::random(req, rest),
            ("export", Operation::Read) => backup::export(self, req, view, rest).await,
            ("backup", Operation::Read) => {
                check_name(rest)?;
                backup::backup(self, req, view, rest).await
            }
            ("restore", Operation::Create | Operation::Update) => {
                if !rest.is_empty() {
                    check_name(rest)?;
                }
                backup::restore(self, req, view, rest).await
            }
            ("config", _) if rest == "keys" => config_keys(req, view).await,
            ("cache-config", Operation::Read) => {
                Ok(Response::data(crate::engine::map([("size", json!(0))])))
            }
            (
                "keys" | "encrypt" | "decrypt" | "rewrap" | "datakey" | "sign" | "verify" | "hmac"
                | "hash" | "random" | "export" | "backup" | "restore" | "config" | "cache-config",
                _,
            ) => Err(ApiError::UnsupportedOperation),
            _ => Err(ApiError::UnsupportedPath),
        }
    }

    /// The crypto operations change nothing (an `encrypt` that would create its key arrives
    /// as `Create` and is not read-only); nor do key reads, lists and exports. A backup
    /// records its time in the key, so it is not.
    fn read_only(&self, req: &Request) -> bool {
        let (head, _) = split_first(&req.path);
        match req.operation {
            Operation::Read => head != "backup",
            Operation::List => true,
            Operation::Update => matches!(
                head,
                "encrypt"
                    | "decrypt"
                    | "rewrap"
                    | "datakey"
                    | "sign"
                    | "verify"
                    | "hmac"
                    | "hash"
                    | "random"
            ),
            _ => false,
        }
    }

    async fn exists(&self, path: &str, view: &View) -> Result<bool, ApiError> {
        let (head, rest) = split_first(path.trim_end_matches('/'));
        match head {
            "keys" | "encrypt" if !rest.is_empty() && !rest.contains('/') => {
                if self.cached(rest).is_some() {
                    return Ok(true);
                }
                Ok(view.get(&format!("{KEY_PREFIX}{rest}")).await?.is_some())
            }
            _ => Ok(true),
        }
    }
}

impl Transit {
    async fn list(view: &View) -> Result<Response, ApiError> {
        let keys = view.list(KEY_PREFIX, Page::default()).await?;
        if keys.is_empty() {
            return Err(ApiError::NotFound);
        }
        Ok(Response::data(crate::engine::map([("keys", json!(keys))])))
    }

    async fn keys_path(
        &self,
        req: &Request,
        view: &View,
        rest: &str,
    ) -> Result<Response, ApiError> {
        let (name, action) = split_first(rest);
        check_name(name)?;
        let now = nanos(req);
        match (action, req.operation) {
            ("", Operation::Read) => match self.load(view, name, now).await? {
                Some(k) => Ok(Response::data(describe(&k))),
                None => Err(ApiError::NotFound),
            },
            ("", Operation::Create | Operation::Update) => self.create(req, view, name).await,
            ("", Operation::Delete) => self.delete(view, name).await,
            ("config", Operation::Create | Operation::Update) => {
                self.configure(req, view, name).await
            }
            ("rotate", Operation::Create | Operation::Update) => {
                let done = self
                    .modify(view, name, |k| Ok(k.rotate(now)?))
                    .await?
                    .ok_or_else(|| ApiError::bad("key not found"))?;
                Ok(Response::data(describe(&done.0)))
            }
            ("trim", Operation::Create | Operation::Update) => self.trim(req, view, name).await,
            ("" | "config" | "rotate" | "trim", _) => Err(ApiError::UnsupportedOperation),
            _ => Err(ApiError::UnsupportedPath),
        }
    }

    async fn create(&self, req: &Request, view: &View, name: &str) -> Result<Response, ApiError> {
        let spec = spec_from(&req.data, "aes256-gcm96")?;
        let (key, made) = self.upsert(view, name, &spec, nanos(req)).await?;
        let resp = Response::data(describe(&key));
        Ok(if made {
            resp
        } else {
            resp.warn(format!("key {name} already existed"))
        })
    }

    async fn delete(&self, view: &View, name: &str) -> Result<Response, ApiError> {
        let _guard = self.stripes.lock(name).await;
        let Some(key) = Self::read_stored(view, name).await? else {
            return Err(ApiError::bad(format!(
                "error deleting policy {name}: could not delete key; not found"
            )));
        };
        if !key.deletion_allowed {
            return Err(ApiError::bad(format!(
                "error deleting policy {name}: deletion is not allowed for this key"
            )));
        }
        view.delete(&format!("{KEY_PREFIX}{name}")).await?;
        self.cache_drop(name);
        Ok(Response::empty())
    }

    async fn configure(
        &self,
        req: &Request,
        view: &View,
        name: &str,
    ) -> Result<Response, ApiError> {
        let d = &req.data;
        let min_dec = int_field(d, "min_decryption_version")?;
        let min_enc = int_field(d, "min_encryption_version")?;
        let deletion = bool_field(d, "deletion_allowed")?;
        let exportable = bool_field(d, "exportable")?;
        let backup = bool_field(d, "allow_plaintext_backup")?;
        let period = duration_field(d, "auto_rotate_period")?;
        if period.is_some_and(|p| p != 0 && p < 3600) {
            return Err(ApiError::bad(
                "auto rotate period must be 0 to disable or at least an hour",
            ));
        }
        let mut warning = None;
        let done = self
            .modify(view, name, |k| {
                if let Some(v) = min_dec {
                    if v < 0 {
                        return Err(ApiError::bad("min decryption version cannot be negative"));
                    }
                    let v = if v == 0 {
                        warning = Some(
                            "transit key numbering starts at 1; forcing minimum to 1".to_owned(),
                        );
                        1
                    } else {
                        v
                    };
                    if v != i64::from(k.min_decryption_version) {
                        if v > i64::from(k.latest_version) {
                            return Err(ApiError::bad(format!(
                                "cannot set min decryption version of {v}, latest key version is {}",
                                k.latest_version
                            )));
                        }
                        k.min_decryption_version = u32::try_from(v).map_err(ApiError::internal)?;
                    }
                }
                if let Some(v) = min_enc {
                    if v < 0 {
                        return Err(ApiError::bad("min encryption version cannot be negative"));
                    }
                    if v > i64::from(k.latest_version) {
                        return Err(ApiError::bad(format!(
                            "cannot set min encryption version of {v}, latest key version is {}",
                            k.latest_version
                        )));
                    }
                    k.min_encryption_version = u32::try_from(v).map_err(ApiError::internal)?;
                }
                if k.min_encryption_version > 0 && k.min_encryption_version < k.min_decryption_version {
                    return Err(ApiError::bad(format!(
                        "cannot set min encryption/decryption values; min encryption version of {} must be greater than or equal to min decryption version of {}",
                        k.min_encryption_version, k.min_decryption_version
                    )));
                }
                if let Some(v) = deletion {
                    k.deletion_allowed = v;
                }
                // Both flags are one-way: once on, a request to turn them off is ignored.
                if exportable == Some(true) {
                    k.exportable = true;
                }
                if backup == Some(true) {
                    k.allow_plaintext_backup = true;
                }
                if let Some(p) = period {
                    k.auto_rotate_period = p;
                }
                if k.min_available_version > k.min_encryption_version && k.min_encryption_version != 0 {
                    return Err(ApiError::bad(
                        "min encryption version should not be less than min available version",
                    ));
                }
                if k.min_available_version > k.min_decryption_version {
                    return Err(ApiError::bad(
                        "min decryption version should not be less then min available version",
                    ));
                }
                Ok(())
            })
            .await?
            .ok_or_else(|| ApiError::bad(format!("no existing key named {name} could be found")))?;
        let resp = Response::data(describe(&done.0));
        Ok(match warning {
            Some(w) => resp.warn(w),
            None => resp,
        })
    }

    async fn trim(&self, req: &Request, view: &View, name: &str) -> Result<Response, ApiError> {
        let Some(min) = int_field(&req.data, "min_available_version")? else {
            return Err(ApiError::bad("missing min_available_version"));
        };
        let done = self
            .modify(view, name, |k| {
                let msg = if min < i64::from(k.min_available_version) {
                    Some("minimum available version cannot be decremented")
                } else if k.min_encryption_version == 0 {
                    Some("minimum available version cannot be set when minimum encryption version is not set")
                } else if min > i64::from(k.min_encryption_version) {
                    Some("minimum available version cannot be greater than minmum encryption version")
                } else if min > i64::from(k.min_decryption_version) {
                    Some("minimum available version cannot be greater than minimum decryption version")
                } else if min <= 0 {
                    Some("minimum available version should be positive")
                } else {
                    None
                };
                if let Some(m) = msg {
                    return Err(ApiError::bad(m));
                }
                let min = u32::try_from(min).map_err(ApiError::internal)?;
                k.min_available_version = min;
                k.versions.retain(|n, _| *n >= min);
                Ok(())
            })
            .await?
            .ok_or_else(|| ApiError::bad("invalid key name"))?;
        Ok(Response::data(describe(&done.0)))
    }
}

async fn config_keys(req: &Request, view: &View) -> Result<Response, ApiError> {
    match req.operation {
        Operation::Read => {
            let disable = Transit::disable_upsert(view).await?;
            Ok(Response::data(crate::engine::map([(
                "disable_upsert",
                json!(disable),
            )])))
        }
        Operation::Create | Operation::Update => {
            let disable = bool_field(&req.data, "disable_upsert")?.unwrap_or(false);
            view.put_json(CONFIG_KEYS, &json!({ "disable_upsert": disable }))
                .await?;
            Ok(Response::data(crate::engine::map([(
                "disable_upsert",
                json!(disable),
            )])))
        }
        _ => Err(ApiError::UnsupportedOperation),
    }
}

/// Reads the creation fields of `keys/<name>` (and of an upserting `encrypt`).
fn spec_from(d: &Map<String, Value>, default_type: &str) -> Result<Spec, ApiError> {
    let type_name = str_field(d, "type")?.unwrap_or_else(|| default_type.to_owned());
    let kind = Kind::from_name(&type_name)
        .ok_or_else(|| ApiError::bad(format!("unknown key type {type_name}")))?;
    let derived = bool_field(d, "derived")?.unwrap_or(false);
    let convergent = bool_field(d, "convergent_encryption")?.unwrap_or(false);
    if convergent && !derived {
        return Err(ApiError::bad(
            "convergent encryption requires derivation to be enabled",
        ));
    }
    if derived && !kind.supports_derivation() {
        return Err(ApiError::bad(format!(
            "key derivation and convergent encryption not supported for keys of type {kind}"
        )));
    }
    if convergent && kind.aead().is_none() {
        return Err(ApiError::bad(format!(
            "convergent encryption not supported for keys of type {kind}"
        )));
    }
    let period = duration_field(d, "auto_rotate_period")?.unwrap_or(0);
    if period != 0 && period < 3600 {
        return Err(ApiError::bad(
            "auto rotate period must be 0 to disable or at least an hour",
        ));
    }
    let key_size = match int_field(d, "key_size")? {
        // Vault needs a size for HMAC keys, and says so as its own (500) error.
        None | Some(0) if kind == Kind::Hmac => {
            return Err(ApiError::internal(format!(
                "invalid key size for HMAC key, must be between {HMAC_MIN} and {HMAC_MAX} bytes"
            )));
        }
        None | Some(0) => HMAC_MIN,
        Some(_) if kind != Kind::Hmac => {
            return Err(ApiError::bad(format!(
                "key_size is not valid for algorithm {kind}"
            )));
        }
        Some(n) if n < 0 || !(HMAC_MIN..=HMAC_MAX).contains(&usize::try_from(n).unwrap_or(0)) => {
            return Err(ApiError::bad(format!("invalid key_size {n}")));
        }
        Some(n) => usize::try_from(n).map_err(ApiError::internal)?,
    };
    Ok(Spec {
        kind,
        derived,
        convergent,
        exportable: bool_field(d, "exportable")?.unwrap_or(false),
        allow_plaintext_backup: bool_field(d, "allow_plaintext_backup")?.unwrap_or(false),
        auto_rotate_period: period,
        key_size,
    })
}

/// The `data` of a key read, as Vault shapes it.
fn describe(k: &Key) -> Map<String, Value> {
    let mut d = Map::new();
    d.insert("name".into(), json!(k.name));
    d.insert("type".into(), json!(k.kind.name()));
    d.insert("derived".into(), json!(k.derived));
    d.insert("deletion_allowed".into(), json!(k.deletion_allowed));
    d.insert(
        "min_available_version".into(),
        json!(k.min_available_version),
    );
    d.insert(
        "min_decryption_version".into(),
        json!(k.min_decryption_version),
    );
    d.insert(
        "min_encryption_version".into(),
        json!(k.min_encryption_version),
    );
    d.insert("latest_version".into(), json!(k.latest_version));
    d.insert("exportable".into(), json!(k.exportable));
    d.insert(
        "allow_plaintext_backup".into(),
        json!(k.allow_plaintext_backup),
    );
    d.insert(
        "supports_encryption".into(),
        json!(k.kind.supports_encryption()),
    );
    d.insert(
        "supports_decryption".into(),
        json!(k.kind.supports_encryption()),
    );
    d.insert("supports_signing".into(), json!(k.kind.supports_signing()));
    d.insert(
        "supports_derivation".into(),
        json!(k.kind.supports_derivation()),
    );
    d.insert("auto_rotate_period".into(), json!(k.auto_rotate_period));
    d.insert("imported_key".into(), json!(k.imported));
    d.insert("soft_deleted".into(), json!(false));
    if k.key_size != 0 {
        d.insert("key_size".into(), json!(k.key_size));
    }
    if let Some(b) = &k.backup_info {
        d.insert(
            "backup_info".into(),
            json!({"time": b.time, "version": b.version}),
        );
    }
    if let Some(r) = &k.restore_info {
        d.insert(
            "restore_info".into(),
            json!({"time": r.time, "version": r.version}),
        );
    }
    if k.derived {
        d.insert("kdf".into(), json!("hkdf_sha256"));
        d.insert("convergent_encryption".into(), json!(k.convergent));
        if k.convergent {
            // Vault reports -1: the scheme version is kept per key version (all are 3).
            d.insert("convergent_encryption_version".into(), json!(-1));
        }
    }
    if k.kind.aead().is_some() {
        let keys: Map<String, Value> = k
            .versions
            .iter()
            .filter(|(n, _)| **n >= k.min_decryption_version)
            .map(|(n, v)| (n.to_string(), json!(v.created_unix)))
            .collect();
        d.insert("keys".into(), Value::Object(keys));
    } else if k.kind.supports_signing() {
        let curve = match k.kind {
            Kind::EcdsaP256 => "P-256",
            Kind::EcdsaP384 => "P-384",
            other => other.name(),
        };
        let keys: Map<String, Value> = k
            .versions
            .iter()
            .filter(|(n, _)| **n >= k.min_decryption_version)
            .map(|(n, v)| {
                let public = if k.derived {
                    String::new()
                } else {
                    v.public_text(k.kind)
                };
                (
                    n.to_string(),
                    json!({
                        "certificate_chain": "",
                        "creation_time": v.created,
                        "name": curve,
                        "public_key": public,
                    }),
                )
            })
            .collect();
        d.insert("keys".into(), Value::Object(keys));
    }
    d
}

/// An optional string field; other JSON types are a 400.
fn str_field(d: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match d.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad(format!("{key}: expected a string"))),
    }
}

/// An optional integer (number or numeric string), possibly negative.
fn int_field(d: &Map<String, Value>, key: &str) -> Result<Option<i64>, ApiError> {
    match d.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| ApiError::bad(format!("{key}: expected an integer"))),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ApiError::bad(format!("{key}: expected an integer"))),
        Some(_) => Err(ApiError::bad(format!("{key}: expected an integer"))),
    }
}
