//! Versioned ciphertexts and tags in both encodings (`vault:vN:` text and the 5-byte binary
//! prefix): decode, and re-encoding gives the input back.
#![no_main]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a fuzz target reports a broken invariant by panicking"
)]

use libfuzzer_sys::fuzz_target;
use sigil_core::keyset::{Ciphertext, Tag};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(c) = Ciphertext::from_vault_string(text) {
            assert_eq!(c.to_vault_string(), text);
        }
        if let Ok(t) = Tag::from_vault_string(text) {
            assert_eq!(t.to_vault_string(), text);
        }
    }
    if let Ok(c) = Ciphertext::from_bytes(data) {
        assert_eq!(c.to_bytes(), data);
    }
});
