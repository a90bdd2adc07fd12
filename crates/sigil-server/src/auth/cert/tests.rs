//! `cert` auth tests: role CRUD and bad bodies, and logins with rcgen-made chains — an
//! X509-SVID-shaped leaf (only a SPIFFE URI SAN) matched by a URI glob, a wrong SPIFFE ID,
//! another CA, an expired leaf, a server-only leaf, no certificate at all.

use std::time::{Duration, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use serde_json::json;

use super::*;
use crate::view::PlainStore;

const T0: u64 = 1_790_000_000;

struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = time::OffsetDateTime::from_unix_timestamp(T0 as i64 - 3600).unwrap();
    p.not_after = time::OffsetDateTime::from_unix_timestamp(T0 as i64 + 86400).unwrap();
    let cert = p.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::from_ca_cert_der(cert.der(), key).unwrap(),
    }
}

/// A leaf with `uri` as its only SAN, for `eku`, expiring `life` seconds after T0.
fn leaf(ca: &Ca, uri: &str, eku: ExtendedKeyUsagePurpose, life: i64) -> Vec<u8> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = CertificateParams::default();
    p.subject_alt_names = vec![SanType::URI(uri.try_into().unwrap())];
    p.distinguished_name
        .push(DnType::OrganizationalUnitName, "payments");
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![eku];
    p.use_authority_key_identifier_extension = true;
    p.not_before = time::OffsetDateTime::from_unix_timestamp(T0 as i64 - 60).unwrap();
    p.not_after = time::OffsetDateTime::from_unix_timestamp(T0 as i64 + life).unwrap();
    p.signed_by(&key, &ca.issuer).unwrap().der().to_vec()
}

struct Fixture {
    auth: CertAuth,
    view: View,
}

impl Fixture {
    fn new() -> Self {
        let tokens = Arc::new(TokenStore::new(PlainStore::view(), 0, 0));
        Self {
            auth: CertAuth::new(tokens),
            view: PlainStore::view(),
        }
    }

    async fn call(
        &self,
        op: Operation,
        path: &str,
        body: Value,
        chain: Option<Vec<Vec<u8>>>,
    ) -> Result<Response, ApiError> {
        let mut req = Request::new(op, path);
        req.time = UNIX_EPOCH + Duration::from_secs(T0);
        req.data = body.as_object().cloned().unwrap_or_default();
        req.peer_certificates = chain.map(Arc::new);
        self.auth.handle(&req, &self.view).await
    }

    async fn login(&self, chain: Vec<Vec<u8>>) -> Result<Response, ApiError> {
        self.call(Operation::Update, "login", json!({}), Some(chain))
            .await
    }
}

fn refused(got: Result<Response, ApiError>, want: &str) {
    match got {
        Err(ApiError::BadRequest(m)) => assert!(m[0].contains(want), "{m:?}"),
        other => panic!("expected a 400 with {want:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn an_svid_logs_in_by_its_spiffe_id() {
    let f = Fixture::new();
    let spiffe = ca("SPIFFE CA");
    f.call(
        Operation::Update,
        "certs/web",
        json!({
            "certificate": spiffe.pem,
            "allowed_uri_sans": ["spiffe://example.org/ns/prod/*"],
            "token_policies": ["web"],
            "token_ttl": "1h",
        }),
        None,
    )
    .await
    .unwrap();
    let read = f
        .call(Operation::Read, "certs/web", json!({}), None)
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(
        read["allowed_uri_sans"],
        json!(["spiffe://example.org/ns/prod/*"])
    );
    assert_eq!(read["token_ttl"], json!(3600));

    let good = leaf(
        &spiffe,
        "spiffe://example.org/ns/prod/sa/web",
        ExtendedKeyUsagePurpose::ClientAuth,
        3600,
    );
    let auth = f.login(vec![good]).await.unwrap().auth.unwrap();
    assert!(
        auth.policies.contains(&"web".to_owned()),
        "{:?}",
        auth.policies
    );
    assert_eq!(auth.lease_duration, 3600);
    assert_eq!(auth.metadata.get("cert_name"), Some(&json!("web")));
    // Vault's metadata: the serial in decimal, key identifiers in `aa:bb` hex.
    let serial = auth.metadata["serial_number"].as_str().unwrap();
    assert!(
        !serial.is_empty() && serial.bytes().all(|b| b.is_ascii_digit()),
        "{serial}"
    );
    let akid = auth.metadata["authority_key_id"].as_str().unwrap();
    assert!(akid.len() > 2 && akid.contains(':'), "{akid}");
    assert!(auth.metadata.contains_key("subject_key_id"));
    assert!(auth.metadata.contains_key("common_name"));

    // Another SPIFFE ID from the trusted CA: trusted, but no role's constraints match.
    let other_id = leaf(
        &spiffe,
        "spiffe://example.org/ns/dev/sa/web",
        ExtendedKeyUsagePurpose::ClientAuth,
        3600,
    );
    refused(
        f.login(vec![other_id]).await,
        "no chain matching all constraints",
    );
    // Another CA, an expired leaf, a server-only leaf, garbage, nothing.
    let stranger = leaf(
        &ca("Other CA"),
        "spiffe://example.org/ns/prod/sa/web",
        ExtendedKeyUsagePurpose::ClientAuth,
        3600,
    );
    let expired = leaf(
        &spiffe,
        "spiffe://example.org/ns/prod/sa/web",
        ExtendedKeyUsagePurpose::ClientAuth,
        -1,
    );
    let server_only = leaf(
        &spiffe,
        "spiffe://example.org/ns/prod/sa/web",
        ExtendedKeyUsagePurpose::ServerAuth,
        3600,
    );
    for chain in [
        vec![stranger],
        vec![expired],
        vec![server_only],
        vec![vec![1, 2, 3]],
    ] {
        refused(f.login(chain).await, "invalid certificate");
    }
    refused(f.login(vec![]).await, "no client certificate found");
    refused(
        f.call(Operation::Update, "login", json!({}), None).await,
        "no client certificate found",
    );
    // Naming a role limits the login to it.
    refused(
        f.call(
            Operation::Update,
            "login",
            json!({"name": "missing"}),
            Some(vec![leaf(
                &spiffe,
                "spiffe://example.org/ns/prod/sa/web",
                ExtendedKeyUsagePurpose::ClientAuth,
                3600,
            )]),
        )
        .await,
        "invalid certificate",
    );
}

#[tokio::test]
async fn roles_are_checked_whole_and_listed() {
    let f = Fixture::new();
    let spiffe = ca("SPIFFE CA");
    for (body, want) in [
        (json!({}), "missing certificate"),
        (json!({"certificate": "not pem"}), "between 1 and"),
        (
            json!({"certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}),
            "does not parse",
        ),
        (
            json!({"certificate": spiffe.pem, "token_ttl": "2h", "token_max_ttl": "1h"}),
            "larger than",
        ),
        (
            json!({"certificate": spiffe.pem, "allowed_uri_sans": vec!["x"; 65]}),
            "at most 64",
        ),
        (
            json!({"certificate": spiffe.pem, "required_extensions": ["nocolon"]}),
            "required_extensions",
        ),
        (
            json!({"certificate": spiffe.pem, "token_policies": 5}),
            "token_policies",
        ),
    ] {
        refused(f.call(Operation::Update, "certs/r", body, None).await, want);
    }
    assert_eq!(
        f.call(Operation::List, "certs", json!({}), None).await,
        Err(ApiError::NotFound)
    );
    f.call(
        Operation::Update,
        "certs/ou",
        json!({"certificate": spiffe.pem, "allowed_organizational_units": ["pay*"]}),
        None,
    )
    .await
    .unwrap();
    let listed = f
        .call(Operation::List, "certs", json!({}), None)
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(listed["keys"], json!(["ou"]));
    // An OU glob: "payments" matches "pay*".
    let chain = vec![leaf(
        &spiffe,
        "spiffe://example.org/x",
        ExtendedKeyUsagePurpose::ClientAuth,
        3600,
    )];
    assert!(f.login(chain).await.unwrap().auth.is_some());
    refused(
        f.call(Operation::Read, "certs/a b", json!({}), None).await,
        "role names",
    );
    f.call(Operation::Delete, "certs/ou", json!({}), None)
        .await
        .unwrap();
    assert_eq!(
        f.call(Operation::Read, "certs/ou", json!({}), None).await,
        Err(ApiError::NotFound)
    );
}

#[test]
fn globs_match_as_vaults_do() {
    for (pattern, text, want) in [
        (
            "spiffe://example.org/ns/prod/*",
            "spiffe://example.org/ns/prod/sa/web",
            true,
        ),
        (
            "spiffe://example.org/ns/prod/*",
            "spiffe://example.org/ns/dev/sa/web",
            false,
        ),
        (
            "spiffe://example.org/ns/*/sa/web",
            "spiffe://example.org/ns/a/b/sa/web",
            true,
        ),
        (
            "spiffe://example.org/ns/*/sa/web",
            "spiffe://example.org/ns/prod/sa/db",
            false,
        ),
        (
            "spiffe://example.org/ns/prod/sa/web",
            "spiffe://example.org/ns/prod/sa/web",
            true,
        ),
        (
            "spiffe://example.org/ns/prod/sa/web",
            "spiffe://example.org/ns/prod/sa/webx",
            false,
        ),
        ("*", "anything", true),
        ("*.example.com", "a.b.example.com", true),
        ("*.example.com", "example.com", false),
        ("web-*-prod", "web-1-prod", true),
        ("web-*-prod", "web-1-dev", false),
        ("", "", true),
        ("", "x", false),
    ] {
        assert_eq!(glob_match(pattern, text), want, "{pattern} ~ {text}");
    }
}

#[test]
fn each_constraint_needs_one_matching_name() {
    let names = LeafNames {
        common_names: vec!["web.internal".into()],
        dns: vec!["web.example.com".into(), "alt.example.com".into()],
        uris: vec!["spiffe://example.org/ns/prod/sa/web".into()],
        ous: vec!["payments".into()],
        extensions: BTreeMap::from([
            ("1.2.3.4".to_owned(), "team-payments".to_owned()),
            ("2.5.29.17".to_owned(), String::new()),
        ]),
        ..LeafNames::default()
    };
    let role = |cn: &[&str], dns: &[&str], uri: &[&str], ou: &[&str]| CertRole {
        certificate: String::new(),
        allowed_common_names: cn.iter().map(|s| s.to_string()).collect(),
        allowed_dns_sans: dns.iter().map(|s| s.to_string()).collect(),
        allowed_uri_sans: uri.iter().map(|s| s.to_string()).collect(),
        allowed_organizational_units: ou.iter().map(|s| s.to_string()).collect(),
        required_extensions: vec![],
        token_policies: vec![],
        token_ttl: 0,
        token_max_ttl: 0,
        display_name: String::new(),
    };
    for (r, want) in [
        (role(&[], &[], &[], &[]), true),
        (role(&["web.*"], &[], &[], &[]), true),
        (role(&["db.*"], &[], &[], &[]), false),
        (role(&[], &["nope", "alt.*"], &[], &[]), true),
        (role(&[], &["*.org"], &[], &[]), false),
        (role(&[], &[], &["spiffe://example.org/*"], &["pay*"]), true),
        (role(&[], &[], &["spiffe://example.org/*"], &["hr"]), false),
        (
            role(&["web.*"], &["web.*"], &["spiffe://other.org/*"], &[]),
            false,
        ),
    ] {
        assert_eq!(r.matches(&names), want, "{r:?}");
    }
}

#[test]
fn required_extensions_match_string_values() {
    let names = LeafNames {
        extensions: BTreeMap::from([("1.2.3.4".to_owned(), "team-payments".to_owned())]),
        ..LeafNames::default()
    };
    let role = |req: &[&str]| CertRole {
        certificate: String::new(),
        allowed_common_names: vec![],
        allowed_dns_sans: vec![],
        allowed_uri_sans: vec![],
        allowed_organizational_units: vec![],
        required_extensions: req.iter().map(|s| s.to_string()).collect(),
        token_policies: vec![],
        token_ttl: 0,
        token_max_ttl: 0,
        display_name: String::new(),
    };
    for (req, want) in [
        (&[][..], true),
        (&["1.2.3.4:team-payments"][..], true),
        (&["1.2.3.4:team-*"][..], true),
        (&["1.2.3.4:*", "1.2.3.5:*"][..], false),
        (&["1.2.3.4:team-hr"][..], false),
    ] {
        assert_eq!(role(req).matches(&names), want, "{req:?}");
    }
    // Value decoding: UTF8String, IA5String, long-form length, BMPString, not a string.
    assert_eq!(extension_text(&[0x0c, 2, b'h', b'i']), "hi");
    assert_eq!(extension_text(&[0x16, 1, b'x']), "x");
    let long = [&[0x0c, 0x81, 200][..], &[b'a'; 200][..]].concat();
    assert_eq!(extension_text(&long), "a".repeat(200));
    // A length in long form where short would do is BER, not DER: refused, as Go does.
    let lax = [&[0x0c, 0x81, 3][..], b"abc"].concat();
    assert_eq!(extension_text(&lax), "");
    assert_eq!(extension_text(&[0x1e, 2, 0, b'z']), "z");
    assert_eq!(extension_text(&[0x30, 0]), "");
    assert_eq!(extension_text(&[0x0c, 5, b'a']), "");
    assert_eq!(extension_text(&[]), "");
    // Entries are checked when the role is written.
    assert!(required_extensions(vec!["1.2.3:x".into(), "1.2:*".into()]).is_ok());
    for bad in ["nocolon", "abc:x", "1:x", "1..2:x", ":x"] {
        assert!(required_extensions(vec![bad.into()]).is_err(), "{bad}");
    }
}
