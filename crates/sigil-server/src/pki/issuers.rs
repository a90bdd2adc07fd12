//! Issuers and keys as Vault ≥ 1.11 stores them: several CAs per mount, each an
//! `issuers/<id>` entry (certificate, name, the key's id or "" when only the certificate is
//! known, and the chain above it), keys apart under `keys/<id>` (PKCS#8, barrier-encrypted),
//! and `config/issuers` naming the default. References (`issuer_ref`, `key_ref`) are an id, a
//! name or `default`.
//!
//! This file owns that storage, the references, the engine's cache of parsed signers and the
//! chains; `issuer_api.rs` serves them, `intermediate.rs` and `import.rs` create issuers.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex as SyncMutex};

use rcgen::{Issuer, KeyPair, PublicKeyData};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sigil_core::encoding::{Pem, base64_decode, base64_encode};
use sigil_storage::Page;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;
use zeroize::Zeroizing;

use super::ca::{StoredCa, serial_colons};
use crate::api::ApiError;
use crate::view::{View, ViewOp, to_json};

/// Where the default issuer is named.
pub(super) const CONFIG_KEY: &str = "config/issuers";
/// The deepest chain followed above an issuer (a loop guard; real chains are short).
const MAX_CHAIN: usize = 16;

/// A stored issuer: a CA certificate, with the key that signs for it when the mount has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct IssuerEntry {
    /// A UUID.
    pub issuer_id: String,
    /// Unique in the mount, or "".
    pub issuer_name: String,
    /// The key's UUID, or "" when only the certificate is known.
    pub key_id: String,
    /// PEM.
    pub certificate: String,
    /// Colon form.
    pub serial_number: String,
    /// Unix seconds.
    pub not_after: i64,
    /// The certificates above this one, PEM, nearest first (empty for a root).
    pub ca_chain: Vec<String>,
}

impl IssuerEntry {
    /// The certificate and everything above it, leaf-most first (Vault's `ca_chain`).
    pub(super) fn full_chain(&self) -> Vec<String> {
        std::iter::once(self.certificate.clone())
            .chain(self.ca_chain.iter().cloned())
            .collect()
    }

    /// The certificate in DER.
    pub(super) fn der(&self) -> Result<Vec<u8>, ApiError> {
        Pem::decode_expecting(&self.certificate, "CERTIFICATE")
            .map_err(|_| ApiError::internal("a stored issuer certificate is corrupt"))
    }

    /// The issuer as `issuer/<ref>` reads it (Vault's fields; URLs and usages are Vault's
    /// defaults, as this engine does not set them per issuer yet).
    pub(super) fn to_data(&self) -> Map<String, Value> {
        match json!({
            "issuer_id": self.issuer_id,
            "issuer_name": self.issuer_name,
            "key_id": self.key_id,
            "certificate": self.certificate,
            "ca_chain": self.full_chain(),
            "manual_chain": Value::Null,
            "serial_number": self.serial_number,
            "leaf_not_after_behavior": "truncate",
            "usage": "crl-signing,issuing-certificates,ocsp-signing,read-only",
            "revocation_signature_algorithm": "",
            "revoked": false,
            "issuing_certificates": [],
            "crl_distribution_points": [],
            "delta_crl_distribution_points": [],
            "ocsp_servers": [],
        }) {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

/// A stored key. `Debug` shows identifiers only; the private key is zeroized when dropped.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct KeyEntry {
    /// A UUID.
    pub key_id: String,
    /// Unique in the mount, or "".
    pub key_name: String,
    /// `ec`, `ed25519` or `rsa`.
    pub key_type: String,
    /// PKCS#8 DER, base64.
    private_key: String,
    /// The SubjectPublicKeyInfo, DER in base64: what certificates are matched against.
    pub public_key: String,
}

impl fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyEntry")
            .field("key_id", &self.key_id)
            .field("key_name", &self.key_name)
            .field("key_type", &self.key_type)
            .finish_non_exhaustive()
    }
}

impl Drop for KeyEntry {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.private_key);
    }
}

impl KeyEntry {
    /// A new entry for `key` with a fresh id.
    pub(super) fn new(key: &KeyPair, key_name: &str) -> Result<Self, ApiError> {
        Ok(Self {
            key_id: uuid::Uuid::new_v4().to_string(),
            key_name: key_name.to_owned(),
            key_type: key_type_of(key)?.to_owned(),
            private_key: super::ca::key_b64(key).as_str().to_owned(),
            public_key: base64_encode(&key.subject_public_key_info()),
        })
    }

    /// The key pair.
    pub(super) fn key_pair(&self) -> Result<KeyPair, ApiError> {
        let der = Zeroizing::new(
            base64_decode(&self.private_key)
                .map_err(|_| ApiError::internal("a stored key is corrupt"))?,
        );
        KeyPair::try_from(der.as_slice()).map_err(|_| ApiError::internal("a stored key is corrupt"))
    }

    pub(super) fn to_data(&self) -> Map<String, Value> {
        match json!({
            "key_id": self.key_id,
            "key_name": self.key_name,
            "key_type": self.key_type,
        }) {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

/// Vault's `key_type` for a key pair.
pub(super) fn key_type_of(key: &KeyPair) -> Result<&'static str, ApiError> {
    let alg = key.algorithm();
    if alg == &rcgen::PKCS_ED25519 {
        Ok("ed25519")
    } else if alg == &rcgen::PKCS_ECDSA_P256_SHA256 || alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
        Ok("ec")
    } else if alg == &rcgen::PKCS_RSA_SHA256
        || alg == &rcgen::PKCS_RSA_SHA384
        || alg == &rcgen::PKCS_RSA_SHA512
    {
        Ok("rsa")
    } else {
        Err(ApiError::bad(
            "unsupported key type: use ec, ed25519 or rsa",
        ))
    }
}

/// `config/issuers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct IssuersConfig {
    /// The default issuer's id, or "" when there is none.
    pub default: String,
    /// Always false: the default moves only when asked (Vault's default).
    #[serde(default)]
    pub default_follows_latest_issuer: bool,
}

/// The mount's issuers config (empty before the first issuer).
pub(super) async fn config(view: &View) -> Result<IssuersConfig, ApiError> {
    Ok(view.get_json(CONFIG_KEY).await?.unwrap_or_default())
}

/// Every stored issuer.
pub(super) async fn all_issuers(view: &View) -> Result<Vec<IssuerEntry>, ApiError> {
    let mut out = Vec::new();
    for id in view.list("issuers/", Page::default()).await? {
        if let Some(e) = view.get_json(&format!("issuers/{id}")).await? {
            out.push(e);
        }
    }
    Ok(out)
}

/// Every stored key (private material included: callers drop them soon).
pub(super) async fn all_keys(view: &View) -> Result<Vec<KeyEntry>, ApiError> {
    let mut out = Vec::new();
    for id in view.list("keys/", Page::default()).await? {
        if let Some(e) = view.get_json(&format!("keys/{id}")).await? {
            out.push(e);
        }
    }
    Ok(out)
}

/// Whether `name` may name an issuer or key: the role-name characters, and not `default`
/// (which always means the default issuer).
pub(super) fn check_name(field: &str, name: &str) -> Result<(), ApiError> {
    if name.is_empty() {
        return Ok(());
    }
    let ok = name.len() <= 128
        && name != "default"
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad(format!(
            "{field}: letters, digits, '-', '_' and '.' only, and not \"default\""
        )))
    }
}

/// Whether a reference can only be an id or name (never a path).
fn check_ref(reference: &str) -> Result<(), ApiError> {
    if reference.is_empty() {
        return Err(ApiError::bad("missing issuer reference"));
    }
    if reference.contains('/') || reference.starts_with('.') || reference.len() > 128 {
        return Err(ApiError::bad(format!(
            "unable to find PKI issuer for reference: {reference}"
        )));
    }
    Ok(())
}

/// The issuer `reference` names: `default`, an id, or a name (Vault's order).
pub(super) async fn resolve_issuer(view: &View, reference: &str) -> Result<IssuerEntry, ApiError> {
    check_ref(reference)?;
    let not_found = || {
        ApiError::bad(format!(
            "unable to find PKI issuer for reference: {reference}"
        ))
    };
    if reference == "default" {
        let id = config(view).await?.default;
        if id.is_empty() {
            return Err(ApiError::bad(
                "no default issuer is configured: generate a root with root/generate/internal \
                 or import one first",
            ));
        }
        return view
            .get_json(&format!("issuers/{id}"))
            .await?
            .ok_or_else(not_found);
    }
    if let Some(e) = view.get_json(&format!("issuers/{reference}")).await? {
        return Ok(e);
    }
    all_issuers(view)
        .await?
        .into_iter()
        .find(|e| e.issuer_name == reference)
        .ok_or_else(not_found)
}

/// The key `reference` names: an id or a name, or `default` (the default issuer's key).
pub(super) async fn resolve_key(view: &View, reference: &str) -> Result<KeyEntry, ApiError> {
    let not_found = || ApiError::bad(format!("unable to find PKI key for reference: {reference}"));
    if reference.is_empty() || reference.contains('/') || reference.starts_with('.') {
        return Err(not_found());
    }
    let id = if reference == "default" {
        resolve_issuer(view, "default").await?.key_id
    } else {
        reference.to_owned()
    };
    if let Some(e) = view.get_json(&format!("keys/{id}")).await? {
        return Ok(e);
    }
    all_keys(view)
        .await?
        .into_iter()
        .find(|k| k.key_name == reference)
        .ok_or_else(not_found)
}

/// The issuer `reference` names, with its key: what the CRL code and anything else that
/// signs as an issuer loads.
pub(super) async fn load_issuer(view: &View, reference: &str) -> Result<StoredCa, ApiError> {
    let entry = resolve_issuer(view, reference).await?;
    let key = key_of(view, &entry).await?;
    Ok(StoredCa::new(
        entry.certificate,
        key.private_key.clone(),
        key.key_type.clone(),
        (entry.issuer_id, entry.issuer_name, entry.key_id),
        entry.serial_number,
        entry.not_after,
        entry.ca_chain,
    ))
}

/// The key of an issuer, refused when the mount has only its certificate.
async fn key_of(view: &View, entry: &IssuerEntry) -> Result<KeyEntry, ApiError> {
    if entry.key_id.is_empty() {
        return Err(ApiError::bad(format!(
            "issuer {} has no private key in this mount and cannot sign",
            entry.issuer_id
        )));
    }
    view.get_json(&format!("keys/{}", entry.key_id))
        .await?
        .ok_or_else(|| ApiError::internal("an issuer's key is missing"))
}

/// A parsed signer, shared by concurrent issuances.
pub(super) type Signer = Arc<Issuer<'static, KeyPair>>;

/// The engine's parsed signers by issuer id. Parsing a PKCS#8 key costs a scalar
/// multiplication (EC) or more (RSA), too much per issuance, so each issuer's rcgen
/// [`Issuer`] is kept here once used. The generation makes a fill that raced a change
/// harmless: a writer bumps it after its storage write, and a reader only inserts what it
/// parsed when the generation it started under is still current.
#[derive(Default)]
pub(super) struct SignerCache {
    inner: SyncMutex<(u64, HashMap<String, Signer>)>,
}

impl fmt::Debug for SignerCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignerCache").finish_non_exhaustive()
    }
}

impl SignerCache {
    /// The signer of `entry`, parsed on first use.
    pub(super) async fn get(&self, view: &View, entry: &IssuerEntry) -> Result<Signer, ApiError> {
        let generation = {
            let inner = self.inner.lock().map_err(|_| poisoned())?;
            if let Some(s) = inner.1.get(&entry.issuer_id) {
                return Ok(Arc::clone(s));
            }
            inner.0
        };
        let key = key_of(view, entry).await?.key_pair()?;
        let signer: Signer = Arc::new(
            Issuer::from_ca_cert_der(&entry.der()?.into(), key)
                .map_err(|e| ApiError::internal(format!("loading an issuer: {e}")))?,
        );
        let mut inner = self.inner.lock().map_err(|_| poisoned())?;
        if inner.0 == generation {
            inner.1.insert(entry.issuer_id.clone(), Arc::clone(&signer));
        }
        Ok(signer)
    }

    /// Drops what is cached for these issuers. Called under the engine lock, after the
    /// storage write that changed them.
    pub(super) fn forget<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.0 += 1;
            for id in ids {
                inner.1.remove(id);
            }
        }
    }

    /// How many signers are cached (for tests).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.inner.lock().map(|i| i.1.len()).unwrap_or(0)
    }
}

fn poisoned() -> ApiError {
    ApiError::internal("the issuer cache lock is poisoned")
}

/// The chain above the certificate `der` within `pool` (PEMs with their DER), nearest first:
/// each step is the pool certificate whose subject is the current issuer name and whose key
/// verifies the current signature; it stops at a self-signed certificate or when no parent
/// is known.
pub(super) fn chain_above(der: &[u8], pool: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut chain = Vec::new();
    let mut current = der.to_vec();
    while chain.len() < MAX_CHAIN {
        let Ok((_, cert)) = X509Certificate::from_der(&current) else {
            break;
        };
        if cert.subject().as_raw() == cert.issuer().as_raw() && cert.verify_signature(None).is_ok()
        {
            break;
        }
        let parent = pool.iter().find(|(_, p)| {
            X509Certificate::from_der(p).is_ok_and(|(_, pc)| {
                pc.subject().as_raw() == cert.issuer().as_raw()
                    && *p != current
                    && cert.verify_signature(Some(pc.public_key())).is_ok()
            })
        });
        let Some((pem, pder)) = parent else {
            break;
        };
        if chain.contains(pem) {
            break;
        }
        chain.push(pem.clone());
        current = pder.clone();
    }
    chain
}

/// Facts of a CA certificate: (serial colon form, notAfter, SPKI DER), refusing what is not a
/// CA certificate.
pub(super) fn ca_facts(der: &[u8]) -> Result<(String, i64, Vec<u8>), ApiError> {
    let (rest, cert) = X509Certificate::from_der(der)
        .map_err(|_| ApiError::bad("a certificate in the bundle does not parse"))?;
    if !rest.is_empty() {
        return Err(ApiError::bad("trailing bytes after a certificate"));
    }
    if !cert.is_ca() {
        return Err(ApiError::bad("Refusing to import non-CA certificate"));
    }
    Ok((
        serial_colons(cert.raw_serial()),
        cert.validity().not_after.timestamp(),
        cert.public_key().raw.to_vec(),
    ))
}

/// The ops that recompute every issuer's stored chain, given the issuers as they will be.
pub(super) fn rechain(issuers: &mut [IssuerEntry]) -> Result<Vec<ViewOp>, ApiError> {
    let pool = issuers
        .iter()
        .map(|e| Ok((e.certificate.clone(), e.der()?)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    let mut ops = Vec::new();
    for (e, (_, der)) in issuers.iter_mut().zip(&pool) {
        let chain = chain_above(der, &pool);
        if chain != e.ca_chain {
            e.ca_chain = chain;
            ops.push(ViewOp::Put(format!("issuers/{}", e.issuer_id), to_json(e)?));
        }
    }
    Ok(ops)
}
