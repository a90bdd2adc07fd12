//! Wycheproof vectors for signatures and RSA-OAEP: ECDSA P-256/P-384 (DER and IEEE P1363),
//! Ed25519, RSA-PSS and RSA PKCS#1 v1.5 at 2048/3072/4096 bits, RSA-OAEP with SHA-256.
//! Keys are loaded through Sigil's own SPKI/PKCS#8 parsers, so the parsers are exercised too.
//! Every "valid" case must pass and every "invalid" case must fail.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use sigil_core::keys::{PrivateKey, PublicKey, SignatureScheme};
use wycheproof::TestResult;

/// Checks one signature case; returns 1 so callers can count.
fn check(
    key: Option<&PublicKey>,
    scheme: SignatureScheme,
    t: &(usize, &[u8], &[u8], TestResult),
) -> usize {
    let (id, msg, sig, result) = *t;
    let ok = key.is_some_and(|k| k.verify(msg, sig, scheme).is_ok());
    match result {
        TestResult::Valid => assert!(ok, "{scheme} tc {id} should verify"),
        TestResult::Invalid => assert!(!ok, "{scheme} tc {id} must not verify"),
        TestResult::Acceptable => {}
    }
    1
}

#[test]
fn ecdsa() {
    use wycheproof::ecdsa::{TestName, TestSet};
    let mut ran = 0;
    for (name, scheme) in [
        (
            TestName::EcdsaSecp256r1Sha256,
            SignatureScheme::EcdsaP256Sha256,
        ),
        (
            TestName::EcdsaSecp256r1Sha256P1363,
            SignatureScheme::EcdsaP256Sha256Fixed,
        ),
        (
            TestName::EcdsaSecp384r1Sha384,
            SignatureScheme::EcdsaP384Sha384,
        ),
        (
            TestName::EcdsaSecp384r1Sha384P1363,
            SignatureScheme::EcdsaP384Sha384Fixed,
        ),
    ] {
        for group in TestSet::load(name).unwrap().test_groups {
            let key = PublicKey::from_spki_der(&group.der).ok();
            for t in &group.tests {
                ran += check(key.as_ref(), scheme, &(t.tc_id, &t.msg, &t.sig, t.result));
            }
        }
    }
    assert!(ran > 1400, "only {ran} ECDSA cases ran");
}

#[test]
fn ed25519() {
    use wycheproof::eddsa::{TestName, TestSet};
    let mut ran = 0;
    for group in TestSet::load(TestName::Ed25519).unwrap().test_groups {
        let key = PublicKey::from_spki_der(&group.der).ok();
        for t in &group.tests {
            ran += check(
                key.as_ref(),
                SignatureScheme::Ed25519,
                &(t.tc_id, &t.msg, &t.sig, t.result),
            );
        }
    }
    assert!(ran > 100, "only {ran} Ed25519 cases ran");
}

#[test]
fn rsa_pss() {
    use wycheproof::rsa_pss_verify::{TestName, TestSet};
    let mut ran = 0;
    for (name, scheme) in [
        (
            TestName::RsaPss2048Sha256Mgf1SaltLen32,
            SignatureScheme::RsaPssSha256,
        ),
        (
            TestName::RsaPss3072Sha256Mgf1SaltLen32,
            SignatureScheme::RsaPssSha256,
        ),
        (
            TestName::RsaPss4096Sha256Mgf1SaltLen32,
            SignatureScheme::RsaPssSha256,
        ),
        (
            TestName::RsaPss2048Sha384Mgf1SaltLen48,
            SignatureScheme::RsaPssSha384,
        ),
        (
            TestName::RsaPss4096Sha384Mgf1SaltLen48,
            SignatureScheme::RsaPssSha384,
        ),
        (
            TestName::RsaPss4096Sha512Mgf1SaltLen64,
            SignatureScheme::RsaPssSha512,
        ),
    ] {
        for group in TestSet::load(name).unwrap().test_groups {
            let key = PublicKey::from_spki_der(&group.der).ok();
            assert!(
                key.is_some(),
                "{scheme}: key of {} bits refused",
                group.key_size
            );
            for t in &group.tests {
                ran += check(key.as_ref(), scheme, &(t.tc_id, &t.msg, &t.sig, t.result));
            }
        }
    }
    assert!(ran > 200, "only {ran} RSA-PSS cases ran");
}

#[test]
fn rsa_pkcs1() {
    use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    let mut ran = 0;
    let mut skipped_sizes = 0;
    for (name, scheme) in [
        (TestName::Rsa2048Sha256, SignatureScheme::RsaPkcs1Sha256),
        (TestName::Rsa3072Sha256, SignatureScheme::RsaPkcs1Sha256),
        (TestName::Rsa4096Sha256, SignatureScheme::RsaPkcs1Sha256),
        (TestName::Rsa2048Sha384, SignatureScheme::RsaPkcs1Sha384),
        (TestName::Rsa3072Sha384, SignatureScheme::RsaPkcs1Sha384),
        (TestName::Rsa4096Sha384, SignatureScheme::RsaPkcs1Sha384),
        (TestName::Rsa2048Sha512, SignatureScheme::RsaPkcs1Sha512),
        (TestName::Rsa3072Sha512, SignatureScheme::RsaPkcs1Sha512),
        (TestName::Rsa4096Sha512, SignatureScheme::RsaPkcs1Sha512),
    ] {
        for group in TestSet::load(name).unwrap().test_groups {
            if ![2048, 3072, 4096].contains(&group.key_size) {
                skipped_sizes += 1;
                continue;
            }
            let key = PublicKey::from_spki_der(&group.der).ok();
            assert!(
                key.is_some(),
                "{scheme}: key of {} bits refused",
                group.key_size
            );
            for t in &group.tests {
                ran += check(key.as_ref(), scheme, &(t.tc_id, &t.msg, &t.sig, t.result));
            }
        }
    }
    assert!(
        ran > 1000,
        "only {ran} RSA PKCS#1 cases ran ({skipped_sizes} groups of other sizes)"
    );
}

#[test]
fn rsa_oaep_sha256() {
    use wycheproof::rsa_oaep::{TestName, TestSet};
    let mut ran = 0;
    for name in [
        TestName::Rsa2048Sha256Mgf1Sha256,
        TestName::Rsa3072Sha256Mgf1Sha256,
        TestName::Rsa4096Sha256Mgf1Sha256,
    ] {
        for group in TestSet::load(name).unwrap().test_groups {
            let key = PrivateKey::from_pkcs8_der(&group.pkcs8).unwrap();
            for t in group.tests {
                // Sigil's OAEP uses the empty label; cases with a label test another API.
                if !t.label.is_empty() {
                    continue;
                }
                let opened = key.decrypt_oaep(&t.ct);
                match t.result {
                    TestResult::Valid => {
                        assert_eq!(opened.unwrap().expose_secret(), &t.pt[..], "tc {}", t.tc_id);
                    }
                    TestResult::Invalid => assert!(opened.is_err(), "tc {}", t.tc_id),
                    TestResult::Acceptable => {}
                }
                ran += 1;
            }
        }
    }
    assert!(ran > 50, "only {ran} RSA-OAEP cases ran");
}
