//! KV version 1: one unversioned JSON object per path, written whole and read whole.
//!
//! Storage layout: the secret at `a/b` is the JSON object under key `a/b` of the mount's view,
//! so a LIST is a storage listing. A `ttl` (or legacy `lease`) field in the stored object is
//! only a hint returned as `lease_duration`; nothing expires.

use serde_json::{Map, Value};

use crate::api::{ApiError, Operation, Request, Response, parse_duration};
use crate::engine::Engine;
use crate::kv::list_keys;
use crate::view::{View, ViewOp, to_json};

/// The `lease_duration` of a read when the secret carries no `ttl`: 768h, Vault's default
/// mount TTL.
const DEFAULT_LEASE_SECS: u64 = 2_764_800;

/// The KV version 1 engine.
#[derive(Debug, Default)]
pub struct KvV1;

impl KvV1 {
    /// A KV v1 engine; all its state lives in the view it is handed.
    pub fn new() -> Self {
        Self
    }
}

/// The `ttl` hint of a secret, if it has one that parses (`ttl` wins over the legacy
/// `lease`). Writes do not check it: the map is the caller's data, and Vault, too, falls
/// back to the mount TTL when the field is not a duration.
fn ttl_hint(data: &Map<String, Value>) -> Option<u64> {
    parse_duration(data.get("ttl").or_else(|| data.get("lease"))?).ok()
}

#[async_trait::async_trait]
impl Engine for KvV1 {
    async fn handle(&self, req: &Request, view: &View) -> Result<Response, ApiError> {
        if req.operation == Operation::List {
            let prefix = req.path.trim_end_matches('/');
            let prefix = if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            };
            return list_keys(view, &prefix, req).await.map(Response::data);
        }
        let path = req.path.as_str();
        let writing = matches!(req.operation, Operation::Create | Operation::Update);
        if writing && path.is_empty() {
            return Err(ApiError::bad("missing path"));
        }
        if path.is_empty() || path.ends_with('/') {
            return Err(ApiError::UnsupportedPath);
        }
        match req.operation {
            Operation::Read => {
                let Some(data) = view.get_json::<Map<String, Value>>(path).await? else {
                    return Err(ApiError::NotFound);
                };
                let lease = ttl_hint(&data).unwrap_or(DEFAULT_LEASE_SECS);
                let mut resp = Response::data(data);
                resp.lease_duration = lease;
                Ok(resp)
            }
            Operation::Create | Operation::Update => {
                if req.data.is_empty() {
                    return Err(ApiError::bad("missing data fields"));
                }
                view.transaction(vec![ViewOp::Put(path.to_owned(), to_json(&req.data)?)])
                    .await?;
                Ok(Response::empty())
            }
            Operation::Delete => {
                view.delete(path).await?;
                Ok(Response::empty())
            }
            Operation::Patch | Operation::List => Err(ApiError::UnsupportedOperation),
        }
    }

    async fn exists(&self, path: &str, view: &View) -> Result<bool, ApiError> {
        if path.is_empty() || path.ends_with('/') {
            return Ok(false);
        }
        Ok(view.get(path).await?.is_some())
    }
}
