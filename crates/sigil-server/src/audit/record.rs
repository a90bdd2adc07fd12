//! Building one audit record: Vault's JSON shape (`type`, `time`, `auth`, `request`,
//! `response`, `error`) with every sensitive string replaced by `hmac-sha256:<hex>` under the
//! device's salt.
//!
//! This module does no I/O and knows nothing of the hash chain: it turns the caller's view of
//! a request into a JSON object; `chain` adds `seq` and `prev`, `device` writes the line.
//!
//! What is HMACed: every string inside request `data` and response `data` (walking nested
//! objects and arrays; numbers, bools and null stay clear, as in Vault), the request's
//! `client_token` and `client_token_accessor`, and `client_token` / `accessor` of both the
//! caller's `auth` block and a response's `auth` block. Keys named in the mount's
//! `audit_non_hmac_request_keys` / `audit_non_hmac_response_keys` stay clear at any depth of
//! the data they apply to (Vault's walker also matches them at any depth).

use std::fmt;

use serde_json::{Map, Value, json};
use sigil_core::hash::{MacAlgorithm, MacKey};
use sigil_core::{SecretString, encoding};

use crate::api::{ApiError, Auth, Request, Response};
pub(crate) use crate::time::rfc3339_nanos;

/// The caller's identity as the audit log records it (Vault's `auth` block of a record).
#[derive(Clone, Default)]
pub struct AuditAuth {
    /// The caller's token (HMACed in the record); `None` on unauthenticated paths.
    pub client_token: Option<SecretString>,
    /// The token's accessor (HMACed in the record).
    pub accessor: String,
    /// The token's display name.
    pub display_name: String,
    /// Every policy attached to the token.
    pub policies: Vec<String>,
    /// The policies attached to the token itself.
    pub token_policies: Vec<String>,
    /// The token's metadata (logged in clear, as Vault does).
    pub metadata: Map<String, Value>,
    /// `service` or `batch` (empty when unknown).
    pub token_type: String,
    /// The token's TTL in seconds.
    pub token_ttl: u64,
    /// The ACL decision: allowed, and the names of the granting policies.
    pub policy_results: Option<(bool, Vec<String>)>,
}

impl fmt::Debug for AuditAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditAuth")
            .field(
                "client_token",
                &self.client_token.as_ref().map(|_| "[redacted]"),
            )
            .field("accessor", &"[redacted]")
            .field("display_name", &self.display_name)
            .field("policies", &self.policies)
            .field("token_type", &self.token_type)
            .finish_non_exhaustive()
    }
}

/// The mount a request was routed to, as the audit log records it.
#[derive(Debug, Clone, Default)]
pub struct AuditMount {
    /// The mount path, e.g. `secret/`.
    pub point: String,
    /// The engine type, e.g. `kv`.
    pub kind: String,
    /// The mount accessor, e.g. `kv_1a2b3c4d` (logged in clear, as Vault does).
    pub accessor: String,
    /// Request data keys logged in clear (`audit_non_hmac_request_keys`).
    pub non_hmac_request_keys: Vec<String>,
    /// Response data keys logged in clear (`audit_non_hmac_response_keys`).
    pub non_hmac_response_keys: Vec<String>,
}

/// A device's salt as an HMAC key, and the one function that turns a value into its
/// `hmac-sha256:<hex>` form.
#[derive(Clone)]
pub(crate) struct Salt(MacKey);

impl Salt {
    /// The salt must be 32 bytes.
    pub(crate) fn new(bytes: &[u8]) -> Result<Self, ApiError> {
        if bytes.len() != 32 {
            return Err(ApiError::internal("audit: a device salt must be 32 bytes"));
        }
        MacKey::new(MacAlgorithm::HmacSha256, bytes)
            .map(Self)
            .map_err(|_| ApiError::internal("audit: the device salt was rejected"))
    }

    /// `hmac-sha256:` followed by the lower-case hex HMAC of `value`.
    pub(crate) fn hmac(&self, value: &str) -> String {
        format!(
            "hmac-sha256:{}",
            encoding::hex_encode(&self.0.sign(value.as_bytes()))
        )
    }

    /// `value` with every string replaced by its HMAC, except under a key in `clear`.
    fn hash_value(&self, value: &Value, clear: &[String]) -> Value {
        match value {
            Value::String(s) => Value::String(self.hmac(s)),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| self.hash_value(v, clear)).collect())
            }
            Value::Object(map) => Value::Object(self.hash_map(map, clear)),
            other => other.clone(),
        }
    }

    fn hash_map(&self, map: &Map<String, Value>, clear: &[String]) -> Map<String, Value> {
        map.iter()
            .map(|(k, v)| {
                let v = if clear.iter().any(|c| c == k) {
                    v.clone()
                } else {
                    self.hash_value(v, clear)
                };
                (k.clone(), v)
            })
            .collect()
    }
}

impl fmt::Debug for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Salt([redacted])")
    }
}

/// The record written before dispatch (`"type": "request"`).
pub(crate) fn request_record(
    salt: &Salt,
    auth: &AuditAuth,
    req: &Request,
    mount: &AuditMount,
) -> Map<String, Value> {
    let mut rec = Map::new();
    rec.insert("type".into(), "request".into());
    rec.insert("time".into(), rfc3339_nanos(req.time).into());
    let ids = Ids::new(salt, auth, req);
    rec.insert("auth".into(), auth_block(&ids, auth));
    rec.insert("request".into(), request_block(salt, &ids, req, mount));
    rec.insert("error".into(), "".into());
    rec
}

/// The record written after dispatch (`"type": "response"`), for a success or an error.
pub(crate) fn response_record(
    salt: &Salt,
    auth: &AuditAuth,
    req: &Request,
    mount: &AuditMount,
    outcome: Result<&Response, &ApiError>,
) -> Map<String, Value> {
    let ids = Ids::new(salt, auth, req);
    let blocks = (
        auth_block(&ids, auth),
        request_block(salt, &ids, req, mount),
    );
    response_with(salt, req, mount, outcome, blocks)
}

/// Both records of a request that changed nothing, written together after dispatch: the
/// same as [`request_record`] then [`response_record`], with the HMACs of the shared auth
/// and request blocks computed once.
pub(crate) fn exchange_records(
    salt: &Salt,
    auth: &AuditAuth,
    req: &Request,
    mount: &AuditMount,
    outcome: Result<&Response, &ApiError>,
) -> Vec<Map<String, Value>> {
    let ids = Ids::new(salt, auth, req);
    let auth_b = auth_block(&ids, auth);
    let request_b = request_block(salt, &ids, req, mount);
    let mut first = Map::new();
    first.insert("type".into(), "request".into());
    first.insert("time".into(), rfc3339_nanos(req.time).into());
    first.insert("auth".into(), auth_b.clone());
    first.insert("request".into(), request_b.clone());
    first.insert("error".into(), "".into());
    let second = response_with(salt, req, mount, outcome, (auth_b, request_b));
    vec![first, second]
}

fn response_with(
    salt: &Salt,
    req: &Request,
    mount: &AuditMount,
    outcome: Result<&Response, &ApiError>,
    (auth_b, request_b): (Value, Value),
) -> Map<String, Value> {
    let mut response = Map::new();
    response.insert("mount_point".into(), mount.point.clone().into());
    response.insert("mount_type".into(), mount.kind.clone().into());
    response.insert("mount_accessor".into(), mount.accessor.clone().into());
    let error = match outcome {
        Ok(resp) => {
            if let Some(data) = &resp.data {
                let data = salt.hash_map(data, &mount.non_hmac_response_keys);
                response.insert("data".into(), Value::Object(data));
            }
            if let Some(a) = &resp.auth {
                response.insert("auth".into(), response_auth_block(salt, a));
            }
            response.insert("warnings".into(), json!(resp.warnings));
            String::new()
        }
        // The body of a 404-with-data (KV v2 metadata) is not logged: the error says enough.
        Err(e) => e.messages().join("; "),
    };
    let mut rec = Map::new();
    rec.insert("type".into(), "response".into());
    rec.insert("time".into(), rfc3339_nanos(req.time).into());
    rec.insert("auth".into(), auth_b);
    rec.insert("request".into(), request_b);
    rec.insert("response".into(), Value::Object(response));
    rec.insert("error".into(), error.into());
    rec
}

/// The HMACs of the caller's token and accessor, computed once for all the blocks of a
/// request's records.
struct Ids {
    auth_token: Option<String>,
    request_token: Option<String>,
    accessor: Option<String>,
}

impl Ids {
    fn new(salt: &Salt, auth: &AuditAuth, req: &Request) -> Self {
        let auth_token = auth
            .client_token
            .as_ref()
            .map(|t| salt.hmac(t.expose_secret()));
        // The request's own token wins; the auth block's is the same token seen by the router.
        let request_token = match (&req.token, &auth.client_token) {
            (Some(r), Some(a))
                if bool::from(subtle::ConstantTimeEq::ct_eq(
                    r.expose_secret().as_bytes(),
                    a.expose_secret().as_bytes(),
                )) =>
            {
                auth_token.clone()
            }
            (Some(r), _) => Some(salt.hmac(r.expose_secret())),
            (None, _) => auth_token.clone(),
        };
        let accessor = (!auth.accessor.is_empty()).then(|| salt.hmac(&auth.accessor));
        Self {
            auth_token,
            request_token,
            accessor,
        }
    }
}

fn auth_block(ids: &Ids, auth: &AuditAuth) -> Value {
    let mut b = Map::new();
    if let Some(t) = &ids.auth_token {
        b.insert("client_token".into(), t.clone().into());
    }
    if let Some(a) = &ids.accessor {
        b.insert("accessor".into(), a.clone().into());
    }
    b.insert("display_name".into(), auth.display_name.clone().into());
    b.insert("policies".into(), json!(auth.policies));
    b.insert("token_policies".into(), json!(auth.token_policies));
    b.insert("metadata".into(), Value::Object(auth.metadata.clone()));
    b.insert("token_type".into(), auth.token_type.clone().into());
    b.insert("token_ttl".into(), auth.token_ttl.into());
    if let Some((allowed, granting)) = &auth.policy_results {
        let granting: Vec<Value> = granting
            .iter()
            .map(|name| json!({"name": name, "type": "acl"}))
            .collect();
        b.insert(
            "policy_results".into(),
            json!({"allowed": allowed, "granting_policies": granting}),
        );
    }
    Value::Object(b)
}

fn response_auth_block(salt: &Salt, a: &Auth) -> Value {
    json!({
        "client_token": salt.hmac(&a.client_token),
        "accessor": salt.hmac(&a.accessor),
        "policies": a.policies,
        "token_policies": a.token_policies,
        "identity_policies": a.identity_policies,
        "metadata": a.metadata,
        "entity_id": a.entity_id,
        "token_type": a.token_type,
        "token_ttl": a.lease_duration,
        "renewable": a.renewable,
        "orphan": a.orphan,
        "num_uses": a.num_uses,
    })
}

fn request_block(salt: &Salt, ids: &Ids, req: &Request, mount: &AuditMount) -> Value {
    let mut b = Map::new();
    b.insert("id".into(), req.id.clone().into());
    b.insert("operation".into(), req.operation.name().into());
    b.insert("mount_point".into(), mount.point.clone().into());
    b.insert("mount_type".into(), mount.kind.clone().into());
    b.insert("mount_accessor".into(), mount.accessor.clone().into());
    if let Some(t) = &ids.request_token {
        b.insert("client_token".into(), t.clone().into());
    }
    if let Some(a) = &ids.accessor {
        b.insert("client_token_accessor".into(), a.clone().into());
    }
    b.insert("namespace".into(), json!({"id": "root"}));
    b.insert("path".into(), req.path.clone().into());
    if !req.data.is_empty() {
        let data = salt.hash_map(&req.data, &mount.non_hmac_request_keys);
        b.insert("data".into(), Value::Object(data));
    }
    if let Some(addr) = req.remote_addr {
        b.insert("remote_address".into(), addr.ip().to_string().into());
        b.insert("remote_port".into(), addr.port().into());
    }
    Value::Object(b)
}
