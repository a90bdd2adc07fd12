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
}

impl Dev {
    /// A fresh dev server in a new temporary directory.
    pub(crate) fn start() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("sigil");
        let mut dev = Self::start_in(&dir);
        dev._tmp = Some(tmp);
        dev
    }

    /// A dev server on `dir` (reopening what is there).
    pub(crate) fn start_in(dir: &Path) -> Self {
        let mut child = support::sigil()
            .args(["dev", "--listen", "127.0.0.1:0", "--dir"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start sigil dev");
        wait_for_banner(&mut child);
        let env = read_env(&dir.join("env"));
        Self {
            child: Some(child),
            dir: dir.to_owned(),
            _tmp: None,
            env,
        }
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

/// Waits until the dev banner's address line appears on stdout (the server is serving then).
fn wait_for_banner(child: &mut Child) {
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.trim_start().starts_with("address:") {
                let _ = tx.send(());
            }
        }
    });
    if rx.recv_timeout(START_TIMEOUT).is_err() {
        let _ = child.kill();
        panic!("sigil dev did not start within {START_TIMEOUT:?}");
    }
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
