//! One node agent with 1,000 workload entries: a real `sigil dev` server and a real
//! `sigil agent run` process (the release binary). Measures the time from the agent's start
//! until it holds an SVID for every entry (attestation, the sync, 1,000 keys made on the
//! node, 1,000 CSRs signed by the server), the server's signing rate within that sync, and
//! the agent's resident memory with the 1,000 SVIDs cached. Prints figures only; it asserts
//! nothing about time.
//!
//!   cargo bench -p sigil --bench agent_entries
//!   SIGIL_BENCH_ENTRIES=5000 cargo bench -p sigil --bench agent_entries

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark")]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::json;
use sigil_client::Client;
use sigil_core::SecretString;

/// A child process killed on drop.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sigil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sigil"))
}

/// Starts `sigil dev` in `dir`; returns it and its env file's variables.
fn dev(dir: &Path) -> (Process, BTreeMap<String, String>) {
    let mut child = sigil()
        .args(["dev", "--listen", "127.0.0.1:0", "--dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("Ctrl-C stops the server") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("sigil dev started");
    let env = std::fs::read_to_string(dir.join("env")).unwrap();
    let vars = env
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    (Process(child), vars)
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The resident set of `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let n: usize = std::env::var("SIGIL_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let tmp = tempfile::tempdir().unwrap();
    let (_server, env) = dev(&tmp.path().join("dev"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = Client::new(&env["SIGIL_ADDR"], Some(Path::new(&env["SIGIL_CACERT"])))
        .unwrap()
        .with_token(SecretString::new(env["SIGIL_TOKEN"].clone()));
    let uid = std::fs::metadata("/proc/self").unwrap().uid();
    let node = "spiffe://sigil.internal/node/bench";
    let token = runtime.block_on(async {
        let registering = Instant::now();
        for i in 0..n {
            client
                .write(
                    "spiffe/entry",
                    &json!({"spiffe_id": format!("spiffe://sigil.internal/bench/w{i}"),
                            "parent_id": node,
                            "selectors": [format!("unix:uid:{uid}")]}),
                )
                .await
                .unwrap();
        }
        println!(
            "registered {n} entries in {:.2}s",
            registering.elapsed().as_secs_f64()
        );
        let t = client
            .write("spiffe/token", &json!({"spiffe_id": node}))
            .await
            .unwrap();
        t.data()["token"].as_str().unwrap().to_owned()
    });

    let started = Instant::now();
    let mut agent = sigil()
        .args([
            "agent",
            "run",
            "--sync-interval",
            "1",
            "--join-token",
            &token,
        ])
        .arg("--socket")
        .arg(tmp.path().join("agent.sock"))
        .arg("--data-dir")
        .arg(tmp.path().join("agent"))
        .env("SIGIL_ADDR", &env["SIGIL_ADDR"])
        .env("SIGIL_CACERT", &env["SIGIL_CACERT"])
        .env("SIGIL_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = agent.stderr.take().unwrap();
    let agent = Process(agent);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            // tracing's text format: `... SVIDs issued issued=1000 identities=1000`, maybe
            // with colour codes around the field names.
            let line = strip_ansi(&line);
            let count = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("identities="))
                .and_then(|v| {
                    v.trim_matches(|c: char| !c.is_ascii_digit())
                        .parse::<usize>()
                        .ok()
                });
            if let Some(c) = count {
                let _ = tx.send((c, Instant::now()));
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(300);
    let all = loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok((c, at)) if c >= n => break at,
            Ok(_) => {}
            Err(_) => panic!("the agent did not hold {n} SVIDs within 300 s"),
        }
    };
    let took = all.duration_since(started).as_secs_f64();
    // Let the allocator settle, then read the resident set with every SVID cached.
    std::thread::sleep(Duration::from_secs(3));
    let rss = rss_kib(agent.0.id());
    println!(
        "agent start to {n} SVIDs held: {took:.2}s ({:.0} SVIDs/s end to end, attestation included)",
        n as f64 / took
    );
    println!(
        "agent RSS with {n} SVIDs cached: {:.1} MiB (goal <= 30 MiB)",
        rss as f64 / 1024.0
    );
}
