//! Helpers shared by the CLI test targets: running `sigil` and peer tools, vector paths.

#![allow(dead_code, reason = "each test target uses a different subset")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The `sigil` binary built for this test run.
pub(crate) fn sigil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sigil"))
}

/// A peer tool (age, openssl, minisign, ...). Panics with instructions when it is missing: the
/// interop suite must run against the real tools, never silently skip them.
pub(crate) fn tool(name: &str) -> Command {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{name}` is not installed: run scripts/test.sh, which installs the test peers"
    );
    Command::new(name)
}

/// The Python interpreter with the test-only packages (set by scripts/test.sh).
pub(crate) fn python() -> Command {
    Command::new(std::env::var("SIGIL_TEST_PYTHON").unwrap_or_else(|_| "python3".into()))
}

/// Runs `argv` on a pseudo-terminal, typing `secret` at each of `answers` passphrase prompts.
pub(crate) fn with_tty(secret: &str, answers: u32, argv: &[&str]) -> Run {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/pty_answer.py");
    let mut cmd = python();
    cmd.arg(script)
        .arg(secret)
        .arg(answers.to_string())
        .arg("--");
    cmd.args(argv);
    run(&mut cmd)
}

/// A vector file vendored under `tests/vectors/`.
pub(crate) fn vector(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(rel)
}

/// What a finished process left behind.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: String,
}

impl Run {
    /// Asserts success and returns stdout.
    #[track_caller]
    pub(crate) fn ok(self) -> Vec<u8> {
        assert_eq!(self.code, 0, "expected success, stderr: {}", self.stderr);
        self.stdout
    }

    /// Asserts the exit code and a one-line error on stderr; returns the line.
    #[track_caller]
    pub(crate) fn fails_with(self, code: i32) -> String {
        assert_eq!(
            self.code, code,
            "expected exit {code}, stderr: {}",
            self.stderr
        );
        let line = self.stderr.trim_end();
        assert!(!line.is_empty(), "no error message");
        assert_eq!(line.lines().count(), 1, "error must be one line: {line:?}");
        line.to_owned()
    }

    pub(crate) fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Runs a command to completion with stdin closed.
pub(crate) fn run(cmd: &mut Command) -> Run {
    run_with_stdin(cmd, &[])
}

/// Runs a command feeding `input` on stdin.
pub(crate) fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Run {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        // A command that exits early closes its stdin; that is not an error here.
        let _ = stdin.write_all(&input);
    });
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("wait");
    writer.join().expect("stdin writer");
    Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Deterministic pseudo-random bytes for large test inputs (not for keys).
pub(crate) fn filler(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The names of the files in `dir`.
pub(crate) fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
