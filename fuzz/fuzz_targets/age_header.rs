//! age files: header parsing (binary and armored) and, when a header parses, decryption with a
//! fixed identity. Must never panic; a file that is not ours must never decrypt.
#![no_main]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a fuzz target reports a broken invariant by panicking"
)]

use libfuzzer_sys::fuzz_target;
use sigil_core::agefile::{Decryptor, Identity};

fuzz_target!(|data: &[u8]| {
    let Ok(decryptor) = Decryptor::new(data) else {
        return;
    };
    let identity = Identity::generate();
    if let Ok(mut reader) = decryptor.decrypt(std::slice::from_ref(&identity)) {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut reader, &mut sink);
    }
});
