//! Vault's `cert` auth method through hvac: an openssl-made X509-SVID-shaped certificate
//! logs in over mutual TLS and is held to its policy; other SPIFFE IDs, other CAs and
//! certificate-less logins are refused. Sigil only: OpenBao's dev server listens on plain
//! HTTP, where no client certificate reaches it.

use crate::harness::{Dev, passed};

#[test]
fn cert_login_with_an_svid_through_hvac() {
    let dev = Dev::start();
    passed("cert auth on Sigil", &dev.python("cert_auth.py", &[]));
}
