//! `revoke` (by serial or by the certificate itself), the CRL reads that re-sign it when it is
//! stale, `crl/rotate`, and the revoked half of `tidy`. The list storage and signing are
//! [`super::crl`]'s; this file decides what may be revoked and keeps the certificate's entry
//! and the list changing together.

use serde_json::json;
use sigil_core::encoding::Pem;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::ca::{StoredCa, normalize_serial, serial_colons, serial_key};
use super::crl::{self, Revoked};
use super::{CertEntry, Pki, load_ca, now, rfc3339};
use crate::api::{ApiError, Request, Response, field_str};
use crate::view::{View, ViewOp, to_json};

/// The largest certificate accepted for revocation, in bytes of PEM.
const MAX_CERT: usize = 64 * 1024;

/// How far ahead a certificate counts as already expired (Vault's wiggle room for second
/// granularity).
const EXPIRY_SLACK: i64 = 2;

/// A parsed certificate's serial (colon form) and `notAfter`.
fn serial_and_expiry(cert: &X509Certificate<'_>) -> (String, i64) {
    (
        serial_colons(cert.raw_serial()),
        cert.validity().not_after.timestamp(),
    )
}

/// The DER of a PEM certificate, refused with Vault's words when it is not one.
fn cert_der(pem: &str) -> Result<Vec<u8>, ApiError> {
    if pem.len() > MAX_CERT {
        return Err(ApiError::bad("the certificate is too large"));
    }
    if pem.trim().len() < 10 {
        return Err(ApiError::bad(
            "provided certificate data was too short; perhaps a path was passed to the API rather than the contents of a PEM file",
        ));
    }
    Pem::decode_expecting(pem, "CERTIFICATE")
        .map_err(|_| ApiError::bad("certificate contains no PEM data"))
}

fn parse_cert(der: &[u8]) -> Result<X509Certificate<'_>, ApiError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        _ => Err(ApiError::bad("certificate could not be parsed")),
    }
}

impl Pki {
    /// `revoke`: by `serial_number` (the certificate must be stored) or by `certificate` (a
    /// stored one must match it byte for byte; an unstored one, from a `no_store` role, must
    /// carry the issuer's signature and is stored now so it can be listed and answered for).
    pub(super) async fn revoke(&self, req: &Request, view: &View) -> Result<Response, ApiError> {
        let by_serial = field_str(&req.data, "serial_number").filter(|s| !s.is_empty());
        let by_cert = field_str(&req.data, "certificate").filter(|s| !s.is_empty());
        let given = match (by_serial, by_cert) {
            (None, None) => {
                return Err(ApiError::bad(
                    "The serial number or certificate to revoke must be provided.",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(ApiError::bad(
                    "Must provide either the certificate or the serial to revoke; not both.",
                ));
            }
            (Some(serial), None) => Err(normalize_serial(&serial)?),
            (None, Some(pem)) => Ok(cert_der(&pem)?),
        };
        let _guard = self.lock.lock().await;
        let ca = load_ca(view).await?;
        let serial = match &given {
            Err(serial) => serial.clone(),
            Ok(der) => serial_and_expiry(&parse_cert(der)?).0,
        };
        if serial == ca.serial_number {
            return Err(ApiError::bad(format!(
                "adding issuer (id: {}) to its own CRL is not allowed",
                ca.issuer_id
            )));
        }
        let key = format!("certs/{}", serial_key(&serial));
        let stored: Option<CertEntry> = view.get_json(&key).await?;
        let mut entry = match (stored, &given) {
            (Some(entry), Err(_)) => entry,
            (Some(entry), Ok(der)) => {
                if cert_der(&entry.certificate)? != *der {
                    return Err(ApiError::bad(
                        "certificate with same serial but unequal value already present in this cluster's storage; refusing to revoke",
                    ));
                }
                entry
            }
            (None, Err(_)) => {
                return Err(ApiError::bad(format!(
                    "certificate with serial {serial} not found."
                )));
            }
            (None, Ok(der)) => {
                check_issued_by(&parse_cert(der)?, &ca)?;
                CertEntry {
                    certificate: Pem::encode("CERTIFICATE", der)
                        .map_err(|_| ApiError::internal("encoding PEM"))?,
                    revocation_time: 0,
                    issuer_id: ca.issuer_id.clone(),
                }
            }
        };
        let reply = |t: i64| {
            Response::json(json!({
                "revocation_time": t,
                "revocation_time_rfc3339": rfc3339(t),
                "state": "revoked",
            }))
        };
        if entry.revocation_time != 0 {
            return Ok(reply(entry.revocation_time));
        }
        let t = now(req);
        let expires = serial_and_expiry(&parse_cert(&cert_der(&entry.certificate)?)?).1;
        if expires < t + EXPIRY_SLACK {
            // Vault's answer: nothing revoked, a warning says why (an expired certificate is
            // refused by relying parties anyway and would only grow the CRL).
            let mut resp = Response::empty();
            resp.warnings.push(format!(
                "certificate with serial {serial} already expired; refusing to add to CRL"
            ));
            return Ok(resp);
        }
        entry.revocation_time = t;
        let mut ops = crl::revoke_ops(
            view,
            &ca.issuer_id,
            Revoked {
                serial,
                time: t,
                expires,
            },
        )
        .await?;
        ops.push(ViewOp::Put(key, to_json(&entry)?));
        view.transaction(ops).await?;
        Ok(reply(t))
    }

    /// The issuer's CRL (DER), re-signed first when a revocation came after it or it is past
    /// half its validity; `None` before the mount has an issuer.
    pub(super) async fn crl_der(
        &self,
        req: &Request,
        view: &View,
    ) -> Result<Option<Vec<u8>>, ApiError> {
        if !super::has_ca(view).await? {
            return Ok(None);
        }
        let ca = load_ca(view).await?;
        let t = now(req);
        if let Some(der) = crl::fresh(view, &ca.issuer_id, t).await? {
            return Ok(Some(der));
        }
        let _guard = self.lock.lock().await;
        // Another reader may have re-signed it while this one waited.
        if let Some(der) = crl::fresh(view, &ca.issuer_id, t).await? {
            return Ok(Some(der));
        }
        crl::rebuild(view, &ca, t).await.map(Some)
    }

    /// `crl/rotate`: re-signs the CRL now, whatever its state.
    pub(super) async fn rotate_crl(
        &self,
        req: &Request,
        view: &View,
    ) -> Result<Response, ApiError> {
        let _guard = self.lock.lock().await;
        let ca = load_ca(view).await?;
        crl::rebuild(view, &ca, now(req)).await?;
        Ok(Response::json(json!({ "success": true })))
    }

    /// Drops revoked entries of certificates expired before `cutoff` from the CRL's list;
    /// returns how many went.
    pub(super) async fn tidy_revoked(&self, view: &View, cutoff: i64) -> Result<u64, ApiError> {
        let _guard = self.lock.lock().await;
        let ca = load_ca(view).await?;
        crl::tidy(view, &ca.issuer_id, cutoff).await
    }
}

/// Refuses a certificate the issuer did not sign.
fn check_issued_by(cert: &X509Certificate<'_>, ca: &StoredCa) -> Result<(), ApiError> {
    let ca_der = ca.der()?;
    let ca_cert = parse_cert(&ca_der)?;
    cert.verify_signature(Some(ca_cert.public_key()))
        .map_err(|_| {
            ApiError::bad(
                "unable to verify signature on presented cert from any present issuer in this mount",
            )
        })
}
