//! minisign signatures against Debian's minisign binary, both directions.

use std::fs;

use crate::support::{filler, run, sigil, tool, with_tty};

#[test]
fn sigil_minisign_signatures_verify_with_minisign() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("artifact.tar");
    fs::write(&file, filler(500_000, 3)).unwrap();
    // A minisign-format key made by Sigil, and a PKCS#8 Ed25519 key exported for minisign.
    let key = dir.path().join("release.key");
    run(sigil().args(["keygen", "minisign", "-o"]).arg(&key)).ok();
    let public = dir.path().join("release.key.pub");
    for legacy in [false, true] {
        let sig = dir.path().join("artifact.tar.minisig");
        let mut cmd = sigil();
        cmd.args(["sign", "--format", "minisign", "-k"]).arg(&key);
        if legacy {
            cmd.arg("--legacy");
        }
        run(cmd.arg(&file)).ok();
        let out = run(tool("minisign")
            .arg("-V")
            .arg("-p")
            .arg(&public)
            .arg("-m")
            .arg(&file))
        .ok();
        let out = String::from_utf8_lossy(&out);
        assert!(
            out.contains("Signature and comment signature verified"),
            "{out}"
        );
        assert!(out.contains("file:artifact.tar"), "{out}");
        // minisign refuses a changed file.
        let other = dir.path().join("other.tar");
        fs::write(&other, b"other").unwrap();
        fs::copy(&sig, dir.path().join("other.tar.minisig")).unwrap();
        let r = run(tool("minisign")
            .arg("-V")
            .arg("-p")
            .arg(&public)
            .arg("-m")
            .arg(&other));
        assert_ne!(r.code, 0);
    }
}

#[test]
fn minisign_signatures_verify_with_sigil() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("artifact.bin");
    fs::write(&file, filler(200_000, 4)).unwrap();
    let (pk, sk) = (dir.path().join("mini.pub"), dir.path().join("mini.key"));
    run(tool("minisign")
        .args(["-G", "-W", "-p"])
        .arg(&pk)
        .arg("-s")
        .arg(&sk))
    .ok();
    for legacy in [false, true] {
        let sig = dir.path().join("artifact.bin.minisig");
        let mut cmd = tool("minisign");
        cmd.arg("-S")
            .arg("-s")
            .arg(&sk)
            .arg("-m")
            .arg(&file)
            .args(["-t", "built by ci"]);
        if legacy {
            cmd.arg("-l");
        }
        run(&mut cmd).ok();
        let out = run(sigil()
            .args(["verify", "-k"])
            .arg(&pk)
            .arg("-s")
            .arg(&sig)
            .arg(&file))
        .ok();
        assert!(String::from_utf8_lossy(&out).contains("built by ci"));
        let tampered = dir.path().join("tampered.bin");
        let mut t = filler(200_000, 4);
        t[5] ^= 1;
        fs::write(&tampered, t).unwrap();
        run(sigil()
            .args(["verify", "-k"])
            .arg(&pk)
            .arg("-s")
            .arg(&sig)
            .arg(&tampered))
        .fails_with(1);
        // Sigil also signs with minisign's own secret key file.
        let ours = dir.path().join("ours.minisig");
        run(sigil()
            .args(["sign", "--format", "minisign", "-k"])
            .arg(&sk)
            .arg("-o")
            .arg(&ours)
            .arg(&file))
        .ok();
        run(tool("minisign")
            .arg("-V")
            .arg("-p")
            .arg(&pk)
            .arg("-m")
            .arg(&file)
            .arg("-x")
            .arg(&ours))
        .ok();
    }
}

#[test]
fn encrypted_minisign_keys_sign_with_the_password() {
    // `minisign -G` without -W asks for a password on the terminal and derives the key
    // encryption with scrypt at minisign's "sensitive" limits (1 GiB).
    let dir = tempfile::tempdir().unwrap();
    let (pk, sk) = (dir.path().join("enc.pub"), dir.path().join("enc.key"));
    let (pk_s, sk_s) = (pk.to_str().unwrap(), sk.to_str().unwrap());
    with_tty(
        "s3cret-passw0rd",
        2,
        &["minisign", "-G", "-p", pk_s, "-s", sk_s],
    )
    .ok();
    let file = dir.path().join("f.txt");
    fs::write(&file, b"signed with an encrypted key\n").unwrap();
    let pass = dir.path().join("pass.txt");
    fs::write(&pass, "s3cret-passw0rd\n").unwrap();
    run(sigil()
        .args(["sign", "--format", "minisign", "-k"])
        .arg(&sk)
        .arg("--passphrase-file")
        .arg(&pass)
        .arg(&file))
    .ok();
    run(tool("minisign")
        .arg("-V")
        .arg("-p")
        .arg(&pk)
        .arg("-m")
        .arg(&file))
    .ok();
    fs::write(&pass, "wrong\n").unwrap();
    let r = run(sigil()
        .args(["sign", "--format", "minisign", "-k"])
        .arg(&sk)
        .arg("--passphrase-file")
        .arg(&pass)
        .arg("-o")
        .arg(dir.path().join("never.minisig"))
        .arg(&file));
    assert!(r.fails_with(1).contains("wrong password"));
    assert!(!dir.path().join("never.minisig").exists());
}
