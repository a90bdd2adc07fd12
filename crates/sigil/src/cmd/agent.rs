//! `sigil agent run`: the node agent. It attests to the server, then serves the SPIFFE
//! Workload API on a Unix socket from a cache it keeps filled; `sigil dev` runs the same
//! agent beside its server.

use std::future::Future;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use sigil_agent::node::{AgentClient, Attestation, Node, NodeConfig};
use sigil_agent::{Cache, CacheState, Claims, JwtAuthority, JwtError};
use sigil_core::SecretString;
use sigil_core::spiffe::{JwtBundle, JwtSvid, SpiffeId};

use crate::cli::AgentRunArgs;
use crate::exit::{CliError, CliResult};

/// JWT-SVIDs for the Workload API: minted by the server for the agent's workloads, validated
/// here against the JWT bundles in the cache (so validation keeps working while the server
/// is away).
#[derive(Debug)]
pub(crate) struct ServerJwt {
    client: AgentClient,
    cache: Arc<Cache>,
}

#[async_trait]
impl JwtAuthority for ServerJwt {
    async fn mint(&self, spiffe_id: &SpiffeId, audiences: &[String]) -> Result<String, JwtError> {
        self.client
            .jwt_svid(spiffe_id, audiences)
            .await
            .map_err(|e| JwtError::Unavailable(e.to_string()))
    }

    async fn validate(&self, token: &str, audience: &str) -> Result<(SpiffeId, Claims), JwtError> {
        let state = self.cache.current();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut last = JwtError::Invalid("no JWT bundle for the token's trust domain".into());
        for (td, jwks) in &state.jwt_bundles {
            let Ok(bundle) = JwtBundle::parse_jwks(td.clone(), jwks) else {
                continue;
            };
            match JwtSvid::validate(token, &bundle, audience, now) {
                Ok(svid) => return Ok((svid.spiffe_id().clone(), svid.claims().clone())),
                Err(e) => last = JwtError::Invalid(e.to_string()),
            }
        }
        Err(last)
    }
}

/// Starts the agent: attests (or reloads its SVID), syncs once, then serves the Workload API
/// and keeps syncing until `shutdown`.
pub(crate) async fn run_agent(
    config: NodeConfig,
    socket: std::path::PathBuf,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let mut node = Node::start(config).await.map_err(|e| e.to_string())?;
    let td = node.spiffe_id().await.trust_domain();
    let cache = Arc::new(Cache::new(CacheState::empty(td)));
    if let Err(e) = node.sync(&cache).await {
        tracing::warn!(error = %e, "first sync failed; serving an empty cache until the next");
    }
    let jwt = Arc::new(ServerJwt {
        client: node.agent_client(),
        cache: Arc::clone(&cache),
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let syncing = tokio::spawn(node.run(Arc::clone(&cache), {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    }));
    let served = sigil_agent::serve(&socket, cache, jwt, async move {
        shutdown.await;
        let _ = stop.send(true);
    })
    .await;
    let _ = syncing.await;
    served.map_err(|e| e.to_string())
}

pub(crate) fn run(args: &AgentRunArgs) -> CliResult {
    let attestation = match (&args.x509pop_cert, &args.x509pop_key) {
        (Some(certificate), Some(key)) => Attestation::X509Pop {
            certificate: certificate.clone(),
            key: key.clone(),
        },
        // Without a token the agent can still start from an agent SVID it kept.
        _ => Attestation::JoinToken(SecretString::new(
            args.join_token.clone().unwrap_or_default(),
        )),
    };
    let config = NodeConfig {
        server: args.server.clone(),
        server_ca: args.ca_file.clone(),
        mount: args.mount.mount.clone(),
        data_dir: args.data_dir.clone(),
        attestation,
        sync_interval: std::time::Duration::from_secs(args.sync_interval.max(1)),
    };
    if let Some(dir) = args.socket.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::failed(format!("{}: {e}", dir.display())))?;
    }
    crate::cmd::server::init_logging("info", "text");
    crate::cmd::server::runtime()?
        .block_on(run_agent(
            config,
            args.socket.clone(),
            crate::cmd::server::shutdown_signal(),
        ))
        .map_err(CliError::failed)
}
