//! `revoke` (by serial or by the certificate itself), the CRL reads that re-sign it when it is
//! stale, `crl/rotate`, and the revoked half of `tidy`. The list storage and signing are
//! [`super::crl`]'s; this file decides what may be revoked and keeps the certificate's entry
//! and the list changing together.

use serde_json::json;
use sigil_core::encoding::Pem;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::ca::{normalize_serial, serial_colons, serial_key};
use super::crl::{self, Revoked};
use super::issuers::{self, IssuerEntry, all_issuers};
use super::{CertEntry, Pki, now, pem_of, rfc3339};
use crate::api::{ApiError, Request, Response, field_str};
use crate::view::{View, ViewOp, to_json};

/// The largest certificate accepted for revocation, in bytes of PEM.
const MAX_CERT: usize = 64 * 1024;

/// How far ahead a certificate counts as already expired (Vault's wiggle room for second
/// granularity).
const EXPIRY_SLACK: i64 = 2;

/// How a CRL read answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CrlForm {
    /// The DER itself.
    Der,
    /// The PEM itself.
    Pem,
    /// JSON with the PEM in `crl`.
    Json,
}

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
        let issuers = all_issuers(view).await?;
        if issuers.is_empty() {
            return Err(ApiError::bad(
                "no default issuer is configured: generate a root with root/generate/internal \
                 or import one first",
            ));
        }
        let serial = match &given {
            Err(serial) => serial.clone(),
            Ok(der) => serial_and_expiry(&parse_cert(der)?).0,
        };
        if let Some(own) = issuers.iter().find(|i| i.serial_number == serial) {
            return Err(ApiError::bad(format!(
                "adding issuer (id: {}) to its own CRL is not allowed",
                own.issuer_id
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
            (None, Ok(der)) => CertEntry {
                certificate: Pem::encode("CERTIFICATE", der)
                    .map_err(|_| ApiError::internal("encoding PEM"))?,
                revocation_time: 0,
                issuer_id: issued_by(&parse_cert(der)?, &issuers)?,
            },
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
        // Entries from before several issuers name none: theirs is the default.
        let issuer_id = if entry.issuer_id.is_empty() {
            issuers::config(view).await?.default
        } else {
            entry.issuer_id.clone()
        };
        let mut ops = crl::revoke_ops(
            view,
            &issuer_id,
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

    /// The CRL (DER) of the issuer `reference` names, re-signed first when a revocation came
    /// after it or it is past half its validity; `None` for the default before the mount has
    /// an issuer.
    pub(super) async fn crl_der(
        &self,
        req: &Request,
        view: &View,
        reference: &str,
    ) -> Result<Option<Vec<u8>>, ApiError> {
        if reference == "default" && !super::has_ca(view).await? {
            return Ok(None);
        }
        let issuer = issuers::resolve_issuer(view, reference).await?;
        let t = now(req);
        if let Some(der) = crl::fresh(view, &issuer.issuer_id, t).await? {
            return Ok(Some(der));
        }
        let _guard = self.lock.lock().await;
        // Another reader may have re-signed it while this one waited.
        if let Some(der) = crl::fresh(view, &issuer.issuer_id, t).await? {
            return Ok(Some(der));
        }
        let ca = issuers::load_issuer(view, &issuer.issuer_id).await?;
        crl::rebuild(view, &ca, t).await.map(Some)
    }

    /// A CRL read: `crl` and `crl/pem` (the default issuer's, raw), `issuer/:ref/crl/der` and
    /// `issuer/:ref/crl/pem` (raw), `issuer/:ref/crl` (JSON `crl`, PEM). Raw reads answer 204
    /// before the mount has an issuer.
    pub(super) async fn read_crl(
        &self,
        req: &Request,
        view: &View,
        reference: &str,
        form: CrlForm,
    ) -> Result<Response, ApiError> {
        let der = self.crl_der(req, view, reference).await?;
        let content_type = match form {
            CrlForm::Der => "application/pkix-crl",
            CrlForm::Pem => "application/x-pem-file",
            CrlForm::Json => {
                let pem = der.map(|d| pem_of("X509 CRL", &d)).transpose()?;
                return Ok(Response::json(json!({ "crl": pem.unwrap_or_default() })));
            }
        };
        Ok(match der {
            None => Response::raw(content_type, Vec::new()).with_status(204),
            Some(d) if form == CrlForm::Pem => {
                Response::raw(content_type, pem_of("X509 CRL", &d)?.into_bytes())
            }
            Some(d) => Response::raw(content_type, d),
        })
    }

    /// `crl/rotate`: re-signs every issuer's CRL now, whatever its state (issuers known only
    /// by their certificate sign nothing).
    pub(super) async fn rotate_crl(
        &self,
        req: &Request,
        view: &View,
    ) -> Result<Response, ApiError> {
        let _guard = self.lock.lock().await;
        for issuer in all_issuers(view).await? {
            if !issuer.key_id.is_empty() {
                let ca = issuers::load_issuer(view, &issuer.issuer_id).await?;
                crl::rebuild(view, &ca, now(req)).await?;
            }
        }
        Ok(Response::json(json!({ "success": true })))
    }

    /// Drops revoked entries of certificates expired before `cutoff` from every issuer's
    /// list; returns how many went.
    pub(super) async fn tidy_revoked(&self, view: &View, cutoff: i64) -> Result<u64, ApiError> {
        let _guard = self.lock.lock().await;
        let mut removed = 0;
        for issuer in all_issuers(view).await? {
            removed += crl::tidy(view, &issuer.issuer_id, cutoff).await?;
        }
        Ok(removed)
    }
}

/// The id of the issuer in `issuers` that signed `cert`; refused (Vault's words) when none
/// did.
fn issued_by(cert: &X509Certificate<'_>, issuers: &[IssuerEntry]) -> Result<String, ApiError> {
    for issuer in issuers {
        let der = issuer.der()?;
        if cert
            .verify_signature(Some(parse_cert(&der)?.public_key()))
            .is_ok()
        {
            return Ok(issuer.issuer_id.clone());
        }
    }
    Err(ApiError::bad(
        "unable to verify signature on presented cert from any present issuer in this mount",
    ))
}
