//! Serialized keysets: parse, and a parsed keyset serializes to bytes that parse to a keyset
//! serializing identically.
#![no_main]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a fuzz target reports a broken invariant by panicking"
)]

use libfuzzer_sys::fuzz_target;
use sigil_core::keyset::Keyset;

fuzz_target!(|data: &[u8]| {
    if let Ok(ks) = Keyset::from_bytes(data) {
        let bytes = ks.to_bytes().expect("serialize");
        let again = Keyset::from_bytes(bytes.expose_secret()).expect("re-parse");
        assert_eq!(again.to_bytes().expect("serialize"), bytes);
    }
});
