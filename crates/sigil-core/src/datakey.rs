//! Envelope encryption: every object gets a fresh AES-256-GCM data key (DEK), the DEK is
//! wrapped by a key-encryption keyset (KEK), and the output carries both.
//!
//! Rotating the KEK does not require touching the data: old objects keep their wrapped DEK and
//! open while the KEK version that wrapped it is allowed; rewrapping replaces only the small
//! wrapped DEK. Layout of [`Sealed`] (all integers big-endian):
//!
//! ```text
//! "SGDK" || 0x01 (format) || KEK version (u32) || wrapped DEK length (u16) || wrapped DEK
//!        || data nonce (12) || data ciphertext || tag (16)
//! ```
//!
//! The wrapped DEK is `nonce || ct || tag` from the KEK with associated data
//! `"sigil.datakey.v1" || object AAD`; the data is encrypted under the DEK with associated data
//! `header || object AAD`, where the header is everything before the data nonce. So the object's
//! AAD binds both layers and no part of the header can be changed or swapped.

use crate::aead::{AeadAlgorithm, AeadKey, NONCE_LEN, TAG_LEN};
use crate::error::{Error, Result};
use crate::keyset::{Ciphertext, Keyset};
use crate::secret::SecretBytes;

const MAGIC: &[u8; 4] = b"SGDK";
const FORMAT: u8 = 1;
const WRAP_LABEL: &[u8] = b"sigil.datakey.v1";
const HEADER_FIXED: usize = 4 + 1 + 4 + 2;

/// A sealed object: the wrapped data key and the data encrypted under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The KEK version that wrapped the data key.
    pub kek_version: u32,
    /// The wrapped data key (`nonce || ct || tag`).
    pub wrapped_key: Vec<u8>,
    /// The data nonce.
    pub nonce: [u8; NONCE_LEN],
    /// The data ciphertext with its tag.
    pub ciphertext: Vec<u8>,
}

impl Sealed {
    fn header(&self) -> Result<Vec<u8>> {
        let len = u16::try_from(self.wrapped_key.len())
            .map_err(|_| Error::malformed("sealed object", "wrapped key too long"))?;
        let mut h = Vec::with_capacity(HEADER_FIXED + self.wrapped_key.len());
        h.extend_from_slice(MAGIC);
        h.push(FORMAT);
        h.extend_from_slice(&self.kek_version.to_be_bytes());
        h.extend_from_slice(&len.to_be_bytes());
        h.extend_from_slice(&self.wrapped_key);
        Ok(h)
    }

    /// The binary form.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = self.header()?;
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.ciphertext);
        Ok(out)
    }

    /// Parses the binary form; refuses other formats and truncated input.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let bad = |why: &str| Error::malformed("sealed object", why.to_owned());
        if bytes.len() < HEADER_FIXED {
            return Err(bad("too short"));
        }
        if &bytes[..4] != MAGIC {
            return Err(bad("not a Sigil sealed object"));
        }
        if bytes[4] != FORMAT {
            return Err(Error::unsupported(format!(
                "sealed object format {}",
                bytes[4]
            )));
        }
        let kek_version = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]);
        let wrapped_len = usize::from(u16::from_be_bytes([bytes[9], bytes[10]]));
        let rest = &bytes[HEADER_FIXED..];
        if rest.len() < wrapped_len + NONCE_LEN + TAG_LEN {
            return Err(bad("truncated"));
        }
        let (wrapped_key, rest) = rest.split_at(wrapped_len);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        Ok(Self {
            kek_version,
            wrapped_key: wrapped_key.to_vec(),
            nonce: nonce.try_into().map_err(|_| bad("nonce"))?,
            ciphertext: ciphertext.to_vec(),
        })
    }
}

fn wrap_aad(aad: &[u8]) -> Vec<u8> {
    [WRAP_LABEL, aad].concat()
}

/// A fresh 256-bit data key and its wrapped form (Vault transit's `datakey`).
pub fn generate_data_key(kek: &Keyset, aad: &[u8]) -> Result<(SecretBytes, Ciphertext)> {
    let dek = crate::random::secret_bytes(AeadAlgorithm::Aes256Gcm.key_len())?;
    let wrapped = kek.encrypt(dek.expose_secret(), &wrap_aad(aad))?;
    Ok((dek, wrapped))
}

/// Unwraps a data key made by [`generate_data_key`].
pub fn unwrap_data_key(kek: &Keyset, wrapped: &Ciphertext, aad: &[u8]) -> Result<SecretBytes> {
    let dek = kek.decrypt(wrapped, &wrap_aad(aad))?;
    if dek.len() != AeadAlgorithm::Aes256Gcm.key_len() {
        return Err(Error::decryption());
    }
    Ok(dek)
}

/// Encrypts `plaintext` under a fresh data key wrapped by `kek`.
pub fn seal(kek: &Keyset, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
    let (dek, wrapped) = generate_data_key(kek, aad)?;
    let key = AeadKey::new(AeadAlgorithm::Aes256Gcm, dek.expose_secret())?;
    let mut sealed = Sealed {
        kek_version: wrapped.version,
        wrapped_key: wrapped.body,
        nonce: crate::random::array::<NONCE_LEN>()?,
        ciphertext: Vec::new(),
    };
    let data_aad = [sealed.header()?.as_slice(), aad].concat();
    sealed.ciphertext = key.seal_with_nonce(&sealed.nonce, &data_aad, plaintext)?;
    sealed.encode()
}

/// Opens an object made by [`seal`].
pub fn open(kek: &Keyset, sealed: &[u8], aad: &[u8]) -> Result<SecretBytes> {
    let sealed = Sealed::decode(sealed)?;
    let wrapped = Ciphertext {
        version: sealed.kek_version,
        body: sealed.wrapped_key.clone(),
    };
    let dek = unwrap_data_key(kek, &wrapped, aad)?;
    let key = AeadKey::new(AeadAlgorithm::Aes256Gcm, dek.expose_secret())?;
    let data_aad = [sealed.header()?.as_slice(), aad].concat();
    key.open_with_nonce(&sealed.nonce, &data_aad, &sealed.ciphertext)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyset::KeyKind;

    fn new_kek() -> Keyset {
        Keyset::generate("kek", KeyKind::Aead(AeadAlgorithm::Aes256Gcm), 1).unwrap()
    }

    #[test]
    fn round_trip_across_rotation() {
        let mut kek = new_kek();
        let sealed = seal(&kek, b"customer record", b"id=7").unwrap();
        kek.rotate(2).unwrap();
        assert_eq!(
            open(&kek, &sealed, b"id=7").unwrap().expose_secret(),
            b"customer record"
        );
        let newer = seal(&kek, b"x", b"").unwrap();
        assert_eq!(Sealed::decode(&newer).unwrap().kek_version, 2);
        kek.set_min_decryption_version(2).unwrap();
        assert!(open(&kek, &sealed, b"id=7").is_err());
    }

    #[test]
    fn tampering_and_wrong_aad() {
        let kek = new_kek();
        let sealed = seal(&kek, b"payload", b"aad").unwrap();
        assert!(open(&kek, &sealed, b"aaD").is_err());
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x10;
            assert!(open(&kek, &bad, b"aad").is_err(), "byte {i}");
        }
        for len in 0..sealed.len() {
            assert!(open(&kek, &sealed[..len], b"aad").is_err(), "len {len}");
        }
        assert!(open(&new_kek(), &sealed, b"aad").is_err(), "another KEK");
        // A wrapped key moved from another object does not open this one.
        let other = Sealed::decode(&seal(&kek, b"other", b"aad").unwrap()).unwrap();
        let mut mine = Sealed::decode(&sealed).unwrap();
        mine.wrapped_key = other.wrapped_key;
        assert!(open(&kek, &mine.encode().unwrap(), b"aad").is_err());
    }

    #[test]
    fn data_keys_unwrap() {
        let kek = new_kek();
        let (dek, wrapped) = generate_data_key(&kek, b"ctx").unwrap();
        assert_eq!(dek.len(), 32);
        assert_eq!(unwrap_data_key(&kek, &wrapped, b"ctx").unwrap(), dek);
        assert!(unwrap_data_key(&kek, &wrapped, b"").is_err());
    }
}
