//! age files: Debian `age` 1.1.1 (Go reference implementation) against `sigil encrypt`/`decrypt`.

use std::fs;

use crate::support::{filler, run, sigil, tool, vector, with_tty};

const PASSPHRASE: &str = "correct horse battery staple";

fn keypair(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, String) {
    let key = dir.join(name);
    run(tool("age-keygen").arg("-o").arg(&key)).ok();
    let recipient = run(tool("age-keygen").arg("-y").arg(&key)).ok();
    (key, String::from_utf8(recipient).unwrap().trim().to_owned())
}

#[test]
fn age_files_open_with_sigil() {
    let dir = tempfile::tempdir().unwrap();
    let (k1, r1) = keypair(dir.path(), "k1.txt");
    let (k2, r2) = keypair(dir.path(), "k2.txt");
    // Large enough for several 64 KiB chunks and a short final one.
    let plain = filler(300_001, 1);
    let pt = dir.path().join("plain.bin");
    fs::write(&pt, &plain).unwrap();

    // One recipient, binary.
    let one = dir.path().join("one.age");
    run(tool("age").args(["-r", &r1, "-o"]).arg(&one).arg(&pt)).ok();
    let out = run(sigil().arg("decrypt").arg("-i").arg(&k1).arg(&one)).ok();
    assert_eq!(out, plain);

    // Two recipients, armored; each identity opens it, to a file this time.
    let two = dir.path().join("two.age");
    run(tool("age")
        .args(["-r", &r1, "-r", &r2, "-a", "-o"])
        .arg(&two)
        .arg(&pt))
    .ok();
    for k in [&k1, &k2] {
        let dest = dir.path().join("two.out");
        run(sigil()
            .arg("decrypt")
            .arg("-i")
            .arg(k)
            .arg("-o")
            .arg(&dest)
            .arg(&two))
        .ok();
        assert_eq!(fs::read(&dest).unwrap(), plain);
    }

    // Passphrase: age only reads it from a terminal.
    let pp = dir.path().join("pp.age");
    let (pt_s, pp_s) = (pt.to_str().unwrap(), pp.to_str().unwrap());
    with_tty(PASSPHRASE, 2, &["age", "-p", "-o", pp_s, pt_s]).ok();
    let pfile = dir.path().join("pass.txt");
    fs::write(&pfile, format!("{PASSPHRASE}\n")).unwrap();
    let out = run(sigil()
        .arg("decrypt")
        .arg("--passphrase-file")
        .arg(&pfile)
        .arg(&pp))
    .ok();
    assert_eq!(out, plain);
}

#[test]
fn sigil_files_open_with_age() {
    let dir = tempfile::tempdir().unwrap();
    let (k1, r1) = keypair(dir.path(), "k1.txt");
    let (k2, r2) = keypair(dir.path(), "k2.txt");
    let plain = filler(200_000, 2);
    let pt = dir.path().join("plain.bin");
    fs::write(&pt, &plain).unwrap();

    let one = dir.path().join("one.age");
    run(sigil()
        .args(["encrypt", "-r", &r1, "-o"])
        .arg(&one)
        .arg(&pt))
    .ok();
    assert_eq!(
        run(tool("age").arg("-d").arg("-i").arg(&k1).arg(&one)).ok(),
        plain
    );

    // Several recipients, armored, from stdin via a recipients file.
    let rfile = dir.path().join("recipients.txt");
    fs::write(&rfile, format!("# team\n{r1}\n\n{r2}\n")).unwrap();
    let two = dir.path().join("two.age");
    let mut cmd = sigil();
    cmd.args(["encrypt", "-a", "-R"])
        .arg(&rfile)
        .arg("-o")
        .arg(&two)
        .stdin(fs::File::open(&pt).unwrap());
    let status = cmd.status().unwrap();
    assert!(status.success());
    assert!(
        fs::read_to_string(&two)
            .unwrap()
            .starts_with("-----BEGIN AGE ENCRYPTED FILE-----")
    );
    for k in [&k1, &k2] {
        assert_eq!(
            run(tool("age").arg("-d").arg("-i").arg(k).arg(&two)).ok(),
            plain
        );
    }

    // Passphrase.
    let pfile = dir.path().join("pass.txt");
    fs::write(&pfile, format!("{PASSPHRASE}\n")).unwrap();
    let pp = dir.path().join("pp.age");
    run(sigil()
        .args(["encrypt", "-p", "--passphrase-file"])
        .arg(&pfile)
        .arg("-o")
        .arg(&pp)
        .arg(&pt))
    .ok();
    let dest = dir.path().join("pp.out");
    let (pp_s, dest_s) = (pp.to_str().unwrap(), dest.to_str().unwrap());
    with_tty(PASSPHRASE, 1, &["age", "-d", "-o", dest_s, pp_s]).ok();
    assert_eq!(fs::read(&dest).unwrap(), plain);
}

#[test]
fn sigil_identities_work_with_age() {
    // `sigil keygen age` writes an identity file age reads, and a recipient age encrypts to.
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("me.agekey");
    run(sigil().args(["keygen", "age", "-o"]).arg(&key)).ok();
    let recipient = fs::read_to_string(dir.path().join("me.agekey.pub")).unwrap();
    let ct = dir.path().join("x.age");
    let pt = dir.path().join("x.txt");
    fs::write(&pt, b"to a sigil identity\n").unwrap();
    run(tool("age")
        .args(["-r", recipient.trim(), "-o"])
        .arg(&ct)
        .arg(&pt))
    .ok();
    assert_eq!(
        run(sigil().arg("decrypt").arg("-i").arg(&key).arg(&ct)).ok(),
        b"to a sigil identity\n"
    );
    assert_eq!(
        run(tool("age").arg("-d").arg("-i").arg(&key).arg(&ct)).ok(),
        b"to a sigil identity\n"
    );
}

#[test]
fn vendored_vectors_decrypt() {
    let plain = fs::read(vector("age/plain.txt")).unwrap();
    let cases = [
        ("age/single.age", "age/key1.txt", plain.clone()),
        ("age/multi.age.asc", "age/key1.txt", plain.clone()),
        ("age/multi.age.asc", "age/key2.txt", plain),
        (
            "age/from-pyrage.age",
            "age/key2.txt",
            b"made by pyrage\n".to_vec(),
        ),
    ];
    for (file, key, expected) in cases {
        let out = run(sigil()
            .arg("decrypt")
            .arg("-i")
            .arg(vector(key))
            .arg(vector(file)))
        .ok();
        assert_eq!(out, expected, "{file} with {key}");
    }
    let dir = tempfile::tempdir().unwrap();
    let pfile = dir.path().join("pass.txt");
    fs::write(&pfile, PASSPHRASE).unwrap();
    let out = run(sigil()
        .arg("decrypt")
        .arg("--passphrase-file")
        .arg(&pfile)
        .arg(vector("age/passphrase.age")))
    .ok();
    assert_eq!(out, b"passphrase payload\n");
}
