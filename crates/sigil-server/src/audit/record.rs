//! Building one audit record: Vault's JSON shape (`type`, `time`, `auth`, `request`,
//! `response`, `error`) with every sensitive string replaced by `hmac-sha256:<hex>` under the
//! device's salt.
//!
//! This module does no I/O and knows nothing of the hash chain: it turns the caller's view of
//! a request into a serialized JSON object; `chain` adds `seq` and `prev`, `device` writes the
//! line.
//!
//! Records are written straight from the request, member by member, with the JSON writers
//! of `json`: strings are HMACed as they are written, and the `auth` and `request` blocks a
//! request's records share are written once. No intermediate JSON tree is built, and serde
//! is not used either: the audit log is on every request's path, where the tree's
//! allocations used to cost as much as the request itself, and serde_json's byte-by-byte
//! escaping of every string cost a few per cent more (`bench/server.sh`). Members are
//! written in name order, as a JSON object map sorts them, so a record is exactly what
//! `serde_json` writes for its parsed value (the tests check this).
//!
//! What is HMACed: every string inside request `data` and response `data` (walking nested
//! objects and arrays; numbers, bools and null stay clear, as in Vault), the request's
//! `client_token` and `client_token_accessor`, and `client_token` / `accessor` of both the
//! caller's `auth` block and a response's `auth` block. Keys named in the mount's
//! `audit_non_hmac_request_keys` / `audit_non_hmac_response_keys` stay clear at any depth of
//! the data they apply to (Vault's walker also matches them at any depth).

use std::fmt;

use serde_json::{Map, Value};
use sigil_core::SecretString;
use sigil_core::hash::{MacAlgorithm, MacKey};

use crate::api::{ApiError, Request, Response};
use crate::json;
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

/// Writes JSON objects member by member: names are the record's own (plain ASCII,
/// written as they are), values go through [`json`].
struct Obj<'o> {
    out: &'o mut Vec<u8>,
    empty: bool,
}

impl<'o> Obj<'o> {
    fn open(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, empty: true }
    }

    /// Starts the member `name`; the caller writes its value into the returned buffer.
    fn key(&mut self, name: &str) -> &mut Vec<u8> {
        if !std::mem::take(&mut self.empty) {
            self.out.push(b',');
        }
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    fn str(&mut self, name: &str, value: &str) {
        json::write_str(self.key(name), value);
    }

    fn strs(&mut self, name: &str, values: &[String]) {
        json::write_strs(self.key(name), values);
    }

    fn map(&mut self, name: &str, map: &Map<String, Value>) {
        json::write_map(self.key(name), map);
    }

    fn num(&mut self, name: &str, value: u64) {
        let out = self.key(name);
        out.extend_from_slice(value.to_string().as_bytes());
    }

    fn bool(&mut self, name: &str, value: bool) {
        let out = self.key(name);
        out.extend_from_slice(if value { b"true" } else { b"false" });
    }

    /// A value already written as JSON text.
    fn raw(&mut self, name: &str, json: &[u8]) {
        self.key(name).extend_from_slice(json);
    }

    /// `hmac-sha256:<hex>` of `value`: nothing in it needs escaping.
    fn hmac(&mut self, name: &str, salt: &Salt, value: &str) {
        write_hmac(self.key(name), salt, value);
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

fn write_hmac(out: &mut Vec<u8>, salt: &Salt, value: &str) {
    out.push(b'"');
    out.extend_from_slice(salt.hmac_into(value, &mut [0; HMAC_LEN]).as_bytes());
    out.push(b'"');
}

/// Writes `map` with every string inside replaced by its HMAC, except under a key in
/// `clear` (at any depth).
fn write_hashed_map(out: &mut Vec<u8>, salt: &Salt, map: &Map<String, Value>, clear: &[String]) {
    out.push(b'{');
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json::write_str(out, key);
        out.push(b':');
        if clear.iter().any(|c| c == key) {
            json::write_value(out, value);
        } else {
            write_hashed(out, salt, value, clear);
        }
    }
    out.push(b'}');
}

/// One value under [`write_hashed_map`].
fn write_hashed(out: &mut Vec<u8>, salt: &Salt, value: &Value, clear: &[String]) {
    match value {
        Value::String(v) => write_hmac(out, salt, v),
        Value::Array(items) => {
            json::write_array(out, items, |out, item| write_hashed(out, salt, item, clear));
        }
        Value::Object(map) => write_hashed_map(out, salt, map, clear),
        scalar => json::write_value(out, scalar),
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

/// What every record of one request carries: the `auth` and `request` blocks, written.
struct Shared<'a> {
    time: String,
    auth: Vec<u8>,
    request: Vec<u8>,
    mount: &'a AuditMount,
}

impl<'a> Shared<'a> {
    fn new(salt: &Salt, auth: &AuditAuth, req: &Request, mount: &'a AuditMount) -> Self {
        let ids = Ids::new(salt, auth, req);
        Self {
            time: rfc3339_nanos(req.time),
            auth: auth_block(auth, &ids),
            request: request_block(salt, req, mount, &ids),
            mount,
        }
    }

    /// The request record (`None`), or the response record of `outcome`.
    fn record(&self, outcome: Option<(&Salt, Result<&Response, &ApiError>)>) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.auth.len() + self.request.len() + 512);
        let mut record = Obj::open(&mut out);
        record.raw("auth", &self.auth);
        let error = match outcome {
            // The body of a 404-with-data (KV v2 metadata) is not logged: the error says
            // enough.
            Some((_, Err(e))) => e.messages().join("; "),
            _ => String::new(),
        };
        record.str("error", &error);
        record.raw("request", &self.request);
        if let Some((salt, outcome)) = outcome {
            response_block(record.key("response"), salt, self.mount, outcome.ok());
        }
        record.str("time", &self.time);
        record.str(
            "type",
            if outcome.is_some() {
                "response"
            } else {
                "request"
            },
        );
        record.close();
        out
    }
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
fn auth_block(auth: &AuditAuth, ids: &Ids) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    let mut block = Obj::open(&mut out);
    if let Some(accessor) = &ids.accessor {
        block.str("accessor", accessor);
    }
    if let Some(token) = &ids.auth_token {
        block.str("client_token", token);
    }
    block.str("display_name", &auth.display_name);
    block.map("metadata", &auth.metadata);
    block.strs("policies", &auth.policies);
    if let Some((allowed, granting)) = &auth.policy_results {
        let mut results = Obj::open(block.key("policy_results"));
        results.bool("allowed", *allowed);
        // Policy names as Vault lists them: `[{"name": …, "type": "acl"}]`.
        json::write_array(results.key("granting_policies"), granting, |out, name| {
            let mut policy = Obj::open(out);
            policy.str("name", name);
            policy.str("type", "acl");
            policy.close();
        });
        results.close();
    }
    block.strs("token_policies", &auth.token_policies);
    block.num("token_ttl", auth.token_ttl);
    block.str("token_type", &auth.token_type);
    block.close();
    out
}

/// The `request` block.
fn request_block(salt: &Salt, req: &Request, mount: &AuditMount, ids: &Ids) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    let mut block = Obj::open(&mut out);
    if let Some(token) = &ids.request_token {
        block.str("client_token", token);
    }
    if let Some(accessor) = &ids.accessor {
        block.str("client_token_accessor", accessor);
    }
    if !req.data.is_empty() {
        let clear = &mount.non_hmac_request_keys;
        write_hashed_map(block.key("data"), salt, &req.data, clear);
    }
    block.str("id", &req.id);
    block.str("mount_accessor", &mount.accessor);
    block.str("mount_point", &mount.point);
    block.str("mount_type", &mount.kind);
    block.raw("namespace", br#"{"id":"root"}"#);
    block.str("operation", req.operation.name());
    block.str("path", &req.path);
    if let Some(addr) = req.remote_addr {
        block.str("remote_address", &addr.ip().to_string());
        block.num("remote_port", u64::from(addr.port()));
    }
    block.close();
    out
}

/// The `response` block; `resp` is `None` for an error.
fn response_block(out: &mut Vec<u8>, salt: &Salt, mount: &AuditMount, resp: Option<&Response>) {
    let mut block = Obj::open(out);
    if let Some(a) = resp.and_then(|r| r.auth.as_ref()) {
        // A token issued by the request, as its response record shows it.
        let mut auth = Obj::open(block.key("auth"));
        auth.hmac("accessor", salt, &a.accessor);
        auth.hmac("client_token", salt, &a.client_token);
        auth.str("entity_id", &a.entity_id);
        auth.strs("identity_policies", &a.identity_policies);
        auth.map("metadata", &a.metadata);
        auth.num("num_uses", a.num_uses);
        auth.bool("orphan", a.orphan);
        auth.strs("policies", &a.policies);
        auth.bool("renewable", a.renewable);
        auth.strs("token_policies", &a.token_policies);
        auth.num("token_ttl", a.lease_duration);
        auth.str("token_type", &a.token_type);
        auth.close();
    }
    if let Some(data) = resp.and_then(|r| r.data.as_ref()) {
        let clear = &mount.non_hmac_response_keys;
        write_hashed_map(block.key("data"), salt, data, clear);
    }
    block.str("mount_accessor", &mount.accessor);
    block.str("mount_point", &mount.point);
    block.str("mount_type", &mount.kind);
    if let Some(resp) = resp {
        block.strs("warnings", &resp.warnings);
    }
    block.close();
}
