//! Unit tests for the transit engine: OpenBao's own outputs (vectors made by OpenBao 2.7.2
//! and restored from its backups) open and verify here, every key type round-trips, and bad
//! input gets Vault's answer while storage stays as it was.

use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};
use sigil_core::encoding::base64_encode;
use sigil_storage::Page;

use super::backup::{be_to_decimal, decimal_to_be};
use super::*;
use crate::view::PlainStore;

struct Fixture {
    transit: Transit,
    view: View,
}

fn b64(s: &[u8]) -> String {
    base64_encode(s)
}

impl Fixture {
    fn new() -> Self {
        Self {
            transit: Transit::new(),
            view: PlainStore::view(),
        }
    }

    async fn call_at(
        &self,
        op: Operation,
        path: &str,
        body: Value,
        time: SystemTime,
    ) -> Result<Response, ApiError> {
        let mut req = Request::new(op, path);
        req.time = time;
        if let Value::Object(m) = body {
            req.data = m;
        }
        if req.operation == Operation::Update
            && !self.transit.exists(path, &self.view).await.unwrap()
        {
            req.operation = Operation::Create;
        }
        self.transit.handle(&req, &self.view).await
    }

    async fn call(&self, op: Operation, path: &str, body: Value) -> Result<Response, ApiError> {
        self.call_at(op, path, body, SystemTime::now()).await
    }

    async fn write(&self, path: &str, body: Value) -> Map<String, Value> {
        let resp = self.call(Operation::Update, path, body).await;
        let resp = resp.unwrap_or_else(|e| panic!("{path}: {e:?}"));
        assert_eq!(resp.status, None, "{path}");
        resp.data.unwrap_or_default()
    }

    async fn read(&self, path: &str) -> Map<String, Value> {
        self.call(Operation::Read, path, json!({}))
            .await
            .unwrap_or_else(|e| panic!("{path}: {e:?}"))
            .data
            .unwrap_or_default()
    }

    async fn fails(&self, path: &str, body: Value) -> String {
        match self.call(Operation::Update, path, body).await {
            Err(ApiError::BadRequest(m)) => m.join("; "),
            other => panic!("{path}: expected a 400, got {other:?}"),
        }
    }

    /// Everything stored, to prove a failed request wrote nothing.
    async fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for prefix in ["policy/", "config/"] {
            for k in self.view.list(prefix, Page::default()).await.unwrap() {
                let key = format!("{prefix}{k}");
                let v = self.view.get(&key).await.unwrap().unwrap();
                out.push((key, v));
            }
        }
        out
    }
}

fn s(m: &Map<String, Value>, k: &str) -> String {
    m.get(k)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no {k} in {m:?}"))
        .to_owned()
}

/// The OpenBao outputs in `testdata/`, checked against a key restored from OpenBao's backup.
async fn check_openbao_ops(f: &Fixture, key: &Value) {
    let name = key["name"].as_str().unwrap();
    for op in key["ops"].as_array().unwrap() {
        let mut body = op.as_object().unwrap().clone();
        let kind = body.remove("op").unwrap();
        match kind.as_str().unwrap() {
            "decrypt" => {
                let want = body.remove("plaintext").unwrap();
                let got = f
                    .write(&format!("decrypt/{name}"), Value::Object(body))
                    .await;
                assert_eq!(got["plaintext"], want, "{name}");
            }
            "encrypt-convergent" => {
                let want = body.remove("ciphertext").unwrap();
                let got = f
                    .write(&format!("encrypt/{name}"), Value::Object(body))
                    .await;
                assert_eq!(got["ciphertext"], want, "{name}: convergent ciphertext");
            }
            "verify" => {
                let public = body.remove("public_key");
                let sig = s(&body, "signature");
                let got = f
                    .write(&format!("verify/{name}"), Value::Object(body.clone()))
                    .await;
                assert_eq!(got["valid"], json!(true), "{name}: {body:?}");
                // Flip a byte of the signature body: no longer valid (or refused as malformed).
                let mut bad = body.clone();
                let (prefix, sig_body) = sig.split_at(9);
                let mut chars: Vec<char> = sig_body.chars().collect();
                chars[4] = if chars[4] == 'A' { 'B' } else { 'A' };
                bad.insert(
                    "signature".into(),
                    json!(format!("{prefix}{}", chars.iter().collect::<String>())),
                );
                let verdict = f
                    .call(
                        Operation::Update,
                        &format!("verify/{name}"),
                        Value::Object(bad),
                    )
                    .await;
                if let Ok(r) = verdict {
                    assert_eq!(r.data.unwrap()["valid"], json!(false), "{name}: tampered");
                }
                if let Some(public) = public {
                    let mut again = body.clone();
                    again.remove("signature");
                    let signed = f.write(&format!("sign/{name}"), Value::Object(again)).await;
                    assert_eq!(signed["public_key"], public, "{name}: derived public key");
                }
            }
            "hmac" => {
                let want = body.remove("hmac").unwrap();
                let alg = s(&body, "algorithm");
                let got = f
                    .write(&format!("hmac/{name}/{alg}"), Value::Object(body))
                    .await;
                assert_eq!(got["hmac"], want, "{name}: hmac");
            }
            other => panic!("unknown vector op {other}"),
        }
    }
}

#[tokio::test]
async fn openbao_outputs_open_and_verify_after_restoring_its_backups() {
    let vectors: Value = serde_json::from_str(include_str!("testdata/openbao-2.7.2.json")).unwrap();
    let f = Fixture::new();
    let again = Fixture::new();
    for key in vectors["keys"].as_array().unwrap() {
        let name = key["name"].as_str().unwrap();
        f.write("restore", json!({ "backup": key["backup"] })).await;
        assert_eq!(f.read(&format!("keys/{name}")).await["latest_version"], 2);
        check_openbao_ops(&f, key).await;
        // Sigil's own backup of the restored key carries the same material.
        let ours = s(&f.read(&format!("backup/{name}")).await, "backup");
        again.write("restore", json!({ "backup": ours })).await;
        check_openbao_ops(&again, key).await;
    }
}

#[tokio::test]
async fn every_key_type_works_and_rotates() {
    let f = Fixture::new();
    let types = [
        "aes128-gcm96",
        "aes256-gcm96",
        "chacha20-poly1305",
        "ed25519",
        "ecdsa-p256",
        "ecdsa-p384",
        "rsa-2048",
        "hmac",
    ];
    for t in types {
        let name = format!("k-{t}");
        let size = if t == "hmac" { json!(48) } else { Value::Null };
        let created = f
            .write(
                &format!("keys/{name}"),
                json!({"type": t, "key_size": size}),
            )
            .await;
        assert_eq!(created["type"], json!(t));
        f.write(&format!("keys/{name}/rotate"), json!({})).await;
        let info = f.read(&format!("keys/{name}")).await;
        assert_eq!(info["latest_version"], 2, "{t}");
        let kind = Kind::from_name(t).unwrap();
        if kind.supports_encryption() {
            let ct = s(
                &f.write(
                    &format!("encrypt/{name}"),
                    json!({"plaintext": b64(b"hi"), "key_version": 1}),
                )
                .await,
                "ciphertext",
            );
            assert!(ct.starts_with("vault:v1:"));
            let pt = f
                .write(&format!("decrypt/{name}"), json!({"ciphertext": ct}))
                .await;
            assert_eq!(pt["plaintext"], json!(b64(b"hi")));
            let rewrapped = f
                .write(&format!("rewrap/{name}"), json!({"ciphertext": ct}))
                .await;
            assert!(s(&rewrapped, "ciphertext").starts_with("vault:v2:"));
            let dk = f
                .write(&format!("datakey/plaintext/{name}"), json!({"bits": 512}))
                .await;
            let opened = f
                .write(
                    &format!("decrypt/{name}"),
                    json!({"ciphertext": dk["ciphertext"]}),
                )
                .await;
            assert_eq!(opened["plaintext"], dk["plaintext"]);
            let wrapped = f.write(&format!("datakey/wrapped/{name}"), json!({})).await;
            assert!(!wrapped.contains_key("plaintext"));
            // min_decryption_version 2 refuses v1 ciphertexts.
            f.write(
                &format!("keys/{name}/config"),
                json!({"min_decryption_version": 2}),
            )
            .await;
            let msg = f
                .fails(&format!("decrypt/{name}"), json!({"ciphertext": ct}))
                .await;
            assert!(msg.contains("too old"), "{msg}");
        }
        if kind.supports_signing() {
            for hash in ["sha2-256", "sha2-384", "sha2-512"] {
                let body = json!({"input": b64(b"m"), "hash_algorithm": hash});
                let sig = f.write(&format!("sign/{name}"), body.clone()).await;
                let mut v = body.as_object().unwrap().clone();
                v.insert("signature".into(), sig["signature"].clone());
                assert_eq!(
                    f.write(&format!("verify/{name}"), Value::Object(v)).await["valid"],
                    json!(true)
                );
            }
        }
        let mac = f
            .write(&format!("hmac/{name}"), json!({"input": b64(b"x")}))
            .await;
        let ok = f
            .write(
                &format!("verify/{name}"),
                json!({"input": b64(b"x"), "hmac": mac["hmac"]}),
            )
            .await;
        assert_eq!(ok["valid"], json!(true));
    }
    let listed = f.call(Operation::List, "keys", json!({})).await.unwrap();
    assert_eq!(
        listed.data.unwrap()["keys"].as_array().unwrap().len(),
        types.len()
    );
}

#[tokio::test]
async fn bad_input_gets_vaults_answer_and_changes_nothing() {
    let f = Fixture::new();
    f.write("keys/aes", json!({})).await;
    f.write("keys/ed", json!({"type": "ed25519"})).await;
    f.write("keys/aes/rotate", json!({})).await;
    f.write("keys/aes/config", json!({"min_decryption_version": 2}))
        .await;
    let ct = s(
        &f.write("encrypt/aes", json!({"plaintext": b64(b"x")}))
            .await,
        "ciphertext",
    );
    let before = f.snapshot().await;
    let body = ct.strip_prefix("vault:v2:").unwrap();
    let mut tampered: Vec<char> = body.chars().collect();
    tampered[20] = if tampered[20] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    let cases = [
        (
            "decrypt/aes",
            json!({"ciphertext": "vault:v2:!!!"}),
            "could not decode base64",
        ),
        (
            "decrypt/aes",
            json!({"ciphertext": body}),
            "invalid ciphertext: no prefix",
        ),
        (
            "decrypt/aes",
            json!({"ciphertext": format!("vault:vX:{body}")}),
            "version number could not be decoded",
        ),
        (
            "decrypt/aes",
            json!({"ciphertext": format!("vault:v3:{body}")}),
            "version is too new",
        ),
        (
            "decrypt/aes",
            json!({"ciphertext": format!("vault:v1:{body}")}),
            "too old",
        ),
        (
            "decrypt/aes",
            json!({"ciphertext": format!("vault:v2:{tampered}")}),
            "message authentication failed",
        ),
        (
            "decrypt/aes",
            json!({"ciphertext": "vault:v2:AAAA"}),
            "invalid ciphertext length",
        ),
        ("decrypt/aes", json!({}), "missing ciphertext"),
        (
            "decrypt/nope",
            json!({"ciphertext": ct}),
            "encryption key not found",
        ),
        (
            "encrypt/ed",
            json!({"plaintext": b64(b"x")}),
            "not supported for key type ed25519",
        ),
        (
            "sign/aes",
            json!({"input": b64(b"x")}),
            "does not support signing",
        ),
        ("encrypt/aes", json!({"plaintext": "***"}), "base64"),
        (
            "encrypt/aes",
            json!({"plaintext": b64(b"x"), "key_version": 9}),
            "higher than the latest",
        ),
        (
            "keys/aes/config",
            json!({"min_decryption_version": 7}),
            "latest key version is 2",
        ),
        (
            "keys/aes/config",
            json!({"min_encryption_version": 1}),
            "must be greater than or equal",
        ),
        (
            "keys/aes/trim",
            json!({"min_available_version": 1}),
            "minimum encryption version is not set",
        ),
        ("keys/new", json!({"type": "rsa-1024"}), "unknown key type"),
        (
            "keys/new",
            json!({"type": "ed25519", "convergent_encryption": true}),
            "requires derivation",
        ),
        (
            "keys/new",
            json!({"type": "aes256-gcm96", "key_size": 64}),
            "key_size is not valid",
        ),
        (
            "keys/new",
            json!({"auto_rotate_period": "10m"}),
            "at least an hour",
        ),
        (
            "restore",
            json!({"backup": "bm90IGpzb24="}),
            "invalid backup",
        ),
        ("restore", json!({}), "must be supplied"),
        (
            "hash/sha2-999",
            json!({"input": b64(b"x")}),
            "unsupported algorithm sha2-999",
        ),
        ("random/9999999", json!({}), "should be less than 131072"),
    ];
    for (path, body, want) in cases {
        let msg = f.fails(path, body.clone()).await;
        assert!(msg.contains(want), "{path} {body}: {msg:?} lacks {want:?}");
    }
    match f.call(Operation::Delete, "keys/aes", json!({})).await {
        Err(ApiError::BadRequest(m)) => assert!(m[0].contains("deletion is not allowed")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        f.call(Operation::Update, "keys/a/b/c", json!({})).await,
        Err(ApiError::UnsupportedPath)
    ));
    assert!(
        f.snapshot().await == before,
        "a failed request changed storage"
    );

    // A batch with one bad item: every item answered in order, 400 by default.
    let batch = json!({"batch_input": [
        {"ciphertext": ct, "reference": "good"},
        {"ciphertext": "vault:v2:!!", "reference": "bad"},
    ]});
    let resp = f
        .call(Operation::Update, "decrypt/aes", batch.clone())
        .await
        .unwrap();
    assert_eq!(resp.status, Some(400));
    let results = resp.data.unwrap()["batch_results"].clone();
    assert_eq!(results[0]["plaintext"], json!(b64(b"x")));
    assert_eq!(results[0]["reference"], "good");
    assert!(results[1]["error"].as_str().unwrap().contains("base64"));
    assert_eq!(results[1]["reference"], "bad");
    let mut with_code = batch.as_object().unwrap().clone();
    with_code.insert("partial_failure_response_code".into(), json!(207));
    let resp = f
        .call(Operation::Update, "decrypt/aes", Value::Object(with_code))
        .await
        .unwrap();
    assert_eq!(resp.status, Some(207));
    assert!(f.snapshot().await == before);
}

#[tokio::test]
async fn encrypt_creates_a_missing_key_unless_upsert_is_disabled() {
    let f = Fixture::new();
    let r = f
        .write(
            "encrypt/auto",
            json!({"plaintext": b64(b"x"), "context": b64(b"c")}),
        )
        .await;
    assert!(s(&r, "ciphertext").starts_with("vault:v1:"));
    let info = f.read("keys/auto").await;
    assert_eq!(info["derived"], json!(true));
    f.write("config/keys", json!({"disable_upsert": true}))
        .await;
    let msg = f
        .fails("encrypt/other", json!({"plaintext": b64(b"x")}))
        .await;
    assert!(msg.contains("encryption key not found"));
    // Convergent encryption: the same plaintext and context give the same ciphertext.
    f.write(
        "keys/conv",
        json!({"derived": true, "convergent_encryption": true}),
    )
    .await;
    let body = json!({"plaintext": b64(b"same"), "context": b64(b"ctx")});
    let a = f.write("encrypt/conv", body.clone()).await;
    let b = f.write("encrypt/conv", body).await;
    assert_eq!(a["ciphertext"], b["ciphertext"]);
    let msg = f
        .fails("encrypt/conv", json!({"plaintext": b64(b"same")}))
        .await;
    assert!(msg.contains("missing 'context'"), "{msg}");
}

#[tokio::test]
async fn keys_rotate_by_themselves_when_their_period_passes() {
    let f = Fixture::new();
    f.write("keys/auto", json!({"auto_rotate_period": "1h"}))
        .await;
    let now = SystemTime::now();
    let soon = f
        .call_at(
            Operation::Read,
            "keys/auto",
            json!({}),
            now + Duration::from_secs(1800),
        )
        .await
        .unwrap();
    assert_eq!(soon.data.unwrap()["latest_version"], 1);
    let later = f
        .call_at(
            Operation::Read,
            "keys/auto",
            json!({}),
            now + Duration::from_secs(3700),
        )
        .await
        .unwrap();
    assert_eq!(later.data.unwrap()["latest_version"], 2);
}

#[tokio::test]
async fn trim_delete_export_and_debug() {
    let f = Fixture::new();
    f.write("keys/k", json!({"exportable": true})).await;
    f.write("keys/k/rotate", json!({})).await;
    f.write("keys/k/rotate", json!({})).await;
    f.write(
        "keys/k/config",
        json!({"min_decryption_version": 2, "min_encryption_version": 3}),
    )
    .await;
    let trimmed = f
        .write("keys/k/trim", json!({"min_available_version": 2}))
        .await;
    assert_eq!(trimmed["min_available_version"], 2);
    let exported = f.read("export/encryption-key/k").await;
    let keys = exported["keys"].as_object().unwrap();
    assert_eq!(keys.keys().collect::<Vec<_>>(), ["2", "3"]);
    let material = keys["3"].as_str().unwrap().to_owned();
    let key = f.transit.cached("k").unwrap();
    let debug = format!("{key:?}");
    assert!(!debug.contains(&material), "Debug shows key material");
    // Public keys export without `exportable`; private material does not.
    f.write("keys/pub", json!({"type": "ecdsa-p256"})).await;
    let public = f.read("export/public-key/pub").await;
    assert!(
        public["keys"]["1"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
    assert!(matches!(
        f.call(Operation::Read, "export/signing-key/pub", json!({}))
            .await,
        Err(ApiError::BadRequest(_))
    ));
    f.write("keys/k/config", json!({"deletion_allowed": true}))
        .await;
    f.call(Operation::Delete, "keys/k", json!({}))
        .await
        .unwrap();
    assert!(matches!(
        f.call(Operation::Read, "keys/k", json!({})).await,
        Err(ApiError::NotFound)
    ));
}

#[test]
fn decimal_and_bytes_convert_both_ways() {
    assert_eq!(be_to_decimal(&[]), "0");
    assert_eq!(
        be_to_decimal(&[1, 0, 0, 0, 0, 0, 0, 0, 0]),
        "18446744073709551616"
    );
    assert_eq!(
        decimal_to_be("18446744073709551616").unwrap().as_slice(),
        &[1, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    assert!(decimal_to_be("12a").is_none());
    assert!(decimal_to_be("").is_none());
    let big: Vec<u8> = (1..=255u8).cycle().take(512).collect();
    let round = decimal_to_be(&be_to_decimal(&big)).unwrap();
    assert_eq!(round.as_slice(), &big[..]);
}

#[test]
fn key_names_follow_vaults_rule() {
    for ok in ["a", "my-key", "key.v2", "A_b"] {
        assert!(check_name(ok).is_ok(), "{ok}");
    }
    for bad in ["", "-a", "a-", "a/b", "..", "a b", &"x".repeat(300)] {
        assert!(check_name(bad).is_err(), "{bad}");
    }
}
