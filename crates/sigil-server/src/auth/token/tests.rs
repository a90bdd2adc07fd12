//! Token store, token endpoints and AppRole, over a plain in-memory view.

use serde_json::{Value, json};
use sigil_core::SecretString;

use super::*;
use crate::api::{Operation, Request, Response};
use crate::auth::approle::AppRole;
use crate::auth::token_engine::TokenEngine;
use crate::engine::Engine;
use crate::view::PlainStore;

const T0: u64 = 1_800_000_000;

fn store() -> (Arc<TokenStore>, View) {
    let view = PlainStore::view();
    (Arc::new(TokenStore::new(view.sub("t/"), 3600, 7200)), view)
}

fn req(
    op: Operation,
    path: &str,
    body: Value,
    caller: Option<(&str, Arc<TokenEntry>)>,
    now: u64,
) -> Request {
    let mut r = Request::new(op, path);
    if let Value::Object(m) = body {
        r.data = m;
    }
    if let Some((t, e)) = caller {
        r.token = Some(SecretString::new(t.to_owned()));
        r.caller = Some(e);
    }
    r.time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(now);
    r
}

async fn call(engine: &dyn Engine, r: Request) -> Result<Response, ApiError> {
    engine.handle(&r, &PlainStore::view()).await
}

#[tokio::test]
async fn tree_ttl_uses_and_policies() {
    let (s, _) = store();
    let root = s.create_root(T0).await.unwrap();
    let root_e = s.lookup(&root, T0).await.unwrap().unwrap();
    assert!(root_e.is_root() && root_e.expire_time == 0);

    let mk = |policies: &[&str], extra: TokenParams| TokenParams {
        policies: Some(policies.iter().map(|p| (*p).to_owned()).collect()),
        ..extra
    };
    let (child, auth) = s
        .create(Some(&root_e), mk(&["app"], TokenParams::default()), T0)
        .await
        .unwrap();
    assert_eq!(auth.policies, ["app", "default"]);
    assert_eq!(auth.lease_duration, 3600, "the default TTL");
    let child_e = s.lookup(&child, T0).await.unwrap().unwrap();
    assert_eq!(child_e.parent, root_e.accessor);

    // Subset rule, root only from root.
    assert_eq!(
        s.create(Some(&child_e), mk(&["other"], TokenParams::default()), T0)
            .await
            .unwrap_err()
            .status(),
        400
    );
    assert!(
        s.create(Some(&child_e), mk(&["root"], TokenParams::default()), T0)
            .await
            .is_err()
    );
    let (grand, _) = s
        .create(Some(&child_e), TokenParams::default(), T0)
        .await
        .unwrap();
    let (orphan, oauth) = s
        .create(
            Some(&child_e),
            TokenParams {
                orphan: true,
                ..TokenParams::default()
            },
            T0,
        )
        .await
        .unwrap();
    assert!(oauth.orphan);

    // Caps: max TTL, explicit max, period.
    let (_, a) = s
        .create(
            Some(&root_e),
            TokenParams {
                ttl: Some(99_999),
                ..TokenParams::default()
            },
            T0,
        )
        .await
        .unwrap();
    assert_eq!(a.lease_duration, 7200);
    let (_, a) = s
        .create(
            Some(&root_e),
            TokenParams {
                ttl: Some(600),
                explicit_max_ttl: 300,
                ..TokenParams::default()
            },
            T0,
        )
        .await
        .unwrap();
    assert_eq!(a.lease_duration, 300);
    let (p, a) = s
        .create(
            Some(&root_e),
            TokenParams {
                period: 60,
                ..TokenParams::default()
            },
            T0,
        )
        .await
        .unwrap();
    assert_eq!(a.lease_duration, 60);
    let pe = s.lookup(&p, T0).await.unwrap().unwrap();
    assert_eq!(
        s.renew(&pe, 5000, T0 + 30).await.unwrap().lease_duration,
        60,
        "periodic renews to the period"
    );

    // Expiry.
    assert!(s.lookup(&child, T0 + 3599).await.unwrap().is_some());
    assert!(s.lookup(&child, T0 + 3600).await.unwrap().is_none());
    // Its expiry revoked the tree below it, but not the orphan.
    assert!(s.lookup(&grand, T0).await.unwrap().is_none());
    assert!(s.lookup(&orphan, T0).await.unwrap().is_some());

    // num_uses: the last use proceeds and revokes.
    let (limited, _) = s
        .create(
            Some(&root_e),
            TokenParams {
                num_uses: 2,
                ..TokenParams::default()
            },
            T0,
        )
        .await
        .unwrap();
    let le = s.lookup(&limited, T0).await.unwrap().unwrap();
    s.use_once(&le).await.unwrap();
    assert!(s.lookup(&limited, T0).await.unwrap().is_some());
    s.use_once(&le).await.unwrap();
    assert!(s.lookup(&limited, T0).await.unwrap().is_none());
}

#[tokio::test]
async fn tokens_are_stored_hashed_only() {
    let (s, view) = store();
    let root = s.create_root(T0).await.unwrap();
    let e = s.lookup(&root, T0).await.unwrap().unwrap();
    let (child, _) = s
        .create(Some(&e), TokenParams::default(), T0)
        .await
        .unwrap();
    let mut stack = vec![String::new()];
    while let Some(prefix) = stack.pop() {
        for name in view
            .list(&prefix, sigil_storage::Page::default())
            .await
            .unwrap()
        {
            let key = format!("{prefix}{name}");
            if name.ends_with('/') {
                stack.push(key);
                continue;
            }
            assert!(!key.contains(&root[4..]) && !key.contains(&child[4..]));
            let v = view.get(&key).await.unwrap().unwrap();
            for t in [&root, &child] {
                assert!(
                    !v.windows(t.len() - 4).any(|w| w == &t.as_bytes()[4..]),
                    "{key}"
                );
            }
        }
    }
    assert!(!format!("{e:?}").contains(&root));
}

#[tokio::test]
async fn token_endpoints() {
    let (s, _) = store();
    let engine = TokenEngine::new(Arc::clone(&s));
    let root = s.create_root(T0).await.unwrap();
    let re = s.lookup(&root, T0).await.unwrap().unwrap();
    let as_root = || Some((root.as_str(), Arc::clone(&re)));

    let created = call(
        &engine,
        req(
            Operation::Update,
            "create",
            json!({"policies": "a,b", "ttl": "10m", "meta": {"team": "x"}}),
            as_root(),
            T0,
        ),
    )
    .await
    .unwrap()
    .auth
    .unwrap();
    assert_eq!(created.policies, ["a", "b", "default"]);
    assert_eq!(created.lease_duration, 600);
    let looked = call(
        &engine,
        req(
            Operation::Update,
            "lookup",
            json!({"token": created.client_token}),
            as_root(),
            T0 + 10,
        ),
    )
    .await
    .unwrap()
    .data
    .unwrap();
    assert_eq!(looked["ttl"], 590);
    assert_eq!(looked["meta"]["team"], "x");
    assert_eq!(looked["id"], created.client_token.as_str());
    let by_acc = call(
        &engine,
        req(
            Operation::Update,
            "lookup-accessor",
            json!({"accessor": created.accessor}),
            as_root(),
            T0,
        ),
    )
    .await
    .unwrap()
    .data
    .unwrap();
    assert_eq!(by_acc["id"], "", "no id through an accessor");
    let ce = s.lookup(&created.client_token, T0).await.unwrap().unwrap();
    let renewed = call(
        &engine,
        req(
            Operation::Update,
            "renew-self",
            json!({"increment": "1h"}),
            Some((&created.client_token, ce.clone())),
            T0 + 60,
        ),
    )
    .await
    .unwrap()
    .auth
    .unwrap();
    assert_eq!(renewed.lease_duration, 3600);
    call(
        &engine,
        req(
            Operation::Update,
            "revoke-accessor",
            json!({"accessor": created.accessor}),
            as_root(),
            T0,
        ),
    )
    .await
    .unwrap();
    assert!(s.lookup(&created.client_token, T0).await.unwrap().is_none());

    for (path, body) in [
        ("create", json!({"ttl": "forever"})),
        ("create", json!({"policies": 5})),
        ("create", json!({"meta": {"a": 1}})),
        ("create", json!({"num_uses": -1})),
        ("create", json!({"type": "batch"})),
        ("lookup", json!({})),
        ("lookup", json!({"token": "hvs.nope"})),
        ("revoke", json!({"token": "hvs.nope"})),
        ("lookup-accessor", json!({"accessor": "../x"})),
    ] {
        let got = call(
            &engine,
            req(Operation::Update, path, body.clone(), as_root(), T0),
        )
        .await;
        assert_eq!(got.unwrap_err().status(), 400, "{path} {body}");
    }
    assert_eq!(
        call(
            &engine,
            req(Operation::Read, "nonesuch", json!({}), as_root(), T0)
        )
        .await
        .unwrap_err(),
        ApiError::UnsupportedPath
    );
}

#[tokio::test]
async fn approle_login_and_its_failures() {
    let (s, _) = store();
    let approle = AppRole::new(Arc::clone(&s));
    let view = PlainStore::view();
    let h = |r: Request| {
        let approle = &approle;
        let view = view.clone();
        async move { approle.handle(&r, &view).await }
    };
    h(req(Operation::Update, "role/web", json!({"token_policies": ["app"], "token_ttl": "30m", "secret_id_num_uses": 2, "secret_id_ttl": "1h"}), None, T0)).await.unwrap();
    let role_id = h(req(
        Operation::Read,
        "role/web/role-id",
        json!({}),
        None,
        T0,
    ))
    .await
    .unwrap()
    .data
    .unwrap()["role_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sid = h(req(
        Operation::Update,
        "role/web/secret-id",
        json!({"metadata": "{\"env\":\"prod\"}"}),
        None,
        T0,
    ))
    .await
    .unwrap()
    .data
    .unwrap();
    let secret = sid["secret_id"].as_str().unwrap().to_owned();
    let login = |rid: &str, sec: &str, now: u64| {
        req(
            Operation::Update,
            "login",
            json!({"role_id": rid, "secret_id": sec}),
            None,
            now,
        )
    };

    let auth = h(login(&role_id, &secret, T0)).await.unwrap().auth.unwrap();
    assert_eq!(auth.policies, ["app", "default"]);
    assert_eq!(auth.lease_duration, 1800);
    assert_eq!(auth.metadata["env"], "prod");
    assert_eq!(auth.metadata["role_name"], "web");
    assert!(s.lookup(&auth.client_token, T0).await.unwrap().is_some());
    h(login(&role_id, &secret, T0)).await.unwrap();
    assert_eq!(
        h(login(&role_id, &secret, T0)).await.unwrap_err().status(),
        400,
        "uses exhausted"
    );

    let sid2 = h(req(
        Operation::Update,
        "role/web/secret-id",
        json!({}),
        None,
        T0,
    ))
    .await
    .unwrap()
    .data
    .unwrap();
    let secret2 = sid2["secret_id"].as_str().unwrap().to_owned();
    assert_eq!(
        h(login(&role_id, &secret2, T0 + 3600))
            .await
            .unwrap_err()
            .status(),
        400,
        "expired"
    );
    let sid3 = h(req(
        Operation::Update,
        "role/web/secret-id",
        json!({"cidr_list": "10.0.0.0/8"}),
        None,
        T0,
    ))
    .await
    .unwrap()
    .data
    .unwrap();
    let mut from_outside = login(&role_id, sid3["secret_id"].as_str().unwrap(), T0);
    from_outside.remote_addr = Some("192.168.1.1:5000".parse().unwrap());
    assert_eq!(h(from_outside).await.unwrap_err().status(), 400, "CIDR");
    let mut from_inside = login(&role_id, sid3["secret_id"].as_str().unwrap(), T0);
    from_inside.remote_addr = Some("10.2.3.4:5000".parse().unwrap());
    h(from_inside).await.unwrap();
    let sid4 = h(req(
        Operation::Update,
        "role/web/secret-id",
        json!({}),
        None,
        T0,
    ))
    .await
    .unwrap()
    .data
    .unwrap();
    h(req(
        Operation::Update,
        "role/web/secret-id-accessor/destroy",
        json!({"secret_id_accessor": sid4["secret_id_accessor"]}),
        None,
        T0,
    ))
    .await
    .unwrap();
    assert_eq!(
        h(login(&role_id, sid4["secret_id"].as_str().unwrap(), T0))
            .await
            .unwrap_err()
            .status(),
        400,
        "destroyed"
    );
    assert_eq!(
        h(login("wrong", &secret, T0)).await.unwrap_err().status(),
        400
    );
    assert_eq!(
        h(login(&role_id, "wrong", T0)).await.unwrap_err().status(),
        400
    );
    assert_eq!(
        h(req(Operation::Update, "login", json!({}), None, T0))
            .await
            .unwrap_err()
            .status(),
        400
    );

    for (path, body) in [
        ("role/web", json!({"secret_id_bound_cidrs": "nonsense"})),
        (
            "role/web",
            json!({"token_ttl": "2h", "token_max_ttl": "1h"}),
        ),
        ("role/bad name", json!({})),
        ("role/web/secret-id", json!({"metadata": {"a": "b"}})),
        ("role/web/secret-id", json!({"ttl": "2h"})),
        ("role/none/secret-id", json!({})),
    ] {
        let got = h(req(Operation::Update, path, body.clone(), None, T0)).await;
        assert_eq!(got.unwrap_err().status(), 400, "{path} {body}");
    }
    assert_eq!(approle.unauthenticated_paths(), ["login"]);
}
