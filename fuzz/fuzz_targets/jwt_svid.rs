//! JWT-SVID validation: any string gives a result or an error, never a panic. A fixed ES256
//! bundle key means a forged token would have to break the signature to get further.
#![no_main]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a fuzz target reports a broken invariant by panicking"
)]

use libfuzzer_sys::fuzz_target;
use sigil_core::keys::PublicKey;
use sigil_core::spiffe::{JwtBundle, JwtSvid, TrustDomain};

const KEY: &str = r#"{"crv":"P-256","kty":"EC","x":"qNMXwwMhCFd3pcZK3oXSBhkD8atdNPQwN_Ncy_gjzEM","y":"A-AvgjOowOt5xhoO1gpvwRQURBueejZOpFrLxoJwwfw"}"#;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let mut bundle = JwtBundle::empty(TrustDomain::parse("example.org").expect("td"));
    bundle
        .add("k1", PublicKey::from_bytes(KEY.as_bytes()).expect("key"))
        .expect("add");
    if let Ok(svid) = JwtSvid::validate(token, &bundle, "aud", 0) {
        assert_eq!(svid.token(), token);
        assert!(svid.spiffe_id().is_member_of(bundle.trust_domain()));
    }
});
