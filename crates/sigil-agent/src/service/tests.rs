use std::time::Duration;

use sigil_core::SecretBytes;
use tokio_stream::StreamExt as _;
use tonic::Code;
use tonic::metadata::MetadataValue;

use super::*;
use crate::cache::Entry;
use crate::selector::SelectorSet;

fn td(name: &str) -> TrustDomain {
    TrustDomain::parse(name).unwrap()
}

fn selectors(items: &[&str]) -> SelectorSet {
    items.iter().map(|s| s.parse().unwrap()).collect()
}

fn entry(id: &str, sel: &[&str], leaf: &[u8], key: &[u8]) -> Entry {
    Entry::new(
        SpiffeId::parse(id).unwrap(),
        selectors(sel),
        vec![leaf.to_vec(), b"intermediate".to_vec()],
        SecretBytes::copy_from(key),
    )
    .unwrap()
}

fn state() -> CacheState {
    let mut state = CacheState::empty(td("example.org"));
    state.entries = vec![
        entry(
            "spiffe://example.org/web",
            &["unix:uid:1000"],
            b"leaf-web",
            b"key-web",
        )
        .with_hint("web")
        .unwrap()
        .federating_with([td("partner.test"), td("unknown.test")]),
        entry(
            "spiffe://example.org/db",
            &["unix:uid:1000", "unix:gid:5"],
            b"leaf-db",
            b"key-db",
        ),
        entry(
            "spiffe://example.org/root",
            &["unix:uid:0"],
            b"leaf-root",
            b"key-root",
        ),
    ];
    state.x509_bundle = vec![b"ca-1".to_vec(), b"ca-2".to_vec()];
    state.federated_x509_bundles = BTreeMap::from([
        (td("partner.test"), vec![b"partner-ca".to_vec()]),
        (td("other.test"), vec![b"other-ca".to_vec()]),
    ]);
    state.jwt_bundles = BTreeMap::from([(td("example.org"), br#"{"keys":[]}"#.to_vec())]);
    state
}

#[test]
fn header_must_be_exactly_one_true() {
    let mut md = MetadataMap::new();
    assert!(matches!(check_header(&md), Err(Error::HeaderMissing)));
    for wrong in ["false", "True", "TRUE", "1", ""] {
        let mut md = MetadataMap::new();
        md.insert(SECURITY_HEADER, MetadataValue::try_from(wrong).unwrap());
        assert!(check_header(&md).is_err(), "{wrong:?}");
    }
    md.insert(SECURITY_HEADER, MetadataValue::from_static("true"));
    assert!(check_header(&md).is_ok());
    md.append(SECURITY_HEADER, MetadataValue::from_static("true"));
    assert!(check_header(&md).is_err(), "two values");
    assert_eq!(Error::HeaderMissing.status().code(), Code::InvalidArgument);
}

#[test]
fn x509_svid_response_has_the_callers_entries_in_order() {
    let caller = selectors(&["unix:uid:1000", "unix:gid:5", "unix:user:app"]);
    let response = x509_svid_response(&state(), &caller).unwrap();
    let ids: Vec<_> = response
        .svids
        .iter()
        .map(|s| s.spiffe_id.as_str())
        .collect();
    assert_eq!(ids, ["spiffe://example.org/web", "spiffe://example.org/db"]);
    let web = &response.svids[0];
    assert_eq!(web.x509_svid, b"leaf-webintermediate");
    assert_eq!(web.x509_svid_key, b"key-web");
    assert_eq!(web.bundle, b"ca-1ca-2");
    assert_eq!(web.hint, "web");
    // Only the trust domains the entries federate with, and only those with a bundle.
    assert_eq!(
        response.federated_bundles,
        BTreeMap::from([("spiffe://partner.test".to_owned(), b"partner-ca".to_vec())])
    );
    assert!(response.crl.is_empty());

    let nobody = selectors(&["unix:uid:4242"]);
    assert!(matches!(
        x509_svid_response(&state(), &nobody),
        Err(Error::NoIdentity)
    ));
}

#[test]
fn duplicate_hints_keep_the_first() {
    let mut state = state();
    state.entries[1] = state.entries[1].clone().with_hint("web").unwrap();
    let caller = selectors(&["unix:uid:1000", "unix:gid:5"]);
    let response = x509_svid_response(&state, &caller).unwrap();
    assert_eq!(response.svids.len(), 1);
    assert_eq!(response.svids[0].spiffe_id, "spiffe://example.org/web");
}

#[test]
fn bundle_responses() {
    let caller = selectors(&["unix:uid:0"]);
    let x509 = x509_bundles_response(&state(), &caller).unwrap();
    assert_eq!(
        x509.bundles,
        BTreeMap::from([
            ("spiffe://example.org".to_owned(), b"ca-1ca-2".to_vec()),
            ("spiffe://other.test".to_owned(), b"other-ca".to_vec()),
            ("spiffe://partner.test".to_owned(), b"partner-ca".to_vec()),
        ])
    );
    let jwt = jwt_bundles_response(&state(), &caller).unwrap();
    assert_eq!(
        jwt.bundles,
        BTreeMap::from([(
            "spiffe://example.org".to_owned(),
            br#"{"keys":[]}"#.to_vec()
        )])
    );
    let nobody = selectors(&["unix:uid:4242"]);
    assert!(matches!(
        x509_bundles_response(&state(), &nobody),
        Err(Error::NoIdentity)
    ));
    assert!(matches!(
        jwt_bundles_response(&state(), &nobody),
        Err(Error::NoIdentity)
    ));
}

#[test]
fn claims_become_a_struct_with_aud_as_a_list() {
    use prost_types::value::Kind;
    let claims: Claims = serde_json::from_str(
        r#"{"sub":"spiffe://example.org/web","aud":"db","exp":1700000000,"x":{"y":[true,null]}}"#,
    )
    .unwrap();
    let s = claims_struct(claims);
    let aud = &s.fields["aud"];
    let Some(Kind::ListValue(list)) = &aud.kind else {
        panic!("aud is {aud:?}")
    };
    assert_eq!(list.values.len(), 1);
    assert_eq!(
        s.fields["exp"].kind,
        Some(Kind::NumberValue(1_700_000_000.0))
    );
    let Some(Kind::StructValue(x)) = &s.fields["x"].kind else {
        panic!()
    };
    let Some(Kind::ListValue(y)) = &x.fields["y"].kind else {
        panic!()
    };
    assert_eq!(y.values[0].kind, Some(Kind::BoolValue(true)));
    assert_eq!(y.values[1].kind, Some(Kind::NullValue(0)));
}

/// The next stream item, or a panic after a bounded wait.
async fn next<T>(stream: &mut ReceiverStream<Result<T, Status>>) -> Option<Result<T, Status>> {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("the stream sent nothing within 5s")
}

#[tokio::test]
async fn streams_push_full_state_and_redact() {
    let cache = Cache::new(state());
    let (_stop, stopping) = watch::channel(false);
    let caller = selectors(&["unix:uid:1000", "unix:gid:5"]);
    let mut stream = updates(cache.subscribe(), stopping, move |s| {
        x509_svid_response(s, &caller)
    });
    let first = next(&mut stream).await.unwrap().unwrap();
    assert_eq!(first.svids.len(), 2);

    // A change that does not concern this caller sends nothing.
    cache.update(|s| {
        s.entries[2] = entry("spiffe://example.org/root", &["unix:uid:0"], b"new", b"k");
    });
    // Rotation of one of its SVIDs sends the full state again.
    cache.update(|s| {
        s.entries[1] = s.entries[1]
            .clone()
            .with_svid(
                vec![b"leaf-db-2".to_vec()],
                SecretBytes::copy_from(b"key-db-2"),
            )
            .unwrap();
    });
    let rotated = next(&mut stream).await.unwrap().unwrap();
    assert_eq!(rotated.svids.len(), 2);
    assert_eq!(rotated.svids[1].x509_svid, b"leaf-db-2");
    assert_eq!(rotated.svids[1].x509_svid_key, b"key-db-2");

    // An entry leaving the cache is left out of the next message: the client drops it.
    cache.update(|s| {
        s.entries.remove(1);
    });
    let redacted = next(&mut stream).await.unwrap().unwrap();
    let ids: Vec<_> = redacted
        .svids
        .iter()
        .map(|s| s.spiffe_id.as_str())
        .collect();
    assert_eq!(ids, ["spiffe://example.org/web"]);

    // The last one leaving ends the stream with PermissionDenied.
    cache.update(|s| s.entries.retain(|e| e.spiffe_id().path() == "/root"));
    let denied = next(&mut stream).await.unwrap().unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert_eq!(denied.message(), "no identity issued");
    assert!(next(&mut stream).await.is_none());
}

#[tokio::test]
async fn streams_end_when_the_server_stops() {
    let cache = Cache::new(state());
    let (stop, stopping) = watch::channel(false);
    let caller = selectors(&["unix:uid:0"]);
    let mut stream = updates(cache.subscribe(), stopping, move |s| {
        x509_bundles_response(s, &caller)
    });
    assert!(next(&mut stream).await.unwrap().is_ok());
    stop.send_replace(true);
    assert!(next(&mut stream).await.is_none());
}
