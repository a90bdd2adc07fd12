//! Export, backup and restore in Vault's formats, so keys move between Sigil and
//! Vault/OpenBao in both directions.
//!
//! A backup is base64 of Go's JSON encoding of the key (`{"policy": ..., "archived_keys":
//! ...}`), which OpenBao's `restore` reads and writes. Go writes big integers (EC
//! coordinates, RSA components) as bare JSON numbers of any length, so this module reads them
//! as raw text and converts between decimal and big-endian bytes itself; the key material
//! then passes through a private JWK (the one neutral format sigil-core reads and writes for
//! every key type). `auto_rotate_period` is a Go `time.Duration`: nanoseconds.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use sigil_core::encoding::{base64_decode, base64_encode, base64url_decode, base64url_encode};
use sigil_core::keys::PrivateKey;
use sigil_core::secret::SecretBytes;
use zeroize::Zeroizing;

use super::key::{Event, Key, Kind, OpError, ed25519_go_form};
use super::{Transit, check_name, nanos};
use crate::api::{ApiError, Request, Response, bool_field};
use crate::engine::split_first;
use crate::view::View;

/// The longest decimal integer a backup may carry (an RSA-4096 modulus has 1,234 digits).
const MAX_DIGITS: usize = 4096;

/// `GET export/<type>/<name>[/<version>]`.
pub(super) async fn export(
    t: &Transit,
    req: &Request,
    view: &View,
    rest: &str,
) -> Result<Response, ApiError> {
    let (kind_name, rest) = split_first(rest);
    let (name, version) = split_first(rest);
    check_name(name)?;
    let Some(key) = t.load(view, name, nanos(req)).await? else {
        return Err(ApiError::NotFound);
    };
    let what = match kind_name {
        "encryption-key" => What::Encryption,
        "signing-key" => What::Signing,
        "hmac-key" => What::Hmac,
        "public-key" => What::Public,
        _ => return Err(ApiError::bad(format!("invalid export type: {kind_name}"))),
    };
    if what != What::Public && !key.exportable {
        return Err(ApiError::bad("private key material is not exportable"));
    }
    match what {
        What::Encryption if !key.kind.supports_encryption() => {
            return Err(ApiError::bad("encryption not supported for the key"));
        }
        What::Signing if !key.kind.supports_signing() => {
            return Err(ApiError::bad("signing not supported for the key"));
        }
        // Vault answers this one as its own (500) error.
        What::Public if !key.kind.supports_signing() => {
            return Err(ApiError::internal(format!(
                "unknown key type {} for export type public-key",
                key.kind
            )));
        }
        _ => {}
    }
    let numbers: Vec<u32> = match version {
        "" => key
            .versions
            .keys()
            .copied()
            .filter(|n| *n >= key.min_decryption_version)
            .collect(),
        "latest" => vec![key.latest_version],
        v => {
            let n: u32 = v
                .parse()
                .map_err(|_| ApiError::bad("invalid key version"))?;
            if n < key.min_decryption_version {
                return Err(ApiError::bad(
                    "version for export is below minimum decryption version",
                ));
            }
            if !key.versions.contains_key(&n) {
                return Err(ApiError::bad("version does not exist or cannot be found"));
            }
            vec![n]
        }
    };
    let mut keys = Map::new();
    for n in numbers {
        keys.insert(n.to_string(), json!(*exported(&key, n, what)?));
    }
    Ok(Response::data(crate::engine::map([
        ("name", json!(key.name)),
        ("type", json!(key.kind.name())),
        ("keys", Value::Object(keys)),
    ])))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    Encryption,
    Signing,
    Hmac,
    Public,
}

/// One version's exported value, as Vault formats it.
fn exported(key: &Key, n: u32, what: What) -> Result<Zeroizing<String>, ApiError> {
    let v = key
        .versions
        .get(&n)
        .ok_or_else(|| ApiError::bad("invalid key version"))?;
    let m = v.material.expose_secret();
    Ok(Zeroizing::new(match (what, key.kind) {
        (What::Hmac, _) => base64_encode(v.hmac_key.expose_secret()),
        (What::Encryption, k) if k.aead().is_some() => base64_encode(m),
        (What::Signing | What::Public, Kind::Ed25519) if key.derived => {
            return Err(ApiError::bad(
                "derived ed25519 keys have no single key to export",
            ));
        }
        (What::Signing, Kind::Ed25519) => base64_encode(m),
        (What::Public, Kind::Ed25519) => base64_encode(&m[32..]),
        // Vault trims the PEM of exported EC public keys (not of RSA ones).
        (What::Public, k) => {
            let pem = PrivateKey::from_pkcs8_der(m)
                .and_then(|k| k.public_key().to_spki_pem())
                .map_err(ApiError::internal)?;
            if k.is_ecdsa() {
                pem.trim_end().to_owned()
            } else {
                pem
            }
        }
        (_, k) => {
            let pem = PrivateKey::from_pkcs8_der(m)
                .and_then(|k| k.to_traditional_pem())
                .map_err(ApiError::internal)?;
            // Vault trims the PEM of EC keys and leaves RSA keys' final newline.
            if k.is_ecdsa() {
                pem.expose_secret().trim_end().to_owned()
            } else {
                pem.expose_secret().to_owned()
            }
        }
    }))
}

/// `GET backup/<name>`.
pub(super) async fn backup(
    t: &Transit,
    req: &Request,
    view: &View,
    name: &str,
) -> Result<Response, ApiError> {
    let now = nanos(req);
    let done = t
        .modify(view, name, |k| {
            // Vault answers these refusals as its own (500) errors.
            if !k.exportable {
                return Err(ApiError::internal("exporting is disallowed on the policy"));
            }
            if !k.allow_plaintext_backup {
                return Err(ApiError::internal(
                    "plaintext backup is disallowed on the policy",
                ));
            }
            k.backup_info = Some(Event {
                time: crate::time::rfc3339_go(now),
                version: k.latest_version,
            });
            Ok(())
        })
        .await?;
    let Some((key, ())) = done else {
        return Err(ApiError::internal(format!("key {name:?} not found")));
    };
    let json = to_go_json(&key)?;
    Ok(Response::data(crate::engine::map([(
        "backup",
        json!(base64_encode(json.as_bytes())),
    )])))
}

/// `POST restore[/<name>]` with `backup` and `force`.
pub(super) async fn restore(
    t: &Transit,
    req: &Request,
    view: &View,
    name: &str,
) -> Result<Response, ApiError> {
    let d = &req.data;
    let Some(Value::String(b64)) = d.get("backup") else {
        return Err(ApiError::bad("'backup' must be supplied"));
    };
    let force = bool_field(d, "force")?.unwrap_or(false);
    let raw = Zeroizing::new(
        base64_decode(b64).map_err(|_| ApiError::internal(super::ops::go_base64_error(b64)))?,
    );
    let mut key = from_go_json(&raw).map_err(|e| match e {
        OpError::User(m) => ApiError::bad(format!("invalid backup: {m}")),
        OpError::Internal(m) => ApiError::Internal(m),
    })?;
    if !name.is_empty() {
        key.name = name.to_owned();
    }
    check_name(&key.name).map_err(|_| ApiError::bad("invalid backup: bad key name"))?;
    key.restore_info = Some(Event {
        time: crate::time::rfc3339_go(nanos(req)),
        version: key.latest_version,
    });
    let _guard = t.stripes.lock(&key.name).await;
    if !force && Transit::read_stored(view, &key.name).await?.is_some() {
        return Err(ApiError::internal(format!(
            "key {:?} already exists",
            key.name
        )));
    }
    Transit::persist(view, &key).await?;
    t.cache_put(key);
    Ok(Response::empty())
}

/// Go's JSON for a key, with every version in both `policy.keys` (from
/// `min_decryption_version`) and the archive (from `min_available_version`), as Vault lays
/// them out.
fn to_go_json(key: &Key) -> Result<Zeroizing<String>, ApiError> {
    let mut entries = BTreeMap::new();
    for (n, v) in &key.versions {
        entries.insert(*n, go_entry(key, *n)?);
        let _ = v;
    }
    let keys: Map<String, Value> = entries
        .iter()
        .filter(|(n, _)| **n >= key.min_decryption_version)
        .map(|(n, e)| (n.to_string(), e.clone()))
        .collect();
    let empty = json!({
        "key": null, "hmac_key": null, "time": "0001-01-01T00:00:00Z", "ec_x": null,
        "ec_y": null, "ec_d": null, "rsa_key": null, "rsa_public_key": null,
        "public_key": "", "convergent_version": 0, "creation_time": 0,
    });
    let archive: Vec<Value> = (key.min_available_version..=key.latest_version)
        .map(|n| entries.get(&n).cloned().unwrap_or_else(|| empty.clone()))
        .collect();
    let event = |e: &Option<Event>| {
        e.as_ref().map_or(
            Value::Null,
            |e| json!({"time": e.time, "version": e.version}),
        )
    };
    let mut policy = json!({
        "name": key.name,
        "keys": keys,
        "derived": key.derived,
        "kdf": if key.derived { 1 } else { 0 },
        "convergent_encryption": key.convergent,
        "exportable": key.exportable,
        "min_decryption_version": key.min_decryption_version,
        "min_encryption_version": key.min_encryption_version,
        "latest_version": key.latest_version,
        "archive_version": key.latest_version,
        "archive_min_version": key.min_available_version,
        "min_available_version": key.min_available_version,
        "deletion_allowed": key.deletion_allowed,
        "convergent_version": if key.convergent { -1 } else { 0 },
        "type": key.kind.go_number(),
        "backup_info": event(&key.backup_info),
        "restore_info": event(&key.restore_info),
        "allow_plaintext_backup": key.allow_plaintext_backup,
        "version_template": "",
        "storage_prefix": "",
        "auto_rotate_period": key.auto_rotate_period.saturating_mul(1_000_000_000),
        "Imported": key.imported,
        "AllowImportedKeyRotation": false,
        "soft_deleted": false,
    });
    if key.key_size != 0
        && let Some(p) = policy.as_object_mut()
    {
        p.insert("key_size".into(), json!(key.key_size));
    }
    let doc = json!({ "policy": policy, "archived_keys": { "keys": archive } });
    let text = Zeroizing::new(serde_json::to_string(&doc).map_err(ApiError::internal)?);
    // Big integers were carried as `"#bigint:<digits>"` strings; Go wants bare numbers.
    Ok(Zeroizing::new(unquote_bigints(&text)))
}

const BIGINT: &str = "#bigint:";

fn bigint(be: &[u8]) -> Value {
    Value::String(format!("{BIGINT}{}", be_to_decimal(be)))
}

/// Replaces every `"#bigint:123"` with `123`.
fn unquote_bigints(text: &str) -> String {
    let marker = format!("\"{BIGINT}");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(&marker) {
        out.push_str(&rest[..i]);
        let after = &rest[i + marker.len()..];
        let end = after.find('"').unwrap_or(after.len());
        out.push_str(&after[..end]);
        rest = after.get(end + 1..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

/// One version as Go's `KeyEntry`.
fn go_entry(key: &Key, n: u32) -> Result<Value, ApiError> {
    let v = key
        .versions
        .get(&n)
        .ok_or_else(|| ApiError::internal("missing version"))?;
    let m = v.material.expose_secret();
    let mut e = json!({
        "key": null, "hmac_key": base64_encode(v.hmac_key.expose_secret()),
        "time": v.created, "ec_x": null, "ec_y": null, "ec_d": null,
        "rsa_key": null, "rsa_public_key": null, "public_key": "",
        "convergent_version": v.convergent_version, "creation_time": v.created_unix,
        "certificate_chain": null,
    });
    let obj = e
        .as_object_mut()
        .ok_or_else(|| ApiError::internal("entry"))?;
    match key.kind {
        k if k.aead().is_some() || k == Kind::Hmac || k == Kind::Ed25519 => {
            obj.insert("key".into(), json!(base64_encode(m)));
            if k == Kind::Ed25519 && !key.derived {
                obj.insert("public_key".into(), json!(base64_encode(&m[32..])));
            }
        }
        k => {
            let private = PrivateKey::from_pkcs8_der(m).map_err(ApiError::internal)?;
            let jwk = private.to_jwk().map_err(ApiError::internal)?;
            let jwk: Map<String, Value> =
                serde_json::from_str(jwk.expose_secret()).map_err(ApiError::internal)?;
            let part = |name: &str| -> Result<Vec<u8>, ApiError> {
                let text = jwk
                    .get(name)
                    .and_then(Value::as_str)
                    .ok_or_else(|| ApiError::internal(format!("JWK lacks {name}")))?;
                base64url_decode(text).map_err(ApiError::internal)
            };
            if k.is_ecdsa() {
                obj.insert("ec_x".into(), bigint(&part("x")?));
                obj.insert("ec_y".into(), bigint(&part("y")?));
                obj.insert("ec_d".into(), bigint(&Zeroizing::new(part("d")?)));
                obj.insert(
                    "public_key".into(),
                    json!(
                        private
                            .public_key()
                            .to_spki_pem()
                            .map_err(ApiError::internal)?
                    ),
                );
            } else {
                let n = part("n")?;
                let e = part("e")?;
                let e_int = e.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
                obj.insert(
                    "rsa_key".into(),
                    json!({
                        "N": bigint(&n),
                        "E": e_int,
                        "D": bigint(&Zeroizing::new(part("d")?)),
                        "Primes": [bigint(&Zeroizing::new(part("p")?)), bigint(&Zeroizing::new(part("q")?))],
                        "Precomputed": {
                            "Dp": bigint(&Zeroizing::new(part("dp")?)),
                            "Dq": bigint(&Zeroizing::new(part("dq")?)),
                            "Qinv": bigint(&Zeroizing::new(part("qi")?)),
                            "CRTValues": [],
                        },
                    }),
                );
                obj.insert(
                    "rsa_public_key".into(),
                    json!({"N": bigint(&n), "E": e_int}),
                );
            }
        }
    }
    Ok(e)
}

#[derive(Deserialize)]
struct GoBackup {
    policy: GoPolicy,
    #[serde(default)]
    archived_keys: Option<GoArchive>,
}

#[derive(Deserialize)]
struct GoArchive {
    #[serde(default)]
    keys: Option<Vec<GoEntry>>,
}

#[derive(Deserialize)]
struct GoPolicy {
    name: String,
    #[serde(default)]
    keys: BTreeMap<String, GoEntry>,
    #[serde(default)]
    derived: bool,
    #[serde(default)]
    kdf: i64,
    #[serde(default)]
    convergent_encryption: bool,
    #[serde(default)]
    exportable: bool,
    #[serde(default)]
    min_decryption_version: i64,
    #[serde(default)]
    min_encryption_version: i64,
    latest_version: i64,
    #[serde(default)]
    archive_min_version: i64,
    #[serde(default)]
    min_available_version: i64,
    #[serde(default)]
    deletion_allowed: bool,
    #[serde(rename = "type")]
    kind: i64,
    #[serde(default)]
    allow_plaintext_backup: bool,
    #[serde(default)]
    version_template: String,
    #[serde(default)]
    auto_rotate_period: i64,
    #[serde(default)]
    key_size: i64,
    #[serde(default, rename = "Imported")]
    imported: bool,
    #[serde(default)]
    backup_info: Option<Event>,
}

#[derive(Deserialize, Default)]
struct GoEntry {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    hmac_key: Option<String>,
    #[serde(default)]
    time: Option<String>,
    #[serde(default)]
    ec_x: Option<Box<RawValue>>,
    #[serde(default)]
    ec_y: Option<Box<RawValue>>,
    #[serde(default)]
    ec_d: Option<Box<RawValue>>,
    #[serde(default)]
    rsa_key: Option<GoRsa>,
    #[serde(default)]
    convergent_version: i64,
    #[serde(default)]
    creation_time: i64,
}

#[derive(Deserialize)]
#[allow(non_snake_case, reason = "Go's field names")]
struct GoRsa {
    N: Box<RawValue>,
    E: i64,
    D: Box<RawValue>,
    Primes: Vec<Box<RawValue>>,
    #[serde(default)]
    Precomputed: Option<GoPrecomputed>,
}

#[derive(Deserialize)]
#[allow(non_snake_case, reason = "Go's field names")]
struct GoPrecomputed {
    Dp: Option<Box<RawValue>>,
    Dq: Option<Box<RawValue>>,
    Qinv: Option<Box<RawValue>>,
}

fn user(msg: impl Into<String>) -> OpError {
    OpError::user(msg)
}

/// Reads Go's JSON backup into a key.
fn from_go_json(raw: &[u8]) -> Result<Key, OpError> {
    let doc: GoBackup =
        serde_json::from_slice(raw).map_err(|e| user(format!("not a transit backup ({e})")))?;
    let p = doc.policy;
    let kind = Kind::from_go_number(p.kind)
        .ok_or_else(|| user(format!("key type {} is not supported by Sigil", p.kind)))?;
    if p.derived && p.kdf != 1 {
        return Err(user(
            "the legacy HMAC-SHA256 counter KDF is not supported; only hkdf_sha256",
        ));
    }
    if !p.version_template.is_empty() && p.version_template != "vault:v{{version}}:" {
        return Err(user("custom version templates are not supported"));
    }
    let as_u32 = |v: i64, what: &str| u32::try_from(v).map_err(|_| user(format!("bad {what}")));
    let latest = as_u32(p.latest_version, "latest_version")?;
    if latest == 0 {
        return Err(user("the backup holds no key version"));
    }
    let min_available = as_u32(p.min_available_version, "min_available_version")?;
    let archive_min = as_u32(p.archive_min_version, "archive_min_version")?;
    let mut key = Key {
        name: p.name,
        kind,
        derived: p.derived,
        convergent: p.convergent_encryption,
        exportable: p.exportable,
        allow_plaintext_backup: p.allow_plaintext_backup,
        deletion_allowed: p.deletion_allowed,
        min_decryption_version: as_u32(p.min_decryption_version, "min_decryption_version")?.max(1),
        min_encryption_version: as_u32(p.min_encryption_version, "min_encryption_version")?,
        min_available_version: min_available,
        latest_version: latest,
        auto_rotate_period: u64::try_from(p.auto_rotate_period / 1_000_000_000).unwrap_or(0),
        key_size: usize::try_from(p.key_size).unwrap_or(0),
        imported: p.imported,
        backup_info: p.backup_info,
        restore_info: None,
        versions: BTreeMap::new(),
    };
    let mut policy_keys = p.keys;
    let mut archive = doc.archived_keys.and_then(|a| a.keys).unwrap_or_default();
    for n in min_available.max(1)..=latest {
        let entry = match policy_keys.remove(&n.to_string()) {
            Some(e) => e,
            None => {
                let i = usize::try_from(
                    n.checked_sub(archive_min)
                        .ok_or_else(|| user("archive is inconsistent"))?,
                )
                .map_err(|_| user("archive is inconsistent"))?;
                archive
                    .get_mut(i)
                    .map(std::mem::take)
                    .ok_or_else(|| user(format!("version {n} is missing")))?
            }
        };
        restore_entry(&mut key, n, entry)?;
    }
    Ok(key)
}

fn restore_entry(key: &mut Key, n: u32, e: GoEntry) -> Result<(), OpError> {
    let kind = key.kind;
    let b64 = |s: &Option<String>, what: &str| -> Result<SecretBytes, OpError> {
        let s = s
            .as_deref()
            .ok_or_else(|| user(format!("version {n} lacks {what}")))?;
        base64_decode(s)
            .map(SecretBytes::new)
            .map_err(|_| user(format!("version {n}: {what} is not base64")))
    };
    let material = if kind.aead().is_some() || kind == Kind::Hmac || kind == Kind::Ed25519 {
        b64(&e.key, "key")?
    } else if kind.is_ecdsa() {
        let (crv, len) = if kind == Kind::EcdsaP256 {
            ("P-256", 32)
        } else {
            ("P-384", 48)
        };
        let coord = |v: &Option<Box<RawValue>>, what: &str| -> Result<Zeroizing<String>, OpError> {
            let digits = raw_digits(v.as_deref())
                .ok_or_else(|| user(format!("version {n} lacks {what}")))?;
            let be =
                decimal_to_be(digits).ok_or_else(|| user(format!("version {n}: bad {what}")))?;
            if be.len() > len {
                return Err(user(format!("version {n}: {what} is too long")));
            }
            let mut fixed = Zeroizing::new(vec![0u8; len]);
            fixed[len - be.len()..].copy_from_slice(&be);
            Ok(Zeroizing::new(base64url_encode(&fixed)))
        };
        let jwk = Zeroizing::new(
            json!({
                "kty": "EC", "crv": crv,
                "x": *coord(&e.ec_x, "ec_x")?, "y": *coord(&e.ec_y, "ec_y")?, "d": *coord(&e.ec_d, "ec_d")?,
            })
            .to_string(),
        );
        pkcs8_from_jwk(&jwk, n)?
    } else {
        let rsa = e
            .rsa_key
            .as_ref()
            .ok_or_else(|| user(format!("version {n} lacks rsa_key")))?;
        let pre = rsa
            .Precomputed
            .as_ref()
            .ok_or_else(|| user(format!("version {n}: rsa_key lacks its CRT values")))?;
        let part = |v: Option<&RawValue>, what: &str| -> Result<Zeroizing<String>, OpError> {
            let digits =
                raw_digits(v).ok_or_else(|| user(format!("version {n}: rsa_key lacks {what}")))?;
            let be =
                decimal_to_be(digits).ok_or_else(|| user(format!("version {n}: bad {what}")))?;
            Ok(Zeroizing::new(base64url_encode(&be)))
        };
        if rsa.Primes.len() != 2 {
            return Err(user(format!(
                "version {n}: only two-prime RSA keys are supported"
            )));
        }
        let e_bytes: Vec<u8> = u64::try_from(rsa.E)
            .map_err(|_| user("bad RSA exponent"))?
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        let jwk = Zeroizing::new(
            json!({
                "kty": "RSA",
                "n": *part(Some(&rsa.N), "N")?,
                "e": base64url_encode(&e_bytes),
                "d": *part(Some(&rsa.D), "D")?,
                "p": *part(Some(&rsa.Primes[0]), "Primes")?,
                "q": *part(Some(&rsa.Primes[1]), "Primes")?,
                "dp": *part(pre.Dp.as_deref(), "Dp")?,
                "dq": *part(pre.Dq.as_deref(), "Dq")?,
                "qi": *part(pre.Qinv.as_deref(), "Qinv")?,
            })
            .to_string(),
        );
        pkcs8_from_jwk(&jwk, n)?
    };
    let material = if kind == Kind::Ed25519 && material.len() == 32 {
        // A bare seed: complete Go's seed ‖ public form.
        let k = PrivateKey::from_ed25519_seed(material.expose_secret())
            .map_err(|e| user(e.to_string()))?;
        ed25519_go_form(&k)?
    } else {
        material
    };
    let hmac_key = if kind == Kind::Hmac {
        SecretBytes::copy_from(material.expose_secret())
    } else {
        b64(&e.hmac_key, "hmac_key")?
    };
    let created = e.time.unwrap_or_default();
    let created_unix = u64::try_from(e.creation_time).unwrap_or(0);
    key.insert_version(
        n,
        material,
        hmac_key,
        created_unix,
        created,
        e.convergent_version,
    )
}

fn pkcs8_from_jwk(jwk: &str, n: u32) -> Result<SecretBytes, OpError> {
    PrivateKey::from_bytes(jwk.as_bytes())
        .and_then(|k| k.to_pkcs8_der())
        .map_err(|e| user(format!("version {n}: the key is invalid ({e})")))
}

/// The digits of a raw JSON number (`None` for `null`, a sign, a fraction or anything else).
fn raw_digits(v: Option<&RawValue>) -> Option<&str> {
    let s = v?.get().trim();
    (!s.is_empty() && s.len() <= MAX_DIGITS && s.bytes().all(|b| b.is_ascii_digit())).then_some(s)
}

/// A non-negative decimal integer as minimal big-endian bytes (empty for zero).
pub(super) fn decimal_to_be(digits: &str) -> Option<Zeroizing<Vec<u8>>> {
    if digits.is_empty() || digits.len() > MAX_DIGITS {
        return None;
    }
    // Little-endian base-2^32 limbs.
    let mut limbs: Zeroizing<Vec<u32>> = Zeroizing::new(Vec::new());
    for b in digits.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        let mut carry = u64::from(b - b'0');
        for limb in limbs.iter_mut() {
            let x = u64::from(*limb) * 10 + carry;
            *limb = x as u32;
            carry = x >> 32;
        }
        if carry != 0 {
            limbs.push(carry as u32);
        }
    }
    let mut out = Zeroizing::new(Vec::with_capacity(limbs.len() * 4));
    for limb in limbs.iter().rev() {
        out.extend_from_slice(&limb.to_be_bytes());
    }
    let first = out.iter().position(|b| *b != 0).unwrap_or(out.len());
    out.drain(..first);
    Some(out)
}

/// Big-endian bytes as a decimal integer.
pub(super) fn be_to_decimal(be: &[u8]) -> String {
    // Big-endian base-2^32 limbs, divided by 10^9 repeatedly.
    let mut limbs: Zeroizing<Vec<u32>> = Zeroizing::new(Vec::new());
    let pad = (4 - be.len() % 4) % 4;
    let mut padded = Zeroizing::new(vec![0u8; pad]);
    padded.extend_from_slice(be);
    for chunk in padded.chunks(4) {
        limbs.push(u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]));
    }
    let mut groups: Vec<u32> = Vec::new();
    while limbs.iter().any(|l| *l != 0) {
        let mut rem = 0u64;
        for limb in limbs.iter_mut() {
            let x = (rem << 32) | u64::from(*limb);
            *limb = (x / 1_000_000_000) as u32;
            rem = x % 1_000_000_000;
        }
        groups.push(rem as u32);
    }
    let Some(last) = groups.pop() else {
        return "0".to_owned();
    };
    let mut s = last.to_string();
    for g in groups.iter().rev() {
        s.push_str(&format!("{g:09}"));
    }
    s
}
