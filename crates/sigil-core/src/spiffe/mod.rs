//! SPIFFE building blocks: names, X509-SVID and JWT-SVID checks, trust bundles and
//! authorizers, as the SPIFFE standards define them.
//!
//! Everything here is pure: bytes and a caller-given time in, parsed values or errors out. The
//! server CA, the node agent's Workload API and the mTLS helpers are built on these pieces, and
//! none of them does I/O or reads the clock.
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`id`] | [`TrustDomain`] and [`SpiffeId`] (SPIFFE-ID.md) |
//! | [`x509`] | [`X509Svid`]: the Workload API encoding, the leaf and CA rules, path validation |
//! | [`bundle`] | [`X509Bundle`], [`JwtBundle`], the SPIFFE bundle JSON and the bundle map |
//! | [`jwt`] | JWT-SVID minting and validation |
//! | [`authorize`] | [`Authorizer`]: which peer IDs a connection accepts |
//! | [`tls`] | rustls mTLS configurations fed by an [`X509Source`](tls::X509Source) |

pub mod authorize;
pub mod bundle;
pub mod id;
pub mod jwt;
pub mod tls;
pub mod x509;

pub use authorize::Authorizer;
pub use bundle::{BundleSet, JwtBundle, SpiffeBundle, X509Bundle};
pub use id::{SpiffeId, TrustDomain};
pub use jwt::{JwtSvid, JwtSvidClaims};
pub use x509::X509Svid;
