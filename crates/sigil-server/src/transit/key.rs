//! A transit key: its type, flags, version window and numbered versions, with the crypto
//! each version supports, byte-compatible with Vault/OpenBao for the same key material.
//!
//! Formats reproduced exactly (so ciphertexts and signatures move both ways after a
//! `backup`/`restore`):
//! - ciphertexts, signatures and HMACs are `vault:v<N>:` + base64 of the raw output; AEAD
//!   output is `nonce(12) ‖ ciphertext ‖ tag(16)`, RSA output is RSA-OAEP-SHA256;
//! - derived keys are HKDF-SHA256(ikm = the version's key, no salt, info = context); a derived
//!   Ed25519 key uses that output as its seed, and the HKDF input is the 64-byte
//!   `seed ‖ public` form Go stores;
//! - convergent encryption (version 3): the derivation yields key ‖ 32-byte HMAC key, and the
//!   nonce is the first 12 bytes of HMAC-SHA256(that HMAC key, plaintext);
//! - every version carries an independent 32-byte HMAC key for `hmac` (for `hmac` keys it is
//!   the key itself).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sigil_core::aead::{AeadAlgorithm, AeadKey};
use sigil_core::encoding::{base64_decode, base64_encode, base64url_decode, base64url_encode};
use sigil_core::hash::{self, HashAlgorithm, MacAlgorithm, MacKey};
use sigil_core::keys::{KeyType, Prehashed, PrivateKey, PssSalt, PublicKey};
use sigil_core::secret::SecretBytes;

/// Go's and Vault's convergent encryption scheme version for new keys.
pub(super) const CONVERGENT_VERSION: i64 = 3;
/// HMAC keys: 32 to 512 bytes, as in Vault.
pub(super) const HMAC_MIN: usize = 32;
pub(super) const HMAC_MAX: usize = 512;
/// Vault's phrase for versions under `min_decryption_version`.
pub(super) const TOO_OLD: &str =
    "ciphertext or signature version is disallowed by policy (too old)";
const STORED_FORMAT: &str = "sigil.transit.key.v1";

/// A failed operation: the caller's fault (400) or ours (500), as Vault distinguishes them in
/// batch results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum OpError {
    User(String),
    Internal(String),
}

impl OpError {
    pub(super) fn user(msg: impl Into<String>) -> Self {
        Self::User(msg.into())
    }

    pub(super) fn message(&self) -> &str {
        match self {
            Self::User(m) | Self::Internal(m) => m,
        }
    }
}

impl From<OpError> for crate::api::ApiError {
    fn from(e: OpError) -> Self {
        match e {
            OpError::User(m) => Self::bad(m),
            OpError::Internal(m) => Self::Internal(m),
        }
    }
}

fn internal(e: impl fmt::Display) -> OpError {
    OpError::Internal(e.to_string())
}

/// The key types, with Vault's names and Go's enum numbers (which appear in backups).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Aes128,
    Aes256,
    ChaCha20,
    Ed25519,
    EcdsaP256,
    EcdsaP384,
    Rsa2048,
    Rsa3072,
    Rsa4096,
    Hmac,
}

impl Kind {
    const ALL: [Self; 10] = [
        Self::Aes128,
        Self::Aes256,
        Self::ChaCha20,
        Self::Ed25519,
        Self::EcdsaP256,
        Self::EcdsaP384,
        Self::Rsa2048,
        Self::Rsa3072,
        Self::Rsa4096,
        Self::Hmac,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Aes128 => "aes128-gcm96",
            Self::Aes256 => "aes256-gcm96",
            Self::ChaCha20 => "chacha20-poly1305",
            Self::Ed25519 => "ed25519",
            Self::EcdsaP256 => "ecdsa-p256",
            Self::EcdsaP384 => "ecdsa-p384",
            Self::Rsa2048 => "rsa-2048",
            Self::Rsa3072 => "rsa-3072",
            Self::Rsa4096 => "rsa-4096",
            Self::Hmac => "hmac",
        }
    }

    pub(super) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Go's `keysutil.KeyType` number.
    pub(super) fn go_number(self) -> i64 {
        match self {
            Self::Aes256 => 0,
            Self::EcdsaP256 => 1,
            Self::Ed25519 => 2,
            Self::Rsa2048 => 3,
            Self::Rsa4096 => 4,
            Self::ChaCha20 => 5,
            Self::EcdsaP384 => 6,
            Self::Aes128 => 8,
            Self::Rsa3072 => 9,
            Self::Hmac => 10,
        }
    }

    pub(super) fn from_go_number(n: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.go_number() == n)
    }

    pub(super) fn aead(self) -> Option<AeadAlgorithm> {
        match self {
            Self::Aes128 => Some(AeadAlgorithm::Aes128Gcm),
            Self::Aes256 => Some(AeadAlgorithm::Aes256Gcm),
            Self::ChaCha20 => Some(AeadAlgorithm::ChaCha20Poly1305),
            _ => None,
        }
    }

    pub(super) fn asymmetric(self) -> Option<KeyType> {
        match self {
            Self::Ed25519 => Some(KeyType::Ed25519),
            Self::EcdsaP256 => Some(KeyType::EcdsaP256),
            Self::EcdsaP384 => Some(KeyType::EcdsaP384),
            Self::Rsa2048 => Some(KeyType::Rsa2048),
            Self::Rsa3072 => Some(KeyType::Rsa3072),
            Self::Rsa4096 => Some(KeyType::Rsa4096),
            _ => None,
        }
    }

    pub(super) fn is_rsa(self) -> bool {
        matches!(self, Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096)
    }

    pub(super) fn is_ecdsa(self) -> bool {
        matches!(self, Self::EcdsaP256 | Self::EcdsaP384)
    }

    pub(super) fn supports_encryption(self) -> bool {
        self.aead().is_some() || self.is_rsa()
    }

    pub(super) fn supports_signing(self) -> bool {
        self.asymmetric().is_some()
    }

    pub(super) fn supports_derivation(self) -> bool {
        self.aead().is_some() || self == Self::Ed25519
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One key version. `material` is the raw key for AEAD and HMAC keys, Go's 64-byte
/// `seed ‖ public` for Ed25519, PKCS#8 DER for ECDSA and RSA.
pub(super) struct Version {
    pub(super) material: SecretBytes,
    pub(super) hmac_key: SecretBytes,
    /// RFC 3339 with nanoseconds, as Go writes `time.Time`.
    pub(super) created: String,
    pub(super) created_unix: u64,
    /// 3 for convergent keys made by Sigil or current Vault; 0 otherwise.
    pub(super) convergent_version: i64,
    prepared: Prepared,
}

enum Prepared {
    None,
    Aead(AeadKey),
    Private(PrivateKey),
}

impl Version {
    fn new(
        kind: Kind,
        derived: bool,
        material: SecretBytes,
        hmac_key: SecretBytes,
        created_unix: u64,
        created: String,
        convergent_version: i64,
    ) -> Result<Self, OpError> {
        let prepared = prepare(kind, derived, &material)?;
        Ok(Self {
            material,
            hmac_key,
            created,
            created_unix,
            convergent_version,
            prepared,
        })
    }

    fn private(&self) -> Result<&PrivateKey, OpError> {
        match &self.prepared {
            Prepared::Private(k) => Ok(k),
            _ => Err(OpError::Internal("key version has no private key".into())),
        }
    }

    /// The public key as Vault shows it: base64 for Ed25519, SPKI PEM otherwise; empty for
    /// symmetric keys and derived Ed25519 keys.
    pub(super) fn public_text(&self, kind: Kind) -> String {
        let Prepared::Private(k) = &self.prepared else {
            return String::new();
        };
        match kind {
            Kind::Ed25519 => k
                .public_key()
                .ed25519_public()
                .map(|p| base64_encode(&p))
                .unwrap_or_default(),
            _ => k.public_key().to_spki_pem().unwrap_or_default(),
        }
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Version")
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

fn prepare(kind: Kind, derived: bool, material: &SecretBytes) -> Result<Prepared, OpError> {
    let m = material.expose_secret();
    Ok(match kind {
        Kind::Hmac => {
            if !(HMAC_MIN..=HMAC_MAX).contains(&m.len()) {
                return Err(OpError::user(format!(
                    "invalid key size {} bytes for key type hmac",
                    m.len()
                )));
            }
            Prepared::None
        }
        Kind::Aes128 | Kind::Aes256 | Kind::ChaCha20 => {
            let alg = kind.aead().ok_or_else(|| internal("aead"))?;
            if m.len() != alg.key_len() {
                return Err(OpError::user(format!(
                    "invalid key size {} bytes for key type {kind}",
                    m.len()
                )));
            }
            if derived {
                Prepared::None
            } else {
                Prepared::Aead(AeadKey::new(alg, m).map_err(internal)?)
            }
        }
        Kind::Ed25519 => {
            if m.len() != 64 {
                return Err(OpError::user("invalid ed25519 key: expected 64 bytes"));
            }
            let key = PrivateKey::from_ed25519_seed(&m[..32]).map_err(internal)?;
            if !derived
                && key
                    .public_key()
                    .ed25519_public()
                    .ok()
                    .as_ref()
                    .map(|p| &p[..])
                    != Some(&m[32..])
            {
                return Err(OpError::user(
                    "invalid ed25519 key: the public half does not match the seed",
                ));
            }
            Prepared::Private(key)
        }
        _ => {
            let want = kind.asymmetric().ok_or_else(|| internal("asymmetric"))?;
            let key = PrivateKey::from_pkcs8_der(m)
                .map_err(|e| OpError::user(format!("invalid {kind} key: {e}")))?;
            if key.key_type() != want {
                return Err(OpError::user(format!(
                    "a {} key cannot be a {kind} key version",
                    key.key_type()
                )));
            }
            Prepared::Private(key)
        }
    })
}

/// Fresh material for a new version.
fn generate(kind: Kind, key_size: usize) -> Result<SecretBytes, OpError> {
    Ok(match kind {
        Kind::Hmac => sigil_core::random::secret_bytes(key_size).map_err(internal)?,
        Kind::Aes128 | Kind::Aes256 | Kind::ChaCha20 => {
            let alg = kind.aead().ok_or_else(|| internal("aead"))?;
            sigil_core::random::secret_bytes(alg.key_len()).map_err(internal)?
        }
        Kind::Ed25519 => {
            let key = PrivateKey::generate(KeyType::Ed25519).map_err(internal)?;
            ed25519_go_form(&key)?
        }
        _ => {
            let want = kind.asymmetric().ok_or_else(|| internal("asymmetric"))?;
            PrivateKey::generate(want)
                .and_then(|k| k.to_pkcs8_der())
                .map_err(internal)?
        }
    })
}

/// Go's 64-byte Ed25519 private key: seed ‖ public.
pub(super) fn ed25519_go_form(key: &PrivateKey) -> Result<SecretBytes, OpError> {
    let seed = key.ed25519_seed().map_err(internal)?;
    let public = key.public_key().ed25519_public().map_err(internal)?;
    let mut out = SecretBytes::zeroed(64);
    out.expose_secret_mut()[..32].copy_from_slice(seed.expose_secret());
    out.expose_secret_mut()[32..].copy_from_slice(&public);
    Ok(out)
}

/// When and at which version a backup or restore happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Event {
    pub(super) time: String,
    pub(super) version: u32,
}

/// A transit key with every version it still holds.
#[derive(Debug)]
pub(super) struct Key {
    pub(super) name: String,
    pub(super) kind: Kind,
    pub(super) derived: bool,
    pub(super) convergent: bool,
    pub(super) exportable: bool,
    pub(super) allow_plaintext_backup: bool,
    pub(super) deletion_allowed: bool,
    pub(super) min_decryption_version: u32,
    pub(super) min_encryption_version: u32,
    pub(super) min_available_version: u32,
    pub(super) latest_version: u32,
    pub(super) auto_rotate_period: u64,
    pub(super) key_size: usize,
    pub(super) imported: bool,
    pub(super) backup_info: Option<Event>,
    pub(super) restore_info: Option<Event>,
    pub(super) versions: BTreeMap<u32, Version>,
}

/// How a key is created.
#[derive(Debug, Clone)]
pub(super) struct Spec {
    pub(super) kind: Kind,
    pub(super) derived: bool,
    pub(super) convergent: bool,
    pub(super) exportable: bool,
    pub(super) allow_plaintext_backup: bool,
    pub(super) auto_rotate_period: u64,
    pub(super) key_size: usize,
}

impl Key {
    /// A new key with one fresh version.
    pub(super) fn create(name: &str, spec: &Spec, now_nanos: u64) -> Result<Self, OpError> {
        let mut key = Self {
            name: name.to_owned(),
            kind: spec.kind,
            derived: spec.derived,
            convergent: spec.convergent,
            exportable: spec.exportable,
            allow_plaintext_backup: spec.allow_plaintext_backup,
            deletion_allowed: false,
            min_decryption_version: 1,
            min_encryption_version: 0,
            min_available_version: 0,
            latest_version: 0,
            auto_rotate_period: spec.auto_rotate_period,
            key_size: if spec.kind == Kind::Hmac {
                spec.key_size
            } else {
                0
            },
            imported: false,
            backup_info: None,
            restore_info: None,
            versions: BTreeMap::new(),
        };
        key.rotate(now_nanos)?;
        Ok(key)
    }

    /// Adds a fresh version and makes it the latest.
    pub(super) fn rotate(&mut self, now_nanos: u64) -> Result<u32, OpError> {
        let material = generate(self.kind, self.key_size.max(HMAC_MIN))?;
        let hmac_key = if self.kind == Kind::Hmac {
            SecretBytes::copy_from(material.expose_secret())
        } else {
            sigil_core::random::secret_bytes(32).map_err(internal)?
        };
        let convergent_version = if self.convergent {
            CONVERGENT_VERSION
        } else {
            0
        };
        let version = Version::new(
            self.kind,
            self.derived,
            material,
            hmac_key,
            now_nanos / 1_000_000_000,
            crate::time::rfc3339_go(now_nanos),
            convergent_version,
        )?;
        let next = self.latest_version + 1;
        self.versions.insert(next, version);
        self.latest_version = next;
        Ok(next)
    }

    /// Adds a version with the given material (restores and imports).
    #[allow(clippy::too_many_arguments, reason = "one field per stored attribute")]
    pub(super) fn insert_version(
        &mut self,
        number: u32,
        material: SecretBytes,
        hmac_key: SecretBytes,
        created_unix: u64,
        created: String,
        convergent_version: i64,
    ) -> Result<(), OpError> {
        let v = Version::new(
            self.kind,
            self.derived,
            material,
            hmac_key,
            created_unix,
            created,
            convergent_version,
        )?;
        self.versions.insert(number, v);
        Ok(())
    }

    /// Whether the latest version is older than `auto_rotate_period`.
    pub(super) fn rotation_due(&self, now_unix: u64) -> bool {
        self.auto_rotate_period > 0
            && self
                .versions
                .get(&self.latest_version)
                .is_some_and(|v| v.created_unix.saturating_add(self.auto_rotate_period) <= now_unix)
    }

    fn version(&self, n: u32) -> Result<&Version, OpError> {
        self.versions
            .get(&n)
            .ok_or_else(|| OpError::user("no such key version"))
    }

    /// The prefix every output of version `n` carries.
    pub(super) fn prefix(n: u32) -> String {
        format!("vault:v{n}:")
    }

    /// Splits `vault:v<N>:<body>`, with Vault's messages. `what` is "ciphertext" or
    /// "signature".
    pub(super) fn split<'a>(&self, value: &'a str, what: &str) -> Result<(u32, &'a str), OpError> {
        let rest = value
            .strip_prefix("vault:v")
            .ok_or_else(|| OpError::user(format!("invalid {what}: no prefix")))?;
        let (num, body) = rest
            .split_once(':')
            .ok_or_else(|| OpError::user(format!("invalid {what}: wrong number of fields")))?;
        let n: i64 = num.parse().map_err(|_| {
            OpError::user(format!(
                "invalid {what}: version number could not be decoded"
            ))
        })?;
        // Vault's first keys were numbered from zero; v0 means v1.
        let n = if n == 0 { 1 } else { n };
        if n > i64::from(self.latest_version) {
            return Err(OpError::user(format!("invalid {what}: version is too new")));
        }
        if n < i64::from(self.min_decryption_version) {
            return Err(OpError::user(TOO_OLD));
        }
        let n = u32::try_from(n).map_err(internal)?;
        Ok((n, body))
    }

    /// The version an encrypt-like operation uses: the latest unless the caller named one.
    pub(super) fn encrypt_version(&self, requested: i64, verb: &str) -> Result<u32, OpError> {
        let latest = i64::from(self.latest_version);
        if requested < 0 {
            return Err(OpError::user(format!(
                "requested version for {verb} is negative"
            )));
        }
        if requested > latest {
            return Err(OpError::user(format!(
                "requested version for {verb} is higher than the latest key version"
            )));
        }
        let n = if requested == 0 { latest } else { requested };
        if n < i64::from(self.min_encryption_version) {
            return Err(OpError::user(format!(
                "requested version for {verb} is less than the minimum encryption key version"
            )));
        }
        u32::try_from(n).map_err(internal)
    }

    /// HKDF-SHA256 of version `n`'s key with `context`, `len` bytes.
    fn derive(&self, n: u32, context: &[u8], len: usize) -> Result<SecretBytes, OpError> {
        if context.is_empty() {
            return Err(OpError::user(
                "missing 'context' for key derivation; the key was created using a derived key, which means additional, per-request information must be included in order to perform operations with the key",
            ));
        }
        let v = self.version(n)?;
        hash::hkdf(
            HashAlgorithm::Sha256,
            v.material.expose_secret(),
            &[],
            context,
            len,
        )
        .map_err(internal)
    }

    /// Encrypts `plaintext` with version `n`: `vault:vN:` + base64 of the output.
    pub(super) fn encrypt(
        &self,
        n: u32,
        context: &[u8],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<String, OpError> {
        let v = self.version(n)?;
        let body = if let Some(alg) = self.kind.aead() {
            if !self.derived {
                let Prepared::Aead(k) = &v.prepared else {
                    return Err(internal("key version is not prepared"));
                };
                k.seal(aad, plaintext).map_err(internal)?
            } else if self.convergent {
                if v.convergent_version != CONVERGENT_VERSION {
                    return Err(OpError::user(format!(
                        "refusing to support decryption with old convergent encryption key: version {}",
                        v.convergent_version
                    )));
                }
                let okm = self.derive(n, context, alg.key_len() + 32)?;
                let (enc, mac) = okm.expose_secret().split_at(alg.key_len());
                let mac = MacKey::new(MacAlgorithm::HmacSha256, mac).map_err(internal)?;
                let tag = mac.sign(plaintext);
                let mut nonce = [0u8; 12];
                nonce.copy_from_slice(&tag[..12]);
                let key = AeadKey::new(alg, enc).map_err(internal)?;
                let mut out = nonce.to_vec();
                out.extend_from_slice(
                    &key.seal_with_nonce(&nonce, aad, plaintext)
                        .map_err(internal)?,
                );
                out
            } else {
                let okm = self.derive(n, context, alg.key_len())?;
                AeadKey::new(alg, okm.expose_secret())
                    .and_then(|k| k.seal(aad, plaintext))
                    .map_err(internal)?
            }
        } else if self.kind.is_rsa() {
            v.private()?
                .public_key()
                .encrypt_oaep(plaintext)
                .map_err(|e| {
                    OpError::Internal(format!("failed to RSA encrypt the plaintext: {e}"))
                })?
        } else {
            return Err(OpError::user(format!(
                "message encryption not supported for key type {}",
                self.kind
            )));
        };
        Ok(format!("{}{}", Self::prefix(n), base64_encode(&body)))
    }

    /// Decrypts a `vault:vN:` ciphertext. Returns the plaintext and the version used.
    pub(super) fn decrypt(
        &self,
        ciphertext: &str,
        context: &[u8],
        aad: &[u8],
    ) -> Result<(SecretBytes, u32), OpError> {
        if !self.kind.supports_encryption() {
            return Err(OpError::user(format!(
                "message decryption not supported for key type {}",
                self.kind
            )));
        }
        let (n, body) = self.split(ciphertext, "ciphertext")?;
        let v = self.version(n)?;
        if self.convergent && v.convergent_version > 0 && v.convergent_version < CONVERGENT_VERSION
        {
            return Err(OpError::user(format!(
                "refusing to support decryption with old convergent encryption key: version {}",
                v.convergent_version
            )));
        }
        let raw = base64_decode(body)
            .map_err(|_| OpError::user("invalid ciphertext: could not decode base64"))?;
        let plain = if let Some(alg) = self.kind.aead() {
            if raw.len() < 12 {
                return Err(OpError::user("invalid ciphertext length"));
            }
            let opened = if self.derived {
                let okm = self.derive(n, context, alg.key_len())?;
                AeadKey::new(alg, okm.expose_secret())
                    .map_err(internal)?
                    .open(aad, &raw)
            } else {
                let Prepared::Aead(k) = &v.prepared else {
                    return Err(internal("key version is not prepared"));
                };
                k.open(aad, &raw)
            };
            opened.map_err(|_| OpError::user("cipher: message authentication failed"))?
        } else {
            v.private()?.decrypt_oaep(&raw).map_err(|_| {
                OpError::Internal(
                    "failed to RSA decrypt the ciphertext: crypto/rsa: decryption error".into(),
                )
            })?
        };
        Ok((plain, n))
    }

    /// The signing key of version `n` (derived from `context` for derived Ed25519 keys).
    fn signer(&self, n: u32, context: &[u8]) -> Result<Signer<'_>, OpError> {
        let v = self.version(n)?;
        if self.derived && self.kind == Kind::Ed25519 {
            // Vault reports a failed derivation here as its own (500) error.
            let seed = self
                .derive(n, context, 32)
                .map_err(|e| OpError::Internal(format!("error deriving key: {}", e.message())))?;
            let key = PrivateKey::from_ed25519_seed(seed.expose_secret()).map_err(internal)?;
            return Ok(Signer::Owned(key));
        }
        Ok(Signer::Borrowed(v.private()?))
    }

    /// Signs with version `n`. `input` is the message for Ed25519 and the digest otherwise.
    pub(super) fn sign(
        &self,
        n: u32,
        context: &[u8],
        input: &[u8],
        opts: &SignOptions,
    ) -> Result<(String, Option<Vec<u8>>), OpError> {
        let signer = self.signer(n, context)?;
        let key = signer.get();
        let sig = if self.kind == Kind::Ed25519 {
            key.sign(input, sigil_core::keys::SignatureScheme::Ed25519)
                .map_err(internal)?
        } else {
            let how = opts.prehashed(self.kind, false)?;
            key.sign_prehashed(input, opts.hash, how)
                .map_err(|e| OpError::user(e.to_string()))?
        };
        let public = if self.derived {
            key.public_key().ed25519_public().ok().map(|p| p.to_vec())
        } else {
            None
        };
        let text = if opts.jws {
            base64url_encode(&sig)
        } else {
            base64_encode(&sig)
        };
        Ok((format!("{}{text}", Self::prefix(n)), public))
    }

    /// Verifies a `vault:vN:` signature.
    pub(super) fn verify(
        &self,
        signature: &str,
        context: &[u8],
        input: &[u8],
        opts: &SignOptions,
    ) -> Result<bool, OpError> {
        let (n, body) = self.split(signature, "signature")?;
        let raw = if opts.jws {
            base64url_decode(body)
        } else {
            base64_decode(body)
        }
        .map_err(|_| OpError::user("invalid base64 signature value"))?;
        let signer = self.signer(n, context)?;
        let public: &PublicKey = signer.get().public_key();
        let ok = if self.kind == Kind::Ed25519 {
            public
                .verify(input, &raw, sigil_core::keys::SignatureScheme::Ed25519)
                .is_ok()
        } else {
            let how = opts.prehashed(self.kind, false)?;
            let ok = public.verify_prehashed(input, opts.hash, how, &raw).is_ok();
            // `auto` salt takes the two lengths signers use: Vault signs with the longest
            // salt, most other signers with the hash length.
            ok || (opts.salt == Salt::Auto
                && self.kind.is_rsa()
                && public
                    .verify_prehashed(input, opts.hash, opts.prehashed(self.kind, true)?, &raw)
                    .is_ok())
        };
        Ok(ok)
    }

    /// HMAC of `input` with version `n`'s HMAC key: `vault:vN:` + base64.
    pub(super) fn hmac(&self, n: u32, alg: HashAlgorithm, input: &[u8]) -> Result<String, OpError> {
        let v = self.version(n)?;
        let tag = hash::hmac_any(alg, v.hmac_key.expose_secret(), input);
        Ok(format!("{}{}", Self::prefix(n), base64_encode(&tag)))
    }

    /// Checks an HMAC made by [`Key::hmac`], in constant time, with Vault's messages for a
    /// malformed one.
    pub(super) fn verify_hmac(
        &self,
        value: &str,
        alg: HashAlgorithm,
        input: &[u8],
    ) -> Result<bool, OpError> {
        let rest = value
            .strip_prefix("vault:v")
            .ok_or_else(|| OpError::user("invalid HMAC to verify: no prefix"))?;
        let (num, body) = rest
            .split_once(':')
            .ok_or_else(|| OpError::user("invalid HMAC: wrong number of fields"))?;
        let n: i64 = num
            .parse()
            .map_err(|_| OpError::user("invalid HMAC: version number could not be decoded"))?;
        let given = base64_decode(body).map_err(|_| {
            OpError::user(format!(
                "unable to decode verification HMAC as base64: {}",
                super::ops::go_base64_error(body)
            ))
        })?;
        if n > i64::from(self.latest_version) {
            return Err(OpError::user("invalid HMAC: version is too new"));
        }
        if n < i64::from(self.min_decryption_version) {
            return Err(OpError::user(
                "cannot verify HMAC: version is too old (disallowed by policy)",
            ));
        }
        let v = self.version(u32::try_from(n).map_err(internal)?)?;
        let expected = hash::hmac_any(alg, v.hmac_key.expose_secret(), input);
        Ok(subtle::ConstantTimeEq::ct_eq(expected.as_slice(), given.as_slice()).into())
    }

    /// The stored form.
    pub(super) fn to_stored(&self) -> Stored {
        Stored {
            format: STORED_FORMAT.to_owned(),
            name: self.name.clone(),
            kind: self.kind.name().to_owned(),
            derived: self.derived,
            convergent: self.convergent,
            exportable: self.exportable,
            allow_plaintext_backup: self.allow_plaintext_backup,
            deletion_allowed: self.deletion_allowed,
            min_decryption_version: self.min_decryption_version,
            min_encryption_version: self.min_encryption_version,
            min_available_version: self.min_available_version,
            latest_version: self.latest_version,
            auto_rotate_period: self.auto_rotate_period,
            key_size: self.key_size,
            imported: self.imported,
            backup_info: self.backup_info.clone(),
            restore_info: self.restore_info.clone(),
            versions: self
                .versions
                .iter()
                .map(|(n, v)| {
                    (
                        *n,
                        StoredVersion {
                            material: base64_encode(v.material.expose_secret()),
                            hmac_key: base64_encode(v.hmac_key.expose_secret()),
                            created: v.created.clone(),
                            created_unix: v.created_unix,
                            convergent_version: v.convergent_version,
                        },
                    )
                })
                .collect(),
        }
    }

    /// Loads the stored form, preparing every version.
    pub(super) fn from_stored(s: Stored) -> Result<Self, OpError> {
        if s.format != STORED_FORMAT {
            return Err(internal(format!(
                "unknown transit key format {:?}",
                s.format
            )));
        }
        let kind = Kind::from_name(&s.kind)
            .ok_or_else(|| internal(format!("unknown key type {:?}", s.kind)))?;
        let mut key = Self {
            name: s.name,
            kind,
            derived: s.derived,
            convergent: s.convergent,
            exportable: s.exportable,
            allow_plaintext_backup: s.allow_plaintext_backup,
            deletion_allowed: s.deletion_allowed,
            min_decryption_version: s.min_decryption_version,
            min_encryption_version: s.min_encryption_version,
            min_available_version: s.min_available_version,
            latest_version: s.latest_version,
            auto_rotate_period: s.auto_rotate_period,
            key_size: s.key_size,
            imported: s.imported,
            backup_info: s.backup_info,
            restore_info: s.restore_info,
            versions: BTreeMap::new(),
        };
        for (n, v) in s.versions {
            let material = SecretBytes::new(base64_decode(&v.material).map_err(internal)?);
            let hmac_key = SecretBytes::new(base64_decode(&v.hmac_key).map_err(internal)?);
            key.insert_version(
                n,
                material,
                hmac_key,
                v.created_unix,
                v.created.clone(),
                v.convergent_version,
            )?;
        }
        Ok(key)
    }
}

enum Signer<'a> {
    Borrowed(&'a PrivateKey),
    Owned(PrivateKey),
}

impl Signer<'_> {
    fn get(&self) -> &PrivateKey {
        match self {
            Self::Borrowed(k) => k,
            Self::Owned(k) => k,
        }
    }
}

/// `salt_length` of an RSA-PSS signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Salt {
    /// Vault's default: sign with the longest salt; verify either usual length.
    Auto,
    /// As long as the hash.
    Hash,
    /// Exactly this many bytes.
    Bytes(u16),
}

/// The options of a `sign` or `verify` request that shape the signature.
#[derive(Debug, Clone)]
pub(super) struct SignOptions {
    pub(super) hash: HashAlgorithm,
    /// `signature_algorithm` as given: `pss` (or empty) or `pkcs1v15`; anything else fails
    /// when an RSA key uses it, as in Vault.
    pub(super) signature_algorithm: String,
    pub(super) salt: Salt,
    /// `marshaling_algorithm=jws`: r‖s for ECDSA, base64url for every key.
    pub(super) jws: bool,
}

impl SignOptions {
    /// How the digest is signed. `alternate` asks for the second salt length `auto` accepts.
    fn prehashed(&self, kind: Kind, alternate: bool) -> Result<Prehashed, OpError> {
        if kind.is_ecdsa() {
            return Ok(Prehashed::Ecdsa { fixed: self.jws });
        }
        if !kind.is_rsa() {
            return Err(OpError::user(format!(
                "message signing not supported for key type {kind}"
            )));
        }
        match self.signature_algorithm.as_str() {
            "" | "pss" => Ok(Prehashed::RsaPss {
                salt: match (self.salt, alternate) {
                    (Salt::Auto, false) => PssSalt::Max,
                    (Salt::Auto | Salt::Hash, _) => PssSalt::Hash,
                    (Salt::Bytes(n), _) => PssSalt::Bytes(n),
                },
            }),
            "pkcs1v15" => Ok(Prehashed::RsaPkcs1),
            other => Err(OpError::Internal(format!(
                "unsupported rsa signature algorithm {other}"
            ))),
        }
    }
}

/// The stored form of a key (encrypted by the barrier like everything else).
#[derive(Serialize, Deserialize)]
pub(super) struct Stored {
    format: String,
    name: String,
    #[serde(rename = "type")]
    kind: String,
    derived: bool,
    convergent: bool,
    exportable: bool,
    allow_plaintext_backup: bool,
    deletion_allowed: bool,
    min_decryption_version: u32,
    min_encryption_version: u32,
    min_available_version: u32,
    latest_version: u32,
    auto_rotate_period: u64,
    key_size: usize,
    imported: bool,
    backup_info: Option<Event>,
    restore_info: Option<Event>,
    versions: BTreeMap<u32, StoredVersion>,
}

#[derive(Serialize, Deserialize)]
struct StoredVersion {
    material: String,
    hmac_key: String,
    created: String,
    created_unix: u64,
    convergent_version: i64,
}

impl Drop for StoredVersion {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.material);
        zeroize::Zeroize::zeroize(&mut self.hmac_key);
    }
}

impl fmt::Debug for Stored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stored")
            .field("name", &self.name)
            .field("type", &self.kind)
            .finish_non_exhaustive()
    }
}
