//! Revocation and the CRL. The revoked serials are kept in one list document next to the
//! signed CRL, so a revocation rewrites that list and re-signs the CRL without reading any
//! stored certificate. Both change in one transaction with the certificate's own entry.
//!
//! Cost: each revocation re-encodes and re-signs the whole CRL, O(n) in revoked entries (about
//! 45 bytes of DER and 70 bytes of JSON each, so roughly 4.5 MB of CRL and 7 MB of list at
//! 100,000 entries, rewritten per revocation; one signature regardless of n).

use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams, SerialNumber};
use serde::{Deserialize, Serialize};
use sigil_core::encoding::hex_decode;

use super::ca::{StoredCa, at};
use crate::api::ApiError;

/// Where the revoked list lives.
pub(super) const STATE_KEY: &str = "crl/state";
/// Where the signed CRL (DER) lives.
pub(super) const DER_KEY: &str = "crl/der";
/// How long a CRL is valid (Vault's `config/crl` `expiry` default).
pub(super) const NEXT_UPDATE: i64 = 72 * 3600;

/// One revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Revoked {
    /// Colon form.
    pub serial: String,
    /// Unix seconds.
    pub time: i64,
}

/// The revoked list and the number of the last CRL signed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct CrlState {
    pub crl_number: u64,
    pub entries: Vec<Revoked>,
}

impl CrlState {
    /// Signs a new CRL over the list, numbered one past the last, valid from `now` for
    /// [`NEXT_UPDATE`].
    pub(super) fn sign(&mut self, ca: &StoredCa, now: i64) -> Result<Vec<u8>, ApiError> {
        self.crl_number += 1;
        let revoked_certs = self
            .entries
            .iter()
            .map(|r| {
                let bytes = hex_decode(&r.serial.replace(':', ""))
                    .map_err(|_| ApiError::internal("a stored serial is corrupt"))?;
                Ok(RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&bytes),
                    revocation_time: at(r.time)?,
                    reason_code: None,
                    invalidity_date: None,
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        let params = CertificateRevocationListParams {
            this_update: at(now)?,
            next_update: at(now + NEXT_UPDATE)?,
            crl_number: SerialNumber::from(self.crl_number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params
            .signed_by(&ca.issuer()?)
            .map_err(|e| ApiError::internal(format!("signing the CRL: {e}")))?;
        Ok(crl.der().to_vec())
    }
}
