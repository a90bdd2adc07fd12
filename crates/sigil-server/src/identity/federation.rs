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

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sigil_core::encoding::{Pem, base64_decode, base64_encode};
use sigil_core::spiffe::{SpiffeId, TrustDomain};

use super::svid::leaf_spiffe_id;
use super::{Identity, load_config, now};
use crate::api::{ApiError, Operation, Request, Response, field_str};
use crate::view::View;
use sigil_storage::Page;

const FEDERATIONS: &str = "federation/";
/// The largest bundle document accepted.
const MAX_BUNDLE: usize = 1024 * 1024;
/// The most keys a bundle may hold.
const MAX_KEYS: usize = 64;
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
    /// The foreign JWT keys, as JWKs (with `kid`, without `use`).
    jwt_keys: Vec<Value>,
    sequence: u64,
    refresh_hint: u64,
    /// Unix seconds of the last successful fetch (0 = never: the bundle is the bootstrap one).
    fetched_at: i64,
    /// The last fetch's failure, "" after a success.
    last_error: String,
}

/// A parsed SPIFFE bundle document.
#[derive(Debug, Default)]
struct Bundle {
    authorities: Vec<Vec<u8>>,
    jwt_keys: Vec<Value>,
    sequence: Option<u64>,
    refresh_hint: Option<u64>,
}

/// Reads a SPIFFE bundle document (x509-svid keys with exactly one `x5c` certificate,
/// jwt-svid keys with a `kid`; other uses ignored) or, for bootstrapping, PEM certificates.
fn parse_bundle(text: &str) -> Result<Bundle, String> {
    if text.trim_start().starts_with("-----BEGIN") {
        let authorities = crate::auth::cert::ca_ders(text).map_err(|e| e.to_string())?;
        return if authorities.is_empty() {
            Err("no certificate in the PEM bundle".into())
        } else {
            Ok(Bundle {
                authorities,
                ..Bundle::default()
            })
        };
    }
    let doc: Value = serde_json::from_str(text).map_err(|_| "the bundle is not JSON")?;
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("the bundle has no keys array")?;
    if keys.len() > MAX_KEYS {
        return Err(format!("the bundle has more than {MAX_KEYS} keys"));
    }
    let mut bundle = Bundle {
        sequence: doc.get("spiffe_sequence").and_then(Value::as_u64),
        refresh_hint: doc.get("spiffe_refresh_hint").and_then(Value::as_u64),
        ..Bundle::default()
    };
    for key in keys {
        match key.get("use").and_then(Value::as_str) {
            Some("x509-svid") => {
                let x5c = key.get("x5c").and_then(Value::as_array);
                let cert = match x5c.map(Vec::as_slice) {
                    Some([one]) => one
                        .as_str()
                        .and_then(|c| base64_decode(c).ok())
                        .ok_or("an x509-svid key's x5c is not base64")?,
                    _ => return Err("an x509-svid key must carry exactly one x5c".into()),
                };
                webpki::anchor_from_trusted_cert(&CertificateDer::from(cert.as_slice()))
                    .map_err(|_| "an x509-svid key's certificate does not parse")?;
                bundle.authorities.push(cert);
            }
            Some("jwt-svid") => {
                let mut jwk = key.as_object().cloned().unwrap_or_default();
                if jwk
                    .get("kid")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    return Err("a jwt-svid key has no kid".into());
                }
                jwk.remove("use");
                bundle.jwt_keys.push(Value::Object(jwk));
            }
            _ => {}
        }
    }
    if bundle.authorities.is_empty() && bundle.jwt_keys.is_empty() {
        return Err("the bundle holds no x509-svid or jwt-svid key".into());
    }
    Ok(bundle)
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
                let bundle =
                    parse_bundle(&text).map_err(|e| ApiError::bad(format!("trust_bundle: {e}")))?;
                let mut f = Self {
                    trust_domain: td,
                    url: String::new(),
                    endpoint_id: endpoint_id.clone(),
                    authorities: Vec::new(),
                    jwt_keys: Vec::new(),
                    sequence: 0,
                    refresh_hint: DEFAULT_HINT,
                    fetched_at: 0,
                    last_error: String::new(),
                };
                f.take(bundle, 0);
                f
            }
            (None, Some(s)) => s,
            (None, None) => {
                return Err(ApiError::bad(
                    "trust_bundle is required: the foreign bundle (SPIFFE document or PEM) obtained out of band",
                ));
            }
        };
        if out.authorities.is_empty() {
            return Err(ApiError::bad(
                "trust_bundle: an X.509 authority is needed to authenticate the endpoint",
            ));
        }
        out.url = url;
        out.endpoint_id = endpoint_id;
        Ok(out)
    }

    fn take(&mut self, bundle: Bundle, now: i64) {
        self.authorities = bundle
            .authorities
            .iter()
            .map(|c| base64_encode(c))
            .collect();
        self.jwt_keys = bundle.jwt_keys;
        self.sequence = bundle.sequence.unwrap_or(self.sequence);
        self.refresh_hint = bundle
            .refresh_hint
            .filter(|h| *h > 0)
            .unwrap_or(DEFAULT_HINT);
        self.fetched_at = now;
        self.last_error.clear();
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
    pub(super) fn jwks(&self) -> String {
        json!({ "keys": self.jwt_keys }).to_string()
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
            "jwt_keys": self.jwt_keys.len(),
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
        match self.fetch().await {
            Ok(bundle) if !bundle.authorities.is_empty() => self.take(bundle, now),
            Ok(_) => self.last_error = "the served bundle has no X.509 authority".into(),
            Err(e) => self.last_error = e,
        }
        if !self.last_error.is_empty() {
            tracing::warn!(trust_domain = %self.trust_domain, error = %self.last_error, "federated bundle refresh failed");
        }
    }

    async fn fetch(&self) -> Result<Bundle, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = Arc::new(EndpointVerifier {
            anchors: self.authority_ders(),
            id: self.endpoint_id.clone(),
            provider: Arc::clone(&provider),
        });
        // The URL's host only fills SNI: https_spiffe authenticates the SPIFFE ID.
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        let body = crate::fetch::https_get(&self.url, Arc::new(config), MAX_BUNDLE).await?;
        parse_bundle(std::str::from_utf8(&body).map_err(|_| "the bundle is not UTF-8")?)
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

/// Authenticates a bundle endpoint: its certificate must chain to the held foreign bundle
/// for server use and carry exactly the configured SPIFFE ID.
#[derive(Debug)]
struct EndpointVerifier {
    anchors: Vec<Vec<u8>>,
    id: SpiffeId,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for EndpointVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let bad = |e| rustls::Error::InvalidCertificate(e);
        let anchors: Vec<_> = self
            .anchors
            .iter()
            .filter_map(|d| {
                webpki::anchor_from_trusted_cert(&CertificateDer::from(d.as_slice()))
                    .ok()
                    .map(|a| a.to_owned())
            })
            .collect();
        let ee = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|_| bad(rustls::CertificateError::BadEncoding))?;
        ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            intermediates,
            now,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .map_err(|_| bad(rustls::CertificateError::UnknownIssuer))?;
        match leaf_spiffe_id(end_entity) {
            Some(id) if id == self.id => Ok(ServerCertVerified::assertion()),
            _ => Err(bad(rustls::CertificateError::NotValidForName)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundles_parse_strictly() {
        let key = KeyPairFixture::new();
        let doc = json!({"keys": [
            {"use": "x509-svid", "kty": "EC", "x5c": [base64_encode(&key.der)]},
            {"use": "jwt-svid", "kty": "EC", "kid": "k1", "crv": "P-256", "x": "a", "y": "b"},
            {"use": "something-else", "kty": "EC"},
        ], "spiffe_sequence": 7, "spiffe_refresh_hint": 60});
        let b = parse_bundle(&doc.to_string()).unwrap();
        assert_eq!(b.authorities, std::slice::from_ref(&key.der));
        assert_eq!(b.jwt_keys.len(), 1);
        assert!(b.jwt_keys[0].get("use").is_none());
        assert_eq!((b.sequence, b.refresh_hint), (Some(7), Some(60)));
        let pem = Pem::encode("CERTIFICATE", &key.der).unwrap();
        assert_eq!(
            parse_bundle(&pem).unwrap().authorities,
            std::slice::from_ref(&key.der)
        );
        for bad in [
            "".to_owned(),
            "{}".to_owned(),
            "[1]".to_owned(),
            json!({"keys": []}).to_string(),
            json!({"keys": [{"use": "x509-svid"}]}).to_string(),
            json!({"keys": [{"use": "x509-svid", "x5c": ["AAAA"]}]}).to_string(),
            json!({"keys": [{"use": "x509-svid", "x5c": [base64_encode(&key.der), base64_encode(&key.der)]}]}).to_string(),
            json!({"keys": [{"use": "jwt-svid", "kty": "EC"}]}).to_string(),
            json!({"keys": vec![json!({"use": "jwt-svid", "kid": "k"}); 65]}).to_string(),
            "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n".to_owned(),
        ] {
            assert!(parse_bundle(&bad).is_err(), "{bad}");
        }
    }

    struct KeyPairFixture {
        der: Vec<u8>,
    }

    impl KeyPairFixture {
        fn new() -> Self {
            let key = rcgen::KeyPair::generate().unwrap();
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            Self {
                der: params.self_signed(&key).unwrap().der().to_vec(),
            }
        }
    }
}
