//! The real `bao` CLI (OpenBao 2.7.2) against the dev server.

use serde_json::Value;

use crate::harness::Dev;
use crate::support::Run;

#[track_caller]
fn ok(run: Run) -> String {
    assert_eq!(
        run.code,
        0,
        "bao failed: {}\n{}",
        run.stdout_str(),
        run.stderr
    );
    String::from_utf8(run.stdout).expect("bao prints UTF-8")
}

#[track_caller]
fn json(run: Run) -> Value {
    let out = ok(run);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("bao printed non-JSON ({e}): {out}"))
}

#[test]
fn bao_cli_kv_policies_tokens_approle_and_operator() {
    let dev = Dev::start();
    ok(dev.bao(&["status"]));

    // KV v2 through the kv helper (which uses the sys/internal/ui/mounts pre-flight).
    ok(dev.bao(&["kv", "put", "secret/app", "user=me", "password=pw1"]));
    ok(dev.bao(&["kv", "put", "secret/app", "user=me", "password=pw2"]));
    let got = json(dev.bao(&["kv", "get", "-format=json", "secret/app"]));
    assert_eq!(got["data"]["data"]["password"], "pw2", "{got}");
    assert_eq!(got["data"]["metadata"]["version"], 2);
    assert_eq!(
        ok(dev.bao(&["kv", "get", "-field=password", "secret/app"])).trim(),
        "pw2"
    );
    let v1 = json(dev.bao(&["kv", "get", "-version=1", "-format=json", "secret/app"]));
    assert_eq!(v1["data"]["data"]["password"], "pw1");
    ok(dev.bao(&["kv", "patch", "secret/app", "password=pw3"]));
    let meta = json(dev.bao(&["kv", "metadata", "get", "-format=json", "secret/app"]));
    assert_eq!(meta["data"]["current_version"], 3, "{meta}");
    ok(dev.bao(&["kv", "delete", "secret/app"]));
    // A deleted version reads as metadata only (Vault's 404-with-metadata answer).
    let deleted = json(dev.bao(&["kv", "get", "-format=json", "secret/app"]));
    assert!(deleted["data"]["data"].is_null(), "{deleted}");
    assert_ne!(deleted["data"]["metadata"]["deletion_time"], "");
    ok(dev.bao(&["kv", "undelete", "-versions=3", "secret/app"]));
    ok(dev.bao(&["kv", "destroy", "-versions=1", "secret/app"]));
    let list = json(dev.bao(&["kv", "list", "-format=json", "secret/"]));
    assert_eq!(list, serde_json::json!(["app"]));

    // KV v1 on a new mount.
    ok(dev.bao(&["secrets", "enable", "-path=kv1", "-version=1", "kv"]));
    ok(dev.bao(&["kv", "put", "kv1/x", "a=b"]));
    assert_eq!(ok(dev.bao(&["kv", "get", "-field=a", "kv1/x"])).trim(), "b");
    let mounts = json(dev.bao(&["secrets", "list", "-format=json"]));
    assert_eq!(mounts["kv1/"]["type"], "kv", "{mounts}");

    // Policies and a token bound to one.
    let policy = dev.dir.join("app.hcl");
    std::fs::write(
        &policy,
        "path \"secret/data/app\" { capabilities = [\"read\"] }\n",
    )
    .unwrap();
    ok(dev.bao(&["policy", "write", "app", policy.to_str().unwrap()]));
    assert!(ok(dev.bao(&["policy", "list"])).lines().any(|l| l == "app"));
    assert!(ok(dev.bao(&["policy", "read", "app"])).contains("secret/data/app"));
    let created = json(dev.bao(&["token", "create", "-policy=app", "-ttl=1h", "-format=json"]));
    let child = created["auth"]["client_token"].as_str().unwrap().to_owned();
    let lookup = json(dev.bao(&["token", "lookup", "-format=json", &child]));
    assert_eq!(
        lookup["data"]["policies"],
        serde_json::json!(["app", "default"]),
        "{lookup}"
    );
    let caps = ok(dev.bao(&["token", "capabilities", &child, "secret/data/app"]));
    assert_eq!(caps.trim(), "read");

    // AppRole login.
    ok(dev.bao(&["auth", "enable", "approle"]));
    ok(dev.bao(&[
        "write",
        "auth/approle/role/web",
        "token_policies=app",
        "token_ttl=30m",
    ]));
    let role_id = json(dev.bao(&["read", "-format=json", "auth/approle/role/web/role-id"]));
    let role_id = role_id["data"]["role_id"].as_str().unwrap().to_owned();
    let sid = json(dev.bao(&[
        "write",
        "-f",
        "-format=json",
        "auth/approle/role/web/secret-id",
    ]));
    let sid = sid["data"]["secret_id"].as_str().unwrap().to_owned();
    let login = json(dev.bao(&[
        "write",
        "-format=json",
        "auth/approle/login",
        &format!("role_id={role_id}"),
        &format!("secret_id={sid}"),
    ]));
    assert!(
        login["auth"]["client_token"]
            .as_str()
            .unwrap()
            .starts_with("hvs.")
    );

    // Operator and audit views.
    let audit = json(dev.bao(&["audit", "list", "-format=json"]));
    assert!(audit.get("file/").is_some(), "{audit}");
    let before = json(dev.bao(&["read", "-format=json", "sys/key-status"]));
    ok(dev.bao(&["operator", "rotate"]));
    let after = json(dev.bao(&["read", "-format=json", "sys/key-status"]));
    assert_eq!(
        after["data"]["term"],
        before["data"]["term"].as_u64().unwrap() + 1
    );
}
