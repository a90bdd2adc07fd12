//! The unsealed server: mount tables, token and policy stores, audit broker, and the request
//! pipeline. Built when the barrier opens, dropped (with every key) when the server seals.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sigil_core::SecretBytes;

use super::Core;
use crate::api::{ApiError, Operation, Request, Response};
use crate::audit::{AuditAuth, AuditBroker, AuditMount, DeviceConfig};
use crate::auth::approle::AppRole;
use crate::auth::token::{TokenEntry, TokenStore};
use crate::auth::token_engine::TokenEngine;
use crate::barrier::Barrier;
use crate::engine::Engine;
use crate::kv::{KvV1, KvV2};
use crate::mounts::{AUTH_TABLE, Mount, MountEntry, SECRET_TABLE, Table};
use crate::policy::PolicyStore;
use crate::view::{SecureStore, View, ViewOp};

/// Where API-enabled audit devices are stored.
pub(super) const AUDIT_TABLE: &str = "core/audit";
/// Where each audit device's HMAC salt is stored.
pub(super) const AUDIT_SALT: &str = "core/audit-salt/";

/// An audit device enabled through the API, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct AuditEntry {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// Where a request goes.
enum Target {
    Sys(String),
    Mount {
        mount: Arc<Mount>,
        rel: String,
        auth: bool,
    },
    Nowhere,
}

/// The serving state.
pub struct Active {
    pub(super) barrier: Arc<Barrier>,
    pub(super) root: View,
    pub(super) secret: RwLock<Table>,
    pub(super) auth: RwLock<Table>,
    /// Serializes changes to the mount and audit tables.
    pub(super) table_lock: tokio::sync::Mutex<()>,
    pub(super) tokens: Arc<TokenStore>,
    pub(super) policies: PolicyStore,
    pub(super) audit: AuditBroker,
    pub(super) audit_table: RwLock<Vec<AuditEntry>>,
}

impl std::fmt::Debug for Active {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Active").finish_non_exhaustive()
    }
}

impl Active {
    /// Loads everything the barrier holds and starts serving.
    pub(super) async fn start(core: &Core, barrier: Arc<Barrier>) -> Result<Arc<Self>, ApiError> {
        let store: Arc<dyn SecureStore> = barrier.clone();
        let root = View::new(store, "");
        let config = core.config();
        let tokens = Arc::new(TokenStore::new(
            root.sub("sys/token/"),
            config.default_ttl,
            config.max_ttl,
        ));
        let policies = PolicyStore::new(root.sub("sys/policy/"));
        policies.ensure_default().await?;

        let mut secret = Table::default();
        for entry in root
            .get_json::<Vec<MountEntry>>(SECRET_TABLE)
            .await?
            .unwrap_or_default()
        {
            secret.insert(Arc::new(build_mount(&root, entry, false, &tokens)?));
        }
        let mut auth_entries = root
            .get_json::<Vec<MountEntry>>(AUTH_TABLE)
            .await?
            .unwrap_or_default();
        if !auth_entries.iter().any(|e| e.path == "token/") {
            let mut token = MountEntry::new("token/", "token");
            token.description = "token based credentials".into();
            auth_entries.push(token);
            root.put_json(AUTH_TABLE, &auth_entries).await?;
        }
        let mut auth = Table::default();
        for entry in auth_entries {
            auth.insert(Arc::new(build_mount(&root, entry, true, &tokens)?));
        }

        let audit = AuditBroker::new(config.audit_timeout, crate::audit::DEFAULT_QUEUE)
            .watching(Arc::clone(core.activity()));
        for (name, device) in &config.audit_devices {
            let salt = salt_for(&root, name).await?;
            audit.enable(name.trim_end_matches('/'), device.clone(), &salt)?;
        }
        let audit_table = root
            .get_json::<Vec<AuditEntry>>(AUDIT_TABLE)
            .await?
            .unwrap_or_default();
        for entry in &audit_table {
            let device = device_config(&entry.kind, &entry.options)?;
            let salt = salt_for(&root, &entry.path).await?;
            audit.enable(entry.path.trim_end_matches('/'), device, &salt)?;
        }

        Ok(Arc::new(Self {
            barrier,
            root,
            secret: RwLock::new(secret),
            auth: RwLock::new(auth),
            table_lock: tokio::sync::Mutex::new(()),
            tokens,
            policies,
            audit,
            audit_table: RwLock::new(audit_table),
        }))
    }

    /// Makes the initial root token (`sys/init`, `sigil dev`).
    pub async fn create_root_token(&self, now: u64) -> Result<String, ApiError> {
        self.tokens.create_root(now).await
    }

    /// The metrics label for a request's target.
    fn mount_label(target: &Target) -> String {
        match target {
            Target::Sys(_) => "sys/".into(),
            Target::Mount { mount, auth, .. } if *auth => format!("auth/{}", mount.entry.path),
            Target::Mount { mount, .. } => mount.entry.path.clone(),
            Target::Nowhere => String::new(),
        }
    }

    fn target(&self, path: &str) -> Target {
        if path == "sys" {
            return Target::Sys(String::new());
        }
        if let Some(sub) = path.strip_prefix("sys/") {
            return Target::Sys(sub.to_owned());
        }
        let (table, rest, auth) = match path.strip_prefix("auth/") {
            Some(rest) => (&self.auth, rest, true),
            None => (&self.secret, path, false),
        };
        let Ok(table) = table.read() else {
            return Target::Nowhere;
        };
        match table.route(rest) {
            Some((mount, rel)) => Target::Mount {
                mount: Arc::clone(mount),
                rel: rel.to_owned(),
                auth,
            },
            None => Target::Nowhere,
        }
    }

    /// Runs one request through the pipeline, first setting `label` to the metrics label of
    /// the mount it goes to (routing it once for both).
    pub(super) async fn handle(
        &self,
        core: &Core,
        mut req: Request,
        label: &mut String,
    ) -> Result<Response, ApiError> {
        let target = self.target(&req.path);
        *label = Self::mount_label(&target);
        let unauthenticated = match &target {
            Target::Mount { mount, rel, .. } => is_unauthenticated(mount.engine.as_ref(), rel),
            _ => false,
        };

        let mut audit_auth = AuditAuth::default();
        if !unauthenticated && !req.internal {
            let token = req.token.as_ref().ok_or(ApiError::PermissionDenied)?;
            let entry = self
                .tokens
                .lookup(token.expose_secret(), req.now_unix())
                .await?
                .ok_or(ApiError::PermissionDenied)?;
            audit_auth = audit_auth_for(token, &entry);
            req.caller = Some(entry);
        }

        if req.operation == Operation::Update
            && let Target::Mount { mount, rel, .. } = &target
            && !mount.engine.exists(rel, &mount.view).await?
        {
            req.operation = Operation::Create;
        }

        if let Some(entry) = req.caller.clone() {
            let acl = self.policies.acl_for(&entry.policies).await?;
            let allowed = if let Some(p) = req.path.strip_prefix("sys/internal/ui/mounts/") {
                // The KV pre-flight: any capability under the mount is enough (as in Vault).
                acl.has_any_under(&self.mount_prefix_for(p).unwrap_or_default())
                    || acl
                        .decide(req.operation, &req.path, &req.data, false)
                        .allowed
            } else {
                let sudo = sudo_required(&req.path)
                    || matches!(&target, Target::Mount { mount, rel, .. }
                        if engine_path_matches(mount.engine.sudo_paths(), rel));
                let decision = acl.decide(req.operation, &req.path, &req.data, sudo);
                audit_auth.policy_results = Some((decision.allowed, decision.granting_policies));
                decision.allowed
            };
            if !allowed {
                // Denied requests are audited too, then refused.
                let mount = self.audit_mount(&target);
                let denied = Err(ApiError::PermissionDenied);
                self.audit_request(core, &audit_auth, &req, &mount).await?;
                self.audit_response(core, &audit_auth, &req, &mount, denied.as_ref())
                    .await?;
                return denied;
            }
            self.tokens.use_once(&entry).await?;
        }

        let mount = self.audit_mount(&target);
        // A request that changes nothing is recorded with its response after it runs (see
        // `Engine::read_only`); any other is recorded before it runs.
        let read_only = match &target {
            Target::Mount { mount, rel, .. } => {
                let full = std::mem::replace(&mut req.path, rel.clone());
                let pure = mount.engine.read_only(&req);
                req.path = full;
                pure
            }
            _ => false,
        };
        if !read_only {
            self.audit_request(core, &audit_auth, &req, &mount).await?;
        }
        let outcome = match target {
            Target::Sys(sub) => self.sys(core, &sub, &req).await,
            Target::Mount { mount, rel, .. } => {
                let full = std::mem::replace(&mut req.path, rel);
                let out = mount.engine.handle(&req, &mount.view).await;
                req.path = full;
                out
            }
            Target::Nowhere => Err(ApiError::UnsupportedPath),
        };
        if read_only {
            self.audit
                .log_exchange(&audit_auth, &req, &mount, outcome.as_ref())
                .await
                .inspect_err(|_| core.metrics().audit_failure())?;
        } else {
            self.audit_response(core, &audit_auth, &req, &mount, outcome.as_ref())
                .await?;
        }
        if let Err(e) = self.barrier.rotate_if_due(req.now_unix()).await {
            tracing::warn!(error = %e, "automatic keyring rotation failed; will retry");
        }
        outcome
    }

    async fn audit_request(
        &self,
        core: &Core,
        auth: &AuditAuth,
        req: &Request,
        mount: &AuditMount,
    ) -> Result<(), ApiError> {
        self.audit
            .log_request(auth, req, mount)
            .await
            .inspect_err(|_| core.metrics().audit_failure())
    }

    async fn audit_response(
        &self,
        core: &Core,
        auth: &AuditAuth,
        req: &Request,
        mount: &AuditMount,
        outcome: Result<&Response, &ApiError>,
    ) -> Result<(), ApiError> {
        self.audit
            .log_response(auth, req, mount, outcome)
            .await
            .inspect_err(|_| core.metrics().audit_failure())
    }

    fn audit_mount(&self, target: &Target) -> AuditMount {
        match target {
            Target::Mount { mount, auth, .. } => AuditMount {
                point: if *auth {
                    format!("auth/{}", mount.entry.path)
                } else {
                    mount.entry.path.clone()
                },
                kind: mount.entry.kind.clone(),
                accessor: mount.entry.accessor.clone(),
                non_hmac_request_keys: mount.entry.config.audit_non_hmac_request_keys.clone(),
                non_hmac_response_keys: mount.entry.config.audit_non_hmac_response_keys.clone(),
            },
            Target::Sys(_) => AuditMount {
                point: "sys/".into(),
                kind: "system".into(),
                ..AuditMount::default()
            },
            Target::Nowhere => AuditMount::default(),
        }
    }

    /// The full mount path (`secret/`, `auth/approle/`) that `path` falls under.
    pub(super) fn mount_prefix_for(&self, path: &str) -> Option<String> {
        match self.target(path) {
            Target::Mount { mount, auth, .. } if auth => Some(format!("auth/{}", mount.entry.path)),
            Target::Mount { mount, .. } => Some(mount.entry.path.clone()),
            _ => None,
        }
    }

    /// Stores a mount table.
    pub(super) async fn persist_table(&self, auth: bool) -> Result<(), ApiError> {
        let (lock, key) = if auth {
            (&self.auth, AUTH_TABLE)
        } else {
            (&self.secret, SECRET_TABLE)
        };
        let entries = lock
            .read()
            .map_err(|_| ApiError::internal("mount table lock poisoned"))?
            .entries();
        self.root.put_json(key, &entries).await
    }

    /// Builds a live mount for a new entry.
    pub(super) fn build(&self, entry: MountEntry, auth: bool) -> Result<Mount, ApiError> {
        build_mount(&self.root, entry, auth, &self.tokens)
    }

    /// Deletes everything under a view (after its mount was removed from the table).
    pub(super) async fn purge(&self, view: &View) -> Result<(), ApiError> {
        let mut stack = vec![String::new()];
        while let Some(prefix) = stack.pop() {
            let mut ops = Vec::new();
            for name in view.list(&prefix, sigil_storage::Page::default()).await? {
                let key = format!("{prefix}{name}");
                if name.ends_with('/') {
                    stack.push(key);
                } else {
                    ops.push(ViewOp::Delete(key));
                }
            }
            for chunk in ops.chunks(256) {
                view.transaction(chunk.to_vec()).await?;
            }
        }
        Ok(())
    }
}

fn build_mount(
    root: &View,
    entry: MountEntry,
    auth: bool,
    tokens: &Arc<TokenStore>,
) -> Result<Mount, ApiError> {
    let engine: Arc<dyn Engine> = match (auth, entry.kind.as_str()) {
        (false, "kv") => match entry.options.get("version").map(String::as_str) {
            Some("2") => Arc::new(KvV2::new()),
            None | Some("1" | "") => Arc::new(KvV1::new()),
            Some(v) => return Err(ApiError::bad(format!("unsupported kv version {v:?}"))),
        },
        (false, "transit") => Arc::new(crate::transit::Transit::new()),
        (false, "pki") => Arc::new(crate::pki::Pki::new()),
        (false, "spiffe") => Arc::new(crate::identity::Identity::new()),
        (true, "token") => Arc::new(TokenEngine::new(Arc::clone(tokens))),
        (true, "approle") => Arc::new(AppRole::new(Arc::clone(tokens))),
        (true, "cert") => Arc::new(crate::auth::cert::CertAuth::new(Arc::clone(tokens))),
        (true, "jwt") => Arc::new(crate::auth::jwt::JwtAuth::new(Arc::clone(tokens))),
        (_, other) => {
            return Err(ApiError::bad(format!(
                "plugin not found in the catalog: {other}"
            )));
        }
    };
    let prefix = if auth { "auth" } else { "logical" };
    Ok(Mount {
        view: root.sub(&format!("{prefix}/{}/", entry.uuid)),
        entry,
        engine,
    })
}

fn is_unauthenticated(engine: &dyn Engine, rel: &str) -> bool {
    engine_path_matches(engine.unauthenticated_paths(), rel)
}

/// Whether `rel` matches one of an engine's declared path patterns.
fn engine_path_matches(patterns: &[&str], rel: &str) -> bool {
    patterns.iter().any(|p| unauthenticated_match(p, rel))
}

/// Vault's path patterns: a trailing `*` matches any rest, and a `+` segment exactly one
/// non-empty segment (`issuer/+/pem` opens `issuer/x/pem` but not `issuer/x/issue/r`).
fn unauthenticated_match(pattern: &str, rel: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix('*') {
        return rel.starts_with(prefix);
    }
    if !pattern.contains('+') {
        return rel == pattern;
    }
    let (mut p, mut r) = (pattern.split('/'), rel.split('/'));
    loop {
        match (p.next(), r.next()) {
            (None, None) => return true,
            (Some("+"), Some(seg)) if !seg.is_empty() => {}
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

/// Paths that need `sudo` in addition to the operation's capability (Vault's root paths).
pub(super) fn sudo_required(path: &str) -> bool {
    matches!(
        path,
        "sys/audit" | "sys/rotate" | "sys/seal" | "sys/raw" | "auth/token/accessors"
    ) || [
        "sys/audit/",
        "sys/auth/",
        "sys/raw/",
        "auth/token/accessors/",
        "auth/token/revoke-orphan",
    ]
    .iter()
    .any(|p| path.starts_with(p))
}

fn audit_auth_for(token: &sigil_core::SecretString, entry: &TokenEntry) -> AuditAuth {
    AuditAuth {
        client_token: Some(token.clone()),
        accessor: entry.accessor.clone(),
        display_name: entry.display_name.clone(),
        policies: entry.policies.clone(),
        token_policies: entry.policies.clone(),
        metadata: entry
            .meta
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<Map<String, Value>>(),
        token_type: "service".into(),
        token_ttl: entry.creation_ttl,
        policy_results: None,
    }
}

pub(super) async fn salt_for(root: &View, name: &str) -> Result<SecretBytes, ApiError> {
    let key = format!("{AUDIT_SALT}{}", name.trim_end_matches('/'));
    if let Some(salt) = root.get(&key).await? {
        return Ok(SecretBytes::new(salt));
    }
    let salt = sigil_core::random::secret_bytes(32).map_err(ApiError::internal)?;
    root.put(&key, salt.expose_secret().to_vec()).await?;
    Ok(salt)
}

/// The device for a stored or requested audit entry: `file` with `file_path` (`stdout` for
/// standard output).
pub(super) fn device_config(
    kind: &str,
    options: &BTreeMap<String, String>,
) -> Result<DeviceConfig, ApiError> {
    match kind {
        "file" => match options.get("file_path").map(String::as_str) {
            Some("stdout") => Ok(DeviceConfig::Stdout),
            Some(path) if !path.is_empty() => Ok(DeviceConfig::file(path)),
            _ => Err(ApiError::bad(
                "file_path is required for a file audit device",
            )),
        },
        other => Err(ApiError::bad(format!(
            "unknown audit device type {other:?}"
        ))),
    }
}

#[cfg(test)]
mod unauthenticated_tests {
    use super::unauthenticated_match as m;

    #[test]
    fn plus_is_one_segment_and_star_a_prefix() {
        assert!(m("issuer/+/pem", "issuer/abc/pem"));
        assert!(!m("issuer/+/pem", "issuer//pem"));
        assert!(!m("issuer/+/pem", "issuer/abc/issue/web"));
        assert!(!m("issuer/+/pem", "issuer/abc"));
        assert!(!m("issuer/+/pem", "issuer/a/b/pem"));
        assert!(m("cert/*", "cert/01"));
        assert!(m("ca", "ca"));
        assert!(!m("ca", "ca/pem"));
    }
}
