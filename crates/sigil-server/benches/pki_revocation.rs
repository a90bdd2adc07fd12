//! Revocation at scale: issues N certificates (default 100,000) from a pki mount over the
//! embedded store behind the barrier (every write durable, as `sigil server` runs), revokes
//! them one by one, and prints the revoke latency per slice of N/10 (it must stay flat as the
//! list grows) and the time to re-sign the CRL over all N entries (goal: under a second).
//!
//!   cargo bench -p sigil-server --bench pki_revocation
//!   SIGIL_BENCH_REVOKE_N=20000 cargo bench -p sigil-server --bench pki_revocation
//!
//! Prints figures only; it asserts nothing about time.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark")]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use sigil_server::api::Operation;
use sigil_server::pki::Pki;
use support::call;

/// Issuances in flight at once (lets the store group-commit them).
const ISSUERS: usize = 64;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::main]
async fn main() {
    let n = support::count("SIGIL_BENCH_REVOKE_N", 100_000);
    let (_dir, view) = support::durable_view("logical/pki/").await;
    let pki = Arc::new(Pki::new());
    let write = Operation::Update;
    call(
        pki.as_ref(),
        &view,
        write,
        "root/generate/internal",
        json!({"common_name": "bench root", "ttl": "87600h"}),
    )
    .await;
    call(
        pki.as_ref(),
        &view,
        write,
        "roles/r",
        json!({"allow_any_name": true, "key_type": "ec", "ttl": "24h"}),
    )
    .await;

    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..ISSUERS {
        let (pki, view) = (pki.clone(), view.clone());
        let count = n / ISSUERS + usize::from(t < n % ISSUERS);
        tasks.push(tokio::spawn(async move {
            let mut serials = Vec::with_capacity(count);
            for i in 0..count {
                let body = json!({"common_name": format!("w{t}-{i}.bench")});
                let resp = call(pki.as_ref(), &view, write, "issue/r", body).await;
                let data = resp.data.unwrap();
                serials.push(data["serial_number"].as_str().unwrap().to_owned());
            }
            serials
        }));
    }
    let mut serials = Vec::with_capacity(n);
    for t in tasks {
        serials.extend(t.await.unwrap());
    }
    let issued = started.elapsed();
    println!(
        "issued {n} certificates in {issued:.2?} ({:.0}/s, {ISSUERS} in flight)",
        n as f64 / issued.as_secs_f64()
    );

    let slice = (n / 10).max(1);
    println!("| revoked so far | revokes/s | p50 | p99 | max |");
    println!("|---:|---:|---:|---:|---:|");
    for (k, chunk) in serials.chunks(slice).enumerate() {
        let mut lat = Vec::with_capacity(chunk.len());
        let begun = Instant::now();
        for serial in chunk {
            let t = Instant::now();
            call(
                pki.as_ref(),
                &view,
                write,
                "revoke",
                json!({"serial_number": serial}),
            )
            .await;
            lat.push(t.elapsed());
        }
        let took = begun.elapsed();
        lat.sort();
        println!(
            "| {} | {:.0} | {:.2?} | {:.2?} | {:.2?} |",
            k * slice + chunk.len(),
            chunk.len() as f64 / took.as_secs_f64(),
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            lat[lat.len() - 1],
        );
    }

    let t = Instant::now();
    let crl = call(pki.as_ref(), &view, Operation::Read, "crl", json!({})).await;
    let rebuild = t.elapsed();
    let der = crl.raw.unwrap().body;
    let t = Instant::now();
    call(pki.as_ref(), &view, Operation::Read, "crl", json!({})).await;
    let cached = t.elapsed();
    println!(
        "CRL over {n} entries: {} bytes, re-signed in {rebuild:.2?}; served unchanged in {cached:.2?}",
        der.len()
    );
}
