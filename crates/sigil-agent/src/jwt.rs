//! JWT-SVIDs seen from the agent: a [`JwtAuthority`] mints and validates them.
//!
//! The agent does not sign or verify JWTs itself here. Whoever wires the agent to the
//! server implements this trait (minting is the server's job, validation needs the JWT
//! bundles and the JOSE code of `sigil-core`); the Workload API only calls it. The JWT
//! bundles the Workload API hands out live in the [`crate::Cache`].

use async_trait::async_trait;
use sigil_core::spiffe::SpiffeId;

/// Claims of a validated JWT-SVID, as JSON.
pub type Claims = serde_json::Map<String, serde_json::Value>;

/// Why a JWT call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// The token is not a valid JWT-SVID for the audience (bad signature, expired, wrong
    /// audience, unknown key...). The message is shown to the caller: it must not contain
    /// the token.
    #[error("{0}")]
    Invalid(String),
    /// The authority cannot answer now (the server is unreachable); the caller retries.
    #[error("{0}")]
    Unavailable(String),
}

/// Mints and validates JWT-SVIDs for the Workload API.
#[async_trait]
pub trait JwtAuthority: Send + Sync {
    /// A JWT-SVID for `spiffe_id` with `audiences` (never empty).
    async fn mint(&self, spiffe_id: &SpiffeId, audiences: &[String]) -> Result<String, JwtError>;

    /// Validates `token` for `audience` (never empty) and returns its subject and claims.
    async fn validate(&self, token: &str, audience: &str) -> Result<(SpiffeId, Claims), JwtError>;
}

/// An authority that refuses everything: for an agent that hands out X.509-SVIDs only.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoJwtAuthority;

#[async_trait]
impl JwtAuthority for NoJwtAuthority {
    async fn mint(&self, _: &SpiffeId, _: &[String]) -> Result<String, JwtError> {
        Err(JwtError::Unavailable(
            "this agent issues no JWT-SVIDs".to_owned(),
        ))
    }

    async fn validate(&self, _: &str, _: &str) -> Result<(SpiffeId, Claims), JwtError> {
        Err(JwtError::Unavailable(
            "this agent validates no JWT-SVIDs".to_owned(),
        ))
    }
}
