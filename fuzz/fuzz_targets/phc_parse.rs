//! Argon2id PHC strings: parsing (through needs_rehash, which parses without hashing) never
//! panics; the cheap limits keep any string that parses from costing real work in verify.
#![no_main]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a fuzz target reports a broken invariant by panicking"
)]

use libfuzzer_sys::fuzz_target;
use sigil_core::password::{Limits, Params, PasswordHasher};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let hasher = PasswordHasher::new(Params {
        m_kib: 8,
        t: 1,
        p: 1,
    })
    .expect("params")
    .with_limits(Limits {
        max_m_kib: 64,
        max_t: 2,
        max_p: 2,
    });
    if hasher.needs_rehash(text).is_ok() {
        let _ = hasher.verify(text, b"password");
    }
});
