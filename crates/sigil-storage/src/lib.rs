//! Sigil's physical storage: one small trait, [`Backend`], and the backends behind it.
//!
//! A backend stores opaque bytes under string keys. It knows nothing of encryption: the server's
//! barrier encrypts every value before it reaches a backend, so everything here is ciphertext
//! (except the seal's own bootstrap records, which are protected by the unseal key).
//!
//! The contract every backend honours (checked by [`conformance`], which every backend's tests
//! run):
//! - `put`, `delete` and `transaction` return only once the change is durable (for backends
//!   that persist) and visible to every later `get` and `list`.
//! - `transaction` applies all of its operations or none.
//! - `list(prefix)` returns the immediate children of `prefix` in byte order: the rest of each
//!   key up to and including the next `/`, each name once. Folders end in `/`. Pagination is by
//!   `after` (exclusive, a child name as returned earlier) and `limit`.
//! - Keys are non-empty UTF-8 of at most [`MAX_KEY_LEN`] bytes without NUL; values at most
//!   [`MAX_VALUE_LEN`] bytes. Anything else is refused with [`Error::InvalidKey`] or
//!   [`Error::TooLarge`] before storage is touched.
//!
//! The trait is async because the server is, and because the next backend (PostgreSQL) does
//! network I/O. Backends are chosen at startup and used as `Arc<dyn Backend>`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod conformance;
pub mod embedded;
mod listing;
pub mod memory;

use std::fmt;

pub use embedded::Embedded;
pub use memory::InMemory;

/// Longest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 2048;

/// Largest value accepted, in bytes (the HTTP layer's request limit is 32 MiB; stored values
/// carry a little encryption overhead on top).
pub const MAX_VALUE_LEN: usize = 33 * 1024 * 1024;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Storage failures, named by who is at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The caller passed a key the contract forbids (a bug in the caller).
    #[error("invalid storage key: {0}")]
    InvalidKey(&'static str),
    /// A value larger than [`MAX_VALUE_LEN`].
    #[error("storage value of {len} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// The size given.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The storage medium failed (disk full, I/O error, database error).
    #[error("storage failed: {0}")]
    Io(String),
    /// The backend was shut down.
    #[error("storage is closed")]
    Closed,
}

/// One write in a [`Backend::transaction`].
#[derive(Clone, PartialEq, Eq)]
pub enum Op {
    /// Store `value` under `key`, replacing any previous value.
    Put(String, Vec<u8>),
    /// Remove `key` (no error if it is absent).
    Delete(String),
}

impl Op {
    /// The key this operation touches.
    pub fn key(&self) -> &str {
        match self {
            Self::Put(k, _) | Self::Delete(k) => k,
        }
    }

    /// Checks the key and value limits.
    fn check(&self) -> Result<()> {
        check_key(self.key())?;
        if let Self::Put(_, v) = self {
            check_value(v)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Op {
    /// Values are ciphertext, but there is no reason to print them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Put(k, v) => write!(f, "Put({k:?}, {} bytes)", v.len()),
            Self::Delete(k) => write!(f, "Delete({k:?})"),
        }
    }
}

/// A page of a listing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Page<'a> {
    /// Return only children strictly after this one.
    pub after: Option<&'a str>,
    /// Return at most this many children.
    pub limit: Option<usize>,
}

/// A key-value store for the barrier.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + fmt::Debug + 'static {
    /// The value under `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// Stores `value` under `key`; durable when this returns.
    async fn put(&self, key: &str, value: Vec<u8>) -> Result<()> {
        self.transaction(vec![Op::Put(key.to_owned(), value)]).await
    }

    /// Removes `key`; durable when this returns. Removing an absent key is not an error.
    async fn delete(&self, key: &str) -> Result<()> {
        self.transaction(vec![Op::Delete(key.to_owned())]).await
    }

    /// The immediate children of `prefix` (see the crate documentation).
    async fn list(&self, prefix: &str, page: Page<'_>) -> Result<Vec<String>>;

    /// Applies every operation or none; durable when this returns.
    async fn transaction(&self, ops: Vec<Op>) -> Result<()>;

    /// A short name for logs and metrics ("embedded", "memory", ...).
    fn name(&self) -> &'static str;
}

/// Checks a key against the contract.
pub fn check_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::InvalidKey("empty"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(Error::InvalidKey("longer than 2048 bytes"));
    }
    if key.contains('\0') {
        return Err(Error::InvalidKey("contains NUL"));
    }
    Ok(())
}

fn check_value(v: &[u8]) -> Result<()> {
    if v.len() > MAX_VALUE_LEN {
        return Err(Error::TooLarge {
            len: v.len(),
            limit: MAX_VALUE_LEN,
        });
    }
    Ok(())
}

fn check_prefix(prefix: &str) -> Result<()> {
    if prefix.len() > MAX_KEY_LEN {
        return Err(Error::InvalidKey("prefix longer than 2048 bytes"));
    }
    if prefix.contains('\0') {
        return Err(Error::InvalidKey("prefix contains NUL"));
    }
    Ok(())
}
