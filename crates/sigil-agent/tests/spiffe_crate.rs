//! The crates.io `spiffe` client (0.19, its Workload API X.509 client only) against Sigil's
//! Workload API, served in-process on a temporary socket: the strict Rust parser of the
//! same responses py-spiffe reads, over tonic on both ends.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::sync::Arc;
use std::time::Duration;

use sigil_agent::{Cache, CacheState, Entry, NoJwtAuthority, SelectorSet};
use sigil_core::spiffe::{SpiffeId, TrustDomain};
use spiffe::{WorkloadApiClient, WorkloadApiError};
use support::{Ca, own_uid};
use tokio_stream::StreamExt as _;

const WEB: &str = "spiffe://example.org/web";
const DB: &str = "spiffe://example.org/db";

/// Bounded: no step of this test waits longer.
const STEP: Duration = Duration::from_secs(20);

fn entry(ca: &Ca, id: &str, serial: u64, selectors: &SelectorSet) -> (Entry, Vec<u8>, Vec<u8>) {
    let (cert, key) = ca.leaf(id, serial);
    let key_bytes = key.expose_secret().to_vec();
    let entry = Entry::new(
        SpiffeId::parse(id).unwrap(),
        selectors.clone(),
        vec![cert.clone()],
        key,
    )
    .unwrap();
    (entry, cert, key_bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spiffe_crate_against_the_workload_api() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("api.sock");
    let ca = Ca::new();
    let partner = Ca::new();
    let mine: SelectorSet = [format!("unix:uid:{}", own_uid()).parse().unwrap()]
        .into_iter()
        .collect();
    let (web, web_cert, web_key) = entry(&ca, WEB, 1, &mine);
    let (db, db_cert, _) = entry(&ca, DB, 2, &mine);
    let mut state = CacheState::empty(TrustDomain::parse("example.org").unwrap());
    state.entries = vec![web.with_hint("web").unwrap(), db];
    state.x509_bundle = vec![ca.der()];
    state.federated_x509_bundles.insert(
        TrustDomain::parse("partner.test").unwrap(),
        vec![partner.der()],
    );
    let cache = Arc::new(Cache::new(state));

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn({
        let (cache, socket) = (cache.clone(), socket.clone());
        async move {
            sigil_agent::serve(&socket, cache, Arc::new(NoJwtAuthority), async {
                let _ = stopped.await;
            })
            .await
        }
    });
    for _ in 0..200 {
        if socket.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    let client = tokio::time::timeout(
        STEP,
        WorkloadApiClient::connect_to(format!("unix:{}", socket.display())),
    )
    .await
    .unwrap()
    .unwrap();

    // The default SVID: the first entry, byte for byte.
    let svid = tokio::time::timeout(STEP, client.fetch_x509_svid())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(svid.spiffe_id().to_string(), WEB);
    assert_eq!(svid.leaf().as_bytes(), web_cert.as_slice());
    assert_eq!(svid.private_key().as_bytes(), web_key.as_slice());
    assert_eq!(svid.hint(), Some("web"));

    let all = client.fetch_all_x509_svids().await.unwrap();
    let ids: Vec<_> = all.iter().map(|s| s.spiffe_id().to_string()).collect();
    assert_eq!(ids, [WEB, DB]);
    assert_eq!(all[1].leaf().as_bytes(), db_cert.as_slice());

    // Bundles: local and federated, keyed by trust domain.
    let bundles = client.fetch_x509_bundles().await.unwrap();
    assert_eq!(bundles.len(), 2);
    let local = bundles
        .get(&spiffe::TrustDomain::new("example.org").unwrap())
        .unwrap();
    assert_eq!(local.authorities()[0].as_bytes(), ca.der().as_slice());
    let foreign = bundles
        .get(&spiffe::TrustDomain::new("partner.test").unwrap())
        .unwrap();
    assert_eq!(
        foreign.authorities()[0].as_bytes(),
        partner.der().as_slice()
    );

    let context = client.fetch_x509_context().await.unwrap();
    assert_eq!(context.default_svid().unwrap().spiffe_id().to_string(), WEB);

    // A rotation reaches an open stream.
    let mut contexts = client.stream_x509_contexts().await.unwrap();
    let first = tokio::time::timeout(STEP, contexts.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        first.default_svid().unwrap().leaf().as_bytes(),
        web_cert.as_slice()
    );
    let (next_cert, next_key) = ca.leaf(WEB, 3);
    cache.update(|s| {
        s.entries[0] = s.entries[0]
            .clone()
            .with_svid(vec![next_cert.clone()], next_key)
            .unwrap();
    });
    let rotated = tokio::time::timeout(STEP, contexts.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        rotated.default_svid().unwrap().leaf().as_bytes(),
        next_cert.as_slice()
    );

    // The crate maps SPIRE's "no identity issued" to its own error.
    cache.update(|s| s.entries.clear());
    let denied = client.fetch_x509_svid().await.unwrap_err();
    assert!(
        matches!(denied, WorkloadApiError::NoIdentityIssued),
        "{denied:?}"
    );

    stop.send(()).unwrap();
    tokio::time::timeout(STEP, server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
