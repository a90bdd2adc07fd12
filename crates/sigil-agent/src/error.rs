//! The agent's one error enum, and [`Error::status`]: the one place an error becomes a gRPC
//! status. The messages on the wire are the ones SPIRE's agent sends, because clients match
//! on them (the Rust `spiffe` crate turns "no identity issued" into `NoIdentityIssued`).

use std::path::PathBuf;

use tonic::{Code, Status};

/// What went wrong, named by who is at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // --- the caller sent a bad request ------------------------------------------------------
    /// The request lacks `workload.spiffe.io: true` (or carries it more than once).
    #[error("security header missing from request")]
    HeaderMissing,
    /// A JWT call named no audience.
    #[error("audience must be specified")]
    AudienceMissing,
    /// ValidateJWTSVID was given no token.
    #[error("svid must be specified")]
    SvidMissing,
    /// FetchJWTSVID named a SPIFFE ID that does not parse.
    #[error("invalid requested SPIFFE ID: {0}")]
    BadSpiffeId(String),
    /// A JWT-SVID failed validation.
    #[error("{0}")]
    InvalidJwt(String),

    // --- the caller is not (or no longer) who it was -----------------------------------------
    /// The caller's process could not be attested: it exited, its pid changed hands, or its
    /// `/proc` entry could not be read.
    #[error("workload attestation failed")]
    AttestationFailed,
    /// No entry in the cache applies to the caller.
    #[error("no identity issued")]
    NoIdentity,

    // --- something the agent depends on -----------------------------------------------------
    /// The JWT authority could not mint or validate right now; the client retries.
    #[error("JWT authority unavailable: {0}")]
    JwtUnavailable(String),
    /// The Workload API socket could not be set up.
    #[error("Workload API socket {path}: {reason}")]
    Socket {
        /// The socket path.
        path: PathBuf,
        /// What failed, and what to do about it.
        reason: String,
    },

    /// The server refused or could not be reached (attestation, renewal, sync).
    #[error("server: {0}")]
    Server(String),
    /// The agent's own configuration or files are unusable.
    #[error("configuration: {0}")]
    Config(String),

    // --- whoever fills the cache passed something unusable --------------------------------------
    /// A selector that is not `kind:value`.
    #[error("malformed selector {0:?}: expected kind:value, both non-empty")]
    BadSelector(String),
    /// An entry that cannot be handed out (no selectors, no certificate, a hint too long).
    #[error("unusable cache entry: {0}")]
    BadEntry(String),

    // --- our own bug --------------------------------------------------------------------------
    /// An internal failure (a task panicked).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The gRPC status a client receives for this error.
    pub fn status(&self) -> Status {
        let code = match self {
            Self::HeaderMissing
            | Self::AudienceMissing
            | Self::SvidMissing
            | Self::BadSpiffeId(_)
            | Self::InvalidJwt(_) => Code::InvalidArgument,
            Self::AttestationFailed | Self::JwtUnavailable(_) | Self::Server(_) => {
                Code::Unavailable
            }
            Self::NoIdentity => Code::PermissionDenied,
            Self::Socket { .. }
            | Self::Config(_)
            | Self::BadSelector(_)
            | Self::BadEntry(_)
            | Self::Internal(_) => Code::Internal,
        };
        Status::new(code, self.to_string())
    }
}

impl From<crate::jwt::JwtError> for Error {
    fn from(e: crate::jwt::JwtError) -> Self {
        match e {
            crate::jwt::JwtError::Invalid(m) => Self::InvalidJwt(m),
            crate::jwt::JwtError::Unavailable(m) => Self::JwtUnavailable(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_codes_and_messages_are_spires() {
        let cases = [
            (
                Error::HeaderMissing,
                Code::InvalidArgument,
                "security header missing from request",
            ),
            (
                Error::AudienceMissing,
                Code::InvalidArgument,
                "audience must be specified",
            ),
            (
                Error::SvidMissing,
                Code::InvalidArgument,
                "svid must be specified",
            ),
            (
                Error::AttestationFailed,
                Code::Unavailable,
                "workload attestation failed",
            ),
            (
                Error::NoIdentity,
                Code::PermissionDenied,
                "no identity issued",
            ),
        ];
        for (error, code, message) in cases {
            let status = error.status();
            assert_eq!(status.code(), code);
            assert_eq!(status.message(), message);
        }
    }
}
