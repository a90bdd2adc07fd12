//! The barrier: everything the server stores passes through here and reaches the backend
//! encrypted.
//!
//! Each value is sealed with AES-256-GCM under the keyring's active term key, with a fresh
//! random nonce, and with the storage path bound as associated data, so a value copied to
//! another key does not open. Stored layout:
//!
//! ```text
//! 0x01 | term (u32 BE) | nonce (12) | ciphertext | tag (16)
//! AAD = 0x01 | term | path
//! ```
//!
//! The keyring (every term's key, so values written before a rotation still open) is itself
//! stored at [`KEYRING_PATH`], sealed by the root key; the root key is sealed by the seal
//! (see `seal`). Rotation adds a term and rewrites only the keyring: old values are read with
//! their own term and rewritten under the new one whenever they are next written.
//!
//! Random 96-bit nonces are safe for about 2^32 encryptions per key (NIST SP 800-38D §8.3);
//! the barrier counts encryptions per term and `sys/key-status` reports them, and the server
//! rotates the keyring automatically before a term reaches [`AUTO_ROTATE_AFTER`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use sigil_core::SecretBytes;
use sigil_core::aead::{AeadAlgorithm, AeadKey};
use sigil_core::encoding::Encoding;
use sigil_storage::{Backend, Op, Page};

use crate::api::ApiError;
use crate::view::SecureStore;

/// Where the sealed keyring lives (the only barrier key not under the keyring).
pub const KEYRING_PATH: &str = "core/keyring";

/// Encryptions under one term after which the server rotates (a margin under 2^32).
pub const AUTO_ROTATE_AFTER: u64 = 3_500_000_000;

const VERSION: u8 = 1;
const HEADER_LEN: usize = 5;

/// One key of the keyring.
struct Term {
    number: u32,
    key: AeadKey,
    /// The raw key, kept to re-serialize the keyring on rotation.
    raw: SecretBytes,
    installed: u64,
    encryptions: AtomicU64,
}

/// The keyring as stored (sealed by the root key).
#[derive(Serialize, Deserialize)]
struct StoredKeyring {
    active: u32,
    terms: Vec<StoredTerm>,
}

#[derive(Serialize, Deserialize)]
struct StoredTerm {
    term: u32,
    /// Base64 key bytes. The whole document is wiped after use.
    key: String,
    installed: u64,
}

struct Keyring {
    active: u32,
    terms: BTreeMap<u32, Arc<Term>>,
}

/// What `sys/key-status` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyStatus {
    /// The active term.
    pub term: u32,
    /// When it was installed (Unix seconds).
    pub installed: u64,
    /// Encryptions made under it since this process unsealed.
    pub encryptions: u64,
}

/// The unsealed barrier over a backend.
pub struct Barrier {
    backend: Arc<dyn Backend>,
    root: AeadKey,
    keyring: RwLock<Keyring>,
    /// Encryptions under one term before [`Barrier::rotate_if_due`] rotates.
    rotate_after: u64,
    /// Set while an automatic rotation runs, so concurrent requests start only one.
    rotating: AtomicBool,
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier").finish_non_exhaustive()
    }
}

impl Barrier {
    /// Creates a fresh keyring under `root_key` and stores it: the first step of `sys/init`.
    /// Returns the unsealed barrier.
    pub async fn create(
        backend: Arc<dyn Backend>,
        root_key: &[u8],
        now: u64,
    ) -> Result<Self, ApiError> {
        let root = aes(root_key)?;
        let (key, raw) = AeadKey::generate(AeadAlgorithm::Aes256Gcm).map_err(ApiError::internal)?;
        let term = Term {
            number: 1,
            key,
            raw,
            installed: now,
            encryptions: AtomicU64::new(0),
        };
        let barrier = Self {
            backend,
            root,
            keyring: RwLock::new(Keyring {
                active: 1,
                terms: BTreeMap::from([(1, Arc::new(term))]),
            }),
            rotate_after: AUTO_ROTATE_AFTER,
            rotating: AtomicBool::new(false),
        };
        barrier.persist_keyring().await?;
        Ok(barrier)
    }

    /// Opens the stored keyring with `root_key`: the last step of unsealing.
    pub async fn open(backend: Arc<dyn Backend>, root_key: &[u8]) -> Result<Self, ApiError> {
        let root = aes(root_key)?;
        let sealed = backend
            .get(KEYRING_PATH)
            .await?
            .ok_or_else(|| ApiError::internal("the keyring is missing from storage"))?;
        let plain = root
            .open(KEYRING_PATH.as_bytes(), &sealed)
            .map_err(|_| ApiError::internal("the keyring does not open with the root key"))?;
        let stored: StoredKeyring = serde_json::from_slice(plain.expose_secret())
            .map_err(|_| ApiError::internal("the stored keyring is corrupt"))?;
        let mut terms = BTreeMap::new();
        for t in stored.terms {
            let raw = SecretBytes::new(
                Encoding::Base64
                    .decode(&t.key)
                    .map_err(|_| ApiError::internal("the stored keyring is corrupt"))?,
            );
            let mut key_text = t.key;
            zeroize::Zeroize::zeroize(&mut key_text);
            let term = Term {
                number: t.term,
                key: aes(raw.expose_secret())?,
                raw,
                installed: t.installed,
                encryptions: AtomicU64::new(0),
            };
            terms.insert(t.term, Arc::new(term));
        }
        if !terms.contains_key(&stored.active) {
            return Err(ApiError::internal("the stored keyring has no active term"));
        }
        Ok(Self {
            backend,
            root,
            keyring: RwLock::new(Keyring {
                active: stored.active,
                terms,
            }),
            rotate_after: AUTO_ROTATE_AFTER,
            rotating: AtomicBool::new(false),
        })
    }

    /// Adds a new term and makes it active (`sys/rotate`). Values keep opening with their
    /// own term; new writes use the new one. Returns the new term number.
    pub async fn rotate(&self, now: u64) -> Result<u32, ApiError> {
        let (key, raw) = AeadKey::generate(AeadAlgorithm::Aes256Gcm).map_err(ApiError::internal)?;
        let previous = {
            let mut ring = self.write_ring()?;
            let number = ring
                .terms
                .keys()
                .next_back()
                .copied()
                .unwrap_or(0)
                .checked_add(1)
                .ok_or_else(|| ApiError::internal("keyring term overflow"))?;
            let previous = ring.active;
            ring.terms.insert(
                number,
                Arc::new(Term {
                    number,
                    key,
                    raw,
                    installed: now,
                    encryptions: AtomicU64::new(0),
                }),
            );
            ring.active = number;
            (previous, number)
        };
        if let Err(e) = self.persist_keyring().await {
            // Storage refused the new keyring: forget the term so nothing is written under a
            // key that would not survive a restart.
            let mut ring = self.write_ring()?;
            ring.terms.remove(&previous.1);
            ring.active = previous.0;
            return Err(e);
        }
        Ok(previous.1)
    }

    /// The active term's status.
    pub fn key_status(&self) -> Result<KeyStatus, ApiError> {
        let term = self.active()?;
        Ok(KeyStatus {
            term: term.number,
            installed: term.installed,
            encryptions: term.encryptions.load(Ordering::Relaxed),
        })
    }

    /// Rotates when the active term has been used [`AUTO_ROTATE_AFTER`] times (the server
    /// calls this after each request; it is one atomic load when nothing is due).
    pub async fn rotate_if_due(&self, now: u64) -> Result<(), ApiError> {
        let due = self.active()?.encryptions.load(Ordering::Relaxed) >= self.rotate_after;
        if !due || self.rotating.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let result = self.rotate(now).await;
        self.rotating.store(false, Ordering::Release);
        result.map(|_| ())
    }

    /// Encrypts `plain` for storage under `path`.
    pub fn encrypt(&self, path: &str, plain: &[u8]) -> Result<Vec<u8>, ApiError> {
        let term = self.active()?;
        term.encryptions.fetch_add(1, Ordering::Relaxed);
        let header = header(term.number);
        let sealed = term
            .key
            .seal(&aad(&header, path), plain)
            .map_err(ApiError::internal)?;
        let mut out = Vec::with_capacity(HEADER_LEN + sealed.len());
        out.extend_from_slice(&header);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypts a stored value read from `path`.
    pub fn decrypt(&self, path: &str, stored: &[u8]) -> Result<SecretBytes, ApiError> {
        let corrupt = || ApiError::internal(format!("stored value at {path} failed to decrypt"));
        let Some((header, body)) = stored.split_first_chunk::<HEADER_LEN>() else {
            return Err(corrupt());
        };
        if header[0] != VERSION {
            return Err(corrupt());
        }
        let number = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
        let term = self
            .read_ring()?
            .terms
            .get(&number)
            .cloned()
            .ok_or_else(corrupt)?;
        term.key
            .open(&aad(header, path), body)
            .map_err(|_| corrupt())
    }

    fn active(&self) -> Result<Arc<Term>, ApiError> {
        let ring = self.read_ring()?;
        ring.terms
            .get(&ring.active)
            .cloned()
            .ok_or_else(|| ApiError::internal("keyring has no active term"))
    }

    fn read_ring(&self) -> Result<std::sync::RwLockReadGuard<'_, Keyring>, ApiError> {
        self.keyring
            .read()
            .map_err(|_| ApiError::internal("keyring lock poisoned"))
    }

    fn write_ring(&self) -> Result<std::sync::RwLockWriteGuard<'_, Keyring>, ApiError> {
        self.keyring
            .write()
            .map_err(|_| ApiError::internal("keyring lock poisoned"))
    }

    async fn persist_keyring(&self) -> Result<(), ApiError> {
        let doc = {
            let ring = self.read_ring()?;
            let stored = StoredKeyring {
                active: ring.active,
                terms: ring
                    .terms
                    .values()
                    .map(|t| StoredTerm {
                        term: t.number,
                        key: Encoding::Base64.encode(t.raw.expose_secret()),
                        installed: t.installed,
                    })
                    .collect(),
            };
            let json =
                zeroize::Zeroizing::new(serde_json::to_vec(&stored).map_err(ApiError::internal)?);
            for mut t in stored.terms {
                zeroize::Zeroize::zeroize(&mut t.key);
            }
            self.root
                .seal(KEYRING_PATH.as_bytes(), &json)
                .map_err(ApiError::internal)?
        };
        self.backend
            .transaction(vec![Op::Put(KEYRING_PATH.to_owned(), doc)])
            .await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl SecureStore for Barrier {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ApiError> {
        match self.backend.get(key).await? {
            None => Ok(None),
            // The plaintext leaves the barrier as a plain Vec: handlers parse it at once and
            // the secret-bearing structures they build wipe themselves.
            Some(stored) => Ok(Some(self.decrypt(key, &stored)?.expose_secret().to_vec())),
        }
    }

    async fn list(&self, prefix: &str, page: Page<'_>) -> Result<Vec<String>, ApiError> {
        Ok(self.backend.list(prefix, page).await?)
    }

    async fn transaction(&self, ops: Vec<Op>) -> Result<(), ApiError> {
        let ops = ops
            .into_iter()
            .map(|op| match op {
                Op::Put(k, mut v) => {
                    let sealed = self.encrypt(&k, &v);
                    zeroize::Zeroize::zeroize(&mut v);
                    Ok(Op::Put(k, sealed?))
                }
                Op::Delete(k) => Ok(Op::Delete(k)),
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        Ok(self.backend.transaction(ops).await?)
    }
}

fn aes(key: &[u8]) -> Result<AeadKey, ApiError> {
    AeadKey::new(AeadAlgorithm::Aes256Gcm, key).map_err(ApiError::internal)
}

fn header(term: u32) -> [u8; HEADER_LEN] {
    let t = term.to_be_bytes();
    [VERSION, t[0], t[1], t[2], t[3]]
}

fn aad(header: &[u8; HEADER_LEN], path: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(HEADER_LEN + path.len());
    aad.extend_from_slice(header);
    aad.extend_from_slice(path.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use sigil_storage::InMemory;

    use super::*;

    async fn fresh() -> (Arc<InMemory>, Barrier, [u8; 32]) {
        let backend = Arc::new(InMemory::new());
        let root = [7u8; 32];
        let barrier = Barrier::create(backend.clone(), &root, 100).await.unwrap();
        (backend, barrier, root)
    }

    #[tokio::test]
    async fn values_are_encrypted_and_bound_to_their_path() {
        let (backend, barrier, _) = fresh().await;
        barrier
            .transaction(vec![Op::Put("a/x".into(), b"top secret".to_vec())])
            .await
            .unwrap();
        let raw = backend.get("a/x").await.unwrap().unwrap();
        assert!(!raw.windows(10).any(|w| w == b"top secret"));
        assert_eq!(barrier.get("a/x").await.unwrap().unwrap(), b"top secret");
        // Moving the ciphertext to another key does not work.
        backend
            .transaction(vec![Op::Put("a/y".into(), raw.clone())])
            .await
            .unwrap();
        assert!(barrier.get("a/y").await.is_err());
        // Any flipped bit, truncation or junk is refused.
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 1;
            assert!(barrier.decrypt("a/x", &bad).is_err(), "bit {i}");
        }
        for n in 0..raw.len() {
            assert!(barrier.decrypt("a/x", &raw[..n]).is_err(), "len {n}");
        }
    }

    #[tokio::test]
    async fn rotation_keeps_old_values_readable_and_survives_reopen() {
        let (backend, barrier, root) = fresh().await;
        barrier
            .transaction(vec![Op::Put("old".into(), b"1".to_vec())])
            .await
            .unwrap();
        assert_eq!(barrier.rotate(200).await.unwrap(), 2);
        barrier
            .transaction(vec![Op::Put("new".into(), b"2".to_vec())])
            .await
            .unwrap();
        let status = barrier.key_status().unwrap();
        assert_eq!(
            (status.term, status.installed, status.encryptions),
            (2, 200, 1)
        );
        let reopened = Barrier::open(backend.clone(), &root).await.unwrap();
        assert_eq!(reopened.get("old").await.unwrap().unwrap(), b"1");
        assert_eq!(reopened.get("new").await.unwrap().unwrap(), b"2");
        assert_eq!(reopened.key_status().unwrap().term, 2);
        assert!(
            Barrier::open(backend, &[8u8; 32]).await.is_err(),
            "wrong root key"
        );
    }

    #[tokio::test]
    async fn rotates_by_itself_when_a_term_is_used_up() {
        let (_, mut barrier, _) = fresh().await;
        barrier.rotate_after = 3;
        for i in 0..3 {
            barrier.rotate_if_due(100).await.unwrap();
            assert_eq!(barrier.key_status().unwrap().term, 1, "not due after {i}");
            barrier
                .transaction(vec![Op::Put(format!("k{i}"), b"v".to_vec())])
                .await
                .unwrap();
        }
        barrier.rotate_if_due(200).await.unwrap();
        let status = barrier.key_status().unwrap();
        assert_eq!((status.term, status.encryptions), (2, 0));
        assert_eq!(barrier.get("k0").await.unwrap().unwrap(), b"v");
    }
}
