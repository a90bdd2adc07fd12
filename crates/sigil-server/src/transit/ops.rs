//! The stateless transit operations: encrypt, decrypt, rewrap, datakey, sign, verify, hmac,
//! hash and random, each for one item or a `batch_input`, with Vault's batch semantics:
//! results in input order, `reference` echoed, a failed item reported in its `error` while
//! the others succeed. An encrypt or decrypt batch with a failed item answers 400 (500 for
//! our failures) unless `partial_failure_response_code` says otherwise and something
//! succeeded; the other batches answer 200 with the per-item errors, as in Vault.
//!
//! A request that fails as a whole changes nothing: only an upserting encrypt writes, and it
//! writes the new key before any item runs. Error messages are Vault's, including Go's
//! wording for bad base64 (`illegal base64 data at input byte N`), since clients match on
//! them.

use std::str::FromStr;

use serde_json::{Map, Value, json};
use sigil_core::encoding::{base64_decode, base64_encode, hex_encode};
use sigil_core::hash::{self, HashAlgorithm};
use sigil_core::secret::SecretBytes;

use super::key::{Key, Kind, OpError, Salt, SignOptions};
use super::{Transit, int_field, nanos, spec_from, str_field};
use crate::api::{ApiError, Operation, Request, Response, bool_field};
use crate::view::View;

/// One item of a request: a `batch_input` entry, or the request body for a single item.
type Item = Map<String, Value>;

/// The items of a request (borrowed: a single item is the body itself), and whether they
/// came as a batch.
fn items<'a>(
    d: &'a Map<String, Value>,
    single_field: &str,
    missing: &str,
) -> Result<(Vec<&'a Item>, bool), ApiError> {
    match d.get("batch_input") {
        None | Some(Value::Null) => {
            if str_field(d, single_field)?.is_none() {
                return Err(ApiError::bad(missing));
            }
            Ok((vec![d], false))
        }
        Some(Value::Array(list)) => {
            if list.is_empty() {
                return Err(ApiError::bad("missing batch input to process"));
            }
            let items = list
                .iter()
                .map(|v| match v {
                    Value::Object(m) => Ok(m),
                    _ => Err(ApiError::bad(
                        "failed to parse batch input: each item must be an object",
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((items, true))
        }
        Some(_) => Err(ApiError::bad(
            "failed to parse batch input: expected a list of objects",
        )),
    }
}

/// Go's message for text that is not standard base64: the offset of the first byte that
/// cannot be part of it (`illegal base64 data at input byte N`).
pub(super) fn go_base64_error(text: &str) -> String {
    let bytes = text.as_bytes();
    let alphabet = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
    let at = match bytes.iter().position(|&b| !alphabet(b) && b != b'=') {
        Some(i) => i,
        None => match bytes.iter().position(|&b| b == b'=') {
            // Padding before the last quantum, or too much of it.
            Some(i) if i + 2 < bytes.len() || i % 4 < 2 => i,
            // A short final quantum.
            _ => bytes.len() - bytes.len() % 4,
        },
    };
    format!("illegal base64 data at input byte {at}")
}

/// Standard base64 with Go's error message.
fn decode_b64(text: &str) -> Result<Vec<u8>, String> {
    base64_decode(text).map_err(|_| go_base64_error(text))
}

/// A base64 field of an item; absent or empty is empty. The error is Go's, bare, as Vault
/// returns it for `plaintext` and `context`.
fn b64(item: &Item, key: &str) -> Result<Vec<u8>, OpError> {
    match item.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) if s.is_empty() => Ok(Vec::new()),
        Some(Value::String(s)) => decode_b64(s).map_err(OpError::User),
        Some(_) => Err(OpError::user(format!("{key}: expected a string"))),
    }
}

fn text<'a>(item: &'a Item, key: &str) -> Result<&'a str, OpError> {
    match item.get(key) {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(OpError::user(format!("{key}: expected a string"))),
    }
}

fn item_version(item: &Item) -> Result<i64, OpError> {
    int_field(item, "key_version")
        .map(Option::unwrap_or_default)
        .map_err(|e| OpError::user(e.messages().join("; ")))
}

/// Per-item outcomes, and the batch's summary as Vault computes it.
struct Outcomes {
    results: Vec<Map<String, Value>>,
    user_error: bool,
    internal_error: bool,
    success: bool,
}

impl Outcomes {
    fn new() -> Self {
        Self {
            results: Vec::new(),
            user_error: false,
            internal_error: false,
            success: false,
        }
    }

    fn push(
        &mut self,
        item: &Item,
        outcome: Result<Map<String, Value>, OpError>,
        error_fields: &[(&str, Value)],
    ) {
        let mut m = match outcome {
            Ok(m) => {
                self.success = true;
                m
            }
            Err(e) => {
                match e {
                    OpError::User(_) => self.user_error = true,
                    OpError::Internal(_) => self.internal_error = true,
                }
                let mut m: Map<String, Value> = error_fields
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect();
                m.insert("error".into(), json!(e.message()));
                m
            }
        };
        let reference = item.get("reference").and_then(Value::as_str);
        m.insert("reference".into(), json!(reference.unwrap_or_default()));
        self.results.push(m);
    }

    /// The response: the single item's data (or its error), or the batch, with Vault's
    /// status when `status_on_failure` (encrypt and decrypt).
    fn respond(
        mut self,
        d: &Map<String, Value>,
        batch: bool,
        status_on_failure: bool,
    ) -> Result<Response, ApiError> {
        if !batch {
            let mut only = self.results.pop().unwrap_or_default();
            only.remove("reference");
            if let Some(Value::String(e)) = only.remove("error") {
                return Err(if self.internal_error {
                    ApiError::Internal(e)
                } else {
                    ApiError::bad(e)
                });
            }
            return Ok(Response::data(only));
        }
        let failed = self.user_error || self.internal_error;
        let code = if self.user_error { 400 } else { 500 };
        let success = self.success;
        let mut resp = Response::data(crate::engine::map([(
            "batch_results",
            Value::Array(self.results.into_iter().map(Value::Object).collect()),
        )]));
        if !status_on_failure || !failed {
            return Ok(resp);
        }
        let mut code = code;
        if success && let Some(wanted) = int_field(d, "partial_failure_response_code")? {
            if (1..=599).contains(&wanted) {
                code = u16::try_from(wanted).map_err(ApiError::internal)?;
            } else {
                resp = resp.warn(format!(
                    "invalid HTTP response code override from partial_failure_response_code, reverting to {code}"
                ));
            }
        }
        Ok(resp.with_status(code))
    }
}

/// Loads a key for an operation, or Vault's 400 `not_found` message.
async fn key_or(
    t: &Transit,
    req: &Request,
    view: &View,
    name: &str,
    not_found: &str,
) -> Result<std::sync::Arc<Key>, ApiError> {
    t.load(view, name, nanos(req))
        .await?
        .ok_or_else(|| ApiError::bad(not_found))
}

pub(super) async fn encrypt(
    t: &Transit,
    req: &Request,
    view: &View,
    name: &str,
) -> Result<Response, ApiError> {
    let d = &req.data;
    let (items, batch) = items(d, "plaintext", "missing plaintext to encrypt")?;
    let context_set = !text(items[0], "context").unwrap_or_default().is_empty();
    for item in &items {
        if text(item, "context").unwrap_or_default().is_empty() == context_set {
            return Err(ApiError::bad(
                "context should be set either in all the request blocks or in none",
            ));
        }
    }
    let key = if req.operation == Operation::Create && !Transit::disable_upsert(view).await? {
        let mut spec = spec_from(d, "aes256-gcm96")?;
        if spec.kind.aead().is_none() {
            return Err(ApiError::bad(if spec.kind == Kind::Hmac {
                format!("unknown key type {}", spec.kind)
            } else {
                format!("key type {} not supported for this operation", spec.kind)
            }));
        }
        if spec.convergent && !context_set {
            return Err(ApiError::bad(
                "convergent encryption requires derivation to be enabled, so context is required",
            ));
        }
        spec.derived = context_set;
        t.upsert(view, name, &spec, nanos(req)).await?.0
    } else {
        key_or(t, req, view, name, "encryption key not found").await?
    };
    let mut out = Outcomes::new();
    for (i, item) in items.iter().enumerate() {
        let result = (|| {
            let plaintext = b64(item, "plaintext")?;
            let context = b64(item, "context")?;
            let aad = b64(item, "associated_data")?;
            if !aad.is_empty() && key.kind.aead().is_none() {
                return Err(OpError::user(format!(
                    "'[{i}].associated_data' provided for non-AEAD cipher suite {}",
                    key.kind
                )));
            }
            if !key.kind.supports_encryption() {
                return Err(OpError::user(format!(
                    "message encryption not supported for key type {}",
                    key.kind
                )));
            }
            let n = key.encrypt_version(item_version(item)?, "encryption")?;
            let ciphertext = key.encrypt(n, &context, &aad, &plaintext)?;
            Ok(crate::engine::map([
                ("ciphertext", json!(ciphertext)),
                ("key_version", json!(n)),
            ]))
        })();
        out.push(item, result, &[]);
    }
    out.respond(d, batch, true)
}

/// Decrypts one decrypt or rewrap item: the plaintext, and the item's context and
/// associated data (rewrap encrypts again under them).
fn open_item(key: &Key, item: &Item) -> Result<(SecretBytes, Vec<u8>, Vec<u8>), OpError> {
    let ciphertext = text(item, "ciphertext")?;
    if ciphertext.is_empty() {
        return Err(OpError::user("missing ciphertext to decrypt"));
    }
    let context = b64(item, "context")?;
    let aad = b64(item, "associated_data")?;
    let (plain, _) = key.decrypt(ciphertext, &context, &aad)?;
    Ok((plain, context, aad))
}

pub(super) async fn decrypt(
    t: &Transit,
    req: &Request,
    view: &View,
    name: &str,
) -> Result<Response, ApiError> {
    let d = &req.data;
    let (items, batch) = items(d, "ciphertext", "missing ciphertext to decrypt")?;
    let key = key_or(t, req, view, name, "encryption key not found").await?;
    let mut out = Outcomes::new();
    for item in &items {
        let result = (|| {
            let (plain, _, _) = open_item(&key, item)?;
            Ok(crate::engine::map([(
                "plaintext",
                json!(base64_encode(plain.expose_secret())),
            )]))
        })();
        out.push(item, result, &[("plaintext", json!(""))]);
    }
    out.respond(d, batch, true)
}

pub(super) async fn rewrap(
    t: &Transit,
    req: &Request,
    view: &View,
    name: &str,
) -> Result<Response, ApiError> {
    let d = &req.data;
    let (items, batch) = items(d, "ciphertext", "missing ciphertext to decrypt")?;
    let key = key_or(t, req, view, name, "encryption key not found").await?;
    let mut out = Outcomes::new();
    for item in &items {
        let result = (|| {
            let (plain, context, aad) = open_item(&key, item)?;
            let n = key.encrypt_version(item_version(item)?, "encryption")?;
            let again = key.encrypt(n, &context, &aad, plain.expose_secret())?;
            Ok(crate::engine::map([
                ("ciphertext", json!(again)),
                ("key_version", json!(n)),
            ]))
        })();
        out.push(item, result, &[]);
    }
    out.respond(d, batch, false)
}

pub(super) async fn datakey(
    t: &Transit,
    req: &Request,
    view: &View,
    kind: &str,
    name: &str,
) -> Result<Response, ApiError> {
    let d = &req.data;
    let with_plaintext = match kind {
        "plaintext" => true,
        "wrapped" => false,
        _ => {
            return Err(ApiError::bad(
                "Invalid path, must be 'plaintext' or 'wrapped'",
            ));
        }
    };
    let bits = int_field(d, "bits")?.unwrap_or(256);
    if !matches!(bits, 128 | 256 | 512) {
        return Err(ApiError::bad("invalid bit length"));
    }
    let key = key_or(t, req, view, name, "encryption key not found").await?;
    let context = b64(d, "context")?;
    let aad = b64(d, "associated_data")?;
    if !key.kind.supports_encryption() {
        return Err(ApiError::bad(format!(
            "message encryption not supported for key type {}",
            key.kind
        )));
    }
    let n = key.encrypt_version(item_version(d)?, "encryption")?;
    let len = usize::try_from(bits / 8).map_err(ApiError::internal)?;
    let fresh = sigil_core::random::secret_bytes(len).map_err(ApiError::internal)?;
    let ciphertext = key.encrypt(n, &context, &aad, fresh.expose_secret())?;
    let mut data =
        crate::engine::map([("ciphertext", json!(ciphertext)), ("key_version", json!(n))]);
    if with_plaintext {
        data.insert(
            "plaintext".into(),
            json!(base64_encode(fresh.expose_secret())),
        );
    }
    Ok(Response::data(data))
}

/// A hash the request names, by Vault's names (`sha2-256`, `sha3-384`, ...). `None` is
/// `none`; `sha1` is refused.
fn hash_named(
    name: &str,
    unknown: impl Fn(&str) -> String,
) -> Result<Option<HashAlgorithm>, ApiError> {
    match name {
        "none" => Ok(None),
        "sha1" => Err(ApiError::bad(
            "hash algorithm sha1 is not supported by Sigil; use sha2-256 or stronger",
        )),
        _ => HashAlgorithm::from_str(name)
            .map(Some)
            .map_err(|_| ApiError::bad(unknown(name))),
    }
}

/// The hash a request names: in the URL, then the fields; SHA-256 by default.
fn requested_hash(
    d: &Map<String, Value>,
    url: &str,
    fields: &[&str],
    unknown: impl Fn(&str) -> String,
) -> Result<Option<HashAlgorithm>, ApiError> {
    if !url.is_empty() {
        return hash_named(url, unknown);
    }
    for f in fields {
        if let Some(name) = str_field(d, f)?.filter(|s| !s.is_empty()) {
            return hash_named(&name, unknown);
        }
    }
    Ok(Some(HashAlgorithm::Sha256))
}

/// A hash for hmac and hash, where `none` means nothing.
fn real_hash(h: Option<HashAlgorithm>, name: &str) -> Result<HashAlgorithm, ApiError> {
    h.ok_or_else(|| ApiError::bad(format!("unsupported algorithm {name}")))
}

fn sign_options(
    d: &Map<String, Value>,
    url_alg: &str,
    kind: Kind,
) -> Result<(SignOptions, bool), ApiError> {
    let hash = requested_hash(d, url_alg, &["hash_algorithm", "algorithm"], |n| {
        format!("invalid hash algorithm {n:?}")
    })?;
    let jws = match str_field(d, "marshaling_algorithm")?.as_deref() {
        None | Some("" | "asn1") => false,
        Some("jws") => true,
        Some(other) => return Err(ApiError::bad(format!("invalid marshaling type {other:?}"))),
    };
    let signature_algorithm = str_field(d, "signature_algorithm")?.unwrap_or_default();
    let salt = match d.get("salt_length") {
        None | Some(Value::Null) => Salt::Auto,
        Some(Value::String(s)) if s == "auto" || s.is_empty() => Salt::Auto,
        Some(Value::String(s)) if s == "hash" => Salt::Hash,
        Some(v) => {
            let n = match v {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            }
            .ok_or_else(|| ApiError::bad(format!("salt length value {v} is invalid")))?;
            match n {
                0 => Salt::Auto,
                -1 => Salt::Hash,
                n => Salt::Bytes(
                    u16::try_from(n)
                        .map_err(|_| ApiError::bad(format!("salt length value {n} is invalid")))?,
                ),
            }
        }
    };
    let prehashed = bool_field(d, "prehashed")?.unwrap_or(false);
    let hash = match hash {
        Some(h) => h,
        // Ed25519 ignores the hash.
        None if kind == Kind::Ed25519 => HashAlgorithm::Sha256,
        None if !(prehashed && signature_algorithm == "pkcs1v15") => {
            return Err(ApiError::bad(
                "hash_algorithm=none requires both prehashed=true and signature_algorithm=pkcs1v15",
            ));
        }
        None => {
            return Err(ApiError::bad(
                "hash_algorithm=none (PKCS#1 v1.5 without a DigestInfo) is not supported by Sigil; name the digest's hash instead",
            ));
        }
    };
    Ok((
        SignOptions {
            hash,
            signature_algorithm,
            salt,
            jws,
        },
        prehashed,
    ))
}

/// What the signature covers: the message for Ed25519, its digest otherwise (unless the
/// caller sent the digest).
fn signed_input(kind: Kind, input: Vec<u8>, opts: &SignOptions, prehashed: bool) -> Vec<u8> {
    if kind == Kind::Ed25519 || prehashed {
        input
    } else {
        hash::digest(opts.hash, &input)
    }
}

fn input_of(item: &Item, missing: &str) -> Result<Vec<u8>, OpError> {
    match item.get("input") {
        None | Some(Value::Null) => Err(OpError::user(missing)),
        Some(Value::String(s)) => decode_b64(s)
            .map_err(|e| OpError::user(format!("unable to decode input as base64: {e}"))),
        Some(_) => Err(OpError::user("input: expected a string")),
    }
}

pub(super) async fn sign(
    t: &Transit,
    req: &Request,
    view: &View,
    name: &str,
    url_alg: &str,
) -> Result<Response, ApiError> {
    let d = &req.data;
    let (items, batch) = items(d, "input", "missing input")?;
    let key = key_or(t, req, view, name, "signing key not found").await?;
    if !key.kind.supports_signing() {
        return Err(ApiError::bad(format!(
            "key type {} does not support signing",
            key.kind
        )));
    }
    let (opts, prehashed) = sign_options(d, url_alg, key.kind)?;
    let requested = int_field(d, "key_version")?.unwrap_or(0);
    let mut out = Outcomes::new();
    for item in &items {
        let result = (|| {
            let input = signed_input(key.kind, input_of(item, "missing input")?, &opts, prehashed);
            let context = b64(item, "context")?;
            let n = key.encrypt_version(requested, "signing")?;
            let (signature, public) = key.sign(n, &context, &input, &opts)?;
            let mut m =
                crate::engine::map([("signature", json!(signature)), ("key_version", json!(n))]);
            if let Some(p) = public {
                m.insert(
                    if batch { "publickey" } else { "public_key" }.into(),
                    json!(base64_encode(&p)),
                );
            }
            Ok(m)
        })();
        out.push(item, result, &[("key_version", json!(0))]);
    }
    out.respond(d, batch, false)
}

pub(super) async fn verify(
    t: &Transit,
    req: &Request,
    view: &View,
    name: &str,
    url_alg: &str,
) -> Result<Response, ApiError> {
    let d = &req.data;
    let (items, batch) = items(d, "input", "missing input")?;
    if !batch {
        let has_sig = str_field(d, "signature")?.is_some_and(|s| !s.is_empty());
        let has_hmac = str_field(d, "hmac")?.is_some_and(|s| !s.is_empty());
        match (has_sig, has_hmac) {
            (true, true) => return Err(ApiError::bad("provide one of 'signature' or 'hmac'")),
            (false, false) => {
                return Err(ApiError::bad(
                    "neither a 'signature' nor an 'hmac' were given to verify",
                ));
            }
            _ => {}
        }
    }
    let key = key_or(t, req, view, name, "signature verification key not found").await?;
    let (opts, prehashed) = sign_options(d, url_alg, key.kind)?;
    let mut out = Outcomes::new();
    for item in &items {
        let result = (|| {
            let raw = input_of(item, "missing input")?;
            let context = b64(item, "context")?;
            let hmac = text(item, "hmac")?;
            let signature = text(item, "signature")?;
            let valid = if !hmac.is_empty() {
                if !signature.is_empty() {
                    return Err(OpError::user("provide one of 'signature' or 'hmac'"));
                }
                key.verify_hmac(hmac, opts.hash, &raw)?
            } else if signature.is_empty() {
                return Err(OpError::user("missing signature"));
            } else {
                if !key.kind.supports_signing() {
                    return Err(OpError::user(format!(
                        "key type {} does not support verification",
                        key.kind
                    )));
                }
                let input = signed_input(key.kind, raw, &opts, prehashed);
                key.verify(signature, &context, &input, &opts)?
            };
            Ok(crate::engine::map([("valid", json!(valid))]))
        })();
        out.push(item, result, &[("valid", json!(false))]);
    }
    out.respond(d, batch, false)
}

pub(super) async fn hmac(
    t: &Transit,
    req: &Request,
    view: &View,
    name: &str,
    url_alg: &str,
) -> Result<Response, ApiError> {
    let d = &req.data;
    let (items, batch) = items(d, "input", "missing input for HMAC")?;
    let key = key_or(t, req, view, name, "encryption key not found").await?;
    let requested = int_field(d, "key_version")?.unwrap_or(0);
    let latest = i64::from(key.latest_version);
    let n = match requested {
        0 => latest,
        v if v == latest => v,
        v if key.min_encryption_version > 0 && v < i64::from(key.min_encryption_version) => {
            return Err(ApiError::bad(
                "cannot generate HMAC: version is too old (disallowed by policy)",
            ));
        }
        v if v < 0 => {
            return Err(ApiError::bad(
                "key version does not exist (cannot be negative)",
            ));
        }
        v if v > latest => {
            return Err(ApiError::bad(format!(
                "key version does not exist; latest key version is {latest}"
            )));
        }
        v => v,
    };
    let n = u32::try_from(n).map_err(ApiError::internal)?;
    let alg_name = if url_alg.is_empty() {
        str_field(d, "algorithm")?.unwrap_or_else(|| "sha2-256".into())
    } else {
        url_alg.to_owned()
    };
    let alg = requested_hash(d, url_alg, &["algorithm"], |n| {
        format!("unsupported algorithm {n}")
    })?;
    let alg = real_hash(alg, &alg_name)?;
    let mut out = Outcomes::new();
    for item in &items {
        let result = (|| {
            let input = input_of(item, "missing input for HMAC")?;
            Ok(crate::engine::map([(
                "hmac",
                json!(key.hmac(n, alg, &input)?),
            )]))
        })();
        out.push(item, result, &[]);
    }
    out.respond(d, batch, false)
}

pub(super) fn hash(req: &Request, url_alg: &str) -> Result<Response, ApiError> {
    let d = &req.data;
    let alg_name = if url_alg.is_empty() {
        str_field(d, "algorithm")?.unwrap_or_else(|| "sha2-256".into())
    } else {
        url_alg.to_owned()
    };
    let alg = requested_hash(d, url_alg, &["algorithm"], |n| {
        format!("unsupported algorithm {n}")
    })?;
    let alg = real_hash(alg, &alg_name)?;
    let Some(input) = str_field(d, "input")? else {
        return Err(ApiError::bad("missing input"));
    };
    let input = decode_b64(&input)
        .map_err(|e| ApiError::bad(format!("unable to decode input as base64: {e}")))?;
    let sum = hash::digest(alg, &input);
    let sum = match str_field(d, "format")?.as_deref() {
        None | Some("" | "hex") => hex_encode(&sum),
        Some("base64") => base64_encode(&sum),
        Some(other) => {
            return Err(ApiError::bad(format!(
                "unsupported encoding format {other}; must be \"hex\" or \"base64\""
            )));
        }
    };
    Ok(Response::data(crate::engine::map([("sum", json!(sum))])))
}

/// The most `random` hands out in one call (Vault's limit).
const MAX_RANDOM: i64 = 128 * 1024;

pub(super) fn random(req: &Request, rest: &str) -> Result<Response, ApiError> {
    let d = &req.data;
    let mut bytes = int_field(d, "bytes")?;
    let mut source = str_field(d, "source")?;
    for part in rest.split('/').filter(|p| !p.is_empty()) {
        match part.parse::<i64>() {
            Ok(n) => bytes = Some(n),
            Err(_) => source = Some(part.to_owned()),
        }
    }
    match source.as_deref() {
        None | Some("" | "platform" | "seal" | "all") => {}
        Some(other) => {
            return Err(ApiError::bad(format!(
                "unsupported entropy source {other:?}; must be \"platform\" or \"seal\", or \"all\""
            )));
        }
    }
    let n = bytes.unwrap_or(32);
    if n < 1 {
        return Err(ApiError::bad("'bytes' cannot be less than 1"));
    }
    if n > MAX_RANDOM {
        return Err(ApiError::bad(format!(
            "'bytes' should be less than {MAX_RANDOM}"
        )));
    }
    let len = usize::try_from(n).map_err(ApiError::internal)?;
    let random = sigil_core::random::secret_bytes(len).map_err(ApiError::internal)?;
    let out = match str_field(d, "format")?.as_deref() {
        None | Some("" | "base64") => base64_encode(random.expose_secret()),
        Some("hex") => hex_encode(random.expose_secret()),
        Some(other) => {
            return Err(ApiError::bad(format!(
                "unsupported encoding format {other:?}; must be \"hex\" or \"base64\""
            )));
        }
    };
    Ok(Response::data(crate::engine::map([(
        "random_bytes",
        json!(out),
    )])))
}
