//! The conformance suite every [`Backend`] runs: the contract in the crate documentation,
//! checked the same way for each implementation. A backend's tests call [`run`] with a factory
//! that makes a fresh, empty instance.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test suite reports failures by panicking"
)]

use std::future::Future;
use std::sync::Arc;

use crate::{Backend, Error, MAX_KEY_LEN, MAX_VALUE_LEN, Op, Page};

/// Runs every check, each against a fresh backend from `make`.
pub async fn run<B, F, Fut>(mut make: F)
where
    B: Backend,
    F: FnMut() -> Fut,
    Fut: Future<Output = B>,
{
    get_put_delete(&make().await).await;
    listing(&make().await).await;
    pagination(&make().await).await;
    transactions_are_all_or_nothing(&make().await).await;
    keys_and_values_at_the_limits(&make().await).await;
    concurrent_writers(Arc::new(make().await)).await;
}

async fn get_put_delete(b: &impl Backend) {
    assert_eq!(b.get("missing").await.unwrap(), None);
    b.put("k", b"v1".to_vec()).await.unwrap();
    assert_eq!(b.get("k").await.unwrap().as_deref(), Some(&b"v1"[..]));
    b.put("k", b"v2".to_vec()).await.unwrap();
    assert_eq!(b.get("k").await.unwrap().as_deref(), Some(&b"v2"[..]));
    b.delete("k").await.unwrap();
    assert_eq!(b.get("k").await.unwrap(), None);
    b.delete("k")
        .await
        .expect("deleting an absent key is not an error");
    let every_byte: Vec<u8> = (0..=255).collect();
    b.put("bin", every_byte.clone()).await.unwrap();
    assert_eq!(b.get("bin").await.unwrap(), Some(every_byte));
    b.put("empty", Vec::new()).await.unwrap();
    assert_eq!(b.get("empty").await.unwrap(), Some(Vec::new()));
}

async fn listing(b: &impl Backend) {
    for k in ["a", "a/1", "a/2/x", "a/2/y", "a0", "b", "c/d/e", "ü/x", "z"] {
        b.put(k, k.as_bytes().to_vec()).await.unwrap();
    }
    let all = Page::default();
    assert_eq!(
        b.list("", all).await.unwrap(),
        ["a", "a/", "a0", "b", "c/", "z", "ü/"],
        "byte order, folders once, with a trailing slash"
    );
    assert_eq!(b.list("a/", all).await.unwrap(), ["1", "2/"]);
    assert_eq!(b.list("a/2/", all).await.unwrap(), ["x", "y"]);
    assert_eq!(b.list("c/", all).await.unwrap(), ["d/"]);
    assert!(b.list("nothing/", all).await.unwrap().is_empty());
    b.delete("a/2/x").await.unwrap();
    b.delete("a/2/y").await.unwrap();
    assert_eq!(
        b.list("a/", all).await.unwrap(),
        ["1"],
        "empty folders vanish"
    );
}

async fn pagination(b: &impl Backend) {
    for i in 0..25 {
        b.put(&format!("p/{i:02}"), vec![i]).await.unwrap();
        b.put(&format!("p/{i:02}x/child"), vec![i]).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = b
            .list(
                "p/",
                Page {
                    after: after.as_deref(),
                    limit: Some(7),
                },
            )
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 7);
        after = page.last().cloned();
        seen.extend(page);
    }
    let expected: Vec<String> = (0..25)
        .flat_map(|i| [format!("{i:02}"), format!("{i:02}x/")])
        .collect();
    assert_eq!(seen, expected);
    let none = Page {
        after: None,
        limit: Some(0),
    };
    assert!(b.list("p/", none).await.unwrap().is_empty());
}

async fn transactions_are_all_or_nothing(b: &impl Backend) {
    b.put("t/keep", b"old".to_vec()).await.unwrap();
    b.transaction(vec![
        Op::Put("t/a".into(), b"1".to_vec()),
        Op::Put("t/keep".into(), b"new".to_vec()),
        Op::Delete("t/none".into()),
    ])
    .await
    .unwrap();
    assert_eq!(b.get("t/a").await.unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(b.get("t/keep").await.unwrap().as_deref(), Some(&b"new"[..]));

    // One bad operation: nothing of the transaction happens.
    let err = b
        .transaction(vec![
            Op::Put("t/b".into(), b"2".to_vec()),
            Op::Delete("t/a".into()),
            Op::Put(String::new(), b"bad key".to_vec()),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidKey(_)), "{err:?}");
    assert_eq!(b.get("t/b").await.unwrap(), None);
    assert_eq!(b.get("t/a").await.unwrap().as_deref(), Some(&b"1"[..]));

    // Later operations on the same key win.
    b.transaction(vec![
        Op::Put("t/c".into(), b"x".to_vec()),
        Op::Delete("t/c".into()),
        Op::Put("t/d".into(), b"x".to_vec()),
        Op::Put("t/d".into(), b"y".to_vec()),
    ])
    .await
    .unwrap();
    assert_eq!(b.get("t/c").await.unwrap(), None);
    assert_eq!(b.get("t/d").await.unwrap().as_deref(), Some(&b"y"[..]));
    b.transaction(Vec::new()).await.unwrap();
}

async fn keys_and_values_at_the_limits(b: &impl Backend) {
    let long = "k".repeat(MAX_KEY_LEN);
    b.put(&long, b"x".to_vec()).await.unwrap();
    assert!(b.get(&long).await.unwrap().is_some());
    for bad in [
        String::new(),
        "k".repeat(MAX_KEY_LEN + 1),
        "a\0b".to_owned(),
    ] {
        assert!(matches!(b.get(&bad).await, Err(Error::InvalidKey(_))));
        assert!(matches!(
            b.put(&bad, Vec::new()).await,
            Err(Error::InvalidKey(_))
        ));
    }
    assert!(matches!(
        b.list("a\0", Page::default()).await,
        Err(Error::InvalidKey(_))
    ));
    let big = vec![7u8; 4 * 1024 * 1024];
    b.put("big", big.clone()).await.unwrap();
    assert_eq!(b.get("big").await.unwrap(), Some(big));
    let too_big = vec![0u8; MAX_VALUE_LEN + 1];
    assert!(matches!(
        b.put("huge", too_big).await,
        Err(Error::TooLarge { .. })
    ));
    assert_eq!(b.get("huge").await.unwrap(), None);
}

async fn concurrent_writers<B: Backend>(b: Arc<B>) {
    let mut tasks = Vec::new();
    for t in 0..16u8 {
        let b = Arc::clone(&b);
        tasks.push(tokio::spawn(async move {
            for i in 0..20u8 {
                b.put(&format!("c/{t}/{i}"), vec![t, i]).await.unwrap();
                b.put("c/shared", vec![t]).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    for t in 0..16u8 {
        for i in 0..20u8 {
            assert_eq!(
                b.get(&format!("c/{t}/{i}")).await.unwrap(),
                Some(vec![t, i])
            );
        }
    }
    let last = b.get("c/shared").await.unwrap().unwrap();
    assert!(last.len() == 1 && last[0] < 16);
    assert_eq!(b.list("c/", Page::default()).await.unwrap().len(), 17);
}
