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

/// Starts `sigil server` with Shamir seals over plain HTTP on a free loopback port.
fn start_server(dir: &std::path::Path) -> (Server, u16) {
    let port = free_port();
    let config = dir.join("server.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\npath = \"{}\"\n[[listener]]\naddress = \"127.0.0.1:{port}\"\ntls_disable = true\n",
            dir.join("data").display()
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
    let server = Server(child);
    let mut up = false;
    for _ in 0..600 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(up, "sigil server did not start");
    (server, port)
}

#[test]
fn shamir_init_unseal_seal_over_plain_loopback_http() {
    let tmp = tempfile::tempdir().unwrap();
    let (_server, port) = start_server(tmp.path());
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

#[test]
fn bao_operator_init_unseal_login_and_status() {
    let tmp = tempfile::tempdir().unwrap();
    let (_server, port) = start_server(tmp.path());
    let bao = |args: &[&str]| {
        let bin = std::env::var("SIGIL_TEST_BAO").expect("SIGIL_TEST_BAO (run scripts/test.sh)");
        let mut cmd = std::process::Command::new(bin);
        cmd.args(args)
            .env_clear()
            .env("HOME", tmp.path())
            .env("BAO_ADDR", format!("http://127.0.0.1:{port}"));
        support::run(&mut cmd)
    };
    assert_eq!(
        bao(&["status"]).code,
        2,
        "sealed/uninitialized status exits 2"
    );
    let init = bao(&[
        "operator",
        "init",
        "-key-shares=3",
        "-key-threshold=2",
        "-format=json",
    ])
    .ok();
    let init: serde_json::Value = serde_json::from_slice(&init).unwrap();
    let keys: Vec<String> = init["unseal_keys_b64"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    let root = init["root_token"].as_str().unwrap().to_owned();
    bao(&["operator", "unseal", &keys[0]]).ok();
    assert_eq!(bao(&["status"]).code, 2, "still sealed after one share");
    bao(&["operator", "unseal", &keys[2]]).ok();
    bao(&["status"]).ok();
    bao(&["login", &root]).ok();
    let me = bao(&["token", "lookup", "-format=json"]).ok();
    let me: serde_json::Value = serde_json::from_slice(&me).unwrap();
    assert_eq!(me["data"]["policies"], serde_json::json!(["root"]));
    bao(&["secrets", "enable", "-path=secret", "kv-v2"]).ok();
    bao(&["kv", "put", "secret/x", "a=b"]).ok();
    bao(&["operator", "seal"]).ok();
    assert_eq!(bao(&["kv", "get", "secret/x"]).code, 2);
}
