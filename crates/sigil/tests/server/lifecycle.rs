//! Restarts, crashes, the audit chain and encryption at rest, on real processes.

use std::process::Stdio;

use crate::harness::Dev;

#[test]
fn restart_keeps_data_and_the_audit_chain_verifies() {
    let mut dev = Dev::start();
    dev.sigil(&["kv", "put", "secret/app", "password=correct-horse-battery"])
        .ok();
    let token = dev.token().to_owned();
    dev.stop();

    let dir = dev.dir.clone();
    let again = Dev::start_in(&dir);
    assert_eq!(again.token(), token, "the root token survives a restart");
    let out = again.sigil(&["kv", "get", "secret/app"]).ok();
    assert!(String::from_utf8_lossy(&out).contains("correct-horse-battery"));
    drop(again);

    // The audit log holds HMACs, not the secret or the token, and its chain is intact.
    let log_path = dir.join("audit.log");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("hmac-sha256:"), "{log}");
    assert!(
        !log.contains("correct-horse-battery"),
        "secret in the audit log"
    );
    assert!(!log.contains(&token), "token in the audit log");
    let verify = crate::support::sigil()
        .args(["audit", "verify"])
        .arg(&log_path)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );

    // Edit, delete, insert and swap records: verify fails (exit 1) at the right line.
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines.len() > 6, "{} records", lines.len());
    let edited = lines[2].replacen("\"type\":\"request\"", "\"type\":\"requesT\"", 1);
    let edited = if edited == lines[2] {
        lines[2].replacen("\"type\":\"response\"", "\"type\":\"responsE\"", 1)
    } else {
        edited
    };
    assert_ne!(edited, lines[2]);
    let join = |v: Vec<&str>| v.join("\n") + "\n";
    let mut edit = lines.clone();
    edit[2] = &edited;
    let mut delete = lines.clone();
    delete.remove(3);
    let mut insert = lines.clone();
    insert.insert(3, lines[1]);
    let mut swap = lines.clone();
    swap.swap(3, 4);
    let cases = [
        ("edited", join(edit), "line 4"),
        ("deleted", join(delete), "line 4"),
        ("inserted", join(insert), "line 4"),
        ("swapped", join(swap), "line 4"),
    ];
    for (what, text, at) in cases {
        let tampered = dir.join(format!("{what}.log"));
        std::fs::write(&tampered, text).unwrap();
        let verify = crate::support::sigil()
            .args(["audit", "verify"])
            .arg(&tampered)
            .output()
            .unwrap();
        assert_eq!(verify.status.code(), Some(1), "{what}");
        let msg = String::from_utf8_lossy(&verify.stderr);
        assert!(msg.contains(at), "{what}: {msg}");
    }
}

#[test]
fn sigkill_loses_no_acknowledged_write_and_the_audit_chain_survives() {
    let mut dev = Dev::start();
    let dir = dev.dir.clone();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/server/py/writer.py");
    let mut acked: Vec<String> = Vec::new();
    for round in 0..3 {
        if round > 0 {
            dev.restart();
        }
        // A writer that prints each key once the server acknowledged it; the server is
        // killed with SIGKILL at a pseudo-random moment while it runs.
        let writer = crate::support::python()
            .arg(&script)
            .arg(round.to_string())
            .envs(&dev.env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        std::thread::sleep(std::time::Duration::from_millis(
            1000 + u64::from(nanos % 1500),
        ));
        dev.kill();
        let out = writer.wait_with_output().unwrap();
        let got: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        assert!(
            got.len() > 3,
            "round {round}: too few writes got in: {} ({})",
            got.len(),
            String::from_utf8_lossy(&out.stderr)
        );
        acked.extend(got);
    }

    let raw = std::fs::read(dir.join("data/sigil.redb")).unwrap();
    assert!(
        !raw.windows(b"plaintext-marker".len())
            .any(|w| w == b"plaintext-marker"),
        "a secret value reached storage unencrypted"
    );

    dev.restart();
    let keys = acked.join(",");
    let check = dev.python("reader.py", &[&keys]);
    assert_eq!(check.code, 0, "{}\n{}", check.stdout_str(), check.stderr);
    dev.stop();
    let verify = crate::support::sigil()
        .args(["audit", "verify"])
        .arg(dir.join("audit.log"))
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "audit chain after SIGKILLs: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
}
