//! SPIFFE IDs: parsing never panics, and what parses prints back as the same text and
//! reparses from its parts to the same ID.
#![no_main]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a fuzz target reports a broken invariant by panicking"
)]

use libfuzzer_sys::fuzz_target;
use sigil_core::spiffe::SpiffeId;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(id) = SpiffeId::parse(text) {
        assert_eq!(id.to_string(), text);
        let again = SpiffeId::from_parts(&id.trust_domain(), id.path()).expect("reparse");
        assert_eq!(again, id);
    }
});
