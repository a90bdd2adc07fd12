//! Building one audit record: Vault's JSON shape (`type`, `time`, `auth`, `request`,
//! `response`, `error`) with every sensitive string replaced by `hmac-sha256:<hex>` under the
//! device's salt.
//!
//! This module does no I/O and knows nothing of the hash chain: it turns the caller's view of
//! a request into a serialized JSON object; `chain` adds `seq` and `prev`, `device` writes the
//! line.
//!
//! Records are written straight from borrowed, typed blocks: strings are HMACed as they are
//! serialized and the `auth` and `request` blocks a request's records share are serialized
//! once. No intermediate JSON tree is built: the audit log is on every request's path, and
//! the tree's allocations used to cost as much as the request itself (`bench/server.sh`).
//! Members are written in name order, as a JSON object map sorts them.
//!
//! What is HMACed: every string inside request `data` and response `data` (walking nested
//! objects and arrays; numbers, bools and null stay clear, as in Vault), the request's
//! `client_token` and `client_token_accessor`, and `client_token` / `accessor` of both the
//! caller's `auth` block and a response's `auth` block. Keys named in the mount's
//! `audit_non_hmac_request_keys` / `audit_non_hmac_response_keys` stay clear at any depth of
//! the data they apply to (Vault's walker also matches them at any depth).

use std::fmt;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sigil_core::SecretString;
use sigil_core::hash::{MacAlgorithm, MacKey};

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

/// `hmac-sha256:` and 64 hex digits.
const HMAC_LEN: usize = 12 + 64;

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
        let mut buf = [0; HMAC_LEN];
        self.hmac_into(value, &mut buf).to_owned()
    }

    /// [`Salt::hmac`] written into `buf`, without allocating.
    fn hmac_into<'b>(&self, value: &str, buf: &'b mut [u8; HMAC_LEN]) -> &'b str {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        buf[..12].copy_from_slice(b"hmac-sha256:");
        let tag = self.0.sign(value.as_bytes());
        for (pair, b) in buf[12..].chunks_exact_mut(2).zip(&tag) {
            pair[0] = DIGITS[usize::from(b >> 4)];
            pair[1] = DIGITS[usize::from(b & 0x0f)];
        }
        // Only ASCII was written.
        std::str::from_utf8(buf).unwrap_or_default()
    }
}

impl fmt::Debug for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Salt([redacted])")
    }
}

/// A JSON object written with every string inside replaced by its HMAC, except under a key
/// in `clear` (at any depth).
struct Hashed<'a> {
    salt: &'a Salt,
    map: &'a Map<String, Value>,
    clear: &'a [String],
}

/// One value under [`Hashed`].
struct HashedValue<'a> {
    salt: &'a Salt,
    value: &'a Value,
    clear: &'a [String],
}

impl Serialize for Hashed<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut out = s.serialize_map(Some(self.map.len()))?;
        for (k, value) in self.map {
            if self.clear.iter().any(|c| c == k) {
                out.serialize_entry(k, value)?;
            } else {
                let (salt, clear) = (self.salt, self.clear);
                out.serialize_entry(k, &HashedValue { salt, value, clear })?;
            }
        }
        out.end()
    }
}

impl Serialize for HashedValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (salt, clear) = (self.salt, self.clear);
        match self.value {
            Value::String(v) => s.serialize_str(salt.hmac_into(v, &mut [0; HMAC_LEN])),
            Value::Array(items) => {
                let mut out = s.serialize_seq(Some(items.len()))?;
                for value in items {
                    out.serialize_element(&HashedValue { salt, value, clear })?;
                }
                out.end()
            }
            Value::Object(map) => Hashed { salt, map, clear }.serialize(s),
            other => other.serialize(s),
        }
    }
}

/// The record written before dispatch (`"type": "request"`).
pub(crate) fn request_record(
    salt: &Salt,
    auth: &AuditAuth,
    req: &Request,
    mount: &AuditMount,
) -> Vec<u8> {
    Shared::new(salt, auth, req, mount).record(None)
}

/// The record written after dispatch (`"type": "response"`), for a success or an error.
pub(crate) fn response_record(
    salt: &Salt,
    auth: &AuditAuth,
    req: &Request,
    mount: &AuditMount,
    outcome: Result<&Response, &ApiError>,
) -> Vec<u8> {
    Shared::new(salt, auth, req, mount).record(Some((salt, outcome)))
}

/// Both records of a request that changed nothing, written together after dispatch: the
/// same as [`request_record`] then [`response_record`], with the shared auth and request
/// blocks computed once.
pub(crate) fn exchange_records(
    salt: &Salt,
    auth: &AuditAuth,
    req: &Request,
    mount: &AuditMount,
    outcome: Result<&Response, &ApiError>,
) -> Vec<Vec<u8>> {
    let shared = Shared::new(salt, auth, req, mount);
    vec![shared.record(None), shared.record(Some((salt, outcome)))]
}

/// What every record of one request carries: the `auth` and `request` blocks, serialized.
struct Shared<'a> {
    time: String,
    auth: Box<RawValue>,
    request: Box<RawValue>,
    mount: &'a AuditMount,
}

/// A whole record; members in name order.
#[derive(Serialize)]
struct Record<'a> {
    auth: &'a RawValue,
    error: &'a str,
    request: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<ResponseBlock<'a>>,
    time: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

impl<'a> Shared<'a> {
    fn new(salt: &Salt, auth: &AuditAuth, req: &Request, mount: &'a AuditMount) -> Self {
        let ids = Ids::new(salt, auth, req);
        let auth_b = AuthBlock {
            accessor: ids.accessor.as_deref(),
            client_token: ids.auth_token.as_deref(),
            display_name: &auth.display_name,
            metadata: &auth.metadata,
            policies: &auth.policies,
            policy_results: auth
                .policy_results
                .as_ref()
                .map(|(allowed, granting)| PolicyResults {
                    allowed: *allowed,
                    granting_policies: Granting(granting),
                }),
            token_policies: &auth.token_policies,
            token_ttl: auth.token_ttl,
            token_type: &auth.token_type,
        };
        let request_b = RequestBlock {
            client_token: ids.request_token.as_deref(),
            client_token_accessor: ids.accessor.as_deref(),
            data: (!req.data.is_empty()).then_some(Hashed {
                salt,
                map: &req.data,
                clear: &mount.non_hmac_request_keys,
            }),
            id: &req.id,
            mount_accessor: &mount.accessor,
            mount_point: &mount.point,
            mount_type: &mount.kind,
            namespace: Namespace { id: "root" },
            operation: req.operation.name(),
            path: &req.path,
            remote_address: req.remote_addr.map(|a| a.ip().to_string()),
            remote_port: req.remote_addr.map(|a| a.port()),
        };
        Self {
            time: rfc3339_nanos(req.time),
            auth: raw(&auth_b),
            request: raw(&request_b),
            mount,
        }
    }

    /// The request record (`None`), or the response record of `outcome`.
    fn record(&self, outcome: Option<(&Salt, Result<&Response, &ApiError>)>) -> Vec<u8> {
        let mount = self.mount;
        let (response, error) = match outcome {
            None => (None, String::new()),
            Some((salt, outcome)) => {
                let mut block = ResponseBlock {
                    auth: None,
                    data: None,
                    mount_accessor: &mount.accessor,
                    mount_point: &mount.point,
                    mount_type: &mount.kind,
                    warnings: None,
                };
                let error = match outcome {
                    Ok(resp) => {
                        block.data = resp.data.as_ref().map(|map| Hashed {
                            salt,
                            map,
                            clear: &mount.non_hmac_response_keys,
                        });
                        block.auth = resp.auth.as_ref().map(|a| ResponseAuth::new(salt, a));
                        block.warnings = Some(resp.warnings.as_slice());
                        String::new()
                    }
                    // The body of a 404-with-data (KV v2 metadata) is not logged: the error
                    // says enough.
                    Err(e) => e.messages().join("; "),
                };
                (Some(block), error)
            }
        };
        let record = Record {
            auth: &self.auth,
            error: &error,
            request: &self.request,
            kind: if response.is_some() {
                "response"
            } else {
                "request"
            },
            response,
            time: &self.time,
        };
        // Borrowed strings, numbers and maps of JSON values always serialize.
        serde_json::to_vec(&record).unwrap_or_default()
    }
}

/// `value` serialized once, to be written into several records.
fn raw(value: &impl Serialize) -> Box<RawValue> {
    // Borrowed strings, numbers and maps of JSON values always serialize.
    serde_json::value::to_raw_value(value).unwrap_or_default()
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

/// The caller's `auth` block.
#[derive(Serialize)]
struct AuthBlock<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    accessor: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_token: Option<&'a str>,
    display_name: &'a str,
    metadata: &'a Map<String, Value>,
    policies: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_results: Option<PolicyResults<'a>>,
    token_policies: &'a [String],
    token_ttl: u64,
    token_type: &'a str,
}

#[derive(Serialize)]
struct PolicyResults<'a> {
    allowed: bool,
    granting_policies: Granting<'a>,
}

/// Policy names as Vault lists them: `[{"name": …, "type": "acl"}]`.
struct Granting<'a>(&'a [String]);

impl Serialize for Granting<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Policy<'a> {
            name: &'a str,
            #[serde(rename = "type")]
            kind: &'static str,
        }
        s.collect_seq(self.0.iter().map(|name| Policy { name, kind: "acl" }))
    }
}

/// The `request` block.
#[derive(Serialize)]
struct RequestBlock<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    client_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_token_accessor: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Hashed<'a>>,
    id: &'a str,
    mount_accessor: &'a str,
    mount_point: &'a str,
    mount_type: &'a str,
    namespace: Namespace,
    operation: &'a str,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote_port: Option<u16>,
}

#[derive(Serialize)]
struct Namespace {
    id: &'static str,
}

/// The `response` block.
#[derive(Serialize)]
struct ResponseBlock<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<ResponseAuth<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Hashed<'a>>,
    mount_accessor: &'a str,
    mount_point: &'a str,
    mount_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    warnings: Option<&'a [String]>,
}

/// A token issued by the request, as its response record shows it.
#[derive(Serialize)]
struct ResponseAuth<'a> {
    accessor: String,
    client_token: String,
    entity_id: &'a str,
    identity_policies: &'a [String],
    metadata: &'a Map<String, Value>,
    num_uses: u64,
    orphan: bool,
    policies: &'a [String],
    renewable: bool,
    token_policies: &'a [String],
    token_ttl: u64,
    token_type: &'a str,
}

impl<'a> ResponseAuth<'a> {
    fn new(salt: &Salt, a: &'a Auth) -> Self {
        Self {
            accessor: salt.hmac(&a.accessor),
            client_token: salt.hmac(&a.client_token),
            entity_id: &a.entity_id,
            identity_policies: &a.identity_policies,
            metadata: &a.metadata,
            num_uses: a.num_uses,
            orphan: a.orphan,
            policies: &a.policies,
            renewable: a.renewable,
            token_policies: &a.token_policies,
            token_ttl: a.lease_duration,
            token_type: &a.token_type,
        }
    }
}
