//! AppRole tests: role CRUD, role ids, secret-id TTL / uses / CIDR, login and its failures.

use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::json;

use super::*;
use crate::view::PlainStore;

const T0: u64 = 1_700_000_000;

struct Fixture {
    approle: AppRole,
    tokens: Arc<TokenStore>,
    view: View,
}

fn fixture() -> Fixture {
    let tokens = Arc::new(TokenStore::new(PlainStore::view(), 0, 0));
    Fixture {
        approle: AppRole::new(Arc::clone(&tokens)),
        tokens,
        view: PlainStore::view(),
    }
}

impl Fixture {
    async fn call_from(
        &self,
        op: Operation,
        path: &str,
        body: Value,
        at: u64,
        addr: &str,
    ) -> Result<Response, ApiError> {
        let mut req = Request::new(op, path);
        req.time = UNIX_EPOCH + Duration::from_secs(at);
        req.data = body.as_object().cloned().unwrap_or_default();
        req.remote_addr = Some(addr.parse::<SocketAddr>().unwrap());
        self.approle.handle(&req, &self.view).await
    }

    async fn call(&self, op: Operation, path: &str, body: Value) -> Result<Response, ApiError> {
        self.call_from(op, path, body, T0, "10.0.0.5:4000").await
    }

    async fn data(&self, op: Operation, path: &str, body: Value) -> Map<String, Value> {
        self.call(op, path, body).await.unwrap().data.unwrap()
    }

    async fn role_id(&self, name: &str) -> String {
        let d = self
            .data(Operation::Read, &format!("role/{name}/role-id"), json!({}))
            .await;
        d["role_id"].as_str().unwrap().to_owned()
    }

    async fn secret(&self, name: &str, body: Value) -> Map<String, Value> {
        self.data(Operation::Update, &format!("role/{name}/secret-id"), body)
            .await
    }

    async fn login(
        &self,
        role_id: &str,
        secret_id: &str,
        at: u64,
        addr: &str,
    ) -> Result<Response, ApiError> {
        self.call_from(
            Operation::Update,
            "login",
            json!({"role_id": role_id, "secret_id": secret_id}),
            at,
            addr,
        )
        .await
    }

    async fn stored_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut todo = vec![String::new()];
        while let Some(prefix) = todo.pop() {
            for k in self.view.list(&prefix, Page::default()).await.unwrap() {
                let key = format!("{prefix}{k}");
                if k.ends_with('/') {
                    todo.push(key);
                } else {
                    out.extend(key.as_bytes());
                    out.extend(self.view.get(&key).await.unwrap().unwrap());
                }
            }
        }
        out
    }
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn role_crud() {
    let f = fixture();
    assert_eq!(
        f.call(Operation::List, "role", json!({}))
            .await
            .unwrap_err()
            .status(),
        404
    );
    f.call(
        Operation::Update,
        "role/web",
        json!({"token_policies": "a,b", "token_ttl": "1h", "token_max_ttl": "2h", "secret_id_ttl": "10m"}),
    )
    .await
    .unwrap();
    let r = f.data(Operation::Read, "role/web", json!({})).await;
    assert_eq!(r["token_policies"], json!(["a", "b"]));
    assert_eq!(r["token_ttl"], 3600);
    assert_eq!(r["bind_secret_id"], true);
    assert_eq!(r["secret_id_ttl"], 600);
    // Update keeps unspecified fields; legacy `policies` still works.
    f.call(Operation::Update, "role/web", json!({"policies": ["c"]}))
        .await
        .unwrap();
    let r = f.data(Operation::Read, "role/web", json!({})).await;
    assert_eq!(r["token_policies"], json!(["c"]));
    assert_eq!(r["token_ttl"], 3600);
    let keys = f.data(Operation::List, "role", json!({})).await;
    assert_eq!(keys["keys"], json!(["web"]));
    assert!(f.approle.exists("role/web", &f.view).await.unwrap());
    assert!(!f.approle.exists("role/nope", &f.view).await.unwrap());
    let rid = f.role_id("web").await;
    f.call(Operation::Delete, "role/web", json!({}))
        .await
        .unwrap();
    assert_eq!(
        f.call(Operation::Read, "role/web", json!({}))
            .await
            .unwrap_err()
            .status(),
        404
    );
    assert_eq!(
        f.login(&rid, "x", T0, "10.0.0.5:1")
            .await
            .unwrap_err()
            .status(),
        400
    );
    assert_eq!(f.approle.unauthenticated_paths(), ["login"]);
}

#[tokio::test]
async fn role_id_read_and_set() {
    let f = fixture();
    f.call(Operation::Update, "role/a", json!({}))
        .await
        .unwrap();
    f.call(Operation::Update, "role/b", json!({}))
        .await
        .unwrap();
    let old = f.role_id("a").await;
    assert!(uuid::Uuid::parse_str(&old).is_ok());
    f.call(
        Operation::Update,
        "role/a/role-id",
        json!({"role_id": "custom-id"}),
    )
    .await
    .unwrap();
    assert_eq!(f.role_id("a").await, "custom-id");
    let taken = f
        .call(
            Operation::Update,
            "role/b/role-id",
            json!({"role_id": "custom-id"}),
        )
        .await;
    assert_eq!(taken.unwrap_err().status(), 400);
    let s = f.secret("a", json!({})).await;
    let sid = s["secret_id"].as_str().unwrap();
    assert_eq!(
        f.login(&old, sid, T0, "10.0.0.5:1")
            .await
            .unwrap_err()
            .status(),
        400
    );
    assert!(f.login("custom-id", sid, T0, "10.0.0.5:1").await.is_ok());
}

#[tokio::test]
async fn login_issues_a_token_and_nothing_is_stored_in_clear() {
    let f = fixture();
    f.call(
        Operation::Update,
        "role/web",
        json!({"token_policies": ["web"], "token_ttl": "20m", "token_max_ttl": "30m"}),
    )
    .await
    .unwrap();
    let rid = f.role_id("web").await;
    let s = f
        .secret("web", json!({"metadata": "{\"team\":\"ops\"}"}))
        .await;
    let sid = s["secret_id"].as_str().unwrap().to_owned();
    assert_eq!(s["secret_id_num_uses"], 0);
    assert!(!contains(&f.stored_bytes().await, &sid));
    // The role id is readable through the API (GET role-id), so the role entry keeps it; only
    // its index key is an HMAC.
    let r = f.login(&rid, &sid, T0, "10.0.0.5:1").await.unwrap();
    assert!(r.data.is_none());
    let auth = r.auth.unwrap();
    assert_eq!(auth.policies, ["default", "web"]);
    assert_eq!(auth.lease_duration, 1200);
    assert_eq!(auth.metadata["role_name"], "web");
    let e = f
        .tokens
        .lookup(&auth.client_token, T0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.path, "auth/approle/login");
    assert!(e.orphan);
    let renewed = f.tokens.renew(&e, 100_000, T0 + 60).await.unwrap();
    assert!(
        renewed.ttl_at(T0 + 60) <= 1800 - 60 + 1,
        "role max TTL caps renewals"
    );
    // Lookup by secret id and by accessor; metadata round-trips.
    let l = f
        .data(
            Operation::Update,
            "role/web/secret-id/lookup",
            json!({"secret_id": sid}),
        )
        .await;
    assert_eq!(l["metadata"], json!({"team": "ops"}));
    let acc = s["secret_id_accessor"].as_str().unwrap();
    let l2 = f
        .data(
            Operation::Update,
            "role/web/secret-id-accessor/lookup",
            json!({"secret_id_accessor": acc}),
        )
        .await;
    assert_eq!(l2["secret_id_accessor"], acc);
    let list = f
        .data(Operation::List, "role/web/secret-id", json!({}))
        .await;
    assert_eq!(list["keys"], json!([acc]));
}

#[tokio::test]
async fn login_failures() {
    let f = fixture();
    f.call(
        Operation::Update,
        "role/web",
        json!({"secret_id_num_uses": 2, "secret_id_ttl": 60}),
    )
    .await
    .unwrap();
    let rid = f.role_id("web").await;
    let s = f.secret("web", json!({})).await;
    let sid = s["secret_id"].as_str().unwrap().to_owned();
    assert_eq!(s["secret_id_ttl"], 60);
    let wrong_role = f.login("nope", &sid, T0, "10.0.0.5:1").await.unwrap_err();
    let wrong_secret = f.login(&rid, "nope", T0, "10.0.0.5:1").await.unwrap_err();
    assert_eq!(wrong_role, wrong_secret, "one answer for both");
    assert_eq!(wrong_role.status(), 400);
    for body in [
        json!({}),
        json!({"role_id": 5}),
        json!({"role_id": rid}),
        json!({"role_id": rid, "secret_id": 7}),
    ] {
        let err = f
            .call(Operation::Update, "login", body.clone())
            .await
            .unwrap_err();
        assert_eq!(err.status(), 400, "{body}");
    }
    // Expired.
    assert_eq!(
        f.login(&rid, &sid, T0 + 60, "10.0.0.5:1")
            .await
            .unwrap_err()
            .status(),
        400
    );
    // Uses: two logins, then refused.
    let s = f.secret("web", json!({})).await;
    let sid = s["secret_id"].as_str().unwrap().to_owned();
    f.login(&rid, &sid, T0, "10.0.0.5:1").await.unwrap();
    let left = f
        .data(
            Operation::Update,
            "role/web/secret-id/lookup",
            json!({"secret_id": sid}),
        )
        .await;
    assert_eq!(left["secret_id_num_uses"], 1);
    f.login(&rid, &sid, T0, "10.0.0.5:1").await.unwrap();
    assert_eq!(
        f.login(&rid, &sid, T0, "10.0.0.5:1")
            .await
            .unwrap_err()
            .status(),
        400
    );
    // Destroyed secret ids are refused, by id and by accessor.
    let a = f.secret("web", json!({})).await;
    let b = f.secret("web", json!({})).await;
    f.call(
        Operation::Update,
        "role/web/secret-id/destroy",
        json!({"secret_id": a["secret_id"]}),
    )
    .await
    .unwrap();
    f.call(
        Operation::Update,
        "role/web/secret-id-accessor/destroy",
        json!({"secret_id_accessor": b["secret_id_accessor"]}),
    )
    .await
    .unwrap();
    for s in [&a, &b] {
        let err = f
            .login(&rid, s["secret_id"].as_str().unwrap(), T0, "10.0.0.5:1")
            .await
            .unwrap_err();
        assert_eq!(err.status(), 400);
    }
}

#[tokio::test]
async fn cidr_bindings() {
    let f = fixture();
    f.call(
        Operation::Update,
        "role/web",
        json!({"secret_id_bound_cidrs": ["10.0.0.0/8"]}),
    )
    .await
    .unwrap();
    let rid = f.role_id("web").await;
    let s = f.secret("web", json!({"cidr_list": "10.1.0.0/16"})).await;
    let sid = s["secret_id"].as_str().unwrap().to_owned();
    assert_eq!(
        f.login(&rid, &sid, T0, "10.2.0.1:1")
            .await
            .unwrap_err()
            .status(),
        400
    );
    assert_eq!(
        f.login(&rid, &sid, T0, "192.168.0.1:1")
            .await
            .unwrap_err()
            .status(),
        400
    );
    f.login(&rid, &sid, T0, "10.1.2.3:1").await.unwrap();
    let err = f
        .call(
            Operation::Update,
            "role/web/secret-id",
            json!({"cidr_list": "192.168.0.0/16"}),
        )
        .await;
    assert_eq!(err.unwrap_err().status(), 400);
    // A role with no secret id must have a CIDR bound.
    let err = f
        .call(
            Operation::Update,
            "role/open",
            json!({"bind_secret_id": false}),
        )
        .await;
    assert_eq!(err.unwrap_err().status(), 400);
    f.call(
        Operation::Update,
        "role/net",
        json!({"bind_secret_id": false, "secret_id_bound_cidrs": "127.0.0.1/32"}),
    )
    .await
    .unwrap();
    let nid = f.role_id("net").await;
    let ok = f
        .call_from(
            Operation::Update,
            "login",
            json!({"role_id": nid}),
            T0,
            "127.0.0.1:9",
        )
        .await;
    assert!(ok.unwrap().auth.is_some());
    let no = f
        .call_from(
            Operation::Update,
            "login",
            json!({"role_id": nid}),
            T0,
            "127.0.0.2:9",
        )
        .await;
    assert_eq!(no.unwrap_err().status(), 400);
}

#[tokio::test]
async fn malformed_bodies_change_nothing() {
    let f = fixture();
    f.call(
        Operation::Update,
        "role/web",
        json!({"secret_id_num_uses": 3, "secret_id_ttl": 600}),
    )
    .await
    .unwrap();
    let before = f.stored_bytes().await;
    for body in [
        json!({"token_ttl": "soon"}),
        json!({"token_policies": 3}),
        json!({"token_policies": ["root"]}),
        json!({"bind_secret_id": "perhaps"}),
        json!({"secret_id_bound_cidrs": ["10.0.0.0/99"]}),
        json!({"secret_id_num_uses": -1}),
        json!({"token_num_uses": "x"}),
        json!({"token_type": "batch"}),
        json!({"token_bound_cidrs": ["10.0.0.0/8"]}),
        json!({"token_ttl": "3h", "token_max_ttl": "1h"}),
        json!({"token_period": {}}),
    ] {
        for path in ["role/web", "role/new"] {
            let err = f
                .call(Operation::Update, path, body.clone())
                .await
                .unwrap_err();
            assert_eq!(err.status(), 400, "{path} {body}");
        }
    }
    for body in [
        json!({"metadata": {"a": "b"}}),
        json!({"metadata": "not json"}),
        json!({"metadata": "{\"a\": 1}"}),
        json!({"cidr_list": "nope"}),
        json!({"num_uses": 4}),
        json!({"num_uses": "x"}),
        json!({"ttl": "2h"}),
        json!({"ttl": []}),
    ] {
        let err = f
            .call(Operation::Update, "role/web/secret-id", body.clone())
            .await
            .unwrap_err();
        assert_eq!(err.status(), 400, "{body}");
    }
    for (op, path, body) in [
        (Operation::Update, "role/bad name", json!({})),
        (Operation::Update, "role/nope/secret-id", json!({})),
        (Operation::Update, "role/web/role-id", json!({})),
        (Operation::Update, "role/web/role-id", json!({"role_id": 1})),
        (Operation::Update, "role/web/secret-id/lookup", json!({})),
        (
            Operation::Update,
            "role/web/secret-id-accessor/lookup",
            json!({"secret_id_accessor": "x"}),
        ),
        (
            Operation::Update,
            "role/web/secret-id-accessor/destroy",
            json!({"secret_id_accessor": 5}),
        ),
    ] {
        let err = f.call(op, path, body.clone()).await.unwrap_err();
        assert_eq!(err.status(), 400, "{path} {body}");
    }
    assert_eq!(f.stored_bytes().await, before);
    assert_eq!(
        f.call(Operation::Delete, "login", json!({}))
            .await
            .unwrap_err()
            .status(),
        405
    );
    assert_eq!(
        f.call(Operation::Read, "nope", json!({}))
            .await
            .unwrap_err()
            .status(),
        404
    );
    let lookup = f
        .call(
            Operation::Update,
            "role/web/secret-id/lookup",
            json!({"secret_id": "nope"}),
        )
        .await;
    assert_eq!(lookup.unwrap_err().status(), 404);
}
