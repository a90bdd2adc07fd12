//! Starts and stops real `sigil dev` and `sigil server` processes for the server suite, and
//! runs the peer clients (hvac, the `bao` CLI) against them.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::{self, Run};

/// How long a server gets to start.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `sigil dev` in its own directory, stopped on drop.
pub(crate) struct Dev {
    child: Option<Child>,
    pub(crate) dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub(crate) env: BTreeMap<String, String>,
    /// The banner's lines.
    pub(crate) banner: Vec<String>,
}

impl Dev {
    /// A fresh dev server in a new temporary directory.
    pub(crate) fn start() -> Self {
        Self::start_with(&[])
    }

    /// A fresh dev server in a new temporary directory, with more `sigil dev` flags.
    pub(crate) fn start_with(args: &[&str]) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("sigil");
        let mut dev = Self::launch(&dir, args);
        dev._tmp = Some(tmp);
        dev
    }

    /// A dev server on `dir` (reopening what is there).
    pub(crate) fn start_in(dir: &Path) -> Self {
        Self::launch(dir, &[])
    }

    fn launch(dir: &Path, args: &[&str]) -> Self {
        let mut child = support::sigil()
            .args(["dev", "--listen", "127.0.0.1:0", "--dir"])
            .arg(dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start sigil dev");
        let banner = wait_for_banner(&mut child);
        let env = read_env(&dir.join("env"));
        Self {
            child: Some(child),
            dir: dir.to_owned(),
            _tmp: None,
            env,
            banner,
        }
    }

    /// The value of the banner line starting with `label` (e.g. `SPIFFE bundle endpoint:`).
    pub(crate) fn banner_value(&self, label: &str) -> String {
        self.banner
            .iter()
            .find_map(|l| l.trim_start().strip_prefix(label))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("no {label:?} in the banner: {:?}", self.banner))
    }

    pub(crate) fn token(&self) -> &str {
        &self.env["SIGIL_TOKEN"]
    }

    /// Starts the server again on the same directory (after `stop` or `kill`).
    pub(crate) fn restart(&mut self) {
        self.kill();
        let again = Self::start_in(&self.dir);
        let mut again = std::mem::ManuallyDrop::new(again);
        self.child = again.child.take();
        self.env = std::mem::take(&mut again.env);
    }

    /// Stops the server with SIGTERM (bounded wait, then SIGKILL).
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            for _ in 0..200 {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server with SIGKILL: no shutdown code runs.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Runs a Python test script (from tests/server/py) with the server's environment.
    pub(crate) fn python(&self, script: &str, args: &[&str]) -> Run {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/server/py")
            .join(script);
        let mut cmd = support::python();
        cmd.arg(path).args(args).envs(&self.env);
        support::run(&mut cmd)
    }

    /// Runs the real `bao` CLI against the server.
    pub(crate) fn bao(&self, args: &[&str]) -> Run {
        let bin = std::env::var("SIGIL_TEST_BAO")
            .expect("SIGIL_TEST_BAO is not set: run scripts/test.sh, which installs the bao CLI");
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.dir)
            .envs(self.env.iter().filter(|(k, _)| k.starts_with("BAO_")));
        support::run(&mut cmd)
    }

    /// Runs the `sigil` CLI with the server's environment.
    pub(crate) fn sigil(&self, args: &[&str]) -> Run {
        let mut cmd = support::sigil();
        cmd.args(args)
            .envs(self.env.iter().filter(|(k, _)| k.starts_with("SIGIL_")));
        support::run(&mut cmd)
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until the dev banner's last line (`... Ctrl-C stops the server.`) appears on stdout
/// (the server is serving then); returns the banner's lines.
fn wait_for_banner(child: &mut Child) -> Vec<String> {
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut banner = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let last = line.contains("Ctrl-C stops the server");
            banner.push(line);
            if last {
                let _ = tx.send(std::mem::take(&mut banner));
            }
        }
    });
    rx.recv_timeout(START_TIMEOUT).unwrap_or_else(|_| {
        let _ = child.kill();
        panic!("sigil dev did not start within {START_TIMEOUT:?}");
    })
}

/// Parses `export K=V` lines.
pub(crate) fn read_env(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).expect("env file");
    text.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// How long an OpenBao dev server gets to answer its health check.
const BAO_START_TIMEOUT: Duration = Duration::from_secs(30);

/// A real OpenBao dev server (`$SIGIL_TEST_BAO server -dev`) on a free local port, in its own
/// temporary directory, killed on drop. Scripts run against it prove that they encode what
/// OpenBao does, before they judge Sigil.
pub(crate) struct OpenBao {
    child: Child,
    dir: tempfile::TempDir,
    pub(crate) addr: String,
    pub(crate) token: String,
    /// The CA of the server's TLS certificate (`-dev-tls`), or empty on plain HTTP.
    cacert: String,
}

impl OpenBao {
    /// Starts a dev server with root token `root` and waits (bounded) until
    /// `GET /v1/sys/health` answers 200. A server that exits at once (another process took
    /// its port between our probe and its bind) is started again on another port, at most
    /// three times.
    pub(crate) fn start() -> Self {
        Self::start_with(false)
    }

    /// As [`OpenBao::start`], listening on TLS (`-dev-tls`, its own CA), so that clients can
    /// present certificates (the `cert` auth method).
    pub(crate) fn start_tls() -> Self {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> Self {
        let mut last_log = String::new();
        for _ in 0..3 {
            match Self::try_start(tls) {
                Ok(bao) => return bao,
                Err(log) => last_log = log,
            }
        }
        panic!("bao server -dev exited three times; last output:\n{last_log}");
    }

    /// One start; `Err` with the server's output when it exited before answering.
    fn try_start(tls: bool) -> Result<Self, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port_pair();
        let log = std::fs::File::create(dir.path().join("bao.log")).expect("bao log");
        let mut args = vec![
            "server".to_owned(),
            "-dev".to_owned(),
            "-dev-root-token-id=root".to_owned(),
            format!("-dev-listen-address=127.0.0.1:{port}"),
        ];
        if tls {
            args.push("-dev-tls".to_owned());
            args.push(format!("-dev-tls-cert-dir={}", dir.path().display()));
        }
        let child = Command::new(bao_bin())
            .args(&args)
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("bao log"))
            .stderr(log)
            .spawn()
            .expect("start bao server -dev");
        let mut bao = Self {
            child,
            dir,
            addr: format!("{}://127.0.0.1:{port}", if tls { "https" } else { "http" }),
            token: "root".to_owned(),
            cacert: String::new(),
        };
        if tls {
            bao.cacert = dir_file(&bao.dir, "vault-ca.pem");
        }
        let deadline = std::time::Instant::now() + BAO_START_TIMEOUT;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = bao.child.try_wait() {
                return Err(bao.log());
            }
            let up = if tls {
                bao.tls_status_ok()
            } else {
                health_is_200(port)
            };
            if up {
                return Ok(bao);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "bao server -dev did not answer within {BAO_START_TIMEOUT:?}:\n{}",
            bao.log()
        );
    }

    /// Whether `bao status` over TLS says the server is up and unsealed (exit 0).
    fn tls_status_ok(&self) -> bool {
        Path::new(&self.cacert).exists()
            && Command::new(bao_bin())
                .args(["status", &format!("-address={}", self.addr)])
                .env("BAO_CACERT", &self.cacert)
                .env("VAULT_CACERT", &self.cacert)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    }

    /// What the server printed (for failure messages).
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("bao.log")).unwrap_or_default()
    }

    /// The environment the Python scripts read, naming this server as the one under test.
    pub(crate) fn env(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("SIGIL_ADDR".to_owned(), self.addr.clone()),
            ("SIGIL_TOKEN".to_owned(), self.token.clone()),
            ("SIGIL_CACERT".to_owned(), self.cacert.clone()),
        ])
    }

    /// The environment naming this server as the peer of a two-server script.
    pub(crate) fn peer_env(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("PEER_ADDR".to_owned(), self.addr.clone()),
            ("PEER_TOKEN".to_owned(), self.token.clone()),
            ("PEER_CACERT".to_owned(), self.cacert.clone()),
        ])
    }

    /// Runs a Python test script (from tests/server/py) against this server; `extra_env` is
    /// added to (and overrides) `env()`.
    pub(crate) fn python(&self, script: &str, extra_env: &BTreeMap<String, String>) -> Run {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/server/py")
            .join(script);
        let mut cmd = support::python();
        cmd.arg(path).envs(self.env()).envs(extra_env);
        support::run(&mut cmd)
    }

    /// Runs the `bao` CLI against this server.
    pub(crate) fn bao(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(bao_bin());
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("BAO_ADDR", &self.addr)
            .env("BAO_TOKEN", &self.token);
        support::run(&mut cmd)
    }
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bao_bin() -> String {
    std::env::var("SIGIL_TEST_BAO")
        .expect("SIGIL_TEST_BAO is not set: run scripts/test.sh, which installs the bao CLI")
}

/// A free local port whose successor is free too: a dev server also listens for cluster
/// traffic on the next port.
fn free_port_pair() -> u16 {
    for _ in 0..50 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("local addr").port();
        if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
    panic!("no two adjacent free ports on 127.0.0.1");
}

/// One plain-HTTP `GET /v1/sys/health`; true when it answers 200.
/// `name` inside `dir`, as a string.
fn dir_file(dir: &tempfile::TempDir, name: &str) -> String {
    dir.path().join(name).display().to_string()
}

fn health_is_200(port: u16) -> bool {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let request = "GET /v1/sys/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/1.1 200"
}

/// Asserts a Python suite exited 0 with `OK` as its last line.
#[track_caller]
pub(crate) fn passed(what: &str, out: &Run) {
    assert!(
        out.code == 0 && out.stdout_str().lines().last() == Some("OK"),
        "{what} failed:\n{}\n{}",
        out.stdout_str(),
        out.stderr
    );
}

/// The stdout of a `bao` run that must succeed.
#[track_caller]
pub(crate) fn bao_ok(run: Run) -> String {
    assert_eq!(
        run.code,
        0,
        "bao failed: {}\n{}",
        run.stdout_str(),
        run.stderr
    );
    String::from_utf8(run.stdout).expect("bao prints UTF-8")
}

/// The JSON a `bao -format=json` run that must succeed printed.
#[track_caller]
pub(crate) fn bao_json(run: Run) -> serde_json::Value {
    let out = bao_ok(run);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("bao printed non-JSON ({e}): {out}"))
}
