//! The mount's certificate authorities: key types, serial numbers, root generation, and a
//! loaded issuer (certificate and private key, see [`StoredCa`]) that issuance and the CRL
//! sign with. Where issuers and keys are stored is `issuers.rs`'s business.
//!
//! Certificates are built and signed by rcgen over aws-lc; nothing here does its own crypto.
//! The CA key lives only in the view (the barrier encrypts it at rest) and in zeroizing
//! buffers while it is read; no `Debug` or error message shows it.

use std::fmt;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber,
};
use sigil_core::encoding::{Pem, base64_decode, base64_encode};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::api::ApiError;

/// A key algorithm and size, as Vault names them (`key_type`, `key_bits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeySpec {
    /// ECDSA over P-256 or P-384.
    Ec(u32),
    /// Ed25519.
    Ed25519,
    /// RSA with SHA-256 signatures, 2048, 3072 or 4096 bits.
    Rsa(u32),
}

impl KeySpec {
    /// Parses `key_type` and `key_bits` (0 = the type's default).
    pub(crate) fn parse(key_type: &str, bits: u64) -> Result<Self, ApiError> {
        let bad_bits = || {
            ApiError::bad(format!(
                "unsupported key_bits {bits} for key_type {key_type}"
            ))
        };
        match key_type {
            "ec" => match bits {
                0 | 256 => Ok(Self::Ec(256)),
                384 => Ok(Self::Ec(384)),
                _ => Err(bad_bits()),
            },
            "ed25519" => match bits {
                0 => Ok(Self::Ed25519),
                _ => Err(bad_bits()),
            },
            "rsa" => match bits {
                0 | 2048 => Ok(Self::Rsa(2048)),
                3072 => Ok(Self::Rsa(3072)),
                4096 => Ok(Self::Rsa(4096)),
                _ => Err(bad_bits()),
            },
            other => Err(ApiError::bad(format!(
                "unsupported key_type {other:?}: use ec, ed25519 or rsa"
            ))),
        }
    }

    /// Vault's `key_type` name (also its `private_key_type`).
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Ec(_) => "ec",
            Self::Ed25519 => "ed25519",
            Self::Rsa(_) => "rsa",
        }
    }

    /// The key size in bits as Vault reports it (0 for ed25519).
    pub(crate) const fn bits(self) -> u32 {
        match self {
            Self::Ec(b) | Self::Rsa(b) => b,
            Self::Ed25519 => 0,
        }
    }

    /// A fresh key pair of this kind.
    pub(crate) fn generate(self) -> Result<KeyPair, ApiError> {
        let made = match self {
            Self::Ec(384) => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
            Self::Ec(_) => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            Self::Ed25519 => KeyPair::generate_for(&rcgen::PKCS_ED25519),
            Self::Rsa(bits) => {
                let size = match bits {
                    4096 => rcgen::RsaKeySize::_4096,
                    3072 => rcgen::RsaKeySize::_3072,
                    _ => rcgen::RsaKeySize::_2048,
                };
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, size)
            }
        };
        made.map_err(|e| ApiError::internal(format!("generating a {} key: {e}", self.name())))
    }
}

/// A private key as returned to a client: PKCS#8 PEM, zeroized when dropped.
pub(crate) fn private_key_pem(key: &KeyPair) -> Result<Zeroizing<String>, ApiError> {
    let der = Zeroizing::new(key.serialize_der());
    Pem::encode("PRIVATE KEY", &der)
        .map(Zeroizing::new)
        .map_err(|_| ApiError::internal("encoding a private key"))
}

/// A fresh positive serial number: 20 random bytes with the top bit cleared and the next one
/// set, so the DER integer is always 20 bytes (159 random bits, RFC 5280's maximum length).
pub(crate) fn random_serial() -> Result<Vec<u8>, ApiError> {
    let mut serial = sigil_core::random::bytes(20)
        .map_err(|_| ApiError::internal("the random number generator failed"))?;
    if let Some(first) = serial.first_mut() {
        *first = (*first & 0x7f) | 0x40;
    }
    Ok(serial)
}

/// Vault's serial format: lower-case hex bytes joined by colons.
pub(crate) fn serial_colons(serial: &[u8]) -> String {
    serial
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The storage form of a serial: colon form with dashes (`certs/39-dd-...`).
pub(super) fn serial_key(colons: &str) -> String {
    colons.replace(':', "-")
}

/// Parses a client's serial (`39:dd:...` or `39-dd-...`, any case) into the colon form.
pub(super) fn normalize_serial(text: &str) -> Result<String, ApiError> {
    let text = text.trim().to_ascii_lowercase().replace('-', ":");
    let ok = !text.is_empty()
        && text.len() <= 128
        && text
            .split(':')
            .all(|b| b.len() == 2 && b.bytes().all(|c| c.is_ascii_hexdigit()));
    if ok {
        Ok(text)
    } else {
        Err(ApiError::bad(
            "serial_number must be hex bytes separated by colons, like 39:dd:2e",
        ))
    }
}

/// Unix seconds as an `OffsetDateTime`.
pub(crate) fn at(unix: i64) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::from_unix_timestamp(unix).map_err(|_| ApiError::bad("time out of range"))
}

/// An issuer loaded together with its key (from `issuers/<id>` and `keys/<id>`). `Debug`
/// shows identifiers only.
#[derive(Clone)]
#[allow(
    dead_code,
    reason = "the key type, expiry and chain are for the per-issuer CRLs that follow"
)]
pub(super) struct StoredCa {
    /// The CA certificate, PEM.
    pub certificate: String,
    /// The CA private key, PKCS#8 DER in base64.
    private_key: String,
    /// `ec`, `ed25519` or `rsa`.
    pub key_type: String,
    /// The issuer's UUID.
    pub issuer_id: String,
    /// The issuer's name (may be empty).
    pub issuer_name: String,
    /// The key's UUID.
    pub key_id: String,
    /// The certificate's serial, colon form.
    pub serial_number: String,
    /// The certificate's `notAfter`, Unix seconds.
    pub not_after: i64,
    /// The certificates above this one, PEM, nearest first.
    pub ca_chain: Vec<String>,
}

impl fmt::Debug for StoredCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredCa")
            .field("issuer_id", &self.issuer_id)
            .field("issuer_name", &self.issuer_name)
            .field("key_id", &self.key_id)
            .field("serial_number", &self.serial_number)
            .finish_non_exhaustive()
    }
}

impl Drop for StoredCa {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.private_key);
    }
}

/// What `root/generate` was asked for.
#[derive(Debug)]
pub(super) struct RootRequest {
    /// The subject's common name.
    pub common_name: String,
    /// Lifetime in seconds.
    pub ttl: u64,
    /// The key to generate.
    pub key: KeySpec,
    /// `None` = no limit (Vault's -1).
    pub max_path_length: Option<u8>,
    /// The issuer's name (may be empty).
    pub issuer_name: String,
}

/// A new certificate authority's certificate, before it is stored.
#[derive(Debug)]
pub(super) struct NewCert {
    /// PEM.
    pub pem: String,
    /// Colon form.
    pub serial: String,
    /// Unix seconds.
    pub not_after: i64,
}

/// The `basicConstraints` of a CA with `max_path_length` (`None` = no limit).
pub(super) fn ca_params(max_path_length: Option<u8>) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(match max_path_length {
        None => BasicConstraints::Unconstrained,
        Some(n) => BasicConstraints::Constrained(n),
    });
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// `now + ttl` in Unix seconds, refused when it overflows.
pub(crate) fn expiry(now: i64, ttl: u64) -> Result<i64, ApiError> {
    i64::try_from(ttl)
        .ok()
        .and_then(|t| now.checked_add(t))
        .ok_or_else(|| ApiError::bad("ttl is too large"))
}

/// Makes a self-signed root valid from 30 s before `now` (clock skew, as Vault) for `ttl`,
/// signed by `key`.
pub(super) fn generate_root(
    req: &RootRequest,
    key: &KeyPair,
    now: i64,
) -> Result<NewCert, ApiError> {
    let serial = random_serial()?;
    let mut params = ca_params(req.max_path_length);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, req.common_name.as_str());
    params.distinguished_name = dn;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    let not_after = expiry(now, req.ttl)?;
    params.not_before = at(now - 30)?;
    params.not_after = at(not_after)?;
    let cert = params
        .self_signed(key)
        .map_err(|e| ApiError::internal(format!("signing the root: {e}")))?;
    Ok(NewCert {
        pem: cert.pem(),
        serial: serial_colons(&serial),
        not_after,
    })
}

impl StoredCa {
    /// Joins an issuer's certificate and facts with its key (PKCS#8 DER in base64, which
    /// this value zeroizes when dropped).
    pub(super) fn new(
        certificate: String,
        private_key: String,
        key_type: String,
        ids: (String, String, String),
        serial_number: String,
        not_after: i64,
        ca_chain: Vec<String>,
    ) -> Self {
        let (issuer_id, issuer_name, key_id) = ids;
        Self {
            certificate,
            private_key,
            key_type,
            issuer_id,
            issuer_name,
            key_id,
            serial_number,
            not_after,
            ca_chain,
        }
    }

    /// The certificate in DER.
    pub(super) fn der(&self) -> Result<Vec<u8>, ApiError> {
        Pem::decode_expecting(&self.certificate, "CERTIFICATE")
            .map_err(|_| ApiError::internal("the stored CA certificate is corrupt"))
    }

    /// The signing key.
    pub(super) fn key(&self) -> Result<KeyPair, ApiError> {
        let der = Zeroizing::new(
            base64_decode(&self.private_key)
                .map_err(|_| ApiError::internal("the stored CA key is corrupt"))?,
        );
        KeyPair::try_from(der.as_slice())
            .map_err(|_| ApiError::internal("the stored CA key is corrupt"))
    }

    /// An rcgen issuer for this CA (its subject and key identifier come from the stored
    /// certificate, so AKI matches the root's SKI).
    pub(super) fn issuer(&self) -> Result<Issuer<'static, KeyPair>, ApiError> {
        let der = self.der()?;
        Issuer::from_ca_cert_der(&der.into(), self.key()?)
            .map_err(|e| ApiError::internal(format!("loading the CA: {e}")))
    }
}

/// PKCS#8 DER of `key`, base64, zeroized when dropped: the stored form of a key.
pub(super) fn key_b64(key: &KeyPair) -> Zeroizing<String> {
    let der = Zeroizing::new(key.serialize_der());
    Zeroizing::new(base64_encode(&der))
}
