//! Revocation at scale and by certificate: the list spans chunks, the CRL is re-signed only
//! when read after a change (or past half its life), and revoking by PEM accepts exactly the
//! certificates this issuer signed.

use super::*;
use crate::pki::crl::CHUNK;

/// A request at `t` seconds after [`NOW`].
async fn call_at(
    f: &Fixture,
    op: Operation,
    path: &str,
    body: Value,
    later: u64,
) -> Result<Response, ApiError> {
    let mut req = Request::new(op, path);
    req.time = time() + Duration::from_secs(later);
    if let Value::Object(m) = body {
        req.data = m;
    }
    f.pki.handle(&req, &f.view).await
}

fn crl_serials(der: &[u8]) -> (u64, Vec<String>) {
    let (rest, crl) = x509_parser::parse_x509_crl(der).unwrap();
    assert!(rest.is_empty());
    let number = crl.crl_number().unwrap().to_u64_digits();
    let serials = crl
        .iter_revoked_certificates()
        .map(|r| serial_colons(r.raw_serial()))
        .collect();
    (number.first().copied().unwrap_or(0), serials)
}

async fn issuing_fixture() -> Fixture {
    let f = Fixture::new();
    f.root(json!({"common_name": "Sigil Root", "ttl": "87600h"}))
        .await;
    role(&f, "r", json!({"allow_any_name": true, "key_type": "ec"})).await;
    role(
        &f,
        "ns",
        json!({"allow_any_name": true, "key_type": "ec", "no_store": true}),
    )
    .await;
    f
}

#[tokio::test]
async fn a_list_spanning_chunks_is_all_in_the_crl() {
    let f = issuing_fixture().await;
    let mut revoked = Vec::new();
    for i in 0..=2 * CHUNK {
        let leaf = f
            .write("issue/r", json!({"common_name": format!("n{i}.test")}))
            .await;
        let serial = s(&leaf, "serial_number");
        f.write("revoke", json!({"serial_number": serial})).await;
        revoked.push(serial);
    }
    let (number, mut listed) = crl_serials(&f.read_raw("crl").await);
    assert_eq!(number, 1, "signed once, when first read");
    listed.sort();
    revoked.sort();
    assert_eq!(listed, revoked);
    let chunks = f
        .view
        .list(
            &format!("crl/{}/revoked/", root_id(&f).await),
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(chunks.len(), 3);
}

async fn root_id(f: &Fixture) -> String {
    let ca: StoredCa = load_issuer(&f.view, "default").await.unwrap();
    ca.issuer_id.clone()
}

#[tokio::test]
async fn the_crl_is_re_signed_only_after_a_change_or_half_its_life() {
    let f = issuing_fixture().await;
    let first = f.read_raw("crl").await;
    assert_eq!(crl_serials(&first), (1, vec![]));
    // Unchanged: the same bytes, not a new signature.
    assert_eq!(f.read_raw("crl").await, first);
    let leaf = f.write("issue/r", json!({"common_name": "a.test"})).await;
    f.write(
        "revoke",
        json!({"serial_number": s(&leaf, "serial_number")}),
    )
    .await;
    let second = f.read_raw("crl").await;
    assert_eq!(crl_serials(&second), (2, vec![s(&leaf, "serial_number")]));
    assert_eq!(f.read_raw("crl").await, second);
    // Just before half its 72 h life it is served as is; at half it is re-signed.
    let at = |later| call_at(&f, Operation::Read, "crl", json!({}), later);
    let body = |r: Result<Response, ApiError>| r.unwrap().raw.unwrap().body;
    assert_eq!(body(at(36 * 3600 - 1).await), second);
    let third = body(at(36 * 3600).await);
    assert_eq!(crl_serials(&third).0, 3);
    let (_, crl) = x509_parser::parse_x509_crl(&third).unwrap();
    assert_eq!(crl.last_update().timestamp(), NOW as i64 + 36 * 3600);
    // crl/rotate re-signs on demand.
    assert_eq!(
        f.read("crl/rotate").await,
        json!({"success": true}).as_object().unwrap().clone()
    );
    assert_eq!(crl_serials(&f.read_raw("crl").await).0, 4);
}

#[tokio::test]
async fn revoking_by_certificate_takes_only_this_issuers_certificates() {
    let f = issuing_fixture().await;
    // A stored certificate, by its PEM.
    let stored = f.write("issue/r", json!({"common_name": "a.test"})).await;
    let got = f
        .write("revoke", json!({"certificate": s(&stored, "certificate")}))
        .await;
    assert_eq!(got["state"], json!("revoked"));
    // A no_store certificate is unknown by serial but revocable by PEM, and is then stored.
    let unstored = f.write("issue/ns", json!({"common_name": "b.test"})).await;
    let serial = s(&unstored, "serial_number");
    let before = f.snapshot().await;
    let by_serial = f
        .call(
            Operation::Update,
            "revoke",
            json!({"serial_number": serial}),
        )
        .await;
    assert!(matches!(by_serial, Err(ApiError::BadRequest(_))));
    assert_eq!(f.snapshot().await, before);
    f.write(
        "revoke",
        json!({"certificate": s(&unstored, "certificate")}),
    )
    .await;
    assert_eq!(
        f.read(&format!("cert/{serial}")).await["revocation_time"],
        json!(NOW)
    );
    let (_, listed) = crl_serials(&f.read_raw("crl").await);
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&serial));

    // Another CA's certificate, and a stored serial with other contents: refused, unchanged.
    let other = issuing_fixture().await;
    let foreign = other
        .write("issue/r", json!({"common_name": "c.test"}))
        .await;
    let before = f.snapshot().await;
    let got = f
        .call(
            Operation::Update,
            "revoke",
            json!({"certificate": s(&foreign, "certificate")}),
        )
        .await;
    match got {
        Err(ApiError::BadRequest(m)) => assert!(m[0].contains("unable to verify signature")),
        other => panic!("{other:?}"),
    }
    assert_eq!(f.snapshot().await, before);
}

#[tokio::test]
async fn an_expired_certificate_is_not_added() {
    let f = issuing_fixture().await;
    let leaf = f
        .write("issue/r", json!({"common_name": "a.test", "ttl": "1h"}))
        .await;
    let before = f.snapshot().await;
    let got = call_at(
        &f,
        Operation::Update,
        "revoke",
        json!({"serial_number": s(&leaf, "serial_number")}),
        3600,
    )
    .await
    .unwrap();
    assert!(
        got.warnings[0].contains("already expired"),
        "{:?}",
        got.warnings
    );
    assert_eq!(got.data, None);
    assert_eq!(f.snapshot().await, before);
}

#[tokio::test]
async fn tidy_drops_expired_entries_from_the_crl() {
    let f = issuing_fixture().await;
    let mut short = Vec::new();
    for i in 0..CHUNK + 5 {
        let leaf = f
            .write(
                "issue/r",
                json!({"common_name": format!("s{i}.test"), "ttl": "10s"}),
            )
            .await;
        short.push(s(&leaf, "serial_number"));
    }
    let long = f
        .write("issue/r", json!({"common_name": "l.test", "ttl": "1h"}))
        .await;
    let long = s(&long, "serial_number");
    for serial in short.iter().chain([&long]) {
        f.write("revoke", json!({"serial_number": serial})).await;
    }
    assert_eq!(crl_serials(&f.read_raw("crl").await).1.len(), CHUNK + 6);
    // Expired 90 s ago with a 30 s buffer: the short ones leave the list, the long one stays.
    let resp = call_at(
        &f,
        Operation::Update,
        "tidy",
        json!({"tidy_revoked_certs": true, "safety_buffer": "30s"}),
        100,
    )
    .await
    .unwrap();
    assert_eq!(resp.status, Some(202));
    let status = f.read("tidy-status").await;
    assert_eq!(status["revoked_cert_deleted_count"], json!(CHUNK + 5));
    assert_eq!(status["state"], json!("Finished"));
    let crl = call_at(&f, Operation::Read, "crl", json!({}), 100)
        .await
        .unwrap();
    assert_eq!(crl_serials(&crl.raw.unwrap().body).1, [long]);
    // The repacked list takes new revocations as before.
    let next = f
        .write("issue/r", json!({"common_name": "n.test", "ttl": "1h"}))
        .await;
    f.write(
        "revoke",
        json!({"serial_number": s(&next, "serial_number")}),
    )
    .await;
    let crl = call_at(&f, Operation::Read, "crl", json!({}), 100)
        .await
        .unwrap();
    assert_eq!(crl_serials(&crl.raw.unwrap().body).1.len(), 2);
}

#[tokio::test]
async fn each_issuer_lists_its_own_revocations() {
    let f = issuing_fixture().await;
    f.root(json!({"common_name": "Second Root", "issuer_name": "second"}))
        .await;
    let first = f.write("issue/r", json!({"common_name": "a.test"})).await;
    let second = f
        .write("issuer/second/issue/r", json!({"common_name": "b.test"}))
        .await;
    for leaf in [&first, &second] {
        f.write("revoke", json!({"serial_number": s(leaf, "serial_number")}))
            .await;
    }
    // `crl` is the default issuer's; `issuer/:ref/crl/der|pem` and the JSON form name one.
    let (_, default) = crl_serials(&f.read_raw("crl").await);
    assert_eq!(default, [s(&first, "serial_number")]);
    let der = f.read_raw("issuer/second/crl/der").await;
    let (_, theirs) = crl_serials(&der);
    assert_eq!(theirs, [s(&second, "serial_number")]);
    let pem = String::from_utf8(f.read_raw("issuer/second/crl/pem").await).unwrap();
    assert_eq!(Pem::decode_expecting(&pem, "X509 CRL").unwrap(), der);
    assert_eq!(f.read("issuer/second/crl").await["crl"], json!(pem));
    // Signed by that issuer.
    let issuer = f.read("issuer/second").await;
    let issuer_der = der_of(&s(&issuer, "certificate"));
    let (_, crl) = x509_parser::parse_x509_crl(&der).unwrap();
    crl.verify_signature(parse(&issuer_der).public_key())
        .unwrap();
    // An unknown issuer is a 400, and neither issuer's certificate can be revoked.
    assert!(matches!(
        f.call(Operation::Read, "issuer/nope/crl/der", json!({}))
            .await,
        Err(ApiError::BadRequest(_))
    ));
    let got = f
        .call(
            Operation::Update,
            "revoke",
            json!({"serial_number": s(&issuer, "serial_number")}),
        )
        .await;
    assert!(matches!(got, Err(ApiError::BadRequest(_))));
}
