//! The ACL decision: which policy rule applies to a path, and whether it allows an operation
//! with the given parameters. Pure functions, no I/O, no clock.
//!
//! Rule selection follows Vault: rules with the same pattern (from any policy) are merged;
//! among different matching patterns the single highest-priority one wins (see
//! [`priority`]). `deny` in the winning rule denies everything.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::parse::{Capability, PathRule, Policy};
use crate::api::Operation;

/// The answer to one authorization question.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Names of the policies whose rule granted the capability (sorted, for audit).
    pub granting_policies: Vec<String>,
    /// Whether the caller holds the root policy.
    pub root: bool,
}

/// The effective ACL of a token: its policies' rules, ready to decide.
#[derive(Debug, Clone)]
pub struct Acl {
    root: bool,
    rules: Vec<(String, PathRule)>,
}

/// Rules with one pattern, merged across policies.
struct Merged<'a> {
    caps: u16,
    allowed: BTreeMap<String, Vec<Value>>,
    denied: BTreeMap<String, Vec<Value>>,
    required: Vec<String>,
    sources: Vec<(&'a str, u16)>,
}

impl Acl {
    /// The ACL of a token holding `policies`.
    pub fn new(policies: &[Arc<Policy>]) -> Self {
        if policies.iter().any(|p| p.name == "root") {
            return Self::root();
        }
        let rules = policies
            .iter()
            .flat_map(|p| p.rules.iter().map(|r| (p.name.clone(), r.clone())))
            .collect();
        Self { root: false, rules }
    }

    /// The root ACL: everything is allowed.
    pub fn root() -> Self {
        Self {
            root: true,
            rules: Vec::new(),
        }
    }

    /// Whether this is the root ACL.
    pub fn is_root(&self) -> bool {
        self.root
    }

    /// Decides whether `op` on `path` with request `data` is allowed; `sudo_required` for
    /// root-protected paths.
    pub fn decide(
        &self,
        op: Operation,
        path: &str,
        data: &Map<String, Value>,
        sudo_required: bool,
    ) -> Decision {
        if self.root {
            return Decision {
                allowed: true,
                granting_policies: vec!["root".to_owned()],
                root: true,
            };
        }
        let denied = Decision::default();
        let Some(m) = self.winner(path, op == Operation::List) else {
            return denied;
        };
        let cap = capability_of(op);
        let mut need = cap.bit();
        if sudo_required {
            need |= Capability::Sudo.bit();
        }
        if m.caps & Capability::Deny.bit() != 0 || m.caps & need != need {
            return denied;
        }
        // Vault checks parameters only for operations that carry them.
        let checks_params = matches!(
            op,
            Operation::Read | Operation::Create | Operation::Update | Operation::Patch
        );
        if checks_params && !parameters_allowed(&m, data) {
            return denied;
        }
        let mut granting: Vec<String> = m
            .sources
            .iter()
            .filter(|(_, caps)| caps & cap.bit() != 0)
            .map(|(name, _)| (*name).to_owned())
            .collect();
        granting.sort();
        granting.dedup();
        Decision {
            allowed: true,
            granting_policies: granting,
            root: false,
        }
    }

    /// The capabilities on `path`, as `sys/capabilities-self` reports them: `["root"]` for
    /// root, `["deny"]` when nothing matches or deny wins, otherwise sorted names.
    pub fn capabilities(&self, path: &str) -> Vec<String> {
        if self.root {
            return vec!["root".to_owned()];
        }
        let caps = self.winner(path, false).map_or(0, |m| m.caps);
        if caps == 0 || caps & Capability::Deny.bit() != 0 {
            return vec!["deny".to_owned()];
        }
        let mut names: Vec<String> = Capability::ALL
            .into_iter()
            .filter(|c| caps & c.bit() != 0)
            .map(|c| c.name().to_owned())
            .collect();
        names.sort();
        names
    }

    /// Whether any capability other than deny is granted on some path at or below `prefix`
    /// (Vault's special case for `sys/internal/ui/mounts/<path>`).
    pub fn has_any_under(&self, prefix: &str) -> bool {
        if self.root {
            return true;
        }
        let base = prefix.trim_end_matches('/');
        self.rules.iter().any(|(_, r)| {
            r.caps & !Capability::Deny.bit() != 0
                && (matches(&r.pattern, base)
                    || could_extend(&r.pattern, &format!("{base}/"))
                    || r.pattern == base)
        })
    }

    /// The merged rule of the highest-priority pattern matching `path`, in Vault's order:
    /// an exact rule; for LIST, an exact rule on the path without its trailing slash, then
    /// wildcard rules on that path; then wildcard rules on the path itself.
    fn winner(&self, path: &str, list: bool) -> Option<Merged<'_>> {
        let path = path.trim_start_matches('/');
        let patterns = || self.rules.iter().map(|(_, r)| r.pattern.as_str());
        let exact = |p: &str| patterns().find(|q| !has_wildcard(q) && *q == p);
        let wild = |p: &str| {
            patterns()
                .filter(|q| has_wildcard(q) && matches(q, p))
                .max_by_key(|q| priority(q))
        };
        let trimmed = path.strip_suffix('/').filter(|_| list);
        let best = exact(path)
            .or_else(|| trimmed.and_then(exact))
            .or_else(|| trimmed.and_then(wild))
            .or_else(|| wild(path))?;
        let mut m = Merged {
            caps: 0,
            allowed: BTreeMap::new(),
            denied: BTreeMap::new(),
            required: Vec::new(),
            sources: Vec::new(),
        };
        for (name, r) in self.rules.iter().filter(|(_, r)| r.pattern == best) {
            m.caps |= r.caps;
            m.sources.push((name, r.caps));
            merge_params(&mut m.allowed, &r.allowed_parameters);
            merge_params(&mut m.denied, &r.denied_parameters);
            m.required.extend(r.required_parameters.iter().cloned());
        }
        Some(m)
    }
}

fn capability_of(op: Operation) -> Capability {
    match op {
        Operation::Read => Capability::Read,
        Operation::Create => Capability::Create,
        Operation::Update => Capability::Update,
        Operation::Patch => Capability::Patch,
        Operation::Delete => Capability::Delete,
        Operation::List => Capability::List,
    }
}

/// Union of parameter maps; an empty value list means "any value" and absorbs the other.
fn merge_params(into: &mut BTreeMap<String, Vec<Value>>, from: &BTreeMap<String, Vec<Value>>) {
    for (k, v) in from {
        match into.get_mut(k) {
            None => {
                into.insert(k.clone(), v.clone());
            }
            Some(existing) if existing.is_empty() || v.is_empty() => existing.clear(),
            Some(existing) => existing.extend(v.iter().cloned()),
        }
    }
}

fn parameters_allowed(m: &Merged<'_>, data: &Map<String, Value>) -> bool {
    // As in Vault, required names (lower-cased in the policy) must appear as written.
    if m.required.iter().any(|r| !data.contains_key(r)) {
        return false;
    }
    // A request without parameters passes the allowed and denied lists.
    if data.is_empty() {
        return true;
    }
    if m.denied.contains_key("*") {
        return false;
    }
    let allow_all = m.allowed.contains_key("*");
    for (key, value) in data {
        let key = key.to_lowercase();
        if let Some(list) = m.denied.get(&key)
            && value_in_list(value, list)
        {
            return false;
        }
        match m.allowed.get(&key) {
            Some(list) if !value_in_list(value, list) => return false,
            Some(_) => {}
            None if allow_all || m.allowed.is_empty() => {}
            None => return false,
        }
    }
    true
}

/// Whether `value` is in `list`: empty list = any; a list value needs every element in it;
/// string entries may glob with a leading and/or trailing `*`.
fn value_in_list(value: &Value, list: &[Value]) -> bool {
    if list.is_empty() {
        return true;
    }
    match value {
        Value::Array(items) => items.iter().all(|v| scalar_in_list(v, list)),
        other => scalar_in_list(other, list),
    }
}

fn scalar_in_list(value: &Value, list: &[Value]) -> bool {
    // Strings, numbers and booleans compare by their text, as Vault's parameter values
    // arrive as either (`"3"` and `3` are the same value).
    let Some(text) = scalar_text(value) else {
        return list.contains(value);
    };
    list.iter().any(|entry| match entry {
        Value::String(pattern) => glob_match(pattern, &text),
        other => scalar_text(other).is_some_and(|t| t == text),
    })
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(value.to_string()),
        _ => None,
    }
}

fn glob_match(pattern: &str, text: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(_), Some(_)) => text.contains(&pattern[1..pattern.len() - 1]),
        (Some(suffix), None) => text.ends_with(suffix),
        (None, Some(prefix)) => text.starts_with(prefix),
        (None, None) => pattern == text,
    }
}

fn has_wildcard(pattern: &str) -> bool {
    pattern.ends_with('*') || pattern.split('/').any(|s| s == "+" || s == "+*")
}

/// Vault's priority of a pattern: a larger key wins. (1) the first wildcard later, (2) not
/// ending in `*`, (3) fewer `+` segments, (4) longer, (5) lexicographically larger.
pub(crate) fn priority(pattern: &str) -> (usize, bool, Reverse<usize>, usize, &str) {
    let first_plus = pattern
        .split('/')
        .scan(0usize, |pos, seg| {
            let at = *pos;
            *pos += seg.len() + 1;
            Some((at, seg))
        })
        .find(|(_, seg)| seg.starts_with('+'))
        .map(|(at, _)| at);
    let star = pattern.ends_with('*').then(|| pattern.len() - 1);
    let first = match (first_plus, star) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => usize::MAX,
    };
    let plus = pattern.split('/').filter(|s| s.starts_with('+')).count();
    (
        first,
        !pattern.ends_with('*'),
        Reverse(plus),
        pattern.len(),
        pattern,
    )
}

/// Whether `pattern` matches `path`: `+` is one whole segment, a trailing `*` any rest.
pub(crate) fn matches(pattern: &str, path: &str) -> bool {
    walk(pattern, path) == Walk::Match
}

/// Whether some path that starts with `prefix` could match `pattern`.
fn could_extend(pattern: &str, prefix: &str) -> bool {
    matches!(walk(pattern, prefix), Walk::Match | Walk::PathEnded)
}

#[derive(PartialEq, Eq)]
enum Walk {
    Match,
    NoMatch,
    /// The path ran out while the pattern still had (matchable) characters.
    PathEnded,
}

fn walk(pattern: &str, path: &str) -> Walk {
    let mut pat = pattern.split('/').peekable();
    let mut segs = path.split('/').peekable();
    while let Some(p) = pat.next() {
        let last = pat.peek().is_none();
        let Some(s) = segs.next() else {
            return Walk::PathEnded;
        };
        let (p, glob) = match p.strip_suffix('*') {
            Some(stem) if last => (stem, true),
            _ => (p, false),
        };
        if glob {
            // `+*` = any segment then anything; `foo*` = segment starting with foo.
            return if p == "+" || s.starts_with(p) {
                Walk::Match
            } else if p.starts_with(s) && segs.peek().is_none() {
                Walk::PathEnded
            } else {
                Walk::NoMatch
            };
        }
        let seg_ok = p == "+" || p == s;
        if !seg_ok {
            return if segs.peek().is_none() && p.starts_with(s) {
                Walk::PathEnded
            } else {
                Walk::NoMatch
            };
        }
        if last {
            return if segs.peek().is_none() {
                Walk::Match
            } else {
                Walk::NoMatch
            };
        }
        if segs.peek().is_none() {
            return Walk::PathEnded;
        }
    }
    Walk::NoMatch
}
