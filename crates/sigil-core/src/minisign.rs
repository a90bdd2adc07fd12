//! The minisign formats (<https://jedisct1.github.io/minisign/>): public keys, secret keys and
//! signatures, on Ed25519 (aws-lc-rs) and BLAKE2b-512 (RustCrypto `blake2`).
//!
//! ```text
//! public key   untrusted comment: minisign public key <KEY ID>
//!              base64("Ed" || key id (8) || Ed25519 public key (32))
//! signature    untrusted comment: <text>
//!              base64(alg (2) || key id (8) || Ed25519 signature (64))
//!              trusted comment: <text>
//!              base64(Ed25519 signature over (signature || trusted comment))
//! secret key   untrusted comment: <text>
//!              base64("Ed" || kdf "Sc"|"\0\0" || "B2" || salt (32) || opslimit (8, LE)
//!                     || memlimit (8, LE) || key id (8) || seed‖public (64) || checksum (32))
//! ```
//!
//! `alg` is `ED` for the default prehashed signatures (the signed message is BLAKE2b-512 of the
//! file, so files of any size stream) and `Ed` for legacy signatures over the file itself. The
//! trusted comment is covered by the second ("global") signature; the untrusted one is not.
//! Encrypted secret keys (`Sc`) XOR the key-id/key/checksum block with a scrypt stream derived
//! from the password, using libsodium's opslimit/memlimit → (N, r, p) mapping; the checksum is
//! BLAKE2b-256 of `"Ed" || key id || secret key`. minisign leaves the checksum of unencrypted
//! keys zeroed and does not check it; Sigil writes and checks it when present.
//!
//! Key ids are shown as minisign shows them: the 8 bytes read as a little-endian integer, in
//! upper-case hex. A PKCS#8 Ed25519 key signing in this format gets the key id
//! `SHA-256(public key)[..8]`, so the same key always has the same id.

use std::fmt;

use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use blake2::digest::consts::U32;
use blake2::{Blake2b, Blake2b512, Digest as _};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::hash::{HashAlgorithm, digest};
use crate::secret::SecretString;

const UNTRUSTED: &str = "untrusted comment: ";
const TRUSTED: &str = "trusted comment: ";
const MAX_COMMENT: usize = 8192;
const SECRET_KEY_LEN: usize = 158;

/// A minisign public key.
#[derive(Clone, PartialEq, Eq)]
pub struct MinisignPublicKey {
    key_id: [u8; 8],
    pk: [u8; 32],
}

impl MinisignPublicKey {
    /// Parses a public key file (comment line + base64 line) or the bare base64 line that
    /// `minisign -P` takes.
    pub fn from_text(text: &str) -> Result<Self> {
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let b64 = match lines[..] {
            [only] => only,
            [comment, line] if comment.starts_with(UNTRUSTED) => line,
            _ => {
                return Err(Error::malformed(
                    "minisign public key",
                    "expected an untrusted comment line and a base64 line",
                ));
            }
        };
        let raw = decode_exact::<42>(b64, "minisign public key")?;
        if &raw[..2] != b"Ed" {
            return Err(Error::unsupported(
                "minisign public key algorithm (only Ed25519)",
            ));
        }
        let mut key_id = [0; 8];
        key_id.copy_from_slice(&raw[2..10]);
        let mut pk = [0; 32];
        pk.copy_from_slice(&raw[10..]);
        Ok(Self { key_id, pk })
    }

    /// A public key from a raw Ed25519 key and a key id.
    pub fn from_ed25519(pk: [u8; 32], key_id: [u8; 8]) -> Self {
        Self { key_id, pk }
    }

    /// The public key file minisign writes.
    pub fn to_text(&self) -> String {
        let mut raw = Vec::with_capacity(42);
        raw.extend_from_slice(b"Ed");
        raw.extend_from_slice(&self.key_id);
        raw.extend_from_slice(&self.pk);
        format!(
            "{UNTRUSTED}minisign public key {}\n{}\n",
            self.key_id_hex(),
            B64.encode(raw)
        )
    }

    /// The key id as minisign prints it.
    pub fn key_id_hex(&self) -> String {
        key_id_hex(&self.key_id)
    }

    /// The raw Ed25519 public key.
    pub fn ed25519(&self) -> [u8; 32] {
        self.pk
    }
}

impl fmt::Debug for MinisignPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MinisignPublicKey({})", self.key_id_hex())
    }
}

/// A minisign secret key.
pub struct MinisignSecretKey {
    key_id: [u8; 8],
    seed: Zeroizing<[u8; 32]>,
    pair: Ed25519KeyPair,
}

impl MinisignSecretKey {
    /// A new random key with a random key id.
    pub fn generate() -> Result<Self> {
        let seed = Zeroizing::new(crate::random::array::<32>()?);
        Self::from_ed25519_seed(&seed, crate::random::array::<8>()?)
    }

    /// A key from an Ed25519 seed (RFC 8032 private key) and a key id.
    pub fn from_ed25519_seed(seed: &[u8; 32], key_id: [u8; 8]) -> Result<Self> {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed)
            .map_err(|_| Error::malformed("Ed25519 seed", "rejected"))?;
        Ok(Self {
            key_id,
            seed: Zeroizing::new(*seed),
            pair,
        })
    }

    /// The key id Sigil gives a PKCS#8 Ed25519 key used in minisign format.
    pub fn derived_key_id(public: &[u8; 32]) -> [u8; 8] {
        let h = digest(HashAlgorithm::Sha256, public);
        let mut id = [0; 8];
        id.copy_from_slice(&h[..8]);
        id
    }

    /// Whether a secret key file is password-protected.
    pub fn is_encrypted(text: &str) -> Result<bool> {
        let raw = secret_key_bytes(text)?;
        Ok(&raw[2..4] == b"Sc")
    }

    /// Parses a secret key file; `password` is needed for encrypted keys.
    pub fn from_text(text: &str, password: Option<&SecretString>) -> Result<Self> {
        let mut raw = secret_key_bytes(text)?;
        if &raw[..2] != b"Ed" {
            return Err(Error::unsupported("minisign key algorithm (only Ed25519)"));
        }
        if &raw[4..6] != b"B2" {
            return Err(Error::unsupported("minisign checksum algorithm (only B2)"));
        }
        let encrypted = match &raw[2..4] {
            b"Sc" => true,
            b"\0\0" => false,
            _ => return Err(Error::unsupported("minisign key derivation function")),
        };
        if encrypted {
            let password = password.ok_or_else(|| {
                Error::unsupported("this minisign secret key is encrypted: a password is needed")
            })?;
            let salt = &raw[6..38];
            let ops = u64::from_le_bytes(raw[38..46].try_into().map_err(internal)?);
            let mem = u64::from_le_bytes(raw[46..54].try_into().map_err(internal)?);
            let stream = scrypt_stream(password.expose_secret().as_bytes(), salt, ops, mem)?;
            for (b, s) in raw[54..].iter_mut().zip(stream.iter()) {
                *b ^= s;
            }
        }
        let key_id: [u8; 8] = raw[54..62].try_into().map_err(internal)?;
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(raw[62..94].try_into().map_err(internal)?);
        let public = &raw[94..126];
        let chk = &raw[126..158];
        let expected = checksum(&key_id, &raw[62..126]);
        let zero = chk.iter().all(|b| *b == 0);
        if !(chk == expected.as_slice() || (!encrypted && zero)) {
            return Err(if encrypted {
                Error::decryption()
            } else {
                Error::malformed("minisign secret key", "checksum mismatch (corrupted file)")
            });
        }
        let key = Self::from_ed25519_seed(&seed, key_id)?;
        if key.pair.public_key().as_ref() != public {
            return Err(Error::malformed(
                "minisign secret key",
                "the public half does not match the secret key",
            ));
        }
        raw.fill(0);
        Ok(key)
    }

    /// An unencrypted secret key file (with a checksum).
    pub fn to_text(&self) -> SecretString {
        let mut raw = Zeroizing::new(Vec::with_capacity(SECRET_KEY_LEN));
        raw.extend_from_slice(b"Ed\0\0B2");
        raw.extend_from_slice(&[0; 32 + 8 + 8]);
        raw.extend_from_slice(&self.key_id);
        raw.extend_from_slice(self.seed.as_slice());
        raw.extend_from_slice(self.pair.public_key().as_ref());
        let chk = checksum(&self.key_id, &raw[62..126]);
        raw.extend_from_slice(&chk);
        let encoded = Zeroizing::new(B64.encode(raw.as_slice()));
        SecretString::new(format!(
            "{UNTRUSTED}minisign secret key (unencrypted)\n{}\n",
            encoded.as_str()
        ))
    }

    /// The public key.
    pub fn public_key(&self) -> MinisignPublicKey {
        let mut pk = [0; 32];
        pk.copy_from_slice(self.pair.public_key().as_ref());
        MinisignPublicKey {
            key_id: self.key_id,
            pk,
        }
    }
}

impl fmt::Debug for MinisignSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MinisignSecretKey({}, [redacted])",
            key_id_hex(&self.key_id)
        )
    }
}

fn secret_key_bytes(text: &str) -> Result<Zeroizing<Vec<u8>>> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let [comment, line] = lines[..] else {
        return Err(Error::malformed(
            "minisign secret key",
            "expected an untrusted comment line and a base64 line",
        ));
    };
    if !comment.starts_with(UNTRUSTED) {
        return Err(Error::malformed(
            "minisign secret key",
            "the first line must be an untrusted comment",
        ));
    }
    let raw = Zeroizing::new(
        B64.decode(line)
            .map_err(|_| Error::malformed("minisign secret key", "invalid base64"))?,
    );
    if raw.len() != SECRET_KEY_LEN {
        return Err(Error::malformed(
            "minisign secret key",
            format!("expected {SECRET_KEY_LEN} bytes, found {}", raw.len()),
        ));
    }
    Ok(raw)
}

fn checksum(key_id: &[u8; 8], sk: &[u8]) -> [u8; 32] {
    let mut h = Blake2b::<U32>::new();
    h.update(b"Ed");
    h.update(key_id);
    h.update(sk);
    h.finalize().into()
}

/// The 104-byte scrypt stream for an encrypted key, with libsodium's mapping from
/// `crypto_pwhash_scryptsalsa208sha256` limits to scrypt's (N, r, p).
fn scrypt_stream(password: &[u8], salt: &[u8], ops: u64, mem: u64) -> Result<Zeroizing<[u8; 104]>> {
    let ops = ops.max(32_768);
    let r: u64 = 8;
    let max_n_of = |max_n: u64| -> u32 {
        let mut log_n = 1;
        while log_n < 63 && (1u64 << log_n) <= max_n / 2 {
            log_n += 1;
        }
        log_n
    };
    let (log_n, p) = if ops < mem / 32 {
        (max_n_of(ops / (r * 4)), 1)
    } else {
        let log_n = max_n_of(mem / (r * 128));
        let max_rp = ((ops / 4) / (1u64 << log_n)).min(0x3fff_ffff);
        (log_n, max_rp / r)
    };
    // minisign's strongest setting is 2^20 (1 GiB); refuse more, which only a hostile file asks.
    if log_n > 20 || p == 0 || p > 16 {
        return Err(Error::TooLarge {
            what: "minisign key derivation cost",
            limit: 1 << 20,
        });
    }
    // The last argument is the PHC output length, unused by raw `scrypt()` (which fills the
    // whole buffer); 32 is within the range the crate accepts.
    let params = scrypt::Params::new(log_n as u8, r as u32, p as u32, 32)
        .map_err(|_| Error::unsupported("minisign scrypt parameters"))?;
    let mut out = Zeroizing::new([0u8; 104]);
    scrypt::scrypt(password, salt, &params, out.as_mut_slice())
        .map_err(|_| Error::Internal("scrypt"))?;
    Ok(out)
}

/// How the file is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinisignAlgorithm {
    /// `ED`: the file's BLAKE2b-512 hash is signed (minisign's default).
    Prehashed,
    /// `Ed`: the file itself is signed.
    Legacy,
}

/// A minisign signature.
#[derive(Clone, PartialEq, Eq)]
pub struct MinisignSignature {
    algorithm: MinisignAlgorithm,
    key_id: [u8; 8],
    signature: [u8; 64],
    untrusted_comment: String,
    trusted_comment: String,
    global_signature: [u8; 64],
}

impl MinisignSignature {
    /// Parses a `.minisig` file: exactly four lines.
    pub fn from_text(text: &str) -> Result<Self> {
        if text.len() > 3 * MAX_COMMENT {
            return Err(Error::TooLarge {
                what: "minisign signature",
                limit: 3 * MAX_COMMENT as u64,
            });
        }
        let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
        let lines: Vec<&str> = match lines[..] {
            [.., ""] => lines[..lines.len() - 1].to_vec(),
            _ => lines,
        };
        let [untrusted, sig, trusted, global] = lines[..] else {
            return Err(Error::malformed(
                "minisign signature",
                format!("expected 4 lines, found {}", lines.len()),
            ));
        };
        let untrusted_comment = untrusted
            .strip_prefix(UNTRUSTED)
            .ok_or_else(|| {
                Error::malformed("minisign signature", "line 1 must be an untrusted comment")
            })?
            .to_owned();
        let trusted_comment = trusted
            .strip_prefix(TRUSTED)
            .ok_or_else(|| {
                Error::malformed("minisign signature", "line 3 must be a trusted comment")
            })?
            .to_owned();
        let raw = decode_exact::<74>(sig.trim(), "minisign signature")?;
        let algorithm = match &raw[..2] {
            b"ED" => MinisignAlgorithm::Prehashed,
            b"Ed" => MinisignAlgorithm::Legacy,
            _ => return Err(Error::unsupported("minisign signature algorithm")),
        };
        let global_signature = decode_exact::<64>(global.trim(), "minisign global signature")?;
        Ok(Self {
            algorithm,
            key_id: raw[2..10].try_into().map_err(internal)?,
            signature: raw[10..].try_into().map_err(internal)?,
            untrusted_comment,
            trusted_comment,
            global_signature,
        })
    }

    /// The `.minisig` text.
    pub fn to_text(&self) -> String {
        let alg: &[u8] = match self.algorithm {
            MinisignAlgorithm::Prehashed => b"ED",
            MinisignAlgorithm::Legacy => b"Ed",
        };
        let mut raw = Vec::with_capacity(74);
        raw.extend_from_slice(alg);
        raw.extend_from_slice(&self.key_id);
        raw.extend_from_slice(&self.signature);
        format!(
            "{UNTRUSTED}{}\n{}\n{TRUSTED}{}\n{}\n",
            self.untrusted_comment,
            B64.encode(raw),
            self.trusted_comment,
            B64.encode(self.global_signature)
        )
    }

    /// Prehashed or legacy.
    pub fn algorithm(&self) -> MinisignAlgorithm {
        self.algorithm
    }

    /// The signing key's id, as minisign prints it.
    pub fn key_id_hex(&self) -> String {
        key_id_hex(&self.key_id)
    }

    /// The trusted (signed) comment. Only meaningful after [`verify`] succeeded.
    pub fn trusted_comment(&self) -> &str {
        &self.trusted_comment
    }
}

impl fmt::Debug for MinisignSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MinisignSignature")
            .field("algorithm", &self.algorithm)
            .field("key_id", &self.key_id_hex())
            .field("trusted_comment", &self.trusted_comment)
            .finish_non_exhaustive()
    }
}

/// Streaming BLAKE2b-512, for prehashed signatures over large files.
#[derive(Default)]
pub struct Prehasher(Blake2b512);

impl Prehasher {
    /// A new hash.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds more of the file.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest.
    pub fn finish(self) -> [u8; 64] {
        self.0.finalize().into()
    }
}

impl fmt::Debug for Prehasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Prehasher")
    }
}

fn check_comment(comment: &str, which: &str) -> Result<()> {
    if comment.contains(['\n', '\r']) {
        return Err(Error::malformed(
            "minisign comment",
            format!("the {which} comment must be one line"),
        ));
    }
    if comment.len() > MAX_COMMENT - 64 {
        return Err(Error::TooLarge {
            what: "minisign comment",
            limit: (MAX_COMMENT - 64) as u64,
        });
    }
    Ok(())
}

fn finish_signature(
    sk: &MinisignSecretKey,
    algorithm: MinisignAlgorithm,
    signed: &[u8],
    trusted_comment: &str,
    untrusted_comment: &str,
) -> Result<MinisignSignature> {
    check_comment(trusted_comment, "trusted")?;
    check_comment(untrusted_comment, "untrusted")?;
    let mut signature = [0; 64];
    signature.copy_from_slice(sk.pair.sign(signed).as_ref());
    let mut global_input = Vec::with_capacity(64 + trusted_comment.len());
    global_input.extend_from_slice(&signature);
    global_input.extend_from_slice(trusted_comment.as_bytes());
    let mut global_signature = [0; 64];
    global_signature.copy_from_slice(sk.pair.sign(&global_input).as_ref());
    Ok(MinisignSignature {
        algorithm,
        key_id: sk.key_id,
        signature,
        untrusted_comment: untrusted_comment.to_owned(),
        trusted_comment: trusted_comment.to_owned(),
        global_signature,
    })
}

/// Signs `message` (prehashed or legacy).
pub fn sign(
    sk: &MinisignSecretKey,
    message: &[u8],
    trusted_comment: &str,
    untrusted_comment: &str,
    algorithm: MinisignAlgorithm,
) -> Result<MinisignSignature> {
    match algorithm {
        MinisignAlgorithm::Prehashed => {
            let mut h = Prehasher::new();
            h.update(message);
            sign_prehashed(sk, &h.finish(), trusted_comment, untrusted_comment)
        }
        MinisignAlgorithm::Legacy => {
            finish_signature(sk, algorithm, message, trusted_comment, untrusted_comment)
        }
    }
}

/// Signs a file's BLAKE2b-512 digest (an `ED` signature).
pub fn sign_prehashed(
    sk: &MinisignSecretKey,
    digest: &[u8; 64],
    trusted_comment: &str,
    untrusted_comment: &str,
) -> Result<MinisignSignature> {
    finish_signature(
        sk,
        MinisignAlgorithm::Prehashed,
        digest,
        trusted_comment,
        untrusted_comment,
    )
}

fn verify_signed(pk: &MinisignPublicKey, sig: &MinisignSignature, signed: &[u8]) -> Result<()> {
    if pk.key_id != sig.key_id {
        return Err(Error::KeyState(format!(
            "the signature was made by key {}, not {}",
            key_id_hex(&sig.key_id),
            key_id_hex(&pk.key_id)
        )));
    }
    let key = UnparsedPublicKey::new(&signature::ED25519, &pk.pk);
    key.verify(signed, &sig.signature)
        .map_err(|_| Error::bad_signature())?;
    let mut global_input = Vec::with_capacity(64 + sig.trusted_comment.len());
    global_input.extend_from_slice(&sig.signature);
    global_input.extend_from_slice(sig.trusted_comment.as_bytes());
    key.verify(&global_input, &sig.global_signature)
        .map_err(|_| Error::bad_signature())
}

/// Verifies `sig` over `message`, including the trusted comment.
pub fn verify(pk: &MinisignPublicKey, sig: &MinisignSignature, message: &[u8]) -> Result<()> {
    match sig.algorithm {
        MinisignAlgorithm::Prehashed => {
            let mut h = Prehasher::new();
            h.update(message);
            verify_signed(pk, sig, &h.finish())
        }
        MinisignAlgorithm::Legacy => verify_signed(pk, sig, message),
    }
}

/// Verifies a prehashed (`ED`) signature given the file's BLAKE2b-512 digest.
pub fn verify_prehashed(
    pk: &MinisignPublicKey,
    sig: &MinisignSignature,
    digest: &[u8; 64],
) -> Result<()> {
    if sig.algorithm != MinisignAlgorithm::Prehashed {
        return Err(Error::unsupported(
            "a legacy (Ed) signature covers the file itself, not its hash",
        ));
    }
    verify_signed(pk, sig, digest)
}

fn decode_exact<const N: usize>(b64: &str, what: &'static str) -> Result<[u8; N]> {
    let raw = B64
        .decode(b64)
        .map_err(|_| Error::malformed(what, "invalid base64"))?;
    raw.as_slice()
        .try_into()
        .map_err(|_| Error::malformed(what, format!("expected {N} bytes, found {}", raw.len())))
}

fn key_id_hex(id: &[u8; 8]) -> String {
    format!("{:016X}", u64::from_le_bytes(*id))
}

fn internal<E>(_: E) -> Error {
    Error::Internal("minisign field slicing")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_both_algorithms() {
        let sk = MinisignSecretKey::generate().unwrap();
        let pk = sk.public_key();
        for alg in [MinisignAlgorithm::Prehashed, MinisignAlgorithm::Legacy] {
            let sig = sign(&sk, b"file contents", "timestamp:1\tfile:x", "sigil", alg).unwrap();
            let text = sig.to_text();
            let parsed = MinisignSignature::from_text(&text).unwrap();
            assert_eq!(parsed, sig);
            verify(&pk, &parsed, b"file contents").unwrap();
            assert_eq!(
                verify(&pk, &parsed, b"file content"),
                Err(Error::bad_signature())
            );
            // Editing the trusted comment breaks the global signature.
            let edited = text.replace("file:x", "file:y");
            let edited = MinisignSignature::from_text(&edited).unwrap();
            assert_eq!(
                verify(&pk, &edited, b"file contents"),
                Err(Error::bad_signature())
            );
            // The untrusted comment is not covered.
            let relabeled = MinisignSignature::from_text(&text.replace("sigil", "other")).unwrap();
            verify(&pk, &relabeled, b"file contents").unwrap();
        }
    }

    #[test]
    fn keys_round_trip_and_key_ids_must_match() {
        let sk = MinisignSecretKey::generate().unwrap();
        let text = sk.to_text();
        let again = MinisignSecretKey::from_text(text.expose_secret(), None).unwrap();
        assert_eq!(again.public_key(), sk.public_key());
        let pk_text = sk.public_key().to_text();
        assert_eq!(
            MinisignPublicKey::from_text(&pk_text).unwrap(),
            sk.public_key()
        );
        let bare = pk_text.lines().nth(1).unwrap();
        assert_eq!(MinisignPublicKey::from_text(bare).unwrap(), sk.public_key());

        let other = MinisignSecretKey::generate().unwrap();
        let sig = sign(&other, b"x", "t", "u", MinisignAlgorithm::Prehashed).unwrap();
        let err = verify(&sk.public_key(), &sig, b"x")
            .unwrap_err()
            .to_string();
        assert!(err.contains(&other.public_key().key_id_hex()), "{err}");
        assert!(!format!("{sk:?}").contains(&B64.encode(sk.seed.as_slice())));
    }

    #[test]
    fn bad_input() {
        let sk = MinisignSecretKey::generate().unwrap();
        let sig = sign(&sk, b"x", "t", "u", MinisignAlgorithm::Prehashed)
            .unwrap()
            .to_text();
        let lines: Vec<&str> = sig.lines().collect();
        for bad in [
            String::new(),
            lines[..3].join("\n"),
            format!("{sig}extra\n"),
            sig.replacen("untrusted comment: ", "", 1),
            sig.replacen("trusted comment: t", "t", 1),
            sig.replacen(lines[1], &lines[1][..40], 1),
            sig.replacen(lines[3], "!!!!", 1),
            sig.replacen(lines[1], &B64.encode([b'X'; 74]), 1),
        ] {
            assert!(MinisignSignature::from_text(&bad).is_err(), "{bad:?}");
        }
        assert!(sign(&sk, b"x", "two\nlines", "u", MinisignAlgorithm::Prehashed).is_err());
        let text = sk.to_text();
        let mut broken = text.expose_secret().to_owned();
        let pos = broken.len() - 20;
        broken.replace_range(pos..pos + 1, "A");
        assert!(MinisignSecretKey::from_text(&broken, None).is_err());
        assert!(MinisignPublicKey::from_text("untrusted comment: x\nAAAA\n").is_err());
    }
}
