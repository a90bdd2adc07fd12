//! The one error type of sigil-core, with variants named by who is at fault.
//!
//! Messages say what was wrong and, where it helps, what to do. They never contain key
//! material, plaintext or anything derived from a secret: a message may name a length, an
//! algorithm or a format, never a value. Failed authentication (a wrong key, a flipped bit, a
//! truncated stream, a bad signature) is reported uniformly through [`Error::Authentication`] so
//! that callers cannot learn which internal check failed.

use std::fmt;

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in sigil-core.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The caller's input could not be parsed: wrong encoding, length, structure or version.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being parsed, e.g. "PEM", "age identity", "keyset".
        what: &'static str,
        /// Why it was rejected. Never contains the input itself.
        reason: String,
    },

    /// Authentication failed: wrong key, tampered or truncated data, or an invalid signature.
    #[error("{0}")]
    Authentication(AuthFailure),

    /// The request is well-formed but this key type, algorithm or parameter does not support it.
    #[error("unsupported: {0}")]
    Unsupported(String),

    /// The input is larger than a limit we enforce (sizes, cost parameters).
    #[error("{what} exceeds the limit of {limit}")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// The limit, in the unit natural to `what` (bytes, KiB, iterations).
        limit: u64,
    },

    /// A keyset refuses the operation: the version does not exist, is disabled, or is below the
    /// minimum allowed for the operation.
    #[error("{0}")]
    KeyState(String),

    /// The cryptographic library or the system random source failed. Not the caller's fault.
    #[error("internal cryptographic failure: {0}")]
    Internal(&'static str),
}

/// Which kind of authentication failed. Deliberately coarse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthFailure {
    /// An AEAD or age decryption failed.
    Decryption,
    /// A signature did not verify.
    Signature,
    /// A MAC did not match.
    Mac,
    /// None of the given identities can open the file (it was encrypted to someone else).
    NoMatchingIdentity,
}

impl fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Decryption => {
                "decryption failed: the key is wrong, or the data was modified or truncated"
            }
            Self::Signature => "signature is not valid for this key and message",
            Self::Mac => "MAC does not match",
            Self::NoMatchingIdentity => "none of the given identities can decrypt this file",
        })
    }
}

impl Error {
    /// Shorthand for [`Error::Malformed`].
    pub fn malformed(what: &'static str, reason: impl Into<String>) -> Self {
        Self::Malformed {
            what,
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::Unsupported`].
    pub fn unsupported(reason: impl Into<String>) -> Self {
        Self::Unsupported(reason.into())
    }

    /// A failed decryption.
    pub const fn decryption() -> Self {
        Self::Authentication(AuthFailure::Decryption)
    }

    /// A signature that did not verify.
    pub const fn bad_signature() -> Self {
        Self::Authentication(AuthFailure::Signature)
    }

    /// A MAC that did not match.
    pub const fn bad_mac() -> Self {
        Self::Authentication(AuthFailure::Mac)
    }
}

impl From<aws_lc_rs::error::Unspecified> for Error {
    /// aws-lc-rs reports every failure as `Unspecified`; call sites that can fail on bad input
    /// map it themselves. Reaching this conversion means the library failed on input we had
    /// already checked.
    fn from(_: aws_lc_rs::error::Unspecified) -> Self {
        Self::Internal("aws-lc operation failed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_problem() {
        assert_eq!(
            Error::malformed("PEM", "missing END line").to_string(),
            "malformed PEM: missing END line"
        );
        assert!(
            Error::decryption()
                .to_string()
                .starts_with("decryption failed")
        );
        assert_eq!(
            Error::TooLarge {
                what: "Argon2 memory cost",
                limit: 4_194_304
            }
            .to_string(),
            "Argon2 memory cost exceeds the limit of 4194304"
        );
    }
}
