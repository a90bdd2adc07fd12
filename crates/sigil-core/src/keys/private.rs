//! Private keys: generation, loading from every container Sigil accepts, signing, OAEP
//! decryption, and export.

use std::fmt;

use aws_lc_rs::encoding::{AsBigEndian, AsDer, Curve25519SeedBin, EcPrivateKeyBin};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{
    KeyPairComponents, KeySize, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey,
    PrivateDecryptingKey, PublicKeyComponents,
};
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair as _, RsaKeyPair,
};
use aws_lc_rs::{agreement, digest};
use der::Decode as _;
use zeroize::Zeroizing;

use super::der::{self as containers, Algorithm};
use super::jwk::{self, Jwk};
use super::public::PublicKey;
use super::{KeyType, Prehashed, PssSalt, SignatureScheme, check_input_size};
use crate::encoding::Pem;
use crate::error::{Error, Result};
use crate::hash::HashAlgorithm;
use crate::secret::{SecretBytes, SecretString};

/// A private key of any [`KeyType`].
pub struct PrivateKey {
    inner: Inner,
    public: PublicKey,
}

enum Inner {
    Ed25519(Ed25519KeyPair),
    /// Two handles on the same key: aws-lc binds the signature encoding to the key object.
    Ecdsa {
        asn1: EcdsaKeyPair,
        fixed: EcdsaKeyPair,
    },
    Rsa {
        pair: RsaKeyPair,
        pkcs8: SecretBytes,
    },
    X25519(Zeroizing<[u8; 32]>),
}

fn rejected(what: &'static str) -> impl Fn(aws_lc_rs::error::KeyRejected) -> Error {
    move |e| Error::malformed(what, format!("the key was rejected ({e})"))
}

fn ecdsa_algs(
    kind: KeyType,
) -> (
    &'static EcdsaSigningAlgorithm,
    &'static EcdsaSigningAlgorithm,
) {
    if kind == KeyType::EcdsaP384 {
        (
            &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        )
    } else {
        (
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        )
    }
}

impl PrivateKey {
    /// A new random key.
    pub fn generate(kind: KeyType) -> Result<Self> {
        match kind {
            KeyType::Ed25519 => Self::ed25519(Ed25519KeyPair::generate()?),
            KeyType::EcdsaP256 | KeyType::EcdsaP384 => {
                let (asn1, _) = ecdsa_algs(kind);
                let pair = EcdsaKeyPair::generate(asn1)?;
                let der = Zeroizing::new(pair.to_pkcs8v1()?.as_ref().to_vec());
                Self::ecdsa(kind, &der)
            }
            KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => {
                let size = match kind {
                    KeyType::Rsa2048 => KeySize::Rsa2048,
                    KeyType::Rsa3072 => KeySize::Rsa3072,
                    _ => KeySize::Rsa4096,
                };
                let pair = RsaKeyPair::generate(size)?;
                let der = SecretBytes::copy_from(AsDer::as_der(&pair)?.as_ref());
                Self::rsa(pair, der)
            }
            KeyType::X25519 => Self::x25519(Zeroizing::new(crate::random::array::<32>()?)),
        }
    }

    /// Loads a private key, detecting the container: PKCS#8 PEM (`PRIVATE KEY`), SEC1 PEM
    /// (`EC PRIVATE KEY`), PKCS#1 PEM (`RSA PRIVATE KEY`), PKCS#8 DER, or a private JWK.
    pub fn from_bytes(input: &[u8]) -> Result<Self> {
        check_input_size(input, "private key")?;
        if Pem::looks_like_pem(input) {
            let text = std::str::from_utf8(input)
                .map_err(|_| Error::malformed("private key", "PEM is not text"))?;
            let pem = Pem::decode(text)?;
            let der = SecretBytes::new(pem.der);
            return match pem.label.as_str() {
                "PRIVATE KEY" => Self::from_pkcs8_der(der.expose_secret()),
                "EC PRIVATE KEY" => Self::from_sec1_der(der.expose_secret()),
                "RSA PRIVATE KEY" => Self::from_pkcs1_der(der.expose_secret()),
                "ENCRYPTED PRIVATE KEY" => Err(Error::unsupported(
                    "encrypted PKCS#8 keys; decrypt it first (openssl pkcs8 -in KEY -out PLAIN)",
                )),
                "PUBLIC KEY" | "RSA PUBLIC KEY" => Err(Error::malformed(
                    "private key",
                    "this is a public key; a private key is needed here",
                )),
                other => Err(Error::malformed(
                    "private key",
                    format!("unexpected PEM block {other:?}"),
                )),
            };
        }
        if input.trim_ascii_start().starts_with(b"{") {
            return Self::from_jwk(input);
        }
        Self::from_pkcs8_der(input).map_err(|e| match e {
            Error::Malformed { .. } => Error::malformed(
                "private key",
                "expected PEM (PKCS#8, SEC1 or PKCS#1), PKCS#8 DER, or a JWK",
            ),
            other => other,
        })
    }

    /// Loads a PKCS#8 `PrivateKeyInfo` (v1 or v2) in DER.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        let info = containers::parse_pkcs8(der)?;
        match info.algorithm {
            Algorithm::Ed25519 => Self::ed25519(
                Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                    .map_err(rejected("Ed25519 private key"))?,
            ),
            Algorithm::EcP256 => Self::ecdsa(KeyType::EcdsaP256, der),
            Algorithm::EcP384 => Self::ecdsa(KeyType::EcdsaP384, der),
            Algorithm::Rsa => {
                let pair = RsaKeyPair::from_pkcs8(der).map_err(rejected("RSA private key"))?;
                Self::rsa(pair, SecretBytes::copy_from(der))
            }
            Algorithm::X25519 => Self::x25519(containers::x25519_raw(info.private_key)?),
        }
    }

    fn from_sec1_der(der: &[u8]) -> Result<Self> {
        for kind in [KeyType::EcdsaP256, KeyType::EcdsaP384] {
            let (asn1, _) = ecdsa_algs(kind);
            if let Ok(pair) = EcdsaKeyPair::from_private_key_der(asn1, der) {
                let pkcs8 = Zeroizing::new(pair.to_pkcs8v1()?.as_ref().to_vec());
                return Self::ecdsa(kind, &pkcs8);
            }
        }
        Err(Error::malformed(
            "private key",
            "not a SEC1 EC private key on P-256 or P-384",
        ))
    }

    fn from_pkcs1_der(der: &[u8]) -> Result<Self> {
        let pair = RsaKeyPair::from_der(der).map_err(rejected("RSA private key"))?;
        let pkcs8 = SecretBytes::copy_from(AsDer::as_der(&pair)?.as_ref());
        Self::rsa(pair, pkcs8)
    }

    fn from_jwk(input: &[u8]) -> Result<Self> {
        let parsed = Jwk::parse(input)?;
        if !parsed.is_private() {
            return Err(Error::malformed(
                "private key",
                "this JWK is a public key (no \"d\"); a private key is needed here",
            ));
        }
        let key = match parsed {
            Jwk::Ec {
                kind,
                x,
                y,
                d: Some(d),
            } => {
                let mut point = Vec::with_capacity(1 + x.len() + y.len());
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                let (asn1, _) = ecdsa_algs(kind);
                let pair =
                    EcdsaKeyPair::from_private_key_and_public_key(asn1, d.expose_secret(), &point)
                        .map_err(rejected("EC JWK"))?;
                let pkcs8 = Zeroizing::new(pair.to_pkcs8v1()?.as_ref().to_vec());
                Self::ecdsa(kind, &pkcs8)?
            }
            Jwk::Okp {
                kind: KeyType::Ed25519,
                x,
                d: Some(d),
            } => Self::ed25519(
                Ed25519KeyPair::from_seed_and_public_key(d.expose_secret(), &x)
                    .map_err(rejected("Ed25519 JWK"))?,
            )?,
            Jwk::Okp { x, d: Some(d), .. } => {
                let raw: [u8; 32] = d
                    .expose_secret()
                    .try_into()
                    .map_err(|_| Error::malformed("JWK", "\"d\" must be 32 bytes"))?;
                let key = Self::x25519(Zeroizing::new(raw))?;
                if key.public.raw() != x.as_slice() {
                    return Err(Error::malformed("JWK", "\"x\" does not match \"d\""));
                }
                key
            }
            Jwk::Rsa {
                n,
                e,
                private: Some(p),
            } => {
                let components = KeyPairComponents {
                    public_key: PublicKeyComponents {
                        n: n.as_slice(),
                        e: e.as_slice(),
                    },
                    d: p.d.expose_secret(),
                    p: p.p.expose_secret(),
                    q: p.q.expose_secret(),
                    dP: p.dp.expose_secret(),
                    dQ: p.dq.expose_secret(),
                    qInv: p.qi.expose_secret(),
                };
                let pair = RsaKeyPair::from_components(&components).map_err(rejected("RSA JWK"))?;
                let pkcs8 = SecretBytes::copy_from(AsDer::as_der(&pair)?.as_ref());
                Self::rsa(pair, pkcs8)?
            }
            _ => return Err(Error::Internal("JWK privacy checked above")),
        };
        Ok(key)
    }

    fn ed25519(pair: Ed25519KeyPair) -> Result<Self> {
        let public = PublicKey::from_raw(KeyType::Ed25519, pair.public_key().as_ref().to_vec());
        Ok(Self {
            inner: Inner::Ed25519(pair),
            public,
        })
    }

    fn ecdsa(kind: KeyType, pkcs8: &[u8]) -> Result<Self> {
        let (asn1_alg, fixed_alg) = ecdsa_algs(kind);
        let asn1 = EcdsaKeyPair::from_pkcs8(asn1_alg, pkcs8).map_err(rejected("EC private key"))?;
        let fixed =
            EcdsaKeyPair::from_pkcs8(fixed_alg, pkcs8).map_err(rejected("EC private key"))?;
        let public = PublicKey::from_raw(kind, asn1.public_key().as_ref().to_vec());
        Ok(Self {
            inner: Inner::Ecdsa { asn1, fixed },
            public,
        })
    }

    fn rsa(pair: RsaKeyPair, pkcs8: SecretBytes) -> Result<Self> {
        let kind = KeyType::rsa_from_bits(pair.public_modulus_len() * 8)?;
        let public = PublicKey::from_raw(kind, pair.public_key().as_ref().to_vec());
        Ok(Self {
            inner: Inner::Rsa { pair, pkcs8 },
            public,
        })
    }

    fn x25519(raw: Zeroizing<[u8; 32]>) -> Result<Self> {
        let key = agreement::PrivateKey::from_private_key(&agreement::X25519, raw.as_slice())
            .map_err(rejected("X25519 private key"))?;
        let public =
            PublicKey::from_raw(KeyType::X25519, key.compute_public_key()?.as_ref().to_vec());
        Ok(Self {
            inner: Inner::X25519(raw),
            public,
        })
    }

    /// The key type.
    pub fn key_type(&self) -> KeyType {
        self.public.key_type()
    }

    /// The public half.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// PKCS#8 v1 `PrivateKeyInfo` in DER (no embedded public key: the form every tool reads).
    pub fn to_pkcs8_der(&self) -> Result<SecretBytes> {
        Ok(match &self.inner {
            Inner::Ed25519(pair) => SecretBytes::copy_from(pair.to_pkcs8v1()?.as_ref()),
            Inner::Ecdsa { asn1, .. } => SecretBytes::copy_from(asn1.to_pkcs8v1()?.as_ref()),
            Inner::Rsa { pkcs8, .. } => pkcs8.clone(),
            Inner::X25519(raw) => containers::x25519_pkcs8(raw)?,
        })
    }

    /// PKCS#8 in PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn to_pkcs8_pem(&self) -> Result<SecretString> {
        let der = self.to_pkcs8_der()?;
        Ok(SecretString::new(Pem::encode(
            "PRIVATE KEY",
            der.expose_secret(),
        )?))
    }

    /// The key in its algorithm's own container, as Go's `x509` writes it and Vault exports
    /// it: `EC PRIVATE KEY` (RFC 5915, with the curve and public key) or `RSA PRIVATE KEY`
    /// (PKCS#1). Ed25519 and X25519 keys have no such container.
    pub fn to_traditional_pem(&self) -> Result<SecretString> {
        let (label, der) = match &self.inner {
            Inner::Ecdsa { asn1, .. } => {
                let der: aws_lc_rs::encoding::EcPrivateKeyRfc5915Der<'_> =
                    asn1.private_key().as_der()?;
                ("EC PRIVATE KEY", SecretBytes::copy_from(der.as_ref()))
            }
            Inner::Rsa { pkcs8, .. } => {
                let info = containers::parse_pkcs8(pkcs8.expose_secret())?;
                ("RSA PRIVATE KEY", SecretBytes::copy_from(info.private_key))
            }
            Inner::Ed25519(_) | Inner::X25519(_) => {
                return Err(Error::unsupported(format!(
                    "{} keys have no traditional container; use PKCS#8",
                    self.key_type()
                )));
            }
        };
        Ok(SecretString::new(Pem::encode(label, der.expose_secret())?))
    }

    /// A private JWK with `kid` = the RFC 7638 thumbprint.
    pub fn to_jwk(&self) -> Result<SecretString> {
        let members = self.public.jwk_members()?;
        Ok(match &self.inner {
            Inner::Ed25519(pair) => {
                let seed: Curve25519SeedBin<'_> = pair.seed()?.as_be_bytes()?;
                jwk::private_document(members, &[("d", seed.as_ref())])
            }
            Inner::Ecdsa { asn1, .. } => {
                let d: EcPrivateKeyBin<'_> = asn1.private_key().as_be_bytes()?;
                jwk::private_document(members, &[("d", d.as_ref())])
            }
            Inner::Rsa { pkcs8, .. } => {
                let info = containers::parse_pkcs8(pkcs8.expose_secret())?;
                let key = pkcs1::RsaPrivateKey::from_der(info.private_key)
                    .map_err(|_| Error::Internal("re-reading our own RSA key"))?;
                jwk::private_document(
                    members,
                    &[
                        ("d", key.private_exponent.as_bytes()),
                        ("p", key.prime1.as_bytes()),
                        ("q", key.prime2.as_bytes()),
                        ("dp", key.exponent1.as_bytes()),
                        ("dq", key.exponent2.as_bytes()),
                        ("qi", key.coefficient.as_bytes()),
                    ],
                )
            }
            Inner::X25519(raw) => jwk::private_document(members, &[("d", raw.as_slice())]),
        })
    }

    /// Signs `message` with `scheme`.
    pub fn sign(&self, message: &[u8], scheme: SignatureScheme) -> Result<Vec<u8>> {
        scheme.check_fits(self.key_type())?;
        let rng = SystemRandom::new();
        match &self.inner {
            Inner::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            Inner::Ecdsa { asn1, fixed } => {
                let pair = if is_fixed(scheme) { fixed } else { asn1 };
                Ok(pair.sign(&rng, message)?.as_ref().to_vec())
            }
            Inner::Rsa { pair, .. } => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(rsa_encoding(scheme)?, &rng, message, &mut sig)?;
                Ok(sig)
            }
            Inner::X25519(_) => Err(Error::unsupported("x25519 keys cannot sign")),
        }
    }

    /// Signs a digest the caller computed with the scheme's hash (for streamed files and for
    /// Vault transit's `prehashed`). ECDSA and RSA only: Ed25519 signs messages, not digests.
    pub fn sign_digest(&self, digest: &[u8], scheme: SignatureScheme) -> Result<Vec<u8>> {
        scheme.check_fits(self.key_type())?;
        let d = aws_digest(digest, scheme)?;
        match &self.inner {
            Inner::Ecdsa { asn1, fixed } => {
                let pair = if is_fixed(scheme) { fixed } else { asn1 };
                Ok(pair.sign_digest(&d)?.as_ref().to_vec())
            }
            Inner::Rsa { pair, .. } => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign_digest(rsa_encoding(scheme)?, &d, &mut sig)?;
                Ok(sig)
            }
            Inner::Ed25519(_) | Inner::X25519(_) => Err(Error::unsupported(
                "Ed25519 signs the message itself and cannot sign a precomputed digest",
            )),
        }
    }

    /// Signs a digest the caller computed with `hash`, padded as `how` says (Vault transit's
    /// `sign` with `hash_algorithm`, `prehashed`, `signature_algorithm` and salt options).
    /// ECDSA takes a digest of any hash (see [`Prehashed::Ecdsa`]); RSA takes SHA-256, -384
    /// or -512 digests of exactly that length. Ed25519 signs messages, not digests.
    pub fn sign_prehashed(
        &self,
        digest: &[u8],
        hash: HashAlgorithm,
        how: Prehashed,
    ) -> Result<Vec<u8>> {
        match (&self.inner, how) {
            (Inner::Ecdsa { asn1, fixed }, Prehashed::Ecdsa { fixed: want_fixed }) => {
                let d = ecdsa_field_digest(self.key_type(), digest)?;
                let pair = if want_fixed { fixed } else { asn1 };
                Ok(pair.sign_digest(&d)?.as_ref().to_vec())
            }
            (Inner::Rsa { pair, .. }, Prehashed::RsaPkcs1 | Prehashed::RsaPss { .. }) => {
                let (encoding, _) = rsa_prehashed(hash, how)?;
                let d = rsa_digest(digest, hash)?;
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign_digest(encoding, &d, &mut sig)?;
                Ok(sig)
            }
            _ => Err(Error::unsupported(format!(
                "a {} key cannot make {how:?} signatures",
                self.key_type()
            ))),
        }
    }

    /// An Ed25519 key from its 32-byte RFC 8032 seed.
    pub fn from_ed25519_seed(seed: &[u8]) -> Result<Self> {
        if seed.len() != 32 {
            return Err(Error::malformed("Ed25519 seed", "must be 32 bytes"));
        }
        Self::ed25519(Ed25519KeyPair::from_seed_unchecked(seed).map_err(rejected("Ed25519 seed"))?)
    }

    /// Decrypts RSA-OAEP (SHA-256, MGF1-SHA-256, empty label).
    pub fn decrypt_oaep(&self, ciphertext: &[u8]) -> Result<SecretBytes> {
        let Inner::Rsa { pkcs8, .. } = &self.inner else {
            return Err(Error::unsupported(format!(
                "RSA-OAEP needs an RSA key, not {}",
                self.key_type()
            )));
        };
        let key = PrivateDecryptingKey::from_pkcs8(pkcs8.expose_secret())
            .map_err(|_| Error::Internal("RSA decryption key"))?;
        let key = OaepPrivateDecryptingKey::new(key)?;
        if ciphertext.len() != key.key_size_bytes() {
            return Err(Error::decryption());
        }
        let mut out = SecretBytes::zeroed(key.min_output_size());
        let len = key
            .decrypt(
                &OAEP_SHA256_MGF1SHA256,
                ciphertext,
                out.expose_secret_mut(),
                None,
            )
            .map_err(|_| Error::decryption())?
            .len();
        out.expose_secret_mut().truncate(len);
        Ok(out)
    }

    /// The raw 32-byte X25519 private key (for HPKE and age).
    pub fn x25519_secret(&self) -> Result<SecretBytes> {
        match &self.inner {
            Inner::X25519(raw) => Ok(SecretBytes::copy_from(raw.as_slice())),
            _ => Err(Error::unsupported(format!(
                "a {} key is not an X25519 key",
                self.key_type()
            ))),
        }
    }

    /// The 32-byte Ed25519 seed (RFC 8032 private key), for formats that carry it bare
    /// (minisign).
    pub fn ed25519_seed(&self) -> Result<SecretBytes> {
        match &self.inner {
            Inner::Ed25519(pair) => {
                let seed: Curve25519SeedBin<'_> = pair.seed()?.as_be_bytes()?;
                Ok(SecretBytes::copy_from(seed.as_ref()))
            }
            _ => Err(Error::unsupported(format!(
                "a {} key is not an Ed25519 key",
                self.key_type()
            ))),
        }
    }

    /// An X25519 key from its raw 32 bytes.
    pub fn from_x25519_secret(raw: &[u8]) -> Result<Self> {
        let raw: [u8; 32] = raw
            .try_into()
            .map_err(|_| Error::malformed("X25519 private key", "must be 32 bytes"))?;
        Self::x25519(Zeroizing::new(raw))
    }
}

fn is_fixed(scheme: SignatureScheme) -> bool {
    matches!(
        scheme,
        SignatureScheme::EcdsaP256Sha256Fixed | SignatureScheme::EcdsaP384Sha384Fixed
    )
}

fn rsa_encoding(scheme: SignatureScheme) -> Result<&'static signature::RsaSignatureEncoding> {
    Ok(match scheme {
        SignatureScheme::RsaPssSha256 => &signature::RSA_PSS_SHA256,
        SignatureScheme::RsaPssSha384 => &signature::RSA_PSS_SHA384,
        SignatureScheme::RsaPssSha512 => &signature::RSA_PSS_SHA512,
        SignatureScheme::RsaPkcs1Sha256 => &signature::RSA_PKCS1_SHA256,
        SignatureScheme::RsaPkcs1Sha384 => &signature::RSA_PKCS1_SHA384,
        SignatureScheme::RsaPkcs1Sha512 => &signature::RSA_PKCS1_SHA512,
        other => {
            return Err(Error::unsupported(format!("{other} is not an RSA scheme")));
        }
    })
}

/// The digest ECDSA on `kind`'s curve actually signs: the leftmost curve-size bytes of a
/// longer digest, or a shorter digest's integer value left-padded with zeros (both curves'
/// orders are a whole number of bytes long, so this is exactly FIPS 186-5's bit rule).
/// aws-lc only signs digests labelled with the curve's own hash, hence the label.
pub(super) fn ecdsa_field_digest(kind: KeyType, digest: &[u8]) -> Result<digest::Digest> {
    let (len, alg) = match kind {
        KeyType::EcdsaP256 => (32, &digest::SHA256),
        KeyType::EcdsaP384 => (48, &digest::SHA384),
        other => return Err(Error::unsupported(format!("{other} is not an ECDSA key"))),
    };
    let mut field = [0u8; 48];
    let field = &mut field[..len];
    if digest.len() >= len {
        field.copy_from_slice(&digest[..len]);
    } else {
        field[len - digest.len()..].copy_from_slice(digest);
    }
    digest::Digest::import_less_safe(field, alg).map_err(|_| Error::Internal("digest import"))
}

/// aws-lc binds the PSS salt length to a `'static` encoding. The usual lengths are statics;
/// an explicit one is made once and kept for the life of the process (at most
/// `PssSalt::MAX_BYTES + 1` lengths for each of three hashes, so the set is bounded).
type RsaAlgs = (
    &'static signature::RsaSignatureEncoding,
    &'static signature::RsaParameters,
);

fn explicit_salt(hash: HashAlgorithm, n: u16) -> Result<RsaAlgs> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static MADE: OnceLock<Mutex<HashMap<(HashAlgorithm, u16), RsaAlgs>>> = OnceLock::new();
    if n > PssSalt::MAX_BYTES {
        return Err(Error::unsupported(format!(
            "PSS salts longer than {} bytes",
            PssSalt::MAX_BYTES
        )));
    }
    if !matches!(
        hash,
        HashAlgorithm::Sha256 | HashAlgorithm::Sha384 | HashAlgorithm::Sha512
    ) {
        return Err(unsupported_rsa_hash(hash));
    }
    let mut made = MADE
        .get_or_init(Mutex::default)
        .lock()
        .map_err(|_| Error::Internal("PSS salt table"))?;
    let entry = made.entry((hash, n)).or_insert_with(|| {
        let len = signature::RsaPssSaltLength::Custom(n);
        let (sign, verify) = match hash {
            HashAlgorithm::Sha256 => (
                signature::RSA_PSS_SHA256.with_pss_salt_length(len),
                signature::RSA_PSS_2048_8192_SHA256.with_pss_salt_length(len),
            ),
            HashAlgorithm::Sha384 => (
                signature::RSA_PSS_SHA384.with_pss_salt_length(len),
                signature::RSA_PSS_2048_8192_SHA384.with_pss_salt_length(len),
            ),
            _ => (
                signature::RSA_PSS_SHA512.with_pss_salt_length(len),
                signature::RSA_PSS_2048_8192_SHA512.with_pss_salt_length(len),
            ),
        };
        (Box::leak(Box::new(sign)), Box::leak(Box::new(verify)))
    });
    Ok(*entry)
}

fn unsupported_rsa_hash(hash: HashAlgorithm) -> Error {
    Error::unsupported(format!(
        "RSA signatures over {} digests (Sigil signs RSA with SHA-256, SHA-384 or SHA-512)",
        hash.vault_name()
    ))
}

static RSA_PSS_SHA256_MAX_SALT: signature::RsaSignatureEncoding =
    signature::RSA_PSS_SHA256.with_pss_salt_length(signature::RsaPssSaltLength::Max);
static RSA_PSS_SHA384_MAX_SALT: signature::RsaSignatureEncoding =
    signature::RSA_PSS_SHA384.with_pss_salt_length(signature::RsaPssSaltLength::Max);
static RSA_PSS_SHA512_MAX_SALT: signature::RsaSignatureEncoding =
    signature::RSA_PSS_SHA512.with_pss_salt_length(signature::RsaPssSaltLength::Max);
static RSA_PSS_VERIFY_SHA256_MAX_SALT: signature::RsaParameters =
    signature::RSA_PSS_2048_8192_SHA256.with_pss_salt_length(signature::RsaPssSaltLength::Max);
static RSA_PSS_VERIFY_SHA384_MAX_SALT: signature::RsaParameters =
    signature::RSA_PSS_2048_8192_SHA384.with_pss_salt_length(signature::RsaPssSaltLength::Max);
static RSA_PSS_VERIFY_SHA512_MAX_SALT: signature::RsaParameters =
    signature::RSA_PSS_2048_8192_SHA512.with_pss_salt_length(signature::RsaPssSaltLength::Max);

/// The aws-lc signing encoding and verification parameters for an RSA prehashed signature.
pub(super) fn rsa_prehashed(hash: HashAlgorithm, how: Prehashed) -> Result<RsaAlgs> {
    use signature as s;
    Ok(match (how, hash) {
        (
            Prehashed::RsaPss {
                salt: PssSalt::Bytes(n),
            },
            hash,
        ) => return explicit_salt(hash, n),
        (Prehashed::RsaPkcs1, HashAlgorithm::Sha256) => {
            (&s::RSA_PKCS1_SHA256, &s::RSA_PKCS1_2048_8192_SHA256)
        }
        (Prehashed::RsaPkcs1, HashAlgorithm::Sha384) => {
            (&s::RSA_PKCS1_SHA384, &s::RSA_PKCS1_2048_8192_SHA384)
        }
        (Prehashed::RsaPkcs1, HashAlgorithm::Sha512) => {
            (&s::RSA_PKCS1_SHA512, &s::RSA_PKCS1_2048_8192_SHA512)
        }
        (
            Prehashed::RsaPss {
                salt: PssSalt::Hash,
            },
            HashAlgorithm::Sha256,
        ) => (&s::RSA_PSS_SHA256, &s::RSA_PSS_2048_8192_SHA256),
        (
            Prehashed::RsaPss {
                salt: PssSalt::Hash,
            },
            HashAlgorithm::Sha384,
        ) => (&s::RSA_PSS_SHA384, &s::RSA_PSS_2048_8192_SHA384),
        (
            Prehashed::RsaPss {
                salt: PssSalt::Hash,
            },
            HashAlgorithm::Sha512,
        ) => (&s::RSA_PSS_SHA512, &s::RSA_PSS_2048_8192_SHA512),
        (Prehashed::RsaPss { salt: PssSalt::Max }, HashAlgorithm::Sha256) => {
            (&RSA_PSS_SHA256_MAX_SALT, &RSA_PSS_VERIFY_SHA256_MAX_SALT)
        }
        (Prehashed::RsaPss { salt: PssSalt::Max }, HashAlgorithm::Sha384) => {
            (&RSA_PSS_SHA384_MAX_SALT, &RSA_PSS_VERIFY_SHA384_MAX_SALT)
        }
        (Prehashed::RsaPss { salt: PssSalt::Max }, HashAlgorithm::Sha512) => {
            (&RSA_PSS_SHA512_MAX_SALT, &RSA_PSS_VERIFY_SHA512_MAX_SALT)
        }
        (Prehashed::Ecdsa { .. }, _) => {
            return Err(Error::unsupported("ECDSA is not an RSA signature"));
        }
        (_, other) => return Err(unsupported_rsa_hash(other)),
    })
}

/// Wraps an RSA digest for aws-lc after checking its length.
pub(super) fn rsa_digest(bytes: &[u8], hash: HashAlgorithm) -> Result<digest::Digest> {
    if bytes.len() != hash.output_len() {
        return Err(Error::malformed(
            "digest",
            format!(
                "a {} digest is {} bytes, got {}",
                hash.vault_name(),
                hash.output_len(),
                bytes.len()
            ),
        ));
    }
    let alg = match hash {
        HashAlgorithm::Sha256 => &digest::SHA256,
        HashAlgorithm::Sha384 => &digest::SHA384,
        HashAlgorithm::Sha512 => &digest::SHA512,
        other => return Err(Error::unsupported(format!("RSA with {other}"))),
    };
    digest::Digest::import_less_safe(bytes, alg).map_err(|_| Error::Internal("digest import"))
}

/// Wraps a caller's digest for aws-lc, checking its length against the scheme's hash.
pub(super) fn aws_digest(bytes: &[u8], scheme: SignatureScheme) -> Result<digest::Digest> {
    let hash = scheme
        .hash()
        .ok_or_else(|| Error::unsupported("Ed25519 does not sign digests"))?;
    if bytes.len() != hash.output_len() {
        return Err(Error::malformed(
            "digest",
            format!(
                "{} needs a {}-byte {hash} digest, got {} bytes",
                scheme.name(),
                hash.output_len(),
                bytes.len()
            ),
        ));
    }
    let alg = match hash {
        HashAlgorithm::Sha256 => &digest::SHA256,
        HashAlgorithm::Sha384 => &digest::SHA384,
        _ => &digest::SHA512,
    };
    digest::Digest::import_less_safe(bytes, alg).map_err(|_| Error::Internal("digest import"))
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("type", &self.key_type())
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}
