//! PEM and the text encodings: decode, and whatever decodes re-encodes to something that
//! decodes to the same bytes.
#![no_main]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a fuzz target reports a broken invariant by panicking"
)]

use libfuzzer_sys::fuzz_target;
use sigil_core::encoding::{Encoding, Pem};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(pem) = Pem::decode(text) {
        let again =
            Pem::decode(&Pem::encode(&pem.label, &pem.der).expect("encode")).expect("decode");
        assert_eq!(again, pem);
    }
    for e in Encoding::ALL {
        if let Ok(bytes) = e.decode(text) {
            // Hex accepts either case and writes lower case; everything else is exact.
            let again = e.encode(&bytes);
            if e == Encoding::Hex {
                assert!(
                    again.eq_ignore_ascii_case(text),
                    "hex decoding must be canonical"
                );
            } else {
                assert_eq!(again, text, "{e} decoding must be canonical");
            }
        }
    }
});
