//! `sigil keygen`, `sign` and `verify`: every key type, and bad input of every kind.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::support::{files_in, filler, run, sigil};

const TYPES: [&str; 9] = [
    "ed25519",
    "ecdsa-p256",
    "ecdsa-p384",
    "rsa-2048",
    "rsa-3072",
    "rsa-4096",
    "x25519",
    "age",
    "minisign",
];

#[test]
fn keygen_writes_private_0600_and_public() {
    let dir = tempfile::tempdir().unwrap();
    for t in TYPES {
        let key = dir.path().join(format!("{t}.key"));
        let out = run(sigil()
            .args(["keygen", t, "--output-format", "json", "-o"])
            .arg(&key))
        .ok();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["type"], t);
        let mode = fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{t}");
        let public = fs::read_to_string(dir.path().join(format!("{t}.key.pub"))).unwrap();
        let private = fs::read_to_string(&key).unwrap();
        assert!(!public.is_empty() && !private.is_empty());
        assert!(
            !public.contains("PRIVATE") && !public.contains("SECRET"),
            "{t}: {public}"
        );
        // Existing files are kept unless --force.
        let r = run(sigil().args(["keygen", t, "-o"]).arg(&key));
        assert!(r.fails_with(4).contains("already exists"));
        assert_eq!(fs::read_to_string(&key).unwrap(), private);
    }
    let jwk = dir.path().join("k.jwk");
    run(sigil()
        .args(["keygen", "ecdsa-p256", "--format", "jwk", "-o"])
        .arg(&jwk))
    .ok();
    let v: serde_json::Value = serde_json::from_slice(&fs::read(&jwk).unwrap()).unwrap();
    assert_eq!(v["kty"], "EC");
    assert!(v["d"].is_string());
    let p: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("k.jwk.pub")).unwrap()).unwrap();
    assert!(p.get("d").is_none());
    assert_eq!(p["kid"], v["kid"]);
}

#[test]
fn sign_and_verify_round_trip_for_every_signing_type() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.bin");
    fs::write(&file, filler(100_000, 1)).unwrap();
    for t in ["ed25519", "ecdsa-p256", "ecdsa-p384", "rsa-2048"] {
        let key = dir.path().join(format!("{t}.key"));
        run(sigil().args(["keygen", t, "-o"]).arg(&key)).ok();
        let sig = dir.path().join(format!("{t}.sig"));
        run(sigil()
            .args(["sign", "-k"])
            .arg(&key)
            .arg("-o")
            .arg(&sig)
            .arg(&file))
        .ok();
        let public = dir.path().join(format!("{t}.key.pub"));
        let out = run(sigil()
            .args(["verify", "--output", "json", "-k"])
            .arg(&public)
            .arg("-s")
            .arg(&sig)
            .arg(&file))
        .ok();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["valid"], true, "{t}");
    }
    // Default output name: FILE.sig, and FILE.minisig for minisign.
    let key = dir.path().join("ed25519.key");
    run(sigil().args(["sign", "-k"]).arg(&key).arg(&file)).ok();
    assert!(dir.path().join("data.bin.sig").exists());
    run(sigil()
        .args(["sign", "--format", "minisign", "-k"])
        .arg(&key)
        .arg(&file))
    .ok();
    run(sigil()
        .args(["verify", "-k"])
        .arg(dir.path().join("ed25519.key.pub"))
        .arg("-s")
        .arg(dir.path().join("data.bin.minisig"))
        .arg(&file))
    .ok();
}

#[test]
fn verify_refuses_bad_signatures_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.bin");
    fs::write(&file, b"important").unwrap();
    let key = dir.path().join("k.key");
    run(sigil().args(["keygen", "ecdsa-p256", "-o"]).arg(&key)).ok();
    let public = dir.path().join("k.key.pub");
    let sig_path = dir.path().join("data.bin.sig");
    run(sigil().args(["sign", "-k"]).arg(&key).arg(&file)).ok();
    let sig = fs::read(&sig_path).unwrap();
    let other = dir.path().join("other.key");
    run(sigil().args(["keygen", "ecdsa-p256", "-o"]).arg(&other)).ok();
    let age_key = dir.path().join("a.key");
    run(sigil().args(["keygen", "age", "-o"]).arg(&age_key)).ok();

    let check = |sig_bytes: &[u8], key: &std::path::Path, code: i32| {
        let s = dir.path().join("candidate.sig");
        fs::write(&s, sig_bytes).unwrap();
        run(sigil()
            .args(["verify", "-k"])
            .arg(key)
            .arg("-s")
            .arg(&s)
            .arg(&file))
        .fails_with(code)
    };
    let mut flipped = sig.clone();
    flipped[10] ^= 1;
    check(&flipped, &public, 1);
    check(&sig[..sig.len() - 1], &public, 1);
    check(b"", &public, 1);
    check(&vec![0u8; 100 * 1024], &public, 3);
    check(&sig, &dir.path().join("other.key.pub"), 1);
    let msg = check(&sig, &age_key, 3);
    assert!(msg.contains("public key"), "{msg}");
    check(b"untrusted comment: x\nnot a signature\n", &public, 3);
    // A changed file.
    fs::write(&file, b"importanT").unwrap();
    run(sigil()
        .args(["verify", "-k"])
        .arg(&public)
        .arg("-s")
        .arg(&sig_path)
        .arg(&file))
    .fails_with(1);
    // Scheme mismatch is a usage error.
    run(sigil()
        .args(["verify", "--scheme", "ed25519", "-k"])
        .arg(&public)
        .arg("-s")
        .arg(&sig_path)
        .arg(&file))
    .fails_with(2);
}

#[test]
fn sign_refuses_unusable_keys_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.bin");
    fs::write(&file, b"x").unwrap();
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    let x = dir.path().join("x.key");
    run(sigil().args(["keygen", "x25519", "-o"]).arg(&x)).ok();
    let garbage = dir.path().join("garbage.key");
    fs::write(
        &garbage,
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let empty = dir.path().join("empty.key");
    fs::write(&empty, b"").unwrap();
    for (key, code) in [(&x, 2), (&garbage, 3), (&empty, 3)] {
        run(sigil()
            .args(["sign", "-k"])
            .arg(key)
            .arg("-o")
            .arg(out.join("s.sig"))
            .arg(&file))
        .fails_with(code);
    }
    run(sigil()
        .args(["sign", "-k"])
        .arg(dir.path().join("missing.key"))
        .arg(&file))
    .fails_with(4);
    let rsa = dir.path().join("r.key");
    run(sigil().args(["keygen", "rsa-2048", "-o"]).arg(&rsa)).ok();
    run(sigil()
        .args(["sign", "--format", "minisign", "-k"])
        .arg(&rsa)
        .arg("-o")
        .arg(out.join("s.minisig"))
        .arg(&file))
    .fails_with(2);
    assert!(files_in(&out).is_empty());
}
