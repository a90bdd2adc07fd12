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
