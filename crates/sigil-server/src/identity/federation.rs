//! Federation: keeping a foreign trust domain's bundle fresh (SPIFFE Federation §5). A
//! relationship names the foreign domain's bundle endpoint URL and the SPIFFE ID the
//! endpoint authenticates as (`https_spiffe` profile), and starts from a bundle obtained out
//! of band. Each fetch authenticates the endpoint's X509-SVID against the bundle held so far
//! and replaces it with the one served, so the relationship follows the foreign domain's
//! authority rotations on its own.
//!
//! Fetches happen when an operator asks (`federation/<td>/refresh`) and when an agent syncs
//! an entry that federates with the domain and the held bundle is older than its refresh
//! hint; a failed fetch keeps the held bundle and records the error.
//!
//! Storage: `federation/<trust domain name>`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sigil_core::encoding::{Pem, base64_decode, base64_encode};
use sigil_core::spiffe::tls::anonymous_client_config;
use sigil_core::spiffe::{Authorizer, SpiffeBundle, SpiffeId, TrustDomain, X509Bundle};

use super::{Identity, load_config, now};
use crate::api::{ApiError, Operation, Request, Response, field_str};
use crate::view::View;
use sigil_storage::Page;

const FEDERATIONS: &str = "federation/";
/// The largest bundle document accepted.
const MAX_BUNDLE: usize = 1024 * 1024;
/// Refresh hint used when the foreign bundle gives none (the standard's suggestion).
const DEFAULT_HINT: u64 = 300;

/// A federation relationship and the foreign bundle held for it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Federation {
    pub trust_domain: TrustDomain,
    url: String,
    endpoint_id: SpiffeId,
    /// The foreign X.509 authorities, base64 DER.
    authorities: Vec<String>,
    /// The foreign JWT keys, a JWKS document.
    jwks: String,
    sequence: u64,
    refresh_hint: u64,
    /// Unix seconds of the last successful fetch (0 = never: the bundle is the bootstrap one).
    fetched_at: i64,
    /// The last fetch's failure, "" after a success.
    last_error: String,
}

/// Reads a foreign bundle: the SPIFFE bundle document (sigil-core's parser) or, for
/// bootstrapping, PEM certificates.
fn parse_bundle(td: &TrustDomain, text: &str) -> Result<SpiffeBundle, String> {
    if text.trim_start().starts_with("-----BEGIN") {
        let mut bundle = SpiffeBundle::empty(td);
        for der in crate::auth::cert::ca_ders(text).map_err(|e| e.to_string())? {
            bundle.x509_mut().add(der).map_err(|e| e.to_string())?;
        }
        return Ok(bundle);
    }
    SpiffeBundle::decode(td, text.as_bytes()).map_err(|e| e.to_string())
}

impl Federation {
    /// A relationship from a `federation/<td>` write (`bundle_endpoint_url`,
    /// `endpoint_spiffe_id`, `trust_bundle`), over the stored one if any.
    pub(super) fn from_body(
        td: TrustDomain,
        data: &Map<String, Value>,
        stored: Option<Self>,
    ) -> Result<Self, ApiError> {
        let url = field_str(data, "bundle_endpoint_url")
            .or_else(|| stored.as_ref().map(|s| s.url.clone()))
            .ok_or_else(|| ApiError::bad("bundle_endpoint_url is required"))?;
        if !url.starts_with("https://") || url.len() > 2048 || url.contains(['#', ' ']) {
            return Err(ApiError::bad("bundle_endpoint_url must be an https URL"));
        }
        let endpoint_id = match field_str(data, "endpoint_spiffe_id") {
            Some(t) => SpiffeId::parse(&t)
                .map_err(|e| ApiError::bad(format!("endpoint_spiffe_id: {e}")))?,
            None => stored
                .as_ref()
                .map(|s| s.endpoint_id.clone())
                .ok_or_else(|| ApiError::bad("endpoint_spiffe_id is required"))?,
        };
        if !endpoint_id.is_member_of(&td) {
            return Err(ApiError::bad(format!(
                "endpoint_spiffe_id must be in the trust domain {td}"
            )));
        }
        let mut out = match (field_str(data, "trust_bundle"), stored) {
            (Some(text), _) => {
                let bundle = parse_bundle(&td, &text)
                    .map_err(|e| ApiError::bad(format!("trust_bundle: {e}")))?;
                let mut f = Self {
                    trust_domain: td,
                    url: String::new(),
                    endpoint_id: endpoint_id.clone(),
                    authorities: Vec::new(),
                    jwks: String::new(),
                    sequence: 0,
                    refresh_hint: DEFAULT_HINT,
                    fetched_at: 0,
                    last_error: String::new(),
                };
                f.take(&bundle, 0)
                    .map_err(|e| ApiError::bad(format!("trust_bundle: {e}")))?;
                f
            }
            (None, Some(s)) => s,
            (None, None) => {
                return Err(ApiError::bad(
                    "trust_bundle is required: the foreign bundle (SPIFFE document or PEM) obtained out of band",
                ));
            }
        };
        out.url = url;
        out.endpoint_id = endpoint_id;
        Ok(out)
    }

    /// Holds `bundle` from now on (fetched at `now`; 0 for a bootstrap bundle).
    fn take(&mut self, bundle: &SpiffeBundle, now: i64) -> Result<(), String> {
        if bundle.x509().authorities().is_empty() {
            return Err("the bundle has no X.509 authority".into());
        }
        self.jwks = bundle.jwt().to_jwks().map_err(|e| e.to_string())?;
        self.authorities = bundle
            .x509()
            .authorities()
            .iter()
            .map(|c| base64_encode(c))
            .collect();
        self.sequence = bundle.sequence.unwrap_or(self.sequence);
        self.refresh_hint = bundle
            .refresh_hint
            .filter(|h| *h > 0)
            .unwrap_or(DEFAULT_HINT);
        self.fetched_at = now;
        self.last_error.clear();
        Ok(())
    }

    /// The held authorities, DER.
    fn authority_ders(&self) -> Vec<Vec<u8>> {
        self.authorities
            .iter()
            .filter_map(|c| base64_decode(c).ok())
            .collect()
    }

    /// The held authorities as one PEM text.
    pub(super) fn bundle_pem(&self) -> String {
        self.authority_ders()
            .iter()
            .filter_map(|d| Pem::encode("CERTIFICATE", d).ok())
            .collect()
    }

    /// The held JWT keys as a JWKS document.
    pub(super) fn jwks(&self) -> &str {
        &self.jwks
    }

    /// Whether the held bundle is older than its refresh hint at `now`.
    pub(super) fn stale(&self, now: i64) -> bool {
        now >= self
            .fetched_at
            .saturating_add(i64::try_from(self.refresh_hint).unwrap_or(i64::MAX))
    }

    pub(super) fn to_data(&self) -> Map<String, Value> {
        match json!({
            "trust_domain": self.trust_domain.name(),
            "bundle_endpoint_url": self.url,
            "bundle_endpoint_profile": "https_spiffe",
            "endpoint_spiffe_id": self.endpoint_id.as_str(),
            "bundle": self.bundle_pem(),
            "jwks": self.jwks,
            "bundle_sequence": self.sequence,
            "refresh_hint": self.refresh_hint,
            "fetched_at": self.fetched_at,
            "last_error": self.last_error,
        }) {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// Fetches the bundle from the endpoint now, authenticating it with the held bundle;
    /// on success the held bundle is replaced, on failure the error is recorded.
    pub(super) async fn refresh(&mut self, now: i64) {
        if let Err(e) = self
            .fetch()
            .await
            .and_then(|bundle| self.take(&bundle, now))
        {
            self.last_error = e;
        }
        if !self.last_error.is_empty() {
            tracing::warn!(trust_domain = %self.trust_domain, error = %self.last_error, "federated bundle refresh failed");
        }
    }

    async fn fetch(&self) -> Result<SpiffeBundle, String> {
        // The endpoint must present an X509-SVID of the held bundle with exactly the
        // configured ID (sigil-core's SPIFFE verifier); the URL's host only fills SNI.
        let bundle = X509Bundle::new(self.trust_domain.clone(), self.authority_ders())
            .map_err(|e| e.to_string())?;
        let config = anonymous_client_config(bundle, Authorizer::exact(self.endpoint_id.clone()))
            .map_err(|e| e.to_string())?;
        let body = crate::fetch::https_get(&self.url, Arc::new(config), MAX_BUNDLE).await?;
        SpiffeBundle::decode(&self.trust_domain, &body).map_err(|e| e.to_string())
    }
}

fn federation_key(td: &TrustDomain) -> String {
    format!("{FEDERATIONS}{}", td.name())
}

fn trust_domain(name: &str) -> Result<TrustDomain, ApiError> {
    TrustDomain::parse(name).map_err(|e| ApiError::bad(format!("trust domain: {e}")))
}

impl Identity {
    /// `federation/<td>` (read, write, delete), `federation/<td>/refresh` and
    /// `LIST federations`.
    pub(super) async fn federation(
        &self,
        req: &Request,
        view: &View,
        rest: &str,
    ) -> Result<Response, ApiError> {
        let (name, action) = rest.split_once('/').unwrap_or((rest, ""));
        let td = trust_domain(name)?;
        let key = federation_key(&td);
        let stored: Option<Federation> = view.get_json(&key).await?;
        match (action, req.operation) {
            ("", Operation::Read) => stored
                .map(|f| Response::data(f.to_data()))
                .ok_or(ApiError::NotFound),
            ("", Operation::Delete) => {
                view.delete(&key).await?;
                Ok(Response::empty())
            }
            ("", Operation::Create | Operation::Update) => {
                let own = load_config(view).await?.trust_domain;
                if td == own {
                    return Err(ApiError::bad(
                        "a trust domain does not federate with itself",
                    ));
                }
                let f = Federation::from_body(td, &req.data, stored)?;
                view.put_json(&key, &f).await?;
                Ok(Response::data(f.to_data()))
            }
            ("refresh", Operation::Create | Operation::Update) => {
                let mut f = stored.ok_or(ApiError::NotFound)?;
                f.refresh(now(req)).await;
                view.put_json(&key, &f).await?;
                Ok(Response::data(f.to_data()))
            }
            _ => Err(ApiError::UnsupportedOperation),
        }
    }

    /// The relationships with `domains`, refreshed first where stale (best effort).
    pub(super) async fn federated(
        view: &View,
        domains: impl IntoIterator<Item = &TrustDomain>,
        now: i64,
    ) -> Result<Vec<Federation>, ApiError> {
        let mut out = Vec::new();
        for td in domains {
            let key = federation_key(td);
            let Some(mut f) = view.get_json::<Federation>(&key).await? else {
                continue;
            };
            if f.stale(now) {
                f.refresh(now).await;
                view.put_json(&key, &f).await?;
            }
            out.push(f);
        }
        Ok(out)
    }

    /// Every relationship's trust domain name.
    pub(super) async fn federation_names(view: &View) -> Result<Vec<String>, ApiError> {
        view.list(FEDERATIONS, Page::default()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca() -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn relationships_need_an_https_url_a_member_id_and_an_x509_authority() {
        let td = TrustDomain::parse("b.test").unwrap();
        let pem = Pem::encode("CERTIFICATE", &ca()).unwrap();
        let good = json!({"bundle_endpoint_url": "https://127.0.0.1:8443",
                          "endpoint_spiffe_id": "spiffe://b.test/sigil/server",
                          "trust_bundle": pem});
        let data = |v: &Value| v.as_object().unwrap().clone();
        let f = Federation::from_body(td.clone(), &data(&good), None).unwrap();
        assert_eq!(f.bundle_pem(), pem);
        assert!(
            f.stale(1_790_000_000),
            "a bootstrap bundle is fetched at once"
        );
        for (key, value) in [
            ("bundle_endpoint_url", json!("http://127.0.0.1:8443")),
            (
                "endpoint_spiffe_id",
                json!("spiffe://other.test/sigil/server"),
            ),
            ("trust_bundle", json!("garbage")),
            ("trust_bundle", json!("{\"keys\": []}")),
        ] {
            let mut bad = good.clone();
            bad[key] = value;
            assert!(
                Federation::from_body(td.clone(), &data(&bad), None).is_err(),
                "{key}"
            );
        }
        // An update keeps what it does not name.
        let moved = json!({"bundle_endpoint_url": "https://127.0.0.1:9443"});
        let f = Federation::from_body(td, &data(&moved), Some(f)).unwrap();
        assert_eq!(f.to_data()["bundle_endpoint_url"], "https://127.0.0.1:9443");
        assert_eq!(f.bundle_pem(), pem);
    }
}
