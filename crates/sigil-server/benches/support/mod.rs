//! What the engine benchmarks share: a mount's view over the embedded store behind the
//! barrier (every write durable, as `sigil server` runs), one engine call, and `N` from the
//! environment.

#![allow(dead_code, reason = "each benchmark uses what it needs")]

use std::sync::Arc;
use std::time::SystemTime;

use serde_json::Value;
use sigil_server::api::{Operation, Request, Response};
use sigil_server::barrier::Barrier;
use sigil_server::engine::Engine;
use sigil_server::view::View;
use sigil_storage::Embedded;

/// `name` from the environment as a count, else `default`.
pub(crate) fn count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A view for mount `prefix` in a fresh store; keep the directory alive while it is used.
pub(crate) async fn durable_view(prefix: &str) -> (tempfile::TempDir, View) {
    let dir = tempfile::tempdir().unwrap();
    let backend = Arc::new(Embedded::open(&dir.path().join("sigil.redb")).unwrap());
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let barrier = Barrier::create(backend, &[7u8; 32], now).await.unwrap();
    (dir, View::new(Arc::new(barrier), prefix))
}

/// One call to `engine`, now; panics on an error.
pub(crate) async fn call(
    engine: &dyn Engine,
    view: &View,
    op: Operation,
    path: &str,
    body: Value,
) -> Response {
    let mut req = Request::new(op, path);
    req.time = SystemTime::now();
    if let Value::Object(m) = body {
        req.data = m;
    }
    engine
        .handle(&req, view)
        .await
        .unwrap_or_else(|e| panic!("{path}: {e:?}"))
}
