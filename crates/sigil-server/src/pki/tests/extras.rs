//! Unit tests for `config/urls`, `sign-verbatim`, the role options beyond names, key formats,
//! `tidy` and `cert/crl`: each stored and read back, applied to the issued certificate, and
//! bad values refused with nothing stored.

use x509_parser::extensions::{DistributionPointName, ParsedExtension};

use super::*;

/// The certificate in a response body, parsed.
fn leaf_der(data: &Map<String, Value>) -> Vec<u8> {
    der_of(&s(data, "certificate"))
}

/// The URIs of a certificate's AIA extension by method ("ca" or "ocsp"), and of its CRL
/// distribution points.
fn urls_of(cert: &X509Certificate<'_>) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (mut ca, mut ocsp, mut crl) = (Vec::new(), Vec::new(), Vec::new());
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::AuthorityInfoAccess(aia) => {
                for d in &aia.accessdescs {
                    let GeneralName::URI(u) = d.access_location else {
                        panic!("not a URI: {d:?}")
                    };
                    match d.access_method.to_id_string().as_str() {
                        "1.3.6.1.5.5.7.48.2" => ca.push(u.to_owned()),
                        "1.3.6.1.5.5.7.48.1" => ocsp.push(u.to_owned()),
                        other => panic!("method {other}"),
                    }
                }
            }
            ParsedExtension::CRLDistributionPoints(points) => {
                for p in points.iter() {
                    if let Some(DistributionPointName::FullName(names)) = &p.distribution_point {
                        for n in names {
                            if let GeneralName::URI(u) = n {
                                crl.push((*u).to_owned());
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    (ca, ocsp, crl)
}

#[tokio::test]
async fn config_urls_put_aia_and_crl_points_in_issued_certificates() {
    let f = Fixture::new();
    f.root(json!({"common_name": "Sigil Root"})).await;
    role(
        &f,
        "web",
        json!({"allowed_domains": ["example.com"], "allow_subdomains": true, "key_type": "any"}),
    )
    .await;
    let empty = f.read("config/urls").await;
    assert_eq!(empty["issuing_certificates"], json!([]));
    assert_eq!(empty["ocsp_servers"], json!([]));
    let leaf = f
        .write("issue/web", json!({"common_name": "a.example.com"}))
        .await;
    assert_eq!(urls_of(&parse(&leaf_der(&leaf))), (vec![], vec![], vec![]));

    let written = f
        .write(
            "config/urls",
            json!({
                "issuing_certificates": ["http://ca.example/v1/pki/ca"],
                "crl_distribution_points": "http://ca.example/v1/pki/crl,http://b.example/crl",
                "ocsp_servers": ["http://ocsp.example/ocsp"],
            }),
        )
        .await;
    assert_eq!(written, f.read("config/urls").await);
    assert_eq!(
        written["crl_distribution_points"],
        json!(["http://ca.example/v1/pki/crl", "http://b.example/crl"])
    );
    for path in ["issue/web", "sign/web"] {
        let body = if path == "issue/web" {
            json!({"common_name": "a.example.com"})
        } else {
            json!({"csr": csr(&["b.example.com"], &rcgen::KeyPair::generate().unwrap())})
        };
        let leaf = f.write(path, body).await;
        let der = leaf_der(&leaf);
        assert_eq!(
            urls_of(&parse(&der)),
            (
                vec!["http://ca.example/v1/pki/ca".to_owned()],
                vec!["http://ocsp.example/ocsp".to_owned()],
                vec![
                    "http://ca.example/v1/pki/crl".to_owned(),
                    "http://b.example/crl".to_owned()
                ],
            ),
            "{path}"
        );
    }

    // A field left out keeps its value; an empty one clears it.
    f.write("config/urls", json!({"ocsp_servers": ""})).await;
    let now = f.read("config/urls").await;
    assert_eq!(now["ocsp_servers"], json!([]));
    assert_eq!(
        now["issuing_certificates"],
        json!(["http://ca.example/v1/pki/ca"])
    );
    f.write(
        "config/urls",
        json!({"issuing_certificates": [], "crl_distribution_points": []}),
    )
    .await;
    let leaf = f
        .write("issue/web", json!({"common_name": "a.example.com"}))
        .await;
    assert_eq!(urls_of(&parse(&leaf_der(&leaf))), (vec![], vec![], vec![]));

    // Bad URLs: 400 in Vault's words, nothing stored.
    f.write(
        "config/urls",
        json!({"ocsp_servers": ["http://o.example/"]}),
    )
    .await;
    let before = f.view.get("config/urls").await.unwrap();
    for bad in [
        json!({"ocsp_servers": ["not a url"]}),
        json!({"issuing_certificates": ["http://ok.example/", "ca.example/ca"]}),
        json!({"crl_distribution_points": ["http:///nohost"]}),
        json!({"enable_templating": true}),
    ] {
        let err = f
            .call(Operation::Update, "config/urls", bad.clone())
            .await
            .unwrap_err();
        assert_eq!(err.status(), 400, "{bad}");
        assert_eq!(f.view.get("config/urls").await.unwrap(), before, "{bad}");
    }
    let err = f
        .call(
            Operation::Update,
            "config/urls",
            json!({"ocsp_servers": ["x"]}),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.messages(),
        ["invalid URL found in Authority Information Access (AIA) parameter ocsp_servers: x"]
    );
}

/// A CSR with a subject beyond the common name and the given DNS SANs.
fn rich_csr(cn: &str, sans: &[&str], key: &rcgen::KeyPair) -> String {
    let mut params =
        rcgen::CertificateParams::new(sans.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .unwrap();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::OrganizationName, "Example Org");
    dn.push(rcgen::DnType::OrganizationalUnitName, "Ops");
    dn.push(rcgen::DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.serialize_request(key).unwrap().pem().unwrap()
}

#[tokio::test]
async fn sign_verbatim_keeps_the_csr_subject_and_sans() {
    let f = Fixture::new();
    f.root(json!({"common_name": "Sigil Root"})).await;
    role(
        &f,
        "short",
        json!({"allowed_domains": ["example.com"], "max_ttl": "1h"}),
    )
    .await;
    let key = rcgen::KeyPair::generate().unwrap();
    // Names no role here would allow.
    let pem = rich_csr("Not A Host Name", &["anything.invalid", "x.test"], &key);
    assert_eq!(
        f.call(Operation::Update, "sign/short", json!({"csr": pem}))
            .await
            .unwrap_err()
            .status(),
        400
    );
    let out = f
        .write(
            "sign-verbatim",
            json!({"csr": pem, "ttl": "2h", "key_usage": ["DigitalSignature"],
                   "ext_key_usage": ["CodeSigning"], "ext_key_usage_oids": "1.2.3.4"}),
        )
        .await;
    let der = leaf_der(&out);
    let cert = parse(&der);
    let subject = cert.subject().to_string();
    assert!(subject.contains("O=Example Org"), "{subject}");
    assert!(subject.contains("OU=Ops"), "{subject}");
    assert!(subject.contains("CN=Not A Host Name"), "{subject}");
    let sans: Vec<String> = cert
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .map(|n| format!("{n}"))
        .collect();
    assert_eq!(sans, ["DNSName(anything.invalid)", "DNSName(x.test)"]);
    let ku = cert.key_usage().unwrap().unwrap().value;
    assert!(ku.digital_signature() && !ku.key_encipherment() && !ku.key_agreement());
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.code_signing && !eku.server_auth && !eku.client_auth);
    assert_eq!(eku.other.len(), 1);
    assert_eq!(eku.other[0].to_id_string(), "1.2.3.4");
    let t = i64::try_from(NOW).unwrap();
    assert_eq!(cert.validity().not_after.timestamp(), t + 7200);
    assert!(
        f.read(&format!("cert/{}", s(&out, "serial_number")))
            .await
            .contains_key("certificate")
    );

    // Under a role: its max_ttl caps the lifetime; the names are still the CSR's.
    let out = f
        .write("sign-verbatim/short", json!({"csr": pem, "ttl": "2h"}))
        .await;
    let cert_der = leaf_der(&out);
    let cert = parse(&cert_der);
    assert_eq!(cert.validity().not_after.timestamp(), t + 3600);
    assert!(cert.subject().to_string().contains("O=Example Org"));
    // Vault's default key usages when the request names none.
    let ku = cert.key_usage().unwrap().unwrap().value;
    assert!(ku.digital_signature() && ku.key_encipherment() && ku.key_agreement());

    // A CSR carrying an extension the name copy does not model (a subject key identifier,
    // as Java's keytool adds) still signs, its subject types kept.
    let mut params = rcgen::CertificateParams::new(vec!["k.test".to_owned()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        rcgen::DnType::CountryName,
        rcgen::DnValue::PrintableString("NL".try_into().unwrap()),
    );
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "keytool");
    params
        .custom_extensions
        .push(rcgen::CustomExtension::from_oid_content(
            &[2, 5, 29, 14],
            vec![0x04, 0x02, 0x01, 0x02],
        ));
    let ski_csr = params.serialize_request(&key).unwrap().pem().unwrap();
    let out = f.write("sign-verbatim", json!({"csr": ski_csr})).await;
    let der = leaf_der(&out);
    let cert = parse(&der);
    assert_eq!(cert.subject().to_string(), "C=NL, CN=keytool");
    let country = cert.subject().iter_country().next().unwrap();
    assert_eq!(
        country.attr_value().header.tag(),
        x509_parser::der_parser::asn1_rs::Tag::PrintableString
    );

    let before = f.snapshot().await;
    for (path, bad) in [
        ("sign-verbatim", json!({})),
        ("sign-verbatim", json!({"csr": "junk"})),
        ("sign-verbatim", json!({"csr": pem, "key_usage": ["Nope"]})),
        (
            "sign-verbatim",
            json!({"csr": pem, "ext_key_usage_oids": ["1.x"]}),
        ),
        ("sign-verbatim/missing", json!({"csr": pem})),
    ] {
        let err = f
            .call(Operation::Update, path, bad.clone())
            .await
            .unwrap_err();
        assert_eq!(err.status(), 400, "{path} {bad}");
    }
    assert_eq!(f.snapshot().await, before);
}

#[tokio::test]
async fn role_options_are_stored_read_back_and_applied() {
    let f = Fixture::new();
    f.root(json!({"common_name": "Sigil Root"})).await;
    // Defaults, as Vault reads them back.
    role(&f, "plain", json!({"allow_any_name": true})).await;
    let plain = f.read("roles/plain").await;
    for (key, value) in [
        (
            "key_usage",
            json!(["DigitalSignature", "KeyAgreement", "KeyEncipherment"]),
        ),
        ("ext_key_usage", json!([])),
        ("ext_key_usage_oids", json!([])),
        ("enforce_hostnames", json!(true)),
        ("allow_wildcard_certificates", json!(true)),
        ("use_csr_common_name", json!(true)),
        ("use_csr_sans", json!(true)),
        ("require_cn", json!(true)),
        ("ou", json!([])),
        ("organization", json!([])),
        ("country", json!([])),
        ("locality", json!([])),
        ("province", json!([])),
        ("street_address", json!([])),
        ("postal_code", json!([])),
    ] {
        assert_eq!(plain[key], value, "{key}");
    }

    // Every option set: read back as written, then on the certificate.
    let body = json!({
        "allow_any_name": true,
        "key_usage": "DigitalSignature,CertSign",
        "ext_key_usage": ["ClientAuth", "CodeSigning"],
        "ext_key_usage_oids": ["1.3.6.1.4.1.311.20.2.2"],
        "server_flag": false, "client_flag": false,
        "ou": ["Ops"], "organization": ["Example Org"], "country": ["NL"],
        "locality": ["Amsterdam"], "province": ["Noord-Holland"],
        "street_address": ["Dam 1"], "postal_code": ["1012 JS"],
    });
    role(&f, "rich", body.clone()).await;
    let rich = f.read("roles/rich").await;
    assert_eq!(rich["key_usage"], json!(["DigitalSignature", "CertSign"]));
    for key in [
        "ext_key_usage",
        "ext_key_usage_oids",
        "ou",
        "organization",
        "country",
        "locality",
        "province",
        "street_address",
        "postal_code",
    ] {
        assert_eq!(rich[key], body[key], "{key}");
    }
    let out = f
        .write("issue/rich", json!({"common_name": "svc.example.org"}))
        .await;
    let der = leaf_der(&out);
    let cert = parse(&der);
    let subject = cert.subject().to_string();
    for part in [
        "C=NL",
        "O=Example Org",
        "OU=Ops",
        "L=Amsterdam",
        "ST=Noord-Holland",
        "CN=svc.example.org",
    ] {
        assert!(subject.contains(part), "{part} in {subject}");
    }
    let attrs: Vec<String> = cert
        .subject()
        .iter_attributes()
        .map(|a| a.attr_type().to_id_string())
        .collect();
    assert!(attrs.contains(&"2.5.4.9".to_owned()) && attrs.contains(&"2.5.4.17".to_owned()));
    let ku = cert.key_usage().unwrap().unwrap().value;
    assert!(ku.digital_signature() && ku.key_cert_sign() && !ku.key_encipherment());
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && eku.code_signing && !eku.server_auth);
    assert_eq!(eku.other[0].to_id_string(), "1.3.6.1.4.1.311.20.2.2");

    // enforce_hostnames=false: a name that is no host passes the domain rules.
    role(
        &f,
        "people",
        json!({"allow_any_name": true, "enforce_hostnames": false}),
    )
    .await;
    let out = f
        .write("issue/people", json!({"common_name": "Jane Doe"}))
        .await;
    let der = leaf_der(&out);
    let cert = parse(&der);
    assert_eq!(cert.subject().to_string(), "CN=Jane Doe");
    // No DNS SAN for a name that is no host.
    assert!(cert.subject_alternative_name().unwrap().is_none());
    assert_eq!(
        f.call(
            Operation::Update,
            "issue/plain",
            json!({"common_name": "Jane Doe"})
        )
        .await
        .unwrap_err()
        .status(),
        400
    );
    // allow_wildcard_certificates=false refuses `*.` names.
    role(
        &f,
        "nowild",
        json!({"allowed_domains": ["example.com"], "allow_subdomains": true,
        "allow_wildcard_certificates": false}),
    )
    .await;
    f.write("issue/nowild", json!({"common_name": "a.example.com"}))
        .await;
    assert_eq!(
        f.call(
            Operation::Update,
            "issue/nowild",
            json!({"common_name": "*.example.com"})
        )
        .await
        .unwrap_err()
        .status(),
        400
    );
    // require_cn=false: a certificate with SANs only.
    role(
        &f,
        "nocn",
        json!({"allow_any_name": true, "require_cn": false}),
    )
    .await;
    let out = f
        .write("issue/nocn", json!({"alt_names": "only.example.com"}))
        .await;
    let der = leaf_der(&out);
    assert!(parse(&der).subject().iter_common_name().next().is_none());
    assert_eq!(
        f.call(
            Operation::Update,
            "issue/plain",
            json!({"alt_names": "only.example.com"})
        )
        .await
        .unwrap_err()
        .status(),
        400
    );
    // use_csr_common_name / use_csr_sans = false: the body's names, not the CSR's.
    role(
        &f,
        "body",
        json!({"allow_any_name": true, "key_type": "any",
        "use_csr_common_name": false, "use_csr_sans": false}),
    )
    .await;
    let key = rcgen::KeyPair::generate().unwrap();
    let resp = f
        .call(
            Operation::Update,
            "sign/body",
            json!({"csr": csr(&["csr.example.com"], &key), "common_name": "body.example.com",
                   "alt_names": "alt.example.com"}),
        )
        .await
        .unwrap();
    assert!(resp.warnings.is_empty(), "{:?}", resp.warnings);
    let der = leaf_der(&resp.data.unwrap());
    let cert = parse(&der);
    assert!(cert.subject().to_string().contains("CN=body.example.com"));
    let sans: Vec<String> = cert
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .map(|n| format!("{n}"))
        .collect();
    assert_eq!(
        sans,
        ["DNSName(body.example.com)", "DNSName(alt.example.com)"]
    );

    // Bad values: 400, nothing stored.
    let before = f.snapshot().await;
    for bad in [
        json!({"key_usage": ["DigitalSignature", "Sign"]}),
        json!({"ext_key_usage": "ServerAuth,Nope"}),
        json!({"ext_key_usage_oids": ["1.3.x"]}),
        json!({"enforce_hostnames": "maybe"}),
        json!({"allow_wildcard_certificates": 3}),
        json!({"require_cn": "no way"}),
        json!({"country": ["N*L"]}),
        json!({"organization": {"a": 1}}),
    ] {
        let err = f
            .call(Operation::Update, "roles/bad", bad.clone())
            .await
            .unwrap_err();
        assert_eq!(err.status(), 400, "{bad}");
    }
    assert_eq!(f.snapshot().await, before);
}

#[tokio::test]
async fn issued_keys_come_in_vaults_containers() {
    let f = Fixture::new();
    f.root(json!({"common_name": "Sigil Root"})).await;
    for (key_type, bits, native) in [
        ("ec", 256, "EC PRIVATE KEY"),
        ("rsa", 2048, "RSA PRIVATE KEY"),
        ("ed25519", 0, "PRIVATE KEY"),
    ] {
        role(
            &f,
            key_type,
            json!({"allow_any_name": true, "key_type": key_type, "key_bits": bits}),
        )
        .await;
        let path = format!("issue/{key_type}");
        let out = f
            .write(&path, json!({"common_name": "k.example.com"}))
            .await;
        let pem = s(&out, "private_key");
        let body = Pem::decode_expecting(&pem, native).unwrap();
        let pkcs8 = f
            .write(
                &path,
                json!({"common_name": "k.example.com", "private_key_format": "pkcs8"}),
            )
            .await;
        let key8 = s(&pkcs8, "private_key");
        let key = rcgen::KeyPair::from_pem(&key8).unwrap();
        // The key belongs to the certificate.
        let der = leaf_der(&pkcs8);
        assert_eq!(
            parse(&der).public_key().raw,
            key.subject_public_key_info().as_slice()
        );
        let der_out = f
            .write(
                &path,
                json!({"common_name": "k.example.com", "format": "der"}),
            )
            .await;
        let raw = sigil_core::encoding::base64_decode(&s(&der_out, "private_key")).unwrap();
        assert_eq!(raw.len() > 30, !body.is_empty(), "{key_type}");
        assert!(!s(&der_out, "private_key").contains("BEGIN"));
    }
    let err = f
        .call(
            Operation::Update,
            "issue/ec",
            json!({"common_name": "k.example.com", "private_key_format": "jwk"}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), 400);
}

#[tokio::test]
async fn tidy_removes_certificates_expired_past_the_buffer() {
    let f = Fixture::new();
    f.root(json!({"common_name": "Sigil Root"})).await;
    role(&f, "web", json!({"allow_any_name": true, "key_type": "ec"})).await;
    let short = f
        .write(
            "issue/web",
            json!({"common_name": "a.example.com", "ttl": "10s"}),
        )
        .await;
    let long = f
        .write(
            "issue/web",
            json!({"common_name": "b.example.com", "ttl": "1h"}),
        )
        .await;
    assert_eq!(f.read("tidy-status").await["state"], json!("Inactive"));
    let at = |secs: u64, body: Value| {
        let mut req = Request::new(Operation::Update, "tidy");
        req.time = time() + Duration::from_secs(secs);
        if let Value::Object(m) = body {
            req.data = m;
        }
        req
    };
    // Expired 60 s ago, buffer 72 h: kept.
    let resp = f
        .pki
        .handle(&at(70, json!({"tidy_cert_store": true})), &f.view)
        .await
        .unwrap();
    assert_eq!(resp.status, Some(202));
    assert!(resp.warnings[0].starts_with("Tidy operation successfully started"));
    assert_eq!(
        f.read("tidy-status").await["cert_store_deleted_count"],
        json!(0)
    );
    // Buffer 30 s: the short one goes, the long one and the root stay.
    f.pki
        .handle(
            &at(70, json!({"tidy_cert_store": true, "safety_buffer": "30s"})),
            &f.view,
        )
        .await
        .unwrap();
    let status = f.read("tidy-status").await;
    assert_eq!(status["state"], json!("Finished"));
    assert_eq!(status["cert_store_deleted_count"], json!(1));
    assert_eq!(status["safety_buffer"], json!(30));
    assert_eq!(
        f.call(
            Operation::Read,
            &format!("cert/{}", s(&short, "serial_number")),
            json!({})
        )
        .await,
        Err(ApiError::NotFound)
    );
    f.read(&format!("cert/{}", s(&long, "serial_number"))).await;
    let keys = f.view.list("certs/", Page::default()).await.unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");

    // More than a page (100 keys) of expired certificates: every page is tidied.
    for i in 0..230 {
        f.write(
            "issue/web",
            json!({"common_name": format!("p{i}.example.com"), "ttl": "5s"}),
        )
        .await;
    }
    f.pki
        .handle(
            &at(100, json!({"tidy_cert_store": true, "safety_buffer": "1s"})),
            &f.view,
        )
        .await
        .unwrap();
    assert_eq!(
        f.read("tidy-status").await["cert_store_deleted_count"],
        json!(230)
    );
    assert_eq!(
        f.view.list("certs/", Page::default()).await.unwrap().len(),
        2
    );

    // Nothing asked: Vault's 202 and warning. Bad input: 400.
    let resp = f.pki.handle(&at(0, json!({})), &f.view).await.unwrap();
    assert_eq!(resp.status, Some(202));
    assert!(resp.warnings[0].starts_with("Manual tidy requested but no tidy operations were set"));
    for bad in [
        json!({"tidy_cert_store": true, "safety_buffer": 0}),
        json!({"tidy_cert_store": true, "safety_buffer": "soon"}),
        json!({"tidy_revoked_certs": "maybe"}),
    ] {
        let err = f
            .pki
            .handle(&at(0, bad.clone()), &f.view)
            .await
            .unwrap_err();
        assert_eq!(err.status(), 400, "{bad}");
    }
}

#[tokio::test]
async fn cert_crl_is_the_crl_in_pem() {
    let f = Fixture::new();
    assert_eq!(
        f.call(Operation::Read, "cert/crl", json!({})).await,
        Err(ApiError::NotFound)
    );
    f.root(json!({"common_name": "Sigil Root"})).await;
    let data = f.read("cert/crl").await;
    let pem = String::from_utf8(f.read_raw("crl/pem").await).unwrap();
    assert_eq!(s(&data, "certificate"), pem);
    assert_eq!(
        Pem::decode_expecting(&s(&data, "certificate"), "X509 CRL").unwrap(),
        f.read_raw("crl").await
    );
}
