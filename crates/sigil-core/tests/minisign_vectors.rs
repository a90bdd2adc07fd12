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
