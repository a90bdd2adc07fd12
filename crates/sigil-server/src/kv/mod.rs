//! The key/value secrets engines: [`KvV1`] (one unversioned value per path) and [`KvV2`]
//! (versioned secrets with metadata, check-and-set, soft delete and destroy), speaking Vault's
//! `kv` API so that `bao kv …` and hvac work unchanged.
//!
//! Both engines hold no state of their own beyond a striped lock table: everything lives in
//! the mount's [`crate::view::View`], and every change is one `View::transaction`. The lock
//! table serializes read-modify-write of one secret (two writers racing on `app` must get
//! versions 1 and 2, not 1 twice); it does not span server restarts or nodes, which is fine
//! because one node owns a mount's storage at a time.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use sigil_storage::Page;
use tokio::sync::{Mutex, MutexGuard};

use crate::api::{ApiError, Request, u64_field};
use crate::time::rfc3339_go as rfc3339;
use crate::view::View;

mod v1;
mod v2;

pub use v1::KvV1;
pub use v2::KvV2;

#[cfg(test)]
mod tests;

/// How many stripes the lock table has: enough that unrelated secrets rarely wait on each
/// other, few enough that the table is a fixed, small allocation.
const STRIPES: usize = 64;

/// A fixed table of async mutexes; a key always maps to the same stripe.
pub(crate) struct Stripes {
    locks: [Mutex<()>; STRIPES],
}

impl Stripes {
    /// A table of unlocked stripes.
    pub(crate) fn new() -> Self {
        Self {
            locks: std::array::from_fn(|_| Mutex::new(())),
        }
    }

    /// Waits for exclusive use of `key` (and whatever else shares its stripe).
    pub(crate) async fn lock(&self, key: &str) -> MutexGuard<'_, ()> {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        // The modulo keeps the index below STRIPES, so the cast cannot truncate meaningfully.
        let i = (h.finish() % STRIPES as u64) as usize;
        self.locks[i].lock().await
    }
}

/// Answers a LIST of `prefix` within `view` as Vault does: `{"keys": [...]}`, folders ending
/// in `/`, 404 when nothing is there. Honors OpenBao's `after` and `limit` query parameters.
async fn list_keys(
    view: &View,
    prefix: &str,
    req: &Request,
) -> Result<Map<String, Value>, ApiError> {
    let after = match req.data.get("after") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(ApiError::bad("after: expected a string")),
    };
    let limit = match u64_field(&req.data, "limit")? {
        None | Some(0) => None,
        Some(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
    };
    let page = Page {
        after: after.as_deref(),
        limit,
    };
    let keys = view.list(prefix, page).await?;
    if keys.is_empty() {
        return Err(ApiError::NotFound);
    }
    let mut out = Map::new();
    out.insert(
        "keys".into(),
        Value::Array(keys.into_iter().map(Value::String).collect()),
    );
    Ok(out)
}

/// Nanoseconds since the Unix epoch (0 before it).
fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

/// Formats whole seconds as Go's `time.Duration.String()` (`"0s"`, `"45s"`, `"1h0m0s"`,
/// `"-1s"`), the form Vault returns for `delete_version_after`.
fn go_duration(secs: i64) -> String {
    if secs < 0 {
        return format!("-{}", go_duration_abs(secs.unsigned_abs()));
    }
    go_duration_abs(secs.unsigned_abs())
}

fn go_duration_abs(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}
