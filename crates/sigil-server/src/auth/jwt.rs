//! Vault's `jwt` auth method: log in with a signed JWT, such as a JWT-SVID. `config` names
//! the keys that may sign — exactly one of `jwt_validation_pubkeys` (PEM), `jwks_url` (a
//! JWKS over HTTPS, trusted through `jwks_ca_pem`) or `oidc_discovery_url` (whose
//! discovery document's `jwks_uri` is followed, trusted through `oidc_discovery_ca_pem`) —
//! and an optional `bound_issuer`. Fetched keys are kept for ten minutes and fetched again
//! sooner (at most every ten seconds) when a token names a `kid` they lack, so a signer's
//! key rotation is followed without a restart;
//! a role (`role/<name>`) binds audiences, the subject, and other claims (exact or glob),
//! and says which claim names the user and what token to issue.
//!
//! Verification: JWS compact form only; `alg` one of ES256/384, RS256/384/512, PS256/384/512
//! or EdDSA (never `none` or HMAC); the signature checked by sigil-core against each
//! configured key of the matching type; `exp` (required) and `nbf` against the request's
//! time with Vault's default leeways; then the role's bindings. Any failure is the same
//! 400, naming what did not hold but never echoing the token.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sigil_core::encoding::base64url_decode;
use sigil_core::keys::{KeyType, PublicKey, SignatureScheme};
use tokio::sync::Mutex;

use crate::api::{
    ApiError, Operation, Request, Response, duration_field, field_str, strings_field,
};
use crate::auth::token::{TokenParams, TokenStore};
use crate::auth::{StoredRole, role_key, role_routes};
use crate::engine::{Engine, split_first};
use crate::pki::glob_match;
use crate::view::View;

const CONFIG_KEY: &str = "config";
/// The longest token accepted.
const MAX_JWT: usize = 16 * 1024;
/// Vault's default `expiration_leeway` and `not_before_leeway`: 150 s.
const LEEWAY: i64 = 150;
/// The most keys, audiences or claim bindings a document may hold.
const MAX_LIST: usize = 64;

/// How long fetched keys are used before they are fetched again.
const KEYS_FRESH: Duration = Duration::from_secs(600);
/// The least time between two fetches for an unknown `kid`.
const KEYS_RETRY: Duration = Duration::from_secs(10);
/// The largest JWKS or discovery document read.
const MAX_DOCUMENT: usize = 1024 * 1024;

/// `config`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Config {
    /// PEM public keys (SPKI).
    jwt_validation_pubkeys: Vec<String>,
    /// A JWKS URL (https).
    #[serde(default)]
    jwks_url: String,
    /// PEM CA certificates for `jwks_url`'s TLS.
    #[serde(default)]
    jwks_ca_pem: String,
    /// An OIDC issuer URL (https) whose discovery document names the JWKS.
    #[serde(default)]
    oidc_discovery_url: String,
    /// PEM CA certificates for the discovery URL's TLS (and its `jwks_uri`).
    #[serde(default)]
    oidc_discovery_ca_pem: String,
    /// When set, `iss` must equal it.
    bound_issuer: String,
}

impl Config {
    fn parse(d: &Map<String, Value>) -> Result<Self, ApiError> {
        let keys = strings_field(d, "jwt_validation_pubkeys")?.unwrap_or_default();
        if keys.len() > MAX_LIST {
            return Err(ApiError::bad(format!(
                "jwt_validation_pubkeys: at most {MAX_LIST} PEM public keys"
            )));
        }
        for k in &keys {
            PublicKey::from_bytes(k.as_bytes())
                .map_err(|e| ApiError::bad(format!("jwt_validation_pubkeys: {e}")))?;
        }
        let text = |k: &str| field_str(d, k).unwrap_or_default();
        let config = Self {
            jwt_validation_pubkeys: keys,
            jwks_url: text("jwks_url"),
            jwks_ca_pem: text("jwks_ca_pem"),
            oidc_discovery_url: text("oidc_discovery_url").trim_end_matches('/').to_owned(),
            oidc_discovery_ca_pem: text("oidc_discovery_ca_pem"),
            bound_issuer: text("bound_issuer"),
        };
        let sources = [
            !config.jwt_validation_pubkeys.is_empty(),
            !config.jwks_url.is_empty(),
            !config.oidc_discovery_url.is_empty(),
        ];
        if sources.iter().filter(|s| **s).count() != 1 {
            // Vault's words.
            return Err(ApiError::bad(
                "exactly one of 'jwt_validation_pubkeys', 'jwks_url' or 'oidc_discovery_url' must be set",
            ));
        }
        for (url, ca, name) in [
            (&config.jwks_url, &config.jwks_ca_pem, "jwks_url"),
            (
                &config.oidc_discovery_url,
                &config.oidc_discovery_ca_pem,
                "oidc_discovery_url",
            ),
        ] {
            if url.is_empty() {
                continue;
            }
            if !url.starts_with("https://") || url.len() > 2048 {
                return Err(ApiError::bad(format!("{name} must be an https URL")));
            }
            crate::fetch::trusting(ca)
                .map_err(|e| ApiError::bad(format!("{name}'s CA certificates: {e}")))?;
        }
        Ok(config)
    }

    fn describe(&self) -> Value {
        json!({
            "jwt_validation_pubkeys": self.jwt_validation_pubkeys,
            "jwks_url": self.jwks_url,
            "jwks_ca_pem": self.jwks_ca_pem,
            "oidc_discovery_url": self.oidc_discovery_url,
            "oidc_discovery_ca_pem": self.oidc_discovery_ca_pem,
            "bound_issuer": self.bound_issuer,
        })
    }

    /// Where fetched keys come from and what vouches for them: fetched keys are used only
    /// while this stays the same.
    fn source(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.jwks_url, self.jwks_ca_pem, self.oidc_discovery_url, self.oidc_discovery_ca_pem
        )
    }

    /// Fetches the keys from the JWKS URL, or from the discovery document's `jwks_uri`.
    async fn fetch_keys(&self) -> Result<Vec<(Option<String>, PublicKey)>, String> {
        let (url, tls) = if self.jwks_url.is_empty() {
            let tls = crate::fetch::trusting(&self.oidc_discovery_ca_pem)?;
            let doc = crate::fetch::https_get(
                &format!(
                    "{}/.well-known/openid-configuration",
                    self.oidc_discovery_url
                ),
                Arc::clone(&tls),
                MAX_DOCUMENT,
            )
            .await?;
            let doc: Value =
                serde_json::from_slice(&doc).map_err(|_| "the discovery document is not JSON")?;
            let uri = doc
                .get("jwks_uri")
                .and_then(Value::as_str)
                .filter(|u| u.starts_with("https://"))
                .ok_or("the discovery document has no https jwks_uri")?;
            (uri.to_owned(), tls)
        } else {
            (
                self.jwks_url.clone(),
                crate::fetch::trusting(&self.jwks_ca_pem)?,
            )
        };
        let body = crate::fetch::https_get(&url, tls, MAX_DOCUMENT).await?;
        let doc: Value = serde_json::from_slice(&body).map_err(|_| "the JWKS is not JSON")?;
        let keys = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("the JWKS has no keys array")?;
        // Keys of types sigil does not verify with are skipped, as JWKS consumers do.
        Ok(keys
            .iter()
            .take(MAX_LIST)
            .filter_map(|k| {
                let kid = k.get("kid").and_then(Value::as_str).map(str::to_owned);
                PublicKey::from_bytes(k.to_string().as_bytes())
                    .ok()
                    .map(|key| (kid, key))
            })
            .collect())
    }
}

/// Keys fetched for a JWKS or discovery URL.
#[derive(Debug)]
struct FetchedKeys {
    source: String,
    at: Instant,
    keys: Vec<(Option<String>, PublicKey)>,
}

/// A role, in Vault's field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct JwtRole {
    bound_audiences: Vec<String>,
    bound_subject: String,
    /// Claim → allowed values.
    bound_claims: BTreeMap<String, Vec<String>>,
    /// `string` (exact) or `glob`.
    bound_claims_type: String,
    user_claim: String,
    token_policies: Vec<String>,
    token_ttl: u64,
    token_max_ttl: u64,
}

fn too_many(key: &str) -> ApiError {
    ApiError::bad(format!("{key}: at most {MAX_LIST} values"))
}

impl JwtRole {
    fn parse(d: &Map<String, Value>) -> Result<Self, ApiError> {
        let list = |key: &str| -> Result<Vec<String>, ApiError> {
            let items = strings_field(d, key)?.unwrap_or_default();
            if items.len() > MAX_LIST {
                return Err(too_many(key));
            }
            Ok(items)
        };
        let mut bound_claims = BTreeMap::new();
        match d.get("bound_claims") {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                if m.len() > MAX_LIST {
                    return Err(too_many("bound_claims"));
                }
                for (k, v) in m {
                    let values = match v {
                        Value::String(s) => s.split(',').map(|p| p.trim().to_owned()).collect(),
                        Value::Array(a) => a
                            .iter()
                            .map(|x| x.as_str().map(str::to_owned))
                            .collect::<Option<Vec<_>>>()
                            .ok_or_else(|| ApiError::bad("bound_claims: values must be strings"))?,
                        _ => return Err(ApiError::bad("bound_claims: values must be strings")),
                    };
                    bound_claims.insert(k.clone(), values);
                }
            }
            Some(_) => return Err(ApiError::bad("bound_claims: expected an object")),
        }
        let bound_claims_type =
            field_str(d, "bound_claims_type").unwrap_or_else(|| "string".into());
        if !matches!(bound_claims_type.as_str(), "string" | "glob") {
            return Err(ApiError::bad(
                "bound_claims_type must be \"string\" or \"glob\"",
            ));
        }
        let user_claim = field_str(d, "user_claim").unwrap_or_default();
        if user_claim.is_empty() {
            // Vault's words.
            return Err(ApiError::bad("a user claim must be defined on the role"));
        }
        let role = Self {
            bound_audiences: list("bound_audiences")?,
            bound_subject: field_str(d, "bound_subject").unwrap_or_default(),
            bound_claims,
            bound_claims_type,
            user_claim,
            token_policies: match strings_field(d, "token_policies")? {
                Some(p) => p,
                None => list("policies")?,
            },
            token_ttl: duration_field(d, "token_ttl")?.unwrap_or(0),
            token_max_ttl: duration_field(d, "token_max_ttl")?.unwrap_or(0),
        };
        if role.bound_audiences.is_empty()
            && role.bound_subject.is_empty()
            && role.bound_claims.is_empty()
        {
            // Vault's rule: a role must bind something, or any token from the keys logs in.
            return Err(ApiError::bad(
                "must have at least one bound constraint when creating/updating a role",
            ));
        }
        Ok(role)
    }

    fn describe(&self) -> Map<String, Value> {
        match json!({
            "role_type": "jwt",
            "bound_audiences": self.bound_audiences,
            "bound_subject": self.bound_subject,
            "bound_claims": self.bound_claims,
            "bound_claims_type": self.bound_claims_type,
            "user_claim": self.user_claim,
            "token_policies": self.token_policies,
            "token_ttl": self.token_ttl,
            "token_max_ttl": self.token_max_ttl,
        }) {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// Checks the role's bindings against verified claims.
    fn check(&self, claims: &Map<String, Value>) -> Result<(), ApiError> {
        if !self.bound_audiences.is_empty() {
            let aud: Vec<&str> = match claims.get("aud") {
                Some(Value::String(s)) => vec![s.as_str()],
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if !aud
                .iter()
                .any(|a| self.bound_audiences.iter().any(|b| b == a))
            {
                return Err(ApiError::bad(
                    "error validating claims: aud claim does not match any bound audience",
                ));
            }
        }
        if !self.bound_subject.is_empty()
            && claims.get("sub").and_then(Value::as_str) != Some(self.bound_subject.as_str())
        {
            return Err(ApiError::bad("sub claim does not match bound subject"));
        }
        for (claim, allowed) in &self.bound_claims {
            let values: Vec<&str> = match claims.get(claim) {
                Some(Value::String(s)) => vec![s.as_str()],
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            let ok = values.iter().any(|v| {
                allowed.iter().any(|p| {
                    if self.bound_claims_type == "glob" {
                        glob_match(p, v)
                    } else {
                        p == v
                    }
                })
            });
            if !ok {
                return Err(ApiError::bad(format!(
                    "claim {claim:?} does not match any associated bound claim values"
                )));
            }
        }
        Ok(())
    }
}

impl StoredRole for JwtRole {
    fn from_body(data: &Map<String, Value>, _name: &str) -> Result<Self, ApiError> {
        Self::parse(data)
    }

    fn to_data(&self) -> Map<String, Value> {
        self.describe()
    }
}

/// Whether a key type can check a given algorithm's signatures.
type Fits = fn(KeyType) -> bool;

/// The signature scheme for a JWS `alg` and the key types it needs.
fn scheme(alg: &str) -> Option<(SignatureScheme, Fits)> {
    use SignatureScheme as S;
    let rsa = |k: KeyType| matches!(k, KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096);
    Some(match alg {
        "ES256" => (S::EcdsaP256Sha256Fixed, |k| k == KeyType::EcdsaP256),
        "ES384" => (S::EcdsaP384Sha384Fixed, |k| k == KeyType::EcdsaP384),
        "RS256" => (S::RsaPkcs1Sha256, rsa),
        "RS384" => (S::RsaPkcs1Sha384, rsa),
        "RS512" => (S::RsaPkcs1Sha512, rsa),
        "PS256" => (S::RsaPssSha256, rsa),
        "PS384" => (S::RsaPssSha384, rsa),
        "PS512" => (S::RsaPssSha512, rsa),
        "EdDSA" => (S::Ed25519, |k| k == KeyType::Ed25519),
        _ => return None,
    })
}

/// Verifies a compact JWS against `keys` and the time claims at `now`; returns the claims.
fn verify(token: &str, keys: &[PublicKey], now: i64) -> Result<Map<String, Value>, ApiError> {
    let invalid = |why: &str| ApiError::bad(format!("error validating token: {why}"));
    if token.len() > MAX_JWT {
        return Err(invalid("too large"));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("not a JWS in compact form"));
    };
    let json_of = |part: &str| -> Result<Map<String, Value>, ApiError> {
        let bytes = base64url_decode(part).map_err(|_| invalid("bad base64url"))?;
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(invalid("a part is not a JSON object")),
        }
    };
    let header = json_of(h)?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (scheme, fits) = scheme(alg).ok_or_else(|| invalid("unsupported signing algorithm"))?;
    let signature = base64url_decode(s).map_err(|_| invalid("bad base64url"))?;
    let message = &token[..h.len() + 1 + p.len()];
    let verified = keys
        .iter()
        .filter(|k| fits(k.key_type()))
        .any(|k| k.verify(message.as_bytes(), &signature, scheme).is_ok());
    if !verified {
        return Err(invalid("failed to verify id token signature"));
    }
    let claims = json_of(p)?;
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid("exp claim is required"))?;
    if now > exp.saturating_add(LEEWAY) {
        return Err(invalid("token is expired"));
    }
    if let Some(nbf) = claims.get("nbf").and_then(Value::as_i64)
        && now < nbf.saturating_sub(LEEWAY)
    {
        return Err(invalid("token not yet valid"));
    }
    Ok(claims)
}

/// The `jwt` auth method of one mount.
#[derive(Debug)]
pub struct JwtAuth {
    tokens: Arc<TokenStore>,
    fetched: Mutex<Option<FetchedKeys>>,
}

/// The `kid` in a compact JWS's header, if it has one (the signature is checked later).
fn token_kid(token: &str) -> Option<String> {
    let header = base64url_decode(token.split('.').next()?).ok()?;
    let header: Value = serde_json::from_slice(&header).ok()?;
    header.get("kid")?.as_str().map(str::to_owned)
}

impl JwtAuth {
    /// The method, issuing tokens from `tokens`.
    pub fn new(tokens: Arc<TokenStore>) -> Self {
        Self {
            tokens,
            fetched: Mutex::new(None),
        }
    }

    /// The keys a token may be signed with: the static ones, or the fetched ones (fetched
    /// again when stale, or when the token's `kid` is unknown and the last fetch is not too
    /// recent). A key with a `kid` only verifies tokens naming it.
    async fn keys(&self, config: &Config, kid: Option<&str>) -> Result<Vec<PublicKey>, ApiError> {
        if !config.jwt_validation_pubkeys.is_empty() {
            return Ok(config
                .jwt_validation_pubkeys
                .iter()
                .filter_map(|pem| PublicKey::from_bytes(pem.as_bytes()).ok())
                .collect());
        }
        let mut slot = self.fetched.lock().await;
        let source = config.source();
        let usable = slot.as_ref().filter(|f| f.source == source);
        let knows_kid = |f: &FetchedKeys| {
            kid.is_none_or(|kid| f.keys.iter().any(|(k, _)| k.as_deref() == Some(kid)))
        };
        let refetch = match usable {
            None => true,
            Some(f) => {
                f.at.elapsed() > KEYS_FRESH || (!knows_kid(f) && f.at.elapsed() > KEYS_RETRY)
            }
        };
        if refetch {
            match config.fetch_keys().await {
                Ok(keys) => {
                    *slot = Some(FetchedKeys {
                        source,
                        at: Instant::now(),
                        keys,
                    });
                }
                Err(e) if usable.is_none() => {
                    return Err(ApiError::bad(format!("fetching the signing keys: {e}")));
                }
                Err(e) => tracing::warn!(error = %e, "jwt auth: refreshing the signing keys"),
            }
        }
        Ok(slot
            .as_ref()
            .map(|f| {
                f.keys
                    .iter()
                    .filter(|(k, _)| k.is_none() || k.as_deref() == kid)
                    .map(|(_, key)| key.clone())
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn login(&self, req: &Request, view: &View) -> Result<Response, ApiError> {
        let d = &req.data;
        let name = field_str(d, "role").ok_or_else(|| ApiError::bad("missing role"))?;
        let token = field_str(d, "jwt").ok_or_else(|| ApiError::bad("missing token"))?;
        let role: JwtRole = view
            .get_json(&role_key("role", &name)?)
            .await?
            .ok_or_else(|| ApiError::bad(format!("role {name:?} could not be found")))?;
        let config: Config = view.get_json(CONFIG_KEY).await?.unwrap_or_default();
        if token.len() > MAX_JWT {
            return Err(ApiError::bad("error validating token: too large"));
        }
        let keys = self.keys(&config, token_kid(&token).as_deref()).await?;
        let now = i64::try_from(req.now_unix()).unwrap_or(i64::MAX);
        let claims = verify(&token, &keys, now)?;
        if !config.bound_issuer.is_empty()
            && claims.get("iss").and_then(Value::as_str) != Some(config.bound_issuer.as_str())
        {
            return Err(ApiError::bad(
                "error validating claims: iss does not match bound_issuer",
            ));
        }
        role.check(&claims)?;
        let user = claims
            .get(&role.user_claim)
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ApiError::bad(format!("claim {:?} not found in token", role.user_claim))
            })?
            .to_owned();
        let params = TokenParams {
            policies: Some(role.token_policies.clone()),
            meta: BTreeMap::from([("role".to_owned(), name.clone())]),
            display_name: user,
            ttl: Some(role.token_ttl),
            renewable: Some(true),
            no_parent: true,
            path: "auth/jwt/login".into(),
            max_ttl: role.token_max_ttl,
            ..TokenParams::default()
        };
        crate::auth::login_response(&self.tokens, params, req.now_unix()).await
    }
}

#[async_trait::async_trait]
impl Engine for JwtAuth {
    async fn handle(&self, req: &Request, view: &View) -> Result<Response, ApiError> {
        let path = req.path.trim_end_matches('/');
        let write = matches!(req.operation, Operation::Create | Operation::Update);
        match (split_first(path), req.operation) {
            (("login", ""), _) if write => self.login(req, view).await,
            (("config", ""), Operation::Read) => {
                let c: Config = view.get_json(CONFIG_KEY).await?.unwrap_or_default();
                Ok(Response::json(c.describe()))
            }
            (("config", ""), _) if write => {
                let config = Config::parse(&req.data)?;
                view.put_json(CONFIG_KEY, &config).await?;
                Ok(Response::empty())
            }
            (("role", name), _) => role_routes::<JwtRole>(req, view, "role", name).await,
            _ => Err(ApiError::UnsupportedPath),
        }
    }

    fn unauthenticated_paths(&self) -> &'static [&'static str] {
        &["login"]
    }
}

#[cfg(test)]
mod tests;
