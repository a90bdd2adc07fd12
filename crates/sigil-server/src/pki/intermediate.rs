//! Making issuers: the storage of new issuers (roots, imports), `intermediate/generate` (a
//! key kept here and a CSR for another CA to sign) and `sign-intermediate` (this mount signs
//! another CA's CSR). `import.rs` decides what an import adds.
//!
//! Every request is checked whole before the first write, and what one request stores goes
//! in one transaction. Callers hold the engine lock.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, SerialNumber,
};
use serde_json::{Map, Value};
use sigil_core::encoding::{Pem, base64_encode};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;

use super::CertEntry;
use super::ca::{RootRequest, ca_params, expiry, random_serial, serial_colons, serial_key};
use super::issuers::{
    CONFIG_KEY, IssuerEntry, KeyEntry, Signer, all_issuers, all_keys, check_name, config, rechain,
};
use crate::api::{ApiError, bool_field, field_str};
use crate::view::{View, ViewOp, to_json};

/// Refuses a name already used by another issuer (OpenBao's words, which do not name it).
pub(super) async fn check_issuer_name_free(view: &View, name: &str) -> Result<(), ApiError> {
    check_name("issuer_name", name)?;
    if !name.is_empty()
        && all_issuers(view)
            .await?
            .iter()
            .any(|e| e.issuer_name == name)
    {
        return Err(ApiError::bad("issuer name already in use"));
    }
    Ok(())
}

/// Refuses a name already used by another key (Vault's words).
pub(super) async fn check_key_name_free(view: &View, name: &str) -> Result<(), ApiError> {
    check_name("key_name", name)?;
    if !name.is_empty() && all_keys(view).await?.iter().any(|k| k.key_name == name) {
        return Err(ApiError::bad("key name already in use"));
    }
    Ok(())
}

/// The ops that store new issuers (and keys), make the first of them the default when the
/// mount has none, and recompute every chain. (Each issuer's CRL is made when first read.)
pub(super) async fn store_issuers(
    view: &View,
    keys: Vec<KeyEntry>,
    new: Vec<IssuerEntry>,
    changed: Vec<IssuerEntry>,
) -> Result<Vec<ViewOp>, ApiError> {
    let mut ops = Vec::new();
    for k in &keys {
        ops.push(ViewOp::Put(format!("keys/{}", k.key_id), to_json(k)?));
    }
    let mut c = config(view).await?;
    if c.default.is_empty()
        && let Some(first) = new.first()
    {
        c.default = first.issuer_id.clone();
        ops.push(ViewOp::Put(CONFIG_KEY.into(), to_json(&c)?));
    }
    let mut all: Vec<IssuerEntry> = all_issuers(view)
        .await?
        .into_iter()
        .filter(|e| !changed.iter().any(|c| c.issuer_id == e.issuer_id))
        .chain(changed.iter().cloned())
        .chain(new.iter().cloned())
        .collect();
    let rechained = rechain(&mut all)?;
    // Every new or changed issuer is written once, with its chain.
    let mut written: Vec<String> = Vec::new();
    for e in all.iter().filter(|e| {
        new.iter().any(|n| n.issuer_id == e.issuer_id)
            || changed.iter().any(|c| c.issuer_id == e.issuer_id)
    }) {
        written.push(format!("issuers/{}", e.issuer_id));
        ops.push(ViewOp::Put(format!("issuers/{}", e.issuer_id), to_json(e)?));
    }
    ops.extend(
        rechained
            .into_iter()
            .filter(|op| !matches!(op, ViewOp::Put(k, _) if written.contains(k))),
    );
    Ok(ops)
}

/// Generates and stores a new root (its key, its issuer, its `certs/` entry; the default when
/// the mount has none) in one transaction, and answers as Vault's `root/generate` does,
/// before any private key is added. Callers hold the engine lock.
pub(super) async fn store_root(
    view: &View,
    root: &RootRequest,
    key_name: &str,
    now: i64,
) -> Result<(KeyPair, Map<String, Value>), ApiError> {
    check_issuer_name_free(view, &root.issuer_name).await?;
    check_key_name_free(view, key_name).await?;
    let key = root.key.generate()?;
    let made = super::ca::generate_root(root, &key, now)?;
    let key_entry = KeyEntry::new(&key, key_name)?;
    let issuer = issuer_entry(
        made.pem.clone(),
        made.serial.clone(),
        made.not_after,
        &key_entry.key_id,
        &root.issuer_name,
    );
    let entry = CertEntry {
        certificate: made.pem.clone(),
        revocation_time: 0,
        issuer_id: issuer.issuer_id.clone(),
    };
    let mut ops = store_issuers(
        view,
        vec![key_entry.clone()],
        vec![issuer.clone()],
        Vec::new(),
    )
    .await?;
    ops.push(ViewOp::Put(
        format!("certs/{}", serial_key(&made.serial)),
        to_json(&entry)?,
    ));
    view.transaction(ops).await?;
    let mut data = Map::new();
    data.insert("certificate".into(), made.pem.clone().into());
    data.insert("issuing_ca".into(), made.pem.into());
    data.insert("serial_number".into(), made.serial.into());
    data.insert("expiration".into(), made.not_after.into());
    data.insert("issuer_id".into(), issuer.issuer_id.into());
    data.insert("issuer_name".into(), issuer.issuer_name.into());
    data.insert("key_id".into(), key_entry.key_id.clone().into());
    data.insert("key_name".into(), key_entry.key_name.clone().into());
    Ok((key, data))
}

/// A new issuer entry for a certificate.
pub(super) fn issuer_entry(
    pem: String,
    serial: String,
    not_after: i64,
    key_id: &str,
    name: &str,
) -> IssuerEntry {
    IssuerEntry {
        issuer_id: uuid::Uuid::new_v4().to_string(),
        issuer_name: name.to_owned(),
        key_id: key_id.to_owned(),
        certificate: pem,
        serial_number: serial,
        not_after,
        ca_chain: Vec::new(),
    }
}

/// A PKCS#10 request, signature checked: its subject and public key.
struct CaCsr {
    subject: DistinguishedName,
    spki: rcgen::SubjectPublicKeyInfo,
}

fn parse_ca_csr(pem: &str) -> Result<CaCsr, ApiError> {
    super::issue::with_verified_csr(pem.trim(), |csr| {
        let info = &csr.certification_request_info;
        Ok(CaCsr {
            subject: subject_of(&info.subject)?,
            spki: rcgen::SubjectPublicKeyInfo::from_der(info.subject_pki.raw)
                .map_err(|_| ApiError::bad("csr: unsupported public key"))?,
        })
    })
}

/// A CSR's subject as rcgen writes it (each attribute by its OID, as a UTF-8 string).
fn subject_of(name: &x509_parser::x509::X509Name<'_>) -> Result<DistinguishedName, ApiError> {
    let mut dn = DistinguishedName::new();
    for attr in name.iter_attributes() {
        let oid: Vec<u64> = attr
            .attr_type()
            .iter()
            .ok_or_else(|| ApiError::bad("csr: unsupported subject attribute"))?
            .collect();
        let value = attr
            .as_str()
            .map_err(|_| ApiError::bad("csr: a subject attribute is not a string"))?;
        dn.push(DnType::from_oid(&oid), value);
    }
    Ok(dn)
}

/// `max_path_length`: `None` = no limit (Vault's -1, the default).
pub(super) fn path_length(d: &Map<String, Value>) -> Result<Option<u8>, ApiError> {
    match d.get("max_path_length") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let n = v
                .as_i64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or_else(|| ApiError::bad("max_path_length: expected an integer"))?;
            match n {
                -1 => Ok(None),
                0..=255 => Ok(Some(u8::try_from(n).unwrap_or(u8::MAX))),
                _ => Err(ApiError::bad("max_path_length must be -1 or 0 to 255")),
            }
        }
    }
}

/// The signer's own path length constraint, if any.
fn signer_path_length(der: &[u8]) -> Result<Option<u32>, ApiError> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|_| ApiError::internal("a stored issuer certificate is corrupt"))?;
    Ok(cert
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::BasicConstraints(bc) => bc.path_len_constraint,
            _ => None,
        }))
}

/// A CA certificate signed by this mount.
#[derive(Debug)]
pub(super) struct SignedCa {
    /// PEM.
    pub pem: String,
    /// Colon form.
    pub serial: String,
    /// Unix seconds.
    pub not_after: i64,
    /// Warnings for the caller.
    pub warnings: Vec<String>,
}

/// Signs the CA CSR in `d.csr` as `issuer` (whose entry is `signer_entry`): Vault's
/// `sign-intermediate` fields `common_name`, `ttl`, `max_path_length`, `use_csr_values`.
pub(super) fn sign_intermediate(
    d: &Map<String, Value>,
    signer_entry: &IssuerEntry,
    signer: &Signer,
    now: i64,
) -> Result<SignedCa, ApiError> {
    let csr = parse_ca_csr(
        &field_str(d, "csr").ok_or_else(|| ApiError::bad("the csr field is required"))?,
    )?;
    let use_csr_values = bool_field(d, "use_csr_values")?.unwrap_or(false);
    let common_name = field_str(d, "common_name").unwrap_or_default();
    let subject = if use_csr_values {
        csr.subject
    } else {
        // As Vault: without a common_name in the body, the CSR's common name is used.
        let cn = if common_name.is_empty() {
            match csr.subject.get(&DnType::CommonName) {
                Some(v) => v.clone(),
                None => {
                    return Err(ApiError::bad(
                        "the common_name field is required, or must be provided in the CSR",
                    ));
                }
            }
        } else if common_name.len() > 64 {
            return Err(ApiError::bad("common_name is longer than 64 characters"));
        } else {
            common_name.into()
        };
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        dn
    };
    let mut warnings = Vec::new();
    let mut max_path = path_length(d)?;
    // A CA below a constrained signer gets at most one less than the signer allows.
    if let Some(limit) = signer_path_length(&signer_entry.der()?)? {
        if limit == 0 {
            return Err(ApiError::bad(
                "signing certificate has a max path length of 0, and cannot issue further CA \
                 certificates",
            ));
        }
        let below = u8::try_from(limit - 1).unwrap_or(u8::MAX);
        if max_path.is_none_or(|n| n > below) {
            max_path = Some(below);
        }
    }
    let ttl = super::issue::requested_ttl(d)?
        .filter(|t| *t > 0)
        .unwrap_or(super::issue::DEFAULT_TTL);
    let mut not_after = expiry(now, ttl)?;
    if not_after > signer_entry.not_after {
        warnings.push(
            "the TTL reaches past the signing issuer's expiry; notAfter is the issuer's".into(),
        );
        not_after = signer_entry.not_after;
    }
    let serial = random_serial()?;
    let mut params: CertificateParams = ca_params(max_path);
    params.distinguished_name = subject;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params.use_authority_key_identifier_extension = true;
    params.not_before = super::ca::at(now - 30)?;
    params.not_after = super::ca::at(not_after)?;
    let cert = params
        .signed_by(&csr.spki, signer.as_ref())
        .map_err(|e| ApiError::internal(format!("signing an intermediate: {e}")))?;
    Ok(SignedCa {
        pem: cert.pem(),
        serial: serial_colons(&serial),
        not_after,
        warnings,
    })
}

/// The storage key of a certificate by serial.
pub(super) fn cert_key(serial: &str) -> String {
    format!("certs/{}", serial_key(serial))
}

/// `intermediate/generate/:kind`: a new key kept in the mount and a CSR for it. Returns the
/// key entry to store and the answer.
pub(super) fn generate_csr(
    d: &Map<String, Value>,
    exported: bool,
) -> Result<(KeyEntry, Map<String, Value>), ApiError> {
    let common_name = field_str(d, "common_name").unwrap_or_default();
    if common_name.is_empty() || common_name.len() > 64 {
        return Err(ApiError::bad(
            "common_name is required, at most 64 characters",
        ));
    }
    let spec = super::ca::KeySpec::parse(
        &field_str(d, "key_type").unwrap_or_else(|| "ec".into()),
        crate::api::u64_field(d, "key_bits")?.unwrap_or(0),
    )?;
    let key_name = field_str(d, "key_name").unwrap_or_default();
    check_name("key_name", &key_name)?;
    let add_basic_constraints = bool_field(d, "add_basic_constraints")?.unwrap_or(false);
    let key: KeyPair = spec.generate()?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name.as_str());
    params.distinguished_name = dn;
    if add_basic_constraints {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    }
    let csr = params
        .serialize_request(&key)
        .and_then(|c| c.pem())
        .map_err(|e| ApiError::internal(format!("making a CSR: {e}")))?;
    let entry = KeyEntry::new(&key, &key_name)?;
    let mut data = Map::new();
    data.insert("csr".into(), csr.into());
    data.insert("key_id".into(), entry.key_id.clone().into());
    data.insert("key_name".into(), key_name.into());
    data.insert("key_type".into(), spec.name().into());
    if exported {
        data.insert(
            "private_key".into(),
            super::ca::private_key_pem(&key)?.as_str().into(),
        );
        data.insert("private_key_type".into(), spec.name().into());
    }
    Ok((entry, data))
}

/// Base64 of a PEM certificate's DER (for `format=der` answers).
pub(super) fn der_b64(pem: &str) -> Result<String, ApiError> {
    Pem::decode_expecting(pem, "CERTIFICATE")
        .map(|d| base64_encode(&d))
        .map_err(|_| ApiError::internal("a certificate is not one PEM block"))
}
