//! minisign public keys, secret keys and signatures: parse, and what parses re-renders to text
//! that parses to the same value.
#![no_main]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a fuzz target reports a broken invariant by panicking"
)]

use libfuzzer_sys::fuzz_target;
use sigil_core::minisign::{MinisignPublicKey, MinisignSecretKey, MinisignSignature};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(pk) = MinisignPublicKey::from_text(text) {
        assert_eq!(
            MinisignPublicKey::from_text(&pk.to_text()).expect("re-parse"),
            pk
        );
    }
    if let Ok(sig) = MinisignSignature::from_text(text) {
        assert_eq!(
            MinisignSignature::from_text(&sig.to_text()).expect("re-parse"),
            sig
        );
    }
    // Unencrypted keys only: an encrypted one would spend up to 1 GiB of scrypt per input.
    if !MinisignSecretKey::is_encrypted(text).unwrap_or(true)
        && let Ok(sk) = MinisignSecretKey::from_text(text, None)
    {
        let again =
            MinisignSecretKey::from_text(sk.to_text().expose_secret(), None).expect("re-parse");
        assert_eq!(again.public_key(), sk.public_key());
    }
});
