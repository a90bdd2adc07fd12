//! Unit tests for the identity engine over a plain in-memory view: the authority and every
//! SVID follow the X509-SVID rules (checked with x509-parser) and verify with rustls-webpki
//! as client and server certificates; the bundle is a SPIFFE bundle document; bad input gets
//! a 400 and changes nothing.

use std::time::{Duration, UNIX_EPOCH};

use rustls_pki_types::{CertificateDer, UnixTime};
use serde_json::{Map, Value, json};
use sigil_core::encoding::{Pem, base64_decode};
use sigil_storage::Page;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::*;
use crate::view::PlainStore;

mod node;

const NOW: u64 = 1_790_000_000;

struct Fixture {
    engine: Identity,
    view: View,
}

impl Fixture {
    fn new() -> Self {
        Self {
            engine: Identity::new(),
            view: PlainStore::view(),
        }
    }

    async fn call(&self, op: Operation, path: &str, body: Value) -> Result<Response, ApiError> {
        self.call_at(op, path, body, 0).await
    }

    /// A request `later` seconds after [`NOW`].
    async fn call_at(
        &self,
        op: Operation,
        path: &str,
        body: Value,
        later: u64,
    ) -> Result<Response, ApiError> {
        self.call_with(op, path, body, later, None).await
    }

    /// A request `later` seconds after [`NOW`] over a TLS connection whose client presented
    /// `chain` (DER, leaf first).
    async fn call_with(
        &self,
        op: Operation,
        path: &str,
        body: Value,
        later: u64,
        chain: Option<Vec<Vec<u8>>>,
    ) -> Result<Response, ApiError> {
        let mut req = Request::new(op, path);
        req.peer_certificates = chain.map(std::sync::Arc::new);
        req.time = UNIX_EPOCH + Duration::from_secs(NOW + later);
        if let Value::Object(m) = body {
            req.data = m;
        }
        self.engine.handle(&req, &self.view).await
    }

    async fn write(&self, path: &str, body: Value) -> Map<String, Value> {
        self.call(Operation::Update, path, body)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e:?}"))
            .data
            .unwrap_or_default()
    }

    async fn read_data(&self, path: &str) -> Map<String, Value> {
        self.call(Operation::Read, path, json!({}))
            .await
            .unwrap_or_else(|e| panic!("{path}: {e:?}"))
            .data
            .unwrap_or_default()
    }

    async fn raw(&self, path: &str) -> Vec<u8> {
        self.call(Operation::Read, path, json!({}))
            .await
            .unwrap()
            .raw
            .expect("a raw body")
            .body
    }

    /// Every stored key and value, walking the folders.
    async fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut folders = vec![String::new()];
        while let Some(prefix) = folders.pop() {
            for k in self.view.list(&prefix, Page::default()).await.unwrap() {
                let key = format!("{prefix}{k}");
                if k.ends_with('/') {
                    folders.push(key);
                } else {
                    out.push((key.clone(), self.view.get(&key).await.unwrap().unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    async fn configured() -> Self {
        let f = Self::new();
        f.write("config", json!({"trust_domain": "example.org"}))
            .await;
        f
    }
}

fn s(m: &Map<String, Value>, k: &str) -> String {
    m[k].as_str().unwrap_or_else(|| panic!("no {k}")).to_owned()
}

fn der(pem: &str) -> Vec<u8> {
    Pem::decode_expecting(pem, "CERTIFICATE").unwrap()
}

fn uris(cert: &X509Certificate<'_>) -> Vec<String> {
    cert.subject_alternative_name()
        .unwrap()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::URI(u) => Some((*u).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Checks the X509-SVID leaf rules and verifies the chain for client and server use.
fn check_svid(svid_pem: &str, ca_pem: &str, id: &str) {
    let leaf_der = der(svid_pem);
    let (_, leaf) = X509Certificate::from_der(&leaf_der).unwrap();
    assert_eq!(uris(&leaf), [id]);
    assert!(!leaf.is_ca());
    let bc = leaf.basic_constraints().unwrap().expect("basicConstraints");
    assert!(!bc.value.ca);
    let ku = leaf.key_usage().unwrap().expect("keyUsage");
    assert!(ku.critical, "keyUsage must be critical");
    assert!(ku.value.digital_signature());
    assert!(!ku.value.key_cert_sign() && !ku.value.crl_sign());
    let eku = leaf.extended_key_usage().unwrap().expect("EKU");
    assert!(eku.value.server_auth && eku.value.client_auth);
    let aki = leaf.extensions().iter().any(|e| {
        matches!(
            e.parsed_extension(),
            ParsedExtension::AuthorityKeyIdentifier(_)
        )
    });
    assert!(aki, "AKI present");

    let ca_der = der(ca_pem);
    let ca = CertificateDer::from(ca_der.as_slice());
    let anchor = webpki::anchor_from_trusted_cert(&ca).unwrap();
    let leaf_cert = CertificateDer::from(leaf_der.as_slice());
    let ee = webpki::EndEntityCert::try_from(&leaf_cert).unwrap();
    let at = UnixTime::since_unix_epoch(Duration::from_secs(NOW + 60));
    for usage in [
        webpki::KeyUsage::client_auth(),
        webpki::KeyUsage::server_auth(),
    ] {
        ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            std::slice::from_ref(&anchor),
            &[],
            at,
            usage,
            None,
            None,
        )
        .unwrap();
    }
}

#[tokio::test]
async fn the_trust_domain_gets_an_authority_with_its_id() {
    let f = Fixture::new();
    assert_eq!(
        f.call(Operation::Read, "config", json!({})).await,
        Err(ApiError::NotFound)
    );
    let got = f
        .write("config", json!({"trust_domain": "example.org"}))
        .await;
    assert_eq!(got["trust_domain_id"], json!("spiffe://example.org"));
    assert_eq!(got["x509_svid_ttl"], json!(3600));
    let pem = String::from_utf8(f.raw("bundle/pem").await).unwrap();
    let ca_der = der(&pem);
    let (_, ca) = X509Certificate::from_der(&ca_der).unwrap();
    assert!(ca.is_ca());
    assert_eq!(uris(&ca), ["spiffe://example.org"]);
    let ku = ca.key_usage().unwrap().unwrap().value;
    assert!(ku.key_cert_sign() && ku.crl_sign());
    assert_eq!(
        ca.validity().not_after.timestamp(),
        NOW as i64 + 30 * 24 * 3600
    );
    // Lifetimes change; the trust domain and key do not.
    let got = f.write("config", json!({"x509_svid_ttl": "10m"})).await;
    assert_eq!(got["x509_svid_ttl"], json!(600));
    assert_eq!(
        String::from_utf8(f.raw("bundle/pem").await).unwrap(),
        pem,
        "the authority stays"
    );
}

#[tokio::test]
async fn the_bundle_is_a_spiffe_bundle_document() {
    let f = Fixture::new();
    assert!(f.raw("bundle").await.is_empty(), "204 before configuration");
    f.write(
        "config",
        json!({"trust_domain": "example.org", "bundle_refresh_hint": "2m"}),
    )
    .await;
    let doc: Value = serde_json::from_slice(&f.raw("bundle").await).unwrap();
    assert_eq!(doc["spiffe_sequence"], json!(1));
    assert_eq!(doc["spiffe_refresh_hint"], json!(120));
    let keys = doc["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "the X.509 authority and the JWT key");
    let key = &keys[0];
    assert_eq!(keys[1]["use"], json!("jwt-svid"));
    assert!(keys[1]["kid"].as_str().is_some_and(|k| !k.is_empty()));
    assert_eq!(key["use"], json!("x509-svid"));
    assert_eq!(key["kty"], json!("EC"));
    assert_eq!(key["crv"], json!("P-256"));
    assert!(key.get("kid").is_none(), "X.509 authorities carry no kid");
    let x5c = key["x5c"].as_array().unwrap();
    assert_eq!(x5c.len(), 1);
    let pem = String::from_utf8(f.raw("bundle/pem").await).unwrap();
    assert_eq!(base64_decode(x5c[0].as_str().unwrap()).unwrap(), der(&pem));
    assert_eq!(
        f.engine.unauthenticated_paths(),
        [
            "bundle",
            "bundle/pem",
            "jwks",
            ".well-known/openid-configuration",
            "node/*"
        ]
    );
}

#[tokio::test]
async fn minted_and_signed_svids_follow_the_x509_svid_rules() {
    let f = Fixture::configured().await;
    let before = f.snapshot().await;
    let id = "spiffe://example.org/ns/prod/sa/web";
    let minted = f
        .write(
            "x509/mint",
            json!({"spiffe_id": id, "dns_names": ["web.prod.svc"], "ttl": "5m"}),
        )
        .await;
    assert_eq!(minted["spiffe_id"], json!(id));
    check_svid(&s(&minted, "svid"), &s(&minted, "bundle"), id);
    let leaf_der = der(&s(&minted, "svid"));
    let (_, leaf) = X509Certificate::from_der(&leaf_der).unwrap();
    assert_eq!(leaf.validity().not_after.timestamp(), NOW as i64 + 300);
    assert_eq!(minted["expires_at"], json!(NOW + 300));
    assert!(leaf.validity().not_before.timestamp() < NOW as i64);
    // The returned key is the certificate's.
    let key =
        sigil_core::keys::PrivateKey::from_bytes(s(&minted, "private_key").as_bytes()).unwrap();
    assert_eq!(
        key.public_key().to_spki_der().unwrap(),
        leaf.tbs_certificate.subject_pki.raw
    );
    // A CSR: the key stays with its owner; the SPIFFE ID is the request's, not the CSR's.
    let owner = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["ignored.example".into()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params.serialize_request(&owner).unwrap().pem().unwrap();
    let signed = f
        .write(
            "x509/sign",
            json!({"spiffe_id": "spiffe://example.org/agent/node1", "csr": csr}),
        )
        .await;
    assert!(signed.get("private_key").is_none());
    check_svid(
        &s(&signed, "svid"),
        &s(&signed, "bundle"),
        "spiffe://example.org/agent/node1",
    );
    let signed_der = der(&s(&signed, "svid"));
    let (_, cert) = X509Certificate::from_der(&signed_der).unwrap();
    assert_eq!(
        cert.tbs_certificate
            .subject_pki
            .subject_public_key
            .data
            .as_ref(),
        rcgen::PublicKeyData::der_bytes(&owner)
    );
    // The default lifetime; and never past the authority.
    assert_eq!(cert.validity().not_after.timestamp(), NOW as i64 + 3600);
    let long = f
        .write("x509/mint", json!({"spiffe_id": id, "ttl": "9000h"}))
        .await;
    assert_eq!(long["expires_at"], json!(NOW + 30 * 24 * 3600));
    // Minting stores nothing.
    assert_eq!(f.snapshot().await, before);
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let f = Fixture::new();
    for (body, want) in [
        (json!({}), "trust_domain is required"),
        (json!({"trust_domain": "Example.org"}), "lowercase"),
        (json!({"trust_domain": "example.org:443"}), "port"),
        (
            json!({"trust_domain": "example.org", "key_type": "dsa"}),
            "unsupported key_type",
        ),
        (
            json!({"trust_domain": "example.org", "x509_svid_ttl": "48h", "ca_ttl": "24h"}),
            "cannot exceed",
        ),
    ] {
        match f.call(Operation::Update, "config", body.clone()).await {
            Err(ApiError::BadRequest(m)) => assert!(m[0].contains(want), "{body}: {m:?}"),
            other => panic!("{body}: {other:?}"),
        }
        assert!(f.snapshot().await.is_empty(), "{body}");
    }
    assert!(matches!(
        f.call(
            Operation::Update,
            "x509/mint",
            json!({"spiffe_id": "spiffe://example.org/x"})
        )
        .await,
        Err(ApiError::BadRequest(_))
    ));

    let f = Fixture::configured().await;
    let before = f.snapshot().await;
    let garbage_csr =
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n";
    for (path, body, want) in [
        (
            "config",
            json!({"trust_domain": "other.org"}),
            "cannot change",
        ),
        ("config", json!({"key_type": "rsa"}), "chosen when"),
        ("x509/mint", json!({}), "spiffe_id is required"),
        (
            "x509/mint",
            json!({"spiffe_id": "spiffe://other.org/x"}),
            "not in the trust domain",
        ),
        (
            "x509/mint",
            json!({"spiffe_id": "spiffe://example.org"}),
            "must have a path",
        ),
        (
            "x509/mint",
            json!({"spiffe_id": "spiffe://example.org/x/"}),
            "spiffe_id",
        ),
        (
            "x509/mint",
            json!({"spiffe_id": "https://example.org/x"}),
            "scheme",
        ),
        (
            "x509/mint",
            json!({"spiffe_id": "spiffe://example.org/x", "dns_names": ["a b"]}),
            "not a DNS name",
        ),
        (
            "x509/mint",
            json!({"spiffe_id": "spiffe://example.org/x", "dns_names": vec!["a.example"; 33]}),
            "at most 32",
        ),
        (
            "x509/sign",
            json!({"spiffe_id": "spiffe://example.org/x"}),
            "csr is required",
        ),
        (
            "x509/sign",
            json!({"spiffe_id": "spiffe://example.org/x", "csr": garbage_csr}),
            "csr",
        ),
    ] {
        match f.call(Operation::Update, path, body.clone()).await {
            Err(ApiError::BadRequest(m)) => assert!(m[0].contains(want), "{path} {body}: {m:?}"),
            other => panic!("{path} {body}: {other:?}"),
        }
        assert_eq!(f.snapshot().await, before, "{path} {body}");
    }
    assert_eq!(
        f.call(Operation::Read, "x509/mint", json!({})).await,
        Err(ApiError::UnsupportedPath)
    );
}

#[tokio::test]
async fn ttl_defaults_are_used_for_zero() {
    let f = Fixture::configured().await;
    let got = f
        .write(
            "x509/mint",
            json!({"spiffe_id": "spiffe://example.org/x", "ttl": 0}),
        )
        .await;
    assert_eq!(got["expires_at"], json!(NOW + 3600));
}

#[tokio::test]
async fn entries_are_created_read_updated_listed_and_deleted() {
    let f = Fixture::new();
    let body = json!({
        "spiffe_id": "spiffe://example.org/web",
        "parent_id": "spiffe://example.org/sigil/agent/join_token/n1",
        "selectors": ["unix:uid:1000"],
        "x509_svid_ttl": "10m",
        "dns_names": ["web.example.org"],
        "federates_with": ["partner.test"],
        "hint": "internal",
    });
    // No trust domain yet.
    assert!(matches!(
        f.call(Operation::Update, "entry", body.clone()).await,
        Err(ApiError::BadRequest(_))
    ));
    f.write("config", json!({"trust_domain": "example.org"}))
        .await;
    assert_eq!(
        f.call(Operation::List, "entries", json!({})).await,
        Err(ApiError::NotFound)
    );
    let created = f.write("entry", body.clone()).await;
    let id = s(&created, "id");
    assert_eq!(created["x509_svid_ttl"], json!(600));
    assert_eq!(created["federates_with"], json!(["partner.test"]));
    assert_eq!(f.read_data(&format!("entry/{id}")).await, created);
    // The same registration again is refused; a different selector set is another entry.
    let before = f.snapshot().await;
    match f.call(Operation::Update, "entry", body.clone()).await {
        Err(ApiError::BadRequest(m)) => assert!(m[0].contains(&id), "{m:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(f.snapshot().await, before);
    let mut other = body.clone();
    other["selectors"] = json!(["unix:uid:1001"]);
    let second = f.write("entry", other).await;
    // Update: only the fields sent change; it may not become the first one's twin.
    let updated = f
        .write(
            &format!("entry/{id}"),
            json!({"admin": true, "hint": "renamed"}),
        )
        .await;
    assert_eq!(updated["admin"], json!(true));
    assert_eq!(updated["selectors"], json!(["unix:uid:1000"]));
    let before = f.snapshot().await;
    let clash = f
        .call(
            Operation::Update,
            &format!("entry/{}", s(&second, "id")),
            json!({"selectors": ["unix:uid:1000"]}),
        )
        .await;
    assert!(matches!(clash, Err(ApiError::BadRequest(_))));
    assert_eq!(f.snapshot().await, before);
    let listed = f
        .call(Operation::List, "entries", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(listed["keys"].as_array().unwrap().len(), 2);
    assert_eq!(
        listed["key_info"][&id]["spiffe_id"],
        json!("spiffe://example.org/web")
    );
    f.call(Operation::Delete, &format!("entry/{id}"), json!({}))
        .await
        .unwrap();
    for path in [format!("entry/{id}"), "entry/not-a-uuid".into()] {
        assert_eq!(
            f.call(Operation::Read, &path, json!({})).await,
            Err(ApiError::NotFound),
            "{path}"
        );
    }
    assert_eq!(
        f.call(
            Operation::Update,
            &format!("entry/{id}"),
            json!({"admin": false})
        )
        .await,
        Err(ApiError::NotFound)
    );
    // A bad body stores nothing.
    let before = f.snapshot().await;
    let mut bad = body;
    bad["selectors"] = json!(["nocolon"]);
    assert!(matches!(
        f.call(Operation::Update, "entry", bad).await,
        Err(ApiError::BadRequest(_))
    ));
    assert_eq!(f.snapshot().await, before);
}

#[tokio::test]
async fn jwt_svids_carry_only_the_standard_header_and_verify_with_the_bundle_key() {
    let f = Fixture::configured().await;
    let before = f.snapshot().await;
    let id = "spiffe://example.org/ns/prod/sa/web";
    let got = f
        .write(
            "jwt/mint",
            json!({"spiffe_id": id, "audience": ["db", "cache"]}),
        )
        .await;
    assert_eq!(got["expires_at"], json!(NOW + 300));
    let token = s(&got, "token");
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let decode = |p: &str| -> Value {
        serde_json::from_slice(&sigil_core::encoding::base64url_decode(p).unwrap()).unwrap()
    };
    let jwks: Value = serde_json::from_slice(&f.raw("jwks").await).unwrap();
    let jwk = &jwks["keys"][0];
    assert!(jwk.get("use").is_none());
    assert_eq!(
        decode(parts[0]),
        json!({"alg": "ES256", "kid": jwk["kid"], "typ": "JWT"})
    );
    assert_eq!(
        decode(parts[1]),
        json!({"sub": id, "aud": ["db", "cache"], "exp": NOW + 300, "iat": NOW})
    );
    let key = PublicKey::from_bytes(jwk.to_string().as_bytes()).unwrap();
    let signature = sigil_core::encoding::base64url_decode(parts[2]).unwrap();
    let scheme = sigil_core::keys::SignatureScheme::EcdsaP256Sha256Fixed;
    let mut signed = format!("{}.{}", parts[0], parts[1]).into_bytes();
    key.verify(&signed, &signature, scheme).unwrap();
    signed[0] ^= 1;
    assert!(key.verify(&signed, &signature, scheme).is_err());
    for (body, want) in [
        (json!({"spiffe_id": id}), "audience must be specified"),
        (
            json!({"spiffe_id": id, "audience": []}),
            "audience must be specified",
        ),
        (json!({"spiffe_id": id, "audience": [""]}), "non-empty"),
        (
            json!({"spiffe_id": "spiffe://other.org/x", "audience": ["a"]}),
            "not in the trust domain",
        ),
    ] {
        match f.call(Operation::Update, "jwt/mint", body.clone()).await {
            Err(ApiError::BadRequest(m)) => assert!(m[0].contains(want), "{body}: {m:?}"),
            other => panic!("{body}: {other:?}"),
        }
    }
    assert_eq!(f.snapshot().await, before, "minting stores nothing");
}

#[tokio::test]
async fn the_authority_is_prepared_at_half_life_and_activated_with_a_sixth_left() {
    let f = Fixture::new();
    f.write(
        "config",
        json!({"trust_domain": "example.org", "ca_ttl": "60h", "x509_svid_ttl": "1h"}),
    )
    .await;
    let hour = 3600;
    let bundle_at = |later: u64| {
        let f = &f;
        async move {
            let body = f
                .call_at(Operation::Read, "bundle", json!({}), later)
                .await
                .unwrap()
                .raw
                .unwrap()
                .body;
            let doc: Value = serde_json::from_slice(&body).unwrap();
            let x5c: Vec<String> = doc["keys"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|k| k["use"] == "x509-svid")
                .map(|k| k["x5c"][0].as_str().unwrap().to_owned())
                .collect();
            (doc["spiffe_sequence"].as_u64().unwrap(), x5c)
        }
    };
    let issuer_at = |later: u64| {
        let f = &f;
        async move {
            let data = f
                .call_at(
                    Operation::Update,
                    "x509/mint",
                    json!({"spiffe_id": "spiffe://example.org/w"}),
                    later,
                )
                .await
                .unwrap()
                .data
                .unwrap();
            let der = der(&s(&data, "svid"));
            let (_, cert) = X509Certificate::from_der(&der).unwrap();
            // The signer, by the key identifier the SVID names.
            cert.extensions()
                .iter()
                .find_map(|e| match e.parsed_extension() {
                    ParsedExtension::AuthorityKeyIdentifier(aki) => {
                        aki.key_identifier.as_ref().map(|k| k.0.to_vec())
                    }
                    _ => None,
                })
                .unwrap()
        }
    };
    let (seq, first) = bundle_at(0).await;
    assert_eq!((seq, first.len()), (1, 1));
    let original = issuer_at(0).await;
    // Just before half life (the authority starts 30 s early): unchanged.
    assert_eq!(bundle_at(30 * hour - 31).await, (1, first.clone()));
    // At half life a successor is published; the original still signs.
    let (seq, two) = bundle_at(30 * hour).await;
    assert_eq!((seq, two.len()), (2, 2));
    assert_eq!(two[0], first[0]);
    assert_eq!(issuer_at(30 * hour).await, original);
    // With a sixth left the successor signs; both stay published, in a new order.
    let successor = issuer_at(50 * hour).await;
    assert_ne!(successor, original);
    let (seq, after) = bundle_at(50 * hour).await;
    assert_eq!(seq, 2, "activation publishes nothing new");
    assert_eq!(after, [two[1].clone(), two[0].clone()]);
    // Once the original expires it leaves the bundle.
    let (seq, later) = bundle_at(60 * hour).await;
    assert!(seq > 2);
    assert!(!later.contains(&first[0]), "the expired authority is gone");
    assert_eq!(later[0], two[1]);
}

#[tokio::test]
async fn jwt_keys_rotate_like_the_authority_and_stay_published_until_expiry() {
    let f = Fixture::new();
    f.write(
        "config",
        json!({"trust_domain": "example.org", "ca_ttl": "60h"}),
    )
    .await;
    let hour = 3600;
    let kids_at = |later: u64| {
        let f = &f;
        async move {
            let body = f
                .call_at(Operation::Read, "jwks", json!({}), later)
                .await
                .unwrap()
                .raw
                .unwrap()
                .body;
            let doc: Value = serde_json::from_slice(&body).unwrap();
            doc["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let signer_at = |later: u64| {
        let f = &f;
        async move {
            let data = f
                .call_at(
                    Operation::Update,
                    "jwt/mint",
                    json!({"spiffe_id": "spiffe://example.org/w", "audience": ["a"]}),
                    later,
                )
                .await
                .unwrap()
                .data
                .unwrap();
            let token = s(&data, "token");
            let header =
                sigil_core::encoding::base64url_decode(token.split('.').next().unwrap()).unwrap();
            let header: Value = serde_json::from_slice(&header).unwrap();
            header["kid"].as_str().unwrap().to_owned()
        }
    };
    let first = kids_at(0).await;
    assert_eq!(first.len(), 1);
    assert_eq!(signer_at(0).await, first[0]);
    let two = kids_at(30 * hour).await;
    assert_eq!(two.len(), 2, "a successor is published at half life");
    assert_eq!(
        signer_at(30 * hour).await,
        first[0],
        "the original still signs"
    );
    assert_eq!(
        signer_at(50 * hour).await,
        two[1],
        "the successor signs with a sixth left"
    );
    assert_eq!(kids_at(50 * hour).await, [two[1].clone(), two[0].clone()]);
    // At 60 h the original expires, and the successor (made at 30 h) is at half life.
    let later = kids_at(60 * hour).await;
    assert!(!later.contains(&first[0]), "the expired key is gone");
    assert_eq!(later[0], two[1]);
    // The bundle document publishes the same keys under `use: jwt-svid`.
    let body = f
        .call_at(Operation::Read, "bundle", json!({}), 60 * hour)
        .await
        .unwrap()
        .raw
        .unwrap()
        .body;
    let doc: Value = serde_json::from_slice(&body).unwrap();
    let jwt: Vec<_> = doc["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["use"] == "jwt-svid")
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(jwt, later);
}

#[tokio::test]
async fn an_issuer_url_adds_iss_and_the_oidc_discovery_document() {
    let f = Fixture::configured().await;
    let discovery = ".well-known/openid-configuration";
    assert_eq!(
        f.call(Operation::Read, discovery, json!({})).await,
        Err(ApiError::NotFound),
        "no issuer, no document"
    );
    let before = f.snapshot().await;
    for bad in [
        "http://sigil.example",
        "https://",
        "https://x/?q",
        "ftp://x",
    ] {
        assert!(
            matches!(
                f.call(Operation::Update, "config", json!({"jwt_issuer": bad}))
                    .await,
                Err(ApiError::BadRequest(_))
            ),
            "{bad}"
        );
        assert_eq!(f.snapshot().await, before, "{bad}");
    }
    let got = f
        .write(
            "config",
            json!({"jwt_issuer": "https://sigil.example:8200/v1/spiffe/"}),
        )
        .await;
    let issuer = "https://sigil.example:8200/v1/spiffe";
    assert_eq!(got["jwt_issuer"], json!(issuer));
    let doc: Value = serde_json::from_slice(&f.raw(discovery).await).unwrap();
    assert_eq!(doc["issuer"], json!(issuer));
    assert_eq!(doc["jwks_uri"], json!(format!("{issuer}/jwks")));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["ES256"])
    );
    let token = s(
        &f.write(
            "jwt/mint",
            json!({"spiffe_id": "spiffe://example.org/w", "audience": ["a"]}),
        )
        .await,
        "token",
    );
    let claims: Value = serde_json::from_slice(
        &sigil_core::encoding::base64url_decode(token.split('.').nth(1).unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(claims["iss"], json!(issuer));
    // An empty value clears it.
    f.write("config", json!({"jwt_issuer": ""})).await;
    assert_eq!(
        f.call(Operation::Read, discovery, json!({})).await,
        Err(ApiError::NotFound)
    );
}
