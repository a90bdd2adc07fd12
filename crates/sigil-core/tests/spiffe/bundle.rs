//! Bundles: the DER and JSON encodings, round trips, the skip and refuse rules, and the
//! bundle made by pyca/cryptography and jwcrypto.

use serde_json::{Value, json};
use sigil_core::Error;
use sigil_core::keys::{KeyType, PrivateKey};
use sigil_core::spiffe::{BundleSet, JwtBundle, SpiffeBundle, TrustDomain, X509Bundle};

use crate::pki::{ca, td};
use crate::vector;

fn sample() -> SpiffeBundle {
    let mut b = SpiffeBundle::empty(&td());
    b.x509_mut().add(ca().der).unwrap();
    b.x509_mut().add(ca().der).unwrap();
    for (kid, kind) in [("ec", KeyType::EcdsaP256), ("rsa", KeyType::Rsa2048)] {
        let key = PrivateKey::generate(kind).unwrap();
        b.jwt_mut().add(kid, key.public_key().clone()).unwrap();
    }
    b.sequence = Some(3);
    b.refresh_hint = Some(300);
    b
}

fn decode(v: &Value) -> Result<SpiffeBundle, Error> {
    SpiffeBundle::decode(&td(), v.to_string().as_bytes())
}

#[test]
fn x509_bundle_der_round_trips() {
    let (a, b) = (ca().der, ca().der);
    let bundle = X509Bundle::new(td(), vec![a.clone(), b.clone()]).unwrap();
    let der = bundle.to_der();
    assert_eq!(der, [a.clone(), b].concat());
    assert_eq!(X509Bundle::parse_der(td(), &der).unwrap(), bundle);
    assert!(
        X509Bundle::new(td(), vec![a.clone(), a.clone()])
            .unwrap_err()
            .to_string()
            .contains("twice")
    );
    assert!(X509Bundle::parse_der(td(), &[]).is_err());
    assert!(X509Bundle::parse_der(td(), &der[..der.len() - 2]).is_err());
    assert!(
        X509Bundle::new(td(), vec![[a, vec![0]].concat()])
            .unwrap_err()
            .to_string()
            .contains("trailing")
    );
}

#[test]
fn spiffe_bundle_round_trips() {
    let b = sample();
    let json = b.encode().unwrap();
    assert_eq!(SpiffeBundle::decode(&td(), json.as_bytes()).unwrap(), b);
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["spiffe_sequence"], 3);
    assert_eq!(v["spiffe_refresh_hint"], 300);
    let keys = v["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 4);
    let x509: Vec<&Value> = keys.iter().filter(|k| k["use"] == "x509-svid").collect();
    assert_eq!(x509.len(), 2);
    assert!(
        x509.iter()
            .all(|k| k.get("kid").is_none() && k["x5c"].as_array().unwrap().len() == 1)
    );
    assert!(
        keys.iter()
            .filter(|k| k["use"] == "jwt-svid")
            .all(|k| k["kid"].is_string())
    );
    // An empty bundle is a valid one (every key revoked).
    let empty = SpiffeBundle::empty(&td());
    assert_eq!(decode(&json!({"keys": []})).unwrap(), empty);
    assert_eq!(
        SpiffeBundle::decode(&td(), empty.encode().unwrap().as_bytes()).unwrap(),
        empty
    );
}

#[test]
fn unknown_kty_and_use_are_skipped() {
    let b = sample();
    let mut v: Value = serde_json::from_str(&b.encode().unwrap()).unwrap();
    let keys = v["keys"].as_array_mut().unwrap();
    keys.push(json!({"kty": "oct", "use": "jwt-svid", "kid": "h", "k": "AAAA"}));
    keys.push(json!({"kty": "EC", "use": "wit-svid", "kid": "w", "crv": "P-256"}));
    keys.push(json!({"kty": "EC", "use": "jwt-svid", "kid": "p521", "crv": "P-521", "x": "AA", "y": "AA"}));
    keys.push(json!({"kty": "EC", "use": "x509-svid", "x5c": []}));
    v["unknown_member"] = json!(1);
    assert_eq!(decode(&v).unwrap(), b);
}

#[test]
fn spiffe_bundle_refusals() {
    let b = sample();
    let v: Value = serde_json::from_str(&b.encode().unwrap()).unwrap();
    let x509 = v["keys"][0].clone();
    let jwt = v["keys"][2].clone();
    let with = |key: Value| json!({"keys": [key]});
    let mut k = x509.clone();
    k["kid"] = json!("x");
    assert!(
        decode(&with(k))
            .unwrap_err()
            .to_string()
            .contains("has a \"kid\"")
    );
    let mut k = x509.clone();
    k.as_object_mut().unwrap().remove("x5c");
    assert!(
        decode(&with(k))
            .unwrap_err()
            .to_string()
            .contains("no \"x5c\"")
    );
    let mut k = x509.clone();
    k["x5c"] = json!(["not base64!"]);
    assert!(decode(&with(k)).unwrap_err().to_string().contains("base64"));
    let mut k = x509.clone();
    k["x5c"] = json!(["AAAA"]);
    assert!(decode(&with(k)).is_err());
    let mut k = jwt.clone();
    k.as_object_mut().unwrap().remove("kid");
    assert!(
        decode(&with(k))
            .unwrap_err()
            .to_string()
            .contains("no \"kid\"")
    );
    let mut k = jwt.clone();
    k.as_object_mut().unwrap().remove("use");
    assert!(
        decode(&with(k))
            .unwrap_err()
            .to_string()
            .contains("no \"use\"")
    );
    let mut k = jwt.clone();
    k.as_object_mut().unwrap().remove("kty");
    assert!(
        decode(&with(k))
            .unwrap_err()
            .to_string()
            .contains("no \"kty\"")
    );
    let mut k = jwt.clone();
    k["x"] = json!("AAAA");
    assert!(decode(&with(k)).is_err());
    assert!(
        decode(&json!({"keys": [jwt.clone(), jwt]}))
            .unwrap_err()
            .to_string()
            .contains("twice")
    );
    assert!(
        decode(&json!({"keys": [x509.clone(), x509]}))
            .unwrap_err()
            .to_string()
            .contains("twice")
    );
    let mut k = jwt;
    k["d"] = json!("AAAA");
    assert!(
        decode(&with(k))
            .unwrap_err()
            .to_string()
            .contains("private")
    );
    assert!(decode(&json!({"keys": [1]})).is_err());
    assert!(decode(&json!({"keys": [], "spiffe_sequence": -1})).is_err());
    assert!(decode(&json!({"keys": [], "spiffe_refresh_hint": "5m"})).is_err());
    assert!(decode(&json!({})).is_err());
}

#[test]
fn bad_input_gives_errors_not_panics() {
    let json = sample().encode().unwrap();
    for input in [
        &b""[..],
        b"{",
        b"[]",
        b"null",
        &json.as_bytes()[..json.len() - 1],
        &[0xff, 0xfe],
    ] {
        assert!(SpiffeBundle::decode(&td(), input).is_err());
        assert!(BundleSet::decode(input).is_err());
        assert!(JwtBundle::parse_jwks(td(), input).is_err());
    }
    let huge = format!(r#"{{"keys":[],"pad":"{}"}}"#, "a".repeat(1 << 20));
    assert!(matches!(
        SpiffeBundle::decode(&td(), huge.as_bytes()),
        Err(Error::TooLarge { .. })
    ));
    let bytes = json.as_bytes();
    for i in 0..bytes.len() {
        let mut flipped = bytes.to_vec();
        flipped[i] ^= 0x01;
        let _ = SpiffeBundle::decode(&td(), &flipped);
    }
}

#[test]
fn plain_jwks_round_trips_and_needs_kids() {
    let b = sample().jwt().clone();
    let jwks = b.to_jwks().unwrap();
    let v: Value = serde_json::from_str(&jwks).unwrap();
    assert!(
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k.get("use").is_none() && k["kid"].is_string())
    );
    assert_eq!(JwtBundle::parse_jwks(td(), jwks.as_bytes()).unwrap(), b);
    let no_kid = json!({"keys": [{"kty": "EC", "crv": "P-256", "x": v["keys"][0]["x"], "y": v["keys"][0]["y"]}]});
    assert!(JwtBundle::parse_jwks(td(), no_kid.to_string().as_bytes()).is_err());
    // A SPIFFE bundle read as a JWKS keeps only its JWT keys.
    let spiffe = sample();
    let jwt = JwtBundle::parse_jwks(td(), spiffe.encode().unwrap().as_bytes()).unwrap();
    assert_eq!(&jwt, spiffe.jwt());
}

#[test]
fn bundle_map_round_trips_and_refuses_duplicates() {
    let mut set = BundleSet::new();
    set.add(sample()).unwrap();
    let other = TrustDomain::parse("other.org").unwrap();
    set.add(SpiffeBundle::empty(&other)).unwrap();
    assert!(set.add(SpiffeBundle::empty(&other)).is_err());
    let json = set.encode().unwrap();
    let v: Value = serde_json::from_str(&json).unwrap();
    assert!(
        v["trust_domains"]["example.org"]
            .get("spiffe_refresh_hint")
            .is_none()
    );
    assert_eq!(v["trust_domains"]["example.org"]["spiffe_sequence"], 3);
    let back = BundleSet::decode(json.as_bytes()).unwrap();
    assert_eq!(back.get(&td()).unwrap().x509().authorities().len(), 2);
    assert_eq!(back.bundles().len(), 2);
    assert_eq!(back.get(&other), Some(&SpiffeBundle::empty(&other)));
    // Trust domain IDs as keys name the same trust domain.
    let ids = br#"{"trust_domains": {"spiffe://other.org": {"keys": []}}}"#;
    assert!(BundleSet::decode(ids).unwrap().get(&other).is_some());
    let dup = br#"{"trust_domains": {"other.org": {"keys": []}, "other.org": {"keys": []}}}"#;
    assert!(
        BundleSet::decode(dup)
            .unwrap_err()
            .to_string()
            .contains("twice")
    );
    let dup =
        br#"{"trust_domains": {"other.org": {"keys": []}, "spiffe://other.org": {"keys": []}}}"#;
    assert!(
        BundleSet::decode(dup)
            .unwrap_err()
            .to_string()
            .contains("twice")
    );
    assert!(BundleSet::decode(br#"{"trust_domains": {"Bad": {"keys": []}}}"#).is_err());
    assert!(BundleSet::decode(br#"{"trust_domains": []}"#).is_err());
}

#[test]
fn peer_made_bundle_decodes() {
    let b = SpiffeBundle::decode(&td(), &vector("spiffe-bundle.json")).unwrap();
    assert_eq!(b.x509().authorities(), [vector("x509-bundle.der")]);
    assert_eq!(b.jwt().keys().len(), 4);
    assert_eq!(b.sequence, Some(7));
    assert_eq!(b.refresh_hint, Some(300));
    assert_eq!(
        b.jwt(),
        &JwtBundle::parse_jwks(td(), &vector("jwks.json")).unwrap()
    );
    assert_eq!(
        SpiffeBundle::decode(&td(), b.encode().unwrap().as_bytes()).unwrap(),
        b
    );
}
