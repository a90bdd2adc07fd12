//! The pki secrets engine through real clients: the hvac + openssl suite, run against Sigil
//! and against a real OpenBao dev server (so the script is shown to encode OpenBao's
//! behaviour), the `bao` CLI's root, role, issue and read, and openssl's OCSP client and a
//! mutual-TLS handshake with issued certificates (`pki_ocsp.py`, against both servers).

use std::collections::BTreeMap;

use crate::harness::{Dev, OpenBao, bao_json as json, bao_ok as ok, passed};
use crate::support::Run;

#[test]
fn pki_suite_against_sigil() {
    let dev = Dev::start();
    passed("pki suite on Sigil", &dev.python("pki_suite.py", &[]));
}

#[test]
fn pki_suite_against_openbao() {
    let bao = OpenBao::start();
    let out = bao.python("pki_suite.py", &BTreeMap::new());
    passed("pki suite on OpenBao", &out);
}

/// The `bao` CLI's PKI round trip, against whichever server `bao` talks to.
fn bao_cli_pki(bao: &dyn Fn(&[&str]) -> Run) {
    ok(bao(&["secrets", "enable", "pki"]));
    let root = json(bao(&[
        "write",
        "-format=json",
        "pki/root/generate/internal",
        "common_name=CLI Root",
        "key_type=ec",
        "ttl=720h",
    ]));
    let ca = root["data"]["certificate"].as_str().unwrap().to_owned();
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{root}");
    assert!(root["data"].get("private_key").is_none(), "{root}");

    ok(bao(&[
        "write",
        "pki/roles/web",
        "allowed_domains=example.com",
        "allow_subdomains=true",
        "key_type=ec",
        "max_ttl=72h",
    ]));
    let role = json(bao(&["read", "-format=json", "pki/roles/web"]));
    assert_eq!(
        role["data"]["allowed_domains"],
        serde_json::json!(["example.com"])
    );
    assert_eq!(role["data"]["allow_subdomains"], true, "{role}");

    let leaf = json(bao(&[
        "write",
        "-format=json",
        "pki/issue/web",
        "common_name=www.example.com",
        "ttl=1h",
    ]));
    let serial = leaf["data"]["serial_number"].as_str().unwrap().to_owned();
    let cert = leaf["data"]["certificate"].as_str().unwrap().to_owned();
    assert_eq!(leaf["data"]["issuing_ca"], ca.as_str(), "{leaf}");
    assert_eq!(leaf["data"]["private_key_type"], "ec", "{leaf}");

    let read = json(bao(&[
        "read",
        "-format=json",
        &format!("pki/cert/{serial}"),
    ]));
    assert_eq!(read["data"]["certificate"], cert.as_str(), "{read}");
    assert_eq!(read["data"]["revocation_time"], 0, "{read}");
    let pem = ok(bao(&["read", "-field=certificate", "pki/cert/ca"]));
    assert_eq!(pem.trim(), ca.trim());
    let list = json(bao(&["list", "-format=json", "pki/certs"]));
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|s| s == serial.as_str()),
        "{serial} not in {list}"
    );

    let revoked = json(bao(&[
        "write",
        "-format=json",
        "pki/revoke",
        &format!("serial_number={serial}"),
    ]));
    assert!(
        revoked["data"]["revocation_time"].as_i64().unwrap() > 0,
        "{revoked}"
    );

    // An API error: exit 2 and OpenBao's message on stderr.
    let bad = bao(&["write", "pki/issue/web", "common_name=evil.test"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr
            .contains("common name evil.test not allowed by this role"),
        "{}",
        bad.stderr
    );
}

#[test]
fn bao_cli_pki_against_sigil() {
    let dev = Dev::start();
    bao_cli_pki(&|args| dev.bao(args));
}

#[test]
fn bao_cli_pki_against_openbao() {
    let bao = OpenBao::start();
    bao_cli_pki(&|args| bao.bao(args));
}

#[test]
fn pki_ocsp_and_mtls_against_sigil() {
    let dev = Dev::start();
    passed(
        "pki OCSP and mTLS on Sigil",
        &dev.python("pki_ocsp.py", &[]),
    );
}

#[test]
fn pki_ocsp_and_mtls_against_openbao() {
    let bao = OpenBao::start();
    let env = BTreeMap::from([("OCSP_SERVER".to_owned(), "openbao".to_owned())]);
    passed(
        "pki OCSP and mTLS on OpenBao",
        &bao.python("pki_ocsp.py", &env),
    );
}

#[test]
fn pki_extras_against_sigil() {
    let dev = Dev::start();
    passed("pki extras on Sigil", &dev.python("pki_extras.py", &[]));
}

#[test]
fn pki_extras_against_openbao() {
    let bao = OpenBao::start();
    let env = BTreeMap::from([("PKI_SERVER".to_owned(), "openbao".to_owned())]);
    let out = bao.python("pki_extras.py", &env);
    passed("pki extras on OpenBao", &out);
}

/// The `bao` CLI's intermediate flow: a CSR from `cli_int/intermediate/generate/internal`,
/// signed by `cli_root/root/sign-intermediate`, set back, and a leaf issued through it.
fn bao_cli_intermediate(bao: &dyn Fn(&[&str]) -> Run) {
    ok(bao(&["secrets", "enable", "-path=cli_root", "pki"]));
    ok(bao(&["secrets", "enable", "-path=cli_int", "pki"]));
    ok(bao(&[
        "secrets",
        "tune",
        "-max-lease-ttl=87600h",
        "cli_root",
    ]));
    ok(bao(&[
        "write",
        "cli_root/root/generate/internal",
        "common_name=CLI Root",
        "key_type=ec",
        "ttl=87600h",
    ]));
    let csr = json(bao(&[
        "write",
        "-format=json",
        "cli_int/intermediate/generate/internal",
        "common_name=CLI Intermediate",
        "key_type=ec",
    ]));
    let csr_pem = csr["data"]["csr"].as_str().unwrap().to_owned();
    assert!(
        csr_pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----"),
        "{csr}"
    );
    let signed = json(bao(&[
        "write",
        "-format=json",
        "cli_root/root/sign-intermediate",
        &format!("csr={csr_pem}"),
        "common_name=CLI Intermediate",
        "ttl=8760h",
    ]));
    let int_pem = signed["data"]["certificate"].as_str().unwrap().to_owned();
    let set = json(bao(&[
        "write",
        "-format=json",
        "cli_int/intermediate/set-signed",
        &format!("certificate={int_pem}"),
    ]));
    let imported = set["data"]["imported_issuers"].as_array().unwrap();
    assert_eq!(imported.len(), 1, "{set}");
    assert_eq!(
        set["data"]["mapping"][imported[0].as_str().unwrap()],
        csr["data"]["key_id"],
        "{set}"
    );
    let pem = ok(bao(&[
        "read",
        "-field=certificate",
        "cli_int/issuer/default",
    ]));
    assert_eq!(pem.trim(), int_pem.trim());
    ok(bao(&[
        "write",
        "cli_int/roles/web",
        "allowed_domains=example.com",
        "allow_subdomains=true",
        "key_type=ec",
    ]));
    let leaf = json(bao(&[
        "write",
        "-format=json",
        "cli_int/issue/web",
        "common_name=www.example.com",
        "ttl=1h",
    ]));
    assert_eq!(leaf["data"]["issuing_ca"], int_pem.as_str(), "{leaf}");
    // Only the intermediate was set (not its root), so the mount knows nothing above it.
    let chain = leaf["data"]["ca_chain"].as_array().unwrap();
    assert_eq!(chain.len(), 1, "{leaf}");
    assert_eq!(chain[0], int_pem.as_str(), "{leaf}");
}

#[test]
fn pki_issuers_against_sigil() {
    let dev = Dev::start();
    passed("pki issuers on Sigil", &dev.python("pki_issuers.py", &[]));
    bao_cli_intermediate(&|args| dev.bao(args));
}

#[test]
fn pki_issuers_against_openbao() {
    let bao = OpenBao::start();
    let out = bao.python("pki_issuers.py", &BTreeMap::new());
    passed("pki issuers on OpenBao", &out);
    bao_cli_intermediate(&|args| bao.bao(args));
}
