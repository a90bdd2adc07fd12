//! Node attestation and the agents it admits. An agent proves which node it runs on with one
//! of the attestation methods, gets an **agent SVID** (`spiffe://<td>/sigil/agent/<method>/<id>`)
//! for a key it made itself (a CSR), and from then on authenticates with that SVID as its TLS
//! client certificate: it renews it (`node/renew`), fetches the registration entries it may
//! serve with an SVID for each of its CSRs (`node/sync`) and JWT-SVIDs for them (`node/jwt`).
//!
//! Attestation is a challenge/response exchange on one path, `node/attest`, so that a method
//! needing a fresh challenge (a TPM quote next) plugs in beside the ones here:
//! - `join_token`: one request with a token from `token` (single use, short-lived, stored
//!   only as its SHA-256). The agent's ID ends in the token's own UUID, never in the token.
//! - `x509pop` (proof of possession of a node certificate, SPIRE's method of the same name):
//!   the agent sends its certificate chain, which must verify against the configured
//!   `x509pop_ca_bundle`; the server answers with a random nonce and a `challenge_id`; the
//!   agent signs [`X509POP_CONTEXT`] followed by the nonce with the certificate's key and
//!   sends the signature with its CSR. The agent's ID ends in the SHA-256 fingerprint of its
//!   certificate, so the same node gets the same ID every time.
//!
//! Operators list agents (`LIST agents`), read one (`agent/<method>/<id>`), **evict** it
//! (delete: its SVIDs stop working; a node certificate can attest again, a used join token
//! cannot) or **ban** it (`agent/<method>/<id>/ban`: its SVIDs stop working and it cannot
//! attest again until evicted). Only an SVID whose serial the agent's record holds (the
//! newest and the one it renewed from) is accepted, so eviction or re-attestation cuts off
//! every older SVID at once.

use std::collections::BTreeMap;

use rustls_pki_types::{CertificateDer, UnixTime};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sigil_core::encoding::{base64_decode, base64_encode, hex_encode};
use sigil_core::hash::{HashAlgorithm, digest};
use sigil_core::spiffe::{SpiffeId, TrustDomain};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::entry::Entry;
use super::svid::{Authorities, Signed, SvidRequest, leaf_identity};
use super::{Config, Identity, bundle_pem, csr_spki, now, ttl, workload_id};
use crate::api::{ApiError, Request, Response, field_str};
use crate::auth::cert::{ca_ders, verifies_for_client};
use crate::view::{View, ViewOp, to_json};

const JOIN_TOKENS: &str = "join_tokens/";
const AGENTS: &str = "agents/";
const CHALLENGES: &str = "challenges/";
/// A join token's lifetime unless asked (SPIRE's default).
const DEFAULT_TOKEN_TTL: u64 = 600;
/// How long an x509pop challenge may be answered.
const CHALLENGE_TTL: i64 = 60;
/// The most SVIDs one `node/sync` signs.
const MAX_SYNC: usize = 4096;
/// The most certificates an x509pop chain may have.
const MAX_CHAIN: usize = 8;
/// What an x509pop agent signs before the nonce, so the signature cannot be replayed as
/// anything else its key signs.
pub(super) const X509POP_CONTEXT: &[u8] = b"sigil x509pop challenge v1\0";
/// The attestation methods, as they appear in agent IDs.
pub(super) const METHODS: [&str; 2] = ["join_token", "x509pop"];

/// A join token as stored under the SHA-256 of its value.
#[derive(Debug, Serialize, Deserialize)]
struct JoinToken {
    /// The agent's ID ends in this.
    id: String,
    expires_at: i64,
    /// A SPIFFE ID the agent also answers to as a parent of entries.
    #[serde(default)]
    alias: Option<SpiffeId>,
}

/// An attested agent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Agent {
    pub spiffe_id: SpiffeId,
    method: String,
    id: String,
    attested_at: i64,
    /// Serials (colon form) of the SVIDs it may present: the newest first.
    serials: Vec<String>,
    /// When its newest SVID expires.
    expires_at: i64,
    banned: bool,
    /// Other IDs under which entries apply to it (a join token's `spiffe_id`).
    pub aliases: Vec<SpiffeId>,
    /// What attestation established about its node (`x509pop:subject:cn:...`).
    selectors: Vec<String>,
}

impl Agent {
    fn key(&self) -> String {
        agent_key(&self.method, &self.id)
    }

    /// How the admin API names it: `<method>/<id>`.
    pub(super) fn path(&self) -> String {
        format!("{}/{}", self.method, self.id)
    }

    pub(super) fn to_data(&self) -> Map<String, Value> {
        match json!({
            "spiffe_id": self.spiffe_id.as_str(),
            "attestation_type": self.method,
            "attested_at": self.attested_at,
            "serial_number": self.serials.first(),
            "expires_at": self.expires_at,
            "banned": self.banned,
            "aliases": self.aliases.iter().map(SpiffeId::as_str).collect::<Vec<_>>(),
            "selectors": self.selectors,
        }) {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

/// An x509pop challenge waiting for its answer.
#[derive(Debug, Serialize, Deserialize)]
struct Challenge {
    /// The node's chain, base64 DER, leaf first (verified when the challenge was made).
    chain: Vec<String>,
    nonce: String,
    expires_at: i64,
}

/// Where agent `method`/`id` is stored.
fn agent_key(method: &str, id: &str) -> String {
    format!("{AGENTS}{method}/{id}")
}

fn token_key(token: &str) -> String {
    format!(
        "{JOIN_TOKENS}{}",
        hex_encode(&digest(HashAlgorithm::Sha256, token.as_bytes()))
    )
}

fn unix_time(now: i64) -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(now).unwrap_or(0),
    ))
}

/// The SPIFFE ID of an agent attested by `method` as `id`.
fn agent_id(td: &TrustDomain, method: &str, id: &str) -> Result<SpiffeId, ApiError> {
    SpiffeId::parse(&format!("{}/sigil/agent/{method}/{id}", td.id()))
        .map_err(|_| ApiError::internal("an agent ID is not a SPIFFE ID"))
}

fn refused(why: &str) -> ApiError {
    ApiError::bad(format!("attestation failed: {why}"))
}

impl Identity {
    /// `token`: a new join token (`ttl`, and `spiffe_id` for an alias the agent also answers
    /// to). Expired tokens are pruned on the way.
    pub(super) async fn join_token(
        &self,
        req: &Request,
        view: &View,
    ) -> Result<Response, ApiError> {
        let (config, _) = self.current(view, now(req)).await?;
        let d = &req.data;
        let alias = if d.contains_key("spiffe_id") {
            Some(workload_id(d, &config)?)
        } else {
            None
        };
        let t = now(req);
        let expires_at =
            t.saturating_add(i64::try_from(ttl(d, "ttl", DEFAULT_TOKEN_TTL)?).unwrap_or(i64::MAX));
        let token = hex_encode(
            &sigil_core::random::bytes(16)
                .map_err(|_| ApiError::internal("the random number generator failed"))?,
        );
        let record = JoinToken {
            id: uuid::Uuid::new_v4().to_string(),
            expires_at,
            alias: alias.clone(),
        };
        let _guard = self.lock.lock().await;
        let mut ops = vec![ViewOp::Put(token_key(&token), to_json(&record)?)];
        for hash in view
            .list(JOIN_TOKENS, sigil_storage::Page::default())
            .await?
        {
            let key = format!("{JOIN_TOKENS}{hash}");
            if let Some(old) = view.get_json::<JoinToken>(&key).await?
                && old.expires_at <= t
            {
                ops.push(ViewOp::Delete(key));
            }
        }
        view.transaction(ops).await?;
        let mut data = Map::new();
        data.insert("token".into(), token.into());
        data.insert("expires_at".into(), expires_at.into());
        data.insert(
            "spiffe_id".into(),
            agent_id(&config.trust_domain, "join_token", &record.id)?
                .as_str()
                .into(),
        );
        if let Some(alias) = alias {
            data.insert("alias".into(), alias.as_str().into());
        }
        Ok(Response::data(data))
    }

    /// `node/attest`: one leg of an attestation (see the module documentation). A leg that
    /// admits an agent consumes its credential (the join token, the challenge) in the same
    /// transaction that stores the agent.
    pub(super) async fn attest(&self, req: &Request, view: &View) -> Result<Response, ApiError> {
        let d = &req.data;
        let t = now(req);
        let (config, authorities) = self.current(view, t).await?;
        let method = field_str(d, "method").ok_or_else(|| ApiError::bad("method is required"))?;
        let challenge_id = field_str(d, "challenge_id");
        if method == "x509pop" && challenge_id.is_none() {
            return self.x509pop_challenge(req, view, &config).await;
        }
        if !METHODS.contains(&method.as_str()) {
            return Err(ApiError::bad(format!(
                "method {method:?} is not an attestation method: one of {}",
                METHODS.join(", ")
            )));
        }
        // Checked before the credential is spent.
        let spki = csr_spki(&field_str(d, "csr").unwrap_or_default())?;
        let _guard = self.lock.lock().await;
        let (agent, spent) = match challenge_id {
            Some(id) => x509pop_answer(d, view, &config, &id, t).await?,
            None => join_token_agent(d, view, &config, t).await?,
        };
        admit(
            view,
            &config,
            &authorities,
            agent,
            &spki,
            t,
            vec![ViewOp::Delete(spent)],
        )
        .await
    }

    /// The first x509pop leg: the chain must verify against the configured CAs; a nonce is
    /// stored for 60 s. Expired challenges are pruned on the way.
    async fn x509pop_challenge(
        &self,
        req: &Request,
        view: &View,
        config: &Config,
    ) -> Result<Response, ApiError> {
        let t = now(req);
        let anchors = ca_ders(&config.x509pop_ca_bundle)?;
        if anchors.is_empty() {
            return Err(ApiError::bad(
                "x509pop is not configured: write config with x509pop_ca_bundle",
            ));
        }
        let chain = ca_ders(&field_str(&req.data, "certificate").unwrap_or_default())?;
        if chain.is_empty() || chain.len() > MAX_CHAIN {
            return Err(ApiError::bad(format!(
                "certificate: 1 to {MAX_CHAIN} PEM certificates, the node's first"
            )));
        }
        if !verifies_for_client(&anchors, &chain, unix_time(t)) {
            return Err(refused(
                "the certificate does not chain to the x509pop CA bundle for client use",
            ));
        }
        let nonce = sigil_core::random::bytes(32)
            .map_err(|_| ApiError::internal("the random number generator failed"))?;
        let id = uuid::Uuid::new_v4().to_string();
        let challenge = Challenge {
            chain: chain.iter().map(|c| base64_encode(c)).collect(),
            nonce: base64_encode(&nonce),
            expires_at: t + CHALLENGE_TTL,
        };
        let _guard = self.lock.lock().await;
        let mut ops = vec![ViewOp::Put(
            format!("{CHALLENGES}{id}"),
            to_json(&challenge)?,
        )];
        for old in view
            .list(CHALLENGES, sigil_storage::Page::default())
            .await?
        {
            let key = format!("{CHALLENGES}{old}");
            if view
                .get_json::<Challenge>(&key)
                .await?
                .is_none_or(|c| c.expires_at <= t)
            {
                ops.push(ViewOp::Delete(key));
            }
        }
        view.transaction(ops).await?;
        let mut data = Map::new();
        data.insert("challenge_id".into(), id.into());
        data.insert("nonce".into(), challenge.nonce.into());
        Ok(Response::data(data))
    }

    /// The agent a request comes from, by the agent SVID it presented as its TLS client
    /// certificate: the chain verifies against the trust domain's published authorities,
    /// the ID names an agent on record that is not banned, and the serial is one the record
    /// holds. Anything else is a 403.
    pub(super) async fn caller_agent(
        req: &Request,
        view: &View,
        config: &Config,
        authorities: &Authorities,
    ) -> Result<Agent, ApiError> {
        let chain = req
            .peer_certificates
            .as_deref()
            .ok_or(ApiError::PermissionDenied)?;
        let anchors = authorities
            .published()
            .map(super::svid::Authority::der)
            .collect::<Result<Vec<_>, _>>()?;
        if !verifies_for_client(&anchors, chain, unix_time(now(req))) {
            return Err(ApiError::PermissionDenied);
        }
        let (id, serial) = chain
            .first()
            .and_then(|leaf| leaf_identity(leaf))
            .ok_or(ApiError::PermissionDenied)?;
        let prefix = format!("{}/sigil/agent/", config.trust_domain.id());
        let (method, agent) = id
            .as_str()
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split_once('/'))
            .ok_or(ApiError::PermissionDenied)?;
        let agent: Agent = view
            .get_json(&agent_key(method, agent))
            .await?
            .ok_or(ApiError::PermissionDenied)?;
        if agent.banned || agent.spiffe_id != id || !agent.serials.contains(&serial) {
            return Err(ApiError::PermissionDenied);
        }
        Ok(agent)
    }

    /// `node/renew`: a new agent SVID for the caller's CSR; the old one stays valid until it
    /// expires (the record keeps both serials).
    pub(super) async fn renew_agent(
        &self,
        req: &Request,
        view: &View,
    ) -> Result<Response, ApiError> {
        let t = now(req);
        let (config, authorities) = self.current(view, t).await?;
        let agent = Self::caller_agent(req, view, &config, &authorities).await?;
        let spki = csr_spki(&field_str(&req.data, "csr").unwrap_or_default())?;
        let _guard = self.lock.lock().await;
        admit(view, &config, &authorities, agent, &spki, t, Vec::new()).await
    }

    /// `agents` (LIST), `agent/<method>/<id>` (read, delete = evict) and
    /// `agent/<method>/<id>/ban`.
    pub(super) async fn list_agents(view: &View) -> Result<Vec<Agent>, ApiError> {
        let mut out = Vec::new();
        for method in METHODS {
            let prefix = format!("{AGENTS}{method}/");
            for id in view.list(&prefix, sigil_storage::Page::default()).await? {
                if let Some(a) = view.get_json::<Agent>(&format!("{prefix}{id}")).await? {
                    out.push(a);
                }
            }
        }
        Ok(out)
    }

    pub(super) async fn agent_admin(
        &self,
        req: &Request,
        view: &View,
        rest: &str,
    ) -> Result<Response, ApiError> {
        use crate::api::Operation;
        let mut parts = rest.splitn(3, '/');
        let (Some(method), Some(id)) = (parts.next(), parts.next()) else {
            return Err(ApiError::UnsupportedPath);
        };
        let action = parts.next().unwrap_or("");
        if !METHODS.contains(&method) || id.is_empty() || id.contains('/') {
            return Err(ApiError::NotFound);
        }
        let key = agent_key(method, id);
        let _guard = self.lock.lock().await;
        let agent: Agent = view.get_json(&key).await?.ok_or(ApiError::NotFound)?;
        match (action, req.operation) {
            ("", Operation::Read) => Ok(Response::data(agent.to_data())),
            ("", Operation::Delete) => {
                view.delete(&key).await?;
                Ok(Response::empty())
            }
            ("ban", Operation::Create | Operation::Update) => {
                let agent = Agent {
                    banned: true,
                    serials: Vec::new(),
                    ..agent
                };
                view.put_json(&key, &agent).await?;
                Ok(Response::data(agent.to_data()))
            }
            _ => Err(ApiError::UnsupportedOperation),
        }
    }
}

impl Identity {
    /// The entries whose parent is `agent` or one of its aliases (through the parent index,
    /// built first if the store predates it).
    pub(super) async fn agent_entries(
        &self,
        view: &View,
        agent: &Agent,
    ) -> Result<Vec<Entry>, ApiError> {
        if !super::entries::indexed(view).await? {
            let _guard = self.lock.lock().await;
            super::entries::ensure_indexed(view).await?;
        }
        let parents: Vec<&SpiffeId> = std::iter::once(&agent.spiffe_id)
            .chain(agent.aliases.iter())
            .collect();
        super::entries::under(view, &parents).await
    }

    /// `node/sync`: the entries the calling agent serves (live ones whose parent is the agent
    /// or an alias), an X509-SVID for each CSR in `csrs` (entry id → PEM CSR; only entries
    /// of this agent), the trust bundle (PEM) and the JWT bundle (JWKS). An agent first
    /// syncs without CSRs to learn its entries, then with a CSR for each SVID it needs.
    pub(super) async fn sync(&self, req: &Request, view: &View) -> Result<Response, ApiError> {
        let t = now(req);
        let (config, authorities) = self.current(view, t).await?;
        let agent = Self::caller_agent(req, view, &config, &authorities).await?;
        let entries: BTreeMap<String, Entry> = self
            .agent_entries(view, &agent)
            .await?
            .into_iter()
            .filter(|e| e.live(t))
            .map(|e| (e.id.clone(), e))
            .collect();
        let csrs = match req.data.get("csrs") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) if m.len() <= MAX_SYNC => m.clone(),
            Some(_) => {
                return Err(ApiError::bad(format!(
                    "csrs: a map of at most {MAX_SYNC} entry IDs to PEM CSRs"
                )));
            }
        };
        let mut svids = Map::new();
        for (entry_id, csr) in &csrs {
            let entry = entries.get(entry_id).ok_or_else(|| {
                ApiError::bad(format!(
                    "csrs: {entry_id} is not an entry this agent serves"
                ))
            })?;
            let spki = csr_spki(csr.as_str().unwrap_or_default())
                .map_err(|e| ApiError::bad(format!("csrs: {entry_id}: {e}")))?;
            let ttl = if entry.x509_svid_ttl > 0 {
                entry.x509_svid_ttl
            } else {
                config.x509_svid_ttl
            };
            let signed = authorities.active.sign(
                &SvidRequest {
                    id: &entry.spiffe_id,
                    dns_names: &entry.dns_names,
                    ttl,
                },
                &spki,
                t,
            )?;
            svids.insert(
                entry_id.clone(),
                json!({"svid": signed.pem, "expires_at": signed.not_after}),
            );
        }
        let domains: std::collections::BTreeSet<_> = entries
            .values()
            .flat_map(|e| e.federates_with.iter().cloned())
            .collect();
        let mut federated = Map::new();
        for f in Self::federated(view, &domains, t).await? {
            federated.insert(
                f.trust_domain.id().as_str().to_owned(),
                json!({"bundle": f.bundle_pem(), "jwt_bundle": f.jwks()}),
            );
        }
        let jwks = super::jwks_document(view).await?;
        let mut data = Map::new();
        data.insert(
            "entries".into(),
            entries
                .values()
                .map(|e| Value::Object(e.to_data()))
                .collect(),
        );
        data.insert("svids".into(), Value::Object(svids));
        data.insert("bundle".into(), bundle_pem(&authorities).into());
        data.insert("bundle_sequence".into(), config.sequence.into());
        data.insert(
            "jwt_bundle".into(),
            String::from_utf8_lossy(&jwks).into_owned().into(),
        );
        data.insert("federated_bundles".into(), Value::Object(federated));
        data.insert("agent_expires_at".into(), agent.expires_at.into());
        Ok(Response::data(data))
    }
}

/// The agent a join token admits, and the token's storage key. The caller holds the lock.
async fn join_token_agent(
    d: &Map<String, Value>,
    view: &View,
    config: &Config,
    now: i64,
) -> Result<(Agent, String), ApiError> {
    let token = field_str(d, "token").ok_or_else(|| ApiError::bad("token is required"))?;
    let key = token_key(&token);
    let stored = view
        .get_json::<JoinToken>(&key)
        .await?
        .filter(|s| s.expires_at > now)
        .ok_or_else(|| refused("the join token does not exist, has expired or was used"))?;
    let agent = new_agent(
        config,
        "join_token",
        &stored.id,
        now,
        stored.alias.into_iter().collect(),
        Vec::new(),
    )?;
    Ok((agent, key))
}

/// The agent an answered x509pop challenge admits, and the challenge's storage key. The
/// caller holds the lock.
async fn x509pop_answer(
    d: &Map<String, Value>,
    view: &View,
    config: &Config,
    id: &str,
    now: i64,
) -> Result<(Agent, String), ApiError> {
    uuid::Uuid::parse_str(id).map_err(|_| refused("unknown challenge"))?;
    let key = format!("{CHALLENGES}{id}");
    let challenge = view
        .get_json::<Challenge>(&key)
        .await?
        .filter(|c| c.expires_at > now)
        .ok_or_else(|| refused("the challenge does not exist, has expired or was answered"))?;
    let corrupt = || ApiError::internal("a stored challenge is corrupt");
    let leaf = challenge
        .chain
        .first()
        .and_then(|c| base64_decode(c).ok())
        .ok_or_else(corrupt)?;
    let nonce = base64_decode(&challenge.nonce).map_err(|_| corrupt())?;
    let signature = field_str(d, "signature")
        .and_then(|s| base64_decode(&s).ok())
        .ok_or_else(|| ApiError::bad("signature is required (base64)"))?;
    if !proves_possession(&leaf, &nonce, &signature) {
        return Err(refused("the signature over the challenge does not verify"));
    }
    let fingerprint = hex_encode(&digest(HashAlgorithm::Sha256, &leaf));
    let selectors = common_name(&leaf)
        .map(|cn| vec![format!("x509pop:subject:cn:{cn}")])
        .unwrap_or_default();
    let agent = new_agent(config, "x509pop", &fingerprint, now, Vec::new(), selectors)?;
    Ok((agent, key))
}

/// A new agent record, before its first SVID.
fn new_agent(
    config: &Config,
    method: &str,
    id: &str,
    now: i64,
    aliases: Vec<SpiffeId>,
    selectors: Vec<String>,
) -> Result<Agent, ApiError> {
    Ok(Agent {
        spiffe_id: agent_id(&config.trust_domain, method, id)?,
        method: method.to_owned(),
        id: id.to_owned(),
        attested_at: now,
        serials: Vec::new(),
        expires_at: 0,
        banned: false,
        aliases,
        selectors,
    })
}

/// Signs an agent SVID for `agent` and stores its record (serials: the new one first, then
/// the one it had), with `extra` operations in the same transaction. The caller holds the
/// engine lock. A banned agent is refused.
async fn admit(
    view: &View,
    config: &Config,
    authorities: &Authorities,
    mut agent: Agent,
    spki: &rcgen::SubjectPublicKeyInfo,
    now: i64,
    mut extra: Vec<ViewOp>,
) -> Result<Response, ApiError> {
    let stored: Option<Agent> = view.get_json(&agent.key()).await?;
    if stored.as_ref().is_some_and(|a| a.banned) {
        return Err(refused("the agent is banned"));
    }
    let signed: Signed = authorities.active.sign(
        &SvidRequest {
            id: &agent.spiffe_id,
            dns_names: &[],
            ttl: config.x509_svid_ttl,
        },
        spki,
        now,
    )?;
    // A renewal keeps the serial it renews from; a new attestation starts afresh.
    let previous = match stored {
        Some(s) if s.attested_at == agent.attested_at => s.serials.first().cloned(),
        _ => None,
    };
    agent.serials = std::iter::once(signed.serial.clone())
        .chain(previous)
        .collect();
    agent.expires_at = signed.not_after;
    extra.push(ViewOp::Put(agent.key(), to_json(&agent)?));
    view.transaction(extra).await?;
    let mut data = Map::new();
    data.insert("spiffe_id".into(), agent.spiffe_id.as_str().into());
    data.insert("svid".into(), signed.pem.into());
    data.insert("bundle".into(), bundle_pem(authorities).into());
    data.insert("serial_number".into(), signed.serial.into());
    data.insert("expires_at".into(), signed.not_after.into());
    Ok(Response::data(data))
}

/// Whether `signature` is the node certificate's key signing the challenge for `nonce`
/// (any algorithm webpki verifies with the aws-lc-rs provider).
fn proves_possession(leaf: &[u8], nonce: &[u8], signature: &[u8]) -> bool {
    let der = CertificateDer::from(leaf);
    let Ok(cert) = webpki::EndEntityCert::try_from(&der) else {
        return false;
    };
    let message = [X509POP_CONTEXT, nonce].concat();
    webpki::ALL_VERIFICATION_ALGS
        .iter()
        .any(|alg| cert.verify_signature(*alg, &message, signature).is_ok())
}

/// The subject's first common name.
fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}
