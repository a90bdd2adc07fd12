//! Entry points the binary calls: [`run`] for `sigil server --config`, [`dev`] for `sigil dev`.
//!
//! `sigil dev` is a real server with everything a newcomer needs made for them in one
//! directory: a local CA and a server certificate for `localhost`, an auto-unseal key file, the
//! embedded store, an audit log, a KV v2 mount at `secret/`, and `<dir>/env` with the address,
//! CA file and root token for Sigil's, Vault's and OpenBao's clients. Restarting it with the
//! same directory keeps everything.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use serde_json::json;
use sigil_storage::embedded::InlinePermit;
use sigil_storage::{Backend, Embedded};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::api::{Operation, Request};
use crate::audit::DeviceConfig;
use crate::config::Config;
use crate::core::{Core, CoreConfig};
use crate::http::{self, DEFAULT_MAX_REQUEST_SIZE};
use crate::seal::KeyFile;

/// Runs a server from its configuration until SIGINT or SIGTERM.
pub async fn run(config: Config) -> Result<(), String> {
    let core_config = config.core()?;
    let backend = open_storage(&config.storage.path, config.storage.cache_size)?;
    let core = start_core(backend, core_config).await?;
    let mut servers = Vec::new();
    let (stop, stopped) = watch::channel(false);
    for l in &config.listeners {
        let addr = l.socket_addr()?;
        let tls = match (&l.tls_cert_file, &l.tls_key_file, l.tls_disable) {
            (_, _, true) => None,
            (Some(c), Some(k), false) => Some(http::tls_config(c, k)?),
            _ => return Err(format!("listener {}: TLS files missing", l.address)),
        };
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| format!("binding {addr}: {e}"))?;
        tracing::info!(address = %listener.local_addr().map_err(|e| e.to_string())?, tls = tls.is_some(), "listening");
        servers.push(tokio::spawn(http::serve(
            Arc::clone(&core),
            listener,
            tls,
            l.max_request_size,
            stopped.clone(),
        )));
    }
    for b in &config.bundle_endpoints {
        servers.push(spawn_bundle_endpoint(&core, &b.address, &b.mount, &stopped).await?);
    }
    wait_for_signal().await;
    tracing::info!("shutting down");
    let _ = stop.send(true);
    for s in servers {
        let _ = s.await;
    }
    core.seal().await;
    Ok(())
}

/// Binds `address` and serves `mount`'s SPIFFE bundle there (see [`crate::bundle_endpoint`]).
async fn spawn_bundle_endpoint(
    core: &Arc<Core>,
    address: &str,
    mount: &str,
    stopped: &watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let listener = TcpListener::bind(address)
        .await
        .map_err(|e| format!("binding the bundle endpoint {address}: {e}"))?;
    tracing::info!(address = %address, mount = %mount, "SPIFFE bundle endpoint");
    Ok(tokio::spawn(crate::bundle_endpoint::serve(
        Arc::clone(core),
        mount.trim_end_matches('/').to_owned(),
        listener,
        stopped.clone(),
    )))
}

/// Options of `sigil dev`.
#[derive(Debug, Clone)]
pub struct DevOptions {
    /// The directory holding everything.
    pub dir: PathBuf,
    /// Where to listen (loopback).
    pub listen: SocketAddr,
    /// The trust domain of the `spiffe/` mount made with a new store.
    pub trust_domain: String,
    /// Where to serve the trust domain's SPIFFE bundle endpoint, if anywhere.
    pub bundle_endpoint: Option<SocketAddr>,
}

/// What `sigil dev` made, for the banner.
#[derive(Debug, Clone)]
pub struct DevInfo {
    /// `https://127.0.0.1:8200`.
    pub addr: String,
    /// The CA certificate file clients must trust.
    pub ca_file: PathBuf,
    /// The environment file.
    pub env_file: PathBuf,
    /// The audit log.
    pub audit_file: PathBuf,
    /// Whether this run created the store.
    pub created: bool,
    /// The bundle endpoint's URL, when one runs.
    pub bundle_endpoint: Option<String>,
    /// What the dev node agent needs.
    pub agent: DevAgent,
}

/// The node agent `sigil dev` runs beside the server: it serves the Workload API on
/// `socket`, attesting with `join_token` unless `data_dir` holds a valid agent SVID.
#[derive(Debug, Clone)]
pub struct DevAgent {
    /// The Workload API socket (`SPIFFE_ENDPOINT_SOCKET` in the env file).
    pub socket: PathBuf,
    /// The agent's own directory.
    pub data_dir: PathBuf,
    /// A fresh join token (10 minutes, single use).
    pub join_token: sigil_core::SecretString,
    /// The SPIFFE ID the invoking user's processes get.
    pub workload_id: String,
}

/// The trust domain `sigil dev` makes.
pub const DEV_TRUST_DOMAIN: &str = "sigil.internal";

/// Prepares the dev directory, starts the server on `listen`, calls `ready` with what it
/// made, and serves until SIGINT or SIGTERM.
pub async fn dev(opts: DevOptions, ready: impl FnOnce(&DevInfo)) -> Result<(), String> {
    if !opts.listen.ip().is_loopback() {
        return Err(
            "sigil dev listens on loopback only; use sigil server for anything else".into(),
        );
    }
    create_private_dir(&opts.dir)?;
    // Absolute, because the env file and the agent's socket path must work from anywhere.
    let dir =
        &std::fs::canonicalize(&opts.dir).map_err(|e| format!("{}: {e}", opts.dir.display()))?;
    let tls_dir = dir.join("tls");
    let (ca_file, cert_file, key_file) = dev_certificates(&tls_dir)?;
    let key_path = dir.join("unseal.key");
    if !key_path.exists() {
        KeyFile::create(&key_path).map_err(|e| e.to_string())?;
    }
    let audit_file = dir.join("audit.log");
    let core_config = CoreConfig {
        seal_key_file: Some(key_path),
        audit_devices: vec![("file/".into(), DeviceConfig::file(audit_file.clone()))],
        ..CoreConfig::default()
    };
    let backend = open_storage(
        &dir.join("data"),
        sigil_storage::embedded::DEFAULT_CACHE_SIZE,
    )?;
    let core = start_core(backend, core_config).await?;
    let env_file = dir.join("env");
    let socket = dir.join("agent").join("api.sock");
    let listener = TcpListener::bind(opts.listen)
        .await
        .map_err(|e| format!("binding {}: {e}", opts.listen))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let addr = format!("https://{local}");
    let created = core.active().is_none();
    if created {
        let token = zeroize::Zeroizing::new(dev_init(&core).await?);
        // The env file first: it holds the only copy of the root token.
        write_env(&env_file, &addr, &ca_file, &token, &socket)?;
        dev_mounts(&core, &token, &opts.trust_domain).await?;
    } else {
        let token = zeroize::Zeroizing::new(read_env_token(&env_file)?);
        // The address may have changed between runs.
        write_env(&env_file, &addr, &ca_file, &token, &socket)?;
    }
    let agent = dev_agent(&core, dir, socket, created).await?;
    let tls = http::tls_config(&cert_file, &key_file)?;
    let (stop, stopped) = watch::channel(false);
    let server = tokio::spawn(http::serve(
        Arc::clone(&core),
        listener,
        Some(tls),
        DEFAULT_MAX_REQUEST_SIZE,
        stopped,
    ));
    let mut bundle_endpoint = None;
    let mut endpoint_task = None;
    if let Some(at) = opts.bundle_endpoint {
        if !at.ip().is_loopback() {
            return Err("sigil dev serves its bundle endpoint on loopback only".into());
        }
        let listener = TcpListener::bind(at)
            .await
            .map_err(|e| format!("binding the bundle endpoint {at}: {e}"))?;
        bundle_endpoint = Some(format!(
            "https://{}",
            listener.local_addr().map_err(|e| e.to_string())?
        ));
        endpoint_task = Some(tokio::spawn(crate::bundle_endpoint::serve(
            Arc::clone(&core),
            "spiffe".into(),
            listener,
            stop.subscribe(),
        )));
    }
    ready(&DevInfo {
        addr,
        ca_file,
        env_file,
        audit_file,
        created,
        bundle_endpoint,
        agent,
    });
    wait_for_signal().await;
    let _ = stop.send(true);
    let _ = server.await;
    if let Some(task) = endpoint_task {
        let _ = task.await;
    }
    core.seal().await;
    Ok(())
}

/// The dev agent's join token (every start: the agent uses it only when it has no valid
/// agent SVID) and, with a new store, the entry giving the invoking user's processes an
/// identity under the agent's alias `spiffe://<td>/sigil/dev-node`.
async fn dev_agent(
    core: &Core,
    dir: &Path,
    socket: PathBuf,
    created: bool,
) -> Result<DevAgent, String> {
    use std::os::unix::fs::MetadataExt;
    let call = |req: Request| async move {
        let path = req.path.clone();
        core.handle(req)
            .await
            .map(|r| r.data.unwrap_or_default())
            .map_err(|e| format!("setting up the dev agent ({path}): {e}"))
    };
    let config = call(Request::internal(Operation::Read, "spiffe/config")).await?;
    let td = config
        .get("trust_domain_id")
        .and_then(|v| v.as_str())
        .ok_or("the dev store has no trust domain at spiffe/")?
        .to_owned();
    let node = format!("{td}/sigil/dev-node");
    // The uid this process runs as (the owner of its /proc entry), without unsafe code.
    let uid = std::fs::metadata("/proc/self")
        .map_err(|e| format!("reading /proc/self: {e}"))?
        .uid();
    let workload_id = format!("{td}/dev/uid-{uid}");
    if created {
        call(
            Request::internal(Operation::Update, "spiffe/entry")
                .with("spiffe_id", json!(workload_id))
                .with("parent_id", json!(node))
                .with("selectors", json!([format!("unix:uid:{uid}")]))
                .with("hint", json!("sigil dev")),
        )
        .await?;
    }
    let token = call(
        Request::internal(Operation::Update, "spiffe/token")
            .with("spiffe_id", json!(node))
            .with("ttl", json!("10m")),
    )
    .await?;
    let join_token = token
        .get("token")
        .and_then(|v| v.as_str())
        .ok_or("no join token for the dev agent")?;
    Ok(DevAgent {
        socket,
        data_dir: dir.join("agent"),
        join_token: sigil_core::SecretString::new(join_token.to_owned()),
        workload_id,
    })
}

/// Initializes a fresh dev store (auto-unsealed by the key file); returns the root token.
async fn dev_init(core: &Core) -> Result<String, String> {
    let init = core
        .handle(Request::new(Operation::Update, "sys/init"))
        .await
        .map_err(|e| format!("initializing: {e}"))?;
    let token = init
        .data
        .as_ref()
        .and_then(|d| d.get("root_token"))
        .and_then(|t| t.as_str())
        .ok_or("initializing: no root token")?
        .to_owned();
    Ok(token)
}

/// Mounts KV v2 at `secret/`, as Vault's dev server does, and a SPIFFE trust domain
/// (`spiffe://sigil.internal`, a name reserved for private use) at `spiffe/`.
async fn dev_mounts(core: &Core, token: &str, trust_domain: &str) -> Result<(), String> {
    let secret = Request::new(Operation::Update, "sys/mounts/secret")
        .with("type", json!("kv"))
        .with("options", json!({"version": "2"}))
        .with("description", json!("key/value secret storage"));
    let spiffe = Request::new(Operation::Update, "sys/mounts/spiffe")
        .with("type", json!("spiffe"))
        .with("description", json!("SPIFFE workload identity"));
    let td =
        Request::new(Operation::Update, "spiffe/config").with("trust_domain", json!(trust_domain));
    for mut req in [secret, spiffe, td] {
        let path = req.path.clone();
        req.token = Some(sigil_core::SecretString::new(token.to_owned()));
        core.handle(req)
            .await
            .map_err(|e| format!("setting up {path}: {e}"))?;
    }
    Ok(())
}

fn write_env(path: &Path, addr: &str, ca: &Path, token: &str, socket: &Path) -> Result<(), String> {
    let ca = ca.display();
    let mut text = String::from("# Written by `sigil dev`. Load with: . ./.sigil/env\n");
    for prefix in ["SIGIL", "VAULT", "BAO"] {
        text.push_str(&format!(
            "export {prefix}_ADDR={addr}\nexport {prefix}_CACERT={ca}\nexport {prefix}_TOKEN={token}\n"
        ));
    }
    text.push_str(&format!(
        "export SPIFFE_ENDPOINT_SOCKET=unix://{}\n",
        socket.display()
    ));
    let text = zeroize::Zeroizing::new(text);
    write_private(path, text.as_bytes())
}

fn read_env_token(path: &Path) -> Result<String, String> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?,
    );
    text.lines()
        .find_map(|l| l.strip_prefix("export SIGIL_TOKEN="))
        .map(str::to_owned)
        .ok_or_else(|| format!("{} has no SIGIL_TOKEN line", path.display()))
}

/// A dev CA and a `localhost` / `127.0.0.1` / `::1` server certificate, made once.
fn dev_certificates(dir: &Path) -> Result<(PathBuf, PathBuf, PathBuf), String> {
    let ca_file = dir.join("ca.pem");
    let cert_file = dir.join("server.pem");
    let key_file = dir.join("server-key.pem");
    if ca_file.exists() && cert_file.exists() && key_file.exists() {
        return Ok((ca_file, cert_file, key_file));
    }
    create_private_dir(dir)?;
    let err = |e: rcgen::Error| format!("making the dev certificates: {e}");
    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Sigil dev CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).map_err(err)?;
    let key = KeyPair::generate().map_err(err)?;
    let mut params = CertificateParams::new(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ])
    .map_err(err)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &ca).map_err(err)?;
    write_private(&key_file, key.serialize_pem().as_bytes())?;
    write_private(&cert_file, format!("{}{}", cert.pem(), ca.pem()).as_bytes())?;
    write_private(&ca_file, ca.pem().as_bytes())?;
    Ok((ca_file, cert_file, key_file))
}

fn open_storage(dir: &Path, cache_size: usize) -> Result<Arc<Embedded>, String> {
    create_private_dir(dir)?;
    let file = dir.join("sigil.redb");
    Embedded::open_with_cache(&file, cache_size)
        .map(Arc::new)
        .map_err(|e| format!("opening {}: {e}", file.display()))
}

/// Starts the core on `store`, then lets a write made while no other request is in progress
/// commit on its own thread (see `sigil_storage::embedded`), with the one permit to block a
/// runtime thread on the disk (shared with the audit log's writes).
async fn start_core(store: Arc<Embedded>, config: CoreConfig) -> Result<Arc<Core>, String> {
    let core = Core::new(Arc::clone(&store) as Arc<dyn Backend>, config)
        .await
        .map_err(|e| format!("starting the core: {e}"))?;
    let activity = Arc::clone(core.activity());
    store.commit_inline_when(move || {
        if !activity.no_other_request() {
            return None;
        }
        let permit = activity.claim_disk_write()?;
        Some(Box::new(permit) as InlinePermit)
    });
    Ok(core)
}

fn create_private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("creating {}: {e}", dir.display()))
}

/// Writes a file readable only by its owner, replacing it atomically.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| format!("writing {}: {e}", path.display()))
}

async fn wait_for_signal() {
    let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
