//! Vault's `cert` auth method: log in with the TLS client certificate the connection
//! presented. A role (`certs/<name>`) names the CA certificates it trusts and, optionally,
//! globs the certificate's common name, DNS SANs, URI SANs (an X509-SVID's SPIFFE ID, e.g.
//! `spiffe://example.org/ns/prod/*`) and organizational units must match; its token
//! settings decide the token. Login verifies the chain against each candidate role's CAs
//! with rustls-webpki (client-auth usage, at the request's time), then the constraints; the
//! first role that accepts issues the token, as Vault does.

use std::collections::BTreeMap;
use std::sync::Arc;

use rustls_pki_types::{CertificateDer, UnixTime};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sigil_core::encoding::Pem;
use sigil_storage::Page;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::api::{
    ApiError, Operation, Request, Response, duration_field, field_str, strings_field,
};
use crate::auth::token::{TokenParams, TokenStore};
use crate::auth::{StoredRole, role_key, role_routes};
use crate::engine::{Engine, split_first};
use crate::pki::glob_match;
use crate::view::View;

/// The most CA certificates or patterns one role may hold.
const MAX_LIST: usize = 64;
/// The largest `certificate` field (PEM).
const MAX_PEM: usize = 256 * 1024;

/// A stored role, in Vault's field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct CertRole {
    /// The trusted CA certificates, PEM.
    certificate: String,
    allowed_common_names: Vec<String>,
    allowed_dns_sans: Vec<String>,
    allowed_uri_sans: Vec<String>,
    allowed_organizational_units: Vec<String>,
    /// `oid:glob` pairs every one of which the leaf must carry (added later: absent in
    /// roles stored before).
    #[serde(default)]
    required_extensions: Vec<String>,
    token_policies: Vec<String>,
    token_ttl: u64,
    token_max_ttl: u64,
    display_name: String,
}

impl CertRole {
    fn parse(data: &Map<String, Value>, name: &str) -> Result<Self, ApiError> {
        let certificate =
            field_str(data, "certificate").ok_or_else(|| ApiError::bad("missing certificate"))?;
        if certificate.len() > MAX_PEM {
            return Err(ApiError::bad("certificate is too large"));
        }
        let cas = ca_ders(&certificate)?;
        if cas.is_empty() || cas.len() > MAX_LIST {
            return Err(ApiError::bad(format!(
                "certificate: between 1 and {MAX_LIST} PEM certificates"
            )));
        }
        for der in &cas {
            webpki::anchor_from_trusted_cert(&CertificateDer::from(der.as_slice()))
                .map_err(|_| ApiError::bad("certificate: a CA certificate does not parse"))?;
        }
        let list = |key: &str| -> Result<Vec<String>, ApiError> {
            let items = strings_field(data, key)?.unwrap_or_default();
            if items.len() > MAX_LIST || items.iter().any(|p| p.len() > 2048) {
                return Err(ApiError::bad(format!(
                    "{key}: at most {MAX_LIST} patterns of at most 2048 characters"
                )));
            }
            Ok(items)
        };
        let policies = match strings_field(data, "token_policies")? {
            Some(p) => p,
            None => strings_field(data, "policies")?.unwrap_or_default(),
        };
        let role = Self {
            certificate,
            allowed_common_names: list("allowed_common_names")?,
            allowed_dns_sans: list("allowed_dns_sans")?,
            allowed_uri_sans: list("allowed_uri_sans")?,
            allowed_organizational_units: list("allowed_organizational_units")?,
            required_extensions: required_extensions(list("required_extensions")?)?,
            token_policies: policies,
            token_ttl: duration_field(data, "token_ttl")?
                .or(duration_field(data, "ttl")?)
                .unwrap_or(0),
            token_max_ttl: duration_field(data, "token_max_ttl")?
                .or(duration_field(data, "max_ttl")?)
                .unwrap_or(0),
            display_name: field_str(data, "display_name").unwrap_or_else(|| name.to_owned()),
        };
        if role.token_max_ttl > 0 && role.token_ttl > role.token_max_ttl {
            return Err(ApiError::bad(
                "token_ttl cannot be larger than token_max_ttl",
            ));
        }
        Ok(role)
    }

    fn describe(&self) -> Map<String, Value> {
        match json!({
            "certificate": self.certificate,
            "allowed_common_names": self.allowed_common_names,
            "allowed_dns_sans": self.allowed_dns_sans,
            "allowed_uri_sans": self.allowed_uri_sans,
            "allowed_organizational_units": self.allowed_organizational_units,
            "required_extensions": self.required_extensions,
            "token_policies": self.token_policies,
            "policies": self.token_policies,
            "token_ttl": self.token_ttl,
            "token_max_ttl": self.token_max_ttl,
            "display_name": self.display_name,
        }) {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// Whether the chain verifies against this role's CAs at `now` for client use.
    fn trusts(&self, chain: &[Vec<u8>], now: UnixTime) -> bool {
        ca_ders(&self.certificate).is_ok_and(|cas| verifies_for_client(&cas, chain, now))
    }

    /// Whether the leaf's names satisfy every constraint the role sets (an empty list
    /// allows anything; a set one needs at least one of the leaf's names to match a glob).
    fn matches(&self, names: &LeafNames) -> bool {
        let any = |patterns: &[String], values: &[String]| {
            patterns.is_empty()
                || patterns
                    .iter()
                    .any(|p| values.iter().any(|v| glob_match(p, v)))
        };
        any(&self.allowed_common_names, &names.common_names)
            && any(&self.allowed_dns_sans, &names.dns)
            && any(&self.allowed_uri_sans, &names.uris)
            && any(&self.allowed_organizational_units, &names.ous)
            && self.required_extensions.iter().all(|r| {
                r.split_once(':').is_some_and(|(oid, pattern)| {
                    names
                        .extensions
                        .get(oid)
                        .is_some_and(|v| glob_match(pattern, v))
                })
            })
    }
}

/// Checks `oid:glob` entries: a dotted OID, a colon, a pattern.
fn required_extensions(items: Vec<String>) -> Result<Vec<String>, ApiError> {
    for item in &items {
        let ok = item.split_once(':').is_some_and(|(oid, _)| {
            oid.split('.').count() >= 2
                && oid
                    .split('.')
                    .all(|arc| !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit()))
        });
        if !ok {
            return Err(ApiError::bad(
                "required_extensions: each entry is \"<dotted oid>:<value glob>\"",
            ));
        }
    }
    Ok(items)
}

/// An extension's value read as Vault does: one DER string (UTF8, Printable, IA5,
/// Numeric, T61 or BMP); anything else reads as the empty string.
fn extension_text(value: &[u8]) -> String {
    use der::{Decode, Tag, Tagged};
    let Ok(any) = der::asn1::AnyRef::from_der(value) else {
        return String::new();
    };
    match any.tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::NumericString
        | Tag::TeletexString => String::from_utf8(any.value().to_vec()).unwrap_or_default(),
        Tag::BmpString => der::asn1::BmpString::from_der(value)
            .map(|s| s.to_string())
            .unwrap_or_default(),
        _ => String::new(),
    }
}

impl StoredRole for CertRole {
    fn from_body(data: &Map<String, Value>, name: &str) -> Result<Self, ApiError> {
        Self::parse(data, name)
    }

    fn to_data(&self) -> Map<String, Value> {
        self.describe()
    }
}

/// Whether `chain` (DER, leaf first) verifies against the CA certificates `cas` (DER) at
/// `now` for TLS client use.
pub(crate) fn verifies_for_client(cas: &[Vec<u8>], chain: &[Vec<u8>], now: UnixTime) -> bool {
    let anchors: Vec<_> = cas
        .iter()
        .filter_map(|d| {
            webpki::anchor_from_trusted_cert(&CertificateDer::from(d.as_slice()))
                .ok()
                .map(|a| a.to_owned())
        })
        .collect();
    let Some((leaf, rest)) = chain.split_first() else {
        return false;
    };
    let leaf = CertificateDer::from(leaf.as_slice());
    let intermediates: Vec<_> = rest
        .iter()
        .map(|d| CertificateDer::from(d.as_slice()))
        .collect();
    let Ok(ee) = webpki::EndEntityCert::try_from(&leaf) else {
        return false;
    };
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &intermediates,
        now,
        webpki::KeyUsage::client_auth(),
        None,
        None,
    )
    .is_ok()
}

/// The DER of every certificate in a PEM text.
pub(crate) fn ca_ders(pem: &str) -> Result<Vec<Vec<u8>>, ApiError> {
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let block = &rest[start..];
        let end = block
            .find("-----END CERTIFICATE-----")
            .ok_or_else(|| ApiError::bad("certificate: an unterminated PEM block"))?
            + "-----END CERTIFICATE-----".len();
        out.push(
            Pem::decode_expecting(&block[..end], "CERTIFICATE")
                .map_err(|_| ApiError::bad("certificate: a PEM block does not decode"))?,
        );
        rest = &block[end..];
    }
    Ok(out)
}

/// The names of a login certificate the constraints look at.
#[derive(Debug, Default)]
struct LeafNames {
    common_names: Vec<String>,
    dns: Vec<String>,
    uris: Vec<String>,
    ous: Vec<String>,
    /// The serial number in decimal, as Vault's metadata shows it.
    serial: String,
    /// The subject and authority key identifiers, lowercase hex joined by `:` (empty if
    /// absent).
    subject_key_id: String,
    authority_key_id: String,
    /// Every extension's value as text, by dotted OID (see [`extension_text`]).
    extensions: BTreeMap<String, String>,
}

impl LeafNames {
    fn of(der: &[u8]) -> Option<Self> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let text =
            |a: &x509_parser::x509::AttributeTypeAndValue<'_>| a.as_str().ok().map(str::to_owned);
        let hex = |b: &[u8]| {
            b.iter()
                .map(|x| format!("{x:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        };
        // Vault keeps one common name, the last in the subject.
        let mut names = Self {
            common_names: cert
                .subject()
                .iter_common_name()
                .filter_map(text)
                .last()
                .into_iter()
                .collect(),
            ous: cert
                .subject()
                .iter_organizational_unit()
                .filter_map(text)
                .collect(),
            serial: cert.tbs_certificate.serial.to_string(),
            ..Self::default()
        };
        for ext in cert.extensions() {
            names
                .extensions
                .insert(ext.oid.to_id_string(), extension_text(ext.value));
            match ext.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(k) => names.subject_key_id = hex(k.0),
                ParsedExtension::AuthorityKeyIdentifier(a) => {
                    names.authority_key_id = a
                        .key_identifier
                        .as_ref()
                        .map(|k| hex(k.0))
                        .unwrap_or_default();
                }
                _ => {}
            }
        }
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(d) => names.dns.push((*d).to_owned()),
                    GeneralName::URI(u) => names.uris.push((*u).to_owned()),
                    _ => {}
                }
            }
        }
        Some(names)
    }
}

/// The `cert` auth method of one mount.
#[derive(Debug)]
pub struct CertAuth {
    tokens: Arc<TokenStore>,
}

impl CertAuth {
    /// The method, issuing tokens from `tokens`.
    pub fn new(tokens: Arc<TokenStore>) -> Self {
        Self { tokens }
    }

    async fn login(&self, req: &Request, view: &View) -> Result<Response, ApiError> {
        let refused = || ApiError::bad("invalid certificate or no client certificate supplied");
        let chain = req
            .peer_certificates
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| ApiError::bad("no client certificate found"))?;
        let names = chain
            .first()
            .and_then(|leaf| LeafNames::of(leaf))
            .ok_or_else(refused)?;
        let candidates = match field_str(&req.data, "name").filter(|n| !n.is_empty()) {
            Some(name) => vec![name],
            None => view.list("certs/", Page::default()).await?,
        };
        let now = UnixTime::since_unix_epoch(
            req.time
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default(),
        );
        let mut trusted = false;
        for name in candidates {
            let Some(role) = view
                .get_json::<CertRole>(&role_key("certs", &name)?)
                .await?
            else {
                continue;
            };
            if !role.trusts(chain, now) {
                continue;
            }
            trusted = true;
            if role.matches(&names) {
                return self.issue(req, &name, &role, &names).await;
            }
        }
        Err(if trusted {
            ApiError::bad(
                "no chain matching all constraints could be found for this login certificate",
            )
        } else {
            refused()
        })
    }

    async fn issue(
        &self,
        req: &Request,
        name: &str,
        role: &CertRole,
        names: &LeafNames,
    ) -> Result<Response, ApiError> {
        let meta = BTreeMap::from([
            ("cert_name".to_owned(), name.to_owned()),
            (
                "common_name".to_owned(),
                names.common_names.first().cloned().unwrap_or_default(),
            ),
            ("serial_number".to_owned(), names.serial.clone()),
            ("subject_key_id".to_owned(), names.subject_key_id.clone()),
            (
                "authority_key_id".to_owned(),
                names.authority_key_id.clone(),
            ),
        ]);
        let params = TokenParams {
            policies: Some(role.token_policies.clone()),
            meta,
            display_name: role.display_name.clone(),
            ttl: Some(role.token_ttl),
            renewable: Some(true),
            no_parent: true,
            path: "auth/cert/login".into(),
            max_ttl: role.token_max_ttl,
            ..TokenParams::default()
        };
        crate::auth::login_response(&self.tokens, params, req.now_unix()).await
    }
}

#[async_trait::async_trait]
impl Engine for CertAuth {
    async fn handle(&self, req: &Request, view: &View) -> Result<Response, ApiError> {
        let path = req.path.trim_end_matches('/');
        let write = matches!(req.operation, Operation::Create | Operation::Update);
        match (split_first(path), req.operation) {
            (("login", ""), _) if write => self.login(req, view).await,
            (("certs", name), _) => role_routes::<CertRole>(req, view, "certs", name).await,
            _ => Err(ApiError::UnsupportedPath),
        }
    }

    fn unauthenticated_paths(&self) -> &'static [&'static str] {
        &["login"]
    }
}

#[cfg(test)]
mod tests;
