//! Parsing Vault ACL policies from HCL or JSON into [`Policy`]: a list of [`PathRule`]s.
//!
//! Parsing is strict: unknown capabilities, unknown keys and misplaced globs are refused
//! with a message naming them, so a typo never silently grants less (or more) than meant.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::api::ApiError;

/// One capability a path rule can grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Capability {
    /// Write to a path with no entry.
    Create,
    /// Read.
    Read,
    /// Write to a path with an entry.
    Update,
    /// JSON merge patch.
    Patch,
    /// Delete.
    Delete,
    /// List.
    List,
    /// Root-protected paths, in addition to the operation's capability.
    Sudo,
    /// Overrides every other capability on the path.
    Deny,
    /// OpenBao's recursive list; accepted, not used by any operation here.
    Scan,
    /// OpenBao's event subscription; accepted, not used by any operation here.
    Subscribe,
    /// OpenBao's recovery capability; accepted, not used by any operation here.
    Recover,
}

impl Capability {
    /// Every capability, in bit order.
    pub const ALL: [Self; 11] = [
        Self::Create,
        Self::Read,
        Self::Update,
        Self::Patch,
        Self::Delete,
        Self::List,
        Self::Sudo,
        Self::Deny,
        Self::Scan,
        Self::Subscribe,
        Self::Recover,
    ];

    /// The name used in policies and in `sys/capabilities-self`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Read => "read",
            Self::Update => "update",
            Self::Patch => "patch",
            Self::Delete => "delete",
            Self::List => "list",
            Self::Sudo => "sudo",
            Self::Deny => "deny",
            Self::Scan => "scan",
            Self::Subscribe => "subscribe",
            Self::Recover => "recover",
        }
    }

    /// Parses a capability name (case-sensitive, as in OpenBao).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    pub(crate) const fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// The rule of one `path "<pattern>" { ... }` block.
#[derive(Debug, Clone, PartialEq)]
pub struct PathRule {
    /// The pattern: literal, `+` for one segment, `*` as the last character for a prefix.
    pub pattern: String,
    /// Granted capabilities as a bit set of [`Capability::bit`].
    pub(crate) caps: u16,
    /// Allowed parameters (lower-cased keys) and their allowed values (empty = any).
    pub allowed_parameters: BTreeMap<String, Vec<Value>>,
    /// Denied parameters (lower-cased keys) and their denied values (empty = any).
    pub denied_parameters: BTreeMap<String, Vec<Value>>,
    /// Parameters that must be present (lower-cased).
    pub required_parameters: Vec<String>,
}

impl PathRule {
    /// Whether the rule grants `cap`.
    pub fn has(&self, cap: Capability) -> bool {
        self.caps & cap.bit() != 0
    }
}

/// A parsed, named policy with the text it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// The policy's (lower-case) name.
    pub name: String,
    /// The text as written, returned by reads.
    pub raw: String,
    /// The rules in the order written.
    pub rules: Vec<PathRule>,
}

impl Policy {
    /// Parses `text` (HCL or JSON) as policy `name`. Errors are 400s naming what is wrong.
    pub fn parse(name: &str, text: &str) -> Result<Self, ApiError> {
        let blocks = if text.trim_start().starts_with('{') {
            json_blocks(text)?
        } else {
            hcl_blocks(text)?
        };
        let rules = blocks
            .into_iter()
            .map(|(pattern, body)| rule(pattern, &body))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            name: name.to_owned(),
            raw: text.to_owned(),
            rules,
        })
    }

    /// Parses `text`, first decoding it when it is valid base64 of UTF-8 that parses
    /// (`sys/policies/acl` accepts base64-encoded policies).
    pub fn parse_maybe_base64(name: &str, text: &str) -> Result<Self, ApiError> {
        if let Some(decoded) = sigil_core::encoding::base64_decode(text.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            && let Ok(policy) = Self::parse(name, &decoded)
        {
            return Ok(policy);
        }
        Self::parse(name, text)
    }
}

/// Pattern and body of each `path` block, in the order written.
type Blocks = Vec<(String, Map<String, Value>)>;

fn bad(msg: impl std::fmt::Display) -> ApiError {
    ApiError::bad(format!("failed to parse policy: {msg}"))
}

fn hcl_blocks(text: &str) -> Result<Blocks, ApiError> {
    let body = hcl::parse(text).map_err(bad)?;
    if let Some(attr) = body.attributes().find(|a| a.key() != "name") {
        return Err(bad(format!("invalid key {:?} at top level", attr.key())));
    }
    let mut out = Vec::new();
    for block in body.blocks() {
        if block.identifier() != "path" {
            return Err(bad(format!(
                "invalid key {:?} at top level",
                block.identifier()
            )));
        }
        let [label] = block.labels() else {
            return Err(bad("a path block takes exactly one pattern"));
        };
        if let Some(inner) = block.body().blocks().next() {
            return Err(bad(format!(
                "path {:?}: invalid key {:?}",
                label.as_str(),
                inner.identifier()
            )));
        }
        let mut map = Map::new();
        for attr in block.body().attributes() {
            let value = hcl::Value::from(attr.expr().clone());
            let value = serde_json::to_value(value).map_err(bad)?;
            map.insert(attr.key().to_owned(), value);
        }
        out.push((label.as_str().to_owned(), map));
    }
    Ok(out)
}

fn json_blocks(text: &str) -> Result<Blocks, ApiError> {
    let top: Map<String, Value> = serde_json::from_str(text).map_err(bad)?;
    let mut out = Vec::new();
    for (key, value) in top {
        match (key.as_str(), value) {
            ("name", _) => {}
            ("path", Value::Object(paths)) => json_paths(paths, &mut out)?,
            ("path", Value::Array(list)) => {
                for item in list {
                    let Value::Object(paths) = item else {
                        return Err(bad("\"path\" must be an object of patterns"));
                    };
                    json_paths(paths, &mut out)?;
                }
            }
            ("path", _) => return Err(bad("\"path\" must be an object of patterns")),
            (other, _) => return Err(bad(format!("invalid key {other:?} at top level"))),
        }
    }
    Ok(out)
}

fn json_paths(paths: Map<String, Value>, out: &mut Blocks) -> Result<(), ApiError> {
    for (pattern, body) in paths {
        let Value::Object(body) = body else {
            return Err(bad(format!("path {pattern:?}: body must be an object")));
        };
        out.push((pattern, body));
    }
    Ok(())
}

fn rule(pattern: String, body: &Map<String, Value>) -> Result<PathRule, ApiError> {
    check_pattern(&pattern)?;
    let mut rule = PathRule {
        pattern,
        caps: 0,
        allowed_parameters: BTreeMap::new(),
        denied_parameters: BTreeMap::new(),
        required_parameters: Vec::new(),
    };
    let at = |m: &str| bad(format!("path {:?}: {m}", rule.pattern));
    for (key, value) in body {
        match key.as_str() {
            "capabilities" => {
                for name in string_list(value)
                    .ok_or_else(|| at("capabilities must be a list of strings"))?
                {
                    let cap = Capability::from_name(&name)
                        .ok_or_else(|| at(&format!("invalid capability {name:?}")))?;
                    rule.caps |= cap.bit();
                }
            }
            "allowed_parameters" | "denied_parameters" => {
                let Value::Object(map) = value else {
                    return Err(at(&format!("{key} must be a map of lists")));
                };
                let mut params = BTreeMap::new();
                for (param, values) in map {
                    let values = match values {
                        Value::Array(v) => v.clone(),
                        Value::Null => Vec::new(),
                        _ => return Err(at(&format!("{key}.{param} must be a list"))),
                    };
                    params.insert(param.to_lowercase(), values);
                }
                if key == "allowed_parameters" {
                    rule.allowed_parameters = params;
                } else {
                    rule.denied_parameters = params;
                }
            }
            "required_parameters" => {
                rule.required_parameters = string_list(value)
                    .ok_or_else(|| at("required_parameters must be a list of strings"))?
                    .into_iter()
                    .map(|p| p.to_lowercase())
                    .collect();
            }
            // The pre-0.2 form `policy = "read"`, still accepted by Vault and OpenBao.
            "policy" => {
                use Capability::{Create, Delete, Deny, List, Read, Sudo, Update};
                let caps: &[Capability] = match value.as_str() {
                    Some("deny") => &[Deny],
                    Some("read") => &[Read, List],
                    Some("write") => &[Create, Read, Update, Delete, List],
                    Some("sudo") => &[Create, Read, Update, Delete, List, Sudo],
                    _ => return Err(at(&format!("invalid policy {value}"))),
                };
                rule.caps |= caps.iter().fold(0, |acc, c| acc | c.bit());
            }
            // Accepted and ignored: wrapping limits, OpenBao's expiration and comment.
            "min_wrapping_ttl" | "max_wrapping_ttl" | "expiration" | "comment" => {}
            other => return Err(at(&format!("invalid key {other:?}"))),
        }
    }
    // Deny overrides everything else in the rule.
    if rule.has(Capability::Deny) {
        rule.caps = Capability::Deny.bit();
    }
    Ok(rule)
}

fn string_list(value: &Value) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect()
}

fn check_pattern(pattern: &str) -> Result<(), ApiError> {
    let body = pattern.strip_suffix('*').unwrap_or(pattern);
    if body.contains('*') {
        return Err(bad(format!(
            "path {pattern:?}: '*' is only allowed as the last character"
        )));
    }
    if pattern
        .split('/')
        .any(|seg| seg.contains('+') && seg != "+" && seg != "+*")
    {
        return Err(bad(format!(
            "path {pattern:?}: '+' must be a whole path segment"
        )));
    }
    Ok(())
}
