//! Unit tests for `keys`: every key type through every format, and bad input for every parser.

use super::*;
use crate::encoding::Pem;

fn all_types() -> Vec<KeyType> {
    KeyType::ALL.to_vec()
}

#[test]
fn sign_and_verify_with_every_scheme() {
    for kind in all_types() {
        let key = PrivateKey::generate(kind).unwrap();
        assert_eq!(key.key_type(), kind);
        for scheme in SignatureScheme::ALL {
            let result = key.sign(b"message", scheme);
            if !kind.can_sign() || !scheme.fits(kind) {
                assert!(
                    matches!(result, Err(Error::Unsupported(_))),
                    "{kind} {scheme}"
                );
                continue;
            }
            let sig = result.unwrap();
            let public = key.public_key();
            public.verify(b"message", &sig, scheme).unwrap();
            assert_eq!(
                public.verify(b"messagE", &sig, scheme),
                Err(Error::bad_signature()),
                "{kind} {scheme}"
            );
            let mut bad = sig.clone();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert_eq!(
                public.verify(b"message", &bad, scheme),
                Err(Error::bad_signature())
            );
            assert_eq!(
                public.verify(b"message", &[], scheme),
                Err(Error::bad_signature())
            );
            // Digest signing gives a signature over the same message.
            if let Some(hash) = scheme.hash() {
                let d = crate::hash::digest(hash, b"message");
                let sig = key.sign_digest(&d, scheme).unwrap();
                public.verify(b"message", &sig, scheme).unwrap();
                public.verify_digest(&d, &sig, scheme).unwrap();
                assert!(key.sign_digest(&d[1..], scheme).is_err());
            } else {
                assert!(key.sign_digest(&[0; 32], scheme).is_err());
            }
        }
    }
}

#[test]
fn every_format_round_trips() {
    for kind in all_types() {
        let key = PrivateKey::generate(kind).unwrap();
        let public = key.public_key().clone();

        let der = key.to_pkcs8_der().unwrap();
        let again = PrivateKey::from_bytes(der.expose_secret()).unwrap();
        assert_eq!(again.public_key(), &public, "{kind} DER");

        let pem = key.to_pkcs8_pem().unwrap();
        assert!(
            pem.expose_secret()
                .starts_with("-----BEGIN PRIVATE KEY-----")
        );
        let again = PrivateKey::from_bytes(pem.expose_secret().as_bytes()).unwrap();
        assert_eq!(again.public_key(), &public, "{kind} PEM");
        assert_eq!(again.to_pkcs8_der().unwrap(), der, "{kind} PKCS#8 stable");

        let jwk = key.to_jwk().unwrap();
        let again = PrivateKey::from_bytes(jwk.expose_secret().as_bytes()).unwrap();
        assert_eq!(again.public_key(), &public, "{kind} JWK");
        assert_eq!(again.to_pkcs8_der().unwrap(), der, "{kind} JWK → PKCS#8");

        let spki = public.to_spki_pem().unwrap();
        assert_eq!(PublicKey::from_bytes(spki.as_bytes()).unwrap(), public);
        assert_eq!(
            PublicKey::from_bytes(&public.to_spki_der().unwrap()).unwrap(),
            public
        );
        let pub_jwk = public.to_jwk().unwrap();
        assert_eq!(PublicKey::from_bytes(pub_jwk.as_bytes()).unwrap(), public);
        let v: serde_json::Value = serde_json::from_str(&pub_jwk).unwrap();
        assert_eq!(v["kid"], public.jwk_thumbprint().unwrap());
        assert!(v.get("d").is_none(), "public JWK leaks d");
    }
}

#[test]
fn rfc7638_thumbprint_example() {
    // RFC 7638 §3.1.
    let jwk = br#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#;
    let key = PublicKey::from_bytes(jwk).unwrap();
    assert_eq!(key.key_type(), KeyType::Rsa2048);
    assert_eq!(
        key.jwk_thumbprint().unwrap(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}

#[test]
fn rsa_oaep_round_trip() {
    let key = PrivateKey::generate(KeyType::Rsa2048).unwrap();
    let ct = key.public_key().encrypt_oaep(b"data key").unwrap();
    assert_eq!(ct.len(), 256);
    assert_eq!(key.decrypt_oaep(&ct).unwrap().expose_secret(), b"data key");
    let mut bad = ct.clone();
    bad[100] ^= 1;
    assert_eq!(key.decrypt_oaep(&bad).unwrap_err(), Error::decryption());
    assert!(key.decrypt_oaep(&ct[1..]).is_err());
    assert!(key.public_key().encrypt_oaep(&[0; 191]).is_err());
    let ed = PrivateKey::generate(KeyType::Ed25519).unwrap();
    assert!(ed.decrypt_oaep(&ct).is_err());
    assert!(ed.public_key().encrypt_oaep(b"x").is_err());
}

#[test]
fn bad_private_key_input() {
    let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let der = key.to_pkcs8_der().unwrap().expose_secret().to_vec();
    let pem = key.to_pkcs8_pem().unwrap().expose_secret().to_owned();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("truncated DER", der[..der.len() - 1].to_vec()),
        ("trailing byte", [der.clone(), vec![0]].concat()),
        ("garbage", b"hello world".to_vec()),
        ("truncated PEM", pem.as_bytes()[..pem.len() - 30].to_vec()),
        (
            "public key PEM",
            key.public_key().to_spki_pem().unwrap().into_bytes(),
        ),
        (
            "encrypted PKCS#8",
            Pem::encode("ENCRYPTED PRIVATE KEY", &[1, 2, 3])
                .unwrap()
                .into_bytes(),
        ),
        ("huge", vec![b'A'; 1024 * 1024]),
        ("JSON that is not a JWK", b"{\"a\":1}".to_vec()),
        (
            "public JWK",
            key.public_key().to_jwk().unwrap().into_bytes(),
        ),
    ];
    let body_sample = &pem.lines().nth(1).unwrap()[..20];
    for (name, input) in cases {
        let err = PrivateKey::from_bytes(&input).unwrap_err();
        let msg = err.to_string();
        assert!(!msg.is_empty(), "{name}");
        assert!(
            !msg.contains(body_sample),
            "{name} echoes key material: {msg}"
        );
    }
    // A flipped bit in the private scalar of a JWK gives a key whose x/y no longer match.
    let jwk = key.to_jwk().unwrap();
    let mut v: serde_json::Value = serde_json::from_str(jwk.expose_secret()).unwrap();
    v["x"] = v["y"].clone();
    assert!(PrivateKey::from_bytes(v.to_string().as_bytes()).is_err());
}

#[test]
fn bad_public_key_input() {
    let key = PrivateKey::generate(KeyType::Ed25519).unwrap();
    let der = key.public_key().to_spki_der().unwrap();
    for input in [
        vec![],
        der[..der.len() - 1].to_vec(),
        [der.clone(), vec![0]].concat(),
        key.to_pkcs8_pem()
            .unwrap()
            .expose_secret()
            .as_bytes()
            .to_vec(),
        br#"{"kty":"OKP","crv":"Ed25519","x":"AAAA"}"#.to_vec(),
        br#"{"kty":"EC","crv":"P-521","x":"AA","y":"AA"}"#.to_vec(),
        br#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#.to_vec(),
        br#"{"kty":"oct","k":"AAAA"}"#.to_vec(),
    ] {
        assert!(PublicKey::from_bytes(&input).is_err());
    }
    let private_pem = key.to_pkcs8_pem().unwrap();
    let msg = PublicKey::from_bytes(private_pem.expose_secret().as_bytes())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("private key"), "{msg}");
}

#[test]
fn debug_never_shows_private_material() {
    for kind in all_types() {
        let key = PrivateKey::generate(kind).unwrap();
        let debug = format!("{key:?}");
        let jwk = key.to_jwk().unwrap();
        let v: serde_json::Value = serde_json::from_str(jwk.expose_secret()).unwrap();
        let d = v["d"].as_str().unwrap();
        assert!(!debug.contains(d), "{kind}");
        assert!(debug.contains(kind.name()) || debug.contains(&format!("{kind:?}")));
    }
}

#[test]
fn x25519_raw_round_trip() {
    let key = PrivateKey::generate(KeyType::X25519).unwrap();
    let raw = key.x25519_secret().unwrap();
    let again = PrivateKey::from_x25519_secret(raw.expose_secret()).unwrap();
    assert_eq!(again.public_key(), key.public_key());
    let pk = key.public_key().x25519_public().unwrap();
    assert_eq!(
        &PublicKey::from_x25519_public(&pk).unwrap(),
        key.public_key()
    );
    assert!(PrivateKey::from_x25519_secret(&[0; 31]).is_err());
}

#[test]
fn names_parse() {
    for k in KeyType::ALL {
        assert_eq!(k.name().parse::<KeyType>().unwrap(), k);
    }
    for s in SignatureScheme::ALL {
        assert_eq!(s.name().parse::<SignatureScheme>().unwrap(), s);
    }
    assert_eq!(
        "ES256".parse::<SignatureScheme>().unwrap(),
        SignatureScheme::EcdsaP256Sha256Fixed
    );
    assert!("rsa-1024".parse::<KeyType>().is_err());
}

#[test]
fn prehashed_ecdsa_takes_any_digest_length_as_fips_186_says() {
    use crate::hash::{HashAlgorithm as H, digest};
    for kind in [KeyType::EcdsaP256, KeyType::EcdsaP384] {
        let key = PrivateKey::generate(kind).unwrap();
        let public = key.public_key();
        for hash in H::ALL {
            let d = digest(hash, b"message");
            for fixed in [false, true] {
                let how = Prehashed::Ecdsa { fixed };
                let sig = key.sign_prehashed(&d, hash, how).unwrap();
                public.verify_prehashed(&d, hash, how, &sig).unwrap();
                let other = digest(hash, b"messagE");
                assert!(public.verify_prehashed(&other, hash, how, &sig).is_err());
            }
        }
        // The curve's own hash over the message is the ordinary scheme.
        let (hash, scheme) = if kind == KeyType::EcdsaP256 {
            (H::Sha256, SignatureScheme::EcdsaP256Sha256)
        } else {
            (H::Sha384, SignatureScheme::EcdsaP384Sha384)
        };
        let sig = key
            .sign_prehashed(&digest(hash, b"m"), hash, Prehashed::Ecdsa { fixed: false })
            .unwrap();
        public.verify(b"m", &sig, scheme).unwrap();
        // A longer digest counts only up to the curve size; a shorter one as its integer.
        let long = digest(H::Sha512, b"m");
        let cut = &long[..if kind == KeyType::EcdsaP256 { 32 } else { 48 }];
        let sig = key
            .sign_prehashed(&long, H::Sha512, Prehashed::Ecdsa { fixed: false })
            .unwrap();
        public
            .verify_prehashed(cut, hash, Prehashed::Ecdsa { fixed: false }, &sig)
            .unwrap();
        let short = digest(H::Sha224, b"m");
        let mut padded = vec![0u8; cut.len() - short.len()];
        padded.extend_from_slice(&short);
        let sig = key
            .sign_prehashed(&short, H::Sha224, Prehashed::Ecdsa { fixed: true })
            .unwrap();
        public
            .verify_prehashed(&padded, hash, Prehashed::Ecdsa { fixed: true }, &sig)
            .unwrap();
    }
}

#[test]
fn prehashed_rsa_pkcs1_and_pss_with_both_salt_lengths() {
    use crate::hash::{HashAlgorithm as H, digest};
    let key = PrivateKey::generate(KeyType::Rsa2048).unwrap();
    let public = key.public_key();
    for hash in [H::Sha256, H::Sha384, H::Sha512] {
        let d = digest(hash, b"message");
        for how in [
            Prehashed::RsaPkcs1,
            Prehashed::RsaPss {
                salt: PssSalt::Hash,
            },
            Prehashed::RsaPss { salt: PssSalt::Max },
        ] {
            let sig = key.sign_prehashed(&d, hash, how).unwrap();
            public.verify_prehashed(&d, hash, how, &sig).unwrap();
            let mut bad = sig.clone();
            bad[5] ^= 1;
            assert!(public.verify_prehashed(&d, hash, how, &bad).is_err());
        }
        // Hash-length salt is the ordinary scheme.
        let sig = key
            .sign_prehashed(
                &d,
                hash,
                Prehashed::RsaPss {
                    salt: PssSalt::Hash,
                },
            )
            .unwrap();
        let scheme = match hash {
            H::Sha256 => SignatureScheme::RsaPssSha256,
            H::Sha384 => SignatureScheme::RsaPssSha384,
            _ => SignatureScheme::RsaPssSha512,
        };
        public.verify(b"message", &sig, scheme).unwrap();
    }
    // An explicit salt length signs and verifies as itself only.
    let d256 = digest(H::Sha256, b"m");
    let twenty = Prehashed::RsaPss {
        salt: PssSalt::Bytes(20),
    };
    let sig = key.sign_prehashed(&d256, H::Sha256, twenty).unwrap();
    public
        .verify_prehashed(&d256, H::Sha256, twenty, &sig)
        .unwrap();
    assert!(
        public
            .verify_prehashed(
                &d256,
                H::Sha256,
                Prehashed::RsaPss {
                    salt: PssSalt::Hash
                },
                &sig
            )
            .is_err()
    );
    assert!(
        key.sign_prehashed(
            &d256,
            H::Sha256,
            Prehashed::RsaPss {
                salt: PssSalt::Bytes(5000)
            }
        )
        .is_err()
    );
    let d = digest(H::Sha3_256, b"m");
    assert!(matches!(
        key.sign_prehashed(&d, H::Sha3_256, Prehashed::RsaPkcs1),
        Err(Error::Unsupported(_))
    ));
    assert!(
        key.sign_prehashed(&d[..20], H::Sha256, Prehashed::RsaPkcs1)
            .is_err()
    );
    let ed = PrivateKey::generate(KeyType::Ed25519).unwrap();
    assert!(
        ed.sign_prehashed(&d, H::Sha256, Prehashed::RsaPkcs1)
            .is_err()
    );
}

#[test]
fn ed25519_from_seed_matches_the_exported_seed() {
    let key = PrivateKey::generate(KeyType::Ed25519).unwrap();
    let seed = key.ed25519_seed().unwrap();
    let again = PrivateKey::from_ed25519_seed(seed.expose_secret()).unwrap();
    assert_eq!(again.public_key(), key.public_key());
    assert!(PrivateKey::from_ed25519_seed(&[0; 31]).is_err());
}

#[test]
fn traditional_pem_round_trips_for_ec_and_rsa() {
    for kind in [KeyType::EcdsaP256, KeyType::EcdsaP384, KeyType::Rsa2048] {
        let key = PrivateKey::generate(kind).unwrap();
        let pem = key.to_traditional_pem().unwrap();
        let label = if kind == KeyType::Rsa2048 {
            "RSA PRIVATE KEY"
        } else {
            "EC PRIVATE KEY"
        };
        assert!(
            pem.expose_secret()
                .starts_with(&format!("-----BEGIN {label}-----"))
        );
        let again = PrivateKey::from_bytes(pem.expose_secret().as_bytes()).unwrap();
        assert_eq!(again.public_key(), key.public_key());
    }
    let ed = PrivateKey::generate(KeyType::Ed25519).unwrap();
    assert!(ed.to_traditional_pem().is_err());
}
