//! `config` and `metadata/<path>`: the settings of the mount and of one secret, which change
//! no version.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::api::{ApiError, Request, Response, bool_field, parse_duration, u64_field};
use crate::kv::v2::model::{CONFIG_KEY, KeyMetadata, metadata_key, version_key};
use crate::kv::v2::{CONFIG_LOCK, KvV2, apply_custom_metadata, load_config, load_meta};
use crate::kv::{list_keys, unix_nanos};
use crate::view::{View, ViewOp, to_json};

/// The settings a config or metadata write may carry; `None` = leave as is.
struct Settings {
    max_versions: Option<u64>,
    cas_required: Option<bool>,
    /// Seconds; negative only in the mount config, where it disables expiry.
    delete_version_after: Option<i64>,
}

impl Settings {
    fn parse(data: &Map<String, Value>, signed: bool) -> Result<Self, ApiError> {
        let bad_dva = || ApiError::bad("delete_version_after: expected a non-negative duration");
        let dva = match data.get("delete_version_after") {
            None | Some(Value::Null) => None,
            Some(v) => Some(signed_duration(v).ok_or_else(bad_dva)?),
        };
        if !signed && dva.is_some_and(|d| d < 0) {
            return Err(bad_dva());
        }
        Ok(Self {
            max_versions: u64_field(data, "max_versions")?,
            cas_required: bool_field(data, "cas_required")?,
            delete_version_after: dva,
        })
    }

    fn is_empty(&self) -> bool {
        self.max_versions.is_none()
            && self.cas_required.is_none()
            && self.delete_version_after.is_none()
    }
}

/// A duration in seconds that may be negative (`-1`, `"-1s"`).
fn signed_duration(v: &Value) -> Option<i64> {
    if let Some(n) = v.as_i64() {
        return Some(n);
    }
    let (negative, magnitude) = match v {
        Value::String(s) => match s.trim().strip_prefix('-') {
            Some(rest) => (true, parse_duration(&Value::String(rest.to_owned())).ok()?),
            None => (false, parse_duration(v).ok()?),
        },
        _ => (false, parse_duration(v).ok()?),
    };
    let secs = i64::try_from(magnitude).ok()?;
    Some(if negative { -secs } else { secs })
}

/// `GET config`.
pub(super) async fn read_config(view: &View) -> Result<Response, ApiError> {
    Ok(Response::data(load_config(view).await?.render()))
}

/// `GET metadata/<path>`.
pub(super) async fn read(engine: &KvV2, view: &View, path: &str) -> Result<Response, ApiError> {
    let stored = engine.cached_meta(view, path).await?;
    let meta = stored.meta.as_ref().ok_or(ApiError::NotFound)?;
    Ok(Response::data(meta.render()))
}

/// `LIST metadata/<prefix>`, and OpenBao's `LIST detailed-metadata/<prefix>` (`detailed`),
/// which adds `key_info`: each listed secret's metadata as `GET metadata/<path>` shows it
/// (folders have none).
pub(super) async fn list(
    req: &Request,
    view: &View,
    prefix: &str,
    detailed: bool,
) -> Result<Response, ApiError> {
    let prefix = prefix.trim_end_matches('/');
    let prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    };
    let mut out = list_keys(view, &metadata_key(&prefix), req).await?;
    if detailed {
        let mut info = Map::new();
        let names: Vec<String> = out["keys"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|k| !k.ends_with('/'))
            .map(str::to_owned)
            .collect();
        for name in names {
            if let Some(meta) = load_meta(view, &format!("{prefix}{name}")).await? {
                info.insert(name, Value::Object(meta.render()));
            }
        }
        out.insert("key_info".into(), Value::Object(info));
    }
    Ok(Response::data(out))
}

impl KvV2 {
    /// `POST config`: fields not sent keep their values.
    pub(super) async fn write_config(
        &self,
        req: &Request,
        view: &View,
    ) -> Result<Response, ApiError> {
        let s = Settings::parse(&req.data, true)?;
        if s.is_empty() {
            return Ok(Response::empty());
        }
        let _guard = self.locks.lock(CONFIG_LOCK).await;
        let mut config = load_config(view).await?;
        if let Some(n) = s.max_versions {
            config.max_versions = n;
        }
        if let Some(b) = s.cas_required {
            config.cas_required = b;
        }
        if let Some(d) = s.delete_version_after {
            config.delete_version_after = d;
        }
        view.transaction(vec![ViewOp::Put(CONFIG_KEY.into(), to_json(&config)?)])
            .await?;
        Ok(Response::empty())
    }

    /// `POST metadata/<path>` (creates the metadata if absent; `custom_metadata` replaces)
    /// and `PATCH metadata/<path>` (the secret must exist; `custom_metadata` is merged, `null`
    /// removing a key). As in Vault, neither makes a version, touches `updated_time` or trims
    /// versions (a lower `max_versions` takes effect at the next data write), and a POST
    /// with none of the four fields changes nothing.
    pub(super) async fn write_metadata(
        &self,
        req: &Request,
        view: &View,
        path: &str,
        patch: bool,
    ) -> Result<Response, ApiError> {
        let s = Settings::parse(&req.data, false)?;
        let custom = match req.data.get("custom_metadata") {
            Some(Value::Null) if !patch => None,
            other => other,
        };
        if !patch && s.is_empty() && custom.is_none() {
            return Ok(Response::empty());
        }
        // Check the custom metadata on its own first, so a malformed body is a 400 even for
        // a secret that does not exist.
        if let Some(v) = custom {
            apply_custom_metadata(&BTreeMap::new(), v, patch)?;
        }
        let now = unix_nanos(req.time);
        let config = load_config(view).await?;
        let mut resp = Response::empty();
        if s.cas_required == Some(false) && config.cas_required {
            resp = resp.warn(
                "\"cas_required\" set to false, but is mandated by backend config. This value \
                 will be ignored.",
            );
        }
        let _guard = self.locks.lock(path).await;
        let mut meta = match load_meta(view, path).await? {
            Some(m) => m,
            None if patch => return Err(ApiError::NotFound),
            None => KeyMetadata::new(now),
        };
        if let Some(v) = custom {
            meta.custom_metadata = apply_custom_metadata(&meta.custom_metadata, v, patch)?;
        }
        if let Some(n) = s.max_versions {
            meta.max_versions = n;
        }
        if let Some(b) = s.cas_required {
            meta.cas_required = b;
        }
        if let Some(d) = s.delete_version_after {
            meta.delete_version_after = d.unsigned_abs();
        }
        view.transaction(vec![ViewOp::Put(metadata_key(path), to_json(&meta)?)])
            .await?;
        Ok(resp)
    }

    /// `DELETE metadata/<path>`: every version's data and the metadata, at once.
    pub(super) async fn delete_metadata(
        &self,
        view: &View,
        path: &str,
    ) -> Result<Response, ApiError> {
        let _guard = self.locks.lock(path).await;
        let Some(meta) = load_meta(view, path).await? else {
            return Ok(Response::empty());
        };
        let mut ops: Vec<ViewOp> = meta
            .versions
            .keys()
            .map(|&n| ViewOp::Delete(version_key(path, n)))
            .collect();
        ops.push(ViewOp::Delete(metadata_key(path)));
        view.transaction(ops).await?;
        Ok(Response::empty())
    }
}
