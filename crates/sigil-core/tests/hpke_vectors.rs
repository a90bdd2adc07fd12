//! HPKE against the RFC 9180 test vectors and vectors made by pyhpke.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::path::PathBuf;

use sigil_core::encoding::hex_decode;
use sigil_core::hpke::{HpkeAead, HpkeSuite, open_auth, open_base, seal_with_ikm_e_for_tests};

fn load(name: &str) -> Vec<serde_json::Value> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/hpke")
        .join(name);
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn hex(v: &serde_json::Value) -> Vec<u8> {
    hex_decode(v.as_str().unwrap()).unwrap()
}

fn suite(aead_id: u64) -> HpkeSuite {
    HpkeSuite {
        aead: match aead_id {
            2 => HpkeAead::Aes256Gcm,
            3 => HpkeAead::ChaCha20Poly1305,
            other => panic!("aead {other}"),
        },
    }
}

#[test]
fn rfc9180_vectors() {
    let vectors = load("rfc9180.json");
    assert_eq!(vectors.len(), 4, "base and auth for two AEADs");
    let mut ran = 0;
    for v in vectors {
        let suite = suite(v["aead_id"].as_u64().unwrap());
        let auth = v["mode"] == 2;
        let (sk_r, pk_r, enc, info) = (
            hex(&v["skRm"]),
            hex(&v["pkRm"]),
            hex(&v["enc"]),
            hex(&v["info"]),
        );
        let pk_s = auth.then(|| hex(&v["pkSm"]));
        let sk_s = auth.then(|| hex(&v["skSm"]));
        // The first encryption uses sequence number 0: single-shot reproduces it exactly.
        let first = &v["encryptions"][0];
        let (got_enc, got_ct) = seal_with_ikm_e_for_tests(
            suite,
            &pk_r,
            sk_s.as_deref(),
            &hex(&v["ikmE"]),
            &info,
            &hex(&first["aad"]),
            &hex(&first["pt"]),
        )
        .unwrap();
        assert_eq!(got_enc, enc);
        assert_eq!(got_ct, hex(&first["ct"]));
        let pt = match &pk_s {
            Some(pk_s) => open_auth(
                suite,
                &sk_r,
                pk_s,
                &enc,
                &info,
                &hex(&first["aad"]),
                &hex(&first["ct"]),
            ),
            None => open_base(
                suite,
                &sk_r,
                &enc,
                &info,
                &hex(&first["aad"]),
                &hex(&first["ct"]),
            ),
        };
        assert_eq!(pt.unwrap().expose_secret(), hex(&first["pt"]).as_slice());
        // Later encryptions use later nonces: a single-shot open must refuse them.
        let later = &v["encryptions"][1];
        assert!(
            open_base(
                suite,
                &sk_r,
                &enc,
                &info,
                &hex(&later["aad"]),
                &hex(&later["ct"])
            )
            .is_err()
        );
        ran += 1;
    }
    assert_eq!(ran, 4);
}

#[test]
fn pyhpke_vectors() {
    let mut ran = 0;
    for v in load("pyhpke-vectors.json") {
        if v["kem_id"] != 32 {
            continue; // P-256 KEM: not offered by Sigil.
        }
        let suite = suite(v["aead_id"].as_u64().unwrap());
        let (sk_r, enc, info, aad, ct) = (
            hex(&v["skR"]),
            hex(&v["enc"]),
            hex(&v["info"]),
            hex(&v["aad"]),
            hex(&v["ct"]),
        );
        let pt = if v["mode"] == "auth" {
            open_auth(suite, &sk_r, &hex(&v["pkS"]), &enc, &info, &aad, &ct)
        } else {
            open_base(suite, &sk_r, &enc, &info, &aad, &ct)
        };
        assert_eq!(pt.unwrap().expose_secret(), hex(&v["pt"]).as_slice());
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert!(open_base(suite, &sk_r, &enc, &info, &aad, &bad).is_err());
        ran += 1;
    }
    assert_eq!(ran, 2);
}
