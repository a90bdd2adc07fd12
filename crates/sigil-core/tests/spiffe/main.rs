//! Public-API tests of `sigil_core::spiffe`: X509-SVID rules (one rcgen certificate per
//! broken rule), bundles in every encoding, JWT-SVIDs, and the interop vectors in
//! `tests/vectors/spiffe/` made with jwcrypto and pyca/cryptography.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod bundle;
mod jwt;
mod pki;
mod tls;
mod x509;

/// The tests' clock: 2026-01-01T00:00:00Z plus a minute, inside every certificate made here.
const NOW: u64 = 1_767_225_660;

fn vector(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/vectors/spiffe/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}
