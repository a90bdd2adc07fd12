//! The server's request, response and error types: what the HTTP layer produces from a Vault
//! API call, what every handler (engine, auth method, `sys/`) consumes and returns, and the one
//! place where errors become HTTP statuses.
//!
//! Handlers never see HTTP. The HTTP layer maps verbs to [`Operation`]s (PUT ≡ POST; `LIST` and
//! `GET ?list=true` are [`Operation::List`]), parses the JSON body into [`Request::data`] (an
//! OCSP request, which is DER, into [`Request::raw_body`] instead), and renders [`Response`]
//! and [`ApiError`] in Vault's envelope.

use std::cell::RefCell;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use sigil_core::SecretString;

use crate::auth::token::TokenEntry;

/// What a request does, in ACL terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    /// GET.
    Read,
    /// PUT/POST to a path with no existing entry.
    Create,
    /// PUT/POST to a path with an existing entry.
    Update,
    /// PATCH (JSON merge patch).
    Patch,
    /// DELETE.
    Delete,
    /// LIST, or GET with `?list=true`.
    List,
}

impl Operation {
    /// Vault's lower-case name, used in audit records.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Create => "create",
            Self::Update => "update",
            Self::Patch => "patch",
            Self::Delete => "delete",
            Self::List => "list",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One API call, as handlers see it. `Debug` shows the body's keys, never its values (a KV
/// write carries secrets there).
#[derive(Clone)]
pub struct Request {
    /// A UUID, returned as `request_id` and recorded in the audit log.
    pub id: String,
    /// What the call does. A write arrives as [`Operation::Update`] and becomes
    /// [`Operation::Create`] after the existence check when nothing is stored at the path.
    pub operation: Operation,
    /// The path after `/v1/`, without leading or trailing slashes except that a `LIST` keeps a
    /// trailing slash if the client sent one.
    pub path: String,
    /// The JSON body (an object), or for GET/LIST the query parameters as strings.
    pub data: Map<String, Value>,
    /// The body as sent, for the one kind of call whose body is not JSON: an OCSP request
    /// (`Content-Type: application/ocsp-request`, DER). `None` for every other call, whose
    /// body is in `data`. The audit log does not record it (it records `data` only), and
    /// `Debug` shows its length only.
    pub raw_body: Option<bytes::Bytes>,
    /// The client token, from `X-Vault-Token` or `Authorization: Bearer`.
    pub token: Option<SecretString>,
    /// The peer address.
    pub remote_addr: Option<SocketAddr>,
    /// The certificate chain (DER, leaf first) the client presented in the TLS handshake,
    /// if any. The TLS layer only checked that the client holds the leaf's key; trusting the
    /// chain is the `cert` auth method's decision. `Debug` shows the count.
    pub peer_certificates: Option<Arc<Vec<Vec<u8>>>>,
    /// The caller's token entry, once the router has looked the token up (`None` on
    /// unauthenticated paths).
    pub caller: Option<Arc<TokenEntry>>,
    /// When the request arrived. Handlers take time from here, never from the clock, so tests
    /// can pin it.
    pub time: SystemTime,
    /// Made by the server itself (the SPIFFE bundle endpoint asking its mount for the bundle
    /// and its own SVID), never from the network: no token is needed.
    pub(crate) internal: bool,
}

/// A random (version 4) UUID from the CSPRNG every key and nonce comes from (122 random
/// bits): request ids and the identifiers Vault gives as UUIDs.
pub(crate) fn random_uuid() -> Result<String, ApiError> {
    let bytes: [u8; 16] = sigil_core::random::array().map_err(ApiError::internal)?;
    Ok(uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string())
}

/// A request id: a random (version 4) UUID like [`random_uuid`]'s. Request ids are not
/// secrets (they are printed in responses and logs), so each thread draws the randomness for
/// 64 of them at once: one call into the CSPRNG costs ~340 ns on the development VM (about 1%
/// of a KV read), whatever it returns.
fn request_id() -> Result<String, ApiError> {
    const IDS: usize = 64;
    thread_local! {
        /// Random bytes, and how many of them are used.
        static POOL: RefCell<([u8; 16 * IDS], usize)> =
            const { RefCell::new(([0; 16 * IDS], 16 * IDS)) };
    }
    let bytes = POOL.with_borrow_mut(|(pool, used)| {
        if *used == pool.len() {
            sigil_core::random::fill(pool).map_err(ApiError::internal)?;
            *used = 0;
        }
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&pool[*used..*used + 16]);
        *used += 16;
        Ok::<_, ApiError>(bytes)
    })?;
    Ok(uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string())
}

impl Request {
    /// A request with a fresh id, arriving now.
    pub fn new(operation: Operation, path: impl Into<String>) -> Self {
        Self {
            // aws-lc's generator, not uuid's, which makes a system call per id (~2% of a
            // transit request); uuid's stays as the fallback a request id can always have.
            id: request_id().unwrap_or_else(|_| uuid::Uuid::new_v4().to_string()),
            operation,
            path: path.into(),
            data: Map::new(),
            raw_body: None,
            token: None,
            remote_addr: None,
            peer_certificates: None,
            caller: None,
            time: SystemTime::now(),
            internal: false,
        }
    }

    /// A request the server makes of itself (see [`Request::internal`]).
    pub(crate) fn internal(operation: Operation, path: impl Into<String>) -> Self {
        Self {
            internal: true,
            ..Self::new(operation, path)
        }
    }

    /// The arrival time as Unix seconds.
    pub fn now_unix(&self) -> u64 {
        self.time
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
    }

    /// Adds a body field (builder style, for tests and internal calls).
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.data.insert(key.to_owned(), value);
        self
    }
}

/// The token information a login or token-create response carries (Vault's `auth` block).
/// `Debug` redacts the token.
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Auth {
    /// The new token. Serialized for the client; the audit log HMACs it.
    pub client_token: String,
    /// The token's accessor.
    pub accessor: String,
    /// Every policy attached.
    pub policies: Vec<String>,
    /// The policies attached to the token itself.
    pub token_policies: Vec<String>,
    /// Identity policies (always empty: Sigil has no identity store yet).
    pub identity_policies: Vec<String>,
    /// Token metadata.
    pub metadata: Map<String, Value>,
    /// TTL in seconds (0 = never expires).
    pub lease_duration: u64,
    /// Whether the token can be renewed.
    pub renewable: bool,
    /// Entity id (empty: no identity store).
    pub entity_id: String,
    /// `service` (Sigil issues service tokens).
    pub token_type: String,
    /// Whether the token has no parent.
    pub orphan: bool,
    /// Uses left (0 = unlimited).
    pub num_uses: u64,
}

/// What a handler returns on success. `Debug` shows the data's keys, never its values.
#[derive(Clone, Default, PartialEq)]
pub struct Response {
    /// The `data` object; `None` renders as HTTP 204 No Content unless `auth` is set.
    pub data: Option<Map<String, Value>>,
    /// A token issued by this request.
    pub auth: Option<Auth>,
    /// Warnings shown to the client.
    pub warnings: Vec<String>,
    /// A lease duration hint in seconds (KV v1 returns the mount TTL here).
    pub lease_duration: u64,
    /// An HTTP status other than 200 for a response that still carries data (Vault's
    /// `RespondWithStatusCode`: a transit batch with failed items answers 400 with every
    /// item's result).
    pub status: Option<u16>,
    /// A body that is not Vault's JSON envelope (a DER certificate, a PEM CRL): sent as is
    /// with its content type, instead of `data`.
    pub raw: Option<RawBody>,
}

/// A response body sent as is.
#[derive(Clone, PartialEq, Eq)]
pub struct RawBody {
    /// The `Content-Type` header.
    pub content_type: &'static str,
    /// The bytes.
    pub body: Vec<u8>,
}

impl fmt::Debug for RawBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawBody")
            .field("content_type", &self.content_type)
            .field("len", &self.body.len())
            .finish()
    }
}

impl Response {
    /// A 204 No Content.
    pub fn empty() -> Self {
        Self::default()
    }

    /// A 200 with `data`.
    pub fn data(data: Map<String, Value>) -> Self {
        Self {
            data: Some(data),
            ..Self::default()
        }
    }

    /// A 200 with `data` built from a JSON object value. Non-objects become `{"value": ...}`.
    pub fn json(value: Value) -> Self {
        match value {
            Value::Object(m) => Self::data(m),
            other => {
                let mut m = Map::new();
                m.insert("value".into(), other);
                Self::data(m)
            }
        }
    }

    /// A 200 whose body is `body` as is, with `content_type`.
    pub fn raw(content_type: &'static str, body: Vec<u8>) -> Self {
        Self {
            raw: Some(RawBody { content_type, body }),
            ..Self::default()
        }
    }

    /// Answers with `status` instead of 200, keeping the body.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Adds a warning.
    pub fn warn(mut self, w: impl Into<String>) -> Self {
        self.warnings.push(w.into());
        self
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("id", &self.id)
            .field("operation", &self.operation)
            .field("path", &self.path)
            .field("data_keys", &self.data.keys().collect::<Vec<_>>())
            .field(
                "raw_body_len",
                &self.raw_body.as_ref().map(bytes::Bytes::len),
            )
            .field("token", &self.token)
            .field("caller", &self.caller.as_ref().map(|c| &c.accessor))
            .field("remote_addr", &self.remote_addr)
            .field(
                "peer_certificates",
                &self.peer_certificates.as_ref().map(|c| c.len()),
            )
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("client_token", &"[redacted]")
            .field("accessor", &self.accessor)
            .field("policies", &self.policies)
            .field("lease_duration", &self.lease_duration)
            .field("renewable", &self.renewable)
            .field("orphan", &self.orphan)
            .field("num_uses", &self.num_uses)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field(
                "data_keys",
                &self.data.as_ref().map(|d| d.keys().collect::<Vec<_>>()),
            )
            .field("auth", &self.auth)
            .field("warnings", &self.warnings)
            .field("lease_duration", &self.lease_duration)
            .field("status", &self.status)
            .field("raw", &self.raw)
            .finish()
    }
}

/// Every way a request can fail, named by cause, mapped to Vault's statuses in
/// [`ApiError::status`] and nowhere else. Messages keep the phrases Vault clients match on
/// ("permission denied", "Vault is sealed", "unsupported path", "check-and-set parameter
/// did not match the current version"). None may contain a secret.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// 400: the request is wrong (bad parameter, CAS mismatch, invalid credentials at login).
    #[error("{}", .0.join("; "))]
    BadRequest(Vec<String>),
    /// 403: no token, an invalid or expired token, or a policy that does not allow the call.
    #[error("permission denied")]
    PermissionDenied,
    /// 404 with `{"errors":[]}`: nothing stored at the path (or an empty list).
    #[error("not found")]
    NotFound,
    /// 404 with a body: KV v2's answer for a deleted or destroyed version.
    #[error("not found (with metadata)")]
    NotFoundWith(Map<String, Value>),
    /// 404: no mount or route handles the path.
    #[error("1 error occurred:\n\t* unsupported path\n\n")]
    UnsupportedPath,
    /// 405: the path exists but not for this operation.
    #[error("1 error occurred:\n\t* unsupported operation\n\n")]
    UnsupportedOperation,
    /// 413: the body is larger than the limit.
    #[error("request body too large")]
    TooLarge,
    /// 429: rate limited (not used yet; kept for the mapping).
    #[error("rate limit exceeded")]
    RateLimited,
    /// 503: the server is sealed (or not initialized).
    #[error("Vault is sealed")]
    Sealed,
    /// 500: our failure; the message is safe to show (no secrets, no internals beyond a
    /// one-line cause).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 with one message.
    pub fn bad(msg: impl Into<String>) -> Self {
        Self::BadRequest(vec![msg.into()])
    }

    /// A 500 with one message.
    pub fn internal(msg: impl fmt::Display) -> Self {
        Self::Internal(msg.to_string())
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::PermissionDenied => 403,
            Self::NotFound | Self::NotFoundWith(_) | Self::UnsupportedPath => 404,
            Self::UnsupportedOperation => 405,
            Self::TooLarge => 413,
            Self::RateLimited => 429,
            Self::Sealed => 503,
            Self::Internal(_) => 500,
        }
    }

    /// The `errors` array of the response body.
    pub fn messages(&self) -> Vec<String> {
        match self {
            Self::BadRequest(m) => m.clone(),
            Self::NotFound | Self::NotFoundWith(_) => Vec::new(),
            other => vec![other.to_string()],
        }
    }
}

impl From<sigil_storage::Error> for ApiError {
    fn from(e: sigil_storage::Error) -> Self {
        Self::Internal(format!("storage: {e}"))
    }
}

/// Reads a field that clients may send as a JSON string or number (Vault accepts both for
/// durations and counts), as a string.
pub fn field_str(data: &Map<String, Value>, key: &str) -> Option<String> {
    match data.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Parses a Vault duration: an integer number of seconds (number or string) or a Go-style
/// duration string such as `"1h30m"`, `"768h"`, `"45s"`, `"0"`. Returns seconds.
pub fn parse_duration(value: &Value) -> Result<u64, ApiError> {
    let text = match value {
        Value::Number(n) => {
            return n
                .as_u64()
                .ok_or_else(|| ApiError::bad(format!("invalid duration {n}")));
        }
        Value::String(s) => s.trim(),
        other => return Err(ApiError::bad(format!("invalid duration {other}"))),
    };
    if text.is_empty() {
        return Ok(0);
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(secs);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    let bad = || ApiError::bad(format!("invalid duration {text:?}"));
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit: &str = match c {
            'h' => "h",
            's' => "s",
            'd' => "d",
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                "ms"
            }
            'm' => "m",
            _ => return Err(bad()),
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        number.clear();
        let secs = match unit {
            "d" => n.checked_mul(86_400),
            "h" => n.checked_mul(3_600),
            "m" => n.checked_mul(60),
            "s" => Some(n),
            _ => Some(n / 1000),
        }
        .ok_or_else(bad)?;
        total = total.checked_add(secs).ok_or_else(bad)?;
    }
    if !number.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

/// Reads an optional duration field.
pub fn duration_field(data: &Map<String, Value>, key: &str) -> Result<Option<u64>, ApiError> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => parse_duration(v).map(Some),
    }
}

/// Reads an optional boolean that clients may send as a bool or a string.
pub fn bool_field(data: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => match s.as_str() {
            "true" | "1" | "t" | "True" | "TRUE" => Ok(Some(true)),
            "false" | "0" | "f" | "False" | "FALSE" | "" => Ok(Some(false)),
            _ => Err(ApiError::bad(format!("{key}: expected a boolean"))),
        },
        Some(_) => Err(ApiError::bad(format!("{key}: expected a boolean"))),
    }
}

/// Reads an optional unsigned integer that clients may send as a number or a string.
pub fn u64_field(data: &Map<String, Value>, key: &str) -> Result<Option<u64>, ApiError> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| ApiError::bad(format!("{key}: expected a non-negative integer"))),
        Some(Value::String(s)) => s
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| ApiError::bad(format!("{key}: expected a non-negative integer"))),
        Some(_) => Err(ApiError::bad(format!(
            "{key}: expected a non-negative integer"
        ))),
    }
}

/// Reads an optional list of strings, accepting a JSON array or a comma-separated string (as
/// Vault does for `policies`, `cidr_list`, ...).
pub fn strings_field(
    data: &Map<String, Value>,
    key: &str,
) -> Result<Option<Vec<String>>, ApiError> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(
            s.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
        )),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.trim().to_owned()),
                _ => Err(ApiError::bad(format!("{key}: expected a list of strings"))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(ApiError::bad(format!("{key}: expected a list of strings"))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn request_ids_are_fresh_version_4_uuids() {
        // Several pools' worth, on two threads.
        let ids = || (0..300).map(|_| Request::new(Operation::Read, "x").id);
        let other = std::thread::spawn(move || ids().collect::<Vec<_>>());
        let mut all: Vec<String> = ids().chain(other.join().unwrap()).collect();
        for id in &all {
            let parsed = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(parsed.get_version_num(), 4, "{id}");
            assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122, "{id}");
        }
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 600);
    }

    #[test]
    fn debug_output_holds_no_secret_values() {
        let mut req = Request::new(Operation::Update, "secret/data/app")
            .with("data", json!({"password": "hunter2-value"}));
        req.token = Some(SecretString::new("hvs.token-value".into()));
        let resp = Response {
            auth: Some(Auth {
                client_token: "hvs.issued-value".into(),
                ..Auth::default()
            }),
            ..Response::json(json!({"password": "hunter2-value"}))
        };
        let text = format!("{req:?} {resp:?}");
        for secret in ["hunter2-value", "hvs.token-value", "hvs.issued-value"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("password"), "keys stay visible: {text}");
    }

    #[test]
    fn durations() {
        for (input, secs) in [
            (json!(30), 30),
            (json!("30"), 30),
            (json!("30s"), 30),
            (json!("1h30m"), 5400),
            (json!("768h"), 2_764_800),
            (json!("1d"), 86_400),
            (json!("1500ms"), 1),
            (json!(""), 0),
            (json!("0"), 0),
        ] {
            assert_eq!(parse_duration(&input).unwrap(), secs, "{input}");
        }
        for bad in [
            json!("1x"),
            json!("h"),
            json!("-1"),
            json!(-5),
            json!(true),
            json!("5m3"),
        ] {
            assert!(parse_duration(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn statuses_follow_vault() {
        assert_eq!(ApiError::PermissionDenied.status(), 403);
        assert_eq!(ApiError::Sealed.status(), 503);
        assert_eq!(ApiError::Sealed.messages(), ["Vault is sealed"]);
        assert!(ApiError::NotFound.messages().is_empty());
        assert!(ApiError::UnsupportedPath.messages()[0].contains("unsupported path"));
        assert_eq!(ApiError::bad("x").status(), 400);
    }

    #[test]
    fn loose_fields() {
        let d = json!({"a": "x, y", "b": ["p", "q"], "n": "7", "t": "true", "bad": 1.5})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(strings_field(&d, "a").unwrap().unwrap(), ["x", "y"]);
        assert_eq!(strings_field(&d, "b").unwrap().unwrap(), ["p", "q"]);
        assert_eq!(u64_field(&d, "n").unwrap(), Some(7));
        assert_eq!(bool_field(&d, "t").unwrap(), Some(true));
        assert!(u64_field(&d, "bad").is_err());
        assert_eq!(u64_field(&d, "missing").unwrap(), None);
    }
}
