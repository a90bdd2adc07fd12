//! Revocation and the CRL, built so that revoking costs the same whatever the CRL's size.
//!
//! Each issuer's revoked serials live in fixed-size chunks (`crl/<issuer>/revoked/<n>`, at
//! most [`CHUNK`] entries each) beside a small `crl/<issuer>/meta` document and the signed
//! CRL (`crl/<issuer>/der`). A revocation appends to the last chunk and marks the CRL stale,
//! in one transaction with the certificate's own entry: it reads and writes at most one chunk
//! and the meta document, never the whole list, so its cost stays flat as the list grows.
//!
//! The CRL is re-signed when it is next read after a revocation (so every fetch after a
//! revocation sees it), or when the stored one is past half its validity (so a relying party
//! never fetches one about to expire). Re-signing reads every chunk once: measured at 100,000
//! entries by `cargo bench -p sigil-server --bench pki_revocation`. Entries keep their
//! certificate's `notAfter` so `tidy` can drop expired ones without reading any certificate.

use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams, SerialNumber};
use serde::{Deserialize, Serialize};
use sigil_core::encoding::hex_decode;

use super::ca::{StoredCa, at};
use crate::api::ApiError;
use crate::view::{View, ViewOp, to_json};

/// The most entries one chunk holds: small enough that appending is cheap, large enough
/// that re-signing 100,000 entries reads a few hundred documents.
pub(super) const CHUNK: usize = 256;
/// How long a CRL is valid (Vault's `config/crl` `expiry` default).
pub(super) const NEXT_UPDATE: i64 = 72 * 3600;

/// One revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Revoked {
    /// Colon form.
    pub serial: String,
    /// Unix seconds.
    pub time: i64,
    /// The certificate's `notAfter`, Unix seconds.
    pub expires: i64,
}

/// Where an issuer's list stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Meta {
    /// The number of the last CRL signed.
    crl_number: u64,
    /// How many chunks exist; all but the last are full.
    chunks: u32,
    /// Entries in the last chunk.
    last_len: u32,
    /// Revocations (or a tidy) since the stored CRL was signed.
    stale: bool,
    /// When the stored CRL was signed, Unix seconds.
    this_update: i64,
}

fn meta_key(issuer: &str) -> String {
    format!("crl/{issuer}/meta")
}

fn der_key(issuer: &str) -> String {
    format!("crl/{issuer}/der")
}

fn chunk_key(issuer: &str, n: u32) -> String {
    // Zero-padded so a listing sorts in order.
    format!("crl/{issuer}/revoked/{n:08}")
}

async fn load_meta(view: &View, issuer: &str) -> Result<Meta, ApiError> {
    Ok(view.get_json(&meta_key(issuer)).await?.unwrap_or_default())
}

async fn load_chunk(view: &View, issuer: &str, n: u32) -> Result<Vec<Revoked>, ApiError> {
    view.get_json(&chunk_key(issuer, n))
        .await?
        .ok_or_else(|| ApiError::internal("a revocation list chunk is missing"))
}

/// The writes that add `entry` to `issuer`'s list and mark its CRL stale. The caller commits
/// them together with the certificate's entry, under the engine's lock.
pub(super) async fn revoke_ops(
    view: &View,
    issuer: &str,
    entry: Revoked,
) -> Result<Vec<ViewOp>, ApiError> {
    let mut meta = load_meta(view, issuer).await?;
    let mut chunk = if meta.chunks == 0 || meta.last_len as usize >= CHUNK {
        meta.chunks += 1;
        Vec::with_capacity(1)
    } else {
        load_chunk(view, issuer, meta.chunks - 1).await?
    };
    chunk.push(entry);
    meta.last_len = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
    meta.stale = true;
    Ok(vec![
        ViewOp::Put(chunk_key(issuer, meta.chunks - 1), to_json(&chunk)?),
        ViewOp::Put(meta_key(issuer), to_json(&meta)?),
    ])
}

/// The stored CRL if it can be served as is: signed after the last revocation and not past
/// half its validity at `now`.
pub(super) async fn fresh(
    view: &View,
    issuer: &str,
    now: i64,
) -> Result<Option<Vec<u8>>, ApiError> {
    let meta = load_meta(view, issuer).await?;
    if meta.stale || meta.crl_number == 0 || now >= meta.this_update + NEXT_UPDATE / 2 {
        return Ok(None);
    }
    view.get(&der_key(issuer)).await
}

/// Re-signs `ca`'s CRL over every revoked entry, valid from `now`, numbered one past the
/// last, and stores it. Call under the engine's lock so no revocation lands in between.
pub(super) async fn rebuild(view: &View, ca: &StoredCa, now: i64) -> Result<Vec<u8>, ApiError> {
    let issuer = ca.issuer_id.as_str();
    let mut meta = load_meta(view, issuer).await?;
    let mut revoked_certs = Vec::new();
    for n in 0..meta.chunks {
        for r in load_chunk(view, issuer, n).await? {
            let bytes = hex_decode(&r.serial.replace(':', ""))
                .map_err(|_| ApiError::internal("a stored serial is corrupt"))?;
            revoked_certs.push(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&bytes),
                revocation_time: at(r.time)?,
                reason_code: None,
                invalidity_date: None,
            });
        }
    }
    meta.crl_number += 1;
    meta.stale = false;
    meta.this_update = now;
    let params = CertificateRevocationListParams {
        this_update: at(now)?,
        next_update: at(now + NEXT_UPDATE)?,
        crl_number: SerialNumber::from(meta.crl_number),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: KeyIdMethod::Sha256,
    };
    let der = params
        .signed_by(&ca.issuer()?)
        .map_err(|e| ApiError::internal(format!("signing the CRL: {e}")))?
        .der()
        .to_vec();
    view.transaction(vec![
        ViewOp::Put(der_key(issuer), der.clone()),
        ViewOp::Put(meta_key(issuer), to_json(&meta)?),
    ])
    .await?;
    Ok(der)
}

/// Drops the entries of certificates that expired before `cutoff` from `issuer`'s list,
/// repacking the chunks, and marks the CRL stale when any went. Returns how many went. Call
/// under the engine's lock.
pub(super) async fn tidy(view: &View, issuer: &str, cutoff: i64) -> Result<u64, ApiError> {
    let mut meta = load_meta(view, issuer).await?;
    let mut kept = Vec::new();
    for n in 0..meta.chunks {
        kept.extend(load_chunk(view, issuer, n).await?);
    }
    let before = kept.len();
    kept.retain(|r| r.expires >= cutoff);
    let removed = before - kept.len();
    if removed == 0 {
        return Ok(0);
    }
    let mut ops = Vec::new();
    let mut chunks = 0;
    meta.last_len = 0;
    for chunk in kept.chunks(CHUNK) {
        ops.push(ViewOp::Put(chunk_key(issuer, chunks), to_json(&chunk)?));
        chunks += 1;
        meta.last_len = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
    }
    ops.extend((chunks..meta.chunks).map(|n| ViewOp::Delete(chunk_key(issuer, n))));
    meta.chunks = chunks;
    meta.stale = true;
    ops.push(ViewOp::Put(meta_key(issuer), to_json(&meta)?));
    view.transaction(ops).await?;
    Ok(u64::try_from(removed).unwrap_or(u64::MAX))
}
