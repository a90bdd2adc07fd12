//! SPIFFE bundle JSON, bundle maps, plain JWKS and DER bundles: decoding never panics, and
//! what decodes encodes to something that decodes to the same value.
#![no_main]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a fuzz target reports a broken invariant by panicking"
)]

use libfuzzer_sys::fuzz_target;
use sigil_core::spiffe::{BundleSet, JwtBundle, SpiffeBundle, TrustDomain, X509Bundle};

fuzz_target!(|data: &[u8]| {
    let td = TrustDomain::parse("example.org").expect("trust domain");
    if let Ok(bundle) = SpiffeBundle::decode(&td, data) {
        let json = bundle.encode().expect("encode");
        assert_eq!(
            SpiffeBundle::decode(&td, json.as_bytes()).expect("decode"),
            bundle
        );
    }
    if let Ok(set) = BundleSet::decode(data) {
        let json = set.encode().expect("encode");
        let again = BundleSet::decode(json.as_bytes()).expect("decode");
        assert_eq!(again.bundles().len(), set.bundles().len());
    }
    if let Ok(jwt) = JwtBundle::parse_jwks(td.clone(), data) {
        let json = jwt.to_jwks().expect("encode");
        assert_eq!(
            JwtBundle::parse_jwks(td.clone(), json.as_bytes()).expect("decode"),
            jwt
        );
    }
    if let Ok(x509) = X509Bundle::parse_der(td.clone(), data) {
        assert_eq!(
            X509Bundle::parse_der(td, &x509.to_der()).expect("decode"),
            x509
        );
    }
});
