//! Authenticated encryption with associated data: AES-128-GCM, AES-256-GCM and
//! ChaCha20-Poly1305 (aws-lc-rs), with 96-bit nonces and 128-bit tags.
//!
//! The usual layout is `nonce || ciphertext || tag` with a random nonce ([`AeadKey::seal`]), the
//! layout Vault transit and Tink use. Random 96-bit nonces are safe for up to 2^32 messages per
//! key (NIST SP 800-38D §8.3); keysets rotate long before that. Explicit-nonce variants exist
//! for convergent encryption and test vectors.
//!
//! Every failure to open (wrong key, wrong associated data, any flipped bit, truncation) is the
//! same [`Error::decryption`].

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};

use crate::error::{Error, Result};
use crate::secret::SecretBytes;

/// Nonce length in bytes for every algorithm here.
pub const NONCE_LEN: usize = 12;

/// Tag length in bytes for every algorithm here.
pub const TAG_LEN: usize = 16;

/// GCM's per-message limit is 2^39 - 256 bits; stay well under it.
const MAX_PLAINTEXT_LEN: u64 = 64 * 1024 * 1024 * 1024 - 32;

/// An AEAD algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AeadAlgorithm {
    /// AES-128 in GCM mode.
    Aes128Gcm,
    /// AES-256 in GCM mode.
    Aes256Gcm,
    /// ChaCha20-Poly1305 (RFC 8439).
    ChaCha20Poly1305,
}

impl AeadAlgorithm {
    /// Every algorithm.
    pub const ALL: [Self; 3] = [Self::Aes128Gcm, Self::Aes256Gcm, Self::ChaCha20Poly1305];

    /// The name, as Vault transit spells key types.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Aes128Gcm => "aes128-gcm96",
            Self::Aes256Gcm => "aes256-gcm96",
            Self::ChaCha20Poly1305 => "chacha20-poly1305",
        }
    }

    /// Key length in bytes.
    pub const fn key_len(self) -> usize {
        match self {
            Self::Aes128Gcm => 16,
            Self::Aes256Gcm | Self::ChaCha20Poly1305 => 32,
        }
    }

    fn aws(self) -> &'static aead::Algorithm {
        match self {
            Self::Aes128Gcm => &aead::AES_128_GCM,
            Self::Aes256Gcm => &aead::AES_256_GCM,
            Self::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
        }
    }
}

impl fmt::Display for AeadAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AeadAlgorithm {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| Error::unsupported(format!("unknown AEAD algorithm {s:?}")))
    }
}

/// An AEAD key, ready to seal and open.
pub struct AeadKey {
    alg: AeadAlgorithm,
    key: LessSafeKey,
}

impl AeadKey {
    /// A key from raw bytes of the algorithm's length.
    pub fn new(alg: AeadAlgorithm, key: &[u8]) -> Result<Self> {
        if key.len() != alg.key_len() {
            return Err(Error::malformed(
                "AEAD key",
                format!("{alg} needs {} bytes, got {}", alg.key_len(), key.len()),
            ));
        }
        let unbound =
            UnboundKey::new(alg.aws(), key).map_err(|_| Error::Internal("AEAD key setup"))?;
        Ok(Self {
            alg,
            key: LessSafeKey::new(unbound),
        })
    }

    /// A random key, and its bytes (for storage).
    pub fn generate(alg: AeadAlgorithm) -> Result<(Self, SecretBytes)> {
        let bytes = crate::random::secret_bytes(alg.key_len())?;
        Ok((Self::new(alg, bytes.expose_secret())?, bytes))
    }

    /// The algorithm.
    pub fn algorithm(&self) -> AeadAlgorithm {
        self.alg
    }

    /// Encrypts with a fresh random nonce; returns `nonce || ciphertext || tag`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        let nonce = crate::random::array::<NONCE_LEN>()?;
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        self.seal_in_place_at(&nonce, aad, &mut out, NONCE_LEN)?;
        Ok(out)
    }

    /// Opens `nonce || ciphertext || tag`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<SecretBytes> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(Error::decryption());
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| Error::decryption())?;
        self.open_with_nonce(&nonce, aad, rest)
    }

    /// Encrypts with an explicit nonce; returns `ciphertext || tag`. The caller guarantees the
    /// nonce is never reused with this key for a different message.
    pub fn seal_with_nonce(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(plaintext.len() + TAG_LEN);
        out.extend_from_slice(plaintext);
        self.seal_in_place_at(nonce, aad, &mut out, 0)?;
        Ok(out)
    }

    /// Opens `ciphertext || tag` under an explicit nonce.
    pub fn open_with_nonce(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ciphertext_and_tag: &[u8],
    ) -> Result<SecretBytes> {
        let mut buf = SecretBytes::copy_from(ciphertext_and_tag);
        let len = self.open_in_place(nonce, aad, buf.expose_secret_mut())?;
        buf.expose_secret_mut().truncate(len);
        Ok(buf)
    }

    /// Encrypts `buf[start..]` in place and appends the tag; `buf[..start]` is left alone (room
    /// for a header such as the nonce).
    pub fn seal_in_place_at(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut Vec<u8>,
        start: usize,
    ) -> Result<()> {
        if (buf.len().saturating_sub(start)) as u64 > MAX_PLAINTEXT_LEN {
            return Err(Error::TooLarge {
                what: "AEAD plaintext",
                limit: MAX_PLAINTEXT_LEN,
            });
        }
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad),
                &mut buf[start..],
            )
            .map_err(|_| Error::Internal("AEAD seal"))?;
        buf.extend_from_slice(tag.as_ref());
        Ok(())
    }

    /// Opens `ciphertext || tag` in place; returns the plaintext length (the plaintext is
    /// `buf[..len]`). On failure the buffer's contents are unspecified.
    pub fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<usize> {
        if buf.len() < TAG_LEN {
            return Err(Error::decryption());
        }
        self.key
            .open_in_place(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), buf)
            .map(|pt| pt.len())
            .map_err(|_| Error::decryption())
    }
}

impl fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AeadKey")
            .field("alg", &self.alg)
            .field("key", &format_args!("[redacted]"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tampering() {
        for alg in AeadAlgorithm::ALL {
            let (key, bytes) = AeadKey::generate(alg).unwrap();
            assert_eq!(bytes.len(), alg.key_len());
            let sealed = key.seal(b"aad", b"attack at dawn").unwrap();
            assert_eq!(sealed.len(), NONCE_LEN + 14 + TAG_LEN);
            assert_eq!(
                key.open(b"aad", &sealed).unwrap().expose_secret(),
                b"attack at dawn"
            );
            assert_ne!(
                key.seal(b"aad", b"attack at dawn").unwrap(),
                sealed,
                "fresh nonces"
            );
            assert_eq!(key.open(b"AAD", &sealed).unwrap_err(), Error::decryption());
            for i in 0..sealed.len() {
                let mut bad = sealed.clone();
                bad[i] ^= 0x04;
                assert_eq!(
                    key.open(b"aad", &bad).unwrap_err(),
                    Error::decryption(),
                    "{alg} byte {i}"
                );
            }
            for len in 0..sealed.len() {
                assert!(key.open(b"aad", &sealed[..len]).is_err());
            }
            let (other, _) = AeadKey::generate(alg).unwrap();
            assert!(other.open(b"aad", &sealed).is_err());
        }
    }

    #[test]
    fn empty_plaintext_and_wrong_key_length() {
        let (key, _) = AeadKey::generate(AeadAlgorithm::Aes256Gcm).unwrap();
        let sealed = key.seal(b"", b"").unwrap();
        assert!(key.open(b"", &sealed).unwrap().is_empty());
        assert!(AeadKey::new(AeadAlgorithm::Aes256Gcm, &[0; 16]).is_err());
        assert!(AeadKey::new(AeadAlgorithm::Aes128Gcm, &[0; 32]).is_err());
        assert!(!format!("{key:?}").contains('0'));
    }
}
