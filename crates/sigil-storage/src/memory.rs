//! The in-memory backend: a `BTreeMap` behind a lock. For tests and for `sigil dev
//! --in-memory`; everything is lost when the process ends.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::{Backend, Error, Op, Page, Result, check_key, check_prefix, listing};

/// A backend that keeps everything in memory.
#[derive(Debug, Default)]
pub struct InMemory {
    map: RwLock<BTreeMap<String, Vec<u8>>>,
}

impl InMemory {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, BTreeMap<String, Vec<u8>>>> {
        self.map
            .read()
            .map_err(|_| Error::Io("in-memory store poisoned by a panic".into()))
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, BTreeMap<String, Vec<u8>>>> {
        self.map
            .write()
            .map_err(|_| Error::Io("in-memory store poisoned by a panic".into()))
    }
}

#[async_trait::async_trait]
impl Backend for InMemory {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        check_key(key)?;
        Ok(self.read()?.get(key).cloned())
    }

    async fn list(&self, prefix: &str, page: Page<'_>) -> Result<Vec<String>> {
        check_prefix(prefix)?;
        let map = self.read()?;
        listing::children(prefix, page, |bound| {
            Ok(map
                .range::<str, _>((bound, Bound::Unbounded))
                .next()
                .map(|(k, _)| k.clone()))
        })
    }

    async fn transaction(&self, ops: Vec<Op>) -> Result<()> {
        for op in &ops {
            op.check()?;
        }
        let mut map = self.write()?;
        for op in ops {
            match op {
                Op::Put(k, v) => {
                    map.insert(k, v);
                }
                Op::Delete(k) => {
                    map.remove(&k);
                }
            }
        }
        Ok(())
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance() {
        crate::conformance::run(|| async { InMemory::new() }).await;
    }
}
