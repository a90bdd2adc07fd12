//! Several issuers per mount: root → intermediate → leaf chains that verify with webpki and
//! carry the right path length and key identifiers, references by id, name and `default`,
//! imports that are idempotent, and bad input that stores nothing.

use super::*;

/// A root mount and an intermediate mount whose issuer the root signed (with
/// `max_path_length` 0), and the intermediate's key id.
struct Pair {
    root: Fixture,
    int: Fixture,
    root_pem: String,
    int_pem: String,
    key_id: String,
}

async fn pair() -> Pair {
    let root = Fixture::new();
    let r = root
        .root(json!({"common_name": "Sigil Root", "issuer_name": "root", "ttl": "8760h"}))
        .await;
    let int = Fixture::new();
    let csr_out = int
        .write(
            "intermediate/generate/internal",
            json!({"common_name": "ignored", "key_type": "ec", "key_name": "int-key",
                   "add_basic_constraints": true}),
        )
        .await;
    assert!(!csr_out.contains_key("private_key"));
    let key_id = s(&csr_out, "key_id");
    let signed = root
        .write(
            "root/sign-intermediate",
            json!({"csr": s(&csr_out, "csr"), "common_name": "Sigil Int", "ttl": "1000h",
                   "max_path_length": 0}),
        )
        .await;
    assert_eq!(s(&signed, "issuing_ca"), s(&r, "certificate"));
    assert_eq!(
        signed["ca_chain"],
        json!([s(&signed, "certificate"), s(&r, "certificate")])
    );
    assert_eq!(signed["expiration"], json!(NOW + 1000 * 3600));
    // The signed CA is stored like any certificate, with its issuer.
    let stored: CertEntry = root
        .view
        .get_json(&format!(
            "certs/{}",
            serial_key(&s(&signed, "serial_number"))
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.issuer_id, s(&r, "issuer_id"));
    let int_pem = s(&signed, "certificate");
    let set = int
        .write(
            "intermediate/set-signed",
            json!({"certificate": format!("{int_pem}\n{}", s(&r, "certificate"))}),
        )
        .await;
    let imported = set["imported_issuers"].as_array().unwrap();
    assert_eq!(imported.len(), 2, "{set:?}");
    assert_eq!(set["imported_keys"], Value::Null);
    let mapping = set["mapping"].as_object().unwrap();
    assert_eq!(mapping[imported[0].as_str().unwrap()], json!(key_id));
    assert_eq!(mapping[imported[1].as_str().unwrap()], json!(""));
    Pair {
        root_pem: s(&r, "certificate"),
        root,
        int,
        int_pem,
        key_id,
    }
}

#[tokio::test]
async fn root_intermediate_leaf_chain_verifies_and_parses() {
    let p = pair().await;
    role(
        &p.int,
        "web",
        json!({"allowed_domains": "example.com", "allow_subdomains": true, "key_type": "ec",
               "max_ttl": "100000h"}),
    )
    .await;
    let leaf = p
        .int
        .write(
            "issue/web",
            json!({"common_name": "www.example.com", "ttl": "5000h"}),
        )
        .await;
    assert_eq!(s(&leaf, "issuing_ca"), p.int_pem);
    assert_eq!(leaf["ca_chain"], json!([p.int_pem, p.root_pem]));
    let (root_der, int_der) = (der_of(&p.root_pem), der_of(&p.int_pem));
    let leaf_der = der_of(&s(&leaf, "certificate"));
    let (root_c, int_c, leaf_c) = (parse(&root_der), parse(&int_der), parse(&leaf_der));
    // The leaf's notAfter is capped by its issuer's.
    assert_eq!(
        leaf_c.validity().not_after.timestamp(),
        int_c.validity().not_after.timestamp()
    );
    let bc = int_c.basic_constraints().unwrap().unwrap().value;
    assert!(bc.ca);
    assert_eq!(bc.path_len_constraint, Some(0));
    assert_eq!(int_c.subject().to_string(), "CN=Sigil Int");
    assert_eq!(aki(&int_c), ski(&root_c));
    assert_eq!(aki(&leaf_c), ski(&int_c));
    let anchor_der = CertificateDer::from(root_der.as_slice());
    let anchor = webpki::anchor_from_trusted_cert(&anchor_der).unwrap();
    let leaf_cd = CertificateDer::from(leaf_der.as_slice());
    let ee = webpki::EndEntityCert::try_from(&leaf_cd).unwrap();
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &[anchor],
        &[CertificateDer::from(int_der.as_slice())],
        UnixTime::since_unix_epoch(Duration::from_secs(NOW + 60)),
        webpki::KeyUsage::server_auth(),
        None,
        None,
    )
    .unwrap();
    // Without a common_name the CSR's is used; use_csr_values takes its whole subject.
    let csr_out = p
        .root
        .write(
            "intermediate/generate/internal",
            json!({"common_name": "From The CSR"}),
        )
        .await;
    for body in [
        json!({"csr": s(&csr_out, "csr")}),
        json!({"csr": s(&csr_out, "csr"), "common_name": "ignored", "use_csr_values": true}),
    ] {
        let signed = p.root.write("root/sign-intermediate", body).await;
        let der = der_of(&s(&signed, "certificate"));
        assert_eq!(parse(&der).subject().to_string(), "CN=From The CSR");
    }
    // The intermediate cannot sign a further CA (path length 0).
    let csr_out = p
        .root
        .write(
            "intermediate/generate/exported",
            json!({"common_name": "x"}),
        )
        .await;
    assert!(s(&csr_out, "private_key").starts_with("-----BEGIN PRIVATE KEY-----"));
    let got = p
        .int
        .call(
            Operation::Update,
            "issuer/default/sign-intermediate",
            json!({"csr": s(&csr_out, "csr"), "common_name": "deeper"}),
        )
        .await;
    assert!(
        matches!(&got, Err(ApiError::BadRequest(m)) if m[0].contains("max path length of 0")),
        "{got:?}"
    );
}

#[tokio::test]
async fn reads_of_issuers_keys_and_the_chain() {
    let p = pair().await;
    let f = &p.int;
    let list = f
        .call(Operation::List, "issuers", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    let ids = list["keys"].as_array().unwrap();
    assert_eq!(ids.len(), 2);
    let defaults: Vec<_> = ids
        .iter()
        .filter(|id| list["key_info"][id.as_str().unwrap()]["is_default"] == json!(true))
        .collect();
    assert_eq!(defaults.len(), 1);
    let read = f.read("issuer/default").await;
    assert_eq!(s(&read, "key_id"), p.key_id);
    assert_eq!(read["ca_chain"], json!([p.int_pem, p.root_pem]));
    assert_eq!(&read["issuer_id"], defaults[0]);
    let id = s(&read, "issuer_id");
    // Raw forms: the certificate alone.
    let pem_path = format!("issuer/{id}/pem");
    let raw = f
        .call(Operation::Read, &pem_path, json!({}))
        .await
        .unwrap()
        .raw
        .unwrap();
    assert_eq!(raw.content_type, "application/pem-certificate-chain");
    assert_eq!(String::from_utf8(raw.body).unwrap(), p.int_pem);
    assert_eq!(
        f.read_raw(&format!("issuer/{id}/der")).await,
        der_of(&p.int_pem)
    );
    let json_form = f.read(&format!("issuer/{id}/json")).await;
    assert_eq!(json_form["ca_chain"], read["ca_chain"]);
    // The default chain, leaf-most first.
    let chain = String::from_utf8(f.read_raw("ca_chain").await).unwrap();
    assert_eq!(
        chain,
        format!("{}\n{}", p.int_pem.trim(), p.root_pem.trim())
    );
    let json_chain = f.read("cert/ca_chain").await;
    assert_eq!(s(&json_chain, "ca_chain"), chain);
    assert_eq!(s(&json_chain, "certificate"), chain);
    // Keys: facts, never the private part.
    let keys = f
        .call(Operation::List, "keys", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(keys["keys"], json!([p.key_id]));
    for reference in ["int-key", p.key_id.as_str(), "default"] {
        let k = f.read(&format!("key/{reference}")).await;
        assert_eq!(s(&k, "key_id"), p.key_id);
        assert_eq!(s(&k, "key_type"), "ec");
        assert!(!serde_json::to_string(&k).unwrap().contains("PRIVATE"));
    }
    // config/issuers.
    let c = f.read("config/issuers").await;
    assert_eq!(s(&c, "default"), id);
    assert_eq!(c["default_follows_latest_issuer"], json!(false));
    // Deleting the root (not the default) leaves the intermediate without a chain above it.
    let root_id = ids
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .find(|i| *i != id)
        .unwrap();
    let deleted = f
        .call(Operation::Delete, &format!("issuer/{root_id}"), json!({}))
        .await
        .unwrap();
    assert!(deleted.warnings.is_empty());
    assert_eq!(
        f.read("issuer/default").await["ca_chain"],
        json!([p.int_pem])
    );
    assert_eq!(
        String::from_utf8(f.read_raw("ca_chain").await).unwrap(),
        p.int_pem.trim()
    );
}

#[tokio::test]
async fn several_roots_references_and_the_signer_cache() {
    let f = Fixture::new();
    let r1 = f
        .root(json!({"common_name": "Root One", "issuer_name": "r1", "key_name": "k1"}))
        .await;
    let r2 = f
        .root(json!({"common_name": "Root Two", "issuer_name": "r2", "key_type": "ed25519"}))
        .await;
    assert_eq!(s(&r1, "key_name"), "k1");
    role(
        &f,
        "web",
        json!({"allowed_domains": "example.com", "allow_subdomains": true, "key_type": "ec"}),
    )
    .await;
    let issued_by = |leaf: &Map<String, Value>| s(leaf, "issuing_ca");
    let body = json!({"common_name": "a.example.com"});
    // The first root is the default; the second is reached by name or id.
    let leaf = f.write("issue/web", body.clone()).await;
    assert_eq!(issued_by(&leaf), s(&r1, "certificate"));
    let stored: CertEntry = f
        .view
        .get_json(&format!("certs/{}", serial_key(&s(&leaf, "serial_number"))))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.issuer_id, s(&r1, "issuer_id"));
    assert_eq!(f.pki.signers.len(), 1);
    for reference in ["r2", s(&r2, "issuer_id").as_str()] {
        let leaf = f
            .write(&format!("issuer/{reference}/issue/web"), body.clone())
            .await;
        assert_eq!(issued_by(&leaf), s(&r2, "certificate"));
    }
    assert_eq!(f.pki.signers.len(), 2);
    // sign through a reference: the CSR's key, the referenced issuer.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let signed = f
        .write(
            "issuer/r2/sign/web",
            json!({"csr": csr(&["s.example.com"], &key)}),
        )
        .await;
    assert_eq!(issued_by(&signed), s(&r2, "certificate"));
    assert_eq!(signed["ca_chain"], json!([s(&r2, "certificate")]));
    let signed_der = der_of(&s(&signed, "certificate"));
    assert_eq!(
        parse(&signed_der).public_key().raw,
        key.subject_public_key_info().as_slice()
    );
    // A role's issuer_ref.
    role(
        &f,
        "web2",
        json!({"allowed_domains": "example.com", "allow_subdomains": true, "key_type": "ec",
               "issuer_ref": "r2"}),
    )
    .await;
    assert_eq!(s(&f.read("roles/web2").await, "issuer_ref"), "r2");
    assert_eq!(s(&f.read("roles/web").await, "issuer_ref"), "default");
    let leaf = f.write("issue/web2", body.clone()).await;
    assert_eq!(issued_by(&leaf), s(&r2, "certificate"));
    // Moving the default.
    let c = f.write("config/issuers", json!({"default": "r2"})).await;
    assert_eq!(s(&c, "default"), s(&r2, "issuer_id"));
    let leaf = f.write("issue/web", body.clone()).await;
    assert_eq!(issued_by(&leaf), s(&r2, "certificate"));
    // Moving the default keeps both signers; renaming drops that issuer's.
    assert_eq!(f.pki.signers.len(), 2);
    let renamed = f.write("issuer/r2", json!({"issuer_name": "two"})).await;
    assert_eq!(s(&renamed, "issuer_name"), "two");
    assert_eq!(f.pki.signers.len(), 1);
    f.write("issuer/two/issue/web", body.clone()).await;
    // Deleting the default leaves none; issuing from default then says so.
    let deleted = f
        .call(Operation::Delete, "issuer/two", json!({}))
        .await
        .unwrap();
    assert_eq!(deleted.warnings.len(), 1);
    assert_eq!(f.pki.signers.len(), 1);
    let got = f.call(Operation::Update, "issue/web", body.clone()).await;
    assert!(
        matches!(&got, Err(ApiError::BadRequest(m)) if m[0].contains("no default issuer")),
        "{got:?}"
    );
    f.write("issuer/r1/issue/web", body).await;
}

#[tokio::test]
async fn bundles_import_once_and_then_are_existing() {
    let a = Fixture::new();
    let exported = a
        .write(
            "root/generate/exported",
            json!({"common_name": "Imported Root"}),
        )
        .await;
    let bundle = format!(
        "{}\n{}",
        s(&exported, "certificate"),
        s(&exported, "private_key")
    );
    let b = Fixture::new();
    let first = b
        .write("issuers/import/bundle", json!({"pem_bundle": bundle}))
        .await;
    let issuers = first["imported_issuers"].as_array().unwrap().clone();
    let keys = first["imported_keys"].as_array().unwrap().clone();
    assert_eq!((issuers.len(), keys.len()), (1, 1));
    assert_eq!(first["mapping"][issuers[0].as_str().unwrap()], keys[0]);
    assert_eq!(first["existing_issuers"], Value::Null);
    let again = b.write("config/ca", json!({"pem_bundle": bundle})).await;
    assert_eq!(again["imported_issuers"], Value::Null);
    assert_eq!(again["imported_keys"], Value::Null);
    assert_eq!(again["existing_issuers"], json!(issuers));
    assert_eq!(again["existing_keys"], json!(keys));
    // The imported key signs.
    role(
        &b,
        "web",
        json!({"allowed_domains": "example.com", "allow_subdomains": true, "key_type": "ec"}),
    )
    .await;
    let leaf = b
        .write("issue/web", json!({"common_name": "x.example.com"}))
        .await;
    verify(
        &der_of(&s(&exported, "certificate")),
        &der_of(&s(&leaf, "certificate")),
        webpki::KeyUsage::server_auth(),
        &["x.example.com"],
    );
    // A certificate imported alone, then its key: the issuer gains the key.
    let c = Fixture::new();
    let only_cert = c
        .write(
            "issuers/import/bundle",
            json!({"pem_bundle": s(&exported, "certificate")}),
        )
        .await;
    let id = only_cert["imported_issuers"][0]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(only_cert["mapping"][&id], json!(""));
    c.write("issuers/import/bundle", json!({"pem_bundle": bundle}))
        .await;
    assert_eq!(
        s(&c.read(&format!("issuer/{id}")).await, "key_id").len(),
        36
    );
}

#[tokio::test]
async fn bad_issuer_input_is_refused_and_stores_nothing() {
    let p = pair().await;
    let f = &p.int;
    let other = Fixture::new();
    let stranger = other
        .write(
            "root/generate/exported",
            json!({"common_name": "Stranger", "issuer_name": "s"}),
        )
        .await;
    let leaf_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut tampered = der_of_csr(&csr(&["a.example.com"], &leaf_key));
    let last = tampered.len() - 3;
    tampered[last] ^= 1;
    let tampered = Pem::encode("CERTIFICATE REQUEST", &tampered).unwrap();
    // A leaf (not a CA) to import.
    role(
        &other,
        "web",
        json!({"allowed_domains": "example.com", "allow_subdomains": true, "key_type": "ec"}),
    )
    .await;
    let leaf = other
        .write("issue/web", json!({"common_name": "l.example.com"}))
        .await;
    role(
        f,
        "web",
        json!({"allowed_domains": "example.com", "allow_subdomains": true, "key_type": "ec"}),
    )
    .await;
    let before = f.snapshot().await;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "issuer/nope/issue/web",
            json!({"common_name": "a.example.com"}),
            "unable to find PKI issuer for reference: nope",
        ),
        (
            "issuer/nope/sign-intermediate",
            json!({"csr": "x", "common_name": "x"}),
            "unable to find PKI issuer for reference: nope",
        ),
        (
            "config/issuers",
            json!({"default": "nope"}),
            "unable to find PKI issuer for reference: nope",
        ),
        (
            "config/issuers",
            json!({"default": "default"}),
            "can't be 'default'",
        ),
        (
            "intermediate/generate/internal",
            json!({"common_name": "x", "key_name": "int-key"}),
            "key name already in use",
        ),
        (
            "intermediate/generate/internal",
            json!({"common_name": "x", "key_name": "default"}),
            "not \"default\"",
        ),
        (
            "intermediate/set-signed",
            json!({"certificate": s(&stranger, "certificate")}),
            "matches no key of this mount",
        ),
        (
            "intermediate/set-signed",
            json!({"certificate": format!("{}{}", p.int_pem, s(&stranger, "private_key"))}),
            "private keys found in the PEM bundle",
        ),
        (
            "intermediate/set-signed",
            json!({"certificate": "not pem at all"}),
            "no PEM blocks found",
        ),
        (
            "issuers/import/bundle",
            json!({"pem_bundle": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}),
            "does not parse",
        ),
        (
            "issuers/import/bundle",
            json!({"pem_bundle": format!("{}{}", p.root_pem, s(&stranger, "private_key"))}),
            "matches none of its certificates",
        ),
        (
            "issuers/import/bundle",
            json!({"pem_bundle": s(&leaf, "certificate")}),
            "Refusing to import non-CA certificate",
        ),
        (
            "issuers/import/bundle",
            json!({}),
            "pem_bundle field is required",
        ),
        (
            "root/sign-intermediate",
            json!({"csr": tampered, "common_name": "x"}),
            "signature does not verify",
        ),
        (
            "root/sign-intermediate",
            json!({"csr": "garbage", "common_name": "x"}),
            "CERTIFICATE REQUEST",
        ),
        (
            "intermediate/generate/kms",
            json!({"common_name": "x"}),
            "must be \"internal\" or \"exported\"",
        ),
    ];
    for (path, body, want) in cases {
        let got = f.call(Operation::Update, path, body).await;
        match got {
            Err(ApiError::BadRequest(m)) => assert!(m.join("; ").contains(want), "{path}: {m:?}"),
            other => panic!("{path}: expected a 400, got {other:?}"),
        }
        assert_eq!(f.snapshot().await, before, "{path}");
    }
    // Names are unique per mount.
    let got = p
        .root
        .call(
            Operation::Update,
            "root/generate/internal",
            json!({"common_name": "again", "issuer_name": "root"}),
        )
        .await;
    assert!(
        matches!(&got, Err(ApiError::BadRequest(m))
            if m[0] == "issuer name already in use"),
        "{got:?}"
    );
    for bad in ["issuer/nope", "key/nope", "issuer/nope/pem"] {
        let got = f.call(Operation::Read, bad, json!({})).await;
        assert!(
            matches!(got, Err(ApiError::BadRequest(_))),
            "{bad}: {got:?}"
        );
    }
}

fn der_of_csr(pem: &str) -> Vec<u8> {
    Pem::decode_expecting(pem, "CERTIFICATE REQUEST").unwrap()
}
