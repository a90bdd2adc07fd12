//! Unit tests for the OCSP responder over a plain in-memory view: requests are built with
//! the `x509-ocsp` types from the CA certificate as a client would (hashes computed here
//! with x509-parser's view of the certificate, not the responder's), and every successful
//! answer's signature is checked with aws-lc against the CA's public key.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use der::asn1::{Null, OctetString};
use der::{Decode, Encode};
use serde_json::{Value, json};
use sigil_core::encoding::base64_encode;
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::Extension;
use x509_cert::serial_number::SerialNumber;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspRequest, OcspResponse, OcspResponseStatus,
    Request as OcspSingle, ResponderId, TbsRequest,
};
use x509_parser::prelude::FromDer;

use super::*;
use crate::engine::Engine;
use crate::pki::Pki;
use crate::view::PlainStore;

/// A fixed request time.
const NOW: u64 = 1_790_000_000;

struct Fixture {
    pki: Pki,
    view: View,
}

impl Fixture {
    /// A mount with a root of `key_type` and a role `web`.
    async fn with_root(key_type: &str) -> Self {
        let f = Self {
            pki: Pki::new(),
            view: PlainStore::view(),
        };
        f.write(
            "root/generate/internal",
            json!({"common_name": "OCSP Root", "key_type": key_type}),
        )
        .await;
        f.write("roles/web", json!({"allow_any_name": true})).await;
        f
    }

    async fn call(&self, mut req: Request) -> Response {
        req.time = UNIX_EPOCH + Duration::from_secs(NOW);
        self.pki.handle(&req, &self.view).await.unwrap()
    }

    async fn write(&self, path: &str, body: Value) -> serde_json::Map<String, Value> {
        let mut req = Request::new(Operation::Update, path);
        if let Value::Object(m) = body {
            req.data = m;
        }
        self.call(req).await.data.unwrap_or_default()
    }

    /// Issues a leaf; its serial, colon form.
    async fn issue(&self, name: &str) -> String {
        let d = self.write("issue/web", json!({"common_name": name})).await;
        d["serial_number"].as_str().unwrap().to_owned()
    }

    async fn ca_der(&self) -> Vec<u8> {
        let mut req = Request::new(Operation::Read, "ca");
        req.time = SystemTime::now();
        self.call(req).await.raw.unwrap().body
    }

    /// `POST ocsp` with `der` as the body: (HTTP status, content type, body).
    async fn post(&self, der: &[u8]) -> (u16, &'static str, Vec<u8>) {
        let mut req = Request::new(Operation::Update, "ocsp");
        req.raw_body = Some(bytes::Bytes::copy_from_slice(der));
        split(self.call(req).await)
    }

    /// `GET ocsp/<encoded>`.
    async fn get(&self, encoded: &str) -> (u16, &'static str, Vec<u8>) {
        split(
            self.call(Request::new(Operation::Read, format!("ocsp/{encoded}")))
                .await,
        )
    }
}

fn split(resp: Response) -> (u16, &'static str, Vec<u8>) {
    let raw = resp.raw.expect("a raw body");
    (resp.status.unwrap_or(200), raw.content_type, raw.body)
}

/// A client's CertID for `serial` under the issuer certificate `ca`, hashed with SHA-1 or
/// SHA-256.
fn cert_id(ca: &[u8], serial: &str, sha256: bool) -> CertId {
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(ca).unwrap();
    let (alg, oid) = if sha256 {
        (&digest::SHA256, SHA256)
    } else {
        (&digest::SHA1_FOR_LEGACY_USE_ONLY, SHA1)
    };
    let hash = |b: &[u8]| OctetString::new(digest::digest(alg, b).as_ref().to_vec()).unwrap();
    let serial = sigil_core::encoding::hex_decode(&serial.replace(':', "")).unwrap();
    CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid,
            parameters: Some(Null.into()),
        },
        issuer_name_hash: hash(cert.tbs_certificate.subject.as_raw()),
        issuer_key_hash: hash(&cert.public_key().subject_public_key.data),
        serial_number: SerialNumber::new(&serial).unwrap(),
    }
}

/// The DER of a request for `ids`, with a nonce extension when given.
fn request(ids: &[CertId], nonce: Option<&[u8]>) -> Vec<u8> {
    let request_extensions = nonce.map(|n| {
        vec![Extension {
            extn_id: NONCE,
            critical: false,
            extn_value: OctetString::new(OctetString::new(n).unwrap().to_der().unwrap()).unwrap(),
        }]
    });
    OcspRequest {
        tbs_request: TbsRequest {
            request_list: ids
                .iter()
                .map(|id| OcspSingle {
                    req_cert: id.clone(),
                    single_request_extensions: None,
                })
                .collect(),
            request_extensions,
            ..TbsRequest::default()
        },
        optional_signature: None,
    }
    .to_der()
    .unwrap()
}

/// Parses a successful answer and checks its signature against the CA's public key.
fn verified(ca: &[u8], answer: &(u16, &'static str, Vec<u8>)) -> BasicOcspResponse {
    let (status, content_type, body) = answer;
    assert_eq!((*status, *content_type), (200, RESPONSE_CONTENT_TYPE));
    let resp = OcspResponse::from_der(body).unwrap();
    assert_eq!(resp.response_status, OcspResponseStatus::Successful);
    let bytes = resp.response_bytes.unwrap();
    let basic = BasicOcspResponse::from_der(bytes.response.as_bytes()).unwrap();
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(ca).unwrap();
    let key = &cert.public_key().subject_public_key.data;
    let alg: &dyn VerificationAlgorithm = match basic.signature_algorithm.oid.to_string().as_str() {
        "1.2.840.10045.4.3.2" => &signature::ECDSA_P256_SHA256_ASN1,
        "1.2.840.10045.4.3.3" => &signature::ECDSA_P384_SHA384_ASN1,
        "1.3.101.112" => &signature::ED25519,
        "1.2.840.113549.1.1.11" => &signature::RSA_PKCS1_2048_8192_SHA256,
        other => panic!("unexpected signature algorithm {other}"),
    };
    UnparsedPublicKey::new(alg, key)
        .verify(
            &basic.tbs_response_data.to_der().unwrap(),
            basic.signature.raw_bytes(),
        )
        .expect("the answer verifies with the CA key");
    // Named by key: the SHA-1 of the CA's public key bits.
    assert_eq!(
        basic.tbs_response_data.responder_id,
        ResponderId::ByKey(
            OctetString::new(
                digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, key)
                    .as_ref()
                    .to_vec()
            )
            .unwrap()
        )
    );
    basic
}

/// The one status of a one-CertID answer.
fn only_status(basic: &BasicOcspResponse) -> CertStatus {
    assert_eq!(basic.tbs_response_data.responses.len(), 1);
    basic.tbs_response_data.responses[0].cert_status
}

fn at(unix: u64) -> OcspGeneralizedTime {
    OcspGeneralizedTime(GeneralizedTime::from_unix_duration(Duration::from_secs(unix)).unwrap())
}

#[tokio::test]
async fn good_revoked_and_unknown_with_every_key_type() {
    for key_type in ["ec", "ed25519", "rsa"] {
        let f = Fixture::with_root(key_type).await;
        let ca = f.ca_der().await;
        let good = f.issue("good.example.com").await;
        let revoked = f.issue("revoked.example.com").await;
        f.write("revoke", json!({"serial_number": revoked})).await;

        for sha256 in [false, true] {
            let id = cert_id(&ca, &good, sha256);
            let basic = verified(
                &ca,
                &f.post(&request(std::slice::from_ref(&id), None)).await,
            );
            assert_eq!(only_status(&basic), CertStatus::good(), "{key_type}");
            let single = &basic.tbs_response_data.responses[0];
            assert_eq!(single.cert_id, id, "the CertID is echoed as asked");
            assert_eq!(single.this_update, at(NOW));
            assert_eq!(single.next_update, Some(at(NOW + 12 * 3600)));
            assert_eq!(basic.tbs_response_data.produced_at, at(NOW));
            assert_eq!(basic.tbs_response_data.response_extensions, None);

            let basic = verified(
                &ca,
                &f.post(&request(&[cert_id(&ca, &revoked, sha256)], None))
                    .await,
            );
            assert_eq!(
                only_status(&basic),
                CertStatus::revoked(RevokedInfo {
                    revocation_time: at(NOW),
                    revocation_reason: None,
                }),
                "{key_type}"
            );
        }

        // A serial this mount never stored.
        let basic = verified(
            &ca,
            &f.post(&request(&[cert_id(&ca, "7f:01:02", false)], None))
                .await,
        );
        assert_eq!(only_status(&basic), CertStatus::unknown());
    }
}

#[tokio::test]
async fn another_issuers_certificate_is_unknown() {
    let f = Fixture::with_root("ec").await;
    let other = Fixture::with_root("ec").await;
    let ca = f.ca_der().await;
    let other_ca = other.ca_der().await;
    let theirs = other.issue("x.example.com").await;
    // Even a serial we do hold, asked under the other issuer, is not ours to answer.
    let ours = f.issue("y.example.com").await;
    for serial in [theirs, ours.clone()] {
        let basic = verified(
            &ca,
            &f.post(&request(&[cert_id(&other_ca, &serial, false)], None))
                .await,
        );
        assert_eq!(only_status(&basic), CertStatus::unknown());
    }
    // A hash other than SHA-1 and SHA-256 (here SHA-384's OID over SHA-256 hashes) names no
    // issuer of ours.
    let mut odd = cert_id(&ca, &ours, true);
    odd.hash_algorithm.oid = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
    let basic = verified(&ca, &f.post(&request(&[odd], None)).await);
    assert_eq!(only_status(&basic), CertStatus::unknown());
    // Mixed: ours is answered, the other issuer's is unknown, one signature.
    let basic = verified(
        &ca,
        &f.post(&request(
            &[cert_id(&other_ca, &ours, true), cert_id(&ca, &ours, true)],
            None,
        ))
        .await,
    );
    let got: Vec<_> = basic
        .tbs_response_data
        .responses
        .iter()
        .map(|r| r.cert_status)
        .collect();
    assert_eq!(got, [CertStatus::unknown(), CertStatus::good()]);
}

#[tokio::test]
async fn the_nonce_is_echoed() {
    let f = Fixture::with_root("ec").await;
    let ca = f.ca_der().await;
    let serial = f.issue("n.example.com").await;
    let nonce = [7u8; 16];
    let basic = verified(
        &ca,
        &f.post(&request(&[cert_id(&ca, &serial, false)], Some(&nonce)))
            .await,
    );
    let exts = basic
        .tbs_response_data
        .response_extensions
        .as_ref()
        .unwrap();
    assert_eq!(exts.len(), 1);
    assert_eq!(exts[0].extn_id, NONCE);
    assert_eq!(
        basic.nonce().unwrap().0.as_bytes(),
        nonce,
        "the nonce comes back as sent"
    );
}

#[tokio::test]
async fn get_takes_the_url_escaped_base64_request() {
    let f = Fixture::with_root("ec").await;
    let ca = f.ca_der().await;
    let serial = f.issue("g.example.com").await;
    let der = request(&[cert_id(&ca, &serial, false)], Some(b"0123456789abcdef"));
    // The HTTP layer percent-decodes the path before the engine sees it, so the engine gets
    // plain base64, '/' and '+' included.
    let basic = verified(&ca, &f.get(&base64_encode(&der)).await);
    assert_eq!(only_status(&basic), CertStatus::good());
    // Not base64, or no request at all.
    for bad in ["***", "", "AAAA"] {
        assert_eq!(f.get(bad).await, malformed(), "{bad:?}");
    }
    // `ocsp` itself is for POST: a GET there is Vault's 405, not an OCSP answer.
    let bare = f
        .pki
        .handle(&Request::new(Operation::Read, "ocsp"), &f.view)
        .await;
    assert_eq!(bare, Err(ApiError::UnsupportedOperation));
}

fn malformed() -> (u16, &'static str, Vec<u8>) {
    (
        400,
        RESPONSE_CONTENT_TYPE,
        vec![0x30, 0x03, 0x0a, 0x01, 0x01],
    )
}

#[tokio::test]
async fn malformed_and_oversized_requests_get_malformed_request() {
    let f = Fixture::with_root("ec").await;
    let ca = f.ca_der().await;
    let serial = f.issue("m.example.com").await;
    let good = request(&[cert_id(&ca, &serial, false)], None);
    let mut trailing = good.clone();
    trailing.push(0);
    let empty_list = request(&[], None);
    for bad in [
        &b""[..],
        b"not der",
        &good[..good.len() - 1],
        &trailing,
        &empty_list,
    ] {
        assert_eq!(f.post(bad).await, malformed());
    }
    // A JSON body (no raw body) is no OCSP request either.
    let no_body = f.call(Request::new(Operation::Update, "ocsp")).await;
    assert_eq!(split(no_body), malformed());
    // A request padded to the limit with a long nonce: refused before parsing, by POST and
    // by GET alike; just under the limit it is answered.
    let big = request(&[cert_id(&ca, &serial, false)], Some(&[1u8; 2000]));
    assert!(big.len() >= MAX_REQUEST);
    assert_eq!(f.post(&big).await, malformed());
    assert_eq!(f.get(&base64_encode(&big)).await, malformed());
    let fits = request(&[cert_id(&ca, &serial, false)], Some(&[1u8; 1900]));
    assert!(fits.len() < MAX_REQUEST);
    verified(&ca, &f.post(&fits).await);
}

#[tokio::test]
async fn without_an_issuer_the_answer_is_unauthorized() {
    let f = Fixture {
        pki: Pki::new(),
        view: PlainStore::view(),
    };
    let other = Fixture::with_root("ec").await;
    let ca = other.ca_der().await;
    let got = f
        .post(&request(&[cert_id(&ca, "7f:01", false)], None))
        .await;
    assert_eq!(
        got,
        (
            401,
            RESPONSE_CONTENT_TYPE,
            vec![0x30, 0x03, 0x0a, 0x01, 0x06]
        )
    );
}

#[test]
fn failure_bodies_are_rfc6960_responses() {
    for (f, status, code) in [
        (
            Failure::Malformed,
            400,
            OcspResponseStatus::MalformedRequest,
        ),
        (Failure::Unauthorized, 401, OcspResponseStatus::Unauthorized),
        (Failure::Internal, 500, OcspResponseStatus::InternalError),
    ] {
        let (http, content_type, body) = split(f.response());
        assert_eq!((http, content_type), (status, RESPONSE_CONTENT_TYPE));
        let parsed = OcspResponse::from_der(&body).unwrap();
        assert_eq!(parsed.response_status, code);
        assert!(parsed.response_bytes.is_none());
    }
}

#[tokio::test]
async fn a_post_query_is_a_read() {
    let f = Fixture::with_root("ec").await;
    assert!(f.pki.read_only(&Request::new(Operation::Update, "ocsp")));
    assert!(!f.pki.read_only(&Request::new(Operation::Update, "revoke")));
}
