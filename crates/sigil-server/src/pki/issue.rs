//! Leaf certificates: `issue/:role` (the key is made here and returned once) and `sign/:role`
//! (the caller keeps its key and sends a CSR). Both check every requested name against the
//! role, cap the lifetime by the role's `max_ttl` and the issuer's own `notAfter`, and have
//! rcgen build and sign the certificate with the CA key.

use std::net::IpAddr;
use std::sync::Arc;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, SanType,
    SerialNumber, SigningKey,
};
use serde_json::{Map, Value};
use sigil_core::encoding::Pem;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{
    OID_KEY_TYPE_EC_PUBLIC_KEY, OID_PKCS1_RSAENCRYPTION, OID_SIG_ED25519,
};
use x509_parser::prelude::FromDer;

use super::ca::{KeySpec, at, random_serial, serial_colons};
use super::key_format::LeafKey;
use super::role::Role;
use super::urls::Urls;
use crate::api::{ApiError, duration_field, field_str, strings_field};

/// The lifetime when neither the request nor the role sets one (Vault's system default).
pub(super) const DEFAULT_TTL: u64 = 768 * 3600;
/// The most SANs of each kind one certificate may carry.
const MAX_SANS: usize = 100;
/// The largest CSR accepted, in bytes of PEM.
const MAX_CSR: usize = 64 * 1024;
/// X.509's upper bound for a common name.
const MAX_CN: usize = 64;

/// The names a leaf will carry, before the role has checked them.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Names {
    /// The subject's common name (also made a DNS SAN).
    pub common_name: String,
    /// DNS SANs.
    pub dns: Vec<String>,
    /// IP SANs.
    pub ips: Vec<IpAddr>,
    /// URI SANs.
    pub uris: Vec<String>,
}

impl Names {
    /// Reads `common_name`, `alt_names`, `ip_sans` and `uri_sans` from a request body.
    pub(super) fn from_body(data: &Map<String, Value>) -> Result<Self, ApiError> {
        let list = |key: &str| -> Result<Vec<String>, ApiError> {
            let items = strings_field(data, key)?.unwrap_or_default();
            if items.len() > MAX_SANS || items.iter().any(|s| s.len() > 253) {
                return Err(ApiError::bad(format!(
                    "{key}: at most {MAX_SANS} entries of at most 253 characters"
                )));
            }
            Ok(items)
        };
        let ips = list("ip_sans")?
            .iter()
            .map(|s| {
                s.parse::<IpAddr>()
                    .map_err(|_| ApiError::bad(format!("ip_sans: {s:?} is not an IP address")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            common_name: field_str(data, "common_name").unwrap_or_default(),
            dns: list("alt_names")?,
            ips,
            uris: list("uri_sans")?,
        })
    }

    /// Adds the common name to the DNS SANs when it is a host name (Vault's default,
    /// `exclude_cn_from_sans=false`)
    /// and removes duplicates (a CSR and the body may name the same host), keeping order.
    fn finish(&mut self) {
        let mut seen = std::collections::HashSet::new();
        let cn = self.common_name.to_ascii_lowercase();
        // As Vault, only a common name that is a host name becomes a DNS SAN (a role with
        // `enforce_hostnames=false` may issue "Jane Doe", which is no DNS name).
        let all = std::iter::once(cn)
            .filter(|cn| super::role::is_hostname(cn))
            .chain(self.dns.iter().map(|d| d.to_ascii_lowercase()));
        self.dns = all.filter(|d| seen.insert(d.clone())).collect();
        let mut seen = std::collections::HashSet::new();
        self.ips.retain(|ip| seen.insert(*ip));
        let mut seen = std::collections::HashSet::new();
        self.uris.retain(|u| seen.insert(u.clone()));
    }

    /// Checks every name against the role; the message names the first refused one.
    pub(super) fn check(&mut self, role: &Role) -> Result<(), ApiError> {
        if self.common_name.is_empty() {
            if role.require_cn {
                return Err(ApiError::bad("the common_name field is required"));
            }
            return self.check_sans(role);
        }
        if self.common_name.len() > MAX_CN {
            return Err(ApiError::bad(format!(
                "common_name is longer than {MAX_CN} characters"
            )));
        }
        // Vault's wording, which names the refused name (never a secret).
        if !role.allows_host(&self.common_name) {
            return Err(ApiError::bad(format!(
                "common name {} not allowed by this role",
                self.common_name
            )));
        }
        self.check_sans(role)
    }

    /// Checks the SANs against the role (the common name, when there is one, is among the
    /// DNS SANs by now).
    fn check_sans(&mut self, role: &Role) -> Result<(), ApiError> {
        self.finish();
        if self.dns.len() > MAX_SANS || self.ips.len() > MAX_SANS || self.uris.len() > MAX_SANS {
            return Err(ApiError::bad(format!(
                "at most {MAX_SANS} names of each kind"
            )));
        }
        if let Some(name) = self.dns.iter().find(|n| !role.allows_host(n)) {
            return Err(ApiError::bad(format!(
                "subject alternate name {name} not allowed by this role"
            )));
        }
        if !self.ips.is_empty() && !role.allow_ip_sans {
            return Err(ApiError::bad(
                "IP Subject Alternative Names are not allowed in this role",
            ));
        }
        for uri in &self.uris {
            if !uri.is_ascii() || !role.allows_uri(uri) {
                return Err(ApiError::bad(format!(
                    "URI Subject Alternative Name {uri} is not allowed by this role"
                )));
            }
        }
        Ok(())
    }
}

/// The names a `sign` request ends with: the CSR's common name unless the role says
/// `use_csr_common_name=false` (then the body's), the CSR's SANs unless it says
/// `use_csr_sans=false` (then the body's). Vault warns when the body's names are overruled,
/// even when the CSR has no common name and the body's is used after all.
pub(super) fn csr_names(
    data: &Map<String, Value>,
    role: &Role,
    body: Names,
    csr: &mut Csr,
    warnings: &mut Vec<String>,
) -> Names {
    let from_csr = std::mem::take(&mut csr.names);
    let common_name = if role.use_csr_common_name {
        if !body.common_name.is_empty() {
            warnings.push(
                "the common_name field was provided but the role is set with \"use_csr_common_name\" set to true".to_owned(),
            );
        }
        if from_csr.common_name.is_empty() {
            body.common_name
        } else {
            from_csr.common_name
        }
    } else {
        body.common_name
    };
    if !role.use_csr_sans {
        return Names {
            common_name,
            ..body
        };
    }
    if field_str(data, "alt_names").is_some_and(|a| !a.trim().is_empty()) {
        warnings.push(
            "the alt_names field was provided but the role is set with \"use_csr_sans\" set to true".to_owned(),
        );
    }
    Names {
        common_name,
        ..from_csr
    }
}

/// Which of the three ways to a leaf a request takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// `issue/:role`: the key is made here.
    Issue,
    /// `sign/:role`: a CSR, its names checked against the role.
    Sign,
    /// `sign-verbatim[/:role]`: a CSR, its subject and SANs kept as they are.
    Verbatim,
}

/// A leaf's validity: `(not_before, not_after)` in Unix seconds, and warnings for the caller.
/// The lifetime is the request's `ttl`, else the role's, else [`DEFAULT_TTL`]; capped by the
/// role's `max_ttl` (else [`DEFAULT_TTL`]) and then by the issuer's `notAfter`.
pub(super) fn validity(
    now: i64,
    requested: Option<u64>,
    role: &Role,
    ca_not_after: i64,
) -> (i64, i64, Vec<String>) {
    let mut warnings = Vec::new();
    let max = if role.max_ttl == 0 {
        DEFAULT_TTL
    } else {
        role.max_ttl
    };
    let mut ttl = match requested {
        Some(t) if t > 0 => t,
        _ if role.ttl > 0 => role.ttl,
        _ => DEFAULT_TTL,
    };
    if ttl > max {
        warnings.push(format!(
            "TTL {ttl}s is larger than the role's max_ttl {max}s; capping"
        ));
        ttl = max;
    }
    let mut not_after = now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX));
    if not_after > ca_not_after {
        warnings.push("the TTL reaches past the issuer's expiry; notAfter is the issuer's".into());
        not_after = ca_not_after;
    }
    let backdate = i64::try_from(role.not_before_duration).unwrap_or(i64::MAX);
    (now.saturating_sub(backdate), not_after, warnings)
}

/// How `issue` and `sign` encode what they return (Vault's `format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    /// PEM, the default.
    Pem,
    /// Base64 of the DER, with no PEM armour (the private key too).
    Der,
    /// PEM, with `certificate` holding the private key (when issued), the leaf and the
    /// issuing CA, concatenated.
    PemBundle,
}

impl Format {
    /// The request's `format`, in Vault's words when it is none of the three.
    pub(super) fn from_body(data: &Map<String, Value>) -> Result<Self, ApiError> {
        match field_str(data, "format").as_deref() {
            None | Some("" | "pem") => Ok(Self::Pem),
            Some("der") => Ok(Self::Der),
            Some("pem_bundle") => Ok(Self::PemBundle),
            Some(_) => Err(ApiError::bad(
                "the \"format\" path parameter must be \"pem\", \"der\", or \"pem_bundle\"",
            )),
        }
    }
}

/// A signed leaf.
#[derive(Debug)]
pub(super) struct Leaf {
    /// The certificate, PEM.
    pub pem: String,
    /// Its serial, colon form.
    pub serial: String,
    /// Its `notAfter`, Unix seconds.
    pub not_after: i64,
}

/// What a leaf carries besides its names and the role's policy.
#[derive(Debug, Default)]
pub(super) struct LeafContext {
    /// The mount's `config/urls` (AIA and CRL distribution points).
    pub urls: Arc<Urls>,
    /// `sign-verbatim`: the CSR's subject, kept as it is instead of the common name and the
    /// role's subject fields.
    pub verbatim_subject: Option<DistinguishedName>,
}

/// Builds and signs a leaf for `public_key` with the role's key usages, EKUs and subject
/// fields, and the mount's URLs.
pub(super) fn sign_leaf(
    names: &Names,
    role: &Role,
    public_key: &impl rcgen::PublicKeyData,
    issuer: &Issuer<'_, impl SigningKey>,
    (not_before, not_after): (i64, i64),
    ctx: &LeafContext,
) -> Result<Leaf, ApiError> {
    let serial = random_serial()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = match &ctx.verbatim_subject {
        Some(dn) => dn.clone(),
        None => {
            let mut dn = DistinguishedName::new();
            role.profile.add_subject(&mut dn)?;
            if !names.common_name.is_empty() {
                dn.push(DnType::CommonName, names.common_name.as_str());
            }
            dn
        }
    };
    let ia5 = |s: &str| {
        s.to_owned()
            .try_into()
            .map_err(|_| ApiError::bad(format!("{s:?} is not an ASCII name")))
    };
    for d in &names.dns {
        params.subject_alt_names.push(SanType::DnsName(ia5(d)?));
    }
    for ip in &names.ips {
        params.subject_alt_names.push(SanType::IpAddress(*ip));
    }
    for u in &names.uris {
        params.subject_alt_names.push(SanType::URI(ia5(u)?));
    }
    // ExplicitNoCa writes basicConstraints CA:false and, with it, the subject key identifier.
    params.is_ca = IsCa::ExplicitNoCa;
    // As Vault, the role's key usages whatever the key type (its default names
    // KeyEncipherment and KeyAgreement for EC keys too); none at all leaves the extension out.
    params.key_usages = role.profile.key_usages();
    if role.server_flag {
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
    }
    if role.client_flag {
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ClientAuth);
    }
    for eku in role.profile.ext_key_usages() {
        if !params.extended_key_usages.contains(&eku) {
            params.extended_key_usages.push(eku);
        }
    }
    ctx.urls.apply(&mut params)?;
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params.not_before = at(not_before)?;
    params.not_after = at(not_after)?;
    let cert = params
        .signed_by(public_key, issuer)
        .map_err(|e| ApiError::internal(format!("signing a certificate: {e}")))?;
    Ok(Leaf {
        pem: cert.pem(),
        serial: serial_colons(&serial),
        not_after,
    })
}

/// A key made for `issue`, with its kind.
pub(super) fn issue_key(role: &Role) -> Result<(LeafKey, KeySpec), ApiError> {
    let spec = role.issue_key()?;
    Ok((LeafKey::generate(spec)?, spec))
}

/// A parsed, signature-checked CSR: its public key and the names it asks for.
#[derive(Debug)]
pub(super) struct Csr {
    /// The requester's public key.
    pub spki: rcgen::SubjectPublicKeyInfo,
    /// The names the CSR asks for (checked later, with the body's).
    pub names: Names,
}

/// Parses a CSR in PEM, checks its signature and that its key suits the role.
pub(super) fn parse_csr(pem: &str, role: &Role) -> Result<Csr, ApiError> {
    with_verified_csr(pem, |csr| csr_for_role(csr, role))
}

/// Parses a CSR in PEM (bounded in size), checks its signature, and hands it to `read`.
pub(crate) fn with_verified_csr<T>(
    pem: &str,
    read: impl FnOnce(&X509CertificationRequest<'_>) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    if pem.len() > MAX_CSR {
        return Err(ApiError::bad("csr is too large"));
    }
    let der = Pem::decode_expecting(pem, "CERTIFICATE REQUEST")
        .map_err(|_| ApiError::bad("csr: expected one PEM block labelled CERTIFICATE REQUEST"))?;
    let (rest, csr) = X509CertificationRequest::from_der(&der)
        .map_err(|_| ApiError::bad("csr: not a valid PKCS#10 certificate request"))?;
    if !rest.is_empty() {
        return Err(ApiError::bad("csr: trailing bytes after the request"));
    }
    csr.verify_signature()
        .map_err(|_| ApiError::bad("csr: the request's signature does not verify"))?;
    read(&csr)
}

/// A verified CSR's key, checked against the role, and its names.
fn csr_for_role(csr: &X509CertificationRequest<'_>, role: &Role) -> Result<Csr, ApiError> {
    let info = &csr.certification_request_info;
    let pki = &info.subject_pki;
    let alg = &pki.algorithm.algorithm;
    let kind = if *alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
        "ec"
    } else if *alg == OID_PKCS1_RSAENCRYPTION {
        "rsa"
    } else if *alg == OID_SIG_ED25519 {
        "ed25519"
    } else {
        return Err(ApiError::bad("csr: unsupported public key algorithm"));
    };
    if role.key_type != "any" && role.key_type != kind {
        return Err(ApiError::bad(format!(
            "role requires keys of type {}, the CSR has a {kind} key",
            role.key_type
        )));
    }
    if kind != "ed25519" && role.key_type != "any" {
        let bits = pki.parsed().map(|k| k.key_size()).unwrap_or(0);
        if bits < role.key_bits as usize {
            return Err(ApiError::bad(format!(
                "role requires a minimum of {} bits, the CSR's key has {bits}",
                role.key_bits
            )));
        }
    }
    let mut names = Names::default();
    if let Some(cn) = info.subject.iter_common_name().next() {
        names.common_name = cn
            .as_str()
            .map_err(|_| ApiError::bad("csr: the common name is not a string"))?
            .to_owned();
    }
    if let Some(exts) = csr.requested_extensions() {
        for ext in exts {
            if let ParsedExtension::SubjectAlternativeName(san) = ext {
                for name in &san.general_names {
                    match name {
                        GeneralName::DNSName(d) => names.dns.push((*d).to_owned()),
                        GeneralName::URI(u) => names.uris.push((*u).to_owned()),
                        GeneralName::IPAddress(b) => names.ips.push(ip_from_bytes(b)?),
                        _ => {
                            return Err(ApiError::bad("csr: unsupported subject alternative name"));
                        }
                    }
                }
            }
        }
    }
    let spki = rcgen::SubjectPublicKeyInfo::from_der(pki.raw)
        .map_err(|_| ApiError::bad("csr: unsupported public key"))?;
    Ok(Csr { spki, names })
}

fn ip_from_bytes(b: &[u8]) -> Result<IpAddr, ApiError> {
    match b.len() {
        4 => {
            let a: [u8; 4] = b.try_into().map_err(|_| ApiError::bad("csr: bad IP"))?;
            Ok(IpAddr::from(a))
        }
        16 => {
            let a: [u8; 16] = b.try_into().map_err(|_| ApiError::bad("csr: bad IP"))?;
            Ok(IpAddr::from(a))
        }
        _ => Err(ApiError::bad("csr: an IP address SAN has a bad length")),
    }
}

/// The requested `ttl`, if any.
pub(super) fn requested_ttl(data: &Map<String, Value>) -> Result<Option<u64>, ApiError> {
    duration_field(data, "ttl")
}
