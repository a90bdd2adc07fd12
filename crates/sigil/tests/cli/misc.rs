//! `sigil hash`, `mac` and `password`.

use std::fs;

use crate::support::{run, run_with_stdin, sigil};

#[test]
fn hashes() {
    let out = run_with_stdin(sigil().args(["hash"]), b"abc").ok();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  -\n"
    );
    let out = run_with_stdin(
        sigil().args(["hash", "-a", "shake128", "--length", "4"]),
        b"",
    )
    .ok();
    assert_eq!(String::from_utf8(out).unwrap(), "7f9c2ba4  -\n");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    fs::write(&f, b"abc").unwrap();
    let out = run(sigil()
        .args(["hash", "--output", "json", "-a", "sha3-256", "-e", "base64"])
        .arg(&f))
    .ok();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v[0]["digest"],
        "Ophdp0/iJbIEXBcta9OQvYVfCG4+nVJbRr/iRRFDFTI="
    );
    run(sigil().args(["hash", "-a", "md5"]).arg(&f)).fails_with(2);
    run(sigil().args(["hash", "--length", "8"]).arg(&f)).fails_with(2);
    run(sigil().args(["hash"]).arg(dir.path().join("missing"))).fails_with(4);
}

#[test]
fn macs() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("mac.key");
    run(sigil().args(["random", "32", "-e", "raw", "-o"]).arg(&key)).ok();
    let tag = run_with_stdin(sigil().args(["mac", "-k"]).arg(&key), b"message").ok();
    let tag = String::from_utf8(tag).unwrap();
    assert_eq!(tag.trim().len(), 64);
    run_with_stdin(
        sigil()
            .args(["mac", "-k"])
            .arg(&key)
            .args(["--verify", tag.trim()]),
        b"message",
    )
    .ok();
    let msg = run_with_stdin(
        sigil()
            .args(["mac", "-k"])
            .arg(&key)
            .args(["--verify", tag.trim()]),
        b"messagE",
    )
    .fails_with(1);
    assert!(msg.contains("MAC does not match"));
    run_with_stdin(
        sigil()
            .args(["mac", "-k"])
            .arg(&key)
            .args(["--verify", "zz"]),
        b"m",
    )
    .fails_with(3);
    let short = dir.path().join("short.key");
    fs::write(&short, b"0123456789").unwrap();
    run_with_stdin(sigil().args(["mac", "-k"]).arg(&short), b"m").fails_with(3);
    // RFC 4231 test case 2 through a hex key file.
    let jefe = dir.path().join("jefe.hex");
    fs::write(&jefe, "4a6566654a6566654a6566654a656665\n").unwrap();
    let out = run_with_stdin(
        sigil()
            .args(["mac", "--key-encoding", "hex", "-k"])
            .arg(&jefe),
        b"abc",
    )
    .ok();
    assert_eq!(out.len(), 65);
}

#[test]
fn passwords() {
    let phc = run_with_stdin(sigil().args(["password", "hash"]), b"correct horse\n").ok();
    let phc = String::from_utf8(phc).unwrap().trim().to_owned();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    run_with_stdin(
        sigil().args(["password", "verify", &phc]),
        b"correct horse\n",
    )
    .ok();
    let msg = run_with_stdin(sigil().args(["password", "verify", &phc]), b"wrong\n").fails_with(1);
    assert!(msg.contains("does not match"));
    run_with_stdin(
        sigil().args(["password", "verify", "$argon2id$garbage"]),
        b"x\n",
    )
    .fails_with(3);

    let dir = tempfile::tempdir().unwrap();
    let pepper = dir.path().join("pepper");
    run(sigil()
        .args(["random", "32", "-e", "raw", "-o"])
        .arg(&pepper))
    .ok();
    let peppered = run_with_stdin(
        sigil()
            .args(["password", "hash", "--pepper-id", "p1", "--pepper-file"])
            .arg(&pepper),
        b"pw\n",
    )
    .ok();
    let peppered = String::from_utf8(peppered).unwrap().trim().to_owned();
    assert!(peppered.contains(",keyid="));
    // Without the pepper: an error naming the missing pepper, not a mismatch.
    let msg =
        run_with_stdin(sigil().args(["password", "verify", &peppered]), b"pw\n").fails_with(1);
    assert!(msg.contains("pepper"), "{msg}");
    let out = run_with_stdin(
        sigil()
            .args([
                "password",
                "verify",
                "--output",
                "json",
                "--pepper-id",
                "p2",
                "--pepper-file",
            ])
            .arg(&pepper)
            .arg("--old-pepper")
            .arg(format!("p1={}", pepper.display()))
            .arg(&peppered),
        b"pw\n",
    )
    .ok();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["needs_rehash"], true, "made under an older pepper");
}

#[test]
fn help_lists_exit_codes_and_examples() {
    let out = String::from_utf8(run(sigil().arg("--help")).ok()).unwrap();
    assert!(out.contains("Exit codes:"));
    assert!(out.contains("not encryption") || out.contains("NOT encryption"));
    for cmd in [
        "keygen", "encrypt", "decrypt", "sign", "verify", "hash", "mac", "encode", "decode",
        "random",
    ] {
        let out = String::from_utf8(run(sigil().args([cmd, "--help"])).ok()).unwrap();
        assert!(out.contains("Examples:"), "{cmd}");
    }
}
