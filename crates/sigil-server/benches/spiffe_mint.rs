//! X509-SVID minting rate of the identity engine: SVIDs signed from agent-made keys (the
//! `x509/sign` path agents use, a CSR each) and minted with a server-made key (`x509/mint`),
//! on all cores, through the engine over the barrier-encrypted embedded store (minting
//! writes nothing). Prints figures only; it asserts nothing about time.
//!
//!   cargo bench -p sigil-server --bench spiffe_mint
//!   SIGIL_BENCH_MINT_N=20000 cargo bench -p sigil-server --bench spiffe_mint

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark")]

mod support;

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use sigil_server::api::Operation;
use sigil_server::identity::Identity;
use sigil_server::view::View;
use support::call;

/// Runs `n` calls of `path` with bodies from `body(i)` on every core; returns SVIDs/s.
async fn rate(engine: &Arc<Identity>, view: &View, path: &'static str, bodies: Vec<Value>) -> f64 {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let n = bodies.len();
    let mut chunks: Vec<Vec<Value>> = (0..workers).map(|_| Vec::new()).collect();
    for (i, b) in bodies.into_iter().enumerate() {
        chunks[i % workers].push(b);
    }
    let started = Instant::now();
    let tasks: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let (engine, view) = (engine.clone(), view.clone());
            tokio::spawn(async move {
                for body in chunk {
                    call(engine.as_ref(), &view, Operation::Update, path, body).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let n = support::count("SIGIL_BENCH_MINT_N", 20_000);
    let (_dir, view) = support::durable_view("logical/spiffe/").await;
    let engine = Arc::new(Identity::new());
    call(
        engine.as_ref(),
        &view,
        Operation::Update,
        "config",
        json!({"trust_domain": "bench.example"}),
    )
    .await;

    // Agents make their keys and CSRs; that cost is theirs, so it is made before timing.
    let csrs: Vec<Value> = (0..n)
        .map(|i| {
            let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
            let mut params = rcgen::CertificateParams::default();
            params.distinguished_name = rcgen::DistinguishedName::new();
            let csr = params.serialize_request(&key).unwrap().pem().unwrap();
            json!({"spiffe_id": format!("spiffe://bench.example/w/{i}"), "csr": csr})
        })
        .collect();
    let signed = rate(&engine, &view, "x509/sign", csrs).await;
    let bodies = (0..n)
        .map(|i| json!({"spiffe_id": format!("spiffe://bench.example/w/{i}")}))
        .collect();
    let minted = rate(&engine, &view, "x509/mint", bodies).await;
    println!("{n} X509-SVIDs per path, all cores:");
    println!("| path | SVIDs/s |");
    println!("|---|---:|");
    println!("| x509/sign (CSR from the agent) | {signed:.0} |");
    println!("| x509/mint (key made by the server) | {minted:.0} |");
}
