//! KV v2: `metadata/` and `config`.

use serde_json::{Value, json};

use super::keys;
use super::v2_data::{get, kv, put};
use crate::api::{ApiError, Operation::*};

#[tokio::test]
async fn config_reads_defaults_and_keeps_unsent_fields() {
    let h = kv();
    let want = json!({"max_versions": 0, "cas_required": false, "delete_version_after": "0s"});
    assert_eq!(Value::Object(h.ok(Read, "config", json!({})).await), want);
    h.ok(
        Update,
        "config",
        json!({"max_versions": 5, "delete_version_after": "1h"}),
    )
    .await;
    h.ok(Create, "config", json!({"cas_required": "true"}))
        .await;
    assert_eq!(
        Value::Object(h.ok(Read, "config", json!({})).await),
        json!({"max_versions": 5, "cas_required": true, "delete_version_after": "1h0m0s"})
    );
}

#[tokio::test]
async fn metadata_read_and_metadata_only_writes() {
    let mut h = kv();
    assert_eq!(
        h.call(Read, "metadata/k", json!({})).await,
        Err(ApiError::NotFound)
    );
    h.ok(
        Update,
        "metadata/k",
        json!({"max_versions": 4, "cas_required": true, "delete_version_after": "90s",
               "custom_metadata": {"owner": "team-a"}}),
    )
    .await;
    let meta = Value::Object(h.ok(Read, "metadata/k", json!({})).await);
    assert_eq!(
        meta,
        json!({"cas_required": true, "created_time": "2023-11-14T22:13:20Z",
               "current_version": 0, "custom_metadata": {"owner": "team-a"},
               "delete_version_after": "1m30s", "max_versions": 4, "oldest_version": 0,
               "updated_time": "2023-11-14T22:13:20Z", "versions": {}})
    );
    h.now += 1;
    h.ok(
        Update,
        "data/k",
        json!({"data": {"a": 1}, "options": {"cas": 0}}),
    )
    .await;
    let read = get(&h, "k", None).await.unwrap();
    assert_eq!(
        read["metadata"]["custom_metadata"],
        json!({"owner": "team-a"})
    );
    let meta = h.ok(Read, "metadata/k", json!({})).await;
    assert_eq!(meta["current_version"], 1);
    assert_eq!(meta["updated_time"], "2023-11-14T22:13:21Z");
    assert_eq!(
        meta["versions"]["1"],
        json!({"created_time": "2023-11-14T22:13:21Z", "deletion_time": "2023-11-14T22:14:51Z",
               "destroyed": false})
    );
    // A metadata write makes no new version and keeps what it does not mention.
    h.ok(Update, "metadata/k", json!({"cas_required": false}))
        .await;
    let meta = h.ok(Read, "metadata/k", json!({})).await;
    assert_eq!(meta["current_version"], 1);
    assert_eq!(meta["max_versions"], 4);
    assert_eq!(meta["custom_metadata"], json!({"owner": "team-a"}));
    // POST replaces custom_metadata whole.
    h.ok(Update, "metadata/k", json!({"custom_metadata": {"b": "2"}}))
        .await;
    let meta = h.ok(Read, "metadata/k", json!({})).await;
    assert_eq!(meta["custom_metadata"], json!({"b": "2"}));
}

#[tokio::test]
async fn metadata_patch_merges_and_needs_the_secret() {
    let h = kv();
    assert_eq!(
        h.call(Patch, "metadata/k", json!({"max_versions": 2}))
            .await,
        Err(ApiError::NotFound)
    );
    put(&h, "k", json!({"a": 1})).await;
    h.ok(
        Update,
        "metadata/k",
        json!({"custom_metadata": {"a": "1", "b": "2"}}),
    )
    .await;
    h.ok(
        Patch,
        "metadata/k",
        json!({"max_versions": 2, "custom_metadata": {"a": null, "c": "3"}}),
    )
    .await;
    let meta = h.ok(Read, "metadata/k", json!({})).await;
    assert_eq!(meta["custom_metadata"], json!({"b": "2", "c": "3"}));
    assert_eq!(meta["max_versions"], 2);
    assert_eq!(meta["current_version"], 1);
}

#[tokio::test]
async fn custom_metadata_limits() {
    let long_key = "k".repeat(129);
    let many: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
    let sixty_four: serde_json::Map<String, Value> =
        (0..64).map(|i| (format!("k{i}"), json!("v"))).collect();
    for (custom, ok) in [
        (json!({"k": "v"}), true),
        (json!({ "k".repeat(128): "v" }), true),
        (json!({ long_key: "v" }), false),
        (json!({"k": "v".repeat(512)}), true),
        (json!({"k": "v".repeat(513)}), false),
        (json!({"": "v"}), false),
        (json!({"k": "a\nb"}), false),
        (Value::Object(sixty_four), true),
        (Value::Object(many), false),
        (json!({"k": 1}), true),
        (json!({"k": ""}), false),
        (json!({"k": {"n": "v"}}), false),
        (json!(["k"]), false),
    ] {
        let h = kv();
        let got = h
            .call(Update, "metadata/k", json!({ "custom_metadata": custom }))
            .await;
        assert_eq!(got.is_ok(), ok, "{got:?}");
        if !ok {
            assert_eq!(got.unwrap_err().status(), 400);
            assert!(h.snapshot().await.is_empty());
        }
    }
}

#[tokio::test]
async fn metadata_delete_removes_everything() {
    let h = kv();
    h.ok(Update, "config", json!({"max_versions": 5})).await;
    let config = h.snapshot().await;
    for i in 0..3 {
        put(&h, "k", json!({"i": i})).await;
    }
    h.ok(Update, "destroy/k", json!({"versions": [1]})).await;
    h.ok(Delete, "metadata/k", json!({})).await;
    assert_eq!(h.snapshot().await, config);
    assert_eq!(get(&h, "k", None).await, Err(ApiError::NotFound));
    // And again: nothing to delete is fine.
    h.ok(Delete, "metadata/k", json!({})).await;
    // A new secret at the same path starts over.
    assert_eq!(put(&h, "k", json!({"x": 1})).await, 1);
}

#[tokio::test]
async fn metadata_list_and_pages() {
    let h = kv();
    assert_eq!(
        h.call(List, "metadata/", json!({})).await,
        Err(ApiError::NotFound)
    );
    for p in ["a", "b/c", "b/d/e", "c"] {
        put(&h, p, json!({"v": 1})).await;
    }
    h.ok(Update, "metadata/m", json!({"max_versions": 1})).await;
    for (path, q, want) in [
        ("metadata/", json!({}), vec!["a", "b/", "c", "m"]),
        ("metadata", json!({}), vec!["a", "b/", "c", "m"]),
        ("metadata/b/", json!({}), vec!["c", "d/"]),
        ("metadata/b", json!({}), vec!["c", "d/"]),
        ("metadata/b/d/", json!({}), vec!["e"]),
        ("metadata/", json!({"limit": 2}), vec!["a", "b/"]),
        ("metadata/", json!({"after": "b/", "limit": "1"}), vec!["c"]),
    ] {
        assert_eq!(keys(&h.ok(List, path, q.clone()).await), want, "{path} {q}");
    }
    for empty in ["metadata/a/", "metadata/zz/", "metadata/b/c/"] {
        assert_eq!(
            h.call(List, empty, json!({})).await,
            Err(ApiError::NotFound),
            "{empty}"
        );
    }
    // Deleting the last version of a secret keeps it listed (its metadata stays).
    h.ok(Delete, "data/a", json!({})).await;
    assert!(keys(&h.ok(List, "metadata/", json!({})).await).contains(&"a"));
}

#[tokio::test]
async fn metadata_writes_follow_vaults_edges() {
    let mut h = kv();
    // A POST with none of the four fields creates nothing.
    h.ok(Update, "metadata/k", json!({"unrelated": 1})).await;
    assert!(h.snapshot().await.is_empty());
    put(&h, "k", json!({"a": 1})).await;
    // Metadata writes leave updated_time alone.
    h.now += 30;
    h.ok(Update, "metadata/k", json!({"custom_metadata": {"x": "1"}}))
        .await;
    let meta = h.ok(Read, "metadata/k", json!({})).await;
    assert_eq!(meta["updated_time"], "2023-11-14T22:13:20Z");
    // Turning cas_required off where the mount requires it is accepted with a warning.
    h.ok(Update, "config", json!({"cas_required": true})).await;
    let r = h
        .call(Update, "metadata/k", json!({"cas_required": false}))
        .await
        .unwrap();
    assert_eq!(r.warnings.len(), 1);
    assert!(r.warnings[0].contains("mandated by backend config"));
    // PATCH with a null custom_metadata clears it.
    h.ok(Patch, "metadata/k", json!({"custom_metadata": null}))
        .await;
    let meta = h.ok(Read, "metadata/k", json!({})).await;
    assert_eq!(meta["custom_metadata"], Value::Null);
    // Every custom metadata problem is reported, with Vault's prefix.
    let e = h
        .call(
            Update,
            "metadata/k",
            json!({"custom_metadata": {"": "v", "k": ""}}),
        )
        .await
        .unwrap_err();
    let msgs = e.messages();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(
        msgs.iter()
            .all(|m| m.starts_with("custom_metadata validation failed: "))
    );
}

#[tokio::test]
async fn detailed_metadata_lists_with_key_info() {
    let h = kv();
    put(&h, "app/a", json!({"v": 1})).await;
    put(&h, "app/a", json!({"v": 2})).await;
    put(&h, "app/sub/b", json!({"v": 1})).await;
    let out = h.ok(List, "detailed-metadata/app/", json!({})).await;
    assert_eq!(keys(&out), ["a", "sub/"]);
    let info = out["key_info"].as_object().unwrap();
    assert_eq!(info.len(), 1);
    assert_eq!(info["a"]["current_version"], 2);
    assert_eq!(
        h.call(List, "detailed-metadata/none/", json!({})).await,
        Err(ApiError::NotFound)
    );
    assert_eq!(
        h.call(Read, "detailed-metadata/app/a", json!({})).await,
        Err(ApiError::UnsupportedOperation)
    );
}
