//! What the audit log costs a request: `log_exchange` for a transit-encrypt-shaped request
//! (1 KiB of plaintext in, its ciphertext out) on one file device, as `sigil dev` runs it.
//! Two shapes: one caller at a time (every exchange is its own write) and 16 callers at once
//! (group commit). Prints wall time and process CPU per exchange; asserts nothing about time.
//!
//!   cargo bench -p sigil-server --bench audit_log
//!   SIGIL_BENCH_AUDIT_N=400000 cargo bench -p sigil-server --bench audit_log

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark")]

mod support;

/// The allocator the `sigil` binary runs with: records are built in fresh buffers.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value, json};
use sigil_core::{SecretBytes, SecretString, encoding};
use sigil_server::api::{Operation, Request, Response};
use sigil_server::audit::{AuditAuth, AuditBroker, AuditMount, DeviceConfig};

/// The records' inputs: an encrypt request with its caller and mount, and its response.
struct Exchange {
    auth: AuditAuth,
    req: Request,
    mount: AuditMount,
    resp: Response,
}

fn exchange() -> Exchange {
    let token = "hvs.CAESIJ2bench0token0of0the0right0length0and0shape0xx";
    let plaintext = encoding::base64_encode(&[0x5a; 1024]);
    let ciphertext = format!("vault:v1:{}", encoding::base64_encode(&[0xa5; 1024 + 28]));
    let mut req = Request::new(Operation::Update, "transit/encrypt/aes");
    req.id = "9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f".into();
    req.data = object(json!({ "plaintext": plaintext }));
    req.token = Some(SecretString::from(token.to_owned()));
    req.remote_addr = Some("127.0.0.1:40000".parse().unwrap());
    req.time = SystemTime::now();
    let auth = AuditAuth {
        client_token: Some(SecretString::from(token.to_owned())),
        accessor: "kR1bench0accessor0value0xx".into(),
        display_name: "token".into(),
        policies: vec!["root".into()],
        token_policies: vec!["root".into()],
        token_type: "service".into(),
        policy_results: Some((true, vec!["root".into()])),
        ..AuditAuth::default()
    };
    let mount = AuditMount {
        point: "transit/".into(),
        kind: "transit".into(),
        accessor: "transit_482eb182".into(),
        ..AuditMount::default()
    };
    let resp = Response {
        data: Some(object(
            json!({ "ciphertext": ciphertext, "key_version": 1 }),
        )),
        ..Response::default()
    };
    Exchange {
        auth,
        req,
        mount,
        resp,
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

/// This process's user + system CPU time, from `/proc/self/stat` (clock ticks of 10 ms).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // The fields after the parenthesised command name; utime and stime are 14th and 15th.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// Runs `n` exchanges split over `callers` tasks; prints µs of wall and CPU per exchange.
async fn run(broker: &Arc<AuditBroker>, ex: &Arc<Exchange>, callers: usize, n: usize) {
    let (wall, cpu) = (Instant::now(), cpu_time());
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let (broker, ex) = (Arc::clone(broker), Arc::clone(ex));
            tokio::spawn(async move {
                for _ in 0..n / callers {
                    broker
                        .log_exchange(&ex.auth, &ex.req, &ex.mount, Ok(&ex.resp))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    println!(
        "{callers:>2} caller(s): {:6.2} µs wall, {:6.2} µs CPU per exchange ({n} exchanges)",
        per(wall.elapsed()),
        per(cpu_time() - cpu),
    );
}

#[tokio::main]
async fn main() {
    let n = support::count("SIGIL_BENCH_AUDIT_N", 200_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let broker = Arc::new(AuditBroker::default());
    broker
        .enable(
            "file",
            DeviceConfig::file(&path),
            &SecretBytes::from(vec![7; 32]),
        )
        .unwrap();
    let ex = Arc::new(exchange());
    // Warm-up: the file's first pages and the allocator's.
    run(&broker, &ex, 1, n / 10).await;
    for callers in [1, 16] {
        run(&broker, &ex, callers, n).await;
    }
    let size = std::fs::metadata(&path).unwrap().len();
    println!("{} bytes of log per exchange", size / (n as u64 * 21 / 10));
}
