//! Sigil's own client verbs against the dev server.

use serde_json::Value;

use crate::harness::Dev;

fn json(out: &[u8]) -> Value {
    serde_json::from_slice(out).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(out)))
}

#[test]
fn kv_token_policy_and_generic_verbs() {
    let dev = Dev::start();
    dev.sigil(&["kv", "put", "secret/app", "user=me", "password=one"])
        .ok();
    dev.sigil(&["kv", "put", "secret/app", "user=me", "password=two"])
        .ok();
    dev.sigil(&["kv", "patch", "secret/app", "password=three"])
        .ok();
    let got = json(&dev.sigil(&["kv", "get", "secret/app"]).ok());
    assert_eq!(
        got["data"],
        serde_json::json!({"user": "me", "password": "three"})
    );
    let v1 = json(
        &dev.sigil(&["kv", "get", "--version", "1", "secret/app"])
            .ok(),
    );
    assert_eq!(v1["data"]["password"], "one");
    dev.sigil(&["kv", "delete", "secret/app"]).ok();
    dev.sigil(&["kv", "undelete", "--versions", "3", "secret/app"])
        .ok();
    dev.sigil(&["kv", "destroy", "--versions", "1,2", "secret/app"])
        .ok();
    let meta = json(&dev.sigil(&["kv", "metadata", "secret/app"]).ok());
    assert_eq!(meta["current_version"], 3);
    assert_eq!(meta["versions"]["1"]["destroyed"], true);
    assert_eq!(
        json(&dev.sigil(&["kv", "list", "secret/"]).ok())["keys"],
        serde_json::json!(["app"])
    );

    let policy = dev.dir.join("p.hcl");
    std::fs::write(
        &policy,
        "path \"secret/data/app\" { capabilities = [\"read\"] }\n",
    )
    .unwrap();
    dev.sigil(&["policy", "write", "reader", policy.to_str().unwrap()])
        .ok();
    let text = String::from_utf8(dev.sigil(&["policy", "read", "reader"]).ok()).unwrap();
    assert!(text.contains("secret/data/app"));
    assert!(
        json(&dev.sigil(&["policy", "list"]).ok())["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k == "reader")
    );

    let created = json(
        &dev.sigil(&["token", "create", "--policy", "reader", "--ttl", "1h"])
            .ok(),
    );
    let token = created["client_token"].as_str().unwrap().to_owned();
    let looked = json(&dev.sigil(&["token", "lookup", &token]).ok());
    assert_eq!(looked["policies"], serde_json::json!(["default", "reader"]));
    let renewed = json(
        &dev.sigil(&["token", "renew", &token, "--increment", "30m"])
            .ok(),
    );
    assert_eq!(renewed["lease_duration"], 1800);

    // The reader token may read, not write: exit 5 with the server's message.
    let mut as_reader = crate::support::sigil();
    as_reader
        .args(["kv", "put", "secret/app", "x=y"])
        .envs(dev.env.iter().filter(|(k, _)| k.starts_with("SIGIL_")))
        .env("SIGIL_TOKEN", &token);
    let line = crate::support::run(&mut as_reader).fails_with(5);
    assert!(
        line.contains("403") && line.contains("permission denied"),
        "{line}"
    );
    dev.sigil(&["token", "revoke", &token]).ok();
    dev.sigil(&["policy", "delete", "reader"]).ok();

    dev.sigil(&["write", "sys/mounts/kv1", "type=kv"]).ok();
    dev.sigil(&["write", "kv1/a", "k=v"]).ok();
    assert_eq!(json(&dev.sigil(&["read", "kv1/a"]).ok())["k"], "v");
    assert_eq!(
        json(&dev.sigil(&["list", "kv1/"]).ok())["keys"],
        serde_json::json!(["a"])
    );
    dev.sigil(&["delete", "kv1/a"]).ok();
    assert!(dev.sigil(&["read", "kv1/a"]).fails_with(5).contains("404"));
    let status = json(&dev.sigil(&["operator", "status"]).ok());
    assert_eq!(status["sealed"], false);
}

#[test]
fn spiffe_verbs_against_the_dev_trust_domain() {
    let dev = Dev::start();
    let entry = json(
        &dev.sigil(&[
            "entry",
            "create",
            "--spiffe-id",
            "spiffe://sigil.internal/web",
            "--parent-id",
            "spiffe://sigil.internal/sigil/agent/join_token/node1",
            "--selector",
            "unix:uid:1000",
            "--x509-svid-ttl",
            "30m",
        ])
        .ok(),
    );
    let id = entry["id"].as_str().unwrap().to_owned();
    assert_eq!(entry["x509_svid_ttl"], 1800);
    let updated = json(&dev.sigil(&["entry", "update", &id, "--hint", "web"]).ok());
    assert_eq!(updated["hint"], "web");
    assert_eq!(updated["selectors"], serde_json::json!(["unix:uid:1000"]));
    assert_eq!(json(&dev.sigil(&["entry", "show", &id]).ok()), updated);
    // Beside the entry `sigil dev` made for the invoking user.
    let listed = json(&dev.sigil(&["entry", "list"]).ok());
    assert_eq!(listed["keys"].as_array().unwrap().len(), 2, "{listed}");
    assert!(
        listed["keys"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!(id))
    );
    dev.sigil(&["entry", "delete", &id]).ok();
    let bad = dev
        .sigil(&["entry", "create", "--spiffe-id", "spiffe://other.org/x"])
        .stderr;
    assert!(bad.contains("spiffe_id must be"), "{bad}");

    let pem = String::from_utf8(dev.sigil(&["bundle", "show"]).ok()).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    let doc = json(&dev.sigil(&["bundle", "show", "--format", "spiffe"]).ok());
    assert_eq!(doc["keys"].as_array().unwrap().len(), 2);

    let minted = json(
        &dev.sigil(&["x509", "mint", "--spiffe-id", "spiffe://sigil.internal/web"])
            .ok(),
    );
    assert!(
        minted["svid"]
            .as_str()
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    assert!(
        minted["private_key"]
            .as_str()
            .unwrap()
            .contains("PRIVATE KEY")
    );
    let token = String::from_utf8(
        dev.sigil(&[
            "jwt",
            "mint",
            "--spiffe-id",
            "spiffe://sigil.internal/web",
            "--audience",
            "db",
        ])
        .ok(),
    )
    .unwrap();
    assert_eq!(token.trim().split('.').count(), 3, "{token}");

    let join = json(
        &dev.sigil(&[
            "token",
            "generate",
            "--ttl",
            "2m",
            "--spiffe-id",
            "spiffe://sigil.internal/node/a",
        ])
        .ok(),
    );
    assert_eq!(join["token"].as_str().unwrap().len(), 32);
    assert_eq!(join["alias"], "spiffe://sigil.internal/node/a");
    let agent_id = join["spiffe_id"].as_str().unwrap();
    assert!(agent_id.starts_with("spiffe://sigil.internal/sigil/agent/join_token/"));
    // Not attested yet: nothing to show.
    let missing = dev.sigil(&["agent", "show", agent_id]).stderr;
    assert!(
        missing.contains("404") || missing.contains("not found"),
        "{missing}"
    );
}
