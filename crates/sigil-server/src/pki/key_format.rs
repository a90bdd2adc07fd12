//! How `issue` hands over the key it made (Vault's `private_key_format`): by default the
//! algorithm's own container, as Go's `x509` writes it and Vault answers (EC as SEC 1
//! `EC PRIVATE KEY`, RSA as PKCS#1 `RSA PRIVATE KEY`, Ed25519, which has none, as PKCS#8),
//! or PKCS#8 `PRIVATE KEY` on request; each in PEM or, for `format=der`, bare base64 DER.
//! The containers come from `sigil_core::keys`; every copy of the key is zeroized.

use rcgen::KeyPair;
use serde_json::{Map, Value};
use sigil_core::encoding::{Pem, base64_encode};
use sigil_core::keys::PrivateKey;
use zeroize::Zeroizing;

use super::ca::KeySpec;
use crate::api::{ApiError, field_str};

/// The container of a returned private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyFormat {
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

/// `key` in `format`: PEM, or base64 of the DER when `der` is set.
pub(super) fn encode_key(
    key: &KeyPair,
    spec: KeySpec,
    format: KeyFormat,
    der: bool,
) -> Result<Zeroizing<String>, ApiError> {
    let encoding = |_| ApiError::internal("encoding the private key");
    let key = PrivateKey::from_pkcs8_der(&Zeroizing::new(key.serialize_der())).map_err(encoding)?;
    let (label, body) = if format == KeyFormat::Pkcs8 || spec == KeySpec::Ed25519 {
        // PKCS#8 v1, without the public key rcgen's Ed25519 keys embed (v2), which OpenSSL
        // 3.0 cannot read.
        let der = key.to_pkcs8_der().map_err(encoding)?;
        ("PRIVATE KEY", Zeroizing::new(der.expose_secret().to_vec()))
    } else {
        let label = match spec {
            KeySpec::Rsa(_) => "RSA PRIVATE KEY",
            _ => "EC PRIVATE KEY",
        };
        let traditional = key.to_traditional_pem().map_err(encoding)?;
        let body = Pem::decode_expecting(traditional.expose_secret(), label)
            .map(Zeroizing::new)
            .map_err(encoding)?;
        (label, body)
    };
    if der {
        return Ok(Zeroizing::new(base64_encode(&body)));
    }
    Pem::encode(label, &body)
        .map(Zeroizing::new)
        .map_err(|_| ApiError::internal("encoding the private key"))
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
            let key = spec.generate().unwrap();
            let pem = encode_key(&key, spec, KeyFormat::Native, false).unwrap();
            assert!(
                pem.starts_with(&format!("-----BEGIN {native}-----")),
                "{spec:?}"
            );
            let pem8 = encode_key(&key, spec, KeyFormat::Pkcs8, false).unwrap();
            assert!(pem8.starts_with("-----BEGIN PRIVATE KEY-----"), "{spec:?}");
            let back = KeyPair::try_from(
                Pem::decode_expecting(&pem8, "PRIVATE KEY")
                    .unwrap()
                    .as_slice(),
            )
            .unwrap();
            assert_eq!(back.public_key_raw(), key.public_key_raw(), "{spec:?}");
            let der = encode_key(&key, spec, KeyFormat::Native, true).unwrap();
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
