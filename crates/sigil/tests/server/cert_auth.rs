//! Vault's `cert` auth method through hvac: an openssl-made X509-SVID-shaped certificate
//! logs in over mutual TLS and is held to its policy; other SPIFFE IDs, other CAs and
//! certificate-less logins are refused. The same script runs against OpenBao, whose dev
//! server listens on TLS here (`-dev-tls`) so that a client certificate can reach it.

use std::collections::BTreeMap;

use crate::harness::{Dev, OpenBao, passed};

#[test]
fn cert_login_with_an_svid_against_sigil() {
    let dev = Dev::start();
    passed("cert auth on Sigil", &dev.python("cert_auth.py", &[]));
}

#[test]
fn cert_login_with_an_svid_against_openbao() {
    let bao = OpenBao::start_tls();
    let env = BTreeMap::from([("CERT_AUTH_OPENBAO".to_owned(), "1".to_owned())]);
    let out = bao.python("cert_auth.py", &env);
    passed("cert auth on OpenBao", &out);
}
