//! The agent's side of the server: it attests its node (join token or x509pop), keeps its
//! agent SVID (on disk, so a restart needs no new token; renewed at half-life), and keeps
//! the [`Cache`] filled: every sync fetches the entries the agent serves, makes a key and a
//! CSR for each SVID that is missing or past about half its life (with jitter, so a
//! thousand SVIDs do not all renew in the same second), and publishes the whole state at
//! once. Keys are made here and never leave the node: the server sees CSRs only.
//!
//! When the server cannot be reached the cache is left as it is, so workloads keep their
//! SVIDs until they expire, and the agent tries again with backoff.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rcgen::{CertificateParams, KeyPair};
use sigil_client::Client;
use sigil_client::node::{AgentSvid, Sync};
use sigil_core::encoding::Pem;
use sigil_core::keys::{KeyType, PrivateKey, SignatureScheme};
use sigil_core::spiffe::{SpiffeId, TrustDomain};
use sigil_core::{SecretBytes, SecretString};
use tokio::sync::RwLock;

use crate::cache::{Cache, CacheState, Entry};
use crate::error::Error;
use crate::selector::{Selector, SelectorSet};

/// What x509pop agents sign before the server's nonce (the server's constant).
const X509POP_CONTEXT: &[u8] = b"sigil x509pop challenge v1\0";
/// The agent SVID and key files in the data directory.
const AGENT_SVID_FILE: &str = "agent-svid.pem";
const AGENT_KEY_FILE: &str = "agent-key.pem";
/// The most CSRs sent in one sync call (the server takes up to 4,096).
const CSR_BATCH: usize = 1000;
/// The longest wait between syncs after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How the agent proves which node it runs on.
pub enum Attestation {
    /// A join token from `sigil token generate` (single use).
    JoinToken(SecretString),
    /// A node certificate (PEM chain) and its key, signed by a CA the server trusts for
    /// x509pop.
    X509Pop {
        /// The certificate chain file, leaf first.
        certificate: PathBuf,
        /// The key file (PKCS#8, SEC1 or PKCS#1 PEM).
        key: PathBuf,
    },
}

impl std::fmt::Debug for Attestation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::JoinToken(_) => f.write_str("JoinToken([redacted])"),
            Self::X509Pop { certificate, .. } => f
                .debug_struct("X509Pop")
                .field("certificate", certificate)
                .finish_non_exhaustive(),
        }
    }
}

/// Where the server is and how to reach it.
#[derive(Debug)]
pub struct NodeConfig {
    /// `https://host:port`.
    pub server: String,
    /// The CA file the server's TLS certificate chains to.
    pub server_ca: PathBuf,
    /// The identity engine's mount (`spiffe`).
    pub mount: String,
    /// Where the agent SVID and key are kept (created, mode 0700).
    pub data_dir: PathBuf,
    /// Used when no valid agent SVID is on disk.
    pub attestation: Attestation,
    /// How often the agent syncs when all is well.
    pub sync_interval: Duration,
}

/// The agent's own SVID and the client that presents it.
struct AgentIdentity {
    spiffe_id: SpiffeId,
    /// Unix seconds.
    issued_at: i64,
    expires_at: i64,
    client: Client,
}

/// An SVID the agent holds for an entry.
struct Held {
    /// What the SVID was made for: a change of the entry's ID, lifetime or DNS names
    /// makes a new one at the next sync.
    shape: String,
    chain: Vec<Vec<u8>>,
    key: SecretBytes,
    /// Unix seconds after which it is renewed.
    renew_at: i64,
}

/// The agent's connection to the server, once attested.
pub struct Node {
    config: NodeConfig,
    agent: Arc<RwLock<AgentIdentity>>,
    held: BTreeMap<String, Held>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("config", &self.config)
            .field("held", &self.held.len())
            .finish_non_exhaustive()
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn server_error(e: impl std::fmt::Display) -> Error {
    Error::Server(e.to_string())
}

/// A fresh P-256 key (PKCS#8 DER) and a CSR for it, PEM.
fn key_and_csr() -> Result<(SecretBytes, String), Error> {
    let key = KeyPair::generate().map_err(|e| Error::Server(format!("making a key: {e}")))?;
    let csr = CertificateParams::new(Vec::<String>::new())
        .and_then(|p| p.serialize_request(&key))
        .and_then(|c| c.pem())
        .map_err(|e| Error::Server(format!("making a CSR: {e}")))?;
    Ok((SecretBytes::new(key.serialize_der()), csr))
}

/// The DER certificates of a PEM text.
fn pem_certificates(pem: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = pem;
    const END: &str = "-----END CERTIFICATE-----";
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let Some(len) = rest[start..].find(END) else {
            break;
        };
        let block = &rest[start..start + len + END.len()];
        if let Ok(der) = Pem::decode_expecting(block, "CERTIFICATE") {
            out.push(der);
        }
        rest = &rest[start + len + END.len()..];
    }
    out
}

/// What an entry's SVID depends on.
fn shape(e: &sigil_client::node::Entry) -> String {
    format!("{} {} {:?}", e.spiffe_id, e.x509_svid_ttl, e.dns_names)
}

/// Half the remaining life, ±10 % jitter: when an SVID expiring at `expires_at` is renewed.
fn renewal_time(now: i64, expires_at: i64) -> i64 {
    let life = (expires_at - now).max(0);
    let jitter = sigil_core::random::array::<1>().map_or(128, |b| i64::from(b[0]));
    // 0.45 .. 0.55 of the life.
    now + life * (450 + jitter * 100 / 255) / 1000
}

impl Node {
    /// Attests the node (or reloads the agent SVID kept on disk) and returns the node ready
    /// to sync.
    pub async fn start(config: NodeConfig) -> Result<Self, Error> {
        create_private_dir(&config.data_dir)?;
        let base = Client::new(&config.server, Some(&config.server_ca)).map_err(server_error)?;
        let identity = match load_agent(&config.data_dir, &base)? {
            Some(identity) => identity,
            None => {
                let (key, csr) = key_and_csr()?;
                let svid = attest(&base, &config, &csr).await?;
                save_agent(&config.data_dir, &svid, &key)?;
                agent_identity(&base, &svid, &key)?
            }
        };
        tracing::info!(agent = %identity.spiffe_id, "attested");
        Ok(Self {
            config,
            agent: Arc::new(RwLock::new(identity)),
            held: BTreeMap::new(),
        })
    }

    /// The agent's SPIFFE ID.
    pub async fn spiffe_id(&self) -> SpiffeId {
        self.agent.read().await.spiffe_id.clone()
    }

    /// The client presenting the agent SVID (shared with the JWT authority, which asks the
    /// server for JWT-SVIDs).
    pub fn agent_client(&self) -> AgentClient {
        AgentClient {
            agent: Arc::clone(&self.agent),
            mount: self.config.mount.clone(),
        }
    }

    /// Syncs now and then every `sync_interval` until `shutdown` resolves; failures back off
    /// and leave the cache as it is.
    pub async fn run(mut self, cache: Arc<Cache>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut failures = 0u32;
        loop {
            let wait = match self.sync(&cache).await {
                Ok(()) => {
                    failures = 0;
                    self.config.sync_interval
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %e, "sync with the server failed; serving from the cache");
                    (self.config.sync_interval * failures.min(12)).min(MAX_BACKOFF)
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = &mut shutdown => return,
            }
        }
    }

    /// One sync: renews the agent SVID when due, fetches the entries, gets SVIDs for the ones
    /// missing or due, and publishes the state.
    pub async fn sync(&mut self, cache: &Cache) -> Result<(), Error> {
        self.renew_agent_if_due().await?;
        let client = self.agent.read().await.client.clone();
        let mount = &self.config.mount;
        let listed = client
            .sync(mount, &BTreeMap::new())
            .await
            .map_err(server_error)?;
        let t = now();
        let mut keys = BTreeMap::new();
        let mut csrs = BTreeMap::new();
        for e in &listed.entries {
            let due = self
                .held
                .get(&e.id)
                .is_none_or(|h| h.shape != shape(e) || t >= h.renew_at);
            if due {
                let (key, csr) = key_and_csr()?;
                keys.insert(e.id.clone(), key);
                csrs.insert(e.id.clone(), csr);
            }
        }
        // The server signs at most a few thousand CSRs per call: send them in batches. The
        // last answer carries the entries and bundles as they are after all of them.
        let mut synced = listed;
        let mut issued = 0;
        let pending: Vec<(String, String)> = csrs.into_iter().collect();
        for batch in pending.chunks(CSR_BATCH) {
            let batch: BTreeMap<String, String> = batch.iter().cloned().collect();
            synced = client.sync(mount, &batch).await.map_err(server_error)?;
            let shapes: BTreeMap<&str, String> = synced
                .entries
                .iter()
                .map(|e| (e.id.as_str(), shape(e)))
                .collect();
            for (id, signed) in &synced.svids {
                let (Some(key), Some(shape)) = (keys.remove(id), shapes.get(id.as_str())) else {
                    continue;
                };
                issued += 1;
                self.held.insert(
                    id.clone(),
                    Held {
                        shape: shape.clone(),
                        chain: pem_certificates(&signed.svid),
                        key,
                        renew_at: renewal_time(t, signed.expires_at),
                    },
                );
            }
        }
        let live: std::collections::BTreeSet<&str> =
            synced.entries.iter().map(|e| e.id.as_str()).collect();
        self.held.retain(|id, _| live.contains(id.as_str()));
        let td = self.agent.read().await.spiffe_id.trust_domain();
        let state = self.state(td, &synced)?;
        if issued > 0 {
            tracing::info!(issued, identities = state.entries.len(), "SVIDs issued");
        }
        cache.replace(state);
        Ok(())
    }

    /// The cache state for a sync's answer and the SVIDs held.
    fn state(&self, td: TrustDomain, synced: &Sync) -> Result<CacheState, Error> {
        let mut state = CacheState::empty(td.clone());
        state.x509_bundle = pem_certificates(&synced.bundle);
        state
            .jwt_bundles
            .insert(td, synced.jwt_bundle.clone().into_bytes());
        for (id, f) in &synced.federated_bundles {
            let Ok(foreign) = TrustDomain::parse(id.trim_start_matches("spiffe://")) else {
                continue;
            };
            state
                .federated_x509_bundles
                .insert(foreign.clone(), pem_certificates(&f.bundle));
            state
                .jwt_bundles
                .insert(foreign, f.jwt_bundle.clone().into_bytes());
        }
        for e in &synced.entries {
            let Some(held) = self.held.get(&e.id) else {
                continue;
            };
            let selectors: SelectorSet = e
                .selectors
                .iter()
                .filter_map(|s| s.split_once(':'))
                .filter_map(|(kind, value)| Selector::new(kind, value).ok())
                .collect();
            let Ok(id) = SpiffeId::parse(&e.spiffe_id) else {
                continue;
            };
            let federates = e
                .federates_with
                .iter()
                .filter_map(|t| TrustDomain::parse(t.trim_start_matches("spiffe://")).ok());
            match Entry::new(id, selectors, held.chain.clone(), held.key.clone())
                .and_then(|entry| entry.with_hint(e.hint.clone()))
            {
                Ok(entry) => state.entries.push(entry.federating_with(federates)),
                Err(err) => tracing::warn!(entry = %e.id, error = %err, "entry skipped"),
            }
        }
        Ok(state)
    }

    async fn renew_agent_if_due(&mut self) -> Result<(), Error> {
        let mut agent = self.agent.write().await;
        let half = agent.issued_at + (agent.expires_at - agent.issued_at) / 2;
        if now() < half {
            return Ok(());
        }
        let (key, csr) = key_and_csr()?;
        let svid = agent
            .client
            .renew_agent(&self.config.mount, &csr)
            .await
            .map_err(server_error)?;
        save_agent(&self.config.data_dir, &svid, &key)?;
        let base =
            Client::new(&self.config.server, Some(&self.config.server_ca)).map_err(server_error)?;
        *agent = agent_identity(&base, &svid, &key)?;
        tracing::info!(expires_at = agent.expires_at, "agent SVID renewed");
        Ok(())
    }
}

/// The agent's client, for JWT-SVIDs (it follows agent SVID renewals).
#[derive(Clone)]
pub struct AgentClient {
    agent: Arc<RwLock<AgentIdentity>>,
    mount: String,
}

impl std::fmt::Debug for AgentClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentClient")
            .field("mount", &self.mount)
            .finish_non_exhaustive()
    }
}

impl AgentClient {
    /// A JWT-SVID for one of the agent's workloads.
    pub async fn jwt_svid(
        &self,
        spiffe_id: &SpiffeId,
        audience: &[String],
    ) -> Result<String, Error> {
        let client = self.agent.read().await.client.clone();
        client
            .jwt_svid(&self.mount, spiffe_id.as_str(), audience)
            .await
            .map(|j| j.token.expose_secret().to_owned())
            .map_err(server_error)
    }
}

/// Runs the configured attestation; returns the agent SVID.
async fn attest(client: &Client, config: &NodeConfig, csr: &str) -> Result<AgentSvid, Error> {
    let mount = &config.mount;
    match &config.attestation {
        Attestation::JoinToken(token) => client
            .attest_join_token(mount, token, csr)
            .await
            .map_err(server_error),
        Attestation::X509Pop { certificate, key } => {
            let chain = read_text(certificate)?;
            let key = PrivateKey::from_bytes(read_text(key)?.as_bytes())
                .map_err(|e| Error::Config(format!("{}: {e}", key.display())))?;
            let (challenge, nonce) = client
                .x509pop_challenge(mount, &chain)
                .await
                .map_err(server_error)?;
            let scheme = match key.key_type() {
                KeyType::EcdsaP256 => SignatureScheme::EcdsaP256Sha256,
                KeyType::EcdsaP384 => SignatureScheme::EcdsaP384Sha384,
                KeyType::Ed25519 => SignatureScheme::Ed25519,
                _ => SignatureScheme::RsaPssSha256,
            };
            let message = [X509POP_CONTEXT, &nonce].concat();
            let signature = key
                .sign(&message, scheme)
                .map_err(|e| Error::Config(format!("signing the x509pop challenge: {e}")))?;
            client
                .x509pop_answer(mount, &challenge, &signature, csr)
                .await
                .map_err(server_error)
        }
    }
}

fn read_text(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
}

fn agent_identity(
    base: &Client,
    svid: &AgentSvid,
    key: &SecretBytes,
) -> Result<AgentIdentity, Error> {
    let chain = pem_certificates(&svid.svid);
    let client = base
        .clone()
        .with_client_certificate(&chain, key.expose_secret())
        .map_err(server_error)?;
    let spiffe_id = SpiffeId::parse(&svid.spiffe_id)
        .map_err(|e| Error::Server(format!("the agent SVID's ID: {e}")))?;
    Ok(AgentIdentity {
        spiffe_id,
        issued_at: now(),
        expires_at: svid.expires_at,
        client,
    })
}

/// The agent SVID as kept on disk beside its key.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    spiffe_id: String,
    svid: String,
    issued_at: i64,
    expires_at: i64,
}

fn save_agent(dir: &Path, svid: &AgentSvid, key: &SecretBytes) -> Result<(), Error> {
    let stored = Stored {
        spiffe_id: svid.spiffe_id.clone(),
        svid: svid.svid.clone(),
        issued_at: now(),
        expires_at: svid.expires_at,
    };
    let json = serde_json::to_vec(&stored).map_err(|e| Error::Internal(e.to_string()))?;
    let pem = Pem::encode("PRIVATE KEY", key.expose_secret())
        .map_err(|e| Error::Internal(e.to_string()))?;
    // The key first: an SVID file without its key is useless, a key without an SVID harmless.
    write_private(&dir.join(AGENT_KEY_FILE), pem.as_bytes())?;
    write_private(&dir.join(AGENT_SVID_FILE), &json)
}

/// The agent SVID kept on disk, if there is one with at least a minute left.
fn load_agent(dir: &Path, base: &Client) -> Result<Option<AgentIdentity>, Error> {
    let (Ok(json), Ok(pem)) = (
        std::fs::read(dir.join(AGENT_SVID_FILE)),
        std::fs::read_to_string(dir.join(AGENT_KEY_FILE)).map(zeroize::Zeroizing::new),
    ) else {
        return Ok(None);
    };
    let Ok(stored) = serde_json::from_slice::<Stored>(&json) else {
        return Ok(None);
    };
    if stored.expires_at < now() + 60 {
        return Ok(None);
    }
    let Ok(key) = Pem::decode_expecting(&pem, "PRIVATE KEY") else {
        return Ok(None);
    };
    let svid = AgentSvid {
        spiffe_id: stored.spiffe_id,
        svid: stored.svid,
        bundle: String::new(),
        expires_at: stored.expires_at,
    };
    let mut identity = agent_identity(base, &svid, &SecretBytes::new(key))?;
    identity.issued_at = stored.issued_at;
    Ok(Some(identity))
}

fn create_private_dir(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::Config(format!("{}: {e}", dir.display())))
}

/// Writes `bytes` to `path` with mode 0600, through a temporary file renamed into place.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let fail = |e: std::io::Error| Error::Config(format!("{}: {e}", path.display()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(fail)?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_falls_near_half_life() {
        for _ in 0..200 {
            let at = renewal_time(1000, 2000);
            assert!((1450..=1550).contains(&at), "{at}");
        }
        assert_eq!(renewal_time(1000, 900), 1000, "expired: now");
    }

    #[test]
    fn pem_certificates_skip_what_does_not_decode() {
        let der = vec![0x30, 0x03, 0x02, 0x01, 0x01];
        let pem = Pem::encode("CERTIFICATE", &der).unwrap();
        let text =
            format!("junk\n{pem}-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n{pem}");
        assert_eq!(pem_certificates(&text), vec![der.clone(), der]);
        assert!(pem_certificates("").is_empty());
    }
}
