//! Authentication: the token store (every request's credential) and the auth methods that
//! issue tokens (AppRole, TLS client certificates).

pub mod approle;
pub mod cert;
pub mod cidr;
pub mod token;
pub mod token_engine;
