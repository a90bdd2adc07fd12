//! `sigil server` with Shamir key shares: init, sealed answers, unseal, seal, and the
//! listener rules.

use std::net::TcpListener;
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::support;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn shamir_init_unseal_seal_over_plain_loopback_http() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = tmp.path().join("server.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\npath = \"{}\"\n[[listener]]\naddress = \"127.0.0.1:{port}\"\ntls_disable = true\n",
            tmp.path().join("data").display()
        ),
    )
    .unwrap();
    let child = support::sigil()
        .args(["server", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let _server = Server(child);
    let mut up = false;
    for _ in 0..600 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(up, "sigil server did not start");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/server/py/seal.py");
    let mut cmd = support::python();
    cmd.arg(script)
        .env("SIGIL_ADDR", format!("http://127.0.0.1:{port}"));
    let out = support::run(&mut cmd);
    assert!(
        out.code == 0 && out.stdout_str().contains("OK"),
        "seal suite failed:\n{}\n{}",
        out.stdout_str(),
        out.stderr
    );
}

#[test]
fn plain_http_off_loopback_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("server.toml");
    std::fs::write(
        &config,
        "[storage]\npath = \"/nonexistent\"\n[[listener]]\naddress = \"0.0.0.0:8200\"\ntls_disable = true\n",
    )
    .unwrap();
    let line =
        support::run(support::sigil().args(["server", "--config"]).arg(&config)).fails_with(2);
    assert!(line.contains("loopback"), "{line}");
}
