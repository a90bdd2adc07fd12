//! The SPIFFE identity engine through real clients: hvac configures a trust domain and
//! mints SVIDs, openssl checks them against the X509-SVID rules, verifies them against the
//! bundle, and completes a mutual-TLS handshake with two of them. Sigil only: OpenBao has no
//! such engine.

use crate::harness::{Dev, passed};

#[test]
fn spiffe_ca_through_hvac_and_openssl() {
    let dev = Dev::start();
    passed("spiffe CA on Sigil", &dev.python("spiffe_ca.py", &[]));
}
