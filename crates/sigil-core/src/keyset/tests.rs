//! Keyset unit tests: rotation, minimum decryption version, trimming, serialization, and the
//! two ciphertext encodings with bad input.

use super::*;

const NOW: u64 = 1_790_000_000;

fn aes() -> Keyset {
    Keyset::generate("orders", KeyKind::Aead(AeadAlgorithm::Aes256Gcm), NOW).unwrap()
}

#[test]
fn rotation_keeps_old_ciphertexts_readable() {
    let mut ks = aes();
    let c1 = ks.encrypt(b"one", b"ctx").unwrap();
    assert_eq!(c1.version, 1);
    assert_eq!(ks.rotate(NOW + 1).unwrap(), 2);
    let c2 = ks.encrypt(b"two", b"ctx").unwrap();
    assert_eq!(c2.version, 2);
    assert_eq!(ks.decrypt(&c1, b"ctx").unwrap().expose_secret(), b"one");
    assert_eq!(ks.decrypt(&c2, b"ctx").unwrap().expose_secret(), b"two");
    assert!(ks.decrypt(&c1, b"other").is_err());
    // Relabelling a ciphertext with another version does not open it.
    let relabelled = Ciphertext { version: 2, ..c1 };
    assert_eq!(
        ks.decrypt(&relabelled, b"ctx").unwrap_err(),
        Error::decryption()
    );
}

#[test]
fn min_decryption_version_and_trim() {
    let mut ks = aes();
    let c1 = ks.encrypt(b"one", b"").unwrap();
    ks.rotate(NOW).unwrap();
    ks.rotate(NOW).unwrap();
    assert!(ks.set_min_decryption_version(4).is_err());
    assert!(ks.set_min_decryption_version(0).is_err());
    ks.set_min_decryption_version(2).unwrap();
    let err = ks.decrypt(&c1, b"").unwrap_err().to_string();
    assert!(err.contains("disallowed by policy (too old)"), "{err}");
    assert!(ks.trim(3).is_err(), "trim above min_decryption_version");
    ks.trim(2).unwrap();
    assert_eq!(ks.min_available_version(), 2);
    assert!(ks.material(1).is_err());
    assert!(
        ks.set_min_decryption_version(1).is_err(),
        "cannot resurrect trimmed versions"
    );
    let future = Ciphertext {
        version: 9,
        body: vec![0; 40],
    };
    assert!(
        ks.decrypt(&future, b"")
            .unwrap_err()
            .to_string()
            .contains("too new")
    );
    assert!(ks.set_primary(1).is_err());
    ks.set_primary(2).unwrap();
    assert_eq!(ks.encrypt(b"x", b"").unwrap().version, 2);
}

#[test]
fn serialization_round_trip_and_tampering() {
    let mut ks = aes();
    ks.rotate(NOW + 5).unwrap();
    ks.set_min_decryption_version(2).unwrap();
    ks.trim(2).unwrap();
    let c = ks.encrypt(b"data", b"").unwrap();
    let bytes = ks.to_bytes().unwrap();
    let again = Keyset::from_bytes(bytes.expose_secret()).unwrap();
    assert_eq!(again.decrypt(&c, b"").unwrap().expose_secret(), b"data");
    assert_eq!(again.to_bytes().unwrap(), bytes);
    assert_eq!(again.min_available_version(), 2);

    let text = std::str::from_utf8(bytes.expose_secret())
        .unwrap()
        .to_owned();
    for bad in [
        text.replace("sigil.keyset.v1", "sigil.keyset.v2"),
        text.replace("\"primary\":2", "\"primary\":1"),
        text.replace(
            "\"min_decryption_version\":2",
            "\"min_decryption_version\":3",
        ),
        text.replace("aes256-gcm96", "chacha20-poly1305x"),
        text.replace("\"latest\":2", "\"latest\":1"),
        text.replacen('{', "{\"extra\":1,", 1),
        text[..text.len() - 1].to_owned(),
        String::new(),
    ] {
        assert!(Keyset::from_bytes(bad.as_bytes()).is_err(), "{bad}");
    }
    // Material of the wrong length for the kind.
    let short = text.replace(
        &text[text.find("\"material\":\"").unwrap() + 12..][..20],
        "AAAA",
    );
    assert!(Keyset::from_bytes(short.as_bytes()).is_err());
    assert!(!format!("{ks:?}").contains(&base64_encode(ks.material(2).unwrap().expose_secret())));
}

#[test]
fn vault_text_encoding() {
    let c = Ciphertext {
        version: 12,
        body: vec![1, 2, 3],
    };
    assert_eq!(c.to_vault_string(), "vault:v12:AQID");
    assert_eq!(Ciphertext::from_vault_string("vault:v12:AQID").unwrap(), c);
    for (bad, want) in [
        ("", "no prefix"),
        ("vault:12:AQID", "no prefix"),
        ("sigil:v1:AQID", "no prefix"),
        ("vault:v1", "wrong number of fields"),
        ("vault:v:AQID", "version number"),
        ("vault:v0:AQID", "version number"),
        ("vault:v01:AQID", "version number"),
        ("vault:v-1:AQID", "version number"),
        ("vault:v+1:AQID", "version number"),
        ("vault:v99999999999:AQID", "version number"),
        ("vault:v1:AQI", "base64"),
        ("vault:v1:AQID!", "base64"),
    ] {
        let err = Ciphertext::from_vault_string(bad).unwrap_err().to_string();
        assert!(err.contains(want), "{bad}: {err}");
    }
}

#[test]
fn binary_encoding() {
    let c = Ciphertext {
        version: 258,
        body: vec![9, 9],
    };
    assert_eq!(c.to_bytes(), [1, 0, 0, 1, 2, 9, 9]);
    assert_eq!(Ciphertext::from_bytes(&c.to_bytes()).unwrap(), c);
    assert!(Ciphertext::from_bytes(&[1, 0, 0, 1]).is_err());
    assert!(Ciphertext::from_bytes(&[0, 0, 0, 1, 2, 9]).is_err());
    let t = Tag {
        version: 3,
        bytes: vec![7],
    };
    assert_eq!(Tag::from_bytes(&t.to_bytes()).unwrap(), t);
    assert_eq!(Tag::from_vault_string(&t.to_vault_string()).unwrap(), t);
}

#[test]
fn hmac_and_signing_keysets() {
    let mut mac = Keyset::generate("m", KeyKind::Hmac(MacAlgorithm::HmacSha256), NOW).unwrap();
    let t1 = mac.mac(b"data").unwrap();
    mac.rotate(NOW).unwrap();
    mac.verify_mac(b"data", &t1).unwrap();
    assert!(mac.verify_mac(b"datA", &t1).is_err());
    assert!(
        mac.encrypt(b"x", b"").is_err(),
        "a MAC keyset cannot encrypt"
    );

    for kind in [KeyType::Ed25519, KeyType::EcdsaP256] {
        let mut ks = Keyset::generate("s", KeyKind::Signing(kind), NOW).unwrap();
        let scheme = SignatureScheme::default_for(kind).unwrap();
        let s1 = ks.sign(b"msg", scheme).unwrap();
        ks.rotate(NOW).unwrap();
        let s2 = ks.sign(b"msg", scheme).unwrap();
        assert_eq!((s1.version, s2.version), (1, 2));
        ks.verify(b"msg", &s1, scheme).unwrap();
        ks.verify(b"msg", &s2, scheme).unwrap();
        let swapped = Tag {
            version: 2,
            ..s1.clone()
        };
        assert!(ks.verify(b"msg", &swapped, scheme).is_err());
        let again = Keyset::from_bytes(ks.to_bytes().unwrap().expose_secret()).unwrap();
        again.verify(b"msg", &s2, scheme).unwrap();
    }
    assert!(Keyset::generate("x", KeyKind::Signing(KeyType::X25519), NOW).is_err());
}

#[test]
fn import_checks_material() {
    let k = KeyKind::Aead(AeadAlgorithm::ChaCha20Poly1305);
    assert!(Keyset::import("a", k, SecretBytes::copy_from(&[0; 31]), NOW).is_err());
    assert!(Keyset::import("a/b", k, SecretBytes::copy_from(&[0; 32]), NOW).is_err());
    let ks = Keyset::import("a", k, SecretBytes::copy_from(&[7; 32]), NOW).unwrap();
    assert_eq!(ks.material(1).unwrap().expose_secret(), &[7; 32]);
}
