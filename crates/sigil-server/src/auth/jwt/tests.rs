//! `jwt` auth tests: a JWT-SVID-shaped token logs in under a role binding its audience and
//! subject; every way a token can be wrong (signature, key, algorithm, time, audience,
//! subject, claims, issuer, shape) is refused; config and roles are checked whole.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::json;
use sigil_core::encoding::base64url_encode;
use sigil_core::keys::PrivateKey;

use super::*;
use crate::view::PlainStore;

const T0: i64 = 1_790_000_000;

fn token(key: &PrivateKey, header: &Value, claims: &Value) -> String {
    let enc = |v: &Value| base64url_encode(&serde_json::to_vec(v).unwrap());
    let input = format!("{}.{}", enc(header), enc(claims));
    let sig = key
        .sign(input.as_bytes(), SignatureScheme::EcdsaP256Sha256Fixed)
        .unwrap();
    format!("{input}.{}", base64url_encode(&sig))
}

fn svid(key: &PrivateKey, sub: &str, aud: &str, exp: i64) -> String {
    token(
        key,
        &json!({"alg": "ES256", "kid": "k1", "typ": "JWT"}),
        &json!({"sub": sub, "aud": [aud], "exp": exp, "iat": T0, "iss": "spiffe"}),
    )
}

struct Fixture {
    auth: JwtAuth,
    view: View,
}

impl Fixture {
    async fn new(key: &PrivateKey) -> Self {
        let tokens = Arc::new(TokenStore::new(PlainStore::view(), 0, 0));
        let f = Self {
            auth: JwtAuth::new(tokens),
            view: PlainStore::view(),
        };
        let pem = key.public_key().to_spki_pem().unwrap();
        f.call("config", json!({"jwt_validation_pubkeys": [pem]}))
            .await
            .unwrap();
        f.call(
            "role/web",
            json!({
                "role_type": "jwt",
                "user_claim": "sub",
                "bound_audiences": ["sigil"],
                "bound_claims_type": "glob",
                "bound_claims": {"sub": ["spiffe://example.org/ns/*/sa/web"]},
                "token_policies": ["web"],
                "token_ttl": "10m",
            }),
        )
        .await
        .unwrap();
        f
    }

    async fn call(&self, path: &str, body: Value) -> Result<Response, ApiError> {
        let mut req = Request::new(Operation::Update, path);
        req.time = UNIX_EPOCH + Duration::from_secs(T0 as u64);
        req.data = body.as_object().cloned().unwrap_or_default();
        self.auth.handle(&req, &self.view).await
    }

    async fn login(&self, jwt: &str) -> Result<Response, ApiError> {
        self.call("login", json!({"role": "web", "jwt": jwt})).await
    }
}

fn refused(got: Result<Response, ApiError>, want: &str) {
    match got {
        Err(ApiError::BadRequest(m)) => assert!(m[0].contains(want), "{want}: {m:?}"),
        other => panic!("expected a 400 with {want:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_jwt_svid_logs_in_and_every_flaw_is_refused() {
    let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let f = Fixture::new(&key).await;
    let good = svid(
        &key,
        "spiffe://example.org/ns/prod/sa/web",
        "sigil",
        T0 + 300,
    );
    let auth = f.login(&good).await.unwrap().auth.unwrap();
    assert!(auth.policies.contains(&"web".to_owned()));
    assert_eq!(auth.lease_duration, 600);

    let other_key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let mut tampered = good.clone().into_bytes();
    let at = good.find('.').unwrap() + 3;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let (_, rest) = good.split_once('.').unwrap();
    let payload = rest.split_once('.').unwrap().0;
    // An unsigned token (`alg: none`, empty signature) and an HMAC one.
    let none_alg = format!("{}.{payload}.", base64url_encode(br#"{"alg":"none"}"#));
    let hs256 = format!("{}.{rest}", base64url_encode(br#"{"alg":"HS256"}"#));
    for (jwt, want) in [
        (tampered, "signature"),
        (
            svid(
                &other_key,
                "spiffe://example.org/ns/prod/sa/web",
                "sigil",
                T0 + 300,
            ),
            "signature",
        ),
        (none_alg, "unsupported signing algorithm"),
        (hs256, "unsupported signing algorithm"),
        (
            svid(
                &key,
                "spiffe://example.org/ns/prod/sa/web",
                "sigil",
                T0 - 200,
            ),
            "expired",
        ),
        (
            svid(
                &key,
                "spiffe://example.org/ns/prod/sa/web",
                "other",
                T0 + 300,
            ),
            "bound audience",
        ),
        (
            svid(
                &key,
                "spiffe://example.org/ns/prod/sa/db",
                "sigil",
                T0 + 300,
            ),
            "bound claim",
        ),
        (
            token(
                &key,
                &json!({"alg": "ES256"}),
                &json!({"sub": "spiffe://example.org/ns/prod/sa/web", "aud": "sigil"}),
            ),
            "exp claim is required",
        ),
        ("a.b".to_owned(), "compact form"),
        ("@@@.@@@.@@@".to_owned(), "base64url"),
        ("x".repeat(20_000), "too large"),
    ] {
        refused(f.login(&jwt).await, want);
    }
    refused(
        f.call("login", json!({"role": "nope", "jwt": good})).await,
        "could not be found",
    );
    refused(
        f.call("login", json!({"role": "web"})).await,
        "missing token",
    );
}

#[tokio::test]
async fn config_and_roles_are_checked_whole() {
    let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let f = Fixture::new(&key).await;
    for (path, body, want) in [
        ("config", json!({}), "jwt_validation_pubkeys"),
        (
            "config",
            json!({"jwt_validation_pubkeys": ["not a key"]}),
            "jwt_validation_pubkeys",
        ),
        ("role/r", json!({"bound_audiences": ["a"]}), "user claim"),
        (
            "role/r",
            json!({"user_claim": "sub"}),
            "at least one bound constraint",
        ),
        (
            "role/r",
            json!({"user_claim": "sub", "bound_subject": "x", "bound_claims_type": "regex"}),
            "bound_claims_type",
        ),
        (
            "role/r",
            json!({"user_claim": "sub", "bound_claims": {"sub": 5}}),
            "values must be strings",
        ),
        (
            "role/a b",
            json!({"user_claim": "sub", "bound_subject": "x"}),
            "role names",
        ),
    ] {
        refused(f.call(path, body).await, want);
    }
    // A bound issuer must match `iss`.
    let pem = key.public_key().to_spki_pem().unwrap();
    f.call(
        "config",
        json!({"jwt_validation_pubkeys": [pem], "bound_issuer": "https://issuer.example"}),
    )
    .await
    .unwrap();
    refused(
        f.login(&svid(
            &key,
            "spiffe://example.org/ns/prod/sa/web",
            "sigil",
            T0 + 300,
        ))
        .await,
        "bound_issuer",
    );
    let mut req = Request::new(Operation::Read, "role/web");
    req.time = UNIX_EPOCH + Duration::from_secs(T0 as u64);
    let role = f.auth.handle(&req, &f.view).await.unwrap().data.unwrap();
    assert_eq!(role["bound_audiences"], json!(["sigil"]));
    assert_eq!(role["token_ttl"], json!(600));
}
