//! The ASN.1 containers keys travel in: PKCS#8 `PrivateKeyInfo` (RFC 5208/5958) and X.509
//! `SubjectPublicKeyInfo` (RFC 5280), read and written with RustCrypto's `der`, `pkcs8` and
//! `spki`. Only the algorithm identifiers Sigil supports are accepted; parsers reject trailing
//! bytes.

use der::asn1::{AnyRef, BitStringRef, ObjectIdentifier as Oid, OctetStringRef};
use der::{Decode, Encode};
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};

use crate::error::{Error, Result};
use crate::secret::SecretBytes;

const ED25519: Oid = Oid::new_unwrap("1.3.101.112");
const X25519: Oid = Oid::new_unwrap("1.3.101.110");
const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
const P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
const P384: Oid = Oid::new_unwrap("1.3.132.0.34");
const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
const RSA_PSS: Oid = Oid::new_unwrap("1.2.840.113549.1.1.10");

/// The key algorithms the containers may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Algorithm {
    Ed25519,
    X25519,
    EcP256,
    EcP384,
    Rsa,
}

fn algorithm(id: &AlgorithmIdentifierRef<'_>) -> Result<Algorithm> {
    let no_params = || -> Result<()> {
        match id.parameters {
            None => Ok(()),
            Some(_) => Err(Error::malformed(
                "key algorithm",
                "unexpected algorithm parameters",
            )),
        }
    };
    match id.oid {
        ED25519 => no_params().map(|()| Algorithm::Ed25519),
        X25519 => no_params().map(|()| Algorithm::X25519),
        RSA_ENCRYPTION => match id.parameters {
            None => Ok(Algorithm::Rsa),
            Some(p) if p.is_null() => Ok(Algorithm::Rsa),
            Some(_) => Err(Error::malformed(
                "key algorithm",
                "RSA parameters must be NULL",
            )),
        },
        EC_PUBLIC_KEY => {
            let curve = id
                .parameters
                .ok_or_else(|| Error::malformed("key algorithm", "EC key without a named curve"))?
                .decode_as::<Oid>()
                .map_err(|_| Error::malformed("key algorithm", "EC key without a named curve"))?;
            match curve {
                P256 => Ok(Algorithm::EcP256),
                P384 => Ok(Algorithm::EcP384),
                other => Err(Error::unsupported(format!(
                    "EC curve {other} (Sigil uses P-256 and P-384)"
                ))),
            }
        }
        RSA_PSS => Err(Error::unsupported(
            "RSASSA-PSS-restricted keys (id-RSASSA-PSS); use a plain rsaEncryption key",
        )),
        other => Err(Error::unsupported(format!("key algorithm {other}"))),
    }
}

/// A parsed PKCS#8 `PrivateKeyInfo`.
pub(super) struct Pkcs8<'a> {
    pub(super) algorithm: Algorithm,
    /// The contents of the `privateKey` OCTET STRING (algorithm-specific encoding).
    pub(super) private_key: &'a [u8],
}

pub(super) fn parse_pkcs8(der: &[u8]) -> Result<Pkcs8<'_>> {
    let info = pkcs8::PrivateKeyInfo::from_der(der)
        .map_err(|_| Error::malformed("private key", "not a DER PKCS#8 PrivateKeyInfo"))?;
    Ok(Pkcs8 {
        algorithm: algorithm(&info.algorithm)?,
        private_key: info.private_key,
    })
}

/// Parses a `SubjectPublicKeyInfo`; returns the algorithm and the raw public key bits.
pub(super) fn parse_spki(der: &[u8]) -> Result<(Algorithm, &[u8])> {
    let spki = SubjectPublicKeyInfoRef::from_der(der)
        .map_err(|_| Error::malformed("public key", "not a DER SubjectPublicKeyInfo"))?;
    let alg = algorithm(&spki.algorithm)?;
    let bits = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| Error::malformed("public key", "public key bits are not whole bytes"))?;
    Ok((alg, bits))
}

/// Encodes a `SubjectPublicKeyInfo` for `key` (raw bits: the EC point, the Ed/X25519 key, or
/// the PKCS#1 `RSAPublicKey`).
pub(super) fn encode_spki(alg: Algorithm, key: &[u8]) -> Result<Vec<u8>> {
    let null = AnyRef::NULL;
    let (oid, curve) = match alg {
        Algorithm::Ed25519 => (ED25519, None),
        Algorithm::X25519 => (X25519, None),
        Algorithm::EcP256 => (EC_PUBLIC_KEY, Some(P256)),
        Algorithm::EcP384 => (EC_PUBLIC_KEY, Some(P384)),
        Algorithm::Rsa => (RSA_ENCRYPTION, None),
    };
    let curve_der = curve
        .map(|c| c.to_der())
        .transpose()
        .map_err(der_internal)?;
    let parameters = match (&curve_der, alg) {
        (Some(bytes), _) => Some(AnyRef::from_der(bytes).map_err(der_internal)?),
        (None, Algorithm::Rsa) => Some(null),
        (None, _) => None,
    };
    let spki = SubjectPublicKeyInfoRef {
        algorithm: AlgorithmIdentifierRef { oid, parameters },
        subject_public_key: BitStringRef::from_bytes(key).map_err(der_internal)?,
    };
    spki.to_der().map_err(der_internal)
}

/// PKCS#8 for an X25519 private key (RFC 8410: the key is an OCTET STRING inside the
/// `privateKey` OCTET STRING).
pub(super) fn x25519_pkcs8(raw: &[u8; 32]) -> Result<SecretBytes> {
    let inner = zeroize::Zeroizing::new(
        OctetStringRef::new(raw)
            .map_err(der_internal)?
            .to_der()
            .map_err(der_internal)?,
    );
    let info = pkcs8::PrivateKeyInfo {
        algorithm: AlgorithmIdentifierRef {
            oid: X25519,
            parameters: None,
        },
        private_key: &inner,
        public_key: None,
    };
    Ok(SecretBytes::new(info.to_der().map_err(der_internal)?))
}

/// The raw X25519 key inside a PKCS#8 `privateKey`.
pub(super) fn x25519_raw(private_key: &[u8]) -> Result<zeroize::Zeroizing<[u8; 32]>> {
    let octets = OctetStringRef::from_der(private_key)
        .map_err(|_| Error::malformed("private key", "X25519 key is not an OCTET STRING"))?;
    let raw: [u8; 32] = octets
        .as_bytes()
        .try_into()
        .map_err(|_| Error::malformed("private key", "X25519 key is not 32 bytes"))?;
    Ok(zeroize::Zeroizing::new(raw))
}

/// The modulus and public exponent (big-endian, no leading zeros) of a PKCS#1 `RSAPublicKey`.
pub(super) fn rsa_public_parts(pkcs1: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let key = pkcs1::RsaPublicKey::from_der(pkcs1)
        .map_err(|_| Error::malformed("public key", "not a PKCS#1 RSAPublicKey"))?;
    Ok((
        key.modulus.as_bytes().to_vec(),
        key.public_exponent.as_bytes().to_vec(),
    ))
}

/// Bit length of a big-endian unsigned integer.
pub(super) fn bit_len(be: &[u8]) -> usize {
    let be = strip_zeros(be);
    match be.first() {
        None => 0,
        Some(b) => be.len() * 8 - b.leading_zeros() as usize,
    }
}

pub(super) fn strip_zeros(be: &[u8]) -> &[u8] {
    let start = be.iter().position(|b| *b != 0).unwrap_or(be.len());
    &be[start..]
}

fn der_internal(_: der::Error) -> Error {
    Error::Internal("DER encoding")
}
