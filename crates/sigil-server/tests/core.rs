//! The request pipeline in-process: seal states, the authorization matrix, fail-closed audit,
//! and bad requests leaving storage unchanged.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};
use sigil_core::SecretString;
use sigil_server::api::{ApiError, Operation, Request, Response};
use sigil_server::audit::DeviceConfig;
use sigil_server::core::{Core, CoreConfig};
use sigil_storage::{Backend, InMemory, Page};

struct Server {
    core: Arc<Core>,
    backend: Arc<InMemory>,
    root: String,
    _dir: tempfile::TempDir,
}

async fn server_with(audit: Vec<(String, DeviceConfig)>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("unseal.key");
    sigil_server::seal::KeyFile::create(&key).unwrap();
    let backend = Arc::new(InMemory::new());
    let config = CoreConfig {
        seal_key_file: Some(key),
        audit_devices: audit,
        ..CoreConfig::default()
    };
    let core = Core::new(backend.clone(), config).await.unwrap();
    let init = core
        .handle(Request::new(Operation::Update, "sys/init"))
        .await
        .unwrap();
    let root = init.data.unwrap()["root_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let s = Server {
        core,
        backend,
        root,
        _dir: dir,
    };
    s.call(
        &s.root.clone(),
        Operation::Update,
        "sys/mounts/secret",
        json!({"type": "kv", "options": {"version": "2"}}),
    )
    .await
    .unwrap();
    s
}

impl Server {
    async fn call(
        &self,
        token: &str,
        op: Operation,
        path: &str,
        body: Value,
    ) -> Result<Response, ApiError> {
        let mut req = Request::new(op, path);
        if let Value::Object(m) = body {
            req.data = m;
        }
        if !token.is_empty() {
            req.token = Some(SecretString::new(token.to_owned()));
        }
        self.core.handle(req).await
    }

    /// The paths `sys/audit` lists, sorted.
    async fn audit_devices(&self) -> Vec<String> {
        let listed = self
            .call(&self.root, Operation::Read, "sys/audit", json!({}))
            .await
            .unwrap();
        let mut paths: Vec<String> = listed.data.unwrap().keys().cloned().collect();
        paths.sort();
        paths
    }

    async fn token_with(&self, policy: &str) -> String {
        self.call(
            &self.root,
            Operation::Update,
            "sys/policies/acl/p",
            json!({ "policy": policy }),
        )
        .await
        .unwrap();
        let created = self
            .call(
                &self.root,
                Operation::Update,
                "auth/token/create",
                json!({"policies": ["p"]}),
            )
            .await
            .unwrap();
        created.auth.unwrap().client_token
    }

    /// Every key and value in storage, for before/after comparisons.
    async fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![String::new()];
        while let Some(prefix) = stack.pop() {
            for name in self.backend.list(&prefix, Page::default()).await.unwrap() {
                let key = format!("{prefix}{name}");
                if name.ends_with('/') {
                    stack.push(key);
                } else {
                    let v = self.backend.get(&key).await.unwrap().unwrap();
                    out.push((key, v));
                }
            }
        }
        out.sort();
        out
    }
}

#[tokio::test]
async fn the_authorization_matrix() {
    let s = server_with(vec![]).await;
    let t = s
        .token_with(
            r#"
            path "secret/data/app/*" { capabilities = ["read", "create"] }
            path "secret/data/app/locked" { capabilities = ["deny"] }
            path "secret/metadata/*" { capabilities = ["list"] }
            "#,
        )
        .await;
    s.call(
        &s.root,
        Operation::Update,
        "secret/data/app/existing",
        json!({"data": {"a": "1"}}),
    )
    .await
    .unwrap();
    let cases: &[(&str, Operation, &str, Value, Option<u16>)] = &[
        // (token, op, path, body, expected error status or None for success)
        (
            &t,
            Operation::Read,
            "secret/data/app/existing",
            json!({}),
            None,
        ),
        (
            &t,
            Operation::Update,
            "secret/data/app/new",
            json!({"data": {"a": "1"}}),
            None,
        ),
        (
            &t,
            Operation::Update,
            "secret/data/app/existing",
            json!({"data": {"a": "2"}}),
            Some(403),
        ),
        (
            &t,
            Operation::Read,
            "secret/data/app/locked",
            json!({}),
            Some(403),
        ),
        (
            &t,
            Operation::Read,
            "secret/data/other",
            json!({}),
            Some(403),
        ),
        (
            &t,
            Operation::Delete,
            "secret/data/app/existing",
            json!({}),
            Some(403),
        ),
        (&t, Operation::List, "secret/metadata/app/", json!({}), None),
        (
            &t,
            Operation::Update,
            "sys/mounts/x",
            json!({"type": "kv"}),
            Some(403),
        ),
        (&t, Operation::Update, "sys/seal", json!({}), Some(403)),
        (
            &t,
            Operation::Read,
            "auth/token/lookup-self",
            json!({}),
            None,
        ),
        (
            "",
            Operation::Read,
            "secret/data/app/existing",
            json!({}),
            Some(403),
        ),
        (
            "hvs.nonesuch",
            Operation::Read,
            "secret/data/app/existing",
            json!({}),
            Some(403),
        ),
        (&s.root, Operation::Read, "nomount/x", json!({}), Some(404)),
        (
            &s.root,
            Operation::Read,
            "secret/data/app/existing",
            json!({}),
            None,
        ),
    ];
    for (token, op, path, body, expected) in cases {
        let got = s.call(token, *op, path, body.clone()).await;
        match (expected, &got) {
            (None, Ok(_)) => {}
            (Some(code), Err(e)) if e.status() == *code => {}
            _ => panic!("{op} {path} with {token:.8}: expected {expected:?}, got {got:?}"),
        }
    }
}

#[tokio::test]
async fn bad_requests_leave_storage_unchanged() {
    let s = server_with(vec![]).await;
    s.call(
        &s.root,
        Operation::Update,
        "secret/data/a",
        json!({"data": {"k": "v"}}),
    )
    .await
    .unwrap();
    let before = s.snapshot().await;
    let bad: &[(Operation, &str, Value)] = &[
        (
            Operation::Update,
            "secret/data/a",
            json!({"data": "not an object"}),
        ),
        (
            Operation::Update,
            "secret/data/a",
            json!({"data": {"k": "x"}, "options": {"cas": 7}}),
        ),
        (
            Operation::Update,
            "sys/mounts/bad",
            json!({"type": "nonesuch"}),
        ),
        (
            Operation::Update,
            "sys/mounts/secret",
            json!({"type": "kv"}),
        ),
        (Operation::Update, "sys/mounts/sys", json!({"type": "kv"})),
        (
            Operation::Update,
            "sys/policies/acl/x",
            json!({"policy": "path {"}),
        ),
        (Operation::Delete, "sys/policies/acl/root", json!({})),
        (
            Operation::Update,
            "auth/token/create",
            json!({"ttl": "forever"}),
        ),
        (
            Operation::Update,
            "sys/audit/bad",
            json!({"type": "socket"}),
        ),
        (
            Operation::Update,
            "sys/init",
            json!({"secret_shares": 1, "secret_threshold": 1}),
        ),
    ];
    for (op, path, body) in bad {
        let got = s.call(&s.root, *op, path, body.clone()).await;
        assert!(got.is_err(), "{op} {path} succeeded: {got:?}");
        assert_eq!(s.snapshot().await, before, "{op} {path} changed storage");
    }
}

#[tokio::test]
async fn storage_holds_ciphertext_only() {
    let s = server_with(vec![]).await;
    s.call(
        &s.root,
        Operation::Update,
        "secret/data/a",
        json!({"data": {"k": "needle-in-storage"}}),
    )
    .await
    .unwrap();
    for (key, value) in s.snapshot().await {
        assert!(
            !value.windows(17).any(|w| w == b"needle-in-storage"),
            "plaintext under {key}"
        );
        assert!(
            !value.windows(s.root.len()).any(|w| w == s.root.as_bytes()),
            "root token under {key}"
        );
    }
}

#[tokio::test]
async fn audit_fails_closed_and_sealing_answers_503() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let s = server_with(vec![("file/".into(), DeviceConfig::file(log.clone()))]).await;
    s.call(
        &s.root,
        Operation::Update,
        "secret/data/a",
        json!({"data": {"k": "v"}}),
    )
    .await
    .unwrap();
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("hmac-sha256:")
    );

    // A configured device that cannot be opened: the server refuses to start serving rather
    // than serve unaudited.
    let dir2 = tempfile::tempdir().unwrap();
    let key = dir2.path().join("unseal.key");
    sigil_server::seal::KeyFile::create(&key).unwrap();
    let config = CoreConfig {
        seal_key_file: Some(key),
        audit_devices: vec![(
            "file/".into(),
            DeviceConfig::file(PathBuf::from("/proc/no-such-dir/audit.log")),
        )],
        ..CoreConfig::default()
    };
    let refused = Core::new(Arc::new(InMemory::new()), config).await;
    assert!(
        refused.is_err(),
        "started with an audit device it cannot open"
    );

    s.call(&s.root, Operation::Update, "sys/seal", json!({}))
        .await
        .unwrap();
    let sealed = s
        .call(&s.root, Operation::Read, "secret/data/a", json!({}))
        .await;
    assert_eq!(sealed.unwrap_err().status(), 503);
    let status = s
        .call("", Operation::Read, "sys/seal-status", json!({}))
        .await
        .unwrap();
    assert_eq!(status.data.unwrap()["sealed"], true);
}

#[tokio::test]
async fn only_api_enabled_audit_devices_can_be_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let configured = dir.path().join("configured.log");
    let s = server_with(vec![(
        "file/".into(),
        DeviceConfig::file(configured.clone()),
    )])
    .await;
    let logged = || std::fs::metadata(&configured).unwrap().len();

    // The configuration file's device: refused, with the reason, and still recording.
    let before = s.snapshot().await;
    let logged_before = logged();
    let refused = s
        .call(&s.root, Operation::Delete, "sys/audit/file", json!({}))
        .await
        .unwrap_err();
    assert_eq!(refused.status(), 400);
    assert!(
        refused.messages()[0].contains("configuration file"),
        "{:?}",
        refused.messages()
    );
    assert_eq!(s.snapshot().await, before);
    assert_eq!(s.audit_devices().await, ["file/"]);
    assert!(logged() > logged_before, "the device stopped recording");

    // A device enabled through the API goes, and disabling it again is still a success.
    let api_log = dir.path().join("api.log");
    s.call(
        &s.root,
        Operation::Update,
        "sys/audit/api",
        json!({"type": "file", "options": {"file_path": api_log.to_str().unwrap()}}),
    )
    .await
    .unwrap();
    assert_eq!(s.audit_devices().await, ["api/", "file/"]);
    for _ in 0..2 {
        s.call(&s.root, Operation::Delete, "sys/audit/api", json!({}))
            .await
            .unwrap();
    }
    assert_eq!(s.audit_devices().await, ["file/"]);
}

#[tokio::test]
async fn every_endpoint_refuses_no_token_and_an_incapable_one() {
    let s = server_with(vec![]).await;
    s.call(
        &s.root,
        Operation::Update,
        "sys/auth/approle",
        json!({"type": "approle"}),
    )
    .await
    .unwrap();
    // A token with only the default policy.
    let weak = s
        .call(
            &s.root,
            Operation::Update,
            "auth/token/create",
            json!({"policies": []}),
        )
        .await
        .unwrap()
        .auth
        .unwrap()
        .client_token;
    let endpoints: &[(Operation, &str, Value)] = &[
        (Operation::Read, "sys/mounts", json!({})),
        (Operation::Update, "sys/mounts/kv9", json!({"type": "kv"})),
        (Operation::Delete, "sys/mounts/secret", json!({})),
        (
            Operation::Update,
            "sys/mounts/secret/tune",
            json!({"max_lease_ttl": "1h"}),
        ),
        (Operation::Read, "sys/auth", json!({})),
        (
            Operation::Update,
            "sys/auth/other",
            json!({"type": "approle"}),
        ),
        (Operation::Read, "sys/policy", json!({})),
        (
            Operation::Update,
            "sys/policies/acl/x",
            json!({"policy": "path \"a\" { capabilities = [\"read\"] }"}),
        ),
        (Operation::List, "sys/policies/acl", json!({})),
        (Operation::Read, "sys/audit", json!({})),
        (Operation::Update, "sys/rotate", json!({})),
        (Operation::Read, "sys/key-status", json!({})),
        (Operation::Read, "sys/metrics", json!({})),
        (Operation::Update, "sys/seal", json!({})),
        (Operation::Update, "auth/token/create-orphan", json!({})),
        (Operation::List, "auth/token/accessors", json!({})),
        (Operation::Update, "auth/approle/role/r", json!({})),
        (Operation::Read, "secret/data/x", json!({})),
        (
            Operation::Update,
            "secret/data/x",
            json!({"data": {"a": "b"}}),
        ),
        (Operation::List, "secret/metadata/", json!({})),
        (Operation::Read, "secret/config", json!({})),
    ];
    for (op, path, body) in endpoints {
        for token in ["", "hvs.garbage", weak.as_str()] {
            let got = s.call(token, *op, path, body.clone()).await;
            assert_eq!(
                got.as_ref().map_err(ApiError::status).err(),
                Some(403),
                "{op} {path} with {token:.8}: {got:?}"
            );
        }
    }
    // The root token gets past authorization on each (some then fail for other reasons).
    for (op, path, body) in endpoints {
        if *path == "sys/seal" {
            continue;
        }
        let got = s.call(&s.root, *op, path, body.clone()).await;
        assert_ne!(
            got.as_ref().map_err(ApiError::status).err(),
            Some(403),
            "{op} {path}"
        );
    }
    // And the weak token has exactly what the default policy grants.
    s.call(&weak, Operation::Read, "auth/token/lookup-self", json!({}))
        .await
        .unwrap();
    s.call(
        &weak,
        Operation::Update,
        "sys/capabilities-self",
        json!({"paths": ["secret/data/x"]}),
    )
    .await
    .unwrap();
}
