//! age identity and recipients files: parse, and a parsed identity re-renders to an identity
//! file that parses to the same recipient.
#![no_main]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a fuzz target reports a broken invariant by panicking"
)]

use libfuzzer_sys::fuzz_target;
use sigil_core::agefile::{parse_identity_file, parse_recipients_file};

fuzz_target!(|data: &[u8]| {
    if let Ok(ids) = parse_identity_file(data) {
        for id in ids {
            let text = id.to_identity_file(None);
            let again = parse_identity_file(text.expose_secret().as_bytes()).expect("re-parse");
            assert_eq!(again[0].to_recipient().as_str(), id.to_recipient().as_str());
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_recipients_file(text);
    }
});
