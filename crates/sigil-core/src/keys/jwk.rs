//! JSON Web Keys (RFC 7517, RFC 7518 §6, RFC 8037 for OKP) and thumbprints (RFC 7638).
//!
//! Reading ignores members it does not use (`use`, `key_ops`, `alg`, `x5c`, ...), as RFC 7517
//! requires, but every member it does use must be present, canonical base64url without
//! padding, and of the right length.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::KeyType;
use crate::encoding::{base64url_decode, base64url_encode};
use crate::error::{Error, Result};
use crate::hash::{HashAlgorithm, digest};
use crate::secret::{SecretBytes, SecretString};

/// The members Sigil reads, all optional at this stage.
#[derive(Deserialize)]
struct Raw {
    kty: String,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    d: Option<String>,
    n: Option<String>,
    e: Option<String>,
    p: Option<String>,
    q: Option<String>,
    dp: Option<String>,
    dq: Option<String>,
    qi: Option<String>,
    oth: Option<Value>,
}

/// A parsed JWK, public or private.
pub(super) enum Jwk {
    /// `kty: EC` (P-256 / P-384): the affine coordinates, and the scalar when private.
    Ec {
        kind: KeyType,
        x: Vec<u8>,
        y: Vec<u8>,
        d: Option<SecretBytes>,
    },
    /// `kty: OKP` (Ed25519 / X25519).
    Okp {
        kind: KeyType,
        x: Vec<u8>,
        d: Option<SecretBytes>,
    },
    /// `kty: RSA`.
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
        private: Option<RsaPrivate>,
    },
}

/// The private members of an RSA JWK.
pub(super) struct RsaPrivate {
    pub(super) d: SecretBytes,
    pub(super) p: SecretBytes,
    pub(super) q: SecretBytes,
    pub(super) dp: SecretBytes,
    pub(super) dq: SecretBytes,
    pub(super) qi: SecretBytes,
}

fn field(v: Option<&String>, name: &'static str) -> Result<Vec<u8>> {
    let s = v.ok_or_else(|| Error::malformed("JWK", format!("missing \"{name}\"")))?;
    base64url_decode(s).map_err(|_| {
        Error::malformed(
            "JWK",
            format!("\"{name}\" is not base64url without padding"),
        )
    })
}

fn secret_field(v: Option<&String>, name: &'static str) -> Result<SecretBytes> {
    field(v, name).map(SecretBytes::new)
}

fn exact(bytes: Vec<u8>, len: usize, name: &'static str) -> Result<Vec<u8>> {
    if bytes.len() == len {
        Ok(bytes)
    } else {
        Err(Error::malformed(
            "JWK",
            format!("\"{name}\" must be {len} bytes, got {}", bytes.len()),
        ))
    }
}

impl Jwk {
    pub(super) fn parse(input: &[u8]) -> Result<Self> {
        let raw: Raw = serde_json::from_slice(input)
            .map_err(|_| Error::malformed("JWK", "not a JSON object with a \"kty\" member"))?;
        let private = raw.d.is_some();
        match raw.kty.as_str() {
            "EC" => {
                let (kind, len) = match raw.crv.as_deref() {
                    Some("P-256") => (KeyType::EcdsaP256, 32),
                    Some("P-384") => (KeyType::EcdsaP384, 48),
                    Some(other) => {
                        return Err(Error::unsupported(format!("JWK curve {other:?}")));
                    }
                    None => return Err(Error::malformed("JWK", "missing \"crv\"")),
                };
                let x = exact(field(raw.x.as_ref(), "x")?, len, "x")?;
                let y = exact(field(raw.y.as_ref(), "y")?, len, "y")?;
                let d = if private {
                    let d = secret_field(raw.d.as_ref(), "d")?;
                    if d.len() != len {
                        return Err(Error::malformed(
                            "JWK",
                            format!("\"d\" must be {len} bytes"),
                        ));
                    }
                    Some(d)
                } else {
                    None
                };
                Ok(Self::Ec { kind, x, y, d })
            }
            "OKP" => {
                let kind = match raw.crv.as_deref() {
                    Some("Ed25519") => KeyType::Ed25519,
                    Some("X25519") => KeyType::X25519,
                    Some(other) => {
                        return Err(Error::unsupported(format!("JWK curve {other:?}")));
                    }
                    None => return Err(Error::malformed("JWK", "missing \"crv\"")),
                };
                let x = exact(field(raw.x.as_ref(), "x")?, 32, "x")?;
                let d = if private {
                    let d = secret_field(raw.d.as_ref(), "d")?;
                    if d.len() != 32 {
                        return Err(Error::malformed("JWK", "\"d\" must be 32 bytes"));
                    }
                    Some(d)
                } else {
                    None
                };
                Ok(Self::Okp { kind, x, d })
            }
            "RSA" => {
                if raw.oth.is_some() {
                    return Err(Error::unsupported("multi-prime RSA keys (\"oth\")"));
                }
                let n = field(raw.n.as_ref(), "n")?;
                let e = field(raw.e.as_ref(), "e")?;
                let private = if private {
                    Some(RsaPrivate {
                        d: secret_field(raw.d.as_ref(), "d")?,
                        p: secret_field(raw.p.as_ref(), "p")?,
                        q: secret_field(raw.q.as_ref(), "q")?,
                        dp: secret_field(raw.dp.as_ref(), "dp")?,
                        dq: secret_field(raw.dq.as_ref(), "dq")?,
                        qi: secret_field(raw.qi.as_ref(), "qi")?,
                    })
                } else {
                    None
                };
                Ok(Self::Rsa { n, e, private })
            }
            other => Err(Error::unsupported(format!("JWK key type {other:?}"))),
        }
    }

    pub(super) fn is_private(&self) -> bool {
        match self {
            Self::Ec { d, .. } | Self::Okp { d, .. } => d.is_some(),
            Self::Rsa { private, .. } => private.is_some(),
        }
    }
}

/// The public members of a key, in the order RFC 7638 sorts them.
pub(super) fn public_members(
    kind: KeyType,
    public: &[u8],
    rsa_e: Option<&[u8]>,
) -> Map<String, Value> {
    let mut m = Map::new();
    let s = |b: &[u8]| Value::String(base64url_encode(b));
    match kind {
        KeyType::EcdsaP256 | KeyType::EcdsaP384 => {
            // `public` is the uncompressed point 0x04 || x || y.
            let coord = (public.len() - 1) / 2;
            let crv = if kind == KeyType::EcdsaP256 {
                "P-256"
            } else {
                "P-384"
            };
            m.insert("crv".into(), Value::String(crv.into()));
            m.insert("kty".into(), Value::String("EC".into()));
            m.insert("x".into(), s(&public[1..=coord]));
            m.insert("y".into(), s(&public[1 + coord..]));
        }
        KeyType::Ed25519 | KeyType::X25519 => {
            let crv = if kind == KeyType::Ed25519 {
                "Ed25519"
            } else {
                "X25519"
            };
            m.insert("crv".into(), Value::String(crv.into()));
            m.insert("kty".into(), Value::String("OKP".into()));
            m.insert("x".into(), s(public));
        }
        KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => {
            // `public` is the modulus here; the exponent comes separately.
            m.insert("e".into(), s(rsa_e.unwrap_or(&[1, 0, 1])));
            m.insert("kty".into(), Value::String("RSA".into()));
            m.insert("n".into(), s(public));
        }
    }
    m
}

/// RFC 7638 thumbprint: SHA-256 over the required members, sorted, without whitespace.
pub(super) fn thumbprint(members: &Map<String, Value>) -> String {
    // serde_json's Map is ordered by key and `to_string` writes no whitespace: exactly the
    // canonical form RFC 7638 §3 asks for.
    let canonical = Value::Object(members.clone()).to_string();
    base64url_encode(&digest(HashAlgorithm::Sha256, canonical.as_bytes()))
}

/// A public JWK document with `kid`.
pub(super) fn public_document(members: Map<String, Value>) -> String {
    let kid = thumbprint(&members);
    let mut m = members;
    m.insert("kid".into(), Value::String(kid));
    Value::Object(m).to_string()
}

/// A private JWK document: the public members, `kid`, and the private ones.
///
/// Built by hand into one pre-sized zeroizing buffer so that no copy of the private members is
/// left behind in freed memory (a `serde_json::Value` would hold them in ordinary strings).
pub(super) fn private_document(
    members: Map<String, Value>,
    private: &[(&'static str, &[u8])],
) -> SecretString {
    let kid = thumbprint(&members);
    let mut m = members;
    m.insert("kid".into(), Value::String(kid));
    let public = Value::Object(m).to_string();
    let extra: usize = private
        .iter()
        .map(|(n, v)| n.len() + v.len() * 4 / 3 + 8)
        .sum();
    let mut text = zeroize::Zeroizing::new(String::with_capacity(public.len() + extra));
    // `public` ends with '}'; the private members go before it.
    text.push_str(&public[..public.len() - 1]);
    for (name, value) in private {
        let encoded = zeroize::Zeroizing::new(base64url_encode(value));
        text.push_str(",\"");
        text.push_str(name);
        text.push_str("\":\"");
        text.push_str(&encoded);
        text.push('"');
    }
    text.push('}');
    SecretString::new(std::mem::take(&mut *text))
}
