//! The server suite: real `sigil dev` / `sigil server` processes driven by real Vault clients
//! (hvac, the `bao` CLI) and by Sigil's own CLI.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[path = "../support/mod.rs"]
mod support;

mod harness;

mod agent;
mod bao;
mod cert_auth;
mod cli;
mod hvac;
mod lifecycle;
mod pki;
mod seal;
mod spiffe;
mod transit;
