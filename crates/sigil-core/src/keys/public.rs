//! Public keys: loading from SPKI/PKCS#1/JWK, verification, RSA-OAEP encryption, export.

use std::fmt;

use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey};
use aws_lc_rs::signature::{self, ParsedPublicKey, UnparsedPublicKey, VerificationAlgorithm};
use serde_json::{Map, Value};

use super::der::{self as containers, Algorithm};
use super::jwk::{self, Jwk};
use super::private::{aws_digest, ecdsa_field_digest, rsa_digest, rsa_prehashed};
use super::{KeyType, Prehashed, SignatureScheme, check_input_size};
use crate::encoding::Pem;
use crate::error::{Error, Result};
use crate::hash::HashAlgorithm;

/// A public key of any [`KeyType`].
///
/// Holds the key's raw form: the 32-byte key for Ed25519/X25519, the uncompressed point for
/// ECDSA, the PKCS#1 `RSAPublicKey` DER for RSA.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    kind: KeyType,
    raw: Vec<u8>,
}

impl PublicKey {
    /// Trusted constructor for keys derived from a private key.
    pub(super) fn from_raw(kind: KeyType, raw: Vec<u8>) -> Self {
        Self { kind, raw }
    }

    pub(super) fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// Loads a public key, detecting the container: SPKI PEM (`PUBLIC KEY`), PKCS#1 PEM
    /// (`RSA PUBLIC KEY`), SPKI DER, or a public JWK. A private key is refused with a message
    /// that says so.
    pub fn from_bytes(input: &[u8]) -> Result<Self> {
        check_input_size(input, "public key")?;
        if Pem::looks_like_pem(input) {
            let text = std::str::from_utf8(input)
                .map_err(|_| Error::malformed("public key", "PEM is not text"))?;
            let pem = Pem::decode(text)?;
            return match pem.label.as_str() {
                "PUBLIC KEY" => Self::from_spki_der(&pem.der),
                "RSA PUBLIC KEY" => Self::rsa(pem.der),
                label if label.contains("PRIVATE KEY") => Err(Error::malformed(
                    "public key",
                    "this is a private key; give the public key (FILE.pub)",
                )),
                other => Err(Error::malformed(
                    "public key",
                    format!("unexpected PEM block {other:?}"),
                )),
            };
        }
        if input.trim_ascii_start().starts_with(b"{") {
            return Self::from_jwk(input);
        }
        Self::from_spki_der(input).map_err(|e| match e {
            Error::Malformed { .. } => Error::malformed(
                "public key",
                "expected PEM (SubjectPublicKeyInfo or PKCS#1), SPKI DER, or a JWK",
            ),
            other => other,
        })
    }

    /// Loads a DER `SubjectPublicKeyInfo`.
    pub fn from_spki_der(der: &[u8]) -> Result<Self> {
        let (alg, bits) = containers::parse_spki(der)?;
        match alg {
            Algorithm::Ed25519 => Self::okp(KeyType::Ed25519, bits.to_vec()),
            Algorithm::X25519 => Self::okp(KeyType::X25519, bits.to_vec()),
            Algorithm::EcP256 => Self::ec(KeyType::EcdsaP256, bits.to_vec()),
            Algorithm::EcP384 => Self::ec(KeyType::EcdsaP384, bits.to_vec()),
            Algorithm::Rsa => Self::rsa(bits.to_vec()),
        }
    }

    fn from_jwk(input: &[u8]) -> Result<Self> {
        match Jwk::parse(input)? {
            Jwk::Ec { kind, x, y, .. } => {
                let mut point = Vec::with_capacity(1 + x.len() + y.len());
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Self::ec(kind, point)
            }
            Jwk::Okp { kind, x, .. } => Self::okp(kind, x),
            Jwk::Rsa { n, e, .. } => {
                let pkcs1 = aws_lc_rs::rsa::PublicKeyComponents { n, e };
                let spki = aws_lc_rs::encoding::AsDer::as_der(&pkcs1)
                    .map_err(|_| Error::malformed("JWK", "not a valid RSA public key"))?;
                Self::from_spki_der(spki.as_ref())
            }
        }
    }

    fn okp(kind: KeyType, raw: Vec<u8>) -> Result<Self> {
        if raw.len() != 32 {
            return Err(Error::malformed(
                "public key",
                format!("{kind} keys are 32 bytes, got {}", raw.len()),
            ));
        }
        if kind == KeyType::Ed25519 {
            // Rejects encodings that are not points on the curve.
            ParsedPublicKey::new(&signature::ED25519, &raw)
                .map_err(|_| Error::malformed("public key", "not a valid Ed25519 key"))?;
        }
        Ok(Self { kind, raw })
    }

    fn ec(kind: KeyType, point: Vec<u8>) -> Result<Self> {
        let alg: &'static dyn VerificationAlgorithm = if kind == KeyType::EcdsaP384 {
            &signature::ECDSA_P384_SHA384_ASN1
        } else {
            &signature::ECDSA_P256_SHA256_ASN1
        };
        let coord = if kind == KeyType::EcdsaP384 { 48 } else { 32 };
        if point.len() != 1 + 2 * coord || point[0] != 0x04 {
            return Err(Error::malformed(
                "public key",
                "EC keys must be uncompressed points",
            ));
        }
        ParsedPublicKey::new(alg, &point)
            .map_err(|_| Error::malformed("public key", "the point is not on the curve"))?;
        Ok(Self { kind, raw: point })
    }

    fn rsa(pkcs1: Vec<u8>) -> Result<Self> {
        let (n, _) = containers::rsa_public_parts(&pkcs1)?;
        let kind = KeyType::rsa_from_bits(containers::bit_len(&n))?;
        aws_lc_rs::rsa::PublicKey::from_der(&pkcs1)
            .map_err(|_| Error::malformed("public key", "not a valid RSA public key"))?;
        Ok(Self { kind, raw: pkcs1 })
    }

    /// The key type.
    pub fn key_type(&self) -> KeyType {
        self.kind
    }

    fn algorithm(&self) -> Algorithm {
        match self.kind {
            KeyType::Ed25519 => Algorithm::Ed25519,
            KeyType::X25519 => Algorithm::X25519,
            KeyType::EcdsaP256 => Algorithm::EcP256,
            KeyType::EcdsaP384 => Algorithm::EcP384,
            KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => Algorithm::Rsa,
        }
    }

    /// DER `SubjectPublicKeyInfo`.
    pub fn to_spki_der(&self) -> Result<Vec<u8>> {
        containers::encode_spki(self.algorithm(), &self.raw)
    }

    /// PEM `SubjectPublicKeyInfo` (`-----BEGIN PUBLIC KEY-----`).
    pub fn to_spki_pem(&self) -> Result<String> {
        Pem::encode("PUBLIC KEY", &self.to_spki_der()?)
    }

    pub(super) fn jwk_members(&self) -> Result<Map<String, Value>> {
        Ok(match self.kind {
            KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => {
                let (n, e) = containers::rsa_public_parts(&self.raw)?;
                jwk::public_members(self.kind, &n, Some(&e))
            }
            _ => jwk::public_members(self.kind, &self.raw, None),
        })
    }

    /// A public JWK with `kid` = the RFC 7638 thumbprint.
    pub fn to_jwk(&self) -> Result<String> {
        Ok(jwk::public_document(self.jwk_members()?))
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url): a stable public key id.
    pub fn jwk_thumbprint(&self) -> Result<String> {
        Ok(jwk::thumbprint(&self.jwk_members()?))
    }

    /// Verifies `signature` over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8], scheme: SignatureScheme) -> Result<()> {
        scheme.check_fits(self.kind)?;
        UnparsedPublicKey::new(verification_alg(scheme), &self.raw)
            .verify(message, signature)
            .map_err(|_| Error::bad_signature())
    }

    /// Verifies `signature` over a digest the caller computed with the scheme's hash.
    pub fn verify_digest(
        &self,
        digest: &[u8],
        signature: &[u8],
        scheme: SignatureScheme,
    ) -> Result<()> {
        scheme.check_fits(self.kind)?;
        let d = aws_digest(digest, scheme)?;
        UnparsedPublicKey::new(verification_alg(scheme), &self.raw)
            .verify_digest(&d, signature)
            .map_err(|_| Error::bad_signature())
    }

    /// Verifies a signature made by [`super::PrivateKey::sign_prehashed`] (or any signer
    /// using the same padding) over a digest the caller computed with `hash`.
    pub fn verify_prehashed(
        &self,
        digest: &[u8],
        hash: HashAlgorithm,
        how: Prehashed,
        signature: &[u8],
    ) -> Result<()> {
        let (alg, d): (&'static dyn VerificationAlgorithm, _) = match (self.kind, how) {
            (KeyType::EcdsaP256, Prehashed::Ecdsa { fixed }) => (
                if fixed {
                    &signature::ECDSA_P256_SHA256_FIXED
                } else {
                    &signature::ECDSA_P256_SHA256_ASN1
                },
                ecdsa_field_digest(self.kind, digest)?,
            ),
            (KeyType::EcdsaP384, Prehashed::Ecdsa { fixed }) => (
                if fixed {
                    &signature::ECDSA_P384_SHA384_FIXED
                } else {
                    &signature::ECDSA_P384_SHA384_ASN1
                },
                ecdsa_field_digest(self.kind, digest)?,
            ),
            (KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096, Prehashed::RsaPkcs1)
            | (KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096, Prehashed::RsaPss { .. }) => {
                (rsa_prehashed(hash, how)?.1, rsa_digest(digest, hash)?)
            }
            (kind, how) => {
                return Err(Error::unsupported(format!(
                    "a {kind} key cannot check {how:?} signatures"
                )));
            }
        };
        UnparsedPublicKey::new(alg, &self.raw)
            .verify_digest(&d, signature)
            .map_err(|_| Error::bad_signature())
    }

    /// Encrypts with RSA-OAEP (SHA-256, MGF1-SHA-256, empty label). At most
    /// `modulus bytes - 66` bytes of plaintext (190 for RSA-2048).
    pub fn encrypt_oaep(&self, plaintext: &[u8]) -> Result<Vec<u8>> {
        if self.kind.rsa_bits().is_none() {
            return Err(Error::unsupported(format!(
                "RSA-OAEP needs an RSA key, not {}",
                self.kind
            )));
        }
        let key = PublicEncryptingKey::from_der(&self.to_spki_der()?)
            .map_err(|_| Error::Internal("RSA encryption key"))?;
        let key = OaepPublicEncryptingKey::new(key)?;
        let max = key.max_plaintext_size(&OAEP_SHA256_MGF1SHA256);
        if plaintext.len() > max {
            return Err(Error::TooLarge {
                what: "RSA-OAEP plaintext",
                limit: max as u64,
            });
        }
        let mut out = vec![0; key.ciphertext_size()];
        let len = key
            .encrypt(&OAEP_SHA256_MGF1SHA256, plaintext, &mut out, None)?
            .len();
        out.truncate(len);
        Ok(out)
    }

    /// The raw 32-byte X25519 public key.
    pub fn x25519_public(&self) -> Result<[u8; 32]> {
        if self.kind != KeyType::X25519 {
            return Err(Error::unsupported(format!(
                "a {} key is not an X25519 key",
                self.kind
            )));
        }
        self.raw
            .as_slice()
            .try_into()
            .map_err(|_| Error::Internal("X25519 key length"))
    }

    /// An X25519 public key from its raw 32 bytes.
    pub fn from_x25519_public(raw: &[u8]) -> Result<Self> {
        Self::okp(KeyType::X25519, raw.to_vec())
    }

    /// An Ed25519 public key from its raw 32 bytes.
    pub fn from_ed25519_public(raw: &[u8]) -> Result<Self> {
        Self::okp(KeyType::Ed25519, raw.to_vec())
    }

    /// The raw Ed25519 public key (for formats such as minisign that carry it bare).
    pub fn ed25519_public(&self) -> Result<[u8; 32]> {
        if self.kind != KeyType::Ed25519 {
            return Err(Error::unsupported(format!(
                "a {} key is not an Ed25519 key",
                self.kind
            )));
        }
        self.raw
            .as_slice()
            .try_into()
            .map_err(|_| Error::Internal("Ed25519 key length"))
    }
}

fn verification_alg(scheme: SignatureScheme) -> &'static dyn VerificationAlgorithm {
    match scheme {
        SignatureScheme::Ed25519 => &signature::ED25519,
        SignatureScheme::EcdsaP256Sha256 => &signature::ECDSA_P256_SHA256_ASN1,
        SignatureScheme::EcdsaP384Sha384 => &signature::ECDSA_P384_SHA384_ASN1,
        SignatureScheme::EcdsaP256Sha256Fixed => &signature::ECDSA_P256_SHA256_FIXED,
        SignatureScheme::EcdsaP384Sha384Fixed => &signature::ECDSA_P384_SHA384_FIXED,
        SignatureScheme::RsaPssSha256 => &signature::RSA_PSS_2048_8192_SHA256,
        SignatureScheme::RsaPssSha384 => &signature::RSA_PSS_2048_8192_SHA384,
        SignatureScheme::RsaPssSha512 => &signature::RSA_PSS_2048_8192_SHA512,
        SignatureScheme::RsaPkcs1Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        SignatureScheme::RsaPkcs1Sha384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        SignatureScheme::RsaPkcs1Sha512 => &signature::RSA_PKCS1_2048_8192_SHA512,
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kid = self.jwk_thumbprint().unwrap_or_default();
        f.debug_struct("PublicKey")
            .field("type", &self.kind)
            .field("kid", &kid)
            .finish()
    }
}
