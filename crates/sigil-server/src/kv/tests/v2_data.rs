//! KV v2: `data/`, `subkeys/`, CAS, trimming, expiry, routing and concurrency.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Harness, T0, request};
use crate::api::{ApiError, Operation::*};
use crate::engine::Engine;
use crate::kv::KvV2;
use crate::kv::v2::model::{metadata_key, version_key};

pub(super) fn kv() -> Harness<KvV2> {
    Harness::new(KvV2::new())
}

/// Writes `data` to `path`, returning the new version.
pub(super) async fn put(h: &Harness<KvV2>, path: &str, data: Value) -> u64 {
    let out = h
        .ok(Update, &format!("data/{path}"), json!({"data": data}))
        .await;
    out["version"].as_u64().unwrap()
}

/// Reads `path` (optionally a version) and returns the whole `data` answer.
pub(super) async fn get(
    h: &Harness<KvV2>,
    path: &str,
    version: Option<u64>,
) -> Result<Value, ApiError> {
    let q = version.map_or(json!({}), |v| json!({"version": v.to_string()}));
    h.call(Read, &format!("data/{path}"), q)
        .await
        .map(|r| Value::Object(r.data.unwrap_or_default()))
}

#[tokio::test]
async fn write_then_read() {
    let mut h = kv();
    let out = h
        .ok(Update, "data/app", json!({"data": {"user": "a"}}))
        .await;
    assert_eq!(
        Value::Object(out),
        json!({"version": 1, "created_time": "2023-11-14T22:13:20Z", "deletion_time": "",
               "destroyed": false, "custom_metadata": null})
    );
    h.now += 5;
    assert_eq!(put(&h, "app", json!({"user": "b"})).await, 2);
    assert_eq!(
        get(&h, "app", None).await.unwrap(),
        json!({"data": {"user": "b"}, "metadata": {"version": 2,
               "created_time": "2023-11-14T22:13:25Z", "deletion_time": "",
               "destroyed": false, "custom_metadata": null}})
    );
    for (v, user) in [(Some(1), "a"), (Some(2), "b"), (Some(0), "b")] {
        assert_eq!(get(&h, "app", v).await.unwrap()["data"]["user"], user);
    }
    for missing in [Some(3), Some(99)] {
        assert_eq!(get(&h, "app", missing).await, Err(ApiError::NotFound));
    }
    assert_eq!(get(&h, "nope", None).await, Err(ApiError::NotFound));
}

#[tokio::test]
async fn any_json_values_are_kept_exactly() {
    let h = kv();
    let data = json!({
        "s": "x", "i": -7, "big": u64::MAX, "f": 1.5, "b": false, "n": null,
        "arr": [1, "two", {"three": 3}], "obj": {"deep": {"deeper": []}}, "empty": {}
    });
    put(&h, "types", data.clone()).await;
    assert_eq!(get(&h, "types", None).await.unwrap()["data"], data);
}

#[tokio::test]
async fn check_and_set() {
    // (versions already written, mount cas_required, secret cas_required, cas sent, error)
    let mismatch = "check-and-set parameter did not match the current version";
    let required = "check-and-set parameter required for this call";
    let cases = [
        (0, false, false, Value::Null, None),
        (0, false, false, json!(0), None),
        (1, false, false, json!(0), Some(mismatch)),
        (1, false, false, json!(1), None),
        (2, false, false, json!(1), Some(mismatch)),
        (2, false, false, json!(3), Some(mismatch)),
        (2, false, false, json!("2"), None),
        (0, true, false, Value::Null, Some(required)),
        (0, true, false, json!(0), None),
        (1, true, false, json!(1), None),
        (1, false, true, Value::Null, Some(required)),
        (1, false, true, json!(1), None),
        (1, false, true, json!(0), Some(mismatch)),
    ];
    for (i, (existing, mount, secret, cas, want)) in cases.into_iter().enumerate() {
        let h = kv();
        for _ in 0..existing {
            put(&h, "k", json!({"v": 1})).await;
        }
        if mount {
            h.ok(Update, "config", json!({"cas_required": true})).await;
        }
        if secret {
            h.ok(Update, "metadata/k", json!({"cas_required": true}))
                .await;
        }
        let mut body = json!({"data": {"v": 2}});
        if !cas.is_null() {
            body["options"] = json!({ "cas": cas });
        }
        let before = h.snapshot().await;
        let got = h.call(Update, "data/k", body).await;
        match want {
            None => assert_eq!(
                got.unwrap().data.unwrap()["version"],
                existing + 1,
                "case {i}"
            ),
            Some(msg) => {
                assert_eq!(got, Err(ApiError::bad(msg)), "case {i}");
                assert_eq!(h.snapshot().await, before, "case {i}");
            }
        }
    }
}

#[tokio::test]
async fn max_versions_trims_oldest_and_their_data() {
    let h = kv();
    h.ok(Update, "config", json!({"max_versions": 3})).await;
    for i in 1..=5 {
        assert_eq!(put(&h, "k", json!({"i": i})).await, i);
    }
    let meta = h.ok(Read, "metadata/k", json!({})).await;
    assert_eq!(meta["current_version"], 5);
    assert_eq!(meta["oldest_version"], 3);
    let kept: Vec<&String> = meta["versions"].as_object().unwrap().keys().collect();
    assert_eq!(kept, ["3", "4", "5"]);
    for gone in [1, 2] {
        assert_eq!(get(&h, "k", Some(gone)).await, Err(ApiError::NotFound));
        assert_eq!(h.view.get(&version_key("k", gone)).await.unwrap(), None);
    }
    assert_eq!(get(&h, "k", Some(3)).await.unwrap()["data"]["i"], 3);

    // The larger of the secret's and the mount's setting applies, so a secret asking for
    // fewer than its mount still keeps the mount's number.
    h.ok(Update, "metadata/k", json!({"max_versions": 1})).await;
    put(&h, "k", json!({"i": 6})).await;
    let meta = h.ok(Read, "metadata/k", json!({})).await;
    assert_eq!(meta["versions"].as_object().unwrap().len(), 3);
    // With the mount back to the default (10), the secret's 1 applies from the next write;
    // the metadata write itself trims nothing.
    h.ok(Update, "config", json!({"max_versions": 0})).await;
    h.ok(Update, "metadata/k", json!({"max_versions": 1})).await;
    assert_eq!(
        h.ok(Read, "metadata/k", json!({})).await["versions"]
            .as_object()
            .unwrap()
            .len(),
        3
    );
    put(&h, "k", json!({"i": 7})).await;
    let meta = h.ok(Read, "metadata/k", json!({})).await;
    assert_eq!(meta["oldest_version"], 7);
    assert_eq!(meta["versions"].as_object().unwrap().len(), 1);
    for gone in 4..=6 {
        assert_eq!(h.view.get(&version_key("k", gone)).await.unwrap(), None);
    }
    // A secret asking for more than its mount keeps more.
    h.ok(Update, "config", json!({"max_versions": 2})).await;
    h.ok(Update, "metadata/m", json!({"max_versions": 4})).await;
    for _ in 0..6 {
        put(&h, "m", json!({"x": 1})).await;
    }
    let meta = h.ok(Read, "metadata/m", json!({})).await;
    assert_eq!(meta["versions"].as_object().unwrap().len(), 4);
    assert_eq!(meta["oldest_version"], 3);
}

#[tokio::test]
async fn default_max_versions_is_ten() {
    let h = kv();
    for _ in 0..12 {
        put(&h, "d", json!({"x": 1})).await;
    }
    let meta = h.ok(Read, "metadata/d", json!({})).await;
    assert_eq!(meta["versions"].as_object().unwrap().len(), 10);
    assert_eq!(meta["oldest_version"], 3);
}

#[tokio::test]
async fn delete_version_after_expires_versions() {
    let mut h = kv();
    h.ok(Update, "config", json!({"delete_version_after": "60s"}))
        .await;
    let out = h.ok(Update, "data/k", json!({"data": {"v": 1}})).await;
    assert_eq!(out["deletion_time"], "2023-11-14T22:14:20Z");
    h.now = T0 + 59;
    assert!(get(&h, "k", None).await.is_ok());
    h.now = T0 + 60;
    match get(&h, "k", None).await {
        Err(ApiError::NotFoundWith(body)) => {
            assert_eq!(body["data"], Value::Null);
            assert_eq!(body["metadata"]["deletion_time"], "2023-11-14T22:14:20Z");
        }
        other => panic!("{other:?}"),
    }
    // The shorter of the mount's and the secret's setting applies.
    h.ok(Update, "metadata/k", json!({"delete_version_after": "10s"}))
        .await;
    let out = h.ok(Update, "data/k", json!({"data": {"v": 2}})).await;
    assert_eq!(out["deletion_time"], "2023-11-14T22:14:30Z");
    h.ok(Update, "metadata/k", json!({"delete_version_after": "1h"}))
        .await;
    let out = h.ok(Update, "data/k", json!({"data": {"v": 3}})).await;
    assert_eq!(out["deletion_time"], "2023-11-14T22:15:20Z");
    // Undelete re-arms the expiry from now (the shorter setting, 60s, applies).
    h.ok(Update, "undelete/k", json!({"versions": [1]})).await;
    assert_eq!(get(&h, "k", Some(1)).await.unwrap()["data"]["v"], 1);
    let meta = h.ok(Read, "metadata/k", json!({})).await;
    assert_eq!(
        meta["versions"]["1"]["deletion_time"],
        "2023-11-14T22:15:20Z"
    );
    // A negative mount setting disables expiry for every secret.
    h.ok(Update, "config", json!({"delete_version_after": "-1s"}))
        .await;
    assert_eq!(
        h.ok(Read, "config", json!({})).await["delete_version_after"],
        "-1s"
    );
    let out = h.ok(Update, "data/k", json!({"data": {"v": 4}})).await;
    assert_eq!(out["deletion_time"], "");
}

#[tokio::test]
async fn subkeys_by_depth_and_version() {
    let h = kv();
    put(
        &h,
        "k",
        json!({"foo": "abc", "bar": {"baz": {"q": 1}, "e": {}}}),
    )
    .await;
    put(&h, "k", json!({"only": 1})).await;
    for (q, want) in [
        (json!({}), json!({"only": null})),
        (
            json!({"version": "1"}),
            json!({"foo": null, "bar": {"baz": {"q": null}, "e": null}}),
        ),
        (
            json!({"version": "1", "depth": "1"}),
            json!({"foo": null, "bar": null}),
        ),
        (
            json!({"version": "1", "depth": "2"}),
            json!({"foo": null, "bar": {"baz": null, "e": null}}),
        ),
        (
            json!({"version": 1, "depth": 0}),
            json!({"foo": null, "bar": {"baz": {"q": null}, "e": null}}),
        ),
    ] {
        let out = h.ok(Read, "subkeys/k", q.clone()).await;
        assert_eq!(out["subkeys"], want, "{q}");
        assert!(out["metadata"]["version"].is_u64());
    }
    for bad in [
        json!({"depth": "-1"}),
        json!({"depth": "x"}),
        json!({"version": "v"}),
    ] {
        assert_eq!(
            h.call(Read, "subkeys/k", bad).await.unwrap_err().status(),
            400
        );
    }
    assert_eq!(
        h.call(Read, "subkeys/none", json!({})).await,
        Err(ApiError::NotFound)
    );
    assert_eq!(
        h.call(Read, "subkeys/k", json!({"version": "9"})).await,
        Err(ApiError::NotFound)
    );
    h.ok(Delete, "data/k", json!({})).await;
    match h.call(Read, "subkeys/k", json!({})).await {
        Err(ApiError::NotFoundWith(body)) => {
            assert_eq!(body["subkeys"], Value::Null);
            assert_eq!(body["metadata"]["version"], 2);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn patch_merges_into_the_latest_version() {
    let h = kv();
    assert_eq!(
        h.call(Patch, "data/k", json!({"data": {"a": 1}})).await,
        Err(ApiError::NotFound)
    );
    put(
        &h,
        "k",
        json!({"a": 1, "b": {"c": 2, "d": 3}, "gone": true}),
    )
    .await;
    let out = h
        .ok(
            Patch,
            "data/k",
            json!({"data": {"a": "one", "b": {"d": null, "e": 4}, "gone": null}}),
        )
        .await;
    assert_eq!(out["version"], 2);
    assert_eq!(
        get(&h, "k", None).await.unwrap()["data"],
        json!({"a": "one", "b": {"c": 2, "e": 4}})
    );
    assert_eq!(
        h.call(
            Patch,
            "data/k",
            json!({"data": {"a": 2}, "options": {"cas": 1}})
        )
        .await,
        Err(ApiError::bad(
            "check-and-set parameter did not match the current version"
        ))
    );
    h.ok(
        Patch,
        "data/k",
        json!({"data": {"a": 2}, "options": {"cas": 2}}),
    )
    .await;
    // A deleted or destroyed latest version cannot be patched: 404 with its metadata, flat.
    h.ok(Delete, "data/k", json!({})).await;
    let before = h.snapshot().await;
    match h.call(Patch, "data/k", json!({"data": {"a": 3}})).await {
        Err(ApiError::NotFoundWith(body)) => {
            assert_eq!(body["version"], 3);
            assert_eq!(body["deletion_time"], "2023-11-14T22:13:20Z");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.snapshot().await, before);
    h.ok(Update, "destroy/k", json!({"versions": [3]})).await;
    match h.call(Patch, "data/k", json!({"data": {"a": 3}})).await {
        Err(ApiError::NotFoundWith(body)) => assert_eq!(body["destroyed"], true),
        other => panic!("{other:?}"),
    }
    // CAS is checked before the version's state, as in Vault.
    let bad_cas = json!({"data": {"a": 3}, "options": {"cas": 9}});
    assert_eq!(
        h.call(Patch, "data/k", bad_cas).await.unwrap_err().status(),
        400
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_get_distinct_versions() {
    let h = kv();
    let engine = Arc::new(h.engine);
    let mut tasks = Vec::new();
    for i in 0..24 {
        let engine = Arc::clone(&engine);
        let view = h.view.clone();
        tasks.push(tokio::spawn(async move {
            let req = request(Update, "data/shared", &json!({"data": {"i": i}}), T0);
            let out = engine.handle(&req, &view).await.unwrap();
            out.data.unwrap()["version"].as_u64().unwrap()
        }));
    }
    let mut versions = Vec::new();
    for t in tasks {
        versions.push(t.await.unwrap());
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=24).collect::<Vec<_>>());
}

/// Reads take no lock: while a writer keeps replacing the only version it keeps (each write
/// deletes the previous version's data), every read still answers a whole version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_racing_trimming_writes_see_whole_versions() {
    let h = kv();
    h.ok(Update, "metadata/hot", json!({"max_versions": 1}))
        .await;
    put(&h, "hot", json!({"n": 1})).await;
    let engine = Arc::new(h.engine);
    let writer = {
        let (engine, view) = (Arc::clone(&engine), h.view.clone());
        tokio::spawn(async move {
            for n in 2..=300u64 {
                let req = request(Update, "data/hot", &json!({"data": {"n": n}}), T0);
                engine.handle(&req, &view).await.unwrap();
            }
        })
    };
    let reader = {
        let (engine, view) = (Arc::clone(&engine), h.view.clone());
        tokio::spawn(async move {
            for _ in 0..600 {
                let req = request(Read, "data/hot", &json!({}), T0);
                let out = engine.handle(&req, &view).await.unwrap().data.unwrap();
                assert_eq!(out["data"]["n"], out["metadata"]["version"], "{out:?}");
            }
        })
    };
    writer.await.unwrap();
    reader.await.unwrap();
}

/// Reads take a secret's metadata from the engine's cache: a change made behind the engine's
/// back (straight to storage) goes unseen until the engine's next write of any secret.
#[tokio::test]
async fn metadata_is_cached_between_writes() {
    let h = kv();
    put(&h, "app", json!({"user": "a"})).await;
    get(&h, "app", None).await.unwrap();
    h.view.delete(&metadata_key("app")).await.unwrap();
    assert_eq!(get(&h, "app", None).await.unwrap()["data"]["user"], "a");
    assert!(h.engine.exists("data/app", &h.view).await.unwrap());
    // A failed write drops the cache too.
    assert!(h.call(Update, "data/other", json!({})).await.is_err());
    assert_eq!(get(&h, "app", None).await, Err(ApiError::NotFound));
    assert!(!h.engine.exists("data/app", &h.view).await.unwrap());
}

#[tokio::test]
async fn malformed_input_changes_nothing() {
    let h = kv();
    put(&h, "k", json!({"v": 1})).await;
    h.ok(
        Update,
        "metadata/k",
        json!({"custom_metadata": {"team": "a"}}),
    )
    .await;
    let before = h.snapshot().await;
    let bad = 400;
    let cases = [
        (Update, "data/k", json!({}), bad),
        (Update, "data/k", json!({"data": "str"}), bad),
        (Update, "data/k", json!({"data": [1]}), bad),
        (
            Update,
            "data/k",
            json!({"data": {"v": 2}, "options": {"cas": -1}}),
            bad,
        ),
        (
            Update,
            "data/k",
            json!({"data": {"v": 2}, "options": {"cas": "x"}}),
            bad,
        ),
        (
            Update,
            "data/k",
            json!({"data": {"v": 2}, "options": "cas"}),
            bad,
        ),
        (Patch, "data/k", json!({"data": 5}), bad),
        (Patch, "data/k", json!({}), bad),
        (Read, "data/k", json!({"version": "-1"}), bad),
        (Read, "data/k", json!({"version": "1.5"}), bad),
        (Update, "delete/k", json!({}), bad),
        (Update, "delete/k", json!({"versions": []}), bad),
        (Update, "delete/k", json!({"versions": [1.5]}), bad),
        (Update, "undelete/k", json!({"versions": ["one"]}), bad),
        (Update, "destroy/k", json!({"versions": [-1]}), bad),
        (Update, "destroy/k", json!({"versions": {"1": true}}), bad),
        (Update, "metadata/k", json!({"max_versions": -1}), bad),
        (Update, "metadata/k", json!({"cas_required": "maybe"}), bad),
        (
            Update,
            "metadata/k",
            json!({"delete_version_after": "soon"}),
            bad,
        ),
        (Update, "metadata/k", json!({"custom_metadata": "x"}), bad),
        (
            Update,
            "metadata/k",
            json!({"custom_metadata": {"a": [1]}}),
            bad,
        ),
        (
            Update,
            "metadata/k",
            json!({"custom_metadata": {"a": ""}}),
            bad,
        ),
        (
            Update,
            "metadata/k",
            json!({"delete_version_after": "-1s"}),
            bad,
        ),
        (Update, "config", json!({"delete_version_after": "-x"}), bad),
        (
            Patch,
            "metadata/k",
            json!({"custom_metadata": {"a": [1]}}),
            bad,
        ),
        (Update, "config", json!({"max_versions": "many"}), bad),
        (Update, "config", json!({"delete_version_after": true}), bad),
        (Update, "data/../x", json!({"data": {"v": 1}}), bad),
        (Update, "nope/k", json!({"data": {"v": 1}}), 404),
        (Update, "data", json!({"data": {"v": 1}}), 404),
        (Update, "data/", json!({"data": {"v": 1}}), 404),
        (Update, "data/dir/", json!({"data": {"v": 1}}), 404),
        (Read, "config/x", json!({}), 404),
        (Read, "", json!({}), 404),
        (List, "data/", json!({}), 405),
        (Delete, "config", json!({}), 405),
        (Patch, "config", json!({}), 405),
        (Read, "delete/k", json!({}), 405),
        (Delete, "destroy/k", json!({}), 405),
        (Update, "subkeys/k", json!({}), 405),
    ];
    for (op, path, body, want) in cases {
        let e = h.call(op, path, body.clone()).await.unwrap_err();
        assert_eq!(e.status(), want, "{op} {path} {body}: {e:?}");
        assert_eq!(h.snapshot().await, before, "{op} {path} {body}");
    }
    assert_eq!(
        h.call(Update, "nope/k", json!({})).await,
        Err(ApiError::UnsupportedPath)
    );
    assert_eq!(
        h.call(Delete, "config", json!({})).await,
        Err(ApiError::UnsupportedOperation)
    );
}

#[tokio::test]
async fn existence_check_follows_metadata() {
    let h = kv();
    put(&h, "a/b", json!({"v": 1})).await;
    h.ok(Update, "metadata/m", json!({"max_versions": 2})).await;
    for (path, want) in [
        ("data/a/b", true),
        ("metadata/a/b", true),
        ("data/m", true),
        ("data/a", false),
        ("metadata/zz", false),
        ("data/", false),
        ("config", true),
        ("delete/zz", true),
        ("destroy/zz", true),
    ] {
        assert_eq!(
            h.engine.exists(path, &h.view).await.unwrap(),
            want,
            "{path}"
        );
    }
    // A metadata-only secret has no version to read.
    assert_eq!(get(&h, "m", None).await, Err(ApiError::NotFound));
}
