//! The authenticated `sys/` endpoints: mounts and auth methods, the KV pre-flight,
//! capabilities, policies, audit devices, keyring rotation, sealing and metrics.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::active::{AUDIT_SALT, AUDIT_TABLE, Active, AuditEntry, device_config, salt_for};
use super::{Core, as_map};
use crate::api::{ApiError, Operation, Request, Response, field_str, strings_field};
use crate::audit::DeviceConfig;
use crate::engine::split_first;
use crate::mounts::{MountEntry, apply_tuning, normalize};

impl Active {
    /// Dispatches `sys/<sub>`.
    pub(super) async fn sys(
        &self,
        core: &Core,
        sub: &str,
        req: &Request,
    ) -> Result<Response, ApiError> {
        let op = req.operation;
        let (head, rest) = split_first(sub);
        match (head, op) {
            ("mounts", Operation::Read) if rest.is_empty() => Ok(self.list_mounts(false)),
            ("mounts", _) if rest.is_empty() => Err(ApiError::UnsupportedOperation),
            ("mounts", _) => self.mount_path(req, rest, false).await,
            ("auth", Operation::Read) if rest.is_empty() => Ok(self.list_mounts(true)),
            ("auth", _) if rest.is_empty() => Err(ApiError::UnsupportedOperation),
            ("auth", _) => self.mount_path(req, rest, true).await,
            ("internal", Operation::Read) => self.internal_ui_mounts(req, rest),
            (
                "capabilities-self" | "capabilities" | "capabilities-accessor",
                Operation::Create | Operation::Update,
            ) => self.capabilities(req, head).await,
            ("policy" | "policies", _) => self.policies.handle(req, sub).await,
            ("audit", Operation::Read) if rest.is_empty() => self.list_audit(),
            ("audit", Operation::Create | Operation::Update) if !rest.is_empty() => {
                self.enable_audit(req, rest).await
            }
            ("audit", Operation::Delete) if !rest.is_empty() => self.disable_audit(rest).await,
            ("audit-hash", Operation::Create | Operation::Update) if !rest.is_empty() => {
                let input = field_str(&req.data, "input")
                    .ok_or_else(|| ApiError::bad("input is required"))?;
                let hash = self
                    .audit
                    .hash(rest.trim_end_matches('/'), &input)
                    .ok_or_else(|| ApiError::bad(format!("unknown audit device {rest}")))?;
                Ok(Response::json(json!({ "hash": hash })))
            }
            ("rotate" | "rotate/keyring", Operation::Create | Operation::Update) => {
                self.barrier.rotate(req.now_unix()).await?;
                Ok(Response::empty())
            }
            ("key-status", Operation::Read) => {
                let s = self.barrier.key_status()?;
                Ok(Response::json(json!({
                    "term": s.term,
                    "install_time": crate::time::rfc3339(s.installed),
                    "encryptions": s.encryptions,
                })))
            }
            ("seal", Operation::Create | Operation::Update) => {
                core.seal().await;
                Ok(Response::empty())
            }
            ("metrics", Operation::Read) => {
                let mut data = Map::new();
                data.insert("prometheus".into(), Value::String(core.metrics().render()));
                Ok(Response::data(data))
            }
            _ => Err(ApiError::UnsupportedPath),
        }
    }

    fn list_mounts(&self, auth: bool) -> Response {
        let lock = if auth { &self.auth } else { &self.secret };
        let mut data = Map::new();
        if let Ok(table) = lock.read() {
            for m in table.iter() {
                data.insert(m.entry.path.clone(), m.entry.to_json());
            }
        }
        Response::data(data)
    }

    /// `sys/mounts/<path>[/tune]` and `sys/auth/<path>[/tune]`.
    async fn mount_path(
        &self,
        req: &Request,
        rest: &str,
        auth: bool,
    ) -> Result<Response, ApiError> {
        let (path, tune) = match rest.strip_suffix("/tune") {
            Some(p) => (p, true),
            None => (rest, false),
        };
        let path = normalize(path)?;
        match (req.operation, tune) {
            (Operation::Read, _) => {
                let lock = if auth { &self.auth } else { &self.secret };
                let table = lock
                    .read()
                    .map_err(|_| ApiError::internal("lock poisoned"))?;
                let m = table
                    .get(&path)
                    .ok_or_else(|| ApiError::bad(format!("no mount at {path}")))?;
                if tune {
                    let c = &m.entry.config;
                    Ok(Response::json(json!({
                        "description": m.entry.description,
                        "default_lease_ttl": c.default_lease_ttl,
                        "max_lease_ttl": c.max_lease_ttl,
                        "force_no_cache": false,
                        "audit_non_hmac_request_keys": c.audit_non_hmac_request_keys,
                        "audit_non_hmac_response_keys": c.audit_non_hmac_response_keys,
                        "listing_visibility": c.listing_visibility,
                        "options": m.entry.options,
                    })))
                } else {
                    Ok(Response::json(m.entry.to_json()))
                }
            }
            (Operation::Create | Operation::Update, true) => self.tune(req, &path, auth).await,
            (Operation::Create | Operation::Update, false) => self.enable(req, &path, auth).await,
            (Operation::Delete, false) => self.disable(&path, auth).await,
            _ => Err(ApiError::UnsupportedOperation),
        }
    }

    async fn enable(&self, req: &Request, path: &str, auth: bool) -> Result<Response, ApiError> {
        let kind = field_str(&req.data, "type")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::bad("type is required"))?;
        let (kind, mut options) = match kind.as_str() {
            "kv-v2" => (
                "kv".to_owned(),
                BTreeMap::from([("version".into(), "2".into())]),
            ),
            "kv-v1" => (
                "kv".to_owned(),
                BTreeMap::from([("version".into(), "1".into())]),
            ),
            _ => (kind, BTreeMap::new()),
        };
        if auth && kind == "token" {
            return Err(ApiError::bad(
                "token credential backend cannot be instantiated",
            ));
        }
        match req.data.get("options") {
            None | Some(Value::Null) => {}
            Some(Value::Object(o)) => {
                for (k, v) in o {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        _ => return Err(ApiError::bad(format!("options.{k} must be a string"))),
                    };
                    options.insert(k.clone(), v);
                }
            }
            Some(_) => return Err(ApiError::bad("options must be an object")),
        }
        let mut entry = MountEntry::new(path, &kind);
        entry.description = field_str(&req.data, "description").unwrap_or_default();
        entry.options = options;
        match req.data.get("config") {
            None | Some(Value::Null) => {}
            Some(Value::Object(c)) => apply_tuning(&mut entry.config, c)?,
            Some(_) => return Err(ApiError::bad("config must be an object")),
        }
        let mount = self.build(entry, auth)?;
        let _guard = self.table_lock.lock().await;
        let lock = if auth { &self.auth } else { &self.secret };
        lock.read()
            .map_err(|_| ApiError::internal("lock poisoned"))?
            .check_new(path, !auth)?;
        lock.write()
            .map_err(|_| ApiError::internal("lock poisoned"))?
            .insert(Arc::new(mount));
        if let Err(e) = self.persist_table(auth).await {
            if let Ok(mut t) = lock.write() {
                t.remove(path);
            }
            return Err(e);
        }
        Ok(Response::empty())
    }

    async fn disable(&self, path: &str, auth: bool) -> Result<Response, ApiError> {
        if auth && path == "token/" {
            return Err(ApiError::bad("token credential backend cannot be disabled"));
        }
        let _guard = self.table_lock.lock().await;
        let lock = if auth { &self.auth } else { &self.secret };
        let Some(removed) = lock
            .write()
            .map_err(|_| ApiError::internal("lock poisoned"))?
            .remove(path)
        else {
            // Vault answers success for a path with nothing mounted.
            return Ok(Response::empty());
        };
        if let Err(e) = self.persist_table(auth).await {
            if let Ok(mut t) = lock.write() {
                t.insert(removed);
            }
            return Err(e);
        }
        self.purge(&removed.view).await?;
        Ok(Response::empty())
    }

    async fn tune(&self, req: &Request, path: &str, auth: bool) -> Result<Response, ApiError> {
        let _guard = self.table_lock.lock().await;
        let lock = if auth { &self.auth } else { &self.secret };
        let mut entry = lock
            .read()
            .map_err(|_| ApiError::internal("lock poisoned"))?
            .get(path)
            .map(|m| m.entry.clone())
            .ok_or_else(|| ApiError::bad(format!("no mount at {path}")))?;
        apply_tuning(&mut entry.config, &req.data)?;
        if let Some(d) = field_str(&req.data, "description") {
            entry.description = d;
        }
        if let Some(Value::Object(o)) = req.data.get("options")
            && let Some(v) = o.get("version").and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
        {
            let current = entry.options.get("version").map_or("1", String::as_str);
            if v != current {
                return Err(ApiError::bad(
                    "changing the KV version of a mount is not supported; mount a new path",
                ));
            }
        }
        let mount = self.build(entry, auth)?;
        let old = {
            let mut t = lock
                .write()
                .map_err(|_| ApiError::internal("lock poisoned"))?;
            let old = t.remove(path);
            t.insert(Arc::new(mount));
            old
        };
        if let Err(e) = self.persist_table(auth).await {
            if let (Ok(mut t), Some(old)) = (lock.write(), old) {
                t.insert(old);
            }
            return Err(e);
        }
        Ok(Response::empty())
    }

    /// `sys/internal/ui/mounts[/<path>]`: the KV pre-flight and the UI's mount listing.
    fn internal_ui_mounts(&self, req: &Request, rest: &str) -> Result<Response, ApiError> {
        let Some(tail) = rest.strip_prefix("ui/mounts") else {
            return Err(ApiError::UnsupportedPath);
        };
        let tail = tail.trim_start_matches('/');
        if tail.is_empty() {
            let secret = self.list_mounts(false).data.unwrap_or_default();
            let auth = self.list_mounts(true).data.unwrap_or_default();
            return Ok(Response::json(json!({ "secret": secret, "auth": auth })));
        }
        let prefix = self
            .mount_prefix_for(tail)
            .ok_or(ApiError::PermissionDenied)?;
        let (lock, key) = match prefix.strip_prefix("auth/") {
            Some(p) => (&self.auth, p.to_owned()),
            None => (&self.secret, prefix.clone()),
        };
        let table = lock
            .read()
            .map_err(|_| ApiError::internal("lock poisoned"))?;
        let m = table.get(&key).ok_or(ApiError::PermissionDenied)?;
        let mut info = as_map(m.entry.to_json());
        info.insert("path".into(), Value::String(prefix));
        drop(table);
        let _ = req;
        Ok(Response::data(info))
    }

    /// `sys/capabilities-self`, and `sys/capabilities` / `sys/capabilities-accessor` for the
    /// token or accessor named in the body.
    async fn capabilities(&self, req: &Request, which: &str) -> Result<Response, ApiError> {
        let mut paths = strings_field(&req.data, "paths")?.unwrap_or_default();
        if let Some(p) = field_str(&req.data, "path") {
            paths.push(p);
        }
        if paths.is_empty() {
            return Err(ApiError::bad("paths must be supplied"));
        }
        let now = req.now_unix();
        let subject = match which {
            "capabilities" => {
                let token = field_str(&req.data, "token")
                    .ok_or_else(|| ApiError::bad("token is required"))?;
                self.tokens
                    .lookup(&token, now)
                    .await?
                    .ok_or_else(|| ApiError::bad("invalid token"))?
            }
            "capabilities-accessor" => {
                let accessor = field_str(&req.data, "accessor")
                    .ok_or_else(|| ApiError::bad("accessor is required"))?;
                self.tokens
                    .lookup_accessor(&accessor, now)
                    .await?
                    .ok_or_else(|| ApiError::bad("invalid accessor"))?
            }
            _ => req.caller.clone().ok_or(ApiError::PermissionDenied)?,
        };
        let acl = self.policies.acl_for(&subject.policies).await?;
        let mut data = Map::new();
        let mut first = None;
        for p in &paths {
            let caps = acl.capabilities(p.trim_start_matches('/'));
            if first.is_none() {
                first = Some(caps.clone());
            }
            data.insert(p.clone(), json!(caps));
        }
        data.insert("capabilities".into(), json!(first.unwrap_or_default()));
        Ok(Response::data(data))
    }

    fn list_audit(&self) -> Result<Response, ApiError> {
        let mut data = Map::new();
        for (name, device) in self.audit.list()? {
            let name = format!("{}/", name.trim_end_matches('/'));
            let stored = self
                .audit_table
                .read()
                .ok()
                .and_then(|t| t.iter().find(|e| e.path == name).cloned());
            let (description, options) = match stored {
                Some(e) => (e.description, json!(e.options)),
                None => {
                    let file_path = match &device {
                        DeviceConfig::File { path, .. } => path.display().to_string(),
                        DeviceConfig::Stdout => "stdout".into(),
                    };
                    (String::new(), json!({ "file_path": file_path }))
                }
            };
            data.insert(
                name.clone(),
                json!({
                    "type": "file",
                    "description": description,
                    "options": options,
                    "local": false,
                    "path": name,
                }),
            );
        }
        Ok(Response::data(data))
    }

    async fn enable_audit(&self, req: &Request, rest: &str) -> Result<Response, ApiError> {
        let path = normalize(rest)?;
        let kind = field_str(&req.data, "type").ok_or_else(|| ApiError::bad("type is required"))?;
        let mut options = BTreeMap::new();
        match req.data.get("options") {
            None | Some(Value::Null) => {}
            Some(Value::Object(o)) => {
                for (k, v) in o {
                    let Value::String(v) = v else {
                        return Err(ApiError::bad(format!("options.{k} must be a string")));
                    };
                    options.insert(k.clone(), v.clone());
                }
            }
            Some(_) => return Err(ApiError::bad("options must be an object")),
        }
        let device = device_config(&kind, &options)?;
        let _guard = self.table_lock.lock().await;
        let device_name = path.trim_end_matches('/');
        if self.audit_device_enabled(device_name)? {
            return Err(ApiError::bad(format!("path already in use: {path}")));
        }
        let entry = AuditEntry {
            path: path.clone(),
            kind,
            description: field_str(&req.data, "description").unwrap_or_default(),
            options,
        };
        let salt = salt_for(&self.root, &path).await?;
        self.audit.enable(device_name, device, &salt)?;
        let mut table = self
            .audit_table
            .read()
            .map_err(|_| ApiError::internal("lock poisoned"))?
            .clone();
        table.push(entry);
        if let Err(e) = self.root.put_json(AUDIT_TABLE, &table).await {
            let _ = self.audit.disable(device_name);
            return Err(e);
        }
        if let Ok(mut t) = self.audit_table.write() {
            *t = table;
        }
        Ok(Response::empty())
    }

    /// Whether a device is enabled under `name` (without its trailing `/`), whether through
    /// the API or by the configuration file.
    fn audit_device_enabled(&self, name: &str) -> Result<bool, ApiError> {
        Ok(self
            .audit
            .list()?
            .iter()
            .any(|(n, _)| n.trim_end_matches('/') == name))
    }

    async fn disable_audit(&self, rest: &str) -> Result<Response, ApiError> {
        let path = normalize(rest)?;
        let _guard = self.table_lock.lock().await;
        let mut table = self
            .audit_table
            .read()
            .map_err(|_| ApiError::internal("lock poisoned"))?
            .clone();
        let before = table.len();
        table.retain(|e| e.path != path);
        if table.len() == before {
            if self.audit_device_enabled(path.trim_end_matches('/'))? {
                // Enabled, but not through the API: the configuration file owns it, and a
                // success here would leave the caller believing it stopped.
                return Err(ApiError::bad(format!(
                    "audit device {path} is set in the configuration file; remove it there"
                )));
            }
            // Nothing enabled there: disabling is idempotent, as in Vault.
            return Ok(Response::empty());
        }
        self.root.put_json(AUDIT_TABLE, &table).await?;
        self.root
            .delete(&format!("{AUDIT_SALT}{}", path.trim_end_matches('/')))
            .await?;
        self.audit.disable(path.trim_end_matches('/'))?;
        if let Ok(mut t) = self.audit_table.write() {
            *t = table;
        }
        Ok(Response::empty())
    }
}
