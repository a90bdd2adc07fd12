//! Storage as handlers see it: a [`View`] is a key prefix over the secure (barrier-encrypted)
//! store. An engine mounted at `secret/` gets a view rooted at `logical/<mount uuid>/` and can
//! neither see nor name anything outside it.
//!
//! [`SecureStore`] is the store behind views. In the server it is the barrier (every value
//! AES-256-GCM encrypted with its path as associated data); [`PlainStore`] is the same contract
//! without encryption, for unit tests of handlers.

use std::fmt;
use std::sync::Arc;

use sigil_storage::{Backend, InMemory, Op, Page};

use crate::api::ApiError;

/// A transactional key-value store whose values are protected at rest.
#[async_trait::async_trait]
pub trait SecureStore: Send + Sync + fmt::Debug + 'static {
    /// The value under `key`.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ApiError>;
    /// The immediate children of `prefix` (folders end with `/`).
    async fn list(&self, prefix: &str, page: Page<'_>) -> Result<Vec<String>, ApiError>;
    /// Applies all operations or none; durable when it returns.
    async fn transaction(&self, ops: Vec<Op>) -> Result<(), ApiError>;
}

/// A prefix of the secure store.
#[derive(Clone)]
pub struct View {
    store: Arc<dyn SecureStore>,
    prefix: String,
}

impl View {
    /// A view of `store` under `prefix` (which should end with `/`).
    pub fn new(store: Arc<dyn SecureStore>, prefix: impl Into<String>) -> Self {
        Self {
            store,
            prefix: prefix.into(),
        }
    }

    /// A view under this one.
    pub fn sub(&self, prefix: &str) -> Self {
        Self {
            store: Arc::clone(&self.store),
            prefix: format!("{}{prefix}", self.prefix),
        }
    }

    /// The full key for `key`. Keys must be relative: no leading `/`, no `..` segment.
    fn key(&self, key: &str) -> Result<String, ApiError> {
        if key.starts_with('/') || key.split('/').any(|seg| seg == ".." || seg == ".") {
            return Err(ApiError::bad("invalid path"));
        }
        Ok(format!("{}{key}", self.prefix))
    }

    /// The value under `key`.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ApiError> {
        self.store.get(&self.key(key)?).await
    }

    /// A JSON value under `key`.
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, ApiError> {
        match self.get(key).await? {
            None => Ok(None),
            Some(bytes) => Self::parse_json(key, &bytes).map(Some),
        }
    }

    /// The JSON value in `bytes`, read from under `key`.
    pub fn parse_json<T: serde::de::DeserializeOwned>(
        key: &str,
        bytes: &[u8],
    ) -> Result<T, ApiError> {
        serde_json::from_slice(bytes)
            .map_err(|_| ApiError::internal(format!("stored entry at {key} is corrupt")))
    }

    /// Stores `value` under `key`.
    pub async fn put(&self, key: &str, value: Vec<u8>) -> Result<(), ApiError> {
        self.transaction(vec![ViewOp::Put(key.to_owned(), value)])
            .await
    }

    /// Stores a JSON value under `key`.
    pub async fn put_json<T: serde::Serialize>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<(), ApiError> {
        self.put(key, to_json(value)?).await
    }

    /// Deletes `key`.
    pub async fn delete(&self, key: &str) -> Result<(), ApiError> {
        self.transaction(vec![ViewOp::Delete(key.to_owned())]).await
    }

    /// Children of `prefix` within the view.
    pub async fn list(&self, prefix: &str, page: Page<'_>) -> Result<Vec<String>, ApiError> {
        self.store.list(&self.key(prefix)?, page).await
    }

    /// Applies all operations or none.
    pub async fn transaction(&self, ops: Vec<ViewOp>) -> Result<(), ApiError> {
        let ops = ops
            .into_iter()
            .map(|op| {
                Ok(match op {
                    ViewOp::Put(k, v) => Op::Put(self.key(&k)?, v),
                    ViewOp::Delete(k) => Op::Delete(self.key(&k)?),
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        self.store.transaction(ops).await
    }
}

impl fmt::Debug for View {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("View")
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// An operation in a [`View::transaction`], with keys relative to the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewOp {
    /// Store a value.
    Put(String, Vec<u8>),
    /// Delete a key.
    Delete(String),
}

/// JSON-encodes a value for storage.
pub fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(|e| ApiError::internal(format!("encoding an entry: {e}")))
}

/// The secure-store contract without encryption, over any backend. For tests of handlers only:
/// the server always puts the barrier in front of storage.
#[derive(Debug)]
pub struct PlainStore(Arc<dyn Backend>);

impl PlainStore {
    /// An in-memory plain store.
    pub fn in_memory() -> Arc<Self> {
        Arc::new(Self(Arc::new(InMemory::new())))
    }

    /// A view over a fresh in-memory plain store.
    pub fn view() -> View {
        View::new(Self::in_memory(), "")
    }
}

#[async_trait::async_trait]
impl SecureStore for PlainStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ApiError> {
        Ok(self.0.get(key).await?)
    }

    async fn list(&self, prefix: &str, page: Page<'_>) -> Result<Vec<String>, ApiError> {
        Ok(self.0.list(prefix, page).await?)
    }

    async fn transaction(&self, ops: Vec<Op>) -> Result<(), ApiError> {
        Ok(self.0.transaction(ops).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn views_are_confined_to_their_prefix() {
        let store = PlainStore::in_memory();
        let a = View::new(store.clone(), "logical/a/");
        let b = View::new(store.clone(), "logical/b/");
        a.put("x", b"1".to_vec()).await.unwrap();
        assert_eq!(b.get("x").await.unwrap(), None);
        assert_eq!(a.sub("").get("x").await.unwrap(), Some(b"1".to_vec()));
        for bad in ["../b/x", "/x", "y/../../b/x", "./x"] {
            assert!(a.get(bad).await.is_err(), "{bad}");
            assert!(a.put(bad, vec![]).await.is_err(), "{bad}");
        }
        assert_eq!(a.list("", Page::default()).await.unwrap(), ["x"]);
    }
}
