//! The transit secrets engine through real clients: the hvac suite, the bad-input script and
//! the cross-server script, each run against Sigil and against a real OpenBao dev server (so
//! the scripts are shown to encode OpenBao's behaviour), and the `bao` CLI.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::harness::{Dev, OpenBao, bao_json as json, bao_ok as ok, passed};
use crate::support::Run;

#[test]
fn transit_suite_against_sigil() {
    let dev = Dev::start();
    passed(
        "transit suite on Sigil",
        &dev.python("transit_suite.py", &[]),
    );
}

#[test]
fn transit_suite_against_openbao() {
    let bao = OpenBao::start();
    let out = bao.python("transit_suite.py", &BTreeMap::new());
    passed("transit suite on OpenBao", &out);
}

#[test]
fn transit_bad_input_against_sigil() {
    let dev = Dev::start();
    passed(
        "transit bad input on Sigil",
        &dev.python("transit_bad.py", &[]),
    );
}

#[test]
fn transit_bad_input_against_openbao() {
    let bao = OpenBao::start();
    let out = bao.python("transit_bad.py", &BTreeMap::new());
    passed("transit bad input on OpenBao", &out);
}

#[test]
fn transit_keys_move_between_openbao_and_sigil() {
    let dev = Dev::start();
    let bao = OpenBao::start();
    // Sigil is the server under test (SIGIL_*), OpenBao the peer (PEER_*).
    let mut env = bao.peer_env();
    env.extend(dev.env.clone());
    let out = bao.python("transit_cross.py", &env);
    passed("transit cross OpenBao <-> Sigil", &out);
}

#[test]
fn transit_cross_script_holds_between_two_openbao_servers() {
    let under_test = OpenBao::start();
    let peer = OpenBao::start();
    let out = under_test.python("transit_cross.py", &peer.peer_env());
    passed("transit cross OpenBao <-> OpenBao", &out);
}

/// The `bao` CLI's transit round trip, against whichever server `bao` talks to.
fn bao_cli_transit(bao: &dyn Fn(&[&str]) -> Run) {
    // base64("hello transit"), as `base64` would print it.
    const PLAIN: &str = "aGVsbG8gdHJhbnNpdA==";
    ok(bao(&["secrets", "enable", "transit"]));
    ok(bao(&["write", "-f", "transit/keys/k"]));

    let enc = json(bao(&[
        "write",
        "-format=json",
        "transit/encrypt/k",
        &format!("plaintext={PLAIN}"),
    ]));
    let ct1 = enc["data"]["ciphertext"].as_str().unwrap().to_owned();
    assert!(ct1.starts_with("vault:v1:"), "{enc}");
    assert_eq!(enc["data"]["key_version"], 1, "{enc}");
    let dec = ok(bao(&[
        "write",
        "-field=plaintext",
        "transit/decrypt/k",
        &format!("ciphertext={ct1}"),
    ]));
    assert_eq!(dec.trim(), PLAIN);

    ok(bao(&["write", "-f", "transit/keys/k/rotate"]));
    let ct2 = ok(bao(&[
        "write",
        "-field=ciphertext",
        "transit/encrypt/k",
        &format!("plaintext={PLAIN}"),
    ]));
    assert!(ct2.trim().starts_with("vault:v2:"), "{ct2}");
    let dec = ok(bao(&[
        "write",
        "-field=plaintext",
        "transit/decrypt/k",
        &format!("ciphertext={ct1}"),
    ]));
    assert_eq!(dec.trim(), PLAIN, "version 1 still decrypts after rotation");

    ok(bao(&["write", "transit/keys/e", "type=ed25519"]));
    let sig = ok(bao(&[
        "write",
        "-field=signature",
        "transit/sign/e",
        &format!("input={PLAIN}"),
    ]));
    let sig = sig.trim();
    assert!(sig.starts_with("vault:v1:"), "{sig}");
    let valid = json(bao(&[
        "write",
        "-format=json",
        "transit/verify/e",
        &format!("input={PLAIN}"),
        &format!("signature={sig}"),
    ]));
    assert_eq!(valid["data"]["valid"], true, "{valid}");
    let invalid = json(bao(&[
        "write",
        "-format=json",
        "transit/verify/e",
        "input=b3RoZXI=",
        &format!("signature={sig}"),
    ]));
    assert_eq!(invalid["data"]["valid"], false, "{invalid}");

    let key = json(bao(&["read", "-format=json", "transit/keys/k"]));
    assert_eq!(key["data"]["type"], "aes256-gcm96", "{key}");
    assert_eq!(key["data"]["latest_version"], 2, "{key}");
    let versions = key["data"]["keys"].as_object().unwrap();
    assert_eq!(versions.keys().collect::<Vec<_>>(), ["1", "2"], "{key}");
    let ed = json(bao(&["read", "-format=json", "transit/keys/e"]));
    assert_eq!(ed["data"]["supports_signing"], true, "{ed}");
    let list = json(bao(&["list", "-format=json", "transit/keys"]));
    assert_eq!(list, serde_json::json!(["e", "k"]));

    // An API error: exit 2 and OpenBao's message on stderr.
    let bad = bao(&["write", "transit/decrypt/k", "ciphertext=nope"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("invalid ciphertext: no prefix"),
        "{}",
        bad.stderr
    );
}

#[test]
fn bao_cli_transit_against_sigil() {
    let dev = Dev::start();
    bao_cli_transit(&|args| dev.bao(args));
}

#[test]
fn bao_cli_transit_against_openbao() {
    let bao = OpenBao::start();
    bao_cli_transit(&|args| bao.bao(args));
}

#[test]
fn transit_secrets_stay_out_of_the_audit_log() {
    let dev = Dev::start();
    let ok = |args: &[&str]| {
        let out = dev.sigil(args);
        assert_eq!(out.code, 0, "sigil {args:?}: {}", out.stderr);
        serde_json::from_str::<Value>(&out.stdout_str()).unwrap_or(Value::Null)
    };
    ok(&["write", "sys/mounts/transit", "type=transit"]);
    ok(&[
        "write",
        "transit/keys/k",
        "exportable=true",
        "allow_plaintext_backup=true",
    ]);
    // A distinctive plaintext, through encrypt and back through decrypt.
    let plaintext = "c2lnaWwtYXVkaXQtY2FuYXJ5LTdmM2E5"; // base64("sigil-audit-canary-7f3a9")
    let ct = ok(&[
        "write",
        "transit/encrypt/k",
        &format!("plaintext={plaintext}"),
    ]);
    let ct = ct["ciphertext"].as_str().unwrap().to_owned();
    let pt = ok(&["write", "transit/decrypt/k", &format!("ciphertext={ct}")]);
    assert_eq!(pt["plaintext"], plaintext);
    let key = ok(&["read", "transit/export/encryption-key/k"]);
    let key = key["keys"]["1"].as_str().unwrap().to_owned();
    let backup = ok(&["read", "transit/backup/k"]);
    let backup = backup["backup"].as_str().unwrap().to_owned();
    let dk = ok(&["write", "transit/datakey/plaintext/k"]);
    let data_key = dk["plaintext"].as_str().unwrap().to_owned();
    let log = std::fs::read_to_string(dev.dir.join("audit.log")).unwrap();
    assert!(
        log.contains("transit/decrypt/k"),
        "the requests are audited"
    );
    for (what, secret) in [
        ("plaintext", plaintext),
        ("ciphertext", ct.as_str()),
        ("exported key", key.as_str()),
        ("backup", &backup[..40]),
        ("data key", data_key.as_str()),
    ] {
        assert!(
            !log.contains(secret),
            "the audit log holds the {what} in clear"
        );
    }
    let verify = dev.sigil(&[
        "audit",
        "verify",
        dev.dir.join("audit.log").to_str().unwrap(),
    ]);
    assert_eq!(verify.code, 0, "{}", verify.stderr);
}
