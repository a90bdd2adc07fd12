//! The SPIFFE identity engine (mount type `spiffe`): one trust domain per mount, its X.509
//! authority, the trust bundle in the SPIFFE format, and X509-SVIDs minted for a SPIFFE ID —
//! with the key made here (`x509/mint`, what `sigil x509 mint` and tests use) or from a CSR
//! whose key never leaves its owner (`x509/sign`, what node agents use).
//!
//! Registration entries ([`entry`]): `entry` creates, `entry/:id` reads, updates and
//! deletes, `LIST entries` lists with `key_info`.
//!
//! Storage in the mount's view: `config` (the trust domain, lifetimes, the bundle's
//! sequence number and refresh hint), `authorities` (the active, prepared and retired CAs,
//! keys included: the barrier encrypts them; see [`rotation`]), `authorities/jwt` and
//! `entries/<uuid>`. The bundle (`bundle`, `bundle/pem`) is public, as a SPIFFE bundle
//! endpoint is: relying parties and federated trust domains fetch it without a token.
//!
//! The mount type is `spiffe`, not `identity`, because Vault's clients already know
//! `identity/` as Vault's entity store.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sigil_core::encoding::base64_encode;
use sigil_core::keys::PublicKey;
use sigil_core::spiffe::{SpiffeId, TrustDomain};
use tokio::sync::Mutex;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::api::{
    ApiError, Operation, Request, Response, duration_field, field_str, strings_field, u64_field,
};
use crate::engine::{Engine, split_first};
use crate::pki::{KeyFormat, KeySpec, LeafKey, with_verified_csr};
use crate::view::{View, ViewOp, to_json};

mod entries;
mod entry;
mod federation;
mod jwt;
mod node;
mod rotation;
mod svid;

#[cfg(test)]
mod tests;

use entries::entry_key;
use entry::Entry;
use jwt::{JwtKey, JwtKeys, MAX_AUDIENCES};
use node::Agent;
use svid::Authorities;
use svid::{Authority, MAX_DNS_NAMES, SvidRequest};

const CONFIG_KEY: &str = "config";
const AUTHORITIES_KEY: &str = "authorities";
const JWT_KEY: &str = "authorities/jwt";
/// An X509-SVID's lifetime unless configured (SPIRE's default).
const DEFAULT_SVID_TTL: u64 = 3600;
/// A JWT-SVID's lifetime unless configured (SPIRE's default).
const DEFAULT_JWT_TTL: u64 = 300;
/// The authority's lifetime unless configured. Longer than SPIRE's 24 h because this engine
/// does not rotate its authority yet; rotation (prepare, activate, retire) comes with it.
const DEFAULT_CA_TTL: u64 = 30 * 24 * 3600;
/// How often relying parties should refetch the bundle (the standard's suggested 5 min).
const DEFAULT_REFRESH_HINT: u64 = 300;

/// The stored configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Config {
    trust_domain: TrustDomain,
    x509_svid_ttl: u64,
    #[serde(default = "default_jwt_ttl")]
    jwt_svid_ttl: u64,
    ca_ttl: u64,
    key_type: String,
    key_bits: u32,
    /// `spiffe_sequence`: moves whenever the bundle's content changes.
    sequence: u64,
    /// `spiffe_refresh_hint`, seconds.
    refresh_hint: u64,
    /// The `iss` of JWT-SVIDs and of the OIDC discovery document ("" = none): this mount's
    /// public URL, so that `<issuer>/.well-known/openid-configuration` and
    /// `<issuer>/jwks` are its paths.
    #[serde(default)]
    jwt_issuer: String,
    /// PEM CA certificates that x509pop node certificates must chain to ("" = x509pop off).
    #[serde(default)]
    x509pop_ca_bundle: String,
}

const fn default_jwt_ttl() -> u64 {
    DEFAULT_JWT_TTL
}

impl Config {
    fn to_data(&self) -> Map<String, Value> {
        match json!({
            "trust_domain": self.trust_domain.name(),
            "trust_domain_id": self.trust_domain.id().as_str(),
            "x509_svid_ttl": self.x509_svid_ttl,
            "jwt_svid_ttl": self.jwt_svid_ttl,
            "ca_ttl": self.ca_ttl,
            "key_type": self.key_type,
            "key_bits": self.key_bits,
            "bundle_sequence": self.sequence,
            "bundle_refresh_hint": self.refresh_hint,
            "jwt_issuer": self.jwt_issuer,
            "x509pop_ca_bundle": self.x509pop_ca_bundle,
        }) {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

/// The identity engine of one mount.
#[derive(Debug, Default)]
pub struct Identity {
    /// Serializes configuration changes (and the authority made with the first).
    lock: Mutex<()>,
}

impl Identity {
    /// A new engine.
    pub fn new() -> Self {
        Self::default()
    }
}

fn now(req: &Request) -> i64 {
    i64::try_from(req.now_unix()).unwrap_or(i64::MAX)
}

/// `jwt_issuer`, when given: an `https` URL without query or fragment ("" clears it).
fn jwt_issuer(d: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    let Some(url) = field_str(d, "jwt_issuer") else {
        return Ok(None);
    };
    let url = url.trim_end_matches('/').to_owned();
    let ok = url.is_empty()
        || (url.len() <= 2048
            && url
                .strip_prefix("https://")
                .is_some_and(|rest| !rest.is_empty())
            && !url.contains(['?', '#', ' ']));
    if ok {
        Ok(Some(url))
    } else {
        Err(ApiError::bad(
            "jwt_issuer must be an https URL without query or fragment",
        ))
    }
}

/// `x509pop_ca_bundle`, when given: PEM CA certificates ("" turns x509pop off).
fn x509pop_cas(d: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    let Some(pem) = field_str(d, "x509pop_ca_bundle") else {
        return Ok(None);
    };
    let cas = crate::auth::cert::ca_ders(&pem)?;
    if cas.len() > 16
        || cas.iter().any(|c| {
            webpki::anchor_from_trusted_cert(&rustls_pki_types::CertificateDer::from(c.as_slice()))
                .is_err()
        })
    {
        return Err(ApiError::bad(
            "x509pop_ca_bundle: at most 16 PEM CA certificates that parse",
        ));
    }
    if cas.is_empty() && !pem.trim().is_empty() {
        return Err(ApiError::bad("x509pop_ca_bundle: no PEM certificate found"));
    }
    Ok(Some(pem))
}

/// The OIDC discovery document for JWT-SVIDs (what relying parties that speak OIDC, such as
/// cloud providers' workload identity federation, fetch): the issuer, where its keys are,
/// and what it signs with.
fn discovery_document(config: &Config) -> Result<Response, ApiError> {
    if config.jwt_issuer.is_empty() {
        return Err(ApiError::NotFound);
    }
    let body = serde_json::to_vec(&json!({
        "issuer": config.jwt_issuer,
        "jwks_uri": format!("{}/jwks", config.jwt_issuer),
        "authorization_endpoint": "",
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
    }))
    .map_err(|_| ApiError::internal("encoding the discovery document"))?;
    Ok(Response::raw("application/json", body))
}

/// A positive duration field, or `default` when absent or zero.
fn ttl(data: &Map<String, Value>, key: &str, default: u64) -> Result<u64, ApiError> {
    Ok(duration_field(data, key)?
        .filter(|t| *t > 0)
        .unwrap_or(default))
}

async fn load_config(view: &View) -> Result<Config, ApiError> {
    view.get_json(CONFIG_KEY).await?.ok_or_else(|| {
        ApiError::bad("no trust domain is configured: write config with a trust_domain first")
    })
}

async fn load_authorities(view: &View) -> Result<Authorities, ApiError> {
    view.get_json(AUTHORITIES_KEY)
        .await?
        .ok_or_else(|| ApiError::internal("the trust domain has no authority"))
}

/// The published authorities as one PEM text, active first.
fn bundle_pem(authorities: &Authorities) -> String {
    authorities
        .published()
        .map(|a| a.certificate.as_str())
        .collect()
}

impl Identity {
    /// The configuration and the authorities as they stand at `now`, after any rotation that
    /// is due (made under the lock, with the bundle's sequence moved when it changes).
    async fn current(&self, view: &View, now: i64) -> Result<(Config, Authorities), ApiError> {
        let config = load_config(view).await?;
        let authorities = load_authorities(view).await?;
        if !authorities.due(now) && !load_jwt_keys(view).await?.due(now) {
            return Ok((config, authorities));
        }
        let _guard = self.lock.lock().await;
        let (mut config, mut authorities, mut jwt) = (
            load_config(view).await?,
            load_authorities(view).await?,
            load_jwt_keys(view).await?,
        );
        let key = KeySpec::parse(&config.key_type, u64::from(config.key_bits))?;
        let (td, ttl) = (config.trust_domain.clone(), config.ca_ttl);
        let x509_changed = authorities.advance(now, || Authority::generate(&td, key, ttl, now))?;
        let jwt_changed = jwt.advance(now, || JwtKey::generate(now, ttl))?;
        if x509_changed || jwt_changed {
            config.sequence += 1;
        }
        view.transaction(vec![
            ViewOp::Put(CONFIG_KEY.into(), to_json(&config)?),
            ViewOp::Put(AUTHORITIES_KEY.into(), to_json(&authorities)?),
            ViewOp::Put(JWT_KEY.into(), to_json(&jwt)?),
        ])
        .await?;
        Ok((config, authorities))
    }
}

impl Identity {
    /// `config` writes: the first names the trust domain and makes its authority; later ones
    /// change lifetimes and the refresh hint only.
    async fn write_config(&self, req: &Request, view: &View) -> Result<Response, ApiError> {
        let d = &req.data;
        let _guard = self.lock.lock().await;
        let existing: Option<Config> = view.get_json(CONFIG_KEY).await?;
        let requested_td = field_str(d, "trust_domain")
            .map(|t| {
                TrustDomain::parse(&t).map_err(|e| ApiError::bad(format!("trust_domain: {e}")))
            })
            .transpose()?;
        let mut ops = Vec::new();
        let config = match existing {
            Some(mut c) => {
                if requested_td
                    .as_ref()
                    .is_some_and(|td| *td != c.trust_domain)
                {
                    return Err(ApiError::bad(
                        "the trust domain cannot change: every SVID and bundle names it",
                    ));
                }
                if d.contains_key("key_type") || d.contains_key("key_bits") {
                    return Err(ApiError::bad(
                        "key_type and key_bits are chosen when the trust domain is created",
                    ));
                }
                c.x509_svid_ttl = ttl(d, "x509_svid_ttl", c.x509_svid_ttl)?;
                c.jwt_svid_ttl = ttl(d, "jwt_svid_ttl", c.jwt_svid_ttl)?;
                c.ca_ttl = ttl(d, "ca_ttl", c.ca_ttl)?;
                c.refresh_hint = ttl(d, "bundle_refresh_hint", c.refresh_hint)?;
                if let Some(issuer) = jwt_issuer(d)? {
                    c.jwt_issuer = issuer;
                }
                if let Some(cas) = x509pop_cas(d)? {
                    c.x509pop_ca_bundle = cas;
                }
                c
            }
            None => {
                let td = requested_td.ok_or_else(|| ApiError::bad("trust_domain is required"))?;
                let key_type = field_str(d, "key_type").unwrap_or_else(|| "ec".into());
                let spec = KeySpec::parse(&key_type, u64_field(d, "key_bits")?.unwrap_or(0))?;
                let c = Config {
                    trust_domain: td,
                    x509_svid_ttl: ttl(d, "x509_svid_ttl", DEFAULT_SVID_TTL)?,
                    jwt_svid_ttl: ttl(d, "jwt_svid_ttl", DEFAULT_JWT_TTL)?,
                    ca_ttl: ttl(d, "ca_ttl", DEFAULT_CA_TTL)?,
                    key_type: spec.name().to_owned(),
                    key_bits: spec.bits(),
                    sequence: 1,
                    refresh_hint: ttl(d, "bundle_refresh_hint", DEFAULT_REFRESH_HINT)?,
                    jwt_issuer: jwt_issuer(d)?.unwrap_or_default(),
                    x509pop_ca_bundle: x509pop_cas(d)?.unwrap_or_default(),
                };
                let authority = Authority::generate(&c.trust_domain, spec, c.ca_ttl, now(req))?;
                ops.push(ViewOp::Put(
                    AUTHORITIES_KEY.into(),
                    to_json(&Authorities::new(authority))?,
                ));
                ops.push(ViewOp::Put(
                    JWT_KEY.into(),
                    to_json(&JwtKeys::new(JwtKey::generate(now(req), c.ca_ttl)?))?,
                ));
                ops.push(entries::new_store_op());
                c
            }
        };
        if config.x509_svid_ttl > config.ca_ttl {
            return Err(ApiError::bad("x509_svid_ttl cannot exceed ca_ttl"));
        }
        ops.push(ViewOp::Put(CONFIG_KEY.into(), to_json(&config)?));
        view.transaction(ops).await?;
        Ok(Response::data(config.to_data()))
    }

    /// `x509/mint` (the key made here, returned once) and `x509/sign` (a CSR's key).
    async fn x509(&self, req: &Request, view: &View, mint: bool) -> Result<Response, ApiError> {
        let d = &req.data;
        let (config, authorities) = self.current(view, now(req)).await?;
        let id = workload_id(d, &config)?;
        let dns_names = strings_field(d, "dns_names")?.unwrap_or_default();
        if dns_names.len() > MAX_DNS_NAMES || dns_names.iter().any(|n| n.len() > 253) {
            return Err(ApiError::bad(format!(
                "dns_names: at most {MAX_DNS_NAMES} names of at most 253 characters"
            )));
        }
        let request = SvidRequest {
            id: &id,
            dns_names: &dns_names,
            ttl: ttl(d, "ttl", config.x509_svid_ttl)?,
        };
        let authority = &authorities.active;
        let mut data = Map::new();
        let signed = if mint {
            let key = LeafKey::generate(KeySpec::Ec(256))?;
            let signed = authority.sign(&request, &key, now(req))?;
            let pem = key.encode(KeyFormat::Pkcs8, false)?;
            data.insert("private_key".into(), pem.as_str().into());
            signed
        } else {
            let spki = csr_spki(&field_str(d, "csr").unwrap_or_default())?;
            authority.sign(&request, &spki, now(req))?
        };
        data.insert("spiffe_id".into(), id.as_str().into());
        data.insert("svid".into(), signed.pem.into());
        data.insert("bundle".into(), bundle_pem(&authorities).into());
        data.insert("serial_number".into(), signed.serial.into());
        data.insert("expires_at".into(), signed.not_after.into());
        Ok(Response::data(data))
    }
}

impl Identity {
    /// `entry` (create) and `entry/:id` (update): the body over a blank or the stored entry,
    /// refused when another entry is the same registration.
    async fn write_entry(
        &self,
        req: &Request,
        view: &View,
        id: Option<&str>,
    ) -> Result<Response, ApiError> {
        let config = load_config(view).await?;
        let _guard = self.lock.lock().await;
        let stored = match id {
            None => None,
            Some(id) => Some(
                view.get_json::<Entry>(&entry_key(id)?)
                    .await?
                    .ok_or(ApiError::NotFound)?,
            ),
        };
        let base = stored.clone().unwrap_or_else(|| {
            Entry::blank(uuid::Uuid::new_v4().to_string(), &config.trust_domain)
        });
        let entry = Entry::from_body(&req.data, base, &config.trust_domain)?;
        entries::put(view, &entry, stored.as_ref()).await?;
        Ok(Response::data(entry.to_data()))
    }
}

/// The public key of a CSR whose signature verifies (the key's owner asked).
fn csr_spki(csr: &str) -> Result<rcgen::SubjectPublicKeyInfo, ApiError> {
    if csr.is_empty() {
        return Err(ApiError::bad("csr is required"));
    }
    with_verified_csr(csr, |c| {
        rcgen::SubjectPublicKeyInfo::from_der(c.certification_request_info.subject_pki.raw)
            .map_err(|_| ApiError::bad("csr: unsupported public key"))
    })
}

/// The request's `spiffe_id`: a workload of the configured trust domain.
fn workload_id(d: &Map<String, Value>, config: &Config) -> Result<SpiffeId, ApiError> {
    let id = field_str(d, "spiffe_id")
        .ok_or_else(|| ApiError::bad("spiffe_id is required"))
        .and_then(|t| SpiffeId::parse(&t).map_err(|e| ApiError::bad(format!("spiffe_id: {e}"))))?;
    if !id.is_member_of(&config.trust_domain) {
        return Err(ApiError::bad(format!(
            "spiffe_id {id} is not in the trust domain {}",
            config.trust_domain
        )));
    }
    if id.path().is_empty() {
        return Err(ApiError::bad(
            "spiffe_id must have a path: the trust domain's own ID names no workload",
        ));
    }
    Ok(id)
}

/// The JWT keys; a single key stored before JWT keys rotated becomes a lifecycle of one
/// (and is replaced on first use: it has no validity period).
async fn load_jwt_keys(view: &View) -> Result<JwtKeys, ApiError> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Keys(JwtKeys),
        Single(JwtKey),
    }
    match view.get_json::<Stored>(JWT_KEY).await? {
        Some(Stored::Keys(keys)) => Ok(keys),
        Some(Stored::Single(key)) => Ok(JwtKeys::new(key)),
        None => Err(ApiError::internal(
            "the trust domain has no JWT signing key",
        )),
    }
}

impl Identity {
    /// `jwt/mint`: a JWT-SVID for `spiffe_id` and `audience` (one or more), valid for `ttl`.
    /// For an agent (`node/jwt`) the ID must be one of the entries it serves, and the
    /// lifetime is the entry's.
    async fn jwt(
        &self,
        req: &Request,
        view: &View,
        agent: Option<&Agent>,
    ) -> Result<Response, ApiError> {
        let d = &req.data;
        let config = load_config(view).await?;
        let id = workload_id(d, &config)?;
        let mut default_ttl = config.jwt_svid_ttl;
        if let Some(agent) = agent {
            let entry = self
                .agent_entries(view, agent)
                .await?
                .into_iter()
                .find(|e| e.spiffe_id == id && e.live(now(req)))
                .ok_or(ApiError::PermissionDenied)?;
            if entry.jwt_svid_ttl > 0 {
                default_ttl = entry.jwt_svid_ttl;
            }
        }
        let audience = strings_field(d, "audience")?.unwrap_or_default();
        if audience.is_empty() {
            return Err(ApiError::bad("audience must be specified"));
        }
        if audience.len() > MAX_AUDIENCES || audience.iter().any(|a| a.is_empty() || a.len() > 256)
        {
            return Err(ApiError::bad(format!(
                "audience: 1 to {MAX_AUDIENCES} non-empty values of at most 256 characters"
            )));
        }
        let t = now(req);
        let exp = t.saturating_add(i64::try_from(ttl(d, "ttl", default_ttl)?).unwrap_or(i64::MAX));
        let issuer = Some(config.jwt_issuer.as_str()).filter(|i| !i.is_empty());
        self.current(view, t).await?;
        let token = load_jwt_keys(view)
            .await?
            .active
            .mint(&id, &audience, issuer, t, exp)?;
        Ok(Response::data(
            [
                ("spiffe_id".to_owned(), Value::from(id.as_str())),
                ("token".to_owned(), token.into()),
                ("expires_at".to_owned(), exp.into()),
            ]
            .into_iter()
            .collect(),
        ))
    }
}

/// The JWT keys alone as a plain JWKS (no `use`), as an OIDC discovery document's
/// `jwks_uri` serves them and the Workload API hands them to workloads.
async fn jwks_document(view: &View) -> Result<Vec<u8>, ApiError> {
    let mut keys = Vec::new();
    if view.get(JWT_KEY).await?.is_some() {
        for k in load_jwt_keys(view).await?.published() {
            let mut jwk = k.bundle_jwk()?;
            jwk.remove("use");
            keys.push(Value::Object(jwk));
        }
    }
    serde_json::to_vec(&json!({ "keys": keys }))
        .map_err(|_| ApiError::internal("encoding the JWKS"))
}

/// The SPIFFE bundle document (SPIFFE Trust Domain and Bundle §4): the authority as a JWK
/// with `use: x509-svid` and its certificate in `x5c` (no `kid`, as the standard says for
/// X.509 authorities), the sequence number and the refresh hint.
fn bundle_document(
    config: &Config,
    authorities: &Authorities,
    jwt: Option<&JwtKeys>,
) -> Result<Vec<u8>, ApiError> {
    let mut keys = Vec::new();
    for authority in authorities.published() {
        keys.push(Value::Object(x509_jwk(authority)?));
    }
    for key in jwt.iter().flat_map(|j| j.published()) {
        keys.push(Value::Object(key.bundle_jwk()?));
    }
    serde_json::to_vec(&json!({
        "keys": keys,
        "spiffe_sequence": config.sequence,
        "spiffe_refresh_hint": config.refresh_hint,
    }))
    .map_err(|_| ApiError::internal("encoding the bundle"))
}

/// An X.509 authority as a bundle JWK: `use: x509-svid`, its certificate in `x5c`, no `kid`.
fn x509_jwk(authority: &Authority) -> Result<Map<String, Value>, ApiError> {
    let der = authority.der()?;
    let spki = match X509Certificate::from_der(&der) {
        Ok((_, cert)) => cert.tbs_certificate.subject_pki.raw.to_vec(),
        Err(_) => return Err(ApiError::internal("the stored authority is corrupt")),
    };
    let jwk = PublicKey::from_spki_der(&spki)
        .and_then(|k| k.to_jwk())
        .map_err(|_| ApiError::internal("the authority's key has no JWK form"))?;
    let mut key: Map<String, Value> = serde_json::from_str(&jwk)
        .map_err(|_| ApiError::internal("the authority's JWK is not JSON"))?;
    key.remove("kid");
    key.insert("use".into(), "x509-svid".into());
    key.insert("x5c".into(), json!([base64_encode(&der)]));
    Ok(key)
}

#[async_trait::async_trait]
impl Engine for Identity {
    async fn handle(&self, req: &Request, view: &View) -> Result<Response, ApiError> {
        let path = req.path.trim_end_matches('/');
        let (head, rest) = split_first(path);
        let write = matches!(req.operation, Operation::Create | Operation::Update);
        match (head, rest, req.operation) {
            ("config", "", Operation::Read) => match view.get_json::<Config>(CONFIG_KEY).await? {
                Some(c) => Ok(Response::data(c.to_data())),
                None => Err(ApiError::NotFound),
            },
            ("config", "", _) if write => self.write_config(req, view).await,
            ("entry", "", _) if write => self.write_entry(req, view, None).await,
            ("entry", id, _) if write => self.write_entry(req, view, Some(id)).await,
            ("entry", id, Operation::Read) if !id.is_empty() => {
                match view.get_json::<Entry>(&entry_key(id)?).await? {
                    Some(e) => Ok(Response::data(e.to_data())),
                    None => Err(ApiError::NotFound),
                }
            }
            ("entry", id, Operation::Delete) if !id.is_empty() => {
                let _guard = self.lock.lock().await;
                entries::delete(view, id).await?;
                Ok(Response::empty())
            }
            ("entries", "", Operation::List) => {
                let mut keys = Vec::new();
                let mut info = Map::new();
                for e in entries::all(view).await? {
                    info.insert(
                        e.id.clone(),
                        json!({"spiffe_id": e.spiffe_id, "parent_id": e.parent_id}),
                    );
                    keys.push(e.id);
                }
                if keys.is_empty() {
                    return Err(ApiError::NotFound);
                }
                Ok(Response::json(json!({"keys": keys, "key_info": info})))
            }
            ("jwt", "mint", _) if write => self.jwt(req, view, None).await,
            ("token", "", _) if write => self.join_token(req, view).await,
            ("agents", "", Operation::List) => {
                let mut keys = Vec::new();
                let mut info = Map::new();
                for a in Self::list_agents(view).await? {
                    let key = a.path();
                    info.insert(key.clone(), Value::Object(a.to_data()));
                    keys.push(key);
                }
                if keys.is_empty() {
                    return Err(ApiError::NotFound);
                }
                Ok(Response::json(json!({"keys": keys, "key_info": info})))
            }
            ("agent", rest, _) => self.agent_admin(req, view, rest).await,
            ("federation", rest, _) if !rest.is_empty() => self.federation(req, view, rest).await,
            ("federations", "", Operation::List) => {
                let keys = Self::federation_names(view).await?;
                if keys.is_empty() {
                    return Err(ApiError::NotFound);
                }
                Ok(Response::json(json!({ "keys": keys })))
            }
            ("node", "attest", _) if write => self.attest(req, view).await,
            ("node", "renew", _) if write => self.renew_agent(req, view).await,
            ("node", "sync", _) if write => self.sync(req, view).await,
            ("node", "jwt", _) if write => {
                let (config, authorities) = self.current(view, now(req)).await?;
                let agent = Self::caller_agent(req, view, &config, &authorities).await?;
                self.jwt(req, view, Some(&agent)).await
            }
            (".well-known", "openid-configuration", Operation::Read) => {
                match view.get_json::<Config>(CONFIG_KEY).await? {
                    Some(c) => discovery_document(&c),
                    None => Err(ApiError::NotFound),
                }
            }
            ("jwks", "", Operation::Read) => {
                if view.get(CONFIG_KEY).await?.is_some() {
                    self.current(view, now(req)).await?;
                }
                Ok(Response::raw(
                    "application/json",
                    jwks_document(view).await?,
                ))
            }
            ("x509", "mint", _) if write => self.x509(req, view, true).await,
            ("x509", "sign", _) if write => self.x509(req, view, false).await,
            ("bundle", "" | "pem", Operation::Read) => {
                let pem = rest == "pem";
                let content_type = if pem {
                    "application/x-pem-file"
                } else {
                    "application/json"
                };
                if view.get(CONFIG_KEY).await?.is_none() {
                    return Ok(Response::raw(content_type, Vec::new()).with_status(204));
                }
                let (config, authorities) = self.current(view, now(req)).await?;
                let body = if pem {
                    bundle_pem(&authorities).into_bytes()
                } else {
                    let jwt = load_jwt_keys(view).await.ok();
                    bundle_document(&config, &authorities, jwt.as_ref())?
                };
                Ok(Response::raw(content_type, body))
            }
            _ => Err(ApiError::UnsupportedPath),
        }
    }

    /// The bundle is public, as a SPIFFE bundle endpoint is.
    fn unauthenticated_paths(&self) -> &'static [&'static str] {
        &[
            "bundle",
            "bundle/pem",
            "jwks",
            ".well-known/openid-configuration",
            // Agents authenticate with their agent SVID (or attest to get one), not a token.
            "node/*",
        ]
    }

    /// Minting and signing SVIDs change nothing stored.
    fn read_only(&self, req: &Request) -> bool {
        matches!(req.operation, Operation::Read | Operation::List)
            || req.path.starts_with("x509/")
            || req.path == "jwt/mint"
            || req.path == "node/jwt"
    }
}
