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
