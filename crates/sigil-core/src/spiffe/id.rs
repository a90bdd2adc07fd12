//! SPIFFE names: trust domains and SPIFFE IDs (`spiffe://<trust domain>/<path>`), parsed
//! once and strictly, in their canonical form, as the SPIFFE-ID standard defines them.
//!
//! The standard calls the scheme and trust domain case-insensitive but allows only
//! lowercase characters in a trust domain; like go-spiffe and the Rust `spiffe` crate, this
//! parser accepts only the canonical lowercase form, so two IDs that name the same workload
//! always compare equal as strings. Nothing is percent-decoded: `%` is not allowed anywhere.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// The longest trust domain name (bytes).
const MAX_TRUST_DOMAIN: usize = 255;
/// The longest SPIFFE ID accepted (bytes): what the standard asks every implementation to
/// support.
const MAX_ID: usize = 2048;
const SCHEME: &str = "spiffe://";

/// A trust domain name, such as `example.org`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TrustDomain(String);

/// A SPIFFE ID: a trust domain and a path (empty for the trust domain's own ID).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpiffeId {
    /// The whole ID, canonical.
    id: String,
    /// Where the path starts in `id` (its length when there is no path).
    path_at: usize,
}

fn bad(reason: impl Into<String>) -> Error {
    Error::malformed("SPIFFE ID", reason)
}

impl TrustDomain {
    /// Parses a bare trust domain name (`example.org`), or the trust domain of a SPIFFE ID
    /// given whole (`spiffe://example.org`, with or without a path).
    pub fn parse(text: &str) -> Result<Self> {
        if text.starts_with(SCHEME) {
            return Ok(SpiffeId::parse(text)?.trust_domain());
        }
        check_trust_domain(text)?;
        Ok(Self(text.to_owned()))
    }

    /// The name (`example.org`).
    pub fn name(&self) -> &str {
        &self.0
    }

    /// The trust domain's own SPIFFE ID (`spiffe://example.org`).
    pub fn id(&self) -> SpiffeId {
        SpiffeId {
            id: format!("{SCHEME}{}", self.0),
            path_at: SCHEME.len() + self.0.len(),
        }
    }
}

fn check_trust_domain(td: &str) -> Result<()> {
    if td.is_empty() {
        return Err(bad("the trust domain is empty"));
    }
    if td.len() > MAX_TRUST_DOMAIN {
        return Err(bad(format!(
            "the trust domain is longer than {MAX_TRUST_DOMAIN} bytes"
        )));
    }
    match td
        .bytes()
        .find(|b| !matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_'))
    {
        None => Ok(()),
        Some(b':') => Err(bad("a trust domain has no port")),
        Some(b'@') => Err(bad("a trust domain has no user info")),
        Some(b'A'..=b'Z') => Err(bad("the trust domain must be lowercase")),
        Some(_) => Err(bad(
            "the trust domain may hold only lowercase letters, digits, '.', '-' and '_'",
        )),
    }
}

fn check_path(path: &str) -> Result<()> {
    // `path` is empty or starts with '/'.
    if path.is_empty() {
        return Ok(());
    }
    for segment in path[1..].split('/') {
        match segment {
            "" => return Err(bad("the path has an empty segment or a trailing '/'")),
            "." | ".." => return Err(bad("the path has a '.' or '..' segment")),
            s if s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')) => {}
            _ => {
                return Err(bad(
                    "path segments may hold only letters, digits, '.', '-' and '_'",
                ));
            }
        }
    }
    Ok(())
}

impl SpiffeId {
    /// Parses `spiffe://<trust domain>[/<path>]`.
    pub fn parse(text: &str) -> Result<Self> {
        if text.len() > MAX_ID {
            return Err(bad(format!("longer than {MAX_ID} bytes")));
        }
        let Some(rest) = text.strip_prefix(SCHEME) else {
            return Err(bad("the scheme must be \"spiffe://\""));
        };
        if rest.contains(['?', '#']) {
            return Err(bad("a SPIFFE ID has no query or fragment"));
        }
        let (td, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        check_trust_domain(td)?;
        check_path(path)?;
        Ok(Self {
            id: text.to_owned(),
            path_at: SCHEME.len() + td.len(),
        })
    }

    /// The ID from a trust domain and a path (`/ns/prod`, or "" for the trust domain's own).
    pub fn from_parts(td: &TrustDomain, path: &str) -> Result<Self> {
        if !path.is_empty() && !path.starts_with('/') {
            return Err(bad("the path must start with '/'"));
        }
        Self::parse(&format!("{SCHEME}{}{path}", td.name()))
    }

    /// The trust domain.
    pub fn trust_domain(&self) -> TrustDomain {
        TrustDomain(self.id[SCHEME.len()..self.path_at].to_owned())
    }

    /// The trust domain's name, borrowed.
    pub fn trust_domain_name(&self) -> &str {
        &self.id[SCHEME.len()..self.path_at]
    }

    /// The path: "" or `/segment[/segment...]`.
    pub fn path(&self) -> &str {
        &self.id[self.path_at..]
    }

    /// Whether this ID belongs to `td`.
    pub fn is_member_of(&self, td: &TrustDomain) -> bool {
        self.trust_domain_name() == td.name()
    }

    /// The whole ID.
    pub fn as_str(&self) -> &str {
        &self.id
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

impl fmt::Display for TrustDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for SpiffeId {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        Self::parse(text)
    }
}

impl FromStr for TrustDomain {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        Self::parse(text)
    }
}

impl Serialize for SpiffeId {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.id)
    }
}

impl<'de> Deserialize<'de> for SpiffeId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for TrustDomain {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TrustDomain {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        check_trust_domain(&text).map_err(serde::de::Error::custom)?;
        Ok(Self(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ids_parse_into_their_parts() {
        for (text, td, path) in [
            ("spiffe://example.org", "example.org", ""),
            (
                "spiffe://example.org/ns/prod/sa/web",
                "example.org",
                "/ns/prod/sa/web",
            ),
            ("spiffe://a-b_c.d9/x", "a-b_c.d9", "/x"),
            ("spiffe://td/Mixed.Case-_09", "td", "/Mixed.Case-_09"),
            ("spiffe://td/..a/b..", "td", "/..a/b.."),
        ] {
            let id = SpiffeId::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!((id.trust_domain_name(), id.path()), (td, path), "{text}");
            assert_eq!(id.to_string(), text);
            assert_eq!(SpiffeId::from_parts(&id.trust_domain(), path).unwrap(), id);
            assert!(id.is_member_of(&TrustDomain::parse(td).unwrap()));
        }
        assert_eq!(
            TrustDomain::parse("example.org").unwrap().id().as_str(),
            "spiffe://example.org"
        );
        assert_eq!(
            TrustDomain::parse("spiffe://example.org/x").unwrap().name(),
            "example.org"
        );
    }

    #[test]
    fn invalid_ids_are_refused_with_the_reason() {
        let long_td = format!("spiffe://{}/x", "a".repeat(256));
        let long_id = format!("spiffe://td/{}", "a".repeat(2048));
        for (text, why) in [
            ("", "scheme"),
            ("http://example.org/x", "scheme"),
            ("SPIFFE://example.org/x", "scheme"),
            ("spiffe:/example.org/x", "scheme"),
            ("spiffe://", "empty"),
            ("spiffe:///path", "empty"),
            ("spiffe://Example.org/x", "lowercase"),
            ("spiffe://example.org:8080/x", "port"),
            ("spiffe://user@example.org/x", "user info"),
            ("spiffe://exa%41mple.org/x", "trust domain may hold"),
            ("spiffe://example.org/", "trailing"),
            ("spiffe://example.org//x", "empty segment"),
            ("spiffe://example.org/x/", "trailing"),
            ("spiffe://example.org/./x", "'.'"),
            ("spiffe://example.org/x/..", "'..'"),
            ("spiffe://example.org/a%20b", "path segments"),
            ("spiffe://example.org/a b", "path segments"),
            ("spiffe://example.org/x?q=1", "query"),
            ("spiffe://example.org/x#f", "fragment"),
            (&long_td, "255"),
            (&long_id, "2048"),
        ] {
            let err = SpiffeId::parse(text).expect_err(text).to_string();
            assert!(err.contains(why), "{text}: {err}");
        }
        assert!(SpiffeId::from_parts(&TrustDomain::parse("td").unwrap(), "x").is_err());
        assert!(TrustDomain::parse("Bad").is_err());
        assert!(serde_json::from_str::<SpiffeId>("\"spiffe://td/x/\"").is_err());
        assert!(serde_json::from_str::<TrustDomain>("\"a:1\"").is_err());
    }

    #[test]
    fn serde_round_trips_as_strings() {
        let id = SpiffeId::parse("spiffe://example.org/web").unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"spiffe://example.org/web\"");
        assert_eq!(serde_json::from_str::<SpiffeId>(&json).unwrap(), id);
        let td = id.trust_domain();
        assert_eq!(
            serde_json::from_str::<TrustDomain>(&serde_json::to_string(&td).unwrap()).unwrap(),
            td
        );
        assert_eq!(id.to_string().parse::<SpiffeId>().unwrap(), id);
        assert_eq!(td.to_string().parse::<TrustDomain>().unwrap(), td);
        assert!("spiffe://td/".parse::<SpiffeId>().is_err());
    }
}
