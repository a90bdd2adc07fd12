//! Argon2id PHC strings against the reference implementation: vectors made by argon2-cffi
//! (the reference C code) verify here, and hashes made here verify with argon2-cffi.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::path::PathBuf;
use std::process::Command;

use sigil_core::SecretBytes;
use sigil_core::password::{Params, PasswordHasher, Pepper};

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/argon2")
}

#[derive(serde::Deserialize)]
struct Vector {
    password: String,
    pepper: Option<String>,
    phc: String,
}

fn vectors() -> Vec<Vector> {
    serde_json::from_slice(&std::fs::read(vectors_dir().join("vectors.json")).unwrap()).unwrap()
}

#[test]
fn reference_vectors_verify() {
    for v in vectors() {
        let mut h = PasswordHasher::new(Params::default()).unwrap();
        if let Some(p) = &v.pepper {
            h = h.with_unnamed_pepper(SecretBytes::copy_from(p.as_bytes()));
        }
        assert!(
            h.verify(&v.phc, v.password.as_bytes()).unwrap(),
            "{}",
            v.phc
        );
        assert!(!h.verify(&v.phc, b"wrong password").unwrap(), "{}", v.phc);
        if v.pepper.is_some() {
            let unpeppered = PasswordHasher::new(Params::default()).unwrap();
            assert!(!unpeppered.verify(&v.phc, v.password.as_bytes()).unwrap());
            let wrong = PasswordHasher::new(Params::default())
                .unwrap()
                .with_unnamed_pepper(SecretBytes::copy_from(b"not the pepper"));
            assert!(!wrong.verify(&v.phc, v.password.as_bytes()).unwrap());
        }
    }
}

/// Runs the argon2-cffi oracle; returns its exit status and output.
fn oracle(args: &[&str]) -> (bool, String) {
    let python = std::env::var("SIGIL_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .arg(vectors_dir().join("argon2_oracle.py"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError"),
        "argon2-cffi is not installed for {python}: run scripts/test.sh, which installs it"
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    )
}

#[test]
fn our_hashes_verify_with_argon2_cffi() {
    let plain = PasswordHasher::new(Params::default()).unwrap();
    let phc = plain.hash(b"correct horse").unwrap();
    assert_eq!(
        oracle(&["verify", &phc, "correct horse"]),
        (true, "True".into())
    );
    let (ok, _) = oracle(&["verify", &phc, "wrong horse"]);
    assert!(!ok, "argon2-cffi accepted a wrong password");

    let peppered = PasswordHasher::new(Params::default())
        .unwrap()
        .with_pepper(Pepper::new("v1", SecretBytes::copy_from(b"pepper-v1-sixteen")).unwrap());
    let phc = peppered.hash(b"correct horse").unwrap();
    assert_eq!(
        oracle(&[
            "verify_peppered",
            &phc,
            "correct horse",
            "pepper-v1-sixteen"
        ]),
        (true, "True".into())
    );
    let (ok, _) = oracle(&["verify_peppered", &phc, "correct horse", "pepper-v2"]);
    assert!(!ok);
}

#[test]
fn argon2_cffi_hashes_verify_here() {
    let (ok, phc) = oracle(&["hash", "tr0ub4dor&3"]);
    assert!(ok);
    let h = PasswordHasher::new(Params::default()).unwrap();
    assert!(h.verify(&phc, b"tr0ub4dor&3").unwrap(), "{phc}");
    assert!(
        !h.needs_rehash(&phc).unwrap(),
        "same parameters as ours: {phc}"
    );
    let (ok, phc) = oracle(&["hash", "tr0ub4dor&3", "pepper-x"]);
    assert!(ok);
    let h = h.with_unnamed_pepper(SecretBytes::copy_from(b"pepper-x"));
    assert!(h.verify(&phc, b"tr0ub4dor&3").unwrap());
}
