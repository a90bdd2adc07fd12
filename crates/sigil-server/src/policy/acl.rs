//! The decision: a token's policies merged into one ACL, and the pure function that says
//! whether a request may proceed.
//!
//! Rules with the same pattern in several policies are merged (capabilities unioned; `deny`
//! wins). For a path, the single matching pattern of highest priority decides, by Vault's
//! rules in order: the first wildcard (`+` or `*`) later in the pattern wins; a pattern not
//! ending in `*` wins; fewer `+` wins; the longer pattern wins; the lexicographically larger
//! wins.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::parse::{Capability, Policy, Rule, cap_names};
use crate::api::Operation;

/// The merged rules of one pattern.
#[derive(Debug, Clone, Default)]
struct Merged {
    caps: u16,
    allowed: BTreeMap<String, Vec<Value>>,
    denied: BTreeMap<String, Vec<Value>>,
    required: Vec<String>,
    policies: Vec<String>,
}

/// What [`Acl::decide`] answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// The policies whose rule decided (for the audit log).
    pub granting_policies: Vec<String>,
    /// Whether the token has the root policy.
    pub root: bool,
}

/// A token's effective policy.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    root: bool,
    rules: BTreeMap<String, Merged>,
}

impl Acl {
    /// The root ACL: everything allowed.
    pub fn root() -> Self {
        Self {
            root: true,
            rules: BTreeMap::new(),
        }
    }

    /// Merges policies.
    pub fn new(policies: &[Arc<Policy>]) -> Self {
        let mut rules: BTreeMap<String, Merged> = BTreeMap::new();
        for p in policies {
            for r in &p.rules {
                merge(rules.entry(r.pattern.clone()).or_default(), r, &p.name);
            }
        }
        Self { root: false, rules }
    }

    /// Whether `op` on `path` with `data` is allowed; `sudo_required` for root-protected paths.
    pub fn decide(
        &self,
        op: Operation,
        path: &str,
        data: &Map<String, Value>,
        sudo_required: bool,
    ) -> Decision {
        let deny = |policies: Vec<String>| Decision {
            allowed: false,
            granting_policies: policies,
            root: false,
        };
        if self.root {
            return Decision {
                allowed: true,
                granting_policies: vec!["root".into()],
                root: true,
            };
        }
        let Some(rule) = self.matching(path) else {
            return deny(Vec::new());
        };
        if rule.caps & Capability::Deny.bit() != 0 {
            return deny(Vec::new());
        }
        let needed = match op {
            Operation::Read => Capability::Read,
            Operation::Create => Capability::Create,
            Operation::Update => Capability::Update,
            Operation::Patch => Capability::Patch,
            Operation::Delete => Capability::Delete,
            Operation::List => Capability::List,
        };
        if rule.caps & needed.bit() == 0 {
            return deny(Vec::new());
        }
        if sudo_required && rule.caps & Capability::Sudo.bit() == 0 {
            return deny(Vec::new());
        }
        if matches!(op, Operation::Create | Operation::Update | Operation::Patch)
            && !parameters_ok(rule, data)
        {
            return deny(Vec::new());
        }
        Decision {
            allowed: true,
            granting_policies: rule.policies.clone(),
            root: false,
        }
    }

    /// The capability names on `path` (`sys/capabilities-self`).
    pub fn capabilities(&self, path: &str) -> Vec<String> {
        if self.root {
            return vec!["root".into()];
        }
        match self.matching(path) {
            Some(r) if r.caps & Capability::Deny.bit() == 0 && r.caps != 0 => cap_names(r.caps),
            _ => vec!["deny".into()],
        }
    }

    /// Whether anything other than deny is granted at or below `prefix` (the KV pre-flight).
    pub fn has_any_under(&self, prefix: &str) -> bool {
        if self.root {
            return true;
        }
        self.rules.iter().any(|(pattern, r)| {
            r.caps & !Capability::Deny.bit() != 0
                && r.caps & Capability::Deny.bit() == 0
                && overlaps(pattern, prefix)
        })
    }

    fn matching(&self, path: &str) -> Option<&Merged> {
        self.rules
            .iter()
            .filter(|(pattern, _)| matches(pattern, path))
            .max_by(|a, b| priority(a.0, b.0))
            .map(|(_, r)| r)
    }
}

fn merge(into: &mut Merged, rule: &Rule, policy: &str) {
    into.caps |= rule.caps;
    if into.caps & Capability::Deny.bit() != 0 {
        into.caps = Capability::Deny.bit();
    }
    for (k, v) in &rule.allowed {
        into.allowed
            .entry(k.clone())
            .or_default()
            .extend(v.iter().cloned());
    }
    for (k, v) in &rule.denied {
        into.denied
            .entry(k.clone())
            .or_default()
            .extend(v.iter().cloned());
    }
    for r in &rule.required {
        if !into.required.contains(r) {
            into.required.push(r.clone());
        }
    }
    if !into.policies.iter().any(|p| p == policy) {
        into.policies.push(policy.to_owned());
    }
}

/// Whether `pattern` matches `path`.
pub(crate) fn matches(pattern: &str, path: &str) -> bool {
    let (body, prefix) = match pattern.strip_suffix('*') {
        Some(b) => (b, true),
        None => (pattern, false),
    };
    let pat: Vec<&str> = body.split('/').collect();
    let segs: Vec<&str> = path.split('/').collect();
    if prefix {
        if segs.len() < pat.len() {
            return false;
        }
        let last = pat.len() - 1;
        pat.iter().zip(&segs).enumerate().all(|(i, (p, s))| {
            if i == last {
                *p == "+" || s.starts_with(p)
            } else {
                *p == "+" || p == s
            }
        })
    } else {
        pat.len() == segs.len() && pat.iter().zip(&segs).all(|(p, s)| *p == "+" || p == s)
    }
}

/// Whether some path at or below `prefix` could match `pattern`.
fn overlaps(pattern: &str, prefix: &str) -> bool {
    let body = pattern.strip_suffix('*').unwrap_or(pattern);
    let prefix = prefix.trim_end_matches('/');
    let pat: Vec<&str> = body.split('/').collect();
    let segs: Vec<&str> = prefix.split('/').collect();
    let n = pat.len().min(segs.len());
    for i in 0..n {
        let (p, s) = (pat[i], segs[i]);
        let last_of_glob = pattern.ends_with('*') && i == pat.len() - 1;
        let ok = p == "+" || p == s || (last_of_glob && s.starts_with(p));
        if !ok {
            return false;
        }
    }
    pat.len() >= segs.len() || pattern.ends_with('*')
}

/// Orders two matching patterns by Vault's priority rules; the greater one wins.
fn priority(a: &str, b: &str) -> Ordering {
    let first_wild = |p: &str| p.find(['+', '*']).unwrap_or(usize::MAX);
    let pluses = |p: &str| p.matches('+').count();
    first_wild(a)
        .cmp(&first_wild(b))
        .then_with(|| b.ends_with('*').cmp(&a.ends_with('*')))
        .then_with(|| pluses(b).cmp(&pluses(a)))
        .then_with(|| a.len().cmp(&b.len()))
        .then_with(|| a.cmp(b))
}

fn parameters_ok(rule: &Merged, data: &Map<String, Value>) -> bool {
    if rule.required.iter().any(|r| !data.contains_key(r.as_str())) {
        return false;
    }
    for (key, value) in data {
        let denied = rule.denied.get(key).or_else(|| rule.denied.get("*"));
        if let Some(values) = denied
            && (values.is_empty() || value_matches(values, value))
        {
            return false;
        }
        if !rule.allowed.is_empty() {
            let Some(values) = rule.allowed.get(key).or_else(|| rule.allowed.get("*")) else {
                return false;
            };
            if !values.is_empty() && !value_matches(values, value) {
                return false;
            }
        }
    }
    true
}

/// Whether `value` (or, for a list, every element) matches one of `allowed`. String patterns
/// may start or end with `*`.
fn value_matches(allowed: &[Value], value: &Value) -> bool {
    match value {
        Value::Array(items) => !items.is_empty() && items.iter().all(|v| value_matches(allowed, v)),
        _ => {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            allowed.iter().any(|a| match a {
                Value::String(p) if p == "*" => true,
                Value::String(p) if p.len() > 1 && p.ends_with('*') => {
                    text.starts_with(&p[..p.len() - 1])
                }
                Value::String(p) if p.len() > 1 && p.starts_with('*') => text.ends_with(&p[1..]),
                Value::String(p) => *p == text,
                other => other == value,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn acl(texts: &[(&str, &str)]) -> Acl {
        let policies: Vec<Arc<Policy>> = texts
            .iter()
            .map(|(n, t)| Arc::new(Policy::parse(n, t).unwrap()))
            .collect();
        Acl::new(&policies)
    }

    const A: &str = r#"
        path "secret/*" { capabilities = ["read"] }
        path "secret/data/app/*" { capabilities = ["create", "read", "update", "list"] }
        path "secret/data/app/locked" { capabilities = ["deny"] }
        path "secret/+/team" { capabilities = ["read", "delete"] }
        path "secret/+/+" { capabilities = ["list"] }
        path "secret/data/exact" { capabilities = ["patch"] }
        path "sys/audit/*" { capabilities = ["update", "sudo"] }
        path "sys/mounts/*" { capabilities = ["update"] }
        path "transit/keys/*" {
          capabilities = ["create", "update"]
          allowed_parameters = { "type" = ["aes256-gcm96", "ed*"], "exportable" = [] }
          denied_parameters = { "exportable" = [true] }
          required_parameters = ["type"]
        }
        path "kv/param/*" {
          capabilities = ["update"]
          denied_parameters = { "*" = [] }
        }
        path "kv/open/*" {
          capabilities = ["update"]
          allowed_parameters = { "*" = ["*prod"] }
        }
    "#;

    const B: &str = r#"
        path "secret/data/app/*" { capabilities = ["delete"] }
        path "other/*" { capabilities = ["read"] }
        path "secret/data/app/locked" { capabilities = ["read"] }
    "#;

    #[test]
    fn decision_table() {
        use Operation::*;
        let acl = acl(&[("a", A), ("b", B)]);
        let none = json!({});
        #[rustfmt::skip]
        let table: &[(Operation, &str, Value, bool, bool)] = &[
            // op, path, data, sudo required, allowed
            (Read, "secret/x", none.clone(), false, true),
            (List, "secret/x", none.clone(), false, false),
            (Update, "secret/x", none.clone(), false, false),
            (Read, "secret", none.clone(), false, false),
            (Read, "secretx", none.clone(), false, false),
            (Create, "secret/data/app/db", none.clone(), false, true),
            (Update, "secret/data/app/db", none.clone(), false, true),
            (Delete, "secret/data/app/db", none.clone(), false, true),
            (Patch, "secret/data/app/db", none.clone(), false, false),
            (List, "secret/data/app/", none.clone(), false, true),
            (Read, "secret/data/app/deep/er", none.clone(), false, true),
            (Read, "secret/data/app/locked", none.clone(), false, false),
            (Update, "secret/data/app/locked", none.clone(), false, false),
            (Read, "secret/data/team", none.clone(), false, true),
            (Delete, "secret/data/team", none.clone(), false, true),
            (Delete, "secret/metadata/team", none.clone(), false, true),
            (List, "secret/data/team", none.clone(), false, false),
            (List, "secret/data/other", none.clone(), false, true),
            (Read, "secret/data/other", none.clone(), false, false),
            (Read, "secret/data/other/x", none.clone(), false, true),
            (Patch, "secret/data/exact", none.clone(), false, true),
            (Read, "secret/data/exact", none.clone(), false, false),
            (Update, "sys/audit/file", none.clone(), true, true),
            (Update, "sys/mounts/x", none.clone(), true, false),
            (Update, "sys/mounts/x", none.clone(), false, true),
            (Read, "sys/mounts/x", none.clone(), false, false),
            (Read, "other/a/b", none.clone(), false, true),
            (Read, "nothing", none, false, false),
            (Update, "transit/keys/k", json!({"type": "aes256-gcm96"}), false, true),
            (Update, "transit/keys/k", json!({"type": "ed25519"}), false, true),
            (Update, "transit/keys/k", json!({"type": "rsa-2048"}), false, false),
            (Update, "transit/keys/k", json!({}), false, false),
            (Update, "transit/keys/k", json!({"type": "ed25519", "exportable": false}), false, true),
            (Update, "transit/keys/k", json!({"type": "ed25519", "exportable": true}), false, false),
            (Update, "transit/keys/k", json!({"type": "ed25519", "other": 1}), false, false),
            (Create, "transit/keys/k", json!({"type": "aes256-gcm96"}), false, true),
            (Update, "kv/param/x", json!({}), false, true),
            (Update, "kv/param/x", json!({"a": 1}), false, false),
            (Update, "kv/open/x", json!({"env": "eu-prod"}), false, true),
            (Update, "kv/open/x", json!({"env": "dev"}), false, false),
            (Update, "kv/open/x", json!({"env": ["a-prod", "b-prod"]}), false, true),
            (Update, "kv/open/x", json!({"env": ["a-prod", "dev"]}), false, false),
        ];
        for (op, path, data, sudo, expected) in table {
            let Value::Object(data) = data else {
                unreachable!()
            };
            let got = acl.decide(*op, path, data, *sudo);
            assert_eq!(got.allowed, *expected, "{op} {path} {data:?} sudo={sudo}");
        }
    }

    #[test]
    fn priority_rules_in_order() {
        // Rule 1: the later first wildcard wins.
        assert_eq!(priority("a/b/*", "a/*"), Ordering::Greater);
        // Rule 2: not ending in * wins.
        assert_eq!(priority("a/+", "a/b*"), Ordering::Less);
        assert_eq!(priority("a/+/c", "a/+/*"), Ordering::Greater);
        // Rule 3: fewer + wins.
        assert_eq!(priority("a/+/c/d", "a/+/+/d"), Ordering::Greater);
        // Rule 4: longer wins.
        assert_eq!(priority("a/+/cd", "a/+/c"), Ordering::Greater);
        // Rule 5: lexicographically larger wins.
        assert_eq!(priority("a/+/d", "a/+/c"), Ordering::Greater);
    }

    #[test]
    fn union_across_policies_and_capability_lists() {
        let acl = acl(&[("a", A), ("b", B)]);
        assert_eq!(
            acl.capabilities("secret/data/app/x"),
            ["create", "delete", "list", "read", "update"]
        );
        assert_eq!(acl.capabilities("secret/data/app/locked"), ["deny"]);
        assert_eq!(acl.capabilities("nowhere"), ["deny"]);
        assert_eq!(Acl::root().capabilities("x"), ["root"]);
        let d = acl.decide(Operation::Delete, "secret/data/app/x", &Map::new(), false);
        assert_eq!(d.granting_policies, ["a", "b"]);
        assert!(acl.has_any_under("secret/"));
        assert!(acl.has_any_under("other/"));
        assert!(!acl.has_any_under("kv1/"));
        assert!(Acl::new(&[]).capabilities("x") == ["deny"]);
    }

    #[test]
    fn parsing_refuses_what_it_does_not_know() {
        for bad in [
            r#"path "x" { capabilities = ["fly"] }"#,
            r#"path "x" { capabilities = "read" }"#,
            r#"path "x" { colour = "red" }"#,
            r#"path "x*y" { capabilities = ["read"] }"#,
            r#"path "{{identity.entity.id}}" { capabilities = ["read"] }"#,
            r#"nonsense "x" {}"#,
            "path {",
            "",
        ] {
            let got = Policy::parse("p", bad);
            assert!(
                got.is_err() || got.unwrap().rules.is_empty() && bad.is_empty(),
                "{bad}"
            );
        }
        let json = r#"{"path": {"secret/*": {"capabilities": ["read"]}}}"#;
        assert_eq!(Policy::parse("j", json).unwrap().rules.len(), 1);
        let b64 = Encoding::Base64.encode(br#"path "a" { capabilities = ["read"] }"#);
        assert_eq!(Policy::parse("b", &b64).unwrap().rules[0].pattern, "a");
    }

    use sigil_core::encoding::Encoding;
}
