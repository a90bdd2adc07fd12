//! HPKE (RFC 9180) single-shot encryption: KEM DHKEM(X25519, HKDF-SHA256), KDF HKDF-SHA256,
//! AEAD AES-256-GCM or ChaCha20-Poly1305, in base and auth modes.
//!
//! Base mode encrypts to a recipient's X25519 public key; anyone can be the sender. Auth mode
//! also binds the sender's X25519 key, so only the holder of that key could have made the
//! ciphertext (authentication of origin without a signature; not non-repudiable).
//!
//! The implementation is RustCrypto's `hpke` crate (aws-lc-rs does not expose HPKE), checked
//! against the RFC 9180 test vectors and vectors made by a second implementation (pyhpke).
//! Keys are raw 32-byte X25519 values, as [`crate::keys`] exports them.

use std::fmt;

use hpke::aead::{AesGcm256, ChaCha20Poly1305};
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable as _, Kem as _, OpModeR, OpModeS, Serializable as _};

use crate::error::{Error, Result};
use crate::random::SystemRng;
use crate::secret::SecretBytes;

type Kem = X25519HkdfSha256;
type SkX = <Kem as hpke::Kem>::PrivateKey;
type PkX = <Kem as hpke::Kem>::PublicKey;
type Encapped = <Kem as hpke::Kem>::EncappedKey;

/// The AEAD of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HpkeAead {
    /// AES-256-GCM (AEAD id 0x0002).
    Aes256Gcm,
    /// ChaCha20-Poly1305 (AEAD id 0x0003).
    ChaCha20Poly1305,
}

/// An HPKE suite: X25519 / HKDF-SHA256 with the chosen AEAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HpkeSuite {
    /// The AEAD.
    pub aead: HpkeAead,
}

impl HpkeSuite {
    /// The RFC 9180 identifiers (KEM, KDF, AEAD).
    pub const fn ids(self) -> (u16, u16, u16) {
        let aead = match self.aead {
            HpkeAead::Aes256Gcm => 0x0002,
            HpkeAead::ChaCha20Poly1305 => 0x0003,
        };
        (0x0020, 0x0001, aead)
    }
}

/// A new X25519 key pair: (private key, public key), raw 32 bytes each.
pub fn generate_keypair() -> Result<(SecretBytes, [u8; 32])> {
    let (sk, pk) = Kem::gen_keypair(&mut SystemRng);
    Ok((
        SecretBytes::copy_from(sk.to_bytes().as_slice()),
        pk.to_bytes().into(),
    ))
}

fn private(raw: &[u8], what: &'static str) -> Result<SkX> {
    SkX::from_bytes(raw).map_err(|_| Error::malformed(what, "must be a 32-byte X25519 key"))
}

fn public(raw: &[u8], what: &'static str) -> Result<PkX> {
    PkX::from_bytes(raw).map_err(|_| Error::malformed(what, "must be a 32-byte X25519 key"))
}

fn encapped(raw: &[u8]) -> Result<Encapped> {
    // A wrong-length encapsulation is tampering as far as the caller can tell.
    Encapped::from_bytes(raw).map_err(|_| Error::decryption())
}

fn seal_with<R: rand_core::CryptoRng + rand_core::RngCore>(
    suite: HpkeSuite,
    mode: &OpModeS<'_, Kem>,
    pk_r: &PkX,
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    rng: &mut R,
) -> Result<(Vec<u8>, Vec<u8>)> {
    let (enc, ct) = match suite.aead {
        HpkeAead::Aes256Gcm => hpke::single_shot_seal::<AesGcm256, HkdfSha256, Kem, _>(
            mode, pk_r, info, plaintext, aad, rng,
        ),
        HpkeAead::ChaCha20Poly1305 => {
            hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, Kem, _>(
                mode, pk_r, info, plaintext, aad, rng,
            )
        }
    }
    // The only failure left after parsing is an all-zero X25519 output (a low-order key).
    .map_err(|_| Error::malformed("recipient key", "not a usable X25519 public key"))?;
    Ok((enc.to_bytes().to_vec(), ct))
}

fn open_with(
    suite: HpkeSuite,
    mode: &OpModeR<'_, Kem>,
    sk_r: &SkX,
    enc: &[u8],
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<SecretBytes> {
    let enc = encapped(enc)?;
    let pt = match suite.aead {
        HpkeAead::Aes256Gcm => hpke::single_shot_open::<AesGcm256, HkdfSha256, Kem>(
            mode, sk_r, &enc, info, ciphertext, aad,
        ),
        HpkeAead::ChaCha20Poly1305 => hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, Kem>(
            mode, sk_r, &enc, info, ciphertext, aad,
        ),
    }
    .map_err(|_| Error::decryption())?;
    Ok(SecretBytes::new(pt))
}

/// Base mode: encrypts `plaintext` to `pk_r`. Returns (`enc`, `ciphertext || tag`).
pub fn seal_base(
    suite: HpkeSuite,
    pk_r: &[u8],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>)> {
    let pk_r = public(pk_r, "recipient key")?;
    seal_with(
        suite,
        &OpModeS::Base,
        &pk_r,
        info,
        aad,
        plaintext,
        &mut SystemRng,
    )
}

/// Base mode: opens a ciphertext made by [`seal_base`].
pub fn open_base(
    suite: HpkeSuite,
    sk_r: &[u8],
    enc: &[u8],
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<SecretBytes> {
    let sk_r = private(sk_r, "recipient key")?;
    open_with(suite, &OpModeR::Base, &sk_r, enc, info, aad, ciphertext)
}

/// Auth mode: encrypts `plaintext` to `pk_r`, authenticated as the holder of `sk_s`.
pub fn seal_auth(
    suite: HpkeSuite,
    pk_r: &[u8],
    sk_s: &[u8],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>)> {
    seal_auth_with_rng(suite, pk_r, sk_s, info, aad, plaintext, &mut SystemRng)
}

fn seal_auth_with_rng<R: rand_core::CryptoRng + rand_core::RngCore>(
    suite: HpkeSuite,
    pk_r: &[u8],
    sk_s: &[u8],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    rng: &mut R,
) -> Result<(Vec<u8>, Vec<u8>)> {
    let pk_r = public(pk_r, "recipient key")?;
    let sk_s = private(sk_s, "sender key")?;
    let pk_s = Kem::sk_to_pk(&sk_s);
    seal_with(
        suite,
        &OpModeS::Auth((sk_s, pk_s)),
        &pk_r,
        info,
        aad,
        plaintext,
        rng,
    )
}

/// Auth mode: opens a ciphertext made by [`seal_auth`], checking it came from `pk_s`.
pub fn open_auth(
    suite: HpkeSuite,
    sk_r: &[u8],
    pk_s: &[u8],
    enc: &[u8],
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<SecretBytes> {
    let sk_r = private(sk_r, "recipient key")?;
    let pk_s = public(pk_s, "sender key")?;
    open_with(
        suite,
        &OpModeR::Auth(pk_s),
        &sk_r,
        enc,
        info,
        aad,
        ciphertext,
    )
}

/// Deterministic sealing for known-answer tests: the ephemeral key is derived from `ikm_e`, as
/// RFC 9180's vectors specify. Never use outside tests: reusing `ikm_e` reuses the ephemeral key.
#[doc(hidden)]
pub fn seal_with_ikm_e_for_tests(
    suite: HpkeSuite,
    pk_r: &[u8],
    sk_s: Option<&[u8]>,
    ikm_e: &[u8],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut rng = FixedRng(ikm_e.to_vec());
    match sk_s {
        Some(sk_s) => seal_auth_with_rng(suite, pk_r, sk_s, info, aad, plaintext, &mut rng),
        None => {
            let pk_r = public(pk_r, "recipient key")?;
            seal_with(suite, &OpModeS::Base, &pk_r, info, aad, plaintext, &mut rng)
        }
    }
}

/// An "RNG" that returns fixed bytes: the vectors' ephemeral key material.
struct FixedRng(Vec<u8>);

impl rand_core::RngCore for FixedRng {
    fn next_u32(&mut self) -> u32 {
        0
    }

    fn next_u64(&mut self) -> u64 {
        0
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        let n = dest.len().min(self.0.len());
        dest[..n].copy_from_slice(&self.0[..n]);
        self.0.drain(..n);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> std::result::Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for FixedRng {}

impl fmt::Debug for FixedRng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FixedRng")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUITES: [HpkeSuite; 2] = [
        HpkeSuite {
            aead: HpkeAead::Aes256Gcm,
        },
        HpkeSuite {
            aead: HpkeAead::ChaCha20Poly1305,
        },
    ];

    #[test]
    fn base_and_auth_round_trip() {
        let (sk_r, pk_r) = generate_keypair().unwrap();
        let (sk_s, pk_s) = generate_keypair().unwrap();
        let (_, pk_other) = generate_keypair().unwrap();
        for suite in SUITES {
            let (enc, ct) = seal_base(suite, &pk_r, b"info", b"aad", b"hello").unwrap();
            let pt = open_base(suite, sk_r.expose_secret(), &enc, b"info", b"aad", &ct).unwrap();
            assert_eq!(pt.expose_secret(), b"hello");
            assert!(open_base(suite, sk_r.expose_secret(), &enc, b"info", b"AAD", &ct).is_err());
            assert!(open_base(suite, sk_r.expose_secret(), &enc, b"inf0", b"aad", &ct).is_err());
            assert!(
                open_base(suite, sk_r.expose_secret(), &enc[1..], b"info", b"aad", &ct).is_err()
            );

            let (enc, ct) =
                seal_auth(suite, &pk_r, sk_s.expose_secret(), b"i", b"a", b"from s").unwrap();
            let pt = open_auth(suite, sk_r.expose_secret(), &pk_s, &enc, b"i", b"a", &ct).unwrap();
            assert_eq!(pt.expose_secret(), b"from s");
            // Another claimed sender, or base mode, cannot open it.
            assert_eq!(
                open_auth(
                    suite,
                    sk_r.expose_secret(),
                    &pk_other,
                    &enc,
                    b"i",
                    b"a",
                    &ct
                )
                .unwrap_err(),
                Error::decryption()
            );
            assert!(open_base(suite, sk_r.expose_secret(), &enc, b"i", b"a", &ct).is_err());
            for i in 0..ct.len() {
                let mut bad = ct.clone();
                bad[i] ^= 1;
                assert!(
                    open_auth(suite, sk_r.expose_secret(), &pk_s, &enc, b"i", b"a", &bad).is_err()
                );
            }
        }
    }

    #[test]
    fn bad_keys() {
        let suite = SUITES[0];
        assert!(seal_base(suite, &[0; 31], b"", b"", b"x").is_err());
        // The all-zero point is low order: X25519 gives an all-zero secret, which RFC 9180 refuses.
        assert!(seal_base(suite, &[0; 32], b"", b"", b"x").is_err());
        assert!(open_base(suite, &[1; 5], &[0; 32], b"", b"", &[0; 16]).is_err());
    }
}
