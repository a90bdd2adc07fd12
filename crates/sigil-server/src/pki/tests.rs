//! Unit tests for the pki engine over a plain in-memory view: every chain it issues parses
//! with the extensions RFC 5280 and the role call for and verifies with rustls-webpki; the
//! CRL lists exactly the revoked serials; bad input gets a 400 and leaves storage as it was.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::PublicKeyData;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use serde_json::{Map, Value, json};
use sigil_core::encoding::Pem;
use sigil_storage::Page;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use super::*;
use crate::pki::ca::StoredCa;
use crate::pki::issuers::load_issuer;
use crate::view::PlainStore;

mod extras;
mod issuers;

/// A fixed request time, so validity periods can be checked exactly.
const NOW: u64 = 1_790_000_000;

struct Fixture {
    pki: Pki,
    view: View,
}

fn time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

impl Fixture {
    fn new() -> Self {
        Self {
            pki: Pki::new(),
            view: PlainStore::view(),
        }
    }

    async fn call(&self, op: Operation, path: &str, body: Value) -> Result<Response, ApiError> {
        let mut req = Request::new(op, path);
        req.time = time();
        if let Value::Object(m) = body {
            req.data = m;
        }
        if req.operation == Operation::Update && !self.pki.exists(path, &self.view).await.unwrap() {
            req.operation = Operation::Create;
        }
        self.pki.handle(&req, &self.view).await
    }

    async fn write(&self, path: &str, body: Value) -> Map<String, Value> {
        let resp = self.call(Operation::Update, path, body).await;
        resp.unwrap_or_else(|e| panic!("{path}: {e:?}"))
            .data
            .unwrap_or_default()
    }

    async fn read(&self, path: &str) -> Map<String, Value> {
        self.call(Operation::Read, path, json!({}))
            .await
            .unwrap_or_else(|e| panic!("{path}: {e:?}"))
            .data
            .unwrap_or_default()
    }

    /// The bytes of a raw response.
    async fn read_raw(&self, path: &str) -> Vec<u8> {
        let resp = self
            .call(Operation::Read, path, json!({}))
            .await
            .unwrap_or_else(|e| panic!("{path}: {e:?}"));
        resp.raw.expect("a raw body").body
    }

    /// Everything stored, to prove a failed request wrote nothing.
    async fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut prefixes = vec![
            "issuers/".to_owned(),
            "keys/".into(),
            "config/".into(),
            "roles/".into(),
            "certs/".into(),
            "crl/".into(),
        ];
        while let Some(prefix) = prefixes.pop() {
            for k in self.view.list(&prefix, Page::default()).await.unwrap() {
                let key = format!("{prefix}{k}");
                if key.ends_with('/') {
                    prefixes.push(key);
                } else {
                    out.push((key.clone(), self.view.get(&key).await.unwrap().unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    async fn root(&self, body: Value) -> Map<String, Value> {
        self.write("root/generate/internal", body).await
    }
}

fn s(m: &Map<String, Value>, k: &str) -> String {
    m.get(k)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no {k} in {m:?}"))
        .to_owned()
}

fn der_of(pem: &str) -> Vec<u8> {
    Pem::decode_expecting(pem, "CERTIFICATE").unwrap()
}

fn parse(der: &[u8]) -> X509Certificate<'_> {
    let (rest, cert) = X509Certificate::from_der(der).unwrap();
    assert!(rest.is_empty());
    cert
}

fn ski(cert: &X509Certificate<'_>) -> Vec<u8> {
    use x509_parser::extensions::ParsedExtension;
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
        .expect("a subject key identifier")
}

fn aki(cert: &X509Certificate<'_>) -> Vec<u8> {
    use x509_parser::extensions::ParsedExtension;
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(k) => {
                k.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        })
        .expect("an authority key identifier")
}

/// Serial checks shared by roots and leaves: 20 bytes, positive, and Vault's colon form.
fn check_serial(cert: &X509Certificate<'_>, colons: &str) {
    let raw = cert.raw_serial();
    assert_eq!(raw.len(), 20, "serial length");
    assert_eq!(raw[0] & 0x80, 0, "serial is positive");
    assert_eq!(serial_colons(raw), colons);
}

/// Verifies `leaf` against `root` with webpki for `usage` and each of `names`.
fn verify(root: &[u8], leaf: &[u8], usage: webpki::KeyUsage, names: &[&str]) {
    let root = CertificateDer::from(root);
    let anchor = webpki::anchor_from_trusted_cert(&root).unwrap();
    let leaf = CertificateDer::from(leaf);
    let ee = webpki::EndEntityCert::try_from(&leaf).unwrap();
    let at = UnixTime::since_unix_epoch(Duration::from_secs(NOW + 60));
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &[anchor],
        &[],
        at,
        usage,
        None,
        None,
    )
    .unwrap();
    for name in names {
        let sn = ServerName::try_from(*name).unwrap();
        ee.verify_is_valid_for_subject_name(&sn)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
}

#[tokio::test]
async fn roots_of_every_key_type() {
    for (key_type, bits, path_len) in [
        ("ec", 256, 1),
        ("ec", 384, -1),
        ("ed25519", 0, 0),
        ("rsa", 2048, 2),
    ] {
        let f = Fixture::new();
        let data = f
            .write(
                "root/generate/exported",
                json!({"common_name": "Sigil Root", "ttl": "8760h", "key_type": key_type,
                       "key_bits": bits, "max_path_length": path_len, "issuer_name": "root-1"}),
            )
            .await;
        assert_eq!(s(&data, "private_key_type"), key_type);
        assert!(s(&data, "private_key").starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(s(&data, "issuer_name"), "root-1");
        assert_eq!(data["expiration"], json!(NOW + 8760 * 3600));
        assert_eq!(s(&data, "certificate"), s(&data, "issuing_ca"));
        for k in ["issuer_id", "key_id"] {
            assert_eq!(s(&data, k).len(), 36, "{k} is a UUID");
        }
        let der = der_of(&s(&data, "certificate"));
        let cert = parse(&der);
        check_serial(&cert, &s(&data, "serial_number"));
        let bc = cert.basic_constraints().unwrap().unwrap().value;
        assert!(bc.ca, "{key_type}");
        let want = u32::try_from(path_len).ok();
        assert_eq!(bc.path_len_constraint, want, "{key_type}");
        let ku = cert.key_usage().unwrap().unwrap().value;
        assert!(ku.key_cert_sign() && ku.crl_sign());
        assert_eq!(ski(&cert).len(), 20);
        assert_eq!(cert.validity().not_before.timestamp(), NOW as i64 - 30);
        assert_eq!(
            cert.validity().not_after.timestamp(),
            (NOW + 8760 * 3600) as i64
        );
        assert!(cert.verify_signature(None).is_ok(), "self-signed");
        // The raw and JSON reads serve the same certificate.
        assert_eq!(f.read_raw("ca").await, der);
        let pem = String::from_utf8(f.read_raw("ca/pem").await).unwrap();
        assert_eq!(der_of(&pem), der);
        assert_eq!(
            s(&f.read("cert/ca").await, "certificate"),
            s(&data, "certificate")
        );
    }
}

#[tokio::test]
async fn internal_roots_keep_their_key() {
    let f = Fixture::new();
    let data = f.root(json!({"common_name": "Sigil Root"})).await;
    assert!(!data.contains_key("private_key"));
    assert!(!data.contains_key("private_key_type"));
    let ca: StoredCa = load_issuer(&f.view, "default").await.unwrap();
    let text = format!("{ca:?} {:?}", f.pki);
    let key_pem = private_key_pem(&ca.key().unwrap()).unwrap();
    let key_body: String = key_pem.lines().nth(1).unwrap().to_owned();
    assert!(!text.contains(&key_body), "no key material in Debug");
    assert!(!serde_json::to_string(&data).unwrap().contains(&key_body));
}

async fn role(f: &Fixture, name: &str, body: Value) {
    let resp = f
        .call(Operation::Update, &format!("roles/{name}"), body)
        .await
        .unwrap();
    // As in Vault, the write answers with the role as stored, which is what a read shows.
    assert_eq!(resp.data, Some(f.read(&format!("roles/{name}")).await));
}

#[tokio::test]
async fn issued_chains_verify_for_every_key_type() {
    let f = Fixture::new();
    let root = f
        .root(json!({"common_name": "Sigil Root", "ttl": "8760h"}))
        .await;
    let root_der = der_of(&s(&root, "certificate"));
    let root_ski = ski(&parse(&root_der));
    for (key_type, bits) in [("ec", 256), ("ec", 384), ("ed25519", 0), ("rsa", 2048)] {
        let name = format!("web-{key_type}-{bits}");
        role(
            &f,
            &name,
            json!({"allowed_domains": ["example.com"], "allow_subdomains": true,
                   "allowed_uri_sans": ["spiffe://example.org/*"], "key_type": key_type,
                   "key_bits": bits, "ttl": "1h", "max_ttl": "24h"}),
        )
        .await;
        let data = f
            .write(
                &format!("issue/{name}"),
                json!({"common_name": "a.example.com", "alt_names": "b.example.com,*.c.example.com",
                       "ip_sans": ["10.0.0.1", "::1"], "uri_sans": "spiffe://example.org/web"}),
            )
            .await;
        assert_eq!(s(&data, "private_key_type"), key_type);
        assert!(s(&data, "private_key").contains("PRIVATE KEY"));
        assert_eq!(data["ca_chain"], json!([s(&root, "certificate")]));
        assert_eq!(s(&data, "issuing_ca"), s(&root, "certificate"));
        assert_eq!(data["expiration"], json!(NOW + 3600));
        let der = der_of(&s(&data, "certificate"));
        let cert = parse(&der);
        check_serial(&cert, &s(&data, "serial_number"));
        assert_eq!(cert.validity().not_before.timestamp(), NOW as i64 - 30);
        assert_eq!(cert.validity().not_after.timestamp(), (NOW + 3600) as i64);
        let sans: Vec<String> = cert
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names
            .iter()
            .map(|n| match n {
                GeneralName::DNSName(d) => format!("dns:{d}"),
                GeneralName::IPAddress(b) => format!("ip:{}", b.len()),
                GeneralName::URI(u) => format!("uri:{u}"),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            sans,
            [
                "dns:a.example.com",
                "dns:b.example.com",
                "dns:*.c.example.com",
                "ip:4",
                "ip:16",
                "uri:spiffe://example.org/web"
            ]
        );
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && eku.client_auth && eku.other.is_empty());
        let ku = cert.key_usage().unwrap().unwrap().value;
        // Vault's default key_usage, whatever the key type.
        assert!(ku.digital_signature() && ku.key_agreement() && ku.key_encipherment());
        assert!(!ku.key_cert_sign());
        let bc = cert.basic_constraints().unwrap().unwrap().value;
        assert!(!bc.ca);
        assert_eq!(aki(&cert), root_ski);
        assert_eq!(ski(&cert).len(), 20);
        verify(
            &root_der,
            &der,
            webpki::KeyUsage::server_auth(),
            &["a.example.com", "b.example.com", "x.c.example.com"],
        );
        verify(&root_der, &der, webpki::KeyUsage::client_auth(), &[]);
        // Stored under its serial.
        let got = f.read(&format!("cert/{}", s(&data, "serial_number"))).await;
        assert_eq!(s(&got, "certificate"), s(&data, "certificate"));
        assert_eq!(got["revocation_time"], json!(0));
    }
}

fn csr(names: &[&str], key: &rcgen::KeyPair) -> String {
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .unwrap();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, names[0]);
    params.distinguished_name = dn;
    params.serialize_request(key).unwrap().pem().unwrap()
}

#[tokio::test]
async fn sign_warns_when_the_csr_overrules_the_body_as_vault_does() {
    let f = Fixture::new();
    f.root(json!({"common_name": "Sigil Root"})).await;
    role(&f, "r", json!({"allow_any_name": true, "key_type": "any"})).await;
    let key = rcgen::KeyPair::generate().unwrap();
    let pem = csr(&["c.test"], &key);
    let warnings = |body: Value| {
        let f = &f;
        async move {
            f.call(Operation::Update, "sign/r", body)
                .await
                .unwrap()
                .warnings
        }
    };
    assert!(warnings(json!({"csr": pem})).await.is_empty());
    assert_eq!(
        warnings(json!({"csr": pem, "common_name": "e.test", "alt_names": "f.test"})).await,
        [
            "the common_name field was provided but the role is set with \"use_csr_common_name\" set to true",
            "the alt_names field was provided but the role is set with \"use_csr_sans\" set to true",
        ]
    );
}

#[tokio::test]
async fn sign_uses_the_csr_key_and_the_role_flags() {
    let f = Fixture::new();
    let root = f
        .root(json!({"common_name": "Sigil Root", "key_type": "ed25519"}))
        .await;
    let root_der = der_of(&s(&root, "certificate"));
    role(
        &f,
        "clients",
        json!({"allowed_domains": "svc.internal", "allow_bare_domains": true,
        "server_flag": false, "key_type": "any", "not_before_duration": "5m"}),
    )
    .await;
    let key = rcgen::KeyPair::generate().unwrap();
    let data = f
        .write("sign/clients", json!({"csr": csr(&["svc.internal"], &key), "common_name": "svc.internal", "ttl": "2h"}))
        .await;
    assert!(!data.contains_key("private_key"));
    let der = der_of(&s(&data, "certificate"));
    let cert = parse(&der);
    assert_eq!(
        cert.public_key().raw,
        key.subject_public_key_info().as_slice()
    );
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth);
    assert_eq!(cert.validity().not_before.timestamp(), NOW as i64 - 300);
    assert_eq!(cert.validity().not_after.timestamp(), (NOW + 7200) as i64);
    verify(
        &root_der,
        &der,
        webpki::KeyUsage::client_auth(),
        &["svc.internal"],
    );
    // The CSR and the body name the same host: it is carried once.
    let sans = &cert
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names;
    assert_eq!(sans.len(), 1, "{sans:?}");
    // The common name may come from the CSR alone; the CSR's wins over the body's, and the
    // body's SANs are not used (Vault's `use_csr_common_name` and `use_csr_sans`).
    let data = f
        .write(
            "sign/clients",
            json!({"csr": csr(&["svc.internal"], &key), "common_name": "other.internal",
                   "alt_names": "evil.net", "ip_sans": "10.1.1.1"}),
        )
        .await;
    let der = der_of(&s(&data, "certificate"));
    let cert = parse(&der);
    let cn: Vec<_> = cert
        .subject()
        .iter_common_name()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(cn, ["svc.internal"]);
    let sans = &cert
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names;
    assert_eq!(format!("{sans:?}"), r#"[DNSName("svc.internal")]"#);
}

#[tokio::test]
async fn lifetimes_are_capped_by_the_role_and_the_issuer() {
    let f = Fixture::new();
    f.root(json!({"common_name": "Short Root", "ttl": "10h"}))
        .await;
    role(
        &f,
        "r",
        json!({"allow_any_name": true, "max_ttl": "2h", "key_type": "ec"}),
    )
    .await;
    let resp = f
        .call(
            Operation::Update,
            "issue/r",
            json!({"common_name": "x.test", "ttl": "5h"}),
        )
        .await
        .unwrap();
    assert_eq!(resp.data.as_ref().unwrap()["expiration"], json!(NOW + 7200));
    assert_eq!(resp.warnings.len(), 1);
    role(
        &f,
        "long",
        json!({"allow_any_name": true, "max_ttl": "100h", "key_type": "ec"}),
    )
    .await;
    let resp = f
        .call(
            Operation::Update,
            "issue/long",
            json!({"common_name": "x.test", "ttl": "50h"}),
        )
        .await
        .unwrap();
    assert_eq!(
        resp.data.as_ref().unwrap()["expiration"],
        json!(NOW + 36_000)
    );

    // The pure rule: request, else role, else default; then max_ttl; then the issuer.
    let mut r = Role::from_body(&Map::new()).unwrap();
    assert_eq!(
        validity(100, None, &r, i64::MAX),
        (70, 100 + issue::DEFAULT_TTL as i64, vec![])
    );
    r.ttl = 50;
    r.max_ttl = 60;
    assert_eq!(validity(100, None, &r, i64::MAX).1, 150);
    assert_eq!(validity(100, Some(90), &r, i64::MAX).1, 160);
    assert_eq!(validity(100, Some(40), &r, 120).1, 120);
}

#[test]
fn name_policy() {
    let role = |body: Value| Role::from_body(body.as_object().unwrap()).unwrap();
    let sub = role(
        json!({"allowed_domains": ["example.com"], "allow_subdomains": true, "allow_localhost": false}),
    );
    let bare = role(json!({"allowed_domains": "example.com", "allow_bare_domains": true}));
    let glob = role(
        json!({"allowed_domains": "*.dev.example.com,web-*.example.net", "allow_glob_domains": true}),
    );
    let any = role(json!({"allow_any_name": true}));
    for (r, name, ok) in [
        (&sub, "a.example.com", true),
        (&sub, "a.b.example.com", true),
        (&sub, "*.example.com", true),
        (&sub, "example.com", false),
        (&sub, "aexample.com", false),
        (&sub, "a.example.com.evil.net", false),
        (&sub, "localhost", false),
        (&bare, "example.com", true),
        (&bare, "EXAMPLE.com", true),
        (&bare, "a.example.com", false),
        (&bare, "localhost", true),
        (&glob, "x.dev.example.com", true),
        (&glob, "web-1.example.net", true),
        (&glob, "dev.example.com", false),
        (&glob, "api.example.net", false),
        (&any, "anything.at.all", true),
        (&any, "bad name", false),
        (&any, "-lead.example.com", false),
        (&any, "a..b", false),
    ] {
        assert_eq!(r.allows_host(name), ok, "{name}");
    }
    let uris = role(json!({"allowed_uri_sans": "spiffe://example.org/*"}));
    assert!(uris.allows_uri("spiffe://example.org/ns/web"));
    assert!(!uris.allows_uri("spiffe://example.com/ns/web"));
    assert!(glob_match("a*b*c", "aXbYc") && !glob_match("a*b", "ab c"));
}

#[tokio::test]
async fn no_store_roles_leave_no_trace() {
    let f = Fixture::new();
    let root = f.root(json!({"common_name": "Sigil Root"})).await;
    role(
        &f,
        "eph",
        json!({"allow_any_name": true, "no_store": true, "key_type": "ec"}),
    )
    .await;
    let data = f.write("issue/eph", json!({"common_name": "e.test"})).await;
    let listed = f
        .call(Operation::List, "certs", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(listed["keys"], json!([s(&root, "serial_number")]));
    let missing = f
        .call(
            Operation::Read,
            &format!("cert/{}", s(&data, "serial_number")),
            json!({}),
        )
        .await;
    assert_eq!(missing, Err(ApiError::NotFound));
}

#[tokio::test]
async fn an_unknown_root_kind_is_a_bad_request_in_vaults_words() {
    let f = Fixture::new();
    let bad = f
        .call(
            Operation::Update,
            "root/generate/kms",
            json!({"common_name": "x"}),
        )
        .await;
    assert!(
        matches!(&bad, Err(ApiError::BadRequest(m)) if m[0].starts_with("the \"exported\" path parameter must be \"internal\"")),
        "{bad:?}"
    );
    assert!(f.snapshot().await.is_empty());
}

#[tokio::test]
async fn issue_answers_in_the_requested_format() {
    let f = Fixture::new();
    let root = f.root(json!({"common_name": "Sigil Root"})).await;
    let ca_pem = s(&root, "certificate");
    role(&f, "r", json!({"allow_any_name": true, "key_type": "ec"})).await;

    let pem = f.write("issue/r", json!({"common_name": "a.test"})).await;
    assert_eq!(pem["not_before"], json!(NOW - 30), "backdated by the role");
    // Vault's default private_key_format: an EC key in its own container.
    assert!(s(&pem, "private_key").starts_with("-----BEGIN EC PRIVATE KEY-----"));

    let der = f
        .write("issue/r", json!({"common_name": "a.test", "format": "der"}))
        .await;
    let leaf = sigil_core::encoding::base64_decode(&s(&der, "certificate")).unwrap();
    assert_eq!(parse(&leaf).subject().to_string(), "CN=a.test");
    let ca = sigil_core::encoding::base64_decode(&s(&der, "issuing_ca")).unwrap();
    assert_eq!(ca, der_of(&ca_pem));
    assert_eq!(der["ca_chain"], json!([s(&der, "issuing_ca")]));
    let key = sigil_core::encoding::base64_decode(&s(&der, "private_key")).unwrap();
    // SEC 1 (RFC 5915) DER, as Vault answers.
    aws_lc_rs::signature::EcdsaKeyPair::from_private_key_der(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &key,
    )
    .expect("a SEC 1 DER key");

    let bundle = f
        .write(
            "issue/r",
            json!({"common_name": "a.test", "format": "pem_bundle"}),
        )
        .await;
    let text = s(&bundle, "certificate");
    let labels: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("-----BEGIN "))
        .collect();
    assert_eq!(
        labels,
        [
            "EC PRIVATE KEY-----",
            "CERTIFICATE-----",
            "CERTIFICATE-----"
        ]
    );
    assert!(text.starts_with(&s(&bundle, "private_key")));
    assert!(text.trim_end().ends_with(ca_pem.trim_end()));

    let before = f.snapshot().await;
    let bad = f
        .call(
            Operation::Update,
            "issue/r",
            json!({"common_name": "a.test", "format": "p12"}),
        )
        .await;
    assert!(
        matches!(&bad, Err(ApiError::BadRequest(m)) if m[0].contains("must be \"pem\", \"der\", or \"pem_bundle\"")),
        "{bad:?}"
    );
    assert_eq!(f.snapshot().await, before);
}

#[tokio::test]
async fn cert_reads_of_what_is_not_a_serial_are_not_found() {
    // OpenBao's cert/<serial> path takes hex and separators only; anything else but cert/ca,
    // cert/crl and cert/ca_chain is an unsupported path, a 404.
    let f = Fixture::new();
    f.root(json!({"common_name": "Sigil Root"})).await;
    for path in ["cert/zz", "cert/0102"] {
        assert_eq!(
            f.call(Operation::Read, path, json!({})).await,
            Err(ApiError::UnsupportedPath),
            "{path}"
        );
    }
    assert_eq!(
        f.call(Operation::Read, "cert/01:02", json!({})).await,
        Err(ApiError::NotFound)
    );
}

#[tokio::test]
async fn raw_reads_before_a_root_answer_204_with_their_content_type() {
    // As OpenBao does: no body and no error until a root exists; the JSON read refuses.
    let f = Fixture::new();
    for (path, content_type) in [
        ("ca", "application/pkix-cert"),
        ("ca/pem", "application/pem-certificate-chain"),
        ("crl", "application/pkix-crl"),
        ("crl/pem", "application/x-pem-file"),
    ] {
        let resp = f.call(Operation::Read, path, json!({})).await.unwrap();
        assert_eq!(resp.status, Some(204), "{path}");
        let body = resp.raw.expect("a raw body");
        assert_eq!(
            (body.content_type, body.body.len()),
            (content_type, 0),
            "{path}"
        );
    }
    assert!(matches!(
        f.call(Operation::Read, "cert/ca", json!({})).await,
        Err(ApiError::BadRequest(_))
    ));
    f.root(json!({"common_name": "Sigil Root"})).await;
    assert!(!f.read_raw("ca").await.is_empty());
    assert!(!f.read_raw("crl").await.is_empty());
}

#[tokio::test]
async fn revoked_serials_and_only_those_are_in_the_crl() {
    let f = Fixture::new();
    let root = f.root(json!({"common_name": "Sigil Root"})).await;
    let root_der = der_of(&s(&root, "certificate"));
    role(&f, "r", json!({"allow_any_name": true, "key_type": "ec"})).await;
    let a = f.write("issue/r", json!({"common_name": "a.test"})).await;
    let b = f.write("issue/r", json!({"common_name": "b.test"})).await;
    let empty = f.read_raw("crl").await;
    let got = f
        .write(
            "revoke",
            json!({"serial_number": s(&a, "serial_number").to_uppercase()}),
        )
        .await;
    assert_eq!(got["revocation_time"], json!(NOW));
    // Revoking again answers with the first time and changes nothing.
    let before = f.snapshot().await;
    let again = f
        .write(
            "revoke",
            json!({"serial_number": s(&a, "serial_number").replace(':', "-")}),
        )
        .await;
    assert_eq!(again["revocation_time"], json!(NOW));
    assert_eq!(f.snapshot().await, before);
    let read = f.read(&format!("cert/{}", s(&a, "serial_number"))).await;
    assert_eq!(read["revocation_time"], json!(NOW));
    assert_eq!(
        read["revocation_time_rfc3339"],
        got["revocation_time_rfc3339"]
    );
    let unrevoked = f.read(&format!("cert/{}", s(&b, "serial_number"))).await;
    assert_eq!(
        (
            &unrevoked["revocation_time"],
            &unrevoked["revocation_time_rfc3339"]
        ),
        (&json!(0), &json!(""))
    );

    let der = f.read_raw("crl").await;
    assert_ne!(der, empty);
    let pem = String::from_utf8(f.read_raw("crl/pem").await).unwrap();
    assert_eq!(Pem::decode_expecting(&pem, "X509 CRL").unwrap(), der);
    let (rest, crl) = x509_parser::parse_x509_crl(&der).unwrap();
    assert!(rest.is_empty());
    let root_cert = parse(&root_der);
    crl.verify_signature(root_cert.public_key()).unwrap();
    assert_eq!(crl.last_update().timestamp(), NOW as i64);
    assert_eq!(
        crl.next_update().unwrap().timestamp(),
        NOW as i64 + 72 * 3600
    );
    let serials: Vec<String> = crl
        .iter_revoked_certificates()
        .map(|r| serial_colons(r.raw_serial()))
        .collect();
    assert_eq!(serials, [s(&a, "serial_number")]);
    assert!(!serials.contains(&s(&b, "serial_number")));
    // The CRL number moves forward.
    assert_eq!(crl.crl_number().map(|n| n.to_string()), Some("2".into()));

    // A relying party with the CRL refuses the revoked leaf and accepts the other.
    let check = |leaf: &Map<String, Value>| {
        let root = CertificateDer::from(root_der.as_slice());
        let anchor = webpki::anchor_from_trusted_cert(&root).unwrap();
        let crl = webpki::CertRevocationList::from(
            webpki::BorrowedCertRevocationList::from_der(&der).unwrap(),
        );
        let crls = [&crl];
        let revocation = webpki::RevocationOptionsBuilder::new(&crls)
            .unwrap()
            .build();
        let leaf_der = der_of(&s(leaf, "certificate"));
        let leaf_der = CertificateDer::from(leaf_der.as_slice());
        let ee = webpki::EndEntityCert::try_from(&leaf_der).unwrap();
        let at = UnixTime::since_unix_epoch(Duration::from_secs(NOW + 60));
        ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &[anchor],
            &[],
            at,
            webpki::KeyUsage::server_auth(),
            Some(revocation),
            None,
        )
        .map(|_| ())
    };
    assert_eq!(check(&a), Err(webpki::Error::CertRevoked));
    assert_eq!(check(&b), Ok(()));
}

#[tokio::test]
async fn bad_input_is_refused_and_stores_nothing() {
    let f = Fixture::new();
    // Before a root exists.
    let before = f.snapshot().await;
    let cases = [
        (
            "issue/none",
            json!({"common_name": "a.test"}),
            "unknown role",
        ),
        (
            "root/generate/internal",
            json!({"common_name": ""}),
            "common_name is required",
        ),
        (
            "root/generate/internal",
            json!({"common_name": "x", "key_type": "dsa"}),
            "unsupported key_type",
        ),
        (
            "root/generate/internal",
            json!({"common_name": "x", "key_type": "rsa", "key_bits": 1024}),
            "unsupported key_bits",
        ),
        (
            "root/generate/internal",
            json!({"common_name": "x", "max_path_length": 300}),
            "max_path_length",
        ),
        (
            "root/generate/internal",
            json!({"common_name": "x", "ttl": "1y"}),
            "invalid duration",
        ),
        (
            "root/generate/internal",
            json!({"common_name": "x", "issuer_name": "a/b"}),
            "issuer_name",
        ),
        (
            "roles/r",
            json!({"key_type": "ec", "key_bits": 521}),
            "unsupported key_bits",
        ),
        (
            "roles/r",
            json!({"ttl": "2h", "max_ttl": "1h"}),
            "larger than max_ttl",
        ),
        (
            "roles/r",
            json!({"allowed_domains": ["x".repeat(300)]}),
            "allowed_domains",
        ),
        (
            "roles/r",
            json!({"allow_subdomains": "maybe"}),
            "expected a boolean",
        ),
        (
            "revoke",
            json!({"serial_number": "zz"}),
            "serial_number must be hex",
        ),
        (
            "revoke",
            json!({"serial_number": "01:02"}),
            "no default issuer",
        ),
    ];
    for (path, body, want) in cases {
        let got = f.call(Operation::Update, path, body.clone()).await;
        match got {
            Err(ApiError::BadRequest(m)) => {
                assert!(m.join("; ").contains(want), "{path} {body}: {m:?}");
            }
            other => panic!("{path} {body}: expected a 400, got {other:?}"),
        }
        assert_eq!(f.snapshot().await, before, "{path} {body}");
    }

    f.root(json!({"common_name": "Sigil Root"})).await;
    role(
        &f,
        "web",
        json!({"allowed_domains": "example.com", "allow_subdomains": true,
        "allow_ip_sans": false, "key_type": "ec"}),
    )
    .await;
    let key = rcgen::KeyPair::generate().unwrap();
    let good = csr(&["a.example.com"], &key);
    let mut tampered = Pem::decode_expecting(&good, "CERTIFICATE REQUEST").unwrap();
    let last = tampered.len() - 3;
    tampered[last] ^= 1;
    let tampered = Pem::encode("CERTIFICATE REQUEST", &tampered).unwrap();
    let ed_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let before = f.snapshot().await;
    let cases = [
        (
            "issue/missing",
            json!({"common_name": "a.example.com"}),
            "unknown role: missing",
        ),
        (
            "issue/web",
            json!({"common_name": "a.example.net"}),
            "common name a.example.net not allowed by this role",
        ),
        (
            "issue/web",
            json!({"common_name": "example.com"}),
            "common name example.com not allowed by this role",
        ),
        (
            "issue/web",
            json!({"common_name": "a.example.com", "alt_names": "evil.net"}),
            "subject alternate name evil.net not allowed by this role",
        ),
        (
            "issue/web",
            json!({"common_name": "a.example.com", "alt_names": "bad name.example.com"}),
            "subject alternate name bad name.example.com not allowed",
        ),
        (
            "issue/web",
            json!({"common_name": "a.example.com", "ip_sans": "10.0.0.1"}),
            "IP Subject Alternative Names are not allowed",
        ),
        (
            "issue/web",
            json!({"common_name": "a.example.com", "ip_sans": "not-an-ip"}),
            "is not an IP address",
        ),
        (
            "issue/web",
            json!({"common_name": "a.example.com", "uri_sans": "spiffe://x/y"}),
            "URI Subject Alternative Name",
        ),
        (
            "issue/web",
            json!({"common_name": format!("{}.example.com", "a".repeat(60))}),
            "longer than 64",
        ),
        (
            "issue/web",
            json!({"common_name": "a.example.com", "alt_names": vec!["b.example.com"; 200]}),
            "at most 100",
        ),
        (
            "issue/web",
            json!({"common_name": "a.example.com", "ttl": "soon"}),
            "invalid duration",
        ),
        ("issue/web", json!({}), "common_name field is required"),
        (
            "issue/../ca",
            json!({"common_name": "a.example.com"}),
            "invalid role name",
        ),
        (
            "sign/web",
            json!({"csr": tampered}),
            "signature does not verify",
        ),
        (
            "sign/web",
            json!({"csr": "-----BEGIN CERTIFICATE REQUEST-----\ngarbage\n-----END CERTIFICATE REQUEST-----\n"}),
            "expected one PEM block",
        ),
        (
            "sign/web",
            json!({"csr": "not pem at all"}),
            "expected one PEM block",
        ),
        (
            "sign/web",
            json!({"csr": Pem::encode("CERTIFICATE REQUEST", b"\x30\x03\x02\x01\x00").unwrap()}),
            "not a valid PKCS#10",
        ),
        (
            "sign/web",
            json!({"csr": format!("{good}{}", " ".repeat(70_000))}),
            "csr is too large",
        ),
        (
            "sign/web",
            json!({"csr": csr(&["a.example.net"], &key)}),
            "common name a.example.net not allowed by this role",
        ),
        (
            "sign/web",
            json!({"csr": csr(&["a.example.com"], &ed_key)}),
            "role requires keys of type ec",
        ),
        ("sign/web", json!({}), "the csr field is required"),
        ("revoke", json!({"serial_number": "01:02:03"}), "not found"),
        ("revoke", json!({}), "must be provided"),
        (
            "revoke",
            json!({"serial_number": "01:02:03", "certificate": "x"}),
            "not both",
        ),
        ("revoke", json!({"certificate": "short"}), "too short"),
        (
            "revoke",
            json!({"certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}),
            "could not be parsed",
        ),
    ];
    for (path, body, want) in cases {
        let got = f.call(Operation::Update, path, body.clone()).await;
        match got {
            Err(ApiError::BadRequest(m)) => assert!(m.join("; ").contains(want), "{path}: {m:?}"),
            other => panic!("{path}: expected a 400, got {other:?}"),
        }
        assert_eq!(f.snapshot().await, before, "{path}");
    }
    // The root cannot revoke itself.
    let root: StoredCa = load_issuer(&f.view, "default").await.unwrap();
    let got = f
        .call(
            Operation::Update,
            "revoke",
            json!({"serial_number": root.serial_number}),
        )
        .await;
    assert!(matches!(got, Err(ApiError::BadRequest(_))));
    assert_eq!(f.snapshot().await, before);
}

/// Issuance reads roles, issuers and URLs through the engine's cache: every change is seen
/// by the very next issue.
#[tokio::test]
async fn role_changes_apply_to_the_next_issue() {
    let f = Fixture::new();
    f.root(json!({"common_name": "Sigil Root"})).await;
    let web = |domain: &str| json!({"allowed_domains": [domain], "allow_subdomains": true, "key_type": "ec"});
    role(&f, "web", web("example.com")).await;
    let body = json!({"common_name": "a.example.com"});
    f.write("issue/web", body.clone()).await;
    role(&f, "web", web("example.org")).await;
    let refused = f.call(Operation::Update, "issue/web", body.clone()).await;
    assert!(
        matches!(refused, Err(ApiError::BadRequest(_))),
        "{refused:?}"
    );
    f.write("issue/web", json!({"common_name": "a.example.org"}))
        .await;
    f.call(Operation::Delete, "roles/web", json!({}))
        .await
        .unwrap();
    let gone = f.call(Operation::Update, "issue/web", body).await;
    assert!(
        matches!(&gone, Err(ApiError::BadRequest(m)) if m[0].contains("unknown role")),
        "{gone:?}"
    );
}

#[test]
fn leaf_paths_are_issue_and_sign_only() {
    for path in [
        "issue/web",
        "sign/web",
        "sign-verbatim",
        "sign-verbatim/web",
        "issuer/r1/issue/web",
        "issuer/default/sign/web",
    ] {
        assert!(is_leaf_path(path), "{path}");
    }
    for path in [
        "roles/web",
        "config/urls",
        "issuer/r1",
        "issuer/r1/sign-intermediate",
        "root/sign-intermediate",
        "revoke",
        "tidy",
        "issuers/import/bundle",
    ] {
        assert!(!is_leaf_path(path), "{path}");
    }
}

#[tokio::test]
async fn roles_read_list_and_delete() {
    let f = Fixture::new();
    assert_eq!(
        f.call(Operation::List, "roles", json!({})).await,
        Err(ApiError::NotFound)
    );
    role(
        &f,
        "web",
        json!({"allowed_domains": ["example.com"], "ttl": "1h"}),
    )
    .await;
    let data = f.read("roles/web").await;
    assert_eq!(data["allowed_domains"], json!(["example.com"]));
    assert_eq!(data["ttl"], json!(3600));
    assert_eq!(data["server_flag"], json!(true));
    assert_eq!(data["not_before_duration"], json!(30));
    assert_eq!(data["key_type"], json!("rsa"));
    assert_eq!(data["key_bits"], json!(2048));
    let listed = f
        .call(Operation::List, "roles/", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(listed["keys"], json!(["web"]));
    f.call(Operation::Delete, "roles/web", json!({}))
        .await
        .unwrap();
    assert_eq!(
        f.call(Operation::Read, "roles/web", json!({})).await,
        Err(ApiError::NotFound)
    );
}

#[tokio::test]
async fn only_public_reads_need_no_token() {
    let f = Fixture::new();
    assert_eq!(
        f.pki.unauthenticated_paths(),
        [
            "ca",
            "ca/pem",
            "ca_chain",
            "cert/*",
            "crl",
            "crl/pem",
            "issuer/+/crl",
            "issuer/+/crl/der",
            "issuer/+/crl/pem",
            "issuer/+/pem",
            "issuer/+/der",
            "issuer/+/json",
            "ocsp",
            "ocsp/*",
        ]
    );
    f.root(json!({"common_name": "Sigil Root"})).await;
    // Writes under the public paths are not routes.
    for path in [
        "ca",
        "cert/ca",
        "crl",
        "ca_chain",
        "issuer/default/pem",
        "issuer/default/json",
    ] {
        let got = f.call(Operation::Update, path, json!({})).await;
        assert_eq!(got, Err(ApiError::UnsupportedPath), "{path}");
    }
}

mod revocation;
