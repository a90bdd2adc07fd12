//! The imports that turn certificates, and keys, into issuers: `intermediate/set-signed`
//! (certificates only, completing a CSR this mount made), `issuers/import/bundle` and
//! `config/ca` (certificates and keys). A bundle is parsed and matched whole, keys to
//! certificates by SubjectPublicKeyInfo, before anything is stored; importing what the mount
//! already has changes nothing.

use rcgen::KeyPair;
use serde_json::{Map, Value, json};
use sigil_core::encoding::Pem;
use zeroize::Zeroizing;

use super::intermediate::issuer_entry;
use super::issuers::{IssuerEntry, KeyEntry, all_issuers, all_keys, ca_facts};
use crate::api::ApiError;
use crate::view::View;

/// The largest bundle accepted, in bytes of PEM.
const MAX_PEM: usize = 256 * 1024;

/// Which import endpoint is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ImportKind {
    /// `intermediate/set-signed`: certificates only, the first matching a stored key.
    SetSigned,
    /// `issuers/import/bundle` and `config/ca`: certificates and keys.
    Bundle,
}

/// One PEM block: its label and its DER, zeroized when dropped (a bundle may hold keys).
type Block = (String, Zeroizing<Vec<u8>>);

/// The PEM blocks of `text`; text between blocks is ignored, as `openssl` does.
fn pem_blocks(text: &str) -> Result<Vec<Block>, ApiError> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start..];
        let end_line = after
            .find("-----END ")
            .and_then(|e| after[e + 9..].find("-----").map(|x| e + 9 + x + 5))
            .ok_or_else(|| ApiError::bad("a PEM block in the bundle has no END line"))?;
        let block = Pem::decode(&after[..end_line])
            .map_err(|e| ApiError::bad(format!("a PEM block in the bundle does not parse: {e}")))?;
        let Pem { label, der } = block;
        out.push((label, Zeroizing::new(der)));
        rest = &after[end_line..];
    }
    if out.is_empty() {
        return Err(ApiError::bad(
            "no PEM blocks found: expected certificates (and, for a bundle, keys) in PEM",
        ));
    }
    Ok(out)
}

/// A bundle's private key as PKCS#8 (what `keys/` stores): Vault and openssl often write
/// SEC1 (`EC PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`); aws-lc converts them.
fn pkcs8_of(label: &str, der: &[u8]) -> Result<Zeroizing<Vec<u8>>, ApiError> {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair,
    };
    let bad = || ApiError::bad("a private key in the bundle does not parse");
    let out = match label {
        "EC PRIVATE KEY" => {
            let pair = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_ASN1_SIGNING, der)
                .or_else(|_| {
                    EcdsaKeyPair::from_private_key_der(&ECDSA_P384_SHA384_ASN1_SIGNING, der)
                })
                .map_err(|_| bad())?;
            pair.to_pkcs8v1().map_err(|_| bad())?.as_ref().to_vec()
        }
        "RSA PRIVATE KEY" => {
            let pair = aws_lc_rs::rsa::KeyPair::from_der(der).map_err(|_| bad())?;
            let pkcs8: aws_lc_rs::encoding::Pkcs8V1Der<'_> = pair.as_der().map_err(|_| bad())?;
            pkcs8.as_ref().to_vec()
        }
        _ => der.to_vec(),
    };
    Ok(Zeroizing::new(out))
}

/// What an import will store, decided before anything is written.
#[derive(Debug, Default)]
pub(super) struct ImportPlan {
    /// New keys.
    pub keys: Vec<KeyEntry>,
    /// New issuers.
    pub new: Vec<IssuerEntry>,
    /// Known issuers that gain their key.
    pub changed: Vec<IssuerEntry>,
    /// The answer.
    pub data: Map<String, Value>,
}

/// Plans an import of `text` (Vault's answer: `imported_issuers`, `imported_keys`,
/// `mapping`, `existing_issuers`, `existing_keys`). Importing what is known again changes
/// nothing.
pub(super) async fn plan_import(
    view: &View,
    text: &str,
    kind: ImportKind,
) -> Result<ImportPlan, ApiError> {
    if text.len() > MAX_PEM {
        return Err(ApiError::bad("the bundle is too large"));
    }
    let mut certs = Vec::new();
    let mut keys = Vec::new();
    for (label, der) in pem_blocks(text)? {
        match label.as_str() {
            "CERTIFICATE" => {
                let (serial, not_after, spki) = ca_facts(&der)?;
                let pem = Pem::encode("CERTIFICATE", &der)
                    .map_err(|_| ApiError::internal("encoding PEM"))?;
                certs.push((pem, der.to_vec(), serial, not_after, spki));
            }
            "PRIVATE KEY" | "EC PRIVATE KEY" | "RSA PRIVATE KEY" => {
                if kind == ImportKind::SetSigned {
                    return Err(ApiError::bad(
                        "private keys found in the PEM bundle but not allowed by the path; use \
                         /issuers/import/bundle",
                    ));
                }
                let pkcs8 = pkcs8_of(&label, &der)?;
                let key = KeyPair::try_from(pkcs8.as_slice())
                    .map_err(|_| ApiError::bad("a private key in the bundle does not parse"))?;
                keys.push(key);
            }
            other => {
                return Err(ApiError::bad(format!(
                    "unsupported PEM block {other:?} in the bundle"
                )));
            }
        }
    }
    let stored_keys = all_keys(view).await?;
    let stored_issuers = all_issuers(view).await?;
    let stored_spki = |e: &IssuerEntry| e.der().ok().and_then(|d| ca_facts(&d).ok()).map(|f| f.2);
    let mut plan = ImportPlan::default();
    let mut existing_keys = Vec::new();
    // (SPKI, key id) of every key the mount will have.
    let mut known: Vec<(Vec<u8>, String)> = stored_keys
        .iter()
        .filter_map(|k| {
            sigil_core::encoding::base64_decode(&k.public_key)
                .ok()
                .map(|s| (s, k.key_id.clone()))
        })
        .collect();
    for key in &keys {
        let spki = rcgen::PublicKeyData::subject_public_key_info(key);
        let fits = certs.iter().any(|c| c.4 == spki)
            || stored_issuers
                .iter()
                .any(|e| stored_spki(e).as_deref() == Some(spki.as_slice()));
        if !fits {
            return Err(ApiError::bad(
                "a private key in the bundle matches none of its certificates nor any issuer \
                 of this mount",
            ));
        }
        if let Some((_, id)) = known.iter().find(|(s, _)| *s == spki) {
            if !existing_keys.contains(id) {
                existing_keys.push(id.clone());
            }
            continue;
        }
        let entry = KeyEntry::new(key, "")?;
        known.push((spki, entry.key_id.clone()));
        plan.keys.push(entry);
    }
    if kind == ImportKind::SetSigned {
        let first = certs
            .first()
            .ok_or_else(|| ApiError::bad("the certificate field holds no certificate"))?;
        if !known.iter().any(|(s, _)| *s == first.4) {
            return Err(ApiError::bad(
                "the certificate's public key matches no key of this mount: sign the CSR from \
                 intermediate/generate and set that certificate",
            ));
        }
    }
    let mut mapping = Map::new();
    let mut existing_issuers = Vec::new();
    for (pem, der, serial, not_after, spki) in certs {
        let key_id = known
            .iter()
            .find(|(s, _)| *s == spki)
            .map(|(_, id)| id.clone())
            .unwrap_or_default();
        let same = stored_issuers
            .iter()
            .chain(plan.new.iter())
            .find(|e| e.der().is_ok_and(|d| d == der))
            .cloned();
        match same {
            Some(mut e) => {
                if !existing_issuers.contains(&e.issuer_id) && stored_issuers.contains(&e) {
                    existing_issuers.push(e.issuer_id.clone());
                }
                if e.key_id.is_empty() && !key_id.is_empty() {
                    e.key_id = key_id;
                    plan.changed.push(e.clone());
                }
                mapping.insert(e.issuer_id.clone(), e.key_id.into());
            }
            None => {
                let e = issuer_entry(pem, serial, not_after, &key_id, "");
                mapping.insert(e.issuer_id.clone(), key_id.into());
                plan.new.push(e);
            }
        }
    }
    // Go's nil slices: an empty list is JSON null in Vault's answer.
    let list = |v: Vec<String>| {
        if v.is_empty() { Value::Null } else { json!(v) }
    };
    plan.data.insert(
        "imported_issuers".into(),
        list(plan.new.iter().map(|e| e.issuer_id.clone()).collect()),
    );
    plan.data.insert(
        "imported_keys".into(),
        list(plan.keys.iter().map(|k| k.key_id.clone()).collect()),
    );
    plan.data.insert("mapping".into(), Value::Object(mapping));
    plan.data
        .insert("existing_issuers".into(), list(existing_issuers));
    plan.data
        .insert("existing_keys".into(), list(existing_keys));
    Ok(plan)
}
