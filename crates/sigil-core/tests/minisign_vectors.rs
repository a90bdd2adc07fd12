//! minisign files made by Debian minisign 0.11: its public key, secret key and both signature
//! algorithms parse and verify here, and any change to them is caught.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::path::PathBuf;

use sigil_core::minisign::{
    MinisignAlgorithm, MinisignPublicKey, MinisignSecretKey, MinisignSignature, sign, verify,
};

fn read(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/minisign")
        .join(name);
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn minisign_signatures_verify() {
    let pk = MinisignPublicKey::from_text(&read("minisign.pub")).unwrap();
    assert_eq!(pk.key_id_hex(), "31B7CB23EEDAEC51");
    let message = read("artifact.txt");
    for (file, alg) in [
        ("artifact.txt.minisig", MinisignAlgorithm::Prehashed),
        ("artifact.txt.legacy.minisig", MinisignAlgorithm::Legacy),
    ] {
        let text = read(file);
        let sig = MinisignSignature::from_text(&text).unwrap();
        assert_eq!(sig.algorithm(), alg);
        verify(&pk, &sig, message.as_bytes()).unwrap();
        assert_eq!(MinisignSignature::from_text(&sig.to_text()).unwrap(), sig);
        assert!(verify(&pk, &sig, b"hello artifacT\n").is_err());
        // Every byte of the two base64 lines matters.
        let lines: Vec<&str> = text.lines().collect();
        for line in [1, 3] {
            for at in [0, 10, 40, lines[line].len() - 3] {
                let mut l = lines[line].as_bytes().to_vec();
                l[at] = if l[at] == b'A' { b'B' } else { b'A' };
                let mut edited = lines.clone();
                let l = String::from_utf8(l).unwrap();
                edited[line] = &l;
                if let Ok(bad) = MinisignSignature::from_text(&edited.join("\n")) {
                    assert!(
                        verify(&pk, &bad, message.as_bytes()).is_err(),
                        "line {line} at {at}"
                    );
                }
            }
        }
        let edited = text.replace("trusted comment: ", "trusted comment: x");
        let bad = MinisignSignature::from_text(&edited).unwrap();
        assert!(verify(&pk, &bad, message.as_bytes()).is_err());
    }
}

#[test]
fn minisign_secret_key_signs_for_its_public_key() {
    let sk = MinisignSecretKey::from_text(&read("minisign.key"), None).unwrap();
    let pk = MinisignPublicKey::from_text(&read("minisign.pub")).unwrap();
    assert_eq!(sk.public_key(), pk);
    let sig = sign(&sk, b"ours", "t", "u", MinisignAlgorithm::Prehashed).unwrap();
    verify(&pk, &sig, b"ours").unwrap();
}

/// Ed25519 is deterministic: the vendored secret key signing the same message with the same
/// comments reproduces minisign's files byte for byte.
#[test]
fn signatures_reproduce_minisigns_files_exactly() {
    let sk = MinisignSecretKey::from_text(&read("minisign.key"), None).unwrap();
    let message = read("artifact.txt");
    let untrusted = "signature from minisign secret key";
    let ed = sign(
        &sk,
        message.as_bytes(),
        "file:artifact.txt purpose:test",
        untrusted,
        MinisignAlgorithm::Prehashed,
    )
    .unwrap();
    assert_eq!(ed.to_text(), read("artifact.txt.minisig"));
    let legacy = sign(
        &sk,
        message.as_bytes(),
        "timestamp:1795400552\tfile:artifact.txt",
        untrusted,
        MinisignAlgorithm::Legacy,
    )
    .unwrap();
    assert_eq!(legacy.to_text(), read("artifact.txt.legacy.minisig"));
}

#[test]
fn password_protected_keys_from_minisign_open() {
    use sigil_core::SecretString;
    for (key, public, password) in [
        (
            "encrypted-lowmem.key",
            "encrypted-lowmem.pub",
            "tr0ub4dor&3",
        ),
        ("encrypted.key", "encrypted.pub", "correct horse battery"),
    ] {
        let text = read(key);
        assert!(MinisignSecretKey::is_encrypted(&text).unwrap());
        let sk = MinisignSecretKey::from_text(&text, Some(&SecretString::from(password))).unwrap();
        assert_eq!(
            sk.public_key(),
            MinisignPublicKey::from_text(&read(public)).unwrap()
        );
        assert!(MinisignSecretKey::from_text(&text, None).is_err());
        if key == "encrypted-lowmem.key" {
            // The 1 GiB key takes seconds per attempt; one wrong-password check is enough.
            let wrong = MinisignSecretKey::from_text(&text, Some(&SecretString::from("nope")));
            assert_eq!(wrong.unwrap_err(), sigil_core::Error::decryption());
        }
    }
}
