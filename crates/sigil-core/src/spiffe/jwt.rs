//! JWT-SVIDs (JWT-SVID.md): minting with a [`PrivateKey`] and validating against a trust
//! domain's [`JwtBundle`].
//!
//! Validation is deliberately narrower than general JWT handling: JWS compact serialization
//! only, the nine RSA/ECDSA algorithms the standard allows, no header member beyond `alg`,
//! `kid` and `typ`, a `kid` always (every deployed SPIFFE library requires one), and no clock
//! leeway (`now < exp`, `nbf <= now`), as the Rust `spiffe` crate does. Signatures are checked
//! before any claim is believed, and the trust domain's bundle is chosen from the unverified
//! `sub` only to find the key.

use std::fmt;

use serde_json::{Map, Value};

use super::bundle::{JwtBundle, unique_object};
use super::id::{SpiffeId, TrustDomain};
use crate::encoding::{base64url_decode, base64url_encode};
use crate::error::{Error, Result};
use crate::keys::{KeyType, PrivateKey, SignatureScheme};

/// The longest token accepted (bytes).
const MAX_TOKEN: usize = 64 * 1024;
const WHAT: &str = "JWT-SVID";

/// The claims a JWT-SVID is minted with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtSvidClaims {
    /// `sub`: the workload's SPIFFE ID.
    pub subject: SpiffeId,
    /// `aud`: at least one audience (always written as a list).
    pub audience: Vec<String>,
    /// `iat`, seconds since the Unix epoch.
    pub issued_at: u64,
    /// `exp`, seconds since the Unix epoch.
    pub expires_at: u64,
    /// `iss`, when the issuer publishes one.
    pub issuer: Option<String>,
}

/// A JWT-SVID: the compact token and what it says. Only [`JwtSvid::mint`] and the validation
/// functions make one, so the claims are always those of a checked token. The token is a
/// bearer credential, so `Debug` leaves it out.
#[derive(Clone, PartialEq, Eq)]
pub struct JwtSvid {
    token: String,
    id: SpiffeId,
    audience: Vec<String>,
    expires_at: u64,
    claims: Map<String, Value>,
}

fn bad(reason: impl Into<String>) -> Error {
    Error::malformed(WHAT, reason)
}

/// The JWT-SVID `alg` values and the schemes they name.
fn scheme_for_alg(alg: &str) -> Result<SignatureScheme> {
    Ok(match alg {
        "RS256" => SignatureScheme::RsaPkcs1Sha256,
        "RS384" => SignatureScheme::RsaPkcs1Sha384,
        "RS512" => SignatureScheme::RsaPkcs1Sha512,
        "ES256" => SignatureScheme::EcdsaP256Sha256Fixed,
        "ES384" => SignatureScheme::EcdsaP384Sha384Fixed,
        "PS256" => SignatureScheme::RsaPssSha256,
        "PS384" => SignatureScheme::RsaPssSha384,
        "PS512" => SignatureScheme::RsaPssSha512,
        // ES512 is allowed by the standard but needs P-521, which Sigil does not load.
        other => {
            return Err(Error::unsupported(format!(
                "JWT-SVID algorithm {other:?} (allowed: RS256/384/512, ES256/384, PS256/384/512)"
            )));
        }
    })
}

/// The scheme SPIRE uses for a key type: ES256/ES384 for ECDSA, RS256 for RSA.
fn default_scheme(kind: KeyType) -> Result<SignatureScheme> {
    match kind {
        KeyType::EcdsaP256 => Ok(SignatureScheme::EcdsaP256Sha256Fixed),
        KeyType::EcdsaP384 => Ok(SignatureScheme::EcdsaP384Sha384Fixed),
        KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => {
            Ok(SignatureScheme::RsaPkcs1Sha256)
        }
        other => Err(Error::unsupported(format!(
            "JWT-SVIDs cannot be signed with {other} keys (RSA or ECDSA P-256/P-384 only)"
        ))),
    }
}

fn segment(part: &str, name: &str) -> Result<Vec<u8>> {
    base64url_decode(part).map_err(|_| bad(format!("the {name} is not base64url")))
}

impl JwtSvid {
    /// Mints a token with the scheme SPIRE picks for `key` (ES256, ES384 or RS256).
    pub fn mint(claims: &JwtSvidClaims, key: &PrivateKey, kid: &str) -> Result<Self> {
        Self::mint_with(claims, key, kid, default_scheme(key.key_type())?)
    }

    /// Mints a token with an explicit scheme (PS256 for an RSA key, for example).
    pub fn mint_with(
        claims: &JwtSvidClaims,
        key: &PrivateKey,
        kid: &str,
        scheme: SignatureScheme,
    ) -> Result<Self> {
        let alg = scheme
            .jws_alg()
            .filter(|alg| scheme_for_alg(alg).is_ok())
            .ok_or_else(|| Error::unsupported(format!("{scheme} is not a JWT-SVID algorithm")))?;
        if kid.is_empty() {
            return Err(bad("the kid is empty"));
        }
        if claims.audience.is_empty() {
            return Err(bad("at least one audience is required"));
        }
        let mut header = Map::new();
        header.insert("alg".into(), alg.into());
        header.insert("kid".into(), kid.into());
        header.insert("typ".into(), "JWT".into());
        let mut body = Map::new();
        body.insert("sub".into(), claims.subject.as_str().into());
        body.insert("aud".into(), claims.audience.clone().into());
        body.insert("exp".into(), claims.expires_at.into());
        body.insert("iat".into(), claims.issued_at.into());
        if let Some(iss) = &claims.issuer {
            body.insert("iss".into(), iss.as_str().into());
        }
        let signing_input = format!(
            "{}.{}",
            base64url_encode(Value::Object(header).to_string().as_bytes()),
            base64url_encode(Value::Object(body.clone()).to_string().as_bytes())
        );
        let signature = key.sign(signing_input.as_bytes(), scheme)?;
        Ok(Self {
            token: format!("{signing_input}.{}", base64url_encode(&signature)),
            id: claims.subject.clone(),
            audience: claims.audience.clone(),
            expires_at: claims.expires_at,
            claims: body,
        })
    }

    /// Validates `token` for `audience` at `now` (seconds since the Unix epoch) with the keys
    /// of `bundle`; the token's subject must belong to the bundle's trust domain.
    pub fn validate(token: &str, bundle: &JwtBundle, audience: &str, now: u64) -> Result<Self> {
        Self::validate_with(token, |_| Some(bundle), audience, now)
    }

    /// Validates `token`, looking up the JWT bundle of the subject's trust domain with
    /// `bundles` (for a Workload API serving several federated trust domains).
    pub fn validate_with<'b>(
        token: &str,
        bundles: impl FnOnce(&TrustDomain) -> Option<&'b JwtBundle>,
        audience: &str,
        now: u64,
    ) -> Result<Self> {
        if token.is_empty() {
            return Err(bad("the token is empty"));
        }
        if token.len() > MAX_TOKEN {
            return Err(Error::TooLarge {
                what: WHAT,
                limit: MAX_TOKEN as u64,
            });
        }
        let parts: Vec<&str> = token.split('.').collect();
        let [header_b64, body_b64, sig_b64] = parts.as_slice() else {
            return Err(bad(format!(
                "a JWS compact token has 3 parts, this has {}",
                parts.len()
            )));
        };
        let header = unique_object(&segment(header_b64, "header")?, "JWT-SVID header")?;
        if let Some(name) = header
            .keys()
            .find(|k| !matches!(k.as_str(), "alg" | "kid" | "typ"))
        {
            return Err(bad(format!("header member {name:?} is not allowed")));
        }
        let Some(Value::String(alg)) = header.get("alg") else {
            return Err(bad("the header has no \"alg\""));
        };
        let scheme = scheme_for_alg(alg)?;
        match header.get("typ") {
            None => {}
            Some(Value::String(t)) if t == "JWT" || t == "JOSE" => {}
            Some(_) => return Err(bad("\"typ\" must be JWT or JOSE")),
        }
        let kid = match header.get("kid") {
            Some(Value::String(kid)) if !kid.is_empty() => kid,
            _ => return Err(bad("the header has no \"kid\"")),
        };
        let claims = unique_object(&segment(body_b64, "payload")?, "JWT-SVID claims")?;
        let signature = segment(sig_b64, "signature")?;

        // The subject picks the bundle; nothing in the claims is trusted until the signature
        // made with that bundle's key checks out.
        let Some(Value::String(sub)) = claims.get("sub") else {
            return Err(bad("the claims have no \"sub\""));
        };
        let id = SpiffeId::parse(sub)?;
        let td = id.trust_domain();
        let bundle = bundles(&td).ok_or_else(|| bad(format!("no JWT bundle for {td}")))?;
        if !id.is_member_of(bundle.trust_domain()) {
            return Err(bad(format!(
                "the subject is in {td}, the bundle is for {}",
                bundle.trust_domain()
            )));
        }
        let key = bundle
            .get(kid)
            .ok_or_else(|| bad(format!("kid {kid:?} is not in the bundle of {td}")))?;
        if !scheme.fits(key.key_type()) {
            return Err(Error::bad_signature());
        }
        let signed = &token[..header_b64.len() + 1 + body_b64.len()];
        key.verify(signed.as_bytes(), &signature, scheme)?;

        let audiences = match claims.get("aud") {
            Some(Value::String(a)) => vec![a.clone()],
            Some(Value::Array(list)) => list
                .iter()
                .map(|a| a.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad("\"aud\" holds a value that is not a string"))?,
            _ => return Err(bad("the claims have no \"aud\"")),
        };
        if audiences.is_empty() {
            return Err(bad("\"aud\" is empty"));
        }
        if !audiences.iter().any(|a| a == audience) {
            return Err(bad("the token is not for this audience"));
        }
        let exp = numeric_date(&claims, "exp")?.ok_or_else(|| bad("the claims have no \"exp\""))?;
        if now >= exp {
            return Err(bad("the token has expired"));
        }
        if let Some(nbf) = numeric_date(&claims, "nbf")?
            && now < nbf
        {
            return Err(bad("the token is not valid yet (nbf)"));
        }
        Ok(Self {
            token: token.to_owned(),
            id,
            audience: audiences,
            expires_at: exp,
            claims,
        })
    }

    /// The compact token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The subject.
    pub fn spiffe_id(&self) -> &SpiffeId {
        &self.id
    }

    /// The audiences.
    pub fn audience(&self) -> &[String] {
        &self.audience
    }

    /// `exp`, seconds since the Unix epoch.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// Every claim, as JSON (what ValidateJWTSVID returns).
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }
}

impl fmt::Debug for JwtSvid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtSvid")
            .field("id", &self.id.as_str())
            .field("audience", &self.audience)
            .field("expires_at", &self.expires_at)
            .field("token", &"[redacted]")
            .finish()
    }
}

/// A NumericDate claim, rounded down to whole seconds (RFC 7519 allows fractions).
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<u64>> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(v) = n.as_u64() {
                Ok(Some(v))
            } else {
                match n.as_f64() {
                    #[allow(
                        clippy::cast_possible_truncation,
                        clippy::cast_sign_loss,
                        reason = "checked non-negative and finite; whole seconds are enough"
                    )]
                    Some(f) if f.is_finite() && f >= 0.0 => Ok(Some(f as u64)),
                    _ => Err(bad(format!("\"{name}\" is not a valid date"))),
                }
            }
        }
        Some(_) => Err(bad(format!("\"{name}\" is not a number"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_standard_algorithms_are_named() {
        for alg in ["none", "HS256", "EdDSA", "ES512", "RS1", ""] {
            assert!(scheme_for_alg(alg).is_err(), "{alg}");
        }
        for alg in ["RS256", "ES256", "ES384", "PS256", "PS512", "RS512"] {
            assert_eq!(scheme_for_alg(alg).unwrap().jws_alg(), Some(alg));
        }
        assert!(default_scheme(KeyType::Ed25519).is_err());
    }

    #[test]
    fn dates_may_be_fractional_but_not_negative() {
        let claims: Map<String, Value> =
            serde_json::from_str(r#"{"a": 10, "b": 10.9, "c": -1, "d": "x"}"#).unwrap();
        assert_eq!(numeric_date(&claims, "a").unwrap(), Some(10));
        assert_eq!(numeric_date(&claims, "b").unwrap(), Some(10));
        assert!(numeric_date(&claims, "c").is_err());
        assert!(numeric_date(&claims, "d").is_err());
        assert_eq!(numeric_date(&claims, "e").unwrap(), None);
    }
}
