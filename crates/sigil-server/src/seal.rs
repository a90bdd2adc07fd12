//! The seal: what protects the root key, and the lifecycle uninitialized → sealed → unsealed.
//!
//! The root key (which opens the barrier's keyring) is stored at [`ROOT_KEY_PATH`], sealed with
//! AES-256-GCM under the *unseal key*. The unseal key is never stored: either it is split with
//! Shamir's scheme into `secret_shares` key shares of which `secret_threshold` rebuild it
//! (`sys/init`, `sys/unseal`), or it is read from a key file named in the configuration
//! (auto-unseal). The seal configuration itself, which holds no secret, sits at
//! [`SEAL_CONFIG_PATH`]. Those two entries are the only ones stored outside the barrier.
//!
//! Each state is a type and each transition consumes the state it leaves: an [`Uninitialized`]
//! store can only be initialized; a [`Sealed`] one collects key shares and becomes an
//! [`Unsealed`] one holding the [`Barrier`]; sealing drops the barrier (and with it every key).
//! A failed transition hands the unchanged state back with the error.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sigil_core::SecretBytes;
use sigil_core::aead::{AeadAlgorithm, AeadKey};
use sigil_core::encoding::Encoding;
use sigil_storage::{Backend, Op};
use zeroize::Zeroizing;

use crate::api::ApiError;
use crate::barrier::Barrier;

/// Where the seal configuration lives (plain JSON; no secret in it).
pub const SEAL_CONFIG_PATH: &str = "core/seal-config";
/// Where the sealed root key lives.
pub const ROOT_KEY_PATH: &str = "core/root-key";

const KEY_LEN: usize = 32;

/// How the unseal key is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SealType {
    /// Split into key shares held by operators.
    Shamir,
    /// Read from a key file at startup (auto-unseal).
    Keyfile,
}

impl SealType {
    /// The name `sys/seal-status` reports.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Shamir => "shamir",
            Self::Keyfile => "keyfile",
        }
    }
}

/// The stored seal configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealConfig {
    /// How the unseal key is held.
    #[serde(rename = "type")]
    pub kind: SealType,
    /// Number of key shares (0 for key-file seals).
    pub secret_shares: u8,
    /// Shares needed to unseal (0 for key-file seals).
    pub secret_threshold: u8,
    /// A random id for this store, reported as `cluster_id`.
    pub cluster_id: String,
}

/// An auto-unseal key read from a file: 32 bytes, stored base64 or hex encoded.
pub struct KeyFile {
    path: PathBuf,
    key: SecretBytes,
}

impl fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFile")
            .field("path", &self.path)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl KeyFile {
    /// Reads a key file.
    pub fn read(path: &Path) -> Result<Self, ApiError> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            ApiError::internal(format!(
                "reading the unseal key file {}: {e}",
                path.display()
            ))
        })?);
        let trimmed = text.trim();
        let key = Encoding::Base64
            .decode(trimmed)
            .or_else(|_| Encoding::Hex.decode(trimmed))
            .ok()
            .filter(|k| k.len() == KEY_LEN)
            .ok_or_else(|| {
                ApiError::internal(format!(
                    "the unseal key file {} must hold 32 bytes in base64 or hex",
                    path.display()
                ))
            })?;
        Ok(Self {
            path: path.to_owned(),
            key: SecretBytes::new(key),
        })
    }

    /// Makes a new random key file (mode 0600); refuses to overwrite one.
    pub fn create(path: &Path) -> Result<Self, ApiError> {
        let key = sigil_core::random::secret_bytes(KEY_LEN).map_err(ApiError::internal)?;
        let text = Zeroizing::new(format!(
            "{}\n",
            Encoding::Base64.encode(key.expose_secret())
        ));
        write_new_private(path, text.as_bytes())
            .map_err(|e| ApiError::internal(format!("writing {}: {e}", path.display())))?;
        Ok(Self {
            path: path.to_owned(),
            key,
        })
    }
}

fn write_new_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// What `sys/init` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitRequest {
    /// Number of key shares (Shamir seals).
    pub secret_shares: u8,
    /// Shares needed to unseal (Shamir seals).
    pub secret_threshold: u8,
}

/// What `sys/init` returns once: the key shares. The caller also makes the root token.
pub struct InitResult {
    /// The key shares (empty for key-file seals).
    pub keys: Vec<SecretBytes>,
}

impl fmt::Debug for InitResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InitResult {{ keys: [{} redacted] }}", self.keys.len())
    }
}

/// Where the lifecycle is, with what that state holds.
#[derive(Debug)]
pub enum SealState {
    /// Nothing stored yet.
    Uninitialized(Uninitialized),
    /// Initialized; keys not loaded.
    Sealed(Sealed),
    /// Serving.
    Unsealed(Unsealed),
}

impl SealState {
    /// Reads the stored configuration to find the starting state.
    pub async fn load(backend: &Arc<dyn Backend>) -> Result<Self, ApiError> {
        match backend.get(SEAL_CONFIG_PATH).await? {
            None => Ok(Self::Uninitialized(Uninitialized)),
            Some(bytes) => {
                let config: SealConfig = serde_json::from_slice(&bytes)
                    .map_err(|_| ApiError::internal("the stored seal configuration is corrupt"))?;
                Ok(Self::Sealed(Sealed::new(config)))
            }
        }
    }

    /// The seal configuration, once initialized.
    pub fn config(&self) -> Option<&SealConfig> {
        match self {
            Self::Uninitialized(_) => None,
            Self::Sealed(s) => Some(&s.config),
            Self::Unsealed(u) => Some(&u.config),
        }
    }
}

/// A store that has never been initialized.
#[derive(Debug)]
pub struct Uninitialized;

impl Uninitialized {
    /// Initializes the store: a new root key, a new keyring, and the key shares (Shamir) or
    /// the key file's key sealing the root key. The store comes back unsealed so the caller
    /// can write its first entries (the root token); a Shamir store is then sealed again
    /// with [`Unsealed::seal`], as Vault does, while a key-file store keeps serving.
    pub async fn init(
        self,
        backend: &Arc<dyn Backend>,
        request: InitRequest,
        keyfile: Option<&KeyFile>,
        now: u64,
    ) -> Result<(Unsealed, InitResult), (Self, ApiError)> {
        match self.try_init(backend, request, keyfile, now).await {
            Ok(done) => Ok(done),
            Err(e) => Err((self, e)),
        }
    }

    async fn try_init(
        &self,
        backend: &Arc<dyn Backend>,
        request: InitRequest,
        keyfile: Option<&KeyFile>,
        now: u64,
    ) -> Result<(Unsealed, InitResult), ApiError> {
        let cluster_id = uuid::Uuid::new_v4().to_string();
        let (config, unseal_key, keys) = match keyfile {
            Some(kf) => (
                SealConfig {
                    kind: SealType::Keyfile,
                    secret_shares: 0,
                    secret_threshold: 0,
                    cluster_id,
                },
                SecretBytes::copy_from(kf.key.expose_secret()),
                Vec::new(),
            ),
            None => {
                let InitRequest {
                    secret_shares: n,
                    secret_threshold: t,
                } = request;
                if n == 0 || t == 0 || t > n {
                    return Err(ApiError::bad(
                        "secret_threshold must be between 1 and secret_shares, and secret_shares at least 1",
                    ));
                }
                if t == 1 && n > 1 {
                    return Err(ApiError::bad(
                        "secret_threshold must be greater than one for multiple shares",
                    ));
                }
                let key = sigil_core::random::secret_bytes(KEY_LEN).map_err(ApiError::internal)?;
                let keys = split(&key, n, t)?;
                let config = SealConfig {
                    kind: SealType::Shamir,
                    secret_shares: n,
                    secret_threshold: t,
                    cluster_id,
                };
                (config, key, keys)
            }
        };
        let root = sigil_core::random::secret_bytes(KEY_LEN).map_err(ApiError::internal)?;
        let wrapper = aes(unseal_key.expose_secret())?;
        let sealed_root = wrapper
            .seal(ROOT_KEY_PATH.as_bytes(), root.expose_secret())
            .map_err(ApiError::internal)?;
        // The keyring first, then the root key and configuration in one transaction: a crash
        // in between leaves the store uninitialized (no configuration), never half-sealed.
        let barrier = Barrier::create(Arc::clone(backend), root.expose_secret(), now).await?;
        backend
            .transaction(vec![
                Op::Put(ROOT_KEY_PATH.to_owned(), sealed_root),
                Op::Put(
                    SEAL_CONFIG_PATH.to_owned(),
                    serde_json::to_vec(&config).map_err(ApiError::internal)?,
                ),
            ])
            .await?;
        let state = Unsealed {
            config,
            barrier: Arc::new(barrier),
        };
        Ok((state, InitResult { keys }))
    }
}

/// An initialized store whose keys are not loaded. Collects unseal key shares.
pub struct Sealed {
    config: SealConfig,
    shares: Vec<SecretBytes>,
    nonce: String,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("config", &self.config)
            .field("progress", &self.shares.len())
            .finish_non_exhaustive()
    }
}

/// What one `sys/unseal` call did.
#[derive(Debug)]
pub enum UnsealStep {
    /// More shares needed; the state is still sealed.
    Progress(Sealed),
    /// The threshold was reached and the barrier opened.
    Unsealed(Unsealed),
}

impl Sealed {
    fn new(config: SealConfig) -> Self {
        Self {
            config,
            shares: Vec::new(),
            nonce: String::new(),
        }
    }

    /// The seal configuration.
    pub fn config(&self) -> &SealConfig {
        &self.config
    }

    /// Shares given so far.
    pub fn progress(&self) -> usize {
        self.shares.len()
    }

    /// The id of the unseal attempt in progress (empty when none).
    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// Forgets the shares given so far (`sys/unseal {"reset": true}`).
    #[must_use]
    pub fn reset(self) -> Self {
        Self::new(self.config)
    }

    /// Adds one key share (hex or base64). When the threshold is reached the unseal key is
    /// rebuilt and the barrier opened; a wrong combination resets the progress.
    pub async fn submit(
        mut self,
        backend: &Arc<dyn Backend>,
        key: &str,
    ) -> Result<UnsealStep, (Self, ApiError)> {
        if self.config.kind != SealType::Shamir {
            return Err((
                self,
                ApiError::bad("this server unseals from its key file; restart it to unseal"),
            ));
        }
        let share = match decode_share(key) {
            Ok(s) => s,
            Err(e) => return Err((self, e)),
        };
        if self
            .shares
            .iter()
            .any(|s| s.expose_secret() == share.expose_secret())
        {
            // Vault ignores a share given twice in one attempt.
            return Ok(UnsealStep::Progress(self));
        }
        if self.shares.is_empty() {
            self.nonce = uuid::Uuid::new_v4().to_string();
        }
        self.shares.push(share);
        if self.shares.len() < usize::from(self.config.secret_threshold) {
            return Ok(UnsealStep::Progress(self));
        }
        let unseal_key = combine(&self.shares, self.config.secret_threshold);
        let config = self.config.clone();
        let opened = match unseal_key {
            Ok(k) => open_barrier(backend, k.expose_secret()).await,
            Err(e) => Err(e),
        };
        match opened {
            Ok(barrier) => Ok(UnsealStep::Unsealed(Unsealed {
                config,
                barrier: Arc::new(barrier),
            })),
            Err(e) => Err((self.reset(), e)),
        }
    }

    /// Unseals with the key file (auto-unseal at startup).
    pub async fn unseal_with_keyfile(
        self,
        backend: &Arc<dyn Backend>,
        keyfile: &KeyFile,
    ) -> Result<Unsealed, (Self, ApiError)> {
        if self.config.kind != SealType::Keyfile {
            return Err((
                self,
                ApiError::internal("the store uses Shamir key shares, not a key file"),
            ));
        }
        match open_barrier(backend, keyfile.key.expose_secret()).await {
            Ok(barrier) => Ok(Unsealed {
                config: self.config,
                barrier: Arc::new(barrier),
            }),
            Err(e) => Err((self, e)),
        }
    }
}

/// A serving store: the barrier is open.
#[derive(Debug)]
pub struct Unsealed {
    config: SealConfig,
    barrier: Arc<Barrier>,
}

impl Unsealed {
    /// The barrier.
    pub fn barrier(&self) -> &Arc<Barrier> {
        &self.barrier
    }

    /// The seal configuration.
    pub fn config(&self) -> &SealConfig {
        &self.config
    }

    /// Seals: drops this state's hold on the barrier's keys.
    pub fn seal(self) -> Sealed {
        Sealed::new(self.config)
    }
}

async fn open_barrier(backend: &Arc<dyn Backend>, unseal_key: &[u8]) -> Result<Barrier, ApiError> {
    let sealed_root = backend
        .get(ROOT_KEY_PATH)
        .await?
        .ok_or_else(|| ApiError::internal("the sealed root key is missing from storage"))?;
    let root = aes(unseal_key)?
        .open(ROOT_KEY_PATH.as_bytes(), &sealed_root)
        .map_err(|_| {
            ApiError::bad("the unseal key shares do not open this store; progress reset")
        })?;
    Barrier::open(Arc::clone(backend), root.expose_secret()).await
}

fn aes(key: &[u8]) -> Result<AeadKey, ApiError> {
    AeadKey::new(AeadAlgorithm::Aes256Gcm, key).map_err(ApiError::internal)
}

/// Splits `key` into `n` shares, `t` of which rebuild it. Each share is its x coordinate
/// followed by one y byte per key byte (GF(2^8) arithmetic, the `sharks` crate).
fn split(key: &SecretBytes, n: u8, t: u8) -> Result<Vec<SecretBytes>, ApiError> {
    let sharks = sharks::Sharks(t);
    Ok(sharks
        .dealer(key.expose_secret())
        .take(usize::from(n))
        .map(|share| SecretBytes::new(Vec::from(&share)))
        .collect())
}

fn combine(shares: &[SecretBytes], t: u8) -> Result<SecretBytes, ApiError> {
    let parsed = shares
        .iter()
        .map(|s| sharks::Share::try_from(s.expose_secret()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ApiError::bad("invalid key share"))?;
    let secret = sharks::Sharks(t)
        .recover(&parsed)
        .map_err(|_| ApiError::bad("the key shares could not be combined; progress reset"))?;
    Ok(SecretBytes::new(secret))
}

fn decode_share(key: &str) -> Result<SecretBytes, ApiError> {
    let key = key.trim();
    let bytes = Encoding::Hex
        .decode(key)
        .or_else(|_| Encoding::Base64.decode(key))
        .map_err(|_| ApiError::bad("'key' must be a valid hex or base64 string"))?;
    if bytes.len() != KEY_LEN + 1 || bytes[0] == 0 {
        return Err(ApiError::bad("'key' is not a key share of this store"));
    }
    Ok(SecretBytes::new(bytes))
}

#[cfg(test)]
mod tests {
    use sigil_storage::InMemory;

    use super::*;

    fn backend() -> Arc<dyn Backend> {
        Arc::new(InMemory::new())
    }

    async fn init(b: &Arc<dyn Backend>, n: u8, t: u8) -> (Sealed, Vec<String>) {
        let SealState::Uninitialized(u) = SealState::load(b).await.unwrap() else {
            panic!("fresh store");
        };
        let (state, result) = u
            .init(
                b,
                InitRequest {
                    secret_shares: n,
                    secret_threshold: t,
                },
                None,
                1,
            )
            .await
            .map_err(|(_, e)| e)
            .unwrap();
        let sealed = state.seal();
        let keys = result
            .keys
            .iter()
            .map(|k| Encoding::Hex.encode(k.expose_secret()))
            .collect();
        (sealed, keys)
    }

    async fn unseal(
        b: &Arc<dyn Backend>,
        mut sealed: Sealed,
        keys: &[&str],
    ) -> Result<Unsealed, Sealed> {
        for k in keys {
            match sealed.submit(b, k).await {
                Ok(UnsealStep::Progress(s)) => sealed = s,
                Ok(UnsealStep::Unsealed(u)) => return Ok(u),
                Err((s, _)) => return Err(s),
            }
        }
        Err(sealed)
    }

    #[tokio::test]
    async fn any_threshold_of_shares_unseals_and_fewer_do_not() {
        let b = backend();
        let (sealed, keys) = init(&b, 5, 3).await;
        let sealed = unseal(&b, sealed, &[&keys[0], &keys[4]]).await.unwrap_err();
        assert_eq!(sealed.progress(), 2);
        let sealed = sealed.reset();
        let u = unseal(&b, sealed, &[&keys[3], &keys[1], &keys[2]])
            .await
            .unwrap();
        assert_eq!(u.config().secret_threshold, 3);
        // Sealing and reloading from storage gives a sealed store again.
        let _sealed = u.seal();
        assert!(matches!(
            SealState::load(&b).await.unwrap(),
            SealState::Sealed(_)
        ));
    }

    #[tokio::test]
    async fn repeated_and_foreign_shares_do_not_unseal() {
        let b = backend();
        let (sealed, keys) = init(&b, 3, 2).await;
        let sealed = unseal(&b, sealed, &[&keys[0], &keys[0]]).await.unwrap_err();
        assert_eq!(sealed.progress(), 1, "a repeated share counts once");
        let other = backend();
        let (_, foreign) = init(&other, 3, 2).await;
        let sealed = unseal(&b, sealed.reset(), &[&keys[0], &foreign[1]])
            .await
            .unwrap_err();
        assert_eq!(sealed.progress(), 0, "a wrong combination resets");
        for bad in [
            "",
            "zz",
            "00",
            &"ab".repeat(40),
            &format!("00{}", &keys[0][2..]),
        ] {
            let Err((s, e)) = sealed_clone(&b).await.submit(&b, bad).await else {
                panic!("{bad:?} accepted");
            };
            assert_eq!(s.progress(), 0);
            assert_eq!(e.status(), 400);
        }
    }

    async fn sealed_clone(b: &Arc<dyn Backend>) -> Sealed {
        let SealState::Sealed(s) = SealState::load(b).await.unwrap() else {
            panic!("sealed");
        };
        s
    }

    #[tokio::test]
    async fn bad_init_parameters_store_nothing() {
        let b = backend();
        for (n, t) in [(0, 0), (3, 0), (2, 3), (3, 1)] {
            let SealState::Uninitialized(u) = SealState::load(&b).await.unwrap() else {
                panic!("still uninitialized");
            };
            let req = InitRequest {
                secret_shares: n,
                secret_threshold: t,
            };
            assert!(u.init(&b, req, None, 1).await.is_err(), "{n}/{t}");
        }
        assert!(
            b.list("", sigil_storage::Page::default())
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn key_file_seals_unseal_automatically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("unseal.key");
        let kf = KeyFile::create(&path).unwrap();
        assert!(
            KeyFile::create(&path).is_err(),
            "never overwrites a key file"
        );
        let b = backend();
        let SealState::Uninitialized(u) = SealState::load(&b).await.unwrap() else {
            panic!("fresh");
        };
        let req = InitRequest {
            secret_shares: 0,
            secret_threshold: 0,
        };
        let (state, result) = u
            .init(&b, req, Some(&kf), 1)
            .await
            .map_err(|(_, e)| e)
            .unwrap();
        assert!(result.keys.is_empty());
        assert_eq!(state.config().kind, SealType::Keyfile);
        let SealState::Sealed(sealed) = SealState::load(&b).await.unwrap() else {
            panic!("sealed after restart");
        };
        let again = KeyFile::read(&path).unwrap();
        assert!(format!("{again:?}").contains("[redacted]"));
        sealed
            .unseal_with_keyfile(&b, &again)
            .await
            .map_err(|(_, e)| e)
            .unwrap();
        std::fs::write(&path, Encoding::Base64.encode(&[1u8; 32])).unwrap();
        let SealState::Sealed(sealed) = SealState::load(&b).await.unwrap() else {
            panic!("sealed");
        };
        let wrong = KeyFile::read(&path).unwrap();
        assert!(sealed.unseal_with_keyfile(&b, &wrong).await.is_err());
    }
}
