//! Sigil's trust server: the Vault-compatible HTTP API over TLS, the barrier that encrypts
//! everything before it reaches storage, the seal that protects the barrier's keys, token and
//! AppRole authentication, ACL policies, the hash-chained audit log, and the engines.
//!
//! Request path: HTTP (`http`) → [`api::Request`] → token lookup (`auth`) → ACL decision
//! (`policy`) → audit request record (`audit`) → router → mount's [`engine::Engine`] with its
//! [`view::View`] → audit response record → HTTP.
//!
//! What this crate deliberately does not do: touch storage except through the barrier; put a
//! secret in a log line, an error message or an audit record (audit gets HMACs); accept a
//! non-loopback listener without TLS.

#![forbid(unsafe_code)]

pub mod activity;
pub mod api;
pub mod audit;
pub mod auth;
pub mod barrier;
pub mod bundle_endpoint;
mod cache;
pub(crate) mod client_cert;
pub mod config;
pub mod core;
pub mod engine;
mod fetch;
pub mod http;
pub mod identity;
mod json;
pub mod kv;
pub mod metrics;
pub mod mounts;
pub mod pki;
pub mod policy;
pub mod seal;
pub mod server;
pub mod time;
pub mod transit;
pub mod view;
