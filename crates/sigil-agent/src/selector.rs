//! Selectors: the facts a workload attestor established about a caller (`unix:uid:1000`),
//! and the sets an entry requires.
//!
//! An entry applies to a caller when every one of the entry's selectors is among the
//! caller's. An empty requirement would apply to every caller, so a [`SelectorSet`] for an
//! entry cannot be empty (see [`crate::cache::Entry::new`]).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// One selector: an attestor kind (`unix`) and a value that may itself contain `:`
/// (`uid:1000`, `path:/usr/bin/app`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Selector {
    kind: String,
    value: String,
}

impl Selector {
    /// A selector of `kind` (no `:`, not empty) with `value` (not empty).
    pub fn new(kind: &str, value: impl Into<String>) -> Result<Self, Error> {
        let value = value.into();
        if kind.is_empty() || kind.contains(':') || value.is_empty() {
            return Err(Error::BadSelector(format!("{kind}:{value}")));
        }
        Ok(Self {
            kind: kind.to_owned(),
            value,
        })
    }

    /// The attestor kind (`unix`).
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The value after the kind (`uid:1000`).
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl FromStr for Selector {
    type Err = Error;

    /// Parses `kind:value`, splitting at the first `:`.
    fn from_str(text: &str) -> Result<Self, Error> {
        let (kind, value) = text
            .split_once(':')
            .ok_or_else(|| Error::BadSelector(text.to_owned()))?;
        Self::new(kind, value)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}

/// A set of selectors: what an attestor found for a caller, or what an entry requires.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectorSet(BTreeSet<Selector>);

impl SelectorSet {
    /// Whether every selector of `self` is also in `caller`.
    pub fn is_subset_of(&self, caller: &Self) -> bool {
        self.0.is_subset(&caller.0)
    }

    /// Whether the set holds no selector.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the set holds `selector`.
    pub fn contains(&self, selector: &Selector) -> bool {
        self.0.contains(selector)
    }

    /// Adds a selector.
    pub fn insert(&mut self, selector: Selector) {
        self.0.insert(selector);
    }

    /// The selectors, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &Selector> {
        self.0.iter()
    }
}

impl FromIterator<Selector> for SelectorSet {
    fn from_iter<I: IntoIterator<Item = Selector>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> SelectorSet {
        items.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn parse_splits_at_the_first_colon() {
        let s: Selector = "unix:path:/usr/bin/a:b".parse().unwrap();
        assert_eq!(s.kind(), "unix");
        assert_eq!(s.value(), "path:/usr/bin/a:b");
        assert_eq!(s.to_string(), "unix:path:/usr/bin/a:b");
        for bad in ["unix", ":uid:1", "unix:", ""] {
            assert!(bad.parse::<Selector>().is_err(), "{bad}");
        }
    }

    #[test]
    fn subset() {
        let caller = set(&["unix:uid:1000", "unix:gid:1000", "unix:user:app"]);
        assert!(set(&["unix:uid:1000"]).is_subset_of(&caller));
        assert!(set(&["unix:uid:1000", "unix:user:app"]).is_subset_of(&caller));
        assert!(caller.is_subset_of(&caller));
        assert!(!set(&["unix:uid:1000", "unix:gid:0"]).is_subset_of(&caller));
        assert!(!set(&["unix:uid:0"]).is_subset_of(&caller));
        // Kind and value are compared whole: no prefix or case folding.
        assert!(!set(&["unix:uid:100"]).is_subset_of(&caller));
        assert!(!set(&["UNIX:uid:1000"]).is_subset_of(&caller));
        assert!(!set(&["k8s:uid:1000"]).is_subset_of(&caller));
    }
}
