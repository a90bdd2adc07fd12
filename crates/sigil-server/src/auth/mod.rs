//! Authentication: the token store (every request's credential) and the auth methods that
//! issue tokens (AppRole, TLS client certificates, JWTs).

pub mod approle;
pub mod cert;
pub mod cidr;
pub mod jwt;
pub mod token;
pub mod token_engine;
