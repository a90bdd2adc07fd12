//! Trust bundles: a trust domain's X.509 authorities and JWT signing keys, and the formats they
//! travel in.
//!
//! | form | where it is used | type |
//! | --- | --- | --- |
//! | concatenated DER CA certificates | Workload API `bundle` / `bundles` fields | [`X509Bundle`] |
//! | plain RFC 7517 JWKS, every key with a `kid`, no `use` | Workload API `FetchJWTBundles` | [`JwtBundle`] |
//! | SPIFFE bundle (JWKS with `use`, `x5c`, `spiffe_sequence`, `spiffe_refresh_hint`) | federation bundle endpoints | [`SpiffeBundle`] |
//! | bundle map `{"trust_domains": {...}}` | several trust domains in one document | [`BundleSet`] |
//!
//! JWK members are read and written by [`crate::keys`]; this file only adds the SPIFFE members
//! around them. Unknown `kty` and `use` values are skipped as the standard asks (so are keys of
//! a known type in a size or curve Sigil does not load); duplicate `kid`s, authorities and
//! trust domains are refused.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::id::TrustDomain;
use super::x509::{parse_certificate, split_der_certificates};
use crate::encoding::{base64_decode, base64_encode};
use crate::error::{Error, Result};
use crate::keys::PublicKey;

/// The largest bundle document accepted (bytes).
const MAX_JSON: usize = 1024 * 1024;
/// JWK `kty` values this code understands; other key types are skipped.
const KNOWN_KTY: [&str; 3] = ["EC", "RSA", "OKP"];
const USE_X509: &str = "x509-svid";
const USE_JWT: &str = "jwt-svid";

/// A trust domain's X.509 authorities (DER CA certificates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X509Bundle {
    trust_domain: TrustDomain,
    authorities: Vec<Vec<u8>>,
}

/// A trust domain's JWT-SVID signing keys, by key id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtBundle {
    trust_domain: TrustDomain,
    keys: BTreeMap<String, PublicKey>,
}

/// A SPIFFE bundle: both kinds of authority, and the bundle's own metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpiffeBundle {
    // Private so that both halves always belong to the same trust domain.
    x509: X509Bundle,
    jwt: JwtBundle,
    /// `spiffe_sequence`: increases whenever the content changes.
    pub sequence: Option<u64>,
    /// `spiffe_refresh_hint`: how often to poll, in seconds.
    pub refresh_hint: Option<u64>,
}

/// Bundles of several trust domains (the SPIFFE bundle map).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleSet {
    bundles: BTreeMap<TrustDomain, SpiffeBundle>,
}

fn too_large(what: &'static str, input: &[u8]) -> Result<()> {
    if input.len() > MAX_JSON {
        Err(Error::TooLarge {
            what,
            limit: MAX_JSON as u64,
        })
    } else {
        Ok(())
    }
}

impl X509Bundle {
    /// An empty bundle (every authority revoked).
    pub fn empty(trust_domain: TrustDomain) -> Self {
        Self {
            trust_domain,
            authorities: Vec::new(),
        }
    }

    /// A bundle of DER certificates; each must parse, and none may repeat.
    pub fn new(trust_domain: TrustDomain, authorities: Vec<Vec<u8>>) -> Result<Self> {
        let mut bundle = Self::empty(trust_domain);
        for der in authorities {
            bundle.add(der)?;
        }
        Ok(bundle)
    }

    /// Adds one DER authority certificate.
    pub fn add(&mut self, der: Vec<u8>) -> Result<()> {
        parse_certificate(&der, "X.509 bundle")?;
        if self.authorities.contains(&der) {
            return Err(Error::malformed(
                "X.509 bundle",
                "an authority appears twice",
            ));
        }
        self.authorities.push(der);
        Ok(())
    }

    /// Parses the Workload API encoding: concatenated DER certificates.
    pub fn parse_der(trust_domain: TrustDomain, der: &[u8]) -> Result<Self> {
        Self::new(trust_domain, split_der_certificates(der, "X.509 bundle")?)
    }

    /// The Workload API encoding: concatenated DER certificates.
    pub fn to_der(&self) -> Vec<u8> {
        self.authorities.concat()
    }

    /// The trust domain.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// The authorities (DER), in order.
    pub fn authorities(&self) -> &[Vec<u8>] {
        &self.authorities
    }
}

impl JwtBundle {
    /// A bundle with no keys.
    pub fn empty(trust_domain: TrustDomain) -> Self {
        Self {
            trust_domain,
            keys: BTreeMap::new(),
        }
    }

    /// Adds a key; an empty or repeated `kid` is refused.
    pub fn add(&mut self, kid: &str, key: PublicKey) -> Result<()> {
        if kid.is_empty() {
            return Err(Error::malformed("JWT bundle", "a key has an empty \"kid\""));
        }
        match self.keys.entry(kid.to_owned()) {
            Entry::Occupied(_) => Err(Error::malformed(
                "JWT bundle",
                format!("the kid {kid:?} appears twice"),
            )),
            Entry::Vacant(slot) => {
                slot.insert(key);
                Ok(())
            }
        }
    }

    /// The key with this id.
    pub fn get(&self, kid: &str) -> Option<&PublicKey> {
        self.keys.get(kid)
    }

    /// Every key, by id.
    pub fn keys(&self) -> &BTreeMap<String, PublicKey> {
        &self.keys
    }

    /// The trust domain.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// Parses a plain JWKS (the Workload API's JWT bundle form): every key needs a `kid`;
    /// keys marked with a `use` other than `jwt-svid` are skipped.
    pub fn parse_jwks(trust_domain: TrustDomain, json: &[u8]) -> Result<Self> {
        too_large("JWKS", json)?;
        let doc: KeySet = serde_json::from_slice(json)
            .map_err(|_| Error::malformed("JWKS", "not a JSON object with a \"keys\" array"))?;
        let mut bundle = Self::empty(trust_domain);
        for key in &doc.keys {
            let Some(jwk) = known_kty(key, "JWKS")? else {
                continue;
            };
            match jwk.get("use") {
                None => {}
                Some(Value::String(u)) if u == USE_JWT => {}
                Some(Value::String(_)) => continue,
                Some(_) => return Err(Error::malformed("JWKS", "\"use\" is not a string")),
            }
            bundle.add_jwk(jwk, "JWKS")?;
        }
        Ok(bundle)
    }

    /// The plain JWKS form: each key with its `kid`, no `use`.
    pub fn to_jwks(&self) -> Result<String> {
        let keys = self
            .keys
            .iter()
            .map(|(kid, key)| jwk_object(key, Some(kid), None))
            .collect::<Result<Vec<_>>>()?;
        let mut doc = Map::new();
        doc.insert("keys".into(), Value::Array(keys));
        Ok(Value::Object(doc).to_string())
    }

    /// Reads one JWK object with a required `kid`; unsupported curves and sizes are skipped.
    fn add_jwk(&mut self, jwk: &Map<String, Value>, what: &'static str) -> Result<()> {
        let Some(Value::String(kid)) = jwk.get("kid") else {
            return Err(Error::malformed(what, "a JWT key has no \"kid\""));
        };
        let bytes = Value::Object(jwk.clone()).to_string();
        match PublicKey::from_bytes(bytes.as_bytes()) {
            Ok(key) => self.add(kid, key),
            Err(Error::Unsupported(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// A JWK object, or `None` when its `kty` is one this code does not know.
fn known_kty<'a>(key: &'a Value, what: &'static str) -> Result<Option<&'a Map<String, Value>>> {
    let Value::Object(jwk) = key else {
        return Err(Error::malformed(what, "a key is not a JSON object"));
    };
    // A published bundle holding a private key is a leak at the publisher; refusing it makes
    // that visible instead of quietly using the public half.
    if jwk.contains_key("d") {
        return Err(Error::malformed(
            what,
            "a key holds private members (\"d\")",
        ));
    }
    match jwk.get("kty") {
        Some(Value::String(kty)) if KNOWN_KTY.contains(&kty.as_str()) => Ok(Some(jwk)),
        Some(Value::String(_)) => Ok(None),
        _ => Err(Error::malformed(what, "a key has no \"kty\"")),
    }
}

/// A public JWK object for `key`, with the given `kid` (or none) and `use`.
fn jwk_object(key: &PublicKey, kid: Option<&str>, use_: Option<&str>) -> Result<Value> {
    let Value::Object(mut jwk) = serde_json::from_str::<Value>(&key.to_jwk()?)
        .map_err(|_| Error::Internal("a JWK Sigil wrote did not parse"))?
    else {
        return Err(Error::Internal("a JWK Sigil wrote is not an object"));
    };
    // `to_jwk` names the key by its thumbprint; a bundle names it by the id it was given.
    jwk.remove("kid");
    if let Some(kid) = kid {
        jwk.insert("kid".into(), Value::String(kid.to_owned()));
    }
    if let Some(u) = use_ {
        jwk.insert("use".into(), Value::String(u.to_owned()));
    }
    Ok(Value::Object(jwk))
}

/// `{"keys": [...]}` and the SPIFFE members; other top-level members are ignored.
#[derive(Deserialize)]
struct KeySet {
    keys: Vec<Value>,
    spiffe_sequence: Option<u64>,
    spiffe_refresh_hint: Option<u64>,
}

impl SpiffeBundle {
    /// An empty bundle for `trust_domain`.
    pub fn empty(trust_domain: &TrustDomain) -> Self {
        Self {
            x509: X509Bundle::empty(trust_domain.clone()),
            jwt: JwtBundle::empty(trust_domain.clone()),
            sequence: None,
            refresh_hint: None,
        }
    }

    /// The trust domain.
    pub fn trust_domain(&self) -> &TrustDomain {
        self.x509.trust_domain()
    }

    /// The X.509 authorities.
    pub fn x509(&self) -> &X509Bundle {
        &self.x509
    }

    /// The X.509 authorities, to add to.
    pub fn x509_mut(&mut self) -> &mut X509Bundle {
        &mut self.x509
    }

    /// The JWT signing keys.
    pub fn jwt(&self) -> &JwtBundle {
        &self.jwt
    }

    /// The JWT signing keys, to add to.
    pub fn jwt_mut(&mut self) -> &mut JwtBundle {
        &mut self.jwt
    }

    /// Parses the SPIFFE bundle JSON of `trust_domain`.
    pub fn decode(trust_domain: &TrustDomain, json: &[u8]) -> Result<Self> {
        too_large("SPIFFE bundle", json)?;
        // serde_json's messages can quote the input, so they are not passed on.
        let doc: KeySet = serde_json::from_slice(json).map_err(|_| {
            Error::malformed(
                "SPIFFE bundle",
                "not a JWK set (\"keys\" array; integer spiffe_sequence and spiffe_refresh_hint)",
            )
        })?;
        Self::from_key_set(trust_domain, &doc)
    }

    fn from_key_set(trust_domain: &TrustDomain, doc: &KeySet) -> Result<Self> {
        const WHAT: &str = "SPIFFE bundle";
        let mut bundle = Self::empty(trust_domain);
        bundle.sequence = doc.spiffe_sequence;
        bundle.refresh_hint = doc.spiffe_refresh_hint;
        for key in &doc.keys {
            let Some(jwk) = known_kty(key, WHAT)? else {
                continue;
            };
            let Some(Value::String(use_)) = jwk.get("use") else {
                return Err(Error::malformed(WHAT, "a key has no \"use\""));
            };
            match use_.as_str() {
                USE_X509 => {
                    if jwk.contains_key("kid") {
                        return Err(Error::malformed(WHAT, "an x509-svid key has a \"kid\""));
                    }
                    let Some(Value::Array(x5c)) = jwk.get("x5c") else {
                        return Err(Error::malformed(WHAT, "an x509-svid key has no \"x5c\""));
                    };
                    // The standard reads only the first certificate and skips an empty x5c.
                    let Some(first) = x5c.first() else { continue };
                    let der = first
                        .as_str()
                        .and_then(|s| base64_decode(s).ok())
                        .ok_or_else(|| Error::malformed(WHAT, "an \"x5c\" entry is not base64"))?;
                    bundle.x509.add(der)?;
                }
                USE_JWT => bundle.jwt.add_jwk(jwk, WHAT)?,
                _ => {}
            }
        }
        Ok(bundle)
    }

    /// The SPIFFE bundle JSON.
    pub fn encode(&self) -> Result<String> {
        Ok(self.to_value(true)?.to_string())
    }

    fn to_value(&self, with_refresh_hint: bool) -> Result<Value> {
        let mut keys = Vec::new();
        for der in self.x509.authorities() {
            let cert = parse_certificate(der, "X.509 bundle")?;
            let key = PublicKey::from_spki_der(cert.public_key().raw)?;
            let Value::Object(mut jwk) = jwk_object(&key, None, Some(USE_X509))? else {
                return Err(Error::Internal("a JWK is not an object"));
            };
            jwk.insert("x5c".into(), Value::Array(vec![base64_encode(der).into()]));
            keys.push(Value::Object(jwk));
        }
        for (kid, key) in self.jwt.keys() {
            keys.push(jwk_object(key, Some(kid), Some(USE_JWT))?);
        }
        let mut doc = Map::new();
        doc.insert("keys".into(), Value::Array(keys));
        if let Some(seq) = self.sequence {
            doc.insert("spiffe_sequence".into(), seq.into());
        }
        if let (Some(hint), true) = (self.refresh_hint, with_refresh_hint) {
            doc.insert("spiffe_refresh_hint".into(), hint.into());
        }
        Ok(Value::Object(doc))
    }
}

/// The members of a JSON object in document order, duplicates kept so they can be refused
/// (serde_json's own map would silently keep the last one).
struct Entries(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    out.push(entry);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(EntriesVisitor).map_err(de::Error::custom)
    }
}

/// Parses a JSON object, refusing a member that appears twice (used for JWT headers and
/// claims, where a second `alg` or `sub` must not silently win).
pub(super) fn unique_object(json: &[u8], what: &'static str) -> Result<Map<String, Value>> {
    let entries: Entries =
        serde_json::from_slice(json).map_err(|_| Error::malformed(what, "not a JSON object"))?;
    let mut map = Map::new();
    for (name, value) in entries.0 {
        if map.insert(name, value).is_some() {
            return Err(Error::malformed(what, "a member appears twice"));
        }
    }
    Ok(map)
}

#[derive(Deserialize)]
struct RawMap {
    trust_domains: Entries,
}

impl BundleSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a bundle; a second bundle for the same trust domain is refused (bundles of
    /// different trust domains are never merged).
    pub fn add(&mut self, bundle: SpiffeBundle) -> Result<()> {
        match self.bundles.entry(bundle.trust_domain().clone()) {
            Entry::Occupied(slot) => Err(Error::malformed(
                "SPIFFE bundle map",
                format!("trust domain {} appears twice", slot.key()),
            )),
            Entry::Vacant(slot) => {
                slot.insert(bundle);
                Ok(())
            }
        }
    }

    /// The bundle of `td`.
    pub fn get(&self, td: &TrustDomain) -> Option<&SpiffeBundle> {
        self.bundles.get(td)
    }

    /// Every bundle, by trust domain.
    pub fn bundles(&self) -> &BTreeMap<TrustDomain, SpiffeBundle> {
        &self.bundles
    }

    /// Parses a bundle map `{"trust_domains": {"<td>": <bundle>, ...}}`. Keys may be trust
    /// domain names or trust domain IDs (`spiffe://td`); a trust domain named twice is refused.
    pub fn decode(json: &[u8]) -> Result<Self> {
        const WHAT: &str = "SPIFFE bundle map";
        too_large(WHAT, json)?;
        let raw: RawMap = serde_json::from_slice(json)
            .map_err(|_| Error::malformed(WHAT, "not an object with a \"trust_domains\" object"))?;
        let mut set = Self::new();
        for (name, value) in raw.trust_domains.0 {
            let td = TrustDomain::parse(&name)?;
            let doc: KeySet = serde_json::from_value(value).map_err(|_| {
                Error::malformed(WHAT, format!("the bundle of {td} is not a JWK set"))
            })?;
            set.add(SpiffeBundle::from_key_set(&td, &doc)?)?;
        }
        Ok(set)
    }

    /// The bundle map JSON, keyed by trust domain name, without per-bundle refresh hints (as
    /// the standard recommends).
    pub fn encode(&self) -> Result<String> {
        let mut map = Map::new();
        for (td, bundle) in &self.bundles {
            map.insert(td.name().to_owned(), bundle.to_value(false)?);
        }
        let mut doc = Map::new();
        doc.insert("trust_domains".into(), Value::Object(map));
        Ok(Value::Object(doc).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_object_refuses_a_repeated_member() {
        let map = unique_object(br#"{"a": 1, "b": {"a": 2}}"#, "test").unwrap();
        assert_eq!(map.len(), 2);
        assert!(
            unique_object(br#"{"a": 1, "a": 1}"#, "test")
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        for input in [&b"[]"[..], b"1", b"", b"{", b"{} {}"] {
            assert!(unique_object(input, "test").is_err());
        }
    }

    #[test]
    fn unknown_kty_is_skipped_and_missing_kty_refused() {
        let oct: Value = serde_json::from_str(r#"{"kty": "oct"}"#).unwrap();
        assert!(known_kty(&oct, "t").unwrap().is_none());
        let none: Value = serde_json::from_str(r#"{"use": "jwt-svid"}"#).unwrap();
        assert!(known_kty(&none, "t").is_err());
        let num: Value = serde_json::from_str(r#"{"kty": 1}"#).unwrap();
        assert!(known_kty(&num, "t").is_err());
    }
}
