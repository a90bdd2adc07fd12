//! Wycheproof vectors for the symmetric primitives: AES-GCM, ChaCha20-Poly1305, HMAC-SHA-2
//! and HKDF-SHA-2. Every "valid" case must pass, every "invalid" case must fail; "acceptable"
//! cases may go either way. Each suite asserts how many cases it ran, so a renamed or emptied
//! vector set cannot pass silently.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use sigil_core::aead::{AeadAlgorithm, AeadKey, NONCE_LEN, TAG_LEN};
use sigil_core::hash::{HashAlgorithm, MacAlgorithm, MacKey, hkdf};
use wycheproof::TestResult;

fn aead_suite(
    name: wycheproof::aead::TestName,
    alg_for: fn(usize) -> Option<AeadAlgorithm>,
) -> usize {
    let set = wycheproof::aead::TestSet::load(name).unwrap();
    let mut ran = 0;
    for group in set.test_groups {
        // Only 96-bit nonces and full 128-bit tags are part of Sigil's AEAD API.
        if group.nonce_size != NONCE_LEN * 8 || group.tag_size != TAG_LEN * 8 {
            continue;
        }
        let Some(alg) = alg_for(group.key_size) else {
            continue;
        };
        for t in group.tests {
            let key = AeadKey::new(alg, &t.key).unwrap();
            let nonce: [u8; NONCE_LEN] = t.nonce[..].try_into().unwrap();
            let mut ct_tag = t.ct.to_vec();
            ct_tag.extend_from_slice(&t.tag);
            let opened = key.open_with_nonce(&nonce, &t.aad, &ct_tag);
            match t.result {
                TestResult::Valid => {
                    assert_eq!(opened.unwrap().expose_secret(), &t.pt[..], "tc {}", t.tc_id);
                    let sealed = key.seal_with_nonce(&nonce, &t.aad, &t.pt).unwrap();
                    assert_eq!(sealed, ct_tag, "tc {}", t.tc_id);
                }
                TestResult::Invalid => assert!(opened.is_err(), "tc {} opened", t.tc_id),
                TestResult::Acceptable => {}
            }
            ran += 1;
        }
    }
    ran
}

#[test]
fn aes_gcm() {
    // AES-192 is not offered by Sigil; its groups are skipped.
    let ran = aead_suite(wycheproof::aead::TestName::AesGcm, |bits| match bits {
        128 => Some(AeadAlgorithm::Aes128Gcm),
        256 => Some(AeadAlgorithm::Aes256Gcm),
        _ => None,
    });
    assert!(ran > 120, "only {ran} AES-GCM cases ran");
}

#[test]
fn chacha20_poly1305() {
    let ran = aead_suite(wycheproof::aead::TestName::ChaCha20Poly1305, |_| {
        Some(AeadAlgorithm::ChaCha20Poly1305)
    });
    assert!(ran > 200, "only {ran} ChaCha20-Poly1305 cases ran");
}

#[test]
fn hmac() {
    use wycheproof::mac::TestName;
    let mut ran = 0;
    for (name, alg) in [
        (TestName::HmacSha256, MacAlgorithm::HmacSha256),
        (TestName::HmacSha384, MacAlgorithm::HmacSha384),
        (TestName::HmacSha512, MacAlgorithm::HmacSha512),
    ] {
        for group in wycheproof::mac::TestSet::load(name).unwrap().test_groups {
            // Truncated-tag groups test a feature Sigil refuses (verification needs the full tag).
            let full = group.tag_size == alg.tag_len() * 8;
            for t in group.tests {
                if t.key.is_empty() {
                    assert!(MacKey::new(alg, &t.key).is_err());
                    continue;
                }
                let key = MacKey::new(alg, &t.key).unwrap();
                let verified = key.verify(&t.msg, &t.tag);
                match (t.result, full) {
                    (TestResult::Valid, true) => {
                        verified.unwrap();
                        assert_eq!(key.sign(&t.msg), &t.tag[..]);
                    }
                    (TestResult::Valid, false) => {
                        assert!(verified.is_err(), "truncated tag accepted, tc {}", t.tc_id);
                    }
                    (TestResult::Invalid, _) => assert!(verified.is_err(), "tc {}", t.tc_id),
                    (TestResult::Acceptable, _) => {}
                }
                ran += 1;
            }
        }
    }
    assert!(ran > 300, "only {ran} HMAC cases ran");
}

#[test]
fn hkdf_sha2() {
    use wycheproof::hkdf::TestName;
    let mut ran = 0;
    for (name, alg) in [
        (TestName::HkdfSha256, HashAlgorithm::Sha256),
        (TestName::HkdfSha384, HashAlgorithm::Sha384),
        (TestName::HkdfSha512, HashAlgorithm::Sha512),
    ] {
        for group in wycheproof::hkdf::TestSet::load(name).unwrap().test_groups {
            for t in group.tests {
                let out = hkdf(alg, &t.ikm, &t.salt, &t.info, t.size);
                match t.result {
                    TestResult::Valid => {
                        assert_eq!(out.unwrap().expose_secret(), &t.okm[..], "tc {}", t.tc_id);
                    }
                    TestResult::Invalid => assert!(out.is_err(), "tc {}", t.tc_id),
                    TestResult::Acceptable => {}
                }
                ran += 1;
            }
        }
    }
    assert!(ran > 200, "only {ran} HKDF cases ran");
}
