//! Tests of policy parsing, the ACL decision table and the policy endpoints.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::*;
use crate::api::{ApiError, Operation, Request};
use crate::view::PlainStore;

const A: &str = r#"
path "secret/*" { capabilities = ["read", "list"] }
path "secret/data/app/*" { capabilities = ["create", "read", "update", "patch", "delete", "list"] }
path "secret/data/super-secret" { capabilities = ["deny"] }
path "secret/+/teamb" { capabilities = ["read"] }
path "secret/+/teamb/*" { capabilities = ["update"] }
path "sys/audit/*" { capabilities = ["create", "update", "sudo"] }
path "sys/mounts/*" { capabilities = ["update"] }
path "shared/x" { capabilities = ["read"] }
path "shared/list" { capabilities = ["list"] }
path "glob*" { capabilities = ["read"] }
path "globby/exact" { capabilities = ["delete"] }
path "a/+/c" { capabilities = ["read"] }
path "a/b/+" { capabilities = ["update"] }
path "p/+/+/*" { capabilities = ["read"] }
path "p/x/+/*" { capabilities = ["delete"] }
path "transit/keys/*" {
  capabilities = ["create", "update"]
  allowed_parameters = { "auto_rotate_period" = ["8h", "24h"], "*" = [] }
  denied_parameters = { "exportable" = [] }
  required_parameters = ["type"]
}
path "only/*" {
  capabilities = ["create", "update", "read"]
  allowed_parameters = { "name" = ["app-*", "*-svc"], "ttl" = [] , "n" = [3], "tags" = ["a", "b"] }
}
path "nodeny/*" {
  capabilities = ["update"]
  denied_parameters = { "*" = [] }
}
path "denyval/*" {
  capabilities = ["update"]
  denied_parameters = { "mode" = ["unsafe*"] }
}
path "r/+" { capabilities = ["read"] }
path "r/*" { capabilities = ["delete"] }
path "q/+/a*" { capabilities = ["read"] }
path "q/+/ab*" { capabilities = ["delete"] }
path "m/+/+/y" { capabilities = ["read"] }
path "m/+/x/+" { capabilities = ["delete"] }
path "ls/*" { capabilities = ["read"] }
path "ls/dir/*" { capabilities = ["list"] }
path "wrap/*" {
  capabilities = ["read"]
  min_wrapping_ttl = "1s"
  max_wrapping_ttl = "1h"
}
"#;

const B: &str = r#"
path "shared/x" { capabilities = ["update"] }
path "shared/y" { capabilities = ["read"] }
path "shared/z" { capabilities = ["deny"] }
path "secret/data/app/*" { capabilities = ["sudo"] }
"#;

const C: &str = r#"{"path": {"shared/z": {"capabilities": ["read", "update"]}, "json/*": {"capabilities": ["list"]}}}"#;

fn policies(names: &[&str]) -> Vec<Arc<Policy>> {
    names
        .iter()
        .map(|n| {
            let text = match *n {
                "a" => A,
                "b" => B,
                "c" => C,
                _ => unreachable!(),
            };
            Arc::new(Policy::parse(n, text).unwrap())
        })
        .collect()
}

fn data(v: &Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

use Operation::{Create as C_, Delete as D, List as L, Patch as P, Read as R, Update as U};

/// One row: (policies, op, path, data, sudo) → (allowed, granting policies).
type Row = (
    &'static [&'static str],
    Operation,
    &'static str,
    &'static str,
    bool,
    bool,
    &'static [&'static str],
);

#[rustfmt::skip]
const TABLE: &[Row] = &[
    // prefix glob
    (&["a"], R, "secret/foo", "{}", false, true, &["a"]),
    (&["a"], L, "secret/", "{}", false, true, &["a"]),
    (&["a"], U, "secret/foo", "{}", false, false, &[]),
    (&["a"], R, "secret", "{}", false, false, &[]),
    (&["a"], R, "secretx", "{}", false, false, &[]),
    // longer prefix wins over shorter one (rule 4 / rule 1)
    (&["a"], U, "secret/data/app/x", "{}", false, true, &["a"]),
    (&["a"], C_, "secret/data/app/x/y", "{}", false, true, &["a"]),
    (&["a"], P, "secret/data/app/x", "{}", false, true, &["a"]),
    (&["a"], U, "secret/data/other", "{}", false, false, &[]),
    // deny beats everything
    (&["a"], R, "secret/data/super-secret", "{}", false, false, &[]),
    (&["a", "b"], R, "shared/z", "{}", false, false, &[]),
    (&["a", "b", "c"], R, "shared/z", "{}", false, false, &[]),
    (&["c"], R, "shared/z", "{}", false, true, &["c"]),
    // + is exactly one segment; exact later wildcard wins (rule 1)
    (&["a"], R, "secret/x/teamb", "{}", false, true, &["a"]),
    (&["a"], R, "secret/x/y/teamb", "{}", false, true, &["a"]),
    (&["a"], U, "secret/x/teamb", "{}", false, false, &[]),
    // same first-wildcard position, both end in '*': fewer '+' wins (rule 3)
    (&["a"], U, "secret/x/teamb/k", "{}", false, false, &[]),
    (&["a"], R, "secret/x/teamb/k", "{}", false, true, &["a"]),
    (&["a"], R, "a/z/c", "{}", false, true, &["a"]),
    (&["a"], U, "a/b/c", "{}", false, true, &["a"]),
    (&["a"], R, "a/b/c", "{}", false, false, &[]),
    (&["a"], R, "a/b/c/d", "{}", false, false, &[]),
    // first wildcard later wins even with more +
    (&["a"], D, "p/x/y/z", "{}", false, true, &["a"]),
    (&["a"], R, "p/x/y/z", "{}", false, false, &[]),
    (&["a"], R, "p/w/y/z", "{}", false, true, &["a"]),
    // glob inside a segment; exact beats glob
    (&["a"], R, "globby/x", "{}", false, true, &["a"]),
    (&["a"], D, "globby/exact", "{}", false, true, &["a"]),
    (&["a"], R, "globby/exact", "{}", false, false, &[]),
    // rule 2: not ending in '*' wins at the same first wildcard
    (&["a"], R, "r/x", "{}", false, true, &["a"]),
    (&["a"], D, "r/x", "{}", false, false, &[]),
    (&["a"], D, "r/x/y", "{}", false, true, &["a"]),
    // rule 4: longer wins
    (&["a"], D, "q/z/abc", "{}", false, true, &["a"]),
    (&["a"], R, "q/z/abc", "{}", false, false, &[]),
    (&["a"], R, "q/z/acc", "{}", false, true, &["a"]),
    // rule 5: lexicographically larger wins
    (&["a"], D, "m/a/x/y", "{}", false, true, &["a"]),
    (&["a"], R, "m/a/x/y", "{}", false, false, &[]),
    (&["a"], R, "m/a/b/y", "{}", false, true, &["a"]),
    // LIST of "ls/dir/" is decided by the rule for "ls/dir" first (Vault's order)
    (&["a"], L, "ls/dir/", "{}", false, false, &[]),
    (&["a"], L, "ls/dir/sub/", "{}", false, true, &["a"]),
    // union across policies with the same pattern
    (&["a", "b"], R, "shared/x", "{}", false, true, &["a"]),
    (&["a", "b"], U, "shared/x", "{}", false, true, &["b"]),
    (&["a"], U, "shared/x", "{}", false, false, &[]),
    (&["a", "b"], R, "shared/y", "{}", false, true, &["b"]),
    (&["a", "b", "c"], L, "json/k", "{}", false, true, &["c"]),
    // list with trailing slash uses an exact rule on the path without it
    (&["a"], L, "shared/list/", "{}", false, true, &["a"]),
    (&["a"], R, "shared/list/", "{}", false, false, &[]),
    // LIST tries wildcard rules on the path without its trailing slash first
    (&["a"], L, "secret/data/app/", "{}", false, true, &["a"]),
    (&["a"], L, "/secret/x", "{}", false, true, &["a"]),
    // sudo
    (&["a"], U, "sys/audit/file", "{}", true, true, &["a"]),
    (&["a"], U, "sys/mounts/x", "{}", true, false, &[]),
    (&["a"], U, "sys/mounts/x", "{}", false, true, &["a"]),
    (&["a"], U, "secret/data/app/x", "{}", true, false, &[]),
    (&["a", "b"], U, "secret/data/app/x", "{}", true, true, &["a"]),
    // parameters: required, allowed values, "*" key, denied wins
    (&["a"], U, "transit/keys/k", r#"{"type":"aes"}"#, false, true, &["a"]),
    (&["a"], U, "transit/keys/k", "{}", false, false, &[]),
    (&["a"], C_, "transit/keys/k", r#"{"type":"aes","auto_rotate_period":"8h"}"#, false, true, &["a"]),
    (&["a"], C_, "transit/keys/k", r#"{"type":"aes","auto_rotate_period":"1h"}"#, false, false, &[]),
    (&["a"], U, "transit/keys/k", r#"{"type":"aes","exportable":false}"#, false, false, &[]),
    (&["a"], U, "transit/keys/k", r#"{"type":"aes","OTHER":1}"#, false, true, &["a"]),
    (&["a"], U, "transit/keys/k", r#"{"TYPE":"aes"}"#, false, false, &[]),
    (&["a"], U, "transit/keys/k", r#"{"type":"aes","EXPORTABLE":true}"#, false, false, &[]),
    (&["a"], U, "only/k", r#"{"name":"app-1"}"#, false, true, &["a"]),
    (&["a"], U, "only/k", r#"{"name":"web-svc"}"#, false, true, &["a"]),
    (&["a"], U, "only/k", r#"{"name":"web"}"#, false, false, &[]),
    (&["a"], U, "only/k", r#"{"ttl":"anything","n":3}"#, false, true, &["a"]),
    (&["a"], U, "only/k", r#"{"n":4}"#, false, false, &[]),
    (&["a"], U, "only/k", r#"{"tags":["a","b"]}"#, false, true, &["a"]),
    (&["a"], U, "only/k", r#"{"tags":["a","c"]}"#, false, false, &[]),
    (&["a"], U, "only/k", r#"{"unlisted":1}"#, false, false, &[]),
    (&["a"], R, "only/k", r#"{"unlisted":1}"#, false, false, &[]),
    (&["a"], U, "nodeny/k", r#"{"x":1}"#, false, false, &[]),
    (&["a"], U, "nodeny/k", "{}", false, true, &["a"]),
    (&["a"], U, "denyval/k", r#"{"mode":"unsafe-x"}"#, false, false, &[]),
    (&["a"], U, "denyval/k", r#"{"mode":"safe"}"#, false, true, &["a"]),
    (&["a"], R, "wrap/x", r#"{"anything":1}"#, false, true, &["a"]),
    // no policies, nothing matches
    (&[], R, "secret/foo", "{}", false, false, &[]),
    (&["b"], R, "other/path", "{}", false, false, &[]),
];

#[test]
fn decision_table() {
    assert!(TABLE.len() >= 40);
    for (i, (names, op, path, body, sudo, allowed, granting)) in TABLE.iter().enumerate() {
        let acl = Acl::new(&policies(names));
        let body: Value = serde_json::from_str(body).unwrap();
        let d = acl.decide(*op, path, &data(&body), *sudo);
        assert_eq!(d.allowed, *allowed, "row {i}: {names:?} {op} {path}");
        assert_eq!(
            d.granting_policies, *granting,
            "row {i}: {names:?} {op} {path}"
        );
        assert!(!d.root);
    }
}

#[test]
fn root_allows_everything() {
    let acl = Acl::root();
    let d = acl.decide(Operation::Delete, "sys/seal", &Map::new(), true);
    assert!(d.allowed && d.root);
    assert_eq!(acl.capabilities("x"), ["root"]);
    assert!(acl.has_any_under("anything/"));
    let named_root = Arc::new(Policy {
        name: "root".into(),
        raw: String::new(),
        rules: vec![],
    });
    assert!(Acl::new(&[named_root]).is_root());
}

#[test]
fn capabilities_and_has_any_under() {
    let acl = Acl::new(&policies(&["a", "b"]));
    assert_eq!(acl.capabilities("shared/x"), ["read", "update"]);
    assert_eq!(acl.capabilities("shared/z"), ["deny"]);
    assert_eq!(acl.capabilities("nothing/here"), ["deny"]);
    assert_eq!(
        acl.capabilities("secret/data/app/k"),
        [
            "create", "delete", "list", "patch", "read", "sudo", "update"
        ]
    );
    assert!(acl.has_any_under("secret/"));
    assert!(acl.has_any_under("transit"));
    assert!(acl.has_any_under("a/"));
    assert!(acl.has_any_under("shared/"));
    assert!(!acl.has_any_under("kv/"));
    assert!(!acl.has_any_under("secre/"));
    let only_deny =
        Arc::new(Policy::parse("d", r#"path "kv/*" { capabilities = ["deny"] }"#).unwrap());
    assert!(!Acl::new(&[only_deny]).has_any_under("kv/"));
}

#[test]
fn parse_errors_name_the_problem() {
    let cases = [
        (r#"path "x" { capabilities = ["reed"] }"#, "reed"),
        (
            "path \"x\" {\n capabilities = [\"read\"]\n bogus = 1\n}",
            "invalid key \"bogus\"",
        ),
        (r#"paths "x" { capabilities = ["read"] }"#, "paths"),
        (r#"foo = 1"#, "foo"),
        (r#"path "x*y" { capabilities = ["read"] }"#, "'*'"),
        (r#"path "x/a+/y" { capabilities = ["read"] }"#, "'+'"),
        (r#"path "x" { capabilities = "read" }"#, "capabilities"),
        (
            r#"path "x" { allowed_parameters = ["a"] }"#,
            "allowed_parameters",
        ),
        (
            r#"path "x" { required_parameters = "a" }"#,
            "required_parameters",
        ),
        (r#"path "x" "y" { capabilities = ["read"] }"#, "one pattern"),
        (r#"path "x" { capabilities = ["read"] "#, "failed to parse"),
        (r#"{"path": {"x": {"capabilities": ["nope"]}}}"#, "nope"),
        (r#"{"path": {"x": 1}}"#, "object"),
        (r#"{"paths": {}}"#, "paths"),
        (r#"{"path": "#, "failed to parse"),
        (r#"path "x" { capabilities = ["READ"] }"#, "READ"),
        (r#"path "x" { policy = "admin" }"#, "admin"),
        (r#"path "x" { pagination_limit = 5 }"#, "pagination_limit"),
    ];
    for (text, needle) in cases {
        let err = Policy::parse("p", text).unwrap_err();
        assert_eq!(err.status(), 400, "{text}");
        assert!(err.to_string().contains(needle), "{text}: {err}");
    }
}

#[test]
fn parses_hcl_json_base64_and_ignored_keys() {
    let p = Policy::parse("a", A).unwrap();
    assert_eq!(p.rules.len(), 28);
    let t = p
        .rules
        .iter()
        .find(|r| r.pattern == "transit/keys/*")
        .unwrap();
    assert_eq!(t.required_parameters, ["type"]);
    assert!(t.has(Capability::Create) && !t.has(Capability::Read));
    let ignored = r#"path "x" {
        capabilities = ["read", "scan", "subscribe", "recover"]
        expiration = "2030-01-01T00:00:00Z"
        comment = "hi"
    }"#;
    let p = Policy::parse("i", ignored).unwrap();
    assert!(p.rules[0].has(Capability::Read) && p.rules[0].has(Capability::Scan));
    let json = Policy::parse("c", C).unwrap();
    assert_eq!(json.rules.len(), 2);
    let encoded = sigil_core::encoding::base64_encode(B.as_bytes());
    let decoded = Policy::parse_maybe_base64("b", &encoded).unwrap();
    assert_eq!(decoded.raw, B);
    assert_eq!(decoded.rules.len(), 4);
    let old = Policy::parse("o", r#"path "x" { policy = "write" }"#).unwrap();
    assert!(old.rules[0].has(Capability::Update) && !old.rules[0].has(Capability::Sudo));
    // Deny clears every other capability of the rule.
    let d = Policy::parse("d", r#"path "x" { capabilities = ["read", "deny"] }"#).unwrap();
    assert!(!d.rules[0].has(Capability::Read));
    // The built-in default policy parses and grants what tokens need.
    let default = Arc::new(Policy::parse("default", DEFAULT_POLICY).unwrap());
    let acl = Acl::new(&[default]);
    for (op, path) in [
        (Operation::Read, "auth/token/lookup-self"),
        (Operation::Update, "auth/token/renew-self"),
        (Operation::Update, "auth/token/revoke-self"),
        (Operation::Update, "sys/capabilities-self"),
        (Operation::Update, "sys/leases/renew"),
        (Operation::Update, "sys/leases/lookup"),
        (Operation::Create, "cubbyhole/x"),
        (Operation::Update, "sys/wrapping/unwrap"),
        (Operation::Update, "sys/tools/hash/sha2-256"),
        (Operation::Read, "sys/internal/ui/resultant-acl"),
    ] {
        assert!(acl.decide(op, path, &Map::new(), false).allowed, "{path}");
    }
    assert!(
        !acl.decide(Operation::Read, "secret/x", &Map::new(), false)
            .allowed
    );
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "callers build the body inline"
)]
fn req(op: Operation, body: Value) -> Request {
    let mut r = Request::new(op, "");
    r.data = data(&body);
    r
}

async fn store() -> PolicyStore {
    let s = PolicyStore::new(PlainStore::view());
    s.ensure_default().await.unwrap();
    s
}

#[tokio::test]
async fn legacy_endpoints() {
    let s = store().await;
    let r = s
        .handle(&req(Operation::Read, json!({})), "policy")
        .await
        .unwrap();
    assert_eq!(r.data.unwrap()["policies"], json!(["default", "root"]));
    let put = req(Operation::Update, json!({"rules": B}));
    let r = s.handle(&put, "policy/Team-B").await.unwrap();
    assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
    let r = s
        .handle(&req(Operation::Read, json!({})), "policy/team-b")
        .await
        .unwrap();
    let d = r.data.unwrap();
    assert_eq!(d["name"], "team-b");
    assert_eq!(d["rules"], B);
    let r = s
        .handle(&req(Operation::Read, json!({})), "policy")
        .await
        .unwrap();
    assert_eq!(
        r.data.unwrap()["keys"],
        json!(["default", "root", "team-b"])
    );
    s.handle(&req(Operation::Delete, json!({})), "policy/team-b")
        .await
        .unwrap();
    let err = s
        .handle(&req(Operation::Read, json!({})), "policy/team-b")
        .await
        .unwrap_err();
    assert_eq!(err, ApiError::NotFound);
    let r = s
        .handle(&req(Operation::Read, json!({})), "policy/root")
        .await
        .unwrap();
    assert_eq!(r.data.unwrap(), data(&json!({"name": "root", "rules": ""})));
}

#[tokio::test]
async fn acl_endpoints_and_cache() {
    let s = store().await;
    let put = req(Operation::Create, json!({"policy": A}));
    s.handle(&put, "policies/acl/a").await.unwrap();
    let r = s
        .handle(&req(Operation::List, json!({})), "policies/acl")
        .await
        .unwrap();
    assert_eq!(r.data.unwrap()["keys"], json!(["a", "default", "root"]));
    let r = s
        .handle(&req(Operation::Read, json!({})), "policies/acl/a")
        .await
        .unwrap();
    assert_eq!(r.data.unwrap()["policy"], A);
    let names = vec!["a".to_owned(), "missing".to_owned()];
    let acl = s.acl_for(&names).await.unwrap();
    assert!(
        acl.decide(Operation::Read, "secret/x", &Map::new(), false)
            .allowed
    );
    // A write replaces the cached policy.
    let put = req(Operation::Update, json!({"policy": B}));
    s.handle(&put, "policies/acl/a").await.unwrap();
    let acl = s.acl_for(&names).await.unwrap();
    assert!(
        !acl.decide(Operation::Read, "secret/x", &Map::new(), false)
            .allowed
    );
    // Base64 policies are stored decoded.
    let b64 = sigil_core::encoding::base64_encode(C.as_bytes());
    s.handle(
        &req(Operation::Update, json!({"policy": b64})),
        "policies/acl/c",
    )
    .await
    .unwrap();
    assert_eq!(s.get("C").await.unwrap().unwrap().raw, C);
    // default may be updated, not deleted; root neither.
    s.handle(
        &req(Operation::Update, json!({"policy": B})),
        "policies/acl/default",
    )
    .await
    .unwrap();
    for (op, sub) in [
        (Operation::Delete, "policies/acl/default"),
        (Operation::Delete, "policy/default"),
        (Operation::Delete, "policies/acl/root"),
        (Operation::Update, "policies/acl/root"),
        (Operation::Update, "policy/root"),
    ] {
        let err = s
            .handle(&req(op, json!({"policy": B})), sub)
            .await
            .unwrap_err();
        assert_eq!(err.status(), 400, "{sub}");
    }
    assert!(s.acl_for(&["ROOT".to_owned()]).await.unwrap().is_root());
    s.handle(&req(Operation::Delete, json!({})), "policies/acl/a")
        .await
        .unwrap();
    assert!(s.get("a").await.unwrap().is_none());
}

#[tokio::test]
async fn bad_requests_store_nothing() {
    let s = store().await;
    let cases = [
        json!({}),
        json!({"policy": ""}),
        json!({"policy": "   "}),
        json!({"policy": 5}),
        json!({"policy": ["x"]}),
        json!({"policy": null}),
        json!({"policy": "path \"x\" { capabilities = [\"fly\"] }"}),
        json!({"policy": "not hcl {{"}),
        json!({"rules": B}),
    ];
    for body in cases {
        let err = s
            .handle(&req(Operation::Update, body.clone()), "policies/acl/p")
            .await
            .unwrap_err();
        assert_eq!(err.status(), 400, "{body}");
        assert!(s.get("p").await.unwrap().is_none());
    }
    for name in ["bad name", "x/y", "..", "a*"] {
        let sub = format!("policies/acl/{name}");
        let err = s
            .handle(&req(Operation::Update, json!({"policy": B})), &sub)
            .await
            .unwrap_err();
        assert_eq!(err.status(), 400, "{name}");
    }
    let err = s
        .handle(&req(Operation::Update, json!({})), "policy")
        .await
        .unwrap_err();
    assert_eq!(err, ApiError::UnsupportedOperation);
    let err = s
        .handle(&req(Operation::Read, json!({})), "policies/acl")
        .await
        .unwrap_err();
    assert_eq!(err, ApiError::UnsupportedOperation);
    let err = s
        .handle(&req(Operation::Patch, json!({})), "policies/acl/p")
        .await
        .unwrap_err();
    assert_eq!(err, ApiError::UnsupportedOperation);
    let err = s
        .handle(&req(Operation::Read, json!({})), "policies/rgp/x")
        .await
        .unwrap_err();
    assert_eq!(err, ApiError::UnsupportedPath);
    let r = s
        .handle(&req(Operation::List, json!({})), "policies/acl")
        .await
        .unwrap();
    assert_eq!(r.data.unwrap()["keys"], json!(["default", "root"]));
}
