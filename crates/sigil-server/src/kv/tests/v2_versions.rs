//! KV v2: soft delete, undelete and destroy.

use serde_json::{Value, json};

use super::v2_data::{get, kv, put};
use crate::api::{ApiError, Operation::*};
use crate::kv::v2::model::version_key;

/// The 404 body of a read of a deleted or destroyed version.
async fn gone(h: &super::Harness<crate::kv::KvV2>, v: u64) -> serde_json::Map<String, Value> {
    match get(h, "k", Some(v)).await {
        Err(ApiError::NotFoundWith(body)) => body,
        other => panic!("version {v}: {other:?}"),
    }
}

#[tokio::test]
async fn delete_latest_is_soft_and_undoable() {
    let mut h = kv();
    put(&h, "k", json!({"v": 1})).await;
    put(&h, "k", json!({"v": 2})).await;
    h.now += 10;
    h.ok(Delete, "data/k", json!({})).await;
    let body = gone(&h, 2).await;
    assert_eq!(
        Value::Object(body),
        json!({"data": null, "metadata": {"version": 2, "created_time": "2023-11-14T22:13:20Z",
               "deletion_time": "2023-11-14T22:13:30Z", "destroyed": false,
               "custom_metadata": null}})
    );
    match get(&h, "k", None).await {
        Err(ApiError::NotFoundWith(_)) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(get(&h, "k", Some(1)).await.unwrap()["data"]["v"], 1);
    // Deleting again keeps the first deletion time.
    h.now += 10;
    h.ok(Delete, "data/k", json!({})).await;
    assert_eq!(
        gone(&h, 2).await["metadata"]["deletion_time"],
        "2023-11-14T22:13:30Z"
    );
    h.ok(Update, "undelete/k", json!({"versions": [2]})).await;
    assert_eq!(get(&h, "k", None).await.unwrap()["data"]["v"], 2);
    // The data itself was never removed.
    assert!(h.view.get(&version_key("k", 2)).await.unwrap().is_some());
    // Deleting a secret that does not exist is fine.
    h.ok(Delete, "data/none", json!({})).await;
}

#[tokio::test]
async fn versions_are_deleted_undeleted_and_destroyed_by_number() {
    let h = kv();
    for i in 1..=4 {
        put(&h, "k", json!({"v": i})).await;
    }
    // (call, versions, then per version 1..=4: "live" | "deleted" | "destroyed")
    let steps = [
        (
            "delete",
            json!([1, 3]),
            ["deleted", "live", "deleted", "live"],
        ),
        (
            "delete",
            json!("2, 9"),
            ["deleted", "deleted", "deleted", "live"],
        ),
        (
            "undelete",
            json!(["1", 2]),
            ["live", "live", "deleted", "live"],
        ),
        (
            "destroy",
            json!([3, 4, 77]),
            ["live", "live", "destroyed", "destroyed"],
        ),
        (
            "undelete",
            json!([3, 4]),
            ["live", "live", "destroyed", "destroyed"],
        ),
        (
            "delete",
            json!([4]),
            ["live", "live", "destroyed", "destroyed"],
        ),
        (
            "destroy",
            json!(1),
            ["destroyed", "live", "destroyed", "destroyed"],
        ),
    ];
    for (call, versions, want) in steps {
        h.ok(
            Update,
            &format!("{call}/k"),
            json!({ "versions": versions }),
        )
        .await;
        for (i, state) in want.iter().enumerate() {
            let v = i as u64 + 1;
            let got = match get(&h, "k", Some(v)).await {
                Ok(_) => "live",
                Err(ApiError::NotFoundWith(b)) if b["metadata"]["destroyed"] == true => {
                    assert_eq!(b["data"], Value::Null);
                    "destroyed"
                }
                Err(ApiError::NotFoundWith(_)) => "deleted",
                Err(e) => panic!("{e:?}"),
            };
            assert_eq!(got, *state, "after {call} {versions}: version {v}");
            let stored = h.view.get(&version_key("k", v)).await.unwrap().is_some();
            assert_eq!(stored, *state != "destroyed", "version {v} data");
        }
    }
    let meta = h.ok(Read, "metadata/k", json!({})).await;
    assert_eq!(meta["versions"]["3"]["destroyed"], true);
    assert_eq!(meta["versions"]["2"]["deletion_time"], "");
}

#[tokio::test]
async fn version_calls_on_missing_secrets_do_nothing() {
    let h = kv();
    for call in ["delete", "undelete", "destroy"] {
        h.ok(Update, &format!("{call}/none"), json!({"versions": [1]}))
            .await;
    }
    assert!(h.snapshot().await.is_empty());
}
