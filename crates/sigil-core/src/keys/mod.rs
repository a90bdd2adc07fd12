//! Asymmetric keys: generation, signatures, RSA-OAEP, and the container formats keys travel in
//! (PKCS#8 and SubjectPublicKeyInfo in PEM and DER, the legacy SEC1/PKCS#1 PEM forms openssl
//! writes, and JSON Web Keys).
//!
//! | key type | signs with | notes |
//! | --- | --- | --- |
//! | `ed25519` | Ed25519 (RFC 8032, pure) | |
//! | `ecdsa-p256`, `ecdsa-p384` | ECDSA with SHA-256 / SHA-384, DER (as openssl) or fixed r‖s (as JWS) | |
//! | `rsa-2048`, `rsa-3072`, `rsa-4096` | RSA-PSS (salt = digest length, MGF1 with the same hash) or PKCS#1 v1.5, SHA-256/384/512 | also RSA-OAEP with SHA-256 |
//! | `x25519` | — (key agreement only: HPKE, age) | |
//!
//! All cryptography is aws-lc-rs; RustCrypto's `der`, `spki`, `pkcs8` and `pkcs1` only read and
//! write the ASN.1 containers. Verification failures are always [`Error::bad_signature`].

mod der;
mod jwk;
mod private;
mod public;

use std::fmt;
use std::str::FromStr;

pub use private::PrivateKey;
pub use public::PublicKey;

use crate::error::{Error, Result};
use crate::hash::HashAlgorithm;

/// Key algorithms Sigil generates and loads.
///
/// RSA keys are generated and accepted in exactly these three sizes (as in Vault transit);
/// loading another size is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyType {
    /// Ed25519.
    Ed25519,
    /// ECDSA on NIST P-256.
    EcdsaP256,
    /// ECDSA on NIST P-384.
    EcdsaP384,
    /// RSA with a 2048-bit modulus.
    Rsa2048,
    /// RSA with a 3072-bit modulus.
    Rsa3072,
    /// RSA with a 4096-bit modulus.
    Rsa4096,
    /// X25519 (key agreement only).
    X25519,
}

impl KeyType {
    /// Every key type.
    pub const ALL: [Self; 7] = [
        Self::Ed25519,
        Self::EcdsaP256,
        Self::EcdsaP384,
        Self::Rsa2048,
        Self::Rsa3072,
        Self::Rsa4096,
        Self::X25519,
    ];

    /// The name ("ed25519", "ecdsa-p256", "rsa-2048", ...), as Vault transit spells them.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Ed25519 => "ed25519",
            Self::EcdsaP256 => "ecdsa-p256",
            Self::EcdsaP384 => "ecdsa-p384",
            Self::Rsa2048 => "rsa-2048",
            Self::Rsa3072 => "rsa-3072",
            Self::Rsa4096 => "rsa-4096",
            Self::X25519 => "x25519",
        }
    }

    /// Whether keys of this type can sign.
    pub const fn can_sign(self) -> bool {
        !matches!(self, Self::X25519)
    }

    /// The RSA modulus size in bits, for RSA types.
    pub const fn rsa_bits(self) -> Option<usize> {
        match self {
            Self::Rsa2048 => Some(2048),
            Self::Rsa3072 => Some(3072),
            Self::Rsa4096 => Some(4096),
            _ => None,
        }
    }

    fn rsa_from_bits(bits: usize) -> Result<Self> {
        match bits {
            2048 => Ok(Self::Rsa2048),
            3072 => Ok(Self::Rsa3072),
            4096 => Ok(Self::Rsa4096),
            other => Err(Error::unsupported(format!(
                "RSA keys of {other} bits (Sigil uses 2048, 3072 or 4096)"
            ))),
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KeyType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| Error::unsupported(format!("unknown key type {s:?}")))
    }
}

/// A signature scheme: algorithm, hash and signature encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureScheme {
    /// Ed25519 (pure: the message itself is signed).
    Ed25519,
    /// ECDSA P-256 with SHA-256, ASN.1 DER signature (what `openssl dgst` writes).
    EcdsaP256Sha256,
    /// ECDSA P-384 with SHA-384, ASN.1 DER signature.
    EcdsaP384Sha384,
    /// ECDSA P-256 with SHA-256, fixed-length r‖s (JWS `ES256`).
    EcdsaP256Sha256Fixed,
    /// ECDSA P-384 with SHA-384, fixed-length r‖s (JWS `ES384`).
    EcdsaP384Sha384Fixed,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256, 32-byte salt (JWS `PS256`).
    RsaPssSha256,
    /// RSASSA-PSS with SHA-384, MGF1-SHA-384, 48-byte salt.
    RsaPssSha384,
    /// RSASSA-PSS with SHA-512, MGF1-SHA-512, 64-byte salt.
    RsaPssSha512,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (JWS `RS256`).
    RsaPkcs1Sha256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RsaPkcs1Sha384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RsaPkcs1Sha512,
}

impl SignatureScheme {
    /// Every scheme.
    pub const ALL: [Self; 11] = [
        Self::Ed25519,
        Self::EcdsaP256Sha256,
        Self::EcdsaP384Sha384,
        Self::EcdsaP256Sha256Fixed,
        Self::EcdsaP384Sha384Fixed,
        Self::RsaPssSha256,
        Self::RsaPssSha384,
        Self::RsaPssSha512,
        Self::RsaPkcs1Sha256,
        Self::RsaPkcs1Sha384,
        Self::RsaPkcs1Sha512,
    ];

    /// The name used on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Ed25519 => "ed25519",
            Self::EcdsaP256Sha256 => "ecdsa-p256-sha256",
            Self::EcdsaP384Sha384 => "ecdsa-p384-sha384",
            Self::EcdsaP256Sha256Fixed => "ecdsa-p256-sha256-fixed",
            Self::EcdsaP384Sha384Fixed => "ecdsa-p384-sha384-fixed",
            Self::RsaPssSha256 => "rsa-pss-sha256",
            Self::RsaPssSha384 => "rsa-pss-sha384",
            Self::RsaPssSha512 => "rsa-pss-sha512",
            Self::RsaPkcs1Sha256 => "rsa-pkcs1-sha256",
            Self::RsaPkcs1Sha384 => "rsa-pkcs1-sha384",
            Self::RsaPkcs1Sha512 => "rsa-pkcs1-sha512",
        }
    }

    /// The JWS `alg` value (RFC 7518 / RFC 8037), where one exists.
    pub const fn jws_alg(self) -> Option<&'static str> {
        match self {
            Self::Ed25519 => Some("EdDSA"),
            Self::EcdsaP256Sha256Fixed => Some("ES256"),
            Self::EcdsaP384Sha384Fixed => Some("ES384"),
            Self::RsaPssSha256 => Some("PS256"),
            Self::RsaPssSha384 => Some("PS384"),
            Self::RsaPssSha512 => Some("PS512"),
            Self::RsaPkcs1Sha256 => Some("RS256"),
            Self::RsaPkcs1Sha384 => Some("RS384"),
            Self::RsaPkcs1Sha512 => Some("RS512"),
            Self::EcdsaP256Sha256 | Self::EcdsaP384Sha384 => None,
        }
    }

    /// The usual scheme for a key type: Ed25519, ECDSA with DER signatures, RSA-PSS-SHA256.
    pub fn default_for(key: KeyType) -> Result<Self> {
        match key {
            KeyType::Ed25519 => Ok(Self::Ed25519),
            KeyType::EcdsaP256 => Ok(Self::EcdsaP256Sha256),
            KeyType::EcdsaP384 => Ok(Self::EcdsaP384Sha384),
            KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => Ok(Self::RsaPssSha256),
            KeyType::X25519 => Err(Error::unsupported("x25519 keys cannot sign")),
        }
    }

    /// The hash the scheme signs with (`None` for Ed25519, which hashes internally).
    pub const fn hash(self) -> Option<HashAlgorithm> {
        match self {
            Self::Ed25519 => None,
            Self::EcdsaP256Sha256
            | Self::EcdsaP256Sha256Fixed
            | Self::RsaPssSha256
            | Self::RsaPkcs1Sha256 => Some(HashAlgorithm::Sha256),
            Self::EcdsaP384Sha384
            | Self::EcdsaP384Sha384Fixed
            | Self::RsaPssSha384
            | Self::RsaPkcs1Sha384 => Some(HashAlgorithm::Sha384),
            Self::RsaPssSha512 | Self::RsaPkcs1Sha512 => Some(HashAlgorithm::Sha512),
        }
    }

    /// Whether `key` can use this scheme.
    pub fn fits(self, key: KeyType) -> bool {
        match self {
            Self::Ed25519 => key == KeyType::Ed25519,
            Self::EcdsaP256Sha256 | Self::EcdsaP256Sha256Fixed => key == KeyType::EcdsaP256,
            Self::EcdsaP384Sha384 | Self::EcdsaP384Sha384Fixed => key == KeyType::EcdsaP384,
            _ => key.rsa_bits().is_some(),
        }
    }

    fn check_fits(self, key: KeyType) -> Result<()> {
        if self.fits(key) {
            Ok(())
        } else {
            Err(Error::unsupported(format!(
                "a {key} key cannot make {} signatures",
                self.name()
            )))
        }
    }
}

impl fmt::Display for SignatureScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SignatureScheme {
    type Err = Error;

    /// Accepts the scheme names, and the JWS `alg` names.
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s || k.jws_alg() == Some(s))
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
                Error::unsupported(format!(
                    "unknown signature scheme {s:?}; expected one of {}",
                    names.join(", ")
                ))
            })
    }
}

/// How [`PrivateKey::sign_prehashed`] and [`PublicKey::verify_prehashed`] turn a digest the
/// caller computed into a signature: Vault transit's `signature_algorithm` and salt choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prehashed {
    /// ECDSA, with an ASN.1 DER signature (`fixed: false`) or fixed-length r‖s.
    ///
    /// As FIPS 186-5 §6.4.1 says, only the leftmost bits of the digest that fit the curve
    /// order count: a longer digest is cut to the curve size, a shorter one is taken as the
    /// integer it encodes. Any hash therefore pairs with any curve, as in Vault.
    Ecdsa {
        /// r‖s instead of DER.
        fixed: bool,
    },
    /// RSASSA-PKCS1-v1_5 (the digest is wrapped in its hash's `DigestInfo`).
    RsaPkcs1,
    /// RSASSA-PSS with MGF1 over the same hash.
    RsaPss {
        /// The salt length.
        salt: PssSalt,
    },
}

/// The salt length of an RSASSA-PSS signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PssSalt {
    /// As long as the hash (what most signers use).
    Hash,
    /// As long as the modulus allows (what Go and Vault use by default).
    Max,
    /// Exactly this many bytes (at most [`PssSalt::MAX_BYTES`]).
    Bytes(u16),
}

impl PssSalt {
    /// The longest explicit salt accepted: more than any RSA-4096 signature can carry.
    pub const MAX_BYTES: u16 = 1024;
}

/// Refuse absurd inputs before any parser sees them.
const MAX_KEY_INPUT: usize = 64 * 1024;

fn check_input_size(input: &[u8], what: &'static str) -> Result<()> {
    if input.is_empty() {
        return Err(Error::malformed(what, "the input is empty"));
    }
    if input.len() > MAX_KEY_INPUT {
        return Err(Error::TooLarge {
            what,
            limit: MAX_KEY_INPUT as u64,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
