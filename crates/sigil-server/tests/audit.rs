//! The audit log through its public API: a broker writes a file, `verify` accepts it, and an
//! edit made with an editor's tools (rewrite one line in place) is reported at the next line.

use std::io::BufReader;
use std::time::Duration;

use serde_json::json;
use sigil_core::SecretBytes;
use sigil_server::api::{Operation, Request, Response};
use sigil_server::audit::{
    AuditAuth, AuditBroker, AuditMount, DeviceConfig, VerifyErrorKind, verify,
};

#[tokio::test]
async fn a_written_log_verifies_and_an_edit_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let broker = AuditBroker::new(Duration::from_secs(2), 64);
    broker
        .enable(
            "file",
            DeviceConfig::file(&path),
            &SecretBytes::new(vec![3; 32]),
        )
        .unwrap();
    let auth = AuditAuth {
        client_token: Some("hvs.integration-token".into()),
        accessor: "acc".into(),
        ..AuditAuth::default()
    };
    let mount = AuditMount {
        point: "secret/".into(),
        kind: "kv".into(),
        ..AuditMount::default()
    };
    for i in 0..5 {
        let req = Request::new(Operation::Update, format!("secret/data/k{i}"))
            .with("data", json!({"v": "top-secret"}));
        broker.log_request(&auth, &req, &mount).await.unwrap();
        broker
            .log_response(&auth, &req, &mount, Ok(&Response::empty()))
            .await
            .unwrap();
    }
    let open = || BufReader::new(std::fs::File::open(&path).unwrap());
    let summary = verify(open()).unwrap();
    assert_eq!((summary.records, summary.last_seq), (10, 10));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("top-secret") && !text.contains("hvs.integration-token"));

    let edited = text.replacen("secret/data/k3", "secret/data/k4", 1);
    std::fs::write(&path, edited).unwrap();
    let err = verify(open()).unwrap_err();
    assert_eq!(err.kind, VerifyErrorKind::PrevMismatch);
    assert_eq!((err.line, err.seq), (8, Some(8)));
}
