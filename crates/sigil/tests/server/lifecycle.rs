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

    // Edit one record: verify fails and names a line.
    let mut lines: Vec<&str> = log.lines().collect();
    let edited = lines[2]
        .replacen("\"update\"", "\"read\"", 1)
        .replacen("\"read\"", "\"list\"", 1);
    assert_ne!(edited, lines[2]);
    lines[2] = &edited;
    let tampered = dir.join("tampered.log");
    std::fs::write(&tampered, lines.join("\n") + "\n").unwrap();
    let verify = crate::support::sigil()
        .args(["audit", "verify"])
        .arg(&tampered)
        .output()
        .unwrap();
    assert_eq!(verify.status.code(), Some(1));
    let msg = String::from_utf8_lossy(&verify.stderr);
    assert!(msg.contains("line") || msg.contains("record"), "{msg}");
}

#[test]
fn sigkill_loses_no_acknowledged_write_and_storage_holds_no_plaintext() {
    let mut dev = Dev::start();
    // A writer that prints each key once the server acknowledged it; the server is killed
    // while it runs.
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/server/py/writer.py");
    let writer = crate::support::python()
        .arg(script)
        .envs(&dev.env)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    dev.kill();
    let out = writer.wait_with_output().unwrap();
    let acked: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(
        acked.len() > 5,
        "the writer got too few writes in: {}",
        acked.len()
    );

    let raw = std::fs::read(dev.dir.join("data/sigil.redb")).unwrap();
    assert!(
        !raw.windows(b"plaintext-marker".len())
            .any(|w| w == b"plaintext-marker"),
        "a secret value reached storage unencrypted"
    );

    let dir = dev.dir.clone();
    let again = Dev::start_in(&dir);
    let keys = acked.join(",");
    let check = again.python("reader.py", &[&keys]);
    assert_eq!(check.code, 0, "{}\n{}", check.stdout_str(), check.stderr);
}
