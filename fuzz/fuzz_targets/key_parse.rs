//! Private and public keys in every container Sigil accepts (PEM, DER, JWK): parse, and a
//! parsed key re-exports to PKCS#8 / SPKI that parse back to the same key.
#![no_main]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a fuzz target reports a broken invariant by panicking"
)]

use libfuzzer_sys::fuzz_target;
use sigil_core::keys::{PrivateKey, PublicKey};

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = PrivateKey::from_bytes(data) {
        let der = key.to_pkcs8_der().expect("export");
        let again = PrivateKey::from_pkcs8_der(der.expose_secret()).expect("re-parse");
        assert_eq!(again.public_key(), key.public_key());
    }
    if let Ok(key) = PublicKey::from_bytes(data) {
        let again =
            PublicKey::from_spki_der(&key.to_spki_der().expect("export")).expect("re-parse");
        assert_eq!(again, key);
    }
});
