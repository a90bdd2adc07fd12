//! `data/<path>` (read, write, merge patch, soft delete of the latest version) and
//! `subkeys/<path>`.

use serde_json::{Map, Value};

use crate::api::{ApiError, Request, Response, u64_field};
use crate::kv::unix_nanos;
use crate::kv::v2::model::{KeyMetadata, VersionMeta, metadata_key, version_key};
use crate::kv::v2::{KvV2, load_config, load_meta, version_param};
use crate::view::{View, ViewOp, to_json};

/// CAS failures, worded as Vault words them (clients match on them).
const CAS_MISMATCH: &str = "check-and-set parameter did not match the current version";
const CAS_REQUIRED: &str = "check-and-set parameter required for this call";

/// A write's parsed body.
struct WriteBody {
    data: Map<String, Value>,
    cas: Option<u64>,
}

impl WriteBody {
    fn parse(body: &Map<String, Value>) -> Result<Self, ApiError> {
        let data = match body.get("data") {
            None | Some(Value::Null) => return Err(ApiError::bad("no data provided")),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(ApiError::bad("data: expected a JSON object")),
        };
        let cas = match body.get("options") {
            None | Some(Value::Null) => None,
            Some(Value::Object(o)) => u64_field(o, "cas")
                .map_err(|_| ApiError::bad("error parsing check-and-set parameter"))?,
            Some(_) => return Err(ApiError::bad("options: expected a JSON object")),
        };
        Ok(Self { data, cas })
    }
}

/// The version a read asks for, if it is kept: `(number, its metadata)`.
fn pick_version<'m>(
    meta: &'m KeyMetadata,
    data: &Map<String, Value>,
) -> Result<(u64, &'m VersionMeta), ApiError> {
    let asked = version_param(data)?;
    let n = if asked == 0 {
        meta.current_version
    } else {
        asked
    };
    meta.versions
        .get(&n)
        .map(|vm| (n, vm))
        .ok_or(ApiError::NotFound)
}

/// How often a read starts over when a version's data went away between its metadata read and
/// its data read (a concurrent write trimmed it, or a destroy removed it).
const READ_ATTEMPTS: usize = 16;

/// Reads a live version's data; a deleted or destroyed one is a 404 carrying the metadata
/// under `field: null`, as Vault answers.
///
/// Reads take no lock. Every change writes the metadata and the version data it touches in one
/// transaction, so a version whose data is missing right after its metadata said it was live
/// was removed in between: the read starts over from the metadata, which now says so (or
/// names a newer version).
async fn live_version(
    engine: &KvV2,
    req: &Request,
    view: &View,
    path: &str,
    field: &str,
) -> Result<(Map<String, Value>, Map<String, Value>), ApiError> {
    for _ in 0..READ_ATTEMPTS {
        let stored = engine.cached_meta(view, path).await?;
        let meta = stored.meta.as_ref().ok_or(ApiError::NotFound)?;
        let (n, vm) = pick_version(meta, &req.data)?;
        let block = meta.version_block(n, vm);
        if vm.destroyed || vm.is_deleted(unix_nanos(req.time)) {
            let mut body = Map::new();
            body.insert(field.to_owned(), Value::Null);
            body.insert("metadata".into(), Value::Object(block));
            return Err(ApiError::NotFoundWith(body));
        }
        let data = view
            .get_json::<Map<String, Value>>(&stored.version_key(n))
            .await?;
        if let Some(data) = data {
            return Ok((data, block));
        }
    }
    Err(ApiError::internal(
        "a secret's version data kept changing under the read",
    ))
}

/// `GET data/<path>[?version=N]`.
pub(super) async fn read(
    engine: &KvV2,
    req: &Request,
    view: &View,
    path: &str,
) -> Result<Response, ApiError> {
    let (data, block) = live_version(engine, req, view, path, "data").await?;
    let mut out = Map::new();
    out.insert("data".into(), Value::Object(data));
    out.insert("metadata".into(), Value::Object(block));
    Ok(Response::data(out))
}

/// `GET subkeys/<path>[?depth=D&version=N]`: the data's shape with every leaf `null`.
pub(super) async fn subkeys(
    engine: &KvV2,
    req: &Request,
    view: &View,
    path: &str,
) -> Result<Response, ApiError> {
    let depth = u64_field(&req.data, "depth")
        .map_err(|_| ApiError::bad("depth: expected a non-negative integer"))?
        .unwrap_or_default();
    let (data, block) = live_version(engine, req, view, path, "subkeys").await?;
    let mut out = Map::new();
    out.insert("subkeys".into(), Value::Object(shape(&data, depth, 1)));
    out.insert("metadata".into(), Value::Object(block));
    Ok(Response::data(out))
}

/// The keys of `obj` with leaves replaced by `null`, descending into objects while `level` is
/// below `depth` (0 = no limit).
pub(super) fn shape(obj: &Map<String, Value>, depth: u64, level: u64) -> Map<String, Value> {
    obj.iter()
        .map(|(k, v)| {
            let sub = match v {
                // An empty object is a leaf too, as in Vault.
                Value::Object(inner) if !inner.is_empty() && (depth == 0 || level < depth) => {
                    Value::Object(shape(inner, depth, level + 1))
                }
                _ => Value::Null,
            };
            (k.clone(), sub)
        })
        .collect()
}

/// Applies an RFC 7396 JSON merge patch to `target`.
pub(super) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

impl KvV2 {
    /// `PUT/POST data/<path>` (a new version with `data`) and `PATCH data/<path>` (a new
    /// version merging `data` into the latest, which must be live).
    pub(super) async fn write_data(
        &self,
        req: &Request,
        view: &View,
        path: &str,
        patch: bool,
    ) -> Result<Response, ApiError> {
        let body = WriteBody::parse(&req.data)?;
        let now = unix_nanos(req.time);
        let _guard = self.locks.lock(path).await;
        let config = load_config(view).await?;
        let existing = load_meta(view, path).await?;
        if patch && existing.is_none() {
            return Err(ApiError::NotFound);
        }
        let mut meta = existing.unwrap_or_else(|| KeyMetadata::new(now));
        match body.cas {
            Some(cas) if cas != meta.current_version => return Err(ApiError::bad(CAS_MISMATCH)),
            None if meta.cas_required(&config) => return Err(ApiError::bad(CAS_REQUIRED)),
            _ => {}
        }

        let data = if patch {
            let current = meta.current_version;
            let vm = meta.versions.get(&current).ok_or(ApiError::NotFound)?;
            if vm.destroyed || vm.is_deleted(now) {
                // Vault answers a patch of a deleted or destroyed latest version with the
                // version's metadata, flat (not under `metadata` as a read does).
                return Err(ApiError::NotFoundWith(meta.version_block(current, vm)));
            }
            let mut merged = view
                .get_json::<Value>(&version_key(path, current))
                .await?
                .ok_or_else(|| ApiError::internal("could not find version data"))?;
            merge_patch(&mut merged, &Value::Object(body.data));
            match merged {
                Value::Object(m) => m,
                _ => return Err(ApiError::internal("stored version is not an object")),
            }
        } else {
            body.data
        };

        let dva = meta.delete_version_after(&config);
        let vm = VersionMeta {
            created: now,
            deletion: (dva > 0).then(|| now.saturating_add(dva.saturating_mul(1_000_000_000))),
            destroyed: false,
        };
        let max = meta.max_versions(&config);
        let (n, removed) = meta.add_version(vm.clone(), max);

        let mut ops = vec![
            ViewOp::Put(version_key(path, n), to_json(&data)?),
            ViewOp::Put(metadata_key(path), to_json(&meta)?),
        ];
        ops.extend(
            removed
                .into_iter()
                .map(|t| ViewOp::Delete(version_key(path, t))),
        );
        view.transaction(ops).await?;
        Ok(Response::data(meta.version_block(n, &vm)))
    }

    /// `DELETE data/<path>`: soft-deletes the latest version (nothing to do if it is already
    /// deleted or destroyed, or the secret does not exist).
    pub(super) async fn delete_latest(
        &self,
        req: &Request,
        view: &View,
        path: &str,
    ) -> Result<Response, ApiError> {
        let now = unix_nanos(req.time);
        let _guard = self.locks.lock(path).await;
        let Some(mut meta) = load_meta(view, path).await? else {
            return Ok(Response::empty());
        };
        let current = meta.current_version;
        if let Some(vm) = meta.versions.get_mut(&current)
            && !vm.destroyed
            && !vm.is_deleted(now)
        {
            vm.deletion = Some(now);
            view.transaction(vec![ViewOp::Put(metadata_key(path), to_json(&meta)?)])
                .await?;
        }
        Ok(Response::empty())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        for (target, patch, want) in [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [1]}),
                json!({"a": [2, 3]}),
                json!({"a": [2, 3]}),
            ),
            (
                json!({"a": "x"}),
                json!({"a": {"b": null}}),
                json!({"a": {}}),
            ),
        ] {
            let mut t = target.clone();
            merge_patch(&mut t, &patch);
            assert_eq!(t, want, "{target} + {patch}");
        }
    }

    #[test]
    fn shape_limits_depth() {
        let d = json!({"foo": "abc", "bar": {"baz": {"q": 1}}, "arr": [1], "e": {}});
        let d = d.as_object().unwrap();
        assert_eq!(
            Value::Object(shape(d, 0, 1)),
            json!({"foo": null, "bar": {"baz": {"q": null}}, "arr": null, "e": null})
        );
        assert_eq!(
            Value::Object(shape(d, 1, 1)),
            json!({"foo": null, "bar": null, "arr": null, "e": null})
        );
        assert_eq!(
            Value::Object(shape(d, 2, 1)),
            json!({"foo": null, "bar": {"baz": null}, "arr": null, "e": null})
        );
    }
}
