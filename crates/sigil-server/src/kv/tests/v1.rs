//! KV v1.

use serde_json::json;

use super::{Harness, keys};
use crate::api::{ApiError, Operation::*};
use crate::engine::Engine;
use crate::kv::KvV1;

fn kv() -> Harness<KvV1> {
    Harness::new(KvV1::new())
}

#[tokio::test]
async fn write_read_delete() {
    let h = kv();
    let secret = json!({"user": "app", "n": 3, "nested": {"a": [1, 2.5, null, true]}});
    assert!(h.ok(Update, "app/db", secret.clone()).await.is_empty());
    let r = h.call(Read, "app/db", json!({})).await.unwrap();
    assert_eq!(r.data.clone().map(serde_json::Value::Object), Some(secret));
    assert_eq!(r.lease_duration, 2_764_800);
    h.ok(Create, "app/db", json!({"user": "other"})).await;
    assert_eq!(
        h.ok(Read, "app/db", json!({})).await,
        *json!({"user": "other"}).as_object().unwrap()
    );
    h.ok(Delete, "app/db", json!({})).await;
    assert_eq!(
        h.call(Read, "app/db", json!({})).await,
        Err(ApiError::NotFound)
    );
    // Deleting what is not there is fine.
    h.ok(Delete, "app/db", json!({})).await;
}

#[tokio::test]
async fn ttl_field_sets_the_lease_hint() {
    let h = kv();
    for (body, lease) in [
        (json!({"a": "b", "ttl": "1h"}), 3600),
        (json!({"a": "b", "ttl": 90}), 90),
        (json!({"a": "b", "lease": "2m"}), 120),
        (json!({"a": "b"}), 2_764_800),
        (json!({"a": "b", "ttl": "soon"}), 2_764_800),
    ] {
        h.ok(Update, "x", body.clone()).await;
        let r = h.call(Read, "x", json!({})).await.unwrap();
        assert_eq!(r.lease_duration, lease, "{body}");
    }
}

#[tokio::test]
async fn list_folders_and_pages() {
    let h = kv();
    assert_eq!(h.call(List, "", json!({})).await, Err(ApiError::NotFound));
    for p in ["a", "b/c", "b/d/e", "c"] {
        h.ok(Update, p, json!({"v": 1})).await;
    }
    assert_eq!(keys(&h.ok(List, "", json!({})).await), ["a", "b/", "c"]);
    assert_eq!(keys(&h.ok(List, "b/", json!({})).await), ["c", "d/"]);
    assert_eq!(keys(&h.ok(List, "b", json!({})).await), ["c", "d/"]);
    assert_eq!(
        keys(&h.ok(List, "", json!({"limit": "2"})).await),
        ["a", "b/"]
    );
    assert_eq!(
        keys(&h.ok(List, "", json!({"after": "a"})).await),
        ["b/", "c"]
    );
    assert_eq!(
        h.call(List, "nothing/", json!({})).await,
        Err(ApiError::NotFound)
    );
    assert_eq!(h.call(List, "a/", json!({})).await, Err(ApiError::NotFound));
    assert!(h.call(List, "", json!({"limit": "x"})).await.is_err());
}

#[tokio::test]
async fn bad_input_changes_nothing() {
    let h = kv();
    h.ok(Update, "keep", json!({"v": 1})).await;
    let before = h.snapshot().await;
    for (op, path, body, want) in [
        (Update, "x", json!({}), 400),
        (Patch, "keep", json!({"v": 2}), 405),
        (Update, "", json!({"v": 2}), 400),
        (Read, "", json!({}), 404),
        (Update, "dir/", json!({"v": 2}), 404),
        (Update, "../x", json!({"v": 2}), 400),
    ] {
        let e = h.call(op, path, body.clone()).await.unwrap_err();
        assert_eq!(e.status(), want, "{op} {path} {body}: {e:?}");
    }
    assert_eq!(h.snapshot().await, before);
}

#[tokio::test]
async fn existence_check() {
    let h = kv();
    h.ok(Update, "a/b", json!({"v": 1})).await;
    for (path, want) in [
        ("a/b", true),
        ("a", false),
        ("a/", false),
        ("", false),
        ("zz", false),
    ] {
        assert_eq!(
            h.engine.exists(path, &h.view).await.unwrap(),
            want,
            "{path}"
        );
    }
}
