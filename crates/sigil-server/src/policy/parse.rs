//! Parsing policies: HCL (through hcl-rs) or JSON into the same structure, with every unknown
//! key or capability refused by name.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use sigil_core::encoding::Encoding;

use crate::api::ApiError;

/// Largest policy text accepted.
const MAX_POLICY_LEN: usize = 1024 * 1024;

/// One capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    /// Write to a path with nothing stored.
    Create,
    /// Read.
    Read,
    /// Write to a path with something stored.
    Update,
    /// PATCH.
    Patch,
    /// Delete.
    Delete,
    /// List.
    List,
    /// Root-protected paths, in addition to the operation's capability.
    Sudo,
    /// Refuses everything, whatever else is granted.
    Deny,
    /// OpenBao's recursive list (accepted; Sigil has no SCAN).
    Scan,
    /// Event subscriptions (accepted; unused).
    Subscribe,
    /// Snapshot recovery (accepted; unused).
    Recover,
}

impl Capability {
    const ALL: [(Self, &'static str); 11] = [
        (Self::Create, "create"),
        (Self::Read, "read"),
        (Self::Update, "update"),
        (Self::Patch, "patch"),
        (Self::Delete, "delete"),
        (Self::List, "list"),
        (Self::Sudo, "sudo"),
        (Self::Deny, "deny"),
        (Self::Scan, "scan"),
        (Self::Subscribe, "subscribe"),
        (Self::Recover, "recover"),
    ];

    /// The name used in policies.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(c, _)| *c == self)
            .map_or("deny", |(_, n)| n)
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(c, _)| *c)
    }

    /// The bit of this capability in a capability set.
    pub const fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// One `path` block.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rule {
    /// The pattern as written.
    pub pattern: String,
    /// Capability bits.
    pub caps: u16,
    /// `allowed_parameters`: key → allowed values (empty = any value).
    pub allowed: BTreeMap<String, Vec<Value>>,
    /// `denied_parameters`: key → denied values (empty = any value).
    pub denied: BTreeMap<String, Vec<Value>>,
    /// `required_parameters`.
    pub required: Vec<String>,
}

/// A parsed policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Lower-case name.
    pub name: String,
    /// The text as given (returned by reads).
    pub raw: String,
    /// The path rules.
    pub rules: Vec<Rule>,
}

impl Policy {
    /// Parses HCL or JSON policy text (base64 of either is accepted, as `sys/policies/acl`
    /// allows).
    pub fn parse(name: &str, text: &str) -> Result<Self, ApiError> {
        if text.len() > MAX_POLICY_LEN {
            return Err(ApiError::bad("policy is too large"));
        }
        let text = decode_base64_policy(text).unwrap_or_else(|| text.to_owned());
        let doc = parse_document(&text)?;
        let Value::Object(top) = doc else {
            return Err(ApiError::bad("failed to parse policy: not an object"));
        };
        let mut rules = Vec::new();
        for (key, value) in top {
            match key.as_str() {
                "path" => {
                    let Value::Object(paths) = value else {
                        return Err(ApiError::bad(
                            "failed to parse policy: path blocks need a label",
                        ));
                    };
                    for (pattern, body) in paths {
                        // A pattern given twice in one policy arrives as a list of bodies.
                        let bodies = match body {
                            Value::Array(items) => items,
                            other => vec![other],
                        };
                        for body in bodies {
                            rules.push(parse_rule(&pattern, &body)?);
                        }
                    }
                }
                "name" => {}
                other => {
                    return Err(ApiError::bad(format!(
                        "failed to parse policy: unknown key {other:?}"
                    )));
                }
            }
        }
        Ok(Self {
            name: name.to_owned(),
            raw: text,
            rules,
        })
    }
}

fn parse_document(text: &str) -> Result<Value, ApiError> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{')
        && let Ok(v) = serde_json::from_str::<Value>(text)
    {
        return Ok(v);
    }
    hcl::from_str::<Value>(text).map_err(|e| {
        let msg = e.to_string();
        let first = msg.lines().next().unwrap_or("syntax error");
        ApiError::bad(format!("failed to parse policy: {first}"))
    })
}

fn decode_base64_policy(text: &str) -> Option<String> {
    let t = text.trim();
    if t.is_empty() || t.contains(['{', '"', ' ', '\n']) {
        return None;
    }
    let bytes = Encoding::Base64.decode(t).ok()?;
    String::from_utf8(bytes).ok()
}

fn parse_rule(pattern: &str, body: &Value) -> Result<Rule, ApiError> {
    let bad = |m: String| ApiError::bad(format!("failed to parse policy: path {pattern:?}: {m}"));
    if pattern.contains("{{") {
        return Err(bad("templated paths are not supported".into()));
    }
    if let Some(i) = pattern.find('*')
        && i + 1 != pattern.len()
    {
        return Err(bad("'*' is only allowed as the last character".into()));
    }
    let Value::Object(body) = body else {
        return Err(bad("the block must be an object".into()));
    };
    let mut rule = Rule {
        pattern: pattern.trim_start_matches('/').to_owned(),
        ..Rule::default()
    };
    for (key, value) in body {
        match key.as_str() {
            "capabilities" => {
                let Value::Array(items) = value else {
                    return Err(bad("capabilities must be a list".into()));
                };
                for item in items {
                    let name = item.as_str().unwrap_or_default();
                    let cap = Capability::parse(name)
                        .ok_or_else(|| bad(format!("unknown capability {name:?}")))?;
                    rule.caps |= cap.bit();
                }
            }
            "policy" => {
                // Vault's older shorthand: read, write, deny, sudo, list.
                let caps: &[Capability] = match value.as_str().unwrap_or_default() {
                    "deny" => &[Capability::Deny],
                    "read" => &[Capability::Read, Capability::List],
                    "write" => &[
                        Capability::Read,
                        Capability::List,
                        Capability::Create,
                        Capability::Update,
                        Capability::Delete,
                    ],
                    "sudo" => &[
                        Capability::Read,
                        Capability::List,
                        Capability::Create,
                        Capability::Update,
                        Capability::Delete,
                        Capability::Sudo,
                    ],
                    other => return Err(bad(format!("unknown policy {other:?}"))),
                };
                for c in caps {
                    rule.caps |= c.bit();
                }
            }
            "allowed_parameters" => rule.allowed = parameters(value).map_err(bad)?,
            "denied_parameters" => rule.denied = parameters(value).map_err(bad)?,
            "required_parameters" => {
                let Value::Array(items) = value else {
                    return Err(bad("required_parameters must be a list".into()));
                };
                rule.required = items
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| bad("required_parameters must be strings".into()))?;
            }
            "min_wrapping_ttl" | "max_wrapping_ttl" | "expiration" | "comment"
            | "control_group" | "mfa_methods" => {}
            other => return Err(bad(format!("unknown key {other:?}"))),
        }
    }
    Ok(rule)
}

fn parameters(value: &Value) -> Result<BTreeMap<String, Vec<Value>>, String> {
    let Value::Object(map) = value else {
        return Err("parameters must be a map of lists".into());
    };
    let mut out = BTreeMap::new();
    for (k, v) in map {
        let values = match v {
            Value::Array(items) => items.clone(),
            Value::Null => Vec::new(),
            other => vec![other.clone()],
        };
        out.insert(k.clone(), values);
    }
    Ok(out)
}

/// The names of the capabilities in `caps`, sorted.
pub(crate) fn cap_names(caps: u16) -> Vec<String> {
    let mut names: Vec<String> = Capability::ALL
        .iter()
        .filter(|(c, _)| caps & c.bit() != 0)
        .map(|(_, n)| (*n).to_owned())
        .collect();
    names.sort();
    names
}

/// Reads the policy text from a request body (`policy`, or the legacy `rules`).
pub(crate) fn text_from(data: &Map<String, Value>) -> Result<String, ApiError> {
    for key in ["policy", "rules"] {
        match data.get(key) {
            Some(Value::String(s)) => return Ok(s.clone()),
            Some(Value::Null) | None => {}
            Some(_) => return Err(ApiError::bad(format!("{key} must be a string"))),
        }
    }
    Err(ApiError::bad("'policy' parameter not supplied or empty"))
}
