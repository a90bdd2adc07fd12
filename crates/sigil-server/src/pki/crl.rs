//! Revocation and the CRL. The revoked serials are kept in one list document next to the
//! signed CRL, so a revocation rewrites that list and re-signs the CRL without reading any
//! stored certificate. Both change in one transaction with the certificate's own entry.
//!
//! Cost: each revocation re-encodes and re-signs the whole CRL and rewrites the list, O(n) in
//! revoked entries with one signature whatever n is. Measured at 100,000 entries (the ignored
//! `measure_big_crl` test, debug build of this crate): a 3.9 MB CRL signed in about 0.6 s and
//! a 9.1 MB list encoded in about 0.3 s, so roughly a second and 13 MB through the barrier per
//! revocation. Delta CRLs and `tidy` (dropping expired serials) are what keep n small later.

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
    /// The number of the last CRL signed.
    pub crl_number: u64,
    /// Every revoked serial, oldest first.
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
