//! Hashes, extendable-output functions, HMAC and HKDF.
//!
//! A hash has no key: anyone can recompute it, so it proves integrity only against a digest
//! obtained some trusted way. A MAC needs a secret key and proves the data came from someone
//! holding it. SHA-2, SHA-3 (but SHA3-224), HMAC and HKDF come from aws-lc-rs; SHAKE and
//! SHA3-224, which aws-lc-rs does not expose, from RustCrypto's `sha3`.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::{digest, hkdf, hmac};
use sha3::Digest as _;
use sha3::digest::{ExtendableOutput as _, Update as _, XofReader as _};

use crate::error::{Error, Result};
use crate::secret::SecretBytes;

/// A hash function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// SHA-224 (FIPS 180-4).
    Sha224,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
    /// SHA3-224 (FIPS 202).
    Sha3_224,
    /// SHA3-256.
    Sha3_256,
    /// SHA3-384.
    Sha3_384,
    /// SHA3-512.
    Sha3_512,
}

impl HashAlgorithm {
    /// Every algorithm, in the order the CLI lists them.
    pub const ALL: [Self; 8] = [
        Self::Sha224,
        Self::Sha256,
        Self::Sha384,
        Self::Sha512,
        Self::Sha3_224,
        Self::Sha3_256,
        Self::Sha3_384,
        Self::Sha3_512,
    ];

    /// The name Sigil uses ("sha256", "sha3-256", ...).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sha224 => "sha224",
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
            Self::Sha3_224 => "sha3-224",
            Self::Sha3_256 => "sha3-256",
            Self::Sha3_384 => "sha3-384",
            Self::Sha3_512 => "sha3-512",
        }
    }

    /// Vault transit's name for it ("sha2-256", "sha3-256", ...).
    pub const fn vault_name(self) -> &'static str {
        match self {
            Self::Sha224 => "sha2-224",
            Self::Sha256 => "sha2-256",
            Self::Sha384 => "sha2-384",
            Self::Sha512 => "sha2-512",
            other => other.name(),
        }
    }

    /// Digest length in bytes.
    pub const fn output_len(self) -> usize {
        match self {
            Self::Sha224 | Self::Sha3_224 => 28,
            Self::Sha256 | Self::Sha3_256 => 32,
            Self::Sha384 | Self::Sha3_384 => 48,
            Self::Sha512 | Self::Sha3_512 => 64,
        }
    }

    fn aws(self) -> Option<&'static digest::Algorithm> {
        match self {
            Self::Sha224 => Some(&digest::SHA224),
            Self::Sha256 => Some(&digest::SHA256),
            Self::Sha384 => Some(&digest::SHA384),
            Self::Sha512 => Some(&digest::SHA512),
            Self::Sha3_224 => None,
            Self::Sha3_256 => Some(&digest::SHA3_256),
            Self::Sha3_384 => Some(&digest::SHA3_384),
            Self::Sha3_512 => Some(&digest::SHA3_512),
        }
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HashAlgorithm {
    type Err = Error;

    /// Accepts Sigil's names and Vault's (`sha2-256`).
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name() == s || a.vault_name() == s)
            .ok_or_else(|| Error::unsupported(format!("unknown hash algorithm {s:?}")))
    }
}

/// The digest of `data`.
pub fn digest(alg: HashAlgorithm, data: &[u8]) -> Vec<u8> {
    let mut h = Hasher::new(alg);
    h.update(data);
    h.finish()
}

/// A streaming hash.
pub struct Hasher(HasherInner);

enum HasherInner {
    Aws(digest::Context),
    Sha3_224(Box<sha3::Sha3_224>),
}

impl Hasher {
    /// A new hash computation.
    pub fn new(alg: HashAlgorithm) -> Self {
        match alg.aws() {
            Some(a) => Self(HasherInner::Aws(digest::Context::new(a))),
            None => Self(HasherInner::Sha3_224(Box::new(sha3::Sha3_224::new()))),
        }
    }

    /// Feeds more data.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.0 {
            HasherInner::Aws(c) => c.update(data),
            HasherInner::Sha3_224(h) => sha3::Digest::update(h.as_mut(), data),
        }
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Vec<u8> {
        match self.0 {
            HasherInner::Aws(c) => c.finish().as_ref().to_vec(),
            HasherInner::Sha3_224(h) => h.finalize().to_vec(),
        }
    }
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hasher")
    }
}

/// An extendable-output function (FIPS 202 SHAKE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum XofAlgorithm {
    /// SHAKE128 (128-bit security).
    Shake128,
    /// SHAKE256 (256-bit security).
    Shake256,
}

impl XofAlgorithm {
    /// The name Sigil uses ("shake128", "shake256").
    pub const fn name(self) -> &'static str {
        match self {
            Self::Shake128 => "shake128",
            Self::Shake256 => "shake256",
        }
    }

    /// The output length that gives the function's full security: 32 bytes for SHAKE128, 64
    /// for SHAKE256.
    pub const fn default_len(self) -> usize {
        match self {
            Self::Shake128 => 32,
            Self::Shake256 => 64,
        }
    }
}

impl FromStr for XofAlgorithm {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "shake128" => Ok(Self::Shake128),
            "shake256" => Ok(Self::Shake256),
            _ => Err(Error::unsupported(format!("unknown XOF {s:?}"))),
        }
    }
}

/// The largest XOF output Sigil produces in one call (1 MiB).
pub const MAX_XOF_LEN: usize = 1024 * 1024;

/// A streaming SHAKE computation.
pub struct XofHasher(XofInner);

enum XofInner {
    Shake128(sha3::Shake128),
    Shake256(sha3::Shake256),
}

impl XofHasher {
    /// A new computation.
    pub fn new(alg: XofAlgorithm) -> Self {
        Self(match alg {
            XofAlgorithm::Shake128 => XofInner::Shake128(sha3::Shake128::default()),
            XofAlgorithm::Shake256 => XofInner::Shake256(sha3::Shake256::default()),
        })
    }

    /// Feeds more data.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.0 {
            XofInner::Shake128(h) => h.update(data),
            XofInner::Shake256(h) => h.update(data),
        }
    }

    /// `out_len` bytes of output (1..=[`MAX_XOF_LEN`]).
    pub fn finish(self, out_len: usize) -> Result<Vec<u8>> {
        if out_len == 0 {
            return Err(Error::unsupported("XOF output length must be at least 1"));
        }
        if out_len > MAX_XOF_LEN {
            return Err(Error::TooLarge {
                what: "XOF output length",
                limit: MAX_XOF_LEN as u64,
            });
        }
        let mut out = vec![0; out_len];
        match self.0 {
            XofInner::Shake128(h) => h.finalize_xof().read(&mut out),
            XofInner::Shake256(h) => h.finalize_xof().read(&mut out),
        }
        Ok(out)
    }
}

impl fmt::Debug for XofHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("XofHasher")
    }
}

/// `out_len` bytes of SHAKE output over `data`.
pub fn shake(alg: XofAlgorithm, data: &[u8], out_len: usize) -> Result<Vec<u8>> {
    let mut h = XofHasher::new(alg);
    h.update(data);
    h.finish(out_len)
}

/// An HMAC algorithm (RFC 2104 with SHA-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MacAlgorithm {
    /// HMAC-SHA-256.
    HmacSha256,
    /// HMAC-SHA-384.
    HmacSha384,
    /// HMAC-SHA-512.
    HmacSha512,
}

impl MacAlgorithm {
    /// Every algorithm.
    pub const ALL: [Self; 3] = [Self::HmacSha256, Self::HmacSha384, Self::HmacSha512];

    /// The name Sigil uses ("hmac-sha256", ...).
    pub const fn name(self) -> &'static str {
        match self {
            Self::HmacSha256 => "hmac-sha256",
            Self::HmacSha384 => "hmac-sha384",
            Self::HmacSha512 => "hmac-sha512",
        }
    }

    /// The underlying hash.
    pub const fn hash(self) -> HashAlgorithm {
        match self {
            Self::HmacSha256 => HashAlgorithm::Sha256,
            Self::HmacSha384 => HashAlgorithm::Sha384,
            Self::HmacSha512 => HashAlgorithm::Sha512,
        }
    }

    /// Tag length in bytes.
    pub const fn tag_len(self) -> usize {
        self.hash().output_len()
    }

    /// The HMAC for `hash`, if SHA-2 (SHA-2 only: HMAC over SHA-3 has no use here).
    pub fn for_hash(hash: HashAlgorithm) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.hash() == hash)
            .ok_or_else(|| Error::unsupported(format!("HMAC with {hash} is not supported")))
    }

    fn aws(self) -> hmac::Algorithm {
        match self {
            Self::HmacSha256 => hmac::HMAC_SHA256,
            Self::HmacSha384 => hmac::HMAC_SHA384,
            Self::HmacSha512 => hmac::HMAC_SHA512,
        }
    }
}

impl fmt::Display for MacAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for MacAlgorithm {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| Error::unsupported(format!("unknown MAC algorithm {s:?}")))
    }
}

/// An HMAC key.
#[derive(Clone)]
pub struct MacKey {
    alg: MacAlgorithm,
    key: hmac::Key,
}

impl MacKey {
    /// A key from `bytes`. Any non-empty length is allowed (RFC 2104); keys shorter than the
    /// hash output weaken the MAC and callers generating keys should use [`MacKey::generate`].
    pub fn new(alg: MacAlgorithm, bytes: &[u8]) -> Result<Self> {
        if bytes.is_empty() {
            return Err(Error::malformed("MAC key", "it is empty"));
        }
        Ok(Self {
            alg,
            key: hmac::Key::new(alg.aws(), bytes),
        })
    }

    /// A random key as long as the hash output, and its bytes.
    pub fn generate(alg: MacAlgorithm) -> Result<(Self, SecretBytes)> {
        let bytes = crate::random::secret_bytes(alg.tag_len())?;
        Ok((Self::new(alg, bytes.expose_secret())?, bytes))
    }

    /// The algorithm.
    pub fn algorithm(&self) -> MacAlgorithm {
        self.alg
    }

    /// The tag over `data`.
    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        hmac::sign(&self.key, data).as_ref().to_vec()
    }

    /// Checks `tag` over `data` in constant time. Truncated tags are refused.
    pub fn verify(&self, data: &[u8], tag: &[u8]) -> Result<()> {
        hmac::verify(&self.key, data, tag).map_err(|_| Error::bad_mac())
    }

    /// A streaming computation.
    pub fn context(&self) -> MacContext {
        MacContext {
            inner: hmac::Context::with_key(&self.key),
        }
    }
}

impl fmt::Debug for MacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MacKey")
            .field("alg", &self.alg)
            .field("key", &format_args!("[redacted]"))
            .finish()
    }
}

/// A streaming HMAC.
pub struct MacContext {
    inner: hmac::Context,
}

impl MacContext {
    /// Feeds more data.
    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
    }

    /// The tag.
    pub fn finish(self) -> Vec<u8> {
        self.inner.sign().as_ref().to_vec()
    }

    /// Checks the tag in constant time.
    pub fn verify(self, tag: &[u8]) -> Result<()> {
        let computed = self.inner.sign();
        if tag.len() == computed.as_ref().len()
            && subtle::ConstantTimeEq::ct_eq(computed.as_ref(), tag).into()
        {
            Ok(())
        } else {
            Err(Error::bad_mac())
        }
    }
}

impl fmt::Debug for MacContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MacContext")
    }
}

/// HMAC (RFC 2104) over any [`HashAlgorithm`]: aws-lc for the SHA-2 family, RustCrypto's
/// `hmac` for SHA-3 (HMAC over SHA-3 is an approved use in FIPS 202). Vault transit's
/// `hmac` endpoint offers all of them.
pub fn hmac_any(alg: HashAlgorithm, key: &[u8], data: &[u8]) -> Vec<u8> {
    use hmac_crate::Mac as _;
    // HMAC takes keys of any length, so `new_from_slice` cannot fail.
    macro_rules! sha3 {
        ($d:ty) => {
            match <hmac_crate::Hmac<$d> as hmac_crate::Mac>::new_from_slice(key) {
                Ok(mut mac) => {
                    hmac_crate::Mac::update(&mut mac, data);
                    mac.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            }
        };
    }
    let aws = match alg {
        HashAlgorithm::Sha224 => hmac::HMAC_SHA224,
        HashAlgorithm::Sha256 => hmac::HMAC_SHA256,
        HashAlgorithm::Sha384 => hmac::HMAC_SHA384,
        HashAlgorithm::Sha512 => hmac::HMAC_SHA512,
        HashAlgorithm::Sha3_224 => return sha3!(sha3::Sha3_224),
        HashAlgorithm::Sha3_256 => return sha3!(sha3::Sha3_256),
        HashAlgorithm::Sha3_384 => return sha3!(sha3::Sha3_384),
        HashAlgorithm::Sha3_512 => return sha3!(sha3::Sha3_512),
    };
    hmac::sign(&hmac::Key::new(aws, key), data)
        .as_ref()
        .to_vec()
}

/// HKDF (RFC 5869) with a SHA-2 hash: `out_len` bytes of key material.
pub fn hkdf(
    alg: HashAlgorithm,
    ikm: &[u8],
    salt: &[u8],
    info: &[u8],
    out_len: usize,
) -> Result<SecretBytes> {
    let h = match alg {
        HashAlgorithm::Sha256 => hkdf::HKDF_SHA256,
        HashAlgorithm::Sha384 => hkdf::HKDF_SHA384,
        HashAlgorithm::Sha512 => hkdf::HKDF_SHA512,
        other => return Err(Error::unsupported(format!("HKDF with {other}"))),
    };
    if out_len == 0 || out_len > 255 * alg.output_len() {
        return Err(Error::unsupported(format!(
            "HKDF output length must be 1..={}",
            255 * alg.output_len()
        )));
    }
    let prk = hkdf::Salt::new(h, salt).extract(ikm);
    let info = [info];
    let okm = prk
        .expand(&info, Len(out_len))
        .map_err(|_| Error::Internal("HKDF expand"))?;
    let mut out = SecretBytes::zeroed(out_len);
    okm.fill(out.expose_secret_mut())
        .map_err(|_| Error::Internal("HKDF fill"))?;
    Ok(out)
}

/// An HKDF output length for aws-lc-rs.
struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::hex_encode;

    fn hex(alg: HashAlgorithm, data: &[u8]) -> String {
        hex_encode(&digest(alg, data))
    }

    #[test]
    fn hmac_any_matches_rfc_4231_and_the_sha3_vectors() {
        let (key, data) = (b"Jefe", b"what do ya want for nothing?");
        let cases = [
            (
                HashAlgorithm::Sha224,
                "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44",
            ),
            (
                HashAlgorithm::Sha256,
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                HashAlgorithm::Sha3_256,
                "c7d4072e788877ae3596bbb0da73b887c9171f93095b294ae857fbe2645e1ba5",
            ),
            (
                HashAlgorithm::Sha3_512,
                "5a4bfeab6166427c7a3647b747292b8384537cdb89afb3bf5665e4c5e709350b\
                 287baec921fd7ca0ee7a0c31d022a95e1fc92ba9d77df883960275beb4e62024",
            ),
        ];
        for (alg, want) in cases {
            assert_eq!(hex_encode(&hmac_any(alg, key, data)), want, "{alg}");
        }
        for alg in HashAlgorithm::ALL {
            assert_eq!(hmac_any(alg, b"k", b"m").len(), alg.output_len());
        }
    }

    #[test]
    fn fips_examples() {
        // FIPS 180-4 / FIPS 202 examples for "abc" and the empty string.
        assert_eq!(
            hex(HashAlgorithm::Sha256, b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(HashAlgorithm::Sha224, b"abc"),
            "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"
        );
        assert_eq!(
            hex(HashAlgorithm::Sha3_256, b""),
            "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"
        );
        assert_eq!(
            hex(HashAlgorithm::Sha3_224, b"abc"),
            "e642824c3f8cf24ad09234ee7d3c766fc9a3a5168d0c94ad73b46fdf"
        );
        assert_eq!(
            hex(HashAlgorithm::Sha3_512, b"abc"),
            "b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240d2712e10e116e9192af3c91a7ec57647e3934057340b4cf408d5a56592f8274eec53f0"
        );
        assert_eq!(
            hex_encode(&shake(XofAlgorithm::Shake128, b"", 32).unwrap()),
            "7f9c2ba4e88f827d616045507605853ed73b8093f6efbc88eb1a6eacfa66ef26"
        );
        assert_eq!(
            hex_encode(&shake(XofAlgorithm::Shake256, b"", 32).unwrap()),
            "46b9dd2b0ba88d13233b3feb743eeb243fcd52ea62b81b82b50c27646ed5762f"
        );
    }

    #[test]
    fn streaming_equals_one_shot() {
        let data = vec![0x5au8; 100_000];
        for alg in HashAlgorithm::ALL {
            let mut h = Hasher::new(alg);
            for chunk in data.chunks(777) {
                h.update(chunk);
            }
            let out = h.finish();
            assert_eq!(out, digest(alg, &data), "{alg}");
            assert_eq!(out.len(), alg.output_len(), "{alg}");
        }
    }

    #[test]
    fn rfc4231_case_2() {
        let key = MacKey::new(MacAlgorithm::HmacSha256, b"Jefe").unwrap();
        let tag = key.sign(b"what do ya want for nothing?");
        assert_eq!(
            hex_encode(&tag),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        key.verify(b"what do ya want for nothing?", &tag).unwrap();
        let mut ctx = key.context();
        ctx.update(b"what do ya want ");
        ctx.update(b"for nothing?");
        ctx.verify(&tag).unwrap();
        assert_eq!(
            key.verify(b"what do ya want for nothing!", &tag),
            Err(Error::bad_mac())
        );
        assert_eq!(
            key.verify(b"what do ya want for nothing?", &tag[..16]),
            Err(Error::bad_mac())
        );
        assert!(MacKey::new(MacAlgorithm::HmacSha256, b"").is_err());
        assert!(!format!("{key:?}").contains("Jefe"));
    }

    #[test]
    fn names_parse() {
        for a in HashAlgorithm::ALL {
            assert_eq!(a.name().parse::<HashAlgorithm>().unwrap(), a);
            assert_eq!(a.vault_name().parse::<HashAlgorithm>().unwrap(), a);
        }
        assert!("md5".parse::<HashAlgorithm>().is_err());
        assert!(shake(XofAlgorithm::Shake256, b"", 0).is_err());
        assert!(shake(XofAlgorithm::Shake256, b"", MAX_XOF_LEN + 1).is_err());
    }
}
