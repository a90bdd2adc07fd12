//! Registration entries: which workloads get which SPIFFE ID. An entry names the SPIFFE ID
//! to issue, the parent (the agent, or another entry's ID, under which it applies), the
//! selectors a caller must all have (`unix:uid:1000`, ...), lifetimes, DNS names, the trust
//! domains its SVIDs federate with, and optional admin flag, hint and expiry — SPIRE's entry
//! model. Parsing is pure and checks every field before anything is stored.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sigil_core::spiffe::{SpiffeId, TrustDomain};

use crate::api::{ApiError, bool_field, duration_field, field_str, strings_field, u64_field};
use crate::pki::is_hostname;

/// The most selectors, DNS names or federated trust domains one entry may list.
const MAX_LIST: usize = 64;
/// The longest selector (`type:value`).
const MAX_SELECTOR: usize = 1024;
/// The longest hint (the Workload API says values over 1024 bytes should not be supported).
const MAX_HINT: usize = 1024;

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Entry {
    /// A UUID.
    pub id: String,
    /// The SPIFFE ID issued to matching workloads.
    pub spiffe_id: SpiffeId,
    /// Under whom the entry applies: an agent's ID, or another entry's SPIFFE ID.
    pub parent_id: SpiffeId,
    /// `type:value` pairs, sorted and distinct; a caller must have every one.
    pub selectors: BTreeSet<String>,
    /// Seconds; 0 = the trust domain's default.
    pub x509_svid_ttl: u64,
    /// Seconds; 0 = the trust domain's default.
    pub jwt_svid_ttl: u64,
    /// DNS SANs for its X509-SVIDs.
    pub dns_names: Vec<String>,
    /// Trust domains whose bundles its workloads receive.
    pub federates_with: BTreeSet<TrustDomain>,
    /// Its workloads may call the server's admin API.
    pub admin: bool,
    /// Tells a workload holding several SVIDs which is which.
    pub hint: String,
    /// Unix seconds after which the entry no longer applies; 0 = never.
    pub expires_at: u64,
}

fn spiffe_field(data: &Map<String, Value>, key: &str) -> Result<Option<SpiffeId>, ApiError> {
    field_str(data, key)
        .map(|t| SpiffeId::parse(&t).map_err(|e| ApiError::bad(format!("{key}: {e}"))))
        .transpose()
}

fn list(data: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>, ApiError> {
    let items = strings_field(data, key)?;
    if items.as_ref().is_some_and(|l| l.len() > MAX_LIST) {
        return Err(ApiError::bad(format!("{key}: at most {MAX_LIST} entries")));
    }
    Ok(items)
}

fn selectors(items: Vec<String>) -> Result<BTreeSet<String>, ApiError> {
    items
        .into_iter()
        .map(|s| {
            let ok = s.len() <= MAX_SELECTOR
                && s.split_once(':')
                    .is_some_and(|(kind, value)| !kind.is_empty() && !value.is_empty());
            if ok {
                Ok(s)
            } else {
                Err(ApiError::bad(format!(
                    "selectors: {s:?} is not type:value (at most {MAX_SELECTOR} bytes)"
                )))
            }
        })
        .collect()
}

impl Entry {
    /// Applies a request body over `base` (a new entry's defaults, or the stored entry on
    /// update), checking every field against the trust domain.
    pub(super) fn from_body(
        data: &Map<String, Value>,
        mut base: Self,
        td: &TrustDomain,
    ) -> Result<Self, ApiError> {
        if let Some(id) = spiffe_field(data, "spiffe_id")? {
            base.spiffe_id = id;
        }
        if let Some(id) = spiffe_field(data, "parent_id")? {
            base.parent_id = id;
        }
        if let Some(items) = list(data, "selectors")? {
            base.selectors = selectors(items)?;
        }
        if let Some(t) = duration_field(data, "x509_svid_ttl")? {
            base.x509_svid_ttl = t;
        }
        if let Some(t) = duration_field(data, "jwt_svid_ttl")? {
            base.jwt_svid_ttl = t;
        }
        if let Some(names) = list(data, "dns_names")? {
            if let Some(bad) = names.iter().find(|n| !is_hostname(n)) {
                return Err(ApiError::bad(format!(
                    "dns_names: {bad:?} is not a DNS name"
                )));
            }
            base.dns_names = names;
        }
        if let Some(tds) = list(data, "federates_with")? {
            base.federates_with = tds
                .iter()
                .map(|t| {
                    TrustDomain::parse(t).map_err(|e| ApiError::bad(format!("federates_with: {e}")))
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(admin) = bool_field(data, "admin")? {
            base.admin = admin;
        }
        if let Some(hint) = field_str(data, "hint") {
            base.hint = hint;
        }
        if let Some(at) = u64_field(data, "expires_at")? {
            base.expires_at = at;
        }
        base.check(td)?;
        Ok(base)
    }

    fn check(&self, td: &TrustDomain) -> Result<(), ApiError> {
        if !self.spiffe_id.is_member_of(td) || self.spiffe_id.path().is_empty() {
            return Err(ApiError::bad(format!(
                "spiffe_id must be a workload ID in {td} (spiffe://{td}/...)"
            )));
        }
        if !self.parent_id.is_member_of(td) || self.parent_id.path().is_empty() {
            return Err(ApiError::bad(format!(
                "parent_id must be an agent's or an entry's ID in {td}"
            )));
        }
        if self.selectors.is_empty() {
            return Err(ApiError::bad("selectors: at least one is required"));
        }
        if self.federates_with.contains(td) {
            return Err(ApiError::bad(
                "federates_with: a trust domain does not federate with itself",
            ));
        }
        if self.hint.len() > MAX_HINT {
            return Err(ApiError::bad(format!("hint: at most {MAX_HINT} bytes")));
        }
        Ok(())
    }

    /// Whether the entry still applies at `now` (Unix seconds).
    pub(super) fn live(&self, now: i64) -> bool {
        self.expires_at == 0 || i64::try_from(self.expires_at).is_ok_and(|e| e > now)
    }

    /// A fresh entry with no fields yet (every required one is checked by `from_body`).
    pub(super) fn blank(id: String, td: &TrustDomain) -> Self {
        Self {
            id,
            spiffe_id: td.id(),
            parent_id: td.id(),
            selectors: BTreeSet::new(),
            x509_svid_ttl: 0,
            jwt_svid_ttl: 0,
            dns_names: Vec::new(),
            federates_with: BTreeSet::new(),
            admin: false,
            hint: String::new(),
            expires_at: 0,
        }
    }

    /// The entry as the API shows it.
    pub(super) fn to_data(&self) -> Map<String, Value> {
        match json!(self) {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn td() -> TrustDomain {
        TrustDomain::parse("example.org").unwrap()
    }

    fn body(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn good() -> Value {
        json!({
            "spiffe_id": "spiffe://example.org/web",
            "parent_id": "spiffe://example.org/sigil/agent/join_token/abc",
            "selectors": ["unix:uid:1000", "unix:uid:1000", "unix:gid:1000"],
        })
    }

    #[test]
    fn a_good_body_parses_with_sorted_distinct_selectors() {
        let e = Entry::from_body(&body(good()), Entry::blank("x".into(), &td()), &td()).unwrap();
        assert_eq!(
            e.selectors.iter().collect::<Vec<_>>(),
            ["unix:gid:1000", "unix:uid:1000"]
        );
        assert_eq!(e.to_data()["spiffe_id"], json!("spiffe://example.org/web"));
    }

    #[test]
    fn every_bad_field_is_named() {
        for (field, value, want) in [
            (
                "spiffe_id",
                json!("spiffe://other.org/web"),
                "spiffe_id must be",
            ),
            (
                "spiffe_id",
                json!("spiffe://example.org"),
                "spiffe_id must be",
            ),
            ("spiffe_id", json!("spiffe://example.org/a/"), "spiffe_id:"),
            (
                "parent_id",
                json!("spiffe://other.org/agent"),
                "parent_id must be",
            ),
            ("selectors", json!([]), "at least one"),
            ("selectors", json!(["unix"]), "type:value"),
            ("selectors", json!(["unix:"]), "type:value"),
            ("selectors", json!([":1000"]), "type:value"),
            ("selectors", json!(vec!["a:b"; 65]), "at most 64"),
            ("dns_names", json!(["not a name"]), "not a DNS name"),
            ("federates_with", json!(["Other.org"]), "federates_with"),
            ("federates_with", json!(["example.org"]), "itself"),
            ("hint", json!("h".repeat(1025)), "hint"),
            ("admin", json!("maybe"), "boolean"),
            ("x509_svid_ttl", json!("soon"), "invalid duration"),
            ("expires_at", json!(-1), "expires_at"),
        ] {
            let mut b = body(good());
            b.insert(field.into(), value.clone());
            let got = Entry::from_body(&b, Entry::blank("x".into(), &td()), &td());
            match got {
                Err(ApiError::BadRequest(m)) => {
                    assert!(m[0].contains(want), "{field}={value}: {m:?}");
                }
                other => panic!("{field}={value}: {other:?}"),
            }
        }
    }
}
