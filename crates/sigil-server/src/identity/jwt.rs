//! JWT-SVIDs: the trust domain's JWT signing key and the tokens it signs, shaped as the
//! JWT-SVID standard requires and as SPIFFE clients check them — JWS compact form, header
//! `alg` (ES256), `kid` and `typ: JWT` only; claims `sub` (the SPIFFE ID), `aud` (a list, at
//! least one), `exp`, `iat`, and `iss` when an issuer URL is configured. The key's public
//! half is published in the bundle with `use: jwt-svid` and the same `kid` (the RFC 7638
//! thumbprint). Signing is sigil-core's (aws-lc ECDSA, fixed-length r‖s as JWS wants).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sigil_core::encoding::{base64_decode, base64_encode, base64url_encode};
use sigil_core::keys::{KeyType, PrivateKey, SignatureScheme};
use sigil_core::spiffe::SpiffeId;
use zeroize::Zeroizing;

use crate::api::ApiError;

/// The most audiences one token may name.
pub(super) const MAX_AUDIENCES: usize = 16;

/// The stored JWT signing key. `Debug` shows the `kid` only; the key is zeroized on drop.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct JwtKey {
    /// The key id: the public key's RFC 7638 thumbprint.
    pub kid: String,
    /// PKCS#8 DER in base64.
    private_key: String,
    /// Unix seconds; 0 in keys stored before JWT keys rotated (such a key is replaced on
    /// first use).
    #[serde(default)]
    not_before: i64,
    #[serde(default)]
    not_after: i64,
}

impl super::rotation::Rotating for JwtKey {
    fn not_before(&self) -> i64 {
        self.not_before
    }

    fn not_after(&self) -> i64 {
        self.not_after
    }
}

/// The trust domain's JWT keys: the active one signs, all are published.
pub(super) type JwtKeys = super::rotation::Lifecycle<JwtKey>;

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Drop for JwtKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.private_key);
    }
}

fn internal<E>(what: &'static str) -> impl FnOnce(E) -> ApiError {
    move |_| ApiError::internal(what)
}

impl JwtKey {
    /// A new P-256 signing key, valid from `now` for `ttl` seconds.
    pub(super) fn generate(now: i64, ttl: u64) -> Result<Self, ApiError> {
        let key = PrivateKey::generate(KeyType::EcdsaP256)
            .map_err(internal("generating the JWT signing key"))?;
        let kid = key
            .public_key()
            .jwk_thumbprint()
            .map_err(internal("the JWT key has no thumbprint"))?;
        let der = key
            .to_pkcs8_der()
            .map_err(internal("encoding the JWT key"))?;
        Ok(Self {
            kid,
            private_key: base64_encode(der.expose_secret()),
            not_before: now,
            not_after: now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX)),
        })
    }

    fn key(&self) -> Result<PrivateKey, ApiError> {
        let der = Zeroizing::new(
            base64_decode(&self.private_key).map_err(internal("the stored JWT key is corrupt"))?,
        );
        PrivateKey::from_pkcs8_der(&der).map_err(internal("the stored JWT key is corrupt"))
    }

    /// The public key as a JWK for the SPIFFE bundle: `use: jwt-svid` and this `kid`.
    pub(super) fn bundle_jwk(&self) -> Result<Map<String, Value>, ApiError> {
        let jwk = self
            .key()?
            .public_key()
            .to_jwk()
            .map_err(internal("the JWT key has no JWK form"))?;
        let mut m: Map<String, Value> =
            serde_json::from_str(&jwk).map_err(internal("the JWT key's JWK is not JSON"))?;
        m.insert("kid".into(), self.kid.clone().into());
        m.insert("use".into(), "jwt-svid".into());
        Ok(m)
    }

    /// Signs a JWT-SVID for `id` and `audience` (with `iss` when the trust domain has an
    /// issuer URL), issued at `now`, expiring at `exp`.
    pub(super) fn mint(
        &self,
        id: &SpiffeId,
        audience: &[String],
        issuer: Option<&str>,
        now: i64,
        exp: i64,
    ) -> Result<String, ApiError> {
        let header = json!({"alg": "ES256", "kid": self.kid, "typ": "JWT"});
        let mut claims = json!({"sub": id.as_str(), "aud": audience, "exp": exp, "iat": now});
        if let Some(iss) = issuer {
            claims["iss"] = iss.into();
        }
        let encode = |v: &Value| {
            serde_json::to_vec(v)
                .map(|b| base64url_encode(&b))
                .map_err(internal("encoding the token"))
        };
        let signing_input = format!("{}.{}", encode(&header)?, encode(&claims)?);
        let signature = self
            .key()?
            .sign(
                signing_input.as_bytes(),
                SignatureScheme::EcdsaP256Sha256Fixed,
            )
            .map_err(internal("signing the token"))?;
        Ok(format!("{signing_input}.{}", base64url_encode(&signature)))
    }
}
