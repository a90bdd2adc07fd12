//! `sigil encode`, `decode` and `random`.

use std::fs;

use crate::support::{files_in, run, run_with_stdin, sigil};

#[test]
fn encodings_round_trip() {
    let data: Vec<u8> = (0u8..=255).collect();
    for enc in [
        "base64",
        "base64-nopad",
        "base64url",
        "base64url-nopad",
        "hex",
        "pem",
    ] {
        let text = run_with_stdin(sigil().args(["encode", "-e", enc]), &data).ok();
        let back = run_with_stdin(sigil().args(["decode", "-e", enc]), &text).ok();
        assert_eq!(back, data, "{enc}");
    }
    let text = run_with_stdin(sigil().args(["encode"]), b"foobar").ok();
    assert_eq!(text, b"Zm9vYmFy\n");
    // Wrapped input is fine.
    let back = run_with_stdin(sigil().args(["decode"]), b"Zm9v\nYmFy\n").ok();
    assert_eq!(back, b"foobar");
}

#[test]
fn bad_encodings_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.bin");
    for (enc, input) in [
        ("base64", &b"Zm9v!mFy"[..]),
        ("base64", b"Zm9vYmF"),
        ("base64-nopad", b"Zg=="),
        ("hex", b"abc"),
        ("hex", b"zz"),
        ("pem", b"-----BEGIN DATA-----\nZm9v\n"),
        ("base64", b""),
        ("base64", &[0xff, 0xfe][..]),
    ] {
        let r = run_with_stdin(sigil().args(["decode", "-e", enc, "-o"]).arg(&out), input);
        let msg = r.fails_with(3);
        assert!(!msg.is_empty(), "{enc}");
        assert!(files_in(dir.path()).is_empty(), "{enc}: output left behind");
    }
    let r = run_with_stdin(sigil().args(["decode", "-e", "rot13"]), b"x");
    assert!(r.fails_with(2).contains("unknown encoding"));
}

#[test]
fn oversized_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big");
    let f = fs::File::create(&big).unwrap();
    f.set_len(257 * 1024 * 1024).unwrap(); // sparse: no real disk use
    let r = run(sigil().arg("encode").arg(&big));
    assert!(r.fails_with(3).contains("limit"));
}

#[test]
fn random_bytes() {
    let a = run(sigil().args(["random"])).ok();
    let b = run(sigil().args(["random"])).ok();
    assert_eq!(a.len(), 65);
    assert_ne!(a, b);
    assert_eq!(
        run(sigil().args(["random", "16", "-e", "raw"])).ok().len(),
        16
    );
    let json = run(sigil().args(["random", "8", "--output-format", "json"])).ok();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["bytes"], 8);
    assert_eq!(v["value"].as_str().unwrap().len(), 16);
    run(sigil().args(["random", "0"])).fails_with(2);
    run(sigil().args(["random", "999999999999"])).fails_with(2);
}
