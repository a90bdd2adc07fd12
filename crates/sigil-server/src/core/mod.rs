//! The core: the seal lifecycle, and once unsealed the request pipeline every API call goes
//! through.
//!
//! ```text
//! request → route (sys/, auth/<mount>/, <mount>/) → token lookup → existence check
//!         → ACL decision → token use → audit request record (fail closed)
//!         → handler → audit response record → response
//! ```
//!
//! The unauthenticated operator endpoints (`sys/init`, `sys/seal-status`, `sys/unseal`,
//! `sys/health`, `sys/leader`) are answered before the pipeline, sealed or not, and are not
//! audited (as in Vault). Everything else answers 503 while sealed.

mod active;
mod sys;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};
use sigil_core::encoding::Encoding;
use sigil_storage::Backend;

pub use self::active::Active;
use crate::activity::Activity;
use crate::api::{ApiError, Request, Response};
use crate::audit::DeviceConfig;
use crate::metrics::Metrics;
use crate::seal::{InitRequest, KeyFile, SealState, SealType, UnsealStep};

/// The version reported by `sys/seal-status` and `sys/health`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What the core needs from the configuration.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Default token TTL in seconds.
    pub default_ttl: u64,
    /// Maximum token TTL in seconds.
    pub max_ttl: u64,
    /// Auto-unseal key file; `None` for Shamir key shares.
    pub seal_key_file: Option<PathBuf>,
    /// Audit devices declared in the configuration (name, device).
    pub audit_devices: Vec<(String, DeviceConfig)>,
    /// How long a request waits for an audit device before failing.
    pub audit_timeout: Duration,
    /// Storage type reported by `sys/seal-status`.
    pub storage_type: String,
    /// Cluster name reported by status endpoints.
    pub cluster_name: String,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            default_ttl: 768 * 3600,
            max_ttl: 768 * 3600,
            seal_key_file: None,
            audit_devices: Vec::new(),
            audit_timeout: Duration::from_secs(2),
            storage_type: "embedded".into(),
            cluster_name: "sigil".into(),
        }
    }
}

/// The server core.
pub struct Core {
    backend: Arc<dyn Backend>,
    config: CoreConfig,
    keyfile: Option<KeyFile>,
    /// The lifecycle state; `None` only while a transition holds it.
    seal: tokio::sync::Mutex<Option<SealState>>,
    /// The serving state, for the request path (no lock held across a request).
    active: RwLock<Option<Arc<Active>>>,
    metrics: Arc<Metrics>,
    activity: Arc<Activity>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core").finish_non_exhaustive()
    }
}

impl Core {
    /// Loads the seal state from storage and, with a key file configured, unseals.
    pub async fn new(backend: Arc<dyn Backend>, config: CoreConfig) -> Result<Arc<Self>, ApiError> {
        let keyfile = config
            .seal_key_file
            .as_deref()
            .map(KeyFile::read)
            .transpose()?;
        // A configured audit device that cannot be opened stops the server here, before
        // anything is initialized or served unaudited.
        for (name, device) in &config.audit_devices {
            if let DeviceConfig::File { path, .. } = device {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|e| {
                        ApiError::internal(format!(
                            "audit device {name}: cannot open {}: {e}",
                            path.display()
                        ))
                    })?;
            }
        }
        let state = SealState::load(&backend).await?;
        let core = Arc::new(Self {
            backend,
            config,
            keyfile,
            seal: tokio::sync::Mutex::new(Some(state)),
            active: RwLock::new(None),
            metrics: Arc::new(Metrics::default()),
            activity: Arc::default(),
        });
        core.metrics.set_sealed(true);
        core.auto_unseal().await?;
        Ok(core)
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The open connections and requests in progress, which the HTTP layer counts.
    pub fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }

    /// The serving state, if unsealed.
    pub fn active(&self) -> Option<Arc<Active>> {
        self.active.read().ok().and_then(|a| a.clone())
    }

    async fn auto_unseal(&self) -> Result<(), ApiError> {
        let Some(kf) = &self.keyfile else {
            return Ok(());
        };
        let mut guard = self.seal.lock().await;
        let sealed = match guard.take() {
            Some(SealState::Sealed(sealed)) => sealed,
            other => {
                // Uninitialized: `sys/init` will use the key file. Nothing to unseal.
                *guard = other;
                return Ok(());
            }
        };
        match sealed.unseal_with_keyfile(&self.backend, kf).await {
            Ok(unsealed) => {
                let active = Active::start(self, unsealed.barrier().clone()).await;
                match active {
                    Ok(a) => {
                        self.set_active(Some(a));
                        *guard = Some(SealState::Unsealed(unsealed));
                        Ok(())
                    }
                    Err(e) => {
                        *guard = Some(SealState::Sealed(unsealed.seal()));
                        Err(e)
                    }
                }
            }
            Err((sealed, e)) => {
                *guard = Some(SealState::Sealed(sealed));
                Err(e)
            }
        }
    }

    fn set_active(&self, active: Option<Arc<Active>>) {
        self.metrics.set_sealed(active.is_none());
        if let Ok(mut slot) = self.active.write() {
            *slot = active;
        }
    }

    /// Handles one API call.
    pub async fn handle(&self, req: Request) -> Result<Response, ApiError> {
        self.handle_labelled(req, &mut String::new()).await
    }

    /// Handles one API call, setting `label` to the mount it is served by, for metrics
    /// (`sys/`, `auth/token/`, `secret/`; empty when sealed or served by no mount).
    pub async fn handle_labelled(
        &self,
        req: Request,
        label: &mut String,
    ) -> Result<Response, ApiError> {
        if req.path == "sys" || req.path.starts_with("sys/") {
            "sys/".clone_into(label);
        }
        if let Some(sub) = req.path.strip_prefix("sys/") {
            match sub {
                "init" => return self.sys_init(&req).await,
                "seal-status" => return Ok(Response::data(self.seal_status().await)),
                "unseal" => return self.sys_unseal(&req).await,
                "leader" => return Ok(Response::data(leader())),
                _ => {}
            }
        }
        let active = self.active().ok_or(ApiError::Sealed)?;
        active.handle(self, req, label).await
    }

    /// `sys/health`: the status code (after the query's overrides) and the body.
    pub async fn health(&self, query: &Map<String, Value>) -> (u16, Map<String, Value>) {
        let guard = self.seal.lock().await;
        let (initialized, sealed, cluster_id) = match guard.as_ref() {
            Some(SealState::Unsealed(u)) => (true, false, u.config().cluster_id.clone()),
            Some(state) => (
                state.config().is_some(),
                true,
                state
                    .config()
                    .map(|c| c.cluster_id.clone())
                    .unwrap_or_default(),
            ),
            None => (true, true, String::new()),
        };
        drop(guard);
        let code = |key: &str, default: u16| {
            crate::api::field_str(query, key)
                .and_then(|v| v.parse::<u16>().ok())
                .filter(|c| (100..600).contains(c))
                .unwrap_or(default)
        };
        let status = if !initialized {
            code("uninitcode", 501)
        } else if sealed {
            code("sealedcode", 503)
        } else {
            code("activecode", 200)
        };
        let body = json!({
            "initialized": initialized,
            "sealed": sealed,
            "standby": false,
            "performance_standby": false,
            "replication_performance_mode": "disabled",
            "replication_dr_mode": "disabled",
            "server_time_utc": unix_now(),
            "version": VERSION,
            "enterprise": false,
            "cluster_name": self.config.cluster_name,
            "cluster_id": cluster_id,
        });
        (status, as_map(body))
    }

    async fn seal_status(&self) -> Map<String, Value> {
        let guard = self.seal.lock().await;
        let state = guard.as_ref();
        let config = state.and_then(SealState::config);
        let (sealed, progress, nonce) = match state {
            Some(SealState::Unsealed(_)) => (false, 0, String::new()),
            Some(SealState::Sealed(s)) => (true, s.progress(), s.nonce().to_owned()),
            _ => (true, 0, String::new()),
        };
        let mut body = json!({
            "type": config.map_or("shamir", |c| c.kind.name()),
            "initialized": config.is_some(),
            "sealed": sealed,
            "t": config.map_or(0, |c| c.secret_threshold),
            "n": config.map_or(0, |c| c.secret_shares),
            "progress": progress,
            "nonce": nonce,
            "version": VERSION,
            "build_date": "",
            "commit_date": "",
            "migration": false,
            "recovery_seal": false,
            "storage_type": self.config.storage_type,
        });
        if let (Some(c), false, Some(obj)) = (config, sealed, body.as_object_mut()) {
            obj.insert("cluster_name".into(), json!(self.config.cluster_name));
            obj.insert("cluster_id".into(), json!(c.cluster_id));
        }
        as_map(body)
    }

    async fn sys_init(&self, req: &Request) -> Result<Response, ApiError> {
        if req.operation == crate::api::Operation::Read {
            let initialized = self
                .seal
                .lock()
                .await
                .as_ref()
                .and_then(SealState::config)
                .is_some();
            return Ok(Response::json(json!({ "initialized": initialized })));
        }
        let shares = small_count(&req.data, "secret_shares")?;
        let threshold = small_count(&req.data, "secret_threshold")?;
        let mut guard = self.seal.lock().await;
        let u = match guard.take() {
            Some(SealState::Uninitialized(u)) => u,
            other => {
                *guard = other;
                return Err(ApiError::bad("Vault is already initialized"));
            }
        };
        let request = InitRequest {
            secret_shares: shares,
            secret_threshold: threshold,
        };
        let (unsealed, result) = match u
            .init(&self.backend, request, self.keyfile.as_ref(), unix_now())
            .await
        {
            Ok(done) => done,
            Err((u, e)) => {
                *guard = Some(SealState::Uninitialized(u));
                return Err(e);
            }
        };
        let started = match Active::start(self, unsealed.barrier().clone()).await {
            Ok(a) => a.create_root_token(req.now_unix()).await.map(|t| (a, t)),
            Err(e) => Err(e),
        };
        let (active, root_token) = match started {
            Ok(done) => done,
            Err(e) => {
                *guard = Some(SealState::Sealed(unsealed.seal()));
                return Err(e);
            }
        };
        let keys: Vec<String> = result
            .keys
            .iter()
            .map(|k| Encoding::Hex.encode(k.expose_secret()))
            .collect();
        let keys_b64: Vec<String> = result
            .keys
            .iter()
            .map(|k| Encoding::Base64.encode(k.expose_secret()))
            .collect();
        match unsealed.config().kind {
            SealType::Keyfile => {
                self.set_active(Some(active));
                *guard = Some(SealState::Unsealed(unsealed));
            }
            SealType::Shamir => {
                drop(active);
                *guard = Some(SealState::Sealed(unsealed.seal()));
            }
        }
        Ok(Response::json(json!({
            "keys": keys,
            "keys_base64": keys_b64,
            "root_token": root_token,
            "recovery_keys": [],
            "recovery_keys_base64": [],
        })))
    }

    async fn sys_unseal(&self, req: &Request) -> Result<Response, ApiError> {
        if req.operation == crate::api::Operation::Read {
            return Err(ApiError::UnsupportedOperation);
        }
        let reset = crate::api::bool_field(&req.data, "reset")?.unwrap_or(false);
        let key = crate::api::field_str(&req.data, "key");
        {
            let mut guard = self.seal.lock().await;
            match guard.take() {
                Some(SealState::Sealed(sealed)) if reset => {
                    *guard = Some(SealState::Sealed(sealed.reset()));
                }
                Some(SealState::Sealed(sealed)) => {
                    let Some(key) = key else {
                        *guard = Some(SealState::Sealed(sealed));
                        return Err(ApiError::bad(
                            "'key' must be specified in request body as JSON, or 'reset' set to true",
                        ));
                    };
                    match sealed.submit(&self.backend, &key).await {
                        Ok(UnsealStep::Progress(s)) => *guard = Some(SealState::Sealed(s)),
                        Ok(UnsealStep::Unsealed(u)) => {
                            match Active::start(self, u.barrier().clone()).await {
                                Ok(a) => {
                                    self.set_active(Some(a));
                                    *guard = Some(SealState::Unsealed(u));
                                }
                                Err(e) => {
                                    *guard = Some(SealState::Sealed(u.seal()));
                                    return Err(e);
                                }
                            }
                        }
                        Err((s, e)) => {
                            *guard = Some(SealState::Sealed(s));
                            return Err(e);
                        }
                    }
                }
                Some(SealState::Uninitialized(u)) => {
                    *guard = Some(SealState::Uninitialized(u));
                    return Err(ApiError::bad("Vault is not initialized"));
                }
                other => *guard = other,
            }
        }
        Ok(Response::data(self.seal_status().await))
    }

    /// Seals the server (`sys/seal`, and on shutdown).
    pub async fn seal(&self) {
        let mut guard = self.seal.lock().await;
        *guard = match guard.take() {
            Some(SealState::Unsealed(u)) => {
                self.set_active(None);
                Some(SealState::Sealed(u.seal()))
            }
            // Already sealed or uninitialized: nothing to do.
            other => other,
        };
    }

    pub(crate) fn config(&self) -> &CoreConfig {
        &self.config
    }
}

fn leader() -> Map<String, Value> {
    as_map(json!({
        "ha_enabled": false,
        "is_self": false,
        "active_time": "0001-01-01T00:00:00Z",
        "leader_address": "",
        "leader_cluster_address": "",
        "performance_standby": false,
        "performance_standby_last_remote_wal": 0,
    }))
}

fn small_count(data: &Map<String, Value>, key: &str) -> Result<u8, ApiError> {
    let v = crate::api::u64_field(data, key)?.unwrap_or(0);
    u8::try_from(v).map_err(|_| ApiError::bad(format!("{key} must be at most 255")))
}

pub(crate) fn as_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
