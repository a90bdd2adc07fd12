//! Sigil's cryptographic core: the one place where keys, ciphertexts and signatures are made.
//!
//! Everything else in Sigil (the CLI, the server's engines, the agent) reaches cryptography
//! through this crate. It composes vetted primitives (aws-lc-rs first, RustCrypto only where
//! aws-lc-rs lacks a piece, the `age` crate for age files) into standard constructions; it does
//! not invent any.
//!
//! What this crate deliberately does not do:
//! - **No I/O and no async runtime.** Functions take bytes, or `std::io::Read`/`Write` values the
//!   caller opened; they never open files, sockets or read the clock on their own. Where time
//!   matters the caller passes it in.
//! - **No secret in `Debug`, `Display` or an error.** Key material lives in [`secret`] types whose
//!   `Debug` prints `[redacted]` and which zeroize on drop.
//!
//! The modules keep the three families of the "encoding vs encryption vs signing" distinction
//! apart: [`encoding`] only changes representation and protects nothing; [`aead`], [`hpke`],
//! [`keys`] (RSA-OAEP), [`keyset`], [`datakey`] and [`agefile`] encrypt; [`keys`] and
//! [`minisign`] sign; [`hash`] digests and authenticates with MACs; [`password`] stores
//! passwords; [`spiffe`] names workloads.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod aead;
pub mod agefile;
pub mod datakey;
pub mod encoding;
pub mod error;
pub mod hash;
pub mod hpke;
pub mod keys;
pub mod keyset;
pub mod minisign;
pub mod password;
pub mod random;
pub mod secret;
pub mod spiffe;

pub use error::{Error, Result};
pub use secret::{SecretBytes, SecretString};
