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

/// Two dev servers with their own trust domains and bundle endpoints federate both ways.
#[test]
fn federation_between_two_servers() {
    let flags = |td| ["--trust-domain", td, "--bundle-endpoint", "127.0.0.1:0"];
    let a = Dev::start_with(&flags("a.test"));
    let b = Dev::start_with(&flags("b.test"));
    let mut cmd = crate::support::python();
    cmd.arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/server/py/federation.py"));
    for (prefix, dev) in [("A", &a), ("B", &b)] {
        for key in ["ADDR", "TOKEN", "CACERT"] {
            cmd.env(format!("{prefix}_{key}"), &dev.env[&format!("SIGIL_{key}")]);
        }
        cmd.env(
            format!("{prefix}_ENDPOINT"),
            dev.banner_value("SPIFFE bundle endpoint:"),
        );
    }
    passed("federation", &crate::support::run(&mut cmd));
}
