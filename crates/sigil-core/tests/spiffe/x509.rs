//! X509-SVID parsing, the leaf and CA rules (one broken rule per test), and path validation.

use rcgen::{BasicConstraints, IsCa, KeyUsagePurpose};
use sigil_core::Error;
use sigil_core::spiffe::x509::verify_chain;
use sigil_core::spiffe::{SpiffeId, TrustDomain, X509Bundle, X509Svid};

use crate::pki::{
    self, ID, ca, ca_params, extension, intermediate, leaf, leaf_params, td, with_uris,
};
use crate::{NOW, vector};

/// Parses a leaf made from `params` under a fresh CA; returns the error text.
fn refused(params: &rcgen::CertificateParams) -> String {
    let ca = ca();
    let (der, key) = leaf(&ca, params);
    X509Svid::parse(&der, &key).unwrap_err().to_string()
}

#[test]
fn a_good_svid_parses_round_trips_and_verifies() {
    let (_, svid, bundle) = pki::svid();
    assert_eq!(svid.spiffe_id().as_str(), ID);
    assert_eq!(svid.chain().len(), 1);
    assert_eq!(svid.not_before(), 1_767_225_600);
    assert_eq!(svid.not_after(), 1_769_904_000);
    let (chain, key) = svid.encode().unwrap();
    let again = X509Svid::parse(&chain, key.expose_secret()).unwrap();
    assert_eq!(again, svid);
    assert_eq!(svid.verify(&bundle, NOW).unwrap().as_str(), ID);
    assert_eq!(
        verify_chain(svid.chain(), &bundle, NOW).unwrap().as_str(),
        ID
    );
    let debug = format!("{svid:?}");
    assert!(
        debug.contains("[redacted]") && debug.contains(ID),
        "{debug}"
    );
}

#[test]
fn a_chain_through_an_intermediate_verifies_against_the_root() {
    let root = ca();
    let mid = intermediate(&root, ca_params("spiffe://example.org"));
    let (der, key) = leaf(&mid, &leaf_params());
    let chain = [der, mid.der].concat();
    let svid = X509Svid::parse(&chain, &key).unwrap();
    assert_eq!(svid.chain().len(), 2);
    let bundle = X509Bundle::new(td(), vec![root.der]).unwrap();
    assert_eq!(svid.verify(&bundle, NOW).unwrap().as_str(), ID);
    // Without the intermediate the leaf does not chain to the root.
    assert!(verify_chain(&svid.chain()[..1], &bundle, NOW).is_err());
}

#[test]
fn the_leaf_needs_exactly_one_uri_san() {
    let p = with_uris(leaf_params(), &[]);
    assert!(refused(&p).contains("exactly one URI SAN, it has 0"));
    let p = with_uris(leaf_params(), &[ID, "spiffe://example.org/other"]);
    assert!(refused(&p).contains("exactly one URI SAN, it has 2"));
}

#[test]
fn the_uri_san_must_be_a_spiffe_id() {
    let p = with_uris(leaf_params(), &["https://example.org/web"]);
    assert!(refused(&p).contains("scheme"));
    let p = with_uris(leaf_params(), &["spiffe://example.org/a/"]);
    assert!(refused(&p).contains("trailing"));
}

#[test]
fn the_leaf_id_must_have_a_path() {
    let p = with_uris(leaf_params(), &["spiffe://example.org"]);
    assert!(refused(&p).contains("must have a path"));
}

#[test]
fn the_leaf_must_not_be_a_ca() {
    let mut p = leaf_params();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    assert!(refused(&p).contains("must not be a CA"));
}

#[test]
fn the_leaf_needs_key_usage() {
    let mut p = leaf_params();
    p.key_usages.clear();
    assert!(refused(&p).contains("must have a key usage"));
}

#[test]
fn the_leaf_key_usage_must_be_critical() {
    let mut p = leaf_params();
    p.key_usages.clear();
    // keyUsage (2.5.29.15) = digitalSignature, marked non-critical.
    p.custom_extensions = vec![extension(&[2, 5, 29, 15], vec![3, 2, 7, 0x80], false)];
    assert!(refused(&p).contains("must be critical"));
}

#[test]
fn the_leaf_key_usage_needs_digital_signature() {
    let mut p = leaf_params();
    p.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
    assert!(refused(&p).contains("digitalSignature"));
}

#[test]
fn the_leaf_key_usage_must_not_sign_certificates() {
    let mut p = leaf_params();
    p.key_usages.push(KeyUsagePurpose::KeyCertSign);
    assert!(refused(&p).contains("keyCertSign"));
}

#[test]
fn the_leaf_key_usage_must_not_sign_crls() {
    let mut p = leaf_params();
    p.key_usages.push(KeyUsagePurpose::CrlSign);
    assert!(refused(&p).contains("cRLSign"));
}

#[test]
fn the_leaf_eku_when_present_needs_server_and_client_auth() {
    let mut p = leaf_params();
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    assert!(refused(&p).contains("serverAuth and clientAuth"));
    let mut p = leaf_params();
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    assert!(refused(&p).contains("serverAuth and clientAuth"));
    // No EKU at all is allowed (SHOULD, not MUST).
    let mut p = leaf_params();
    p.extended_key_usages.clear();
    let ca = ca();
    let (der, key) = leaf(&ca, &p);
    let svid = X509Svid::parse(&der, &key).unwrap();
    let bundle = X509Bundle::new(td(), vec![ca.der]).unwrap();
    assert!(svid.verify(&bundle, NOW).is_ok());
}

#[test]
fn an_empty_subject_needs_a_critical_uri_san() {
    // rcgen marks the SAN critical itself when the subject is empty: accepted.
    let mut p = leaf_params();
    p.distinguished_name = rcgen::DistinguishedName::new();
    let ca = ca();
    let (der, key) = leaf(&ca, &p);
    assert!(X509Svid::parse(&der, &key).is_ok());
    // The same SAN written by hand, non-critical: refused.
    let mut p = with_uris(p, &[]);
    let uri = ID.as_bytes();
    let mut san = vec![0x30, (uri.len() + 2) as u8, 0x86, uri.len() as u8];
    san.extend_from_slice(uri);
    p.custom_extensions = vec![extension(&[2, 5, 29, 17], san, false)];
    assert!(refused(&p).contains("must be critical"));
}

#[test]
fn a_signing_certificate_must_be_a_ca() {
    let root = ca();
    let mut mid_params = ca_params("spiffe://example.org");
    mid_params.is_ca = IsCa::ExplicitNoCa;
    let mid = intermediate(&root, mid_params);
    let (der, key) = leaf(&mid, &leaf_params());
    let err = X509Svid::parse(&[der, mid.der].concat(), &key).unwrap_err();
    assert!(
        err.to_string()
            .contains("certificate 1 signs the chain but is not a CA")
    );
}

#[test]
fn a_signing_certificate_needs_key_cert_sign() {
    let root = ca();
    let mut mid_params = ca_params("spiffe://example.org");
    mid_params.key_usages = vec![KeyUsagePurpose::CrlSign];
    let mid = intermediate(&root, mid_params);
    let (der, key) = leaf(&mid, &leaf_params());
    let err = X509Svid::parse(&[der, mid.der].concat(), &key).unwrap_err();
    assert!(err.to_string().contains("lacks keyCertSign"));
}

#[test]
fn a_signing_certificate_id_has_no_path() {
    let root = ca();
    let mid = intermediate(&root, ca_params("spiffe://example.org/ca"));
    let (der, key) = leaf(&mid, &leaf_params());
    let err = X509Svid::parse(&[der, mid.der].concat(), &key).unwrap_err();
    assert!(err.to_string().contains("must have no path"));
}

#[test]
fn the_key_must_match_the_leaf() {
    let ca = ca();
    let (der, _) = leaf(&ca, &leaf_params());
    let (_, other_key) = leaf(&ca, &leaf_params());
    let err = X509Svid::parse(&der, &other_key).unwrap_err();
    assert!(err.to_string().contains("does not match"));
}

#[test]
fn validity_is_checked_at_the_given_time() {
    let (_, svid, bundle) = pki::svid();
    let before = 1_767_225_600 - 1;
    let after = 1_769_904_000 + 1;
    assert!(
        svid.verify(&bundle, before)
            .unwrap_err()
            .to_string()
            .contains("path validation")
    );
    assert!(
        svid.verify(&bundle, after)
            .unwrap_err()
            .to_string()
            .contains("path validation")
    );
}

#[test]
fn another_ca_or_trust_domain_is_refused() {
    let (_, svid, _) = pki::svid();
    let stranger = ca();
    let wrong_ca = X509Bundle::new(td(), vec![stranger.der]).unwrap();
    assert!(
        svid.verify(&wrong_ca, NOW)
            .unwrap_err()
            .to_string()
            .contains("path validation")
    );
    let (ca, _, _) = pki::svid();
    let other_td = X509Bundle::new(TrustDomain::parse("other.org").unwrap(), vec![ca.der]).unwrap();
    assert!(
        svid.verify(&other_td, NOW)
            .unwrap_err()
            .to_string()
            .contains("other.org")
    );
    assert!(svid.verify(&X509Bundle::empty(td()), NOW).is_err());
}

#[test]
fn bad_input_gives_errors_not_panics() {
    let (_, svid, bundle) = pki::svid();
    let (chain, key) = svid.encode().unwrap();
    let key = key.expose_secret();
    for (what, input) in [
        ("empty", Vec::new()),
        ("truncated", chain[..chain.len() - 1].to_vec()),
        (
            "trailing garbage",
            [chain.clone(), vec![0x30, 0x03, 1]].concat(),
        ),
        ("PEM text", b"-----BEGIN CERTIFICATE-----\n".to_vec()),
    ] {
        assert!(
            matches!(X509Svid::parse(&input, key), Err(Error::Malformed { .. })),
            "{what}"
        );
    }
    assert!(matches!(
        X509Svid::parse(&vec![0x30; 600 * 1024], key),
        Err(Error::TooLarge { .. })
    ));
    assert!(X509Svid::parse(&chain, &key[..key.len() - 1]).is_err());
    assert!(X509Svid::parse(&chain, b"").is_err());
    // Every single-bit flip is either refused when parsed or fails validation.
    for i in 0..chain.len() {
        let mut flipped = chain.clone();
        flipped[i] ^= 0x01;
        if let Ok(svid) = X509Svid::parse(&flipped, key) {
            assert!(svid.verify(&bundle, NOW).is_err(), "bit flip at byte {i}");
        }
    }
}

#[test]
fn pyca_cryptography_svid_vector_verifies() {
    let svid = X509Svid::parse(&vector("x509-svid.der"), &vector("x509-svid.key.der")).unwrap();
    assert_eq!(
        svid.spiffe_id(),
        &SpiffeId::parse("spiffe://example.org/ns/prod/sa/billing").unwrap()
    );
    let bundle = X509Bundle::parse_der(td(), &vector("x509-bundle.der")).unwrap();
    assert_eq!(svid.verify(&bundle, NOW).unwrap(), *svid.spiffe_id());
}
