//! Sealed (envelope-encrypted) objects: decode, re-encode to the same bytes, and opening under
//! an unrelated key never succeeds.
#![no_main]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a fuzz target reports a broken invariant by panicking"
)]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

use sigil_core::aead::AeadAlgorithm;
use sigil_core::datakey::{Sealed, open};
use sigil_core::keyset::{KeyKind, Keyset};

fn kek() -> &'static Keyset {
    static KEK: OnceLock<Keyset> = OnceLock::new();
    KEK.get_or_init(|| {
        Keyset::generate("fuzz", KeyKind::Aead(AeadAlgorithm::Aes256Gcm), 0).expect("kek")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(sealed) = Sealed::decode(data) {
        assert_eq!(sealed.encode().expect("encode"), data);
    }
    assert!(open(kek(), data, b"").is_err());
});
