//! X509-SVID chains in the Workload API encoding: parsing never panics. The first byte says
//! where the chain ends and the PKCS#8 key begins; what parses encodes back to the same input.
#![no_main]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a fuzz target reports a broken invariant by panicking"
)]

use libfuzzer_sys::fuzz_target;
use sigil_core::spiffe::X509Svid;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let cut = (usize::from(cut) * 8).min(rest.len());
    let (chain, key) = rest.split_at(rest.len() - cut);
    if let Ok(svid) = X509Svid::parse(chain, key) {
        let (chain2, key2) = svid.encode().expect("encode");
        assert_eq!(
            X509Svid::parse(&chain2, key2.expose_secret()).expect("reparse"),
            svid
        );
    }
});
