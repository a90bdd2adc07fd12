//! `sigil encrypt`/`decrypt` on bad input.

use std::fs;
use std::path::Path;

use crate::support::{files_in, filler, run, run_with_stdin, sigil};

struct Fixture {
    dir: tempfile::TempDir,
    key: std::path::PathBuf,
    ct: Vec<u8>,
    plain: Vec<u8>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.agekey");
    run(sigil().args(["keygen", "age", "-o"]).arg(&key)).ok();
    let recipient = fs::read_to_string(dir.path().join("k.agekey.pub")).unwrap();
    let plain = filler(200_000, 9);
    let ct = run_with_stdin(sigil().args(["encrypt", "-r", recipient.trim()]), &plain).ok();
    Fixture {
        dir,
        key,
        ct,
        plain,
    }
}

/// Decrypts `input` into `<dir>/out/plain.bin` and returns (exit code, stderr line), checking
/// that the output directory stays empty on failure.
fn decrypt_to_file(f: &Fixture, input: &[u8], key: &Path) -> (i32, String) {
    let out_dir = f.dir.path().join("out");
    fs::create_dir_all(&out_dir).unwrap();
    let ct = f.dir.path().join("in.age");
    fs::write(&ct, input).unwrap();
    let r = run(sigil()
        .arg("decrypt")
        .arg("-i")
        .arg(key)
        .arg("-o")
        .arg(out_dir.join("plain.bin"))
        .arg(&ct));
    if r.code == 0 {
        return (0, String::new());
    }
    assert!(
        files_in(&out_dir).is_empty(),
        "a failed decryption left {:?}",
        files_in(&out_dir)
    );
    let code = r.code;
    (code, r.fails_with(code))
}

#[test]
fn good_input_round_trips() {
    let f = fixture();
    let (code, _) = decrypt_to_file(&f, &f.ct, &f.key);
    assert_eq!(code, 0);
    assert_eq!(
        fs::read(f.dir.path().join("out/plain.bin")).unwrap(),
        f.plain
    );
}

#[test]
fn truncated_input_leaves_no_output() {
    let f = fixture();
    let header_end = f.ct.windows(4).position(|w| w == b"--- ").unwrap() + 48;
    for len in [
        f.ct.len() - 1,
        f.ct.len() - 16,
        f.ct.len() / 2,
        header_end + 16 + 100,
    ] {
        let (code, msg) = decrypt_to_file(&f, &f.ct[..len], &f.key);
        assert_eq!(code, 1, "truncated to {len}: {msg}");
        assert!(msg.contains("decryption failed"), "{msg}");
    }
    // Cut inside the header: the file is not even well-formed.
    let (code, msg) = decrypt_to_file(&f, &f.ct[..30], &f.key);
    assert_eq!(code, 3, "{msg}");
    assert!(msg.contains("age file"), "{msg}");
}

#[test]
fn flipped_bits_are_detected() {
    let f = fixture();
    let header_end = f.ct.windows(4).position(|w| w == b"--- ").unwrap();
    // In the header MAC, the payload nonce, the first chunk, and the final chunk.
    for at in [
        header_end + 6,
        header_end + 50,
        header_end + 200,
        f.ct.len() - 5,
    ] {
        let mut bad = f.ct.clone();
        bad[at] ^= 0x01;
        let (code, msg) = decrypt_to_file(&f, &bad, &f.key);
        assert_ne!(code, 0, "flip at {at} went unnoticed");
        assert!(
            msg.contains("decryption failed") || msg.contains("malformed"),
            "{msg}"
        );
    }
}

#[test]
fn wrong_key_is_refused() {
    let f = fixture();
    let other = f.dir.path().join("other.agekey");
    run(sigil().args(["keygen", "age", "-o"]).arg(&other)).ok();
    let (code, msg) = decrypt_to_file(&f, &f.ct, &other);
    assert_eq!(code, 1);
    assert!(msg.contains("none of the given identities"), "{msg}");
}

#[test]
fn wrong_format_empty_and_oversized_inputs() {
    let f = fixture();
    let (code, msg) = decrypt_to_file(&f, b"this is not an age file\n", &f.key);
    assert_eq!(code, 3, "{msg}");
    let (code, msg) = decrypt_to_file(&f, b"", &f.key);
    assert_eq!(code, 3, "{msg}");

    // An identity file that is not one, an empty one, and a huge one.
    for (name, contents) in [
        ("garbage.key", b"hello\n".to_vec()),
        ("empty.key", Vec::new()),
        ("huge.key", vec![b'#'; 2 * 1024 * 1024]),
    ] {
        let key = f.dir.path().join(name);
        fs::write(&key, contents).unwrap();
        let (code, msg) = decrypt_to_file(&f, &f.ct, &key);
        assert_eq!(code, 3, "{name}: {msg}");
    }

    // A recipient that is not one.
    let r = run(sigil().args(["encrypt", "-r", "age1bogus"]));
    let msg = r.fails_with(3);
    assert!(msg.contains("age recipient"), "{msg}");
    let r = run(sigil().args(["encrypt"]));
    r.fails_with(2);
}

#[test]
fn errors_never_echo_key_material() {
    let f = fixture();
    let secret = fs::read_to_string(&f.key).unwrap();
    let secret_line = secret
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap();
    // A damaged identity file: the message names the line, not its contents.
    let bad = f.dir.path().join("bad.key");
    fs::write(&bad, format!("{}X\n", secret_line)).unwrap();
    let (code, msg) = decrypt_to_file(&f, &f.ct, &bad);
    assert_eq!(code, 3);
    assert!(msg.contains("line 1"), "{msg}");
    assert!(!msg.contains(&secret_line[16..]), "{msg}");
}

#[test]
fn stdout_gets_nothing_when_the_stream_is_bad() {
    let f = fixture();
    let mut bad = f.ct.clone();
    let n = bad.len();
    bad[n - 3] ^= 0x80;
    let ct = f.dir.path().join("bad.age");
    fs::write(&ct, &bad).unwrap();
    let r = run(sigil().arg("decrypt").arg("-i").arg(&f.key).arg(&ct));
    assert!(
        r.stdout.is_empty(),
        "plaintext was released before authentication"
    );
    r.fails_with(1);
}

#[test]
fn passphrase_files_need_the_passphrase() {
    let f = fixture();
    let pass = f.dir.path().join("pass.txt");
    fs::write(&pass, "hunter2hunter2\n").unwrap();
    let ct = run_with_stdin(
        sigil()
            .args(["encrypt", "-p", "--passphrase-file"])
            .arg(&pass),
        b"x",
    )
    .ok();
    let wrong = f.dir.path().join("wrong.txt");
    fs::write(&wrong, "nope\n").unwrap();
    let r = run_with_stdin(
        sigil().args(["decrypt", "--passphrase-file"]).arg(&wrong),
        &ct,
    );
    assert!(r.stdout.is_empty());
    r.fails_with(1);
    // Given an identity for a passphrase file: a usage error that says what to do.
    let r = run_with_stdin(sigil().arg("decrypt").arg("-i").arg(&f.key), &ct);
    let msg = r.fails_with(2);
    assert!(msg.contains("passphrase"), "{msg}");
}
