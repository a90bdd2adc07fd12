//! `auth/token/` endpoint tests: shapes, statuses and malformed bodies.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::json;
use sigil_core::SecretString;

use super::*;
use crate::view::PlainStore;

const T0: u64 = 1_700_000_000;

struct Fixture {
    engine: TokenEngine,
    store: Arc<TokenStore>,
    root: String,
    view: View,
}

async fn fixture() -> Fixture {
    let store = Arc::new(TokenStore::new(PlainStore::view(), 0, 0));
    let root = store.create_root(T0).await.unwrap();
    Fixture {
        engine: TokenEngine::new(Arc::clone(&store)),
        store,
        root,
        view: PlainStore::view(),
    }
}

impl Fixture {
    async fn call(
        &self,
        token: &str,
        op: Operation,
        path: &str,
        body: Value,
        at: u64,
    ) -> Result<Response, ApiError> {
        let mut req = Request::new(op, path);
        req.time = UNIX_EPOCH + Duration::from_secs(at);
        req.data = body.as_object().cloned().unwrap_or_default();
        req.token = Some(SecretString::new(token.to_owned()));
        req.caller = self.store.lookup(token, at).await.unwrap();
        self.engine.handle(&req, &self.view).await
    }

    async fn create(&self, token: &str, body: Value) -> Result<crate::api::Auth, ApiError> {
        let r = self
            .call(token, Operation::Update, "create", body, T0)
            .await?;
        Ok(r.auth.unwrap())
    }
}

#[test]
fn rfc3339_dates() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
}

#[tokio::test]
async fn create_and_lookup_shapes() {
    let f = fixture().await;
    let a = f
        .create(
            &f.root,
            json!({"policies": ["web"], "ttl": "1h", "meta": {"app": "x"}, "display_name": "ci"}),
        )
        .await
        .unwrap();
    assert_eq!(a.lease_duration, 3600);
    assert_eq!(a.policies, ["default", "web"]);
    assert_eq!(a.metadata["app"], "x");
    let me = f
        .call(
            &a.client_token,
            Operation::Read,
            "lookup-self",
            json!({}),
            T0 + 100,
        )
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(me["id"], a.client_token.as_str());
    assert_eq!(me["ttl"], 3500);
    assert_eq!(me["display_name"], "token-ci");
    assert_eq!(me["path"], "auth/token/create");
    assert_eq!(me["expire_time"], rfc3339(T0 + 3600).as_str());
    let other = f
        .call(
            &f.root,
            Operation::Update,
            "lookup",
            json!({"token": a.client_token}),
            T0,
        )
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(other["id"], "");
    assert_eq!(other["accessor"], a.accessor.as_str());
    let by_acc = f
        .call(
            &f.root,
            Operation::Update,
            "lookup-accessor",
            json!({"accessor": a.accessor}),
            T0,
        )
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(by_acc["id"], "");
    assert_eq!(by_acc["policies"], json!(["default", "web"]));
    let root_me = f
        .call(&f.root, Operation::Read, "lookup-self", json!({}), T0)
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(root_me["expire_time"], Value::Null);
    assert_eq!(root_me["ttl"], 0);
}

#[tokio::test]
async fn subset_rule_and_orphans_through_the_api() {
    let f = fixture().await;
    let a = f
        .create(&f.root, json!({"policies": "web, db"}))
        .await
        .unwrap();
    let err = f
        .create(&a.client_token, json!({"policies": ["admin"]}))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 400);
    let err = f
        .create(&a.client_token, json!({"no_parent": true}))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 400);
    let o = f
        .call(
            &a.client_token,
            Operation::Update,
            "create-orphan",
            json!({"policies": ["web"]}),
            T0,
        )
        .await
        .unwrap()
        .auth
        .unwrap();
    assert!(o.orphan);
    let c = f
        .create(&a.client_token, json!({"policies": ["web"]}))
        .await
        .unwrap();
    f.call(
        &f.root,
        Operation::Update,
        "revoke",
        json!({"token": a.client_token}),
        T0,
    )
    .await
    .unwrap();
    assert!(f.store.lookup(&c.client_token, T0).await.unwrap().is_none());
    assert!(f.store.lookup(&o.client_token, T0).await.unwrap().is_some());
}

#[tokio::test]
async fn renew_and_revoke_endpoints() {
    let f = fixture().await;
    let a = f
        .create(&f.root, json!({"ttl": "10m", "policies": ["p"]}))
        .await
        .unwrap();
    let r = f
        .call(
            &a.client_token,
            Operation::Update,
            "renew-self",
            json!({"increment": "30m"}),
            T0 + 60,
        )
        .await
        .unwrap()
        .auth
        .unwrap();
    assert_eq!(r.lease_duration, 1800);
    assert_eq!(r.client_token, a.client_token);
    let r = f
        .call(
            &f.root,
            Operation::Update,
            "renew-accessor",
            json!({"accessor": a.accessor, "increment": 60}),
            T0 + 60,
        )
        .await
        .unwrap()
        .auth
        .unwrap();
    assert_eq!(r.lease_duration, 60);
    assert_eq!(r.client_token, "");
    let nr = f
        .create(&f.root, json!({"renewable": false, "policies": ["p"]}))
        .await
        .unwrap();
    let err = f
        .call(
            &f.root,
            Operation::Update,
            "renew",
            json!({"token": nr.client_token}),
            T0,
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), 400);
    let keys = f
        .call(&f.root, Operation::List, "accessors", json!({}), T0)
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(keys["keys"].as_array().unwrap().len(), 3);
    let resp = f
        .call(
            &f.root,
            Operation::Update,
            "revoke-accessor",
            json!({"accessor": a.accessor}),
            T0,
        )
        .await
        .unwrap();
    assert_eq!(resp, Response::empty());
    assert!(f.store.lookup(&a.client_token, T0).await.unwrap().is_none());
    f.call(
        &nr.client_token,
        Operation::Update,
        "revoke-self",
        json!({}),
        T0,
    )
    .await
    .unwrap();
    assert!(
        f.store
            .lookup(&nr.client_token, T0)
            .await
            .unwrap()
            .is_none()
    );
    // Expired via req.time: the caller is gone, so the router would refuse; lookup answers 403.
    let short = f
        .create(&f.root, json!({"ttl": 5, "policies": ["p"]}))
        .await
        .unwrap();
    let err = f
        .call(
            &f.root,
            Operation::Update,
            "lookup",
            json!({"token": short.client_token}),
            T0 + 5,
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), 403);
}

#[tokio::test]
async fn malformed_bodies_change_nothing() {
    let f = fixture().await;
    let before = f.store.accessors().await.unwrap();
    for body in [
        json!({"ttl": "forever"}),
        json!({"ttl": true}),
        json!({"policies": 5}),
        json!({"policies": [1, 2]}),
        json!({"meta": "x"}),
        json!({"meta": {"a": 1}}),
        json!({"num_uses": -1}),
        json!({"num_uses": "many"}),
        json!({"renewable": "maybe"}),
        json!({"explicit_max_ttl": []}),
        json!({"period": "1y"}),
        json!({"id": "hvs.mine"}),
        json!({"type": "batch"}),
        json!({"display_name": 3}),
    ] {
        let err = f.create(&f.root, body.clone()).await.unwrap_err();
        assert_eq!(err.status(), 400, "{body}");
    }
    assert_eq!(f.store.accessors().await.unwrap(), before);
    for (path, body) in [
        ("lookup", json!({})),
        ("lookup", json!({"token": 5})),
        ("lookup-accessor", json!({})),
        ("lookup-accessor", json!({"accessor": "nope"})),
        ("lookup-accessor", json!({"accessor": "../x"})),
        ("renew-self", json!({"increment": "soon"})),
        ("revoke", json!({})),
        ("revoke-accessor", json!({"accessor": "nope"})),
        ("revoke-orphan", json!({"token": []})),
    ] {
        let err = f
            .call(&f.root, Operation::Update, path, body.clone(), T0)
            .await
            .unwrap_err();
        assert_eq!(err.status(), 400, "{path} {body}");
    }
    for (path, body) in [
        ("lookup", json!({"token": "hvs.nope"})),
        ("renew", json!({"token": "hvs.nope"})),
    ] {
        let err = f
            .call(&f.root, Operation::Update, path, body.clone(), T0)
            .await
            .unwrap_err();
        assert_eq!(err.status(), 403, "{path} {body}");
    }
    assert_eq!(f.store.accessors().await.unwrap(), before);
    // No token at all.
    let mut req = Request::new(Operation::Update, "create");
    req.time = UNIX_EPOCH + Duration::from_secs(T0);
    assert_eq!(
        f.engine.handle(&req, &f.view).await.unwrap_err().status(),
        403
    );
    let err = f
        .call(&f.root, Operation::Delete, "create", json!({}), T0)
        .await
        .unwrap_err();
    assert_eq!(err.status(), 405);
    let err = f
        .call(&f.root, Operation::Read, "nope", json!({}), T0)
        .await
        .unwrap_err();
    assert_eq!(err.status(), 404);
}
