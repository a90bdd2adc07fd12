//! Registration entries in storage, with two indexes so that neither registering an entry
//! nor an agent's sync reads every entry of the trust domain:
//! - `entries/<uuid>`: the entry;
//! - `entry_parents/<sha256(parent_id)>/<uuid>`: the entries under a parent (an agent or an
//!   alias), what `node/sync` and `node/jwt` read;
//! - `entry_registrations/<sha256(spiffe_id, parent_id, selectors)>`: the uuid holding that
//!   registration, so a duplicate is refused with one read.
//!
//! An entry and its index keys are written and deleted in one transaction. A store made
//! before the indexes existed has them built once, under the engine lock, the first time
//! entries are used (`entry_index` records that it was done).

use serde_json::Value;
use sigil_core::encoding::hex_encode;
use sigil_core::hash::{HashAlgorithm, digest};
use sigil_core::spiffe::SpiffeId;
use sigil_storage::Page;

use super::entry::Entry;
use crate::api::ApiError;
use crate::view::{View, ViewOp, to_json};

const ENTRIES: &str = "entries/";
const BY_PARENT: &str = "entry_parents/";
const BY_REGISTRATION: &str = "entry_registrations/";
const INDEXED: &str = "entry_index";

fn hashed(text: &str) -> String {
    hex_encode(&digest(HashAlgorithm::Sha256, text.as_bytes()))
}

/// Where entry `id` lives; an id is a UUID, so anything else names no entry.
pub(super) fn entry_key(id: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(id).map_err(|_| ApiError::NotFound)?;
    Ok(format!("{ENTRIES}{id}"))
}

fn parent_prefix(parent: &SpiffeId) -> String {
    format!("{BY_PARENT}{}/", hashed(parent.as_str()))
}

fn registration_key(e: &Entry) -> String {
    // NUL cannot occur in a SPIFFE ID or a selector, so the fields cannot run together.
    let mut text = format!("{}\0{}", e.spiffe_id, e.parent_id);
    for s in &e.selectors {
        text.push('\0');
        text.push_str(s);
    }
    format!("{BY_REGISTRATION}{}", hashed(&text))
}

/// The index keys of `e`.
fn index_ops(e: &Entry) -> Result<Vec<ViewOp>, ApiError> {
    Ok(vec![
        ViewOp::Put(
            format!("{}{}", parent_prefix(&e.parent_id), e.id),
            Vec::new(),
        ),
        ViewOp::Put(registration_key(e), to_json(&Value::from(e.id.as_str()))?),
    ])
}

fn unindex_ops(e: &Entry) -> Vec<ViewOp> {
    vec![
        ViewOp::Delete(format!("{}{}", parent_prefix(&e.parent_id), e.id)),
        ViewOp::Delete(registration_key(e)),
    ]
}

/// Every stored entry.
pub(super) async fn all(view: &View) -> Result<Vec<Entry>, ApiError> {
    let mut out = Vec::new();
    for id in view.list(ENTRIES, Page::default()).await? {
        if let Some(e) = view.get_json::<Entry>(&format!("{ENTRIES}{id}")).await? {
            out.push(e);
        }
    }
    Ok(out)
}

/// Builds the indexes of a store made before they existed. The caller holds the engine
/// lock.
pub(super) async fn ensure_indexed(view: &View) -> Result<(), ApiError> {
    if view.get(INDEXED).await?.is_some() {
        return Ok(());
    }
    let mut ops = vec![ViewOp::Put(INDEXED.into(), b"1".to_vec())];
    for e in all(view).await? {
        ops.extend(index_ops(&e)?);
    }
    view.transaction(ops).await
}

/// What a new trust domain stores so that its (empty) indexes count as built.
pub(super) fn new_store_op() -> ViewOp {
    ViewOp::Put(INDEXED.into(), b"1".to_vec())
}

/// Whether the indexes can be read (so readers that do not take the lock can tell).
pub(super) async fn indexed(view: &View) -> Result<bool, ApiError> {
    Ok(view.get(INDEXED).await?.is_some())
}

/// The entries whose parent is one of `parents`.
pub(super) async fn under(view: &View, parents: &[&SpiffeId]) -> Result<Vec<Entry>, ApiError> {
    let mut out = Vec::new();
    for parent in parents {
        let prefix = parent_prefix(parent);
        for id in view.list(&prefix, Page::default()).await? {
            if let Some(e) = view.get_json::<Entry>(&format!("{ENTRIES}{id}")).await?
                && e.parent_id == **parent
            {
                out.push(e);
            }
        }
    }
    Ok(out)
}

/// Stores `entry` (replacing `previous`, its stored form, if any), refusing it when another
/// entry holds the same registration. The caller holds the engine lock.
pub(super) async fn put(
    view: &View,
    entry: &Entry,
    previous: Option<&Entry>,
) -> Result<(), ApiError> {
    ensure_indexed(view).await?;
    if let Some(Value::String(twin)) = view.get_json::<Value>(&registration_key(entry)).await?
        && twin != entry.id
    {
        return Err(ApiError::bad(format!(
            "an entry with this spiffe_id, parent_id and selectors exists: {twin}"
        )));
    }
    let mut ops = previous.map(unindex_ops).unwrap_or_default();
    ops.extend(index_ops(entry)?);
    ops.push(ViewOp::Put(entry_key(&entry.id)?, to_json(entry)?));
    view.transaction(ops).await
}

/// Deletes entry `id` and its index keys. The caller holds the engine lock.
pub(super) async fn delete(view: &View, id: &str) -> Result<(), ApiError> {
    ensure_indexed(view).await?;
    let key = entry_key(id)?;
    let Some(e) = view.get_json::<Entry>(&key).await? else {
        return Ok(());
    };
    let mut ops = unindex_ops(&e);
    ops.push(ViewOp::Delete(key));
    view.transaction(ops).await
}
