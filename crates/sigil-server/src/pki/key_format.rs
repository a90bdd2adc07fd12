//! How `issue` hands over the key it made (Vault's `private_key_format`): by default the
//! algorithm's own container, as Go's `x509` writes it and Vault answers (EC as SEC 1
//! `EC PRIVATE KEY`, RSA as PKCS#1 `RSA PRIVATE KEY`, Ed25519, which has none, as PKCS#8),
//! or PKCS#8 `PRIVATE KEY` on request; each in PEM or, for `format=der`, bare base64 DER.
//! EC and Ed25519 keys are made with aws-lc directly and encoded from the generated key, never
//! parsed back: issuing is the hot path, and a parse costs as much as the key generation.
//! RSA keys come from rcgen and go through `sigil_core::keys` (their generation dwarfs any
//! re-encoding). Every copy of the key is zeroized.

use aws_lc_rs::encoding::{AsDer, EcPrivateKeyRfc5915Der};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair as _,
};
use rcgen::{KeyPair, PublicKeyData, SignatureAlgorithm};
use serde_json::{Map, Value};
use sigil_core::encoding::{Pem, base64_encode};
use sigil_core::keys::PrivateKey;
use zeroize::Zeroizing;

use super::ca::KeySpec;
use crate::api::{ApiError, field_str};

/// The container of a returned private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyFormat {
    /// The algorithm's own container (Vault's `der`, its default; the name is Vault's,
    /// and says "not PKCS#8" rather than an encoding).
    Native,
    /// PKCS#8.
    Pkcs8,
}

impl KeyFormat {
    /// The request's `private_key_format`, in Vault's words when it is neither.
    pub(super) fn from_body(data: &Map<String, Value>) -> Result<Self, ApiError> {
        match field_str(data, "private_key_format").as_deref() {
            None | Some("" | "der" | "pem") => Ok(Self::Native),
            Some("pkcs8") => Ok(Self::Pkcs8),
            Some(_) => Err(ApiError::bad(
                "the \"private_key_format\" field must be \"der\", \"pem\" or \"pkcs8\"",
            )),
        }
    }
}

/// A key made for a leaf (`issue`, and minted X.509-SVIDs), returned once to the caller.
pub(crate) enum LeafKey {
    /// P-256 or P-384.
    Ec {
        pair: EcdsaKeyPair,
        alg: &'static SignatureAlgorithm,
    },
    Ed25519(Ed25519KeyPair),
    Rsa(KeyPair),
}

impl LeafKey {
    /// A fresh key of this kind.
    pub(crate) fn generate(spec: KeySpec) -> Result<Self, ApiError> {
        let failed = |_| ApiError::internal(format!("generating a {} key", spec.name()));
        Ok(match spec {
            KeySpec::Ec(384) => Self::Ec {
                pair: EcdsaKeyPair::generate(&ECDSA_P384_SHA384_ASN1_SIGNING).map_err(failed)?,
                alg: &rcgen::PKCS_ECDSA_P384_SHA384,
            },
            KeySpec::Ec(_) => Self::Ec {
                pair: EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).map_err(failed)?,
                alg: &rcgen::PKCS_ECDSA_P256_SHA256,
            },
            KeySpec::Ed25519 => Self::Ed25519(Ed25519KeyPair::generate().map_err(failed)?),
            KeySpec::Rsa(_) => Self::Rsa(spec.generate()?),
        })
    }

    /// The key in `format`: PEM, or base64 of the DER when `der` is set.
    pub(crate) fn encode(
        &self,
        format: KeyFormat,
        der: bool,
    ) -> Result<Zeroizing<String>, ApiError> {
        fn encoding<E>(_: E) -> ApiError {
            ApiError::internal("encoding the private key")
        }
        let (label, body) = match self {
            // PKCS#8 v1: rcgen's Ed25519 keys embed the public key (v2), which OpenSSL 3.0
            // cannot read.
            Self::Ed25519(pair) => {
                let pkcs8 = pair.to_pkcs8v1().map_err(encoding)?;
                ("PRIVATE KEY", Zeroizing::new(pkcs8.as_ref().to_vec()))
            }
            Self::Ec { pair, .. } if format == KeyFormat::Pkcs8 => {
                let pkcs8 = pair.to_pkcs8v1().map_err(encoding)?;
                ("PRIVATE KEY", Zeroizing::new(pkcs8.as_ref().to_vec()))
            }
            Self::Ec { pair, .. } => {
                let sec1: EcPrivateKeyRfc5915Der<'_> =
                    pair.private_key().as_der().map_err(encoding)?;
                ("EC PRIVATE KEY", Zeroizing::new(sec1.as_ref().to_vec()))
            }
            Self::Rsa(pair) => {
                let key = PrivateKey::from_pkcs8_der(&Zeroizing::new(pair.serialize_der()))
                    .map_err(encoding)?;
                if format == KeyFormat::Pkcs8 {
                    let der = key.to_pkcs8_der().map_err(encoding)?;
                    ("PRIVATE KEY", Zeroizing::new(der.expose_secret().to_vec()))
                } else {
                    let pem = key.to_traditional_pem().map_err(encoding)?;
                    let body = Pem::decode_expecting(pem.expose_secret(), "RSA PRIVATE KEY")
                        .map_err(encoding)?;
                    ("RSA PRIVATE KEY", Zeroizing::new(body))
                }
            }
        };
        if der {
            return Ok(Zeroizing::new(base64_encode(&body)));
        }
        Pem::encode(label, &body)
            .map(Zeroizing::new)
            .map_err(encoding)
    }
}

impl PublicKeyData for LeafKey {
    fn der_bytes(&self) -> &[u8] {
        match self {
            Self::Ec { pair, .. } => pair.public_key().as_ref(),
            Self::Ed25519(pair) => pair.public_key().as_ref(),
            Self::Rsa(pair) => pair.der_bytes(),
        }
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        match self {
            Self::Ec { alg, .. } => alg,
            Self::Ed25519(_) => &rcgen::PKCS_ED25519,
            Self::Rsa(pair) => pair.algorithm(),
        }
    }
}

/// Key material stays out of `Debug`.
impl std::fmt::Debug for LeafKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LeafKey")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn containers_follow_vault() {
        for (spec, native) in [
            (KeySpec::Ec(256), "EC PRIVATE KEY"),
            (KeySpec::Ec(384), "EC PRIVATE KEY"),
            (KeySpec::Rsa(2048), "RSA PRIVATE KEY"),
            (KeySpec::Ed25519, "PRIVATE KEY"),
        ] {
            let key = LeafKey::generate(spec).unwrap();
            let pem = key.encode(KeyFormat::Native, false).unwrap();
            assert!(
                pem.starts_with(&format!("-----BEGIN {native}-----")),
                "{spec:?}"
            );
            let pem8 = key.encode(KeyFormat::Pkcs8, false).unwrap();
            assert!(pem8.starts_with("-----BEGIN PRIVATE KEY-----"), "{spec:?}");
            let back = KeyPair::try_from(
                Pem::decode_expecting(&pem8, "PRIVATE KEY")
                    .unwrap()
                    .as_slice(),
            )
            .unwrap();
            assert_eq!(back.public_key_raw(), key.der_bytes(), "{spec:?}");
            assert_eq!(back.algorithm(), key.algorithm(), "{spec:?}");
            // The native container holds the same key.
            let native_key = PrivateKey::from_bytes(pem.as_bytes()).unwrap();
            assert_eq!(
                native_key.public_key().to_spki_der().unwrap(),
                key.subject_public_key_info(),
                "{spec:?}"
            );
            let der = key.encode(KeyFormat::Native, true).unwrap();
            assert_eq!(
                sigil_core::encoding::base64_decode(&der).unwrap(),
                Pem::decode_expecting(&pem, native).unwrap()
            );
        }
        let body = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert_eq!(
            KeyFormat::from_body(&body(json!({"private_key_format": "pkcs8"}))).unwrap(),
            KeyFormat::Pkcs8
        );
        assert_eq!(
            KeyFormat::from_body(&body(json!({}))).unwrap(),
            KeyFormat::Native
        );
        assert!(KeyFormat::from_body(&body(json!({"private_key_format": "jwk"}))).is_err());
    }
}
