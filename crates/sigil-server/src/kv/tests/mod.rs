//! Tests of both KV engines, driven through `Engine::handle` over a plain in-memory view with
//! pinned request times.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Map, Value};
use sigil_storage::Page;

use crate::api::{ApiError, Operation, Request, Response};
use crate::engine::Engine;
use crate::view::{PlainStore, View};

mod formats;
mod v1;
mod v2_data;
mod v2_metadata;
mod v2_versions;

/// 2023-11-14T22:13:20Z.
const T0: u64 = 1_700_000_000;

/// A request at `secs` (Unix seconds) with `body` (an object) as its data.
fn request(op: Operation, path: &str, body: &Value, secs: u64) -> Request {
    let mut r = Request::new(op, path);
    r.data = body.as_object().cloned().unwrap_or_default();
    r.time = UNIX_EPOCH + Duration::from_secs(secs);
    r
}

/// An engine with its own fresh view and a settable clock.
struct Harness<E> {
    engine: E,
    view: View,
    now: u64,
}

impl<E: Engine> Harness<E> {
    fn new(engine: E) -> Self {
        Self {
            engine,
            view: PlainStore::view(),
            now: T0,
        }
    }

    async fn call(&self, op: Operation, path: &str, body: Value) -> Result<Response, ApiError> {
        self.engine
            .handle(&request(op, path, &body, self.now), &self.view)
            .await
    }

    /// A call that must succeed; its `data` (empty for a 204).
    async fn ok(&self, op: Operation, path: &str, body: Value) -> Map<String, Value> {
        match self.call(op, path, body).await {
            Ok(r) => r.data.unwrap_or_default(),
            Err(e) => panic!("{op} {path}: {e:?}"),
        }
    }

    /// Every key and value in the view, to show that a failed call changed nothing.
    async fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut todo = vec![String::new()];
        while let Some(prefix) = todo.pop() {
            for child in self.view.list(&prefix, Page::default()).await.unwrap() {
                let key = format!("{prefix}{child}");
                if child.ends_with('/') {
                    todo.push(key);
                } else {
                    let v = self.view.get(&key).await.unwrap().unwrap();
                    out.push((key, v));
                }
            }
        }
        out.sort();
        out
    }
}

/// The `keys` of a LIST answer.
fn keys(data: &Map<String, Value>) -> Vec<&str> {
    data["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect()
}
