//! Policy storage and the `sys/policy` / `sys/policies/acl` endpoints.
//!
//! Policies live under the store's view as `acl/<name>` (JSON `{"name","policy"}`), with an
//! in-memory cache of parsed policies that every write and delete invalidates. `root` is
//! built in and never stored; `default` is stored (and may be changed) but never deleted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sigil_storage::Page;

use super::acl::Acl;
use super::parse::Policy;
use crate::api::{ApiError, Operation, Request, Response};
use crate::view::{View, ViewOp, to_json};

/// The text of the built-in `default` policy: what every token needs to manage itself.
pub const DEFAULT_POLICY: &str = r#"# Built-in default policy: lets a token look up, renew and revoke itself, check its
# capabilities, use its cubbyhole, wrap and unwrap responses, and hash data.

path "auth/token/lookup-self" {
  capabilities = ["read"]
}

path "auth/token/renew-self" {
  capabilities = ["update"]
}

path "auth/token/revoke-self" {
  capabilities = ["update"]
}

path "sys/capabilities-self" {
  capabilities = ["update"]
}

path "sys/internal/ui/resultant-acl" {
  capabilities = ["read"]
}

path "sys/leases/renew" {
  capabilities = ["update"]
}

path "sys/leases/lookup" {
  capabilities = ["update"]
}

path "cubbyhole/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}

path "sys/wrapping/wrap" {
  capabilities = ["update"]
}

path "sys/wrapping/lookup" {
  capabilities = ["update"]
}

path "sys/wrapping/unwrap" {
  capabilities = ["update"]
}

path "sys/tools/hash" {
  capabilities = ["update"]
}

path "sys/tools/hash/*" {
  capabilities = ["update"]
}
"#;

/// The stored form of a policy.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    name: String,
    policy: String,
}

/// Stored ACL policies with a cache of their parsed form.
#[derive(Debug)]
pub struct PolicyStore {
    view: View,
    cache: Mutex<Cache>,
}

/// Parsed policies by name, with a generation bumped by every write and delete so that a
/// read that raced with one does not put a stale policy back.
#[derive(Debug, Default)]
struct Cache {
    generation: u64,
    policies: HashMap<String, Arc<Policy>>,
}

impl PolicyStore {
    /// A store over `view`.
    pub fn new(view: View) -> Self {
        Self {
            view,
            cache: Mutex::new(Cache::default()),
        }
    }

    /// Writes the `default` policy if it is absent.
    pub async fn ensure_default(&self) -> Result<(), ApiError> {
        if self.view.get(&key("default")).await?.is_none() {
            self.write(Policy::parse("default", DEFAULT_POLICY)?)
                .await?;
        }
        Ok(())
    }

    /// The parsed policy `name` (lower-cased), if stored. `root` has no stored form: `None`.
    pub async fn get(&self, name: &str) -> Result<Option<Arc<Policy>>, ApiError> {
        let name = name.to_lowercase();
        if name == "root" || check_name(&name).is_err() {
            return Ok(None);
        }
        let generation = {
            let cache = self.lock()?;
            if let Some(p) = cache.policies.get(&name) {
                return Ok(Some(p.clone()));
            }
            cache.generation
        };
        let Some(stored) = self.view.get_json::<Stored>(&key(&name)).await? else {
            return Ok(None);
        };
        let policy = Arc::new(Policy::parse(&name, &stored.policy).map_err(|e| {
            ApiError::internal(format!("stored policy {name:?} no longer parses: {e}"))
        })?);
        let mut cache = self.lock()?;
        if cache.generation == generation {
            cache.policies.insert(name, policy.clone());
        }
        Ok(Some(policy))
    }

    /// The ACL of a token holding `names`: unknown names are skipped; `root` gives root.
    pub async fn acl_for(&self, names: &[String]) -> Result<Acl, ApiError> {
        if names.iter().any(|n| n.eq_ignore_ascii_case("root")) {
            return Ok(Acl::root());
        }
        let mut policies = Vec::with_capacity(names.len());
        for name in names {
            if let Some(p) = self.get(name).await? {
                policies.push(p);
            }
        }
        Ok(Acl::new(&policies))
    }

    /// Serves `sys/<sub>` for `sub` in `policy`, `policy/<name>`, `policies/acl`,
    /// `policies/acl/<name>`.
    pub async fn handle(&self, req: &Request, sub: &str) -> Result<Response, ApiError> {
        let (legacy, name) = match sub.trim_end_matches('/') {
            "policy" => (true, None),
            "policies/acl" => (false, None),
            s => match (s.strip_prefix("policy/"), s.strip_prefix("policies/acl/")) {
                (Some(n), _) => (true, Some(n)),
                (_, Some(n)) => (false, Some(n)),
                _ => return Err(ApiError::UnsupportedPath),
            },
        };
        let Some(name) = name else {
            return match (legacy, req.operation) {
                (true, Operation::Read | Operation::List) => {
                    let keys = self.names().await?;
                    Ok(Response::json(json!({"policies": keys, "keys": keys})))
                }
                (false, Operation::List) => {
                    Ok(Response::json(json!({"keys": self.names().await?})))
                }
                _ => Err(ApiError::UnsupportedOperation),
            };
        };
        let given = name;
        let lower = given.to_lowercase();
        check_name(&lower)?;
        let name = lower.as_str();
        match req.operation {
            Operation::Read => self.read(name, legacy).await,
            Operation::Create | Operation::Update => {
                let mut resp = Response::empty();
                if self.put(name, &req.data, legacy).await? {
                    resp = resp.warn("'rules' is deprecated, please use 'policy' instead");
                }
                if name != given {
                    resp = resp.warn(format!("policy name was converted to {name}"));
                }
                Ok(resp)
            }
            Operation::Delete => {
                self.delete(name).await?;
                Ok(Response::empty())
            }
            _ => Err(ApiError::UnsupportedOperation),
        }
    }

    async fn read(&self, name: &str, legacy: bool) -> Result<Response, ApiError> {
        // The root policy has no text: like Vault, it reads as an empty policy.
        let raw = if name == "root" {
            String::new()
        } else {
            let Some(policy) = self.get(name).await? else {
                return Err(ApiError::NotFound);
            };
            policy.raw.clone()
        };
        let field = if legacy { "rules" } else { "policy" };
        let mut data = Map::new();
        data.insert("name".to_owned(), Value::String(name.to_owned()));
        data.insert(field.to_owned(), Value::String(raw));
        Ok(Response::data(data))
    }

    /// Parses and stores a policy from a request body; returns whether the deprecated
    /// `rules` field was used.
    async fn put(
        &self,
        name: &str,
        data: &Map<String, Value>,
        legacy: bool,
    ) -> Result<bool, ApiError> {
        if name == "root" {
            return Err(ApiError::bad("cannot update \"root\" policy"));
        }
        let text = match (data.get("policy"), data.get("rules").filter(|_| legacy)) {
            (Some(Value::String(s)), _) | (None, Some(Value::String(s))) => s.as_str(),
            (Some(_), _) | (None, Some(_)) => {
                return Err(ApiError::bad("'policy' must be a string"));
            }
            (None, None) => "",
        };
        if text.trim().is_empty() {
            return Err(ApiError::bad("'policy' parameter not supplied or empty"));
        }
        let policy = Policy::parse_maybe_base64(name, text)?;
        self.write(policy).await?;
        Ok(!data.contains_key("policy"))
    }

    async fn write(&self, policy: Policy) -> Result<(), ApiError> {
        let stored = Stored {
            name: policy.name.clone(),
            policy: policy.raw.clone(),
        };
        self.invalidate(&policy.name)?;
        self.view
            .transaction(vec![ViewOp::Put(key(&policy.name), to_json(&stored)?)])
            .await?;
        // Invalidated again rather than filled: two racing writers could otherwise leave
        // the older policy cached. The next `get` parses the stored text.
        self.invalidate(&policy.name)
    }

    async fn delete(&self, name: &str) -> Result<(), ApiError> {
        match name {
            "root" => return Err(ApiError::bad("cannot delete \"root\" policy")),
            "default" => return Err(ApiError::bad("cannot delete default policy")),
            _ => {}
        }
        self.invalidate(name)?;
        self.view.delete(&key(name)).await?;
        self.invalidate(name)
    }

    /// Stored names plus `root`, sorted.
    async fn names(&self) -> Result<Vec<String>, ApiError> {
        let mut names = self.view.list("acl/", Page::default()).await?;
        names.retain(|n| !n.ends_with('/'));
        names.push("root".to_owned());
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn invalidate(&self, name: &str) -> Result<(), ApiError> {
        let mut cache = self.lock()?;
        cache.generation += 1;
        cache.policies.remove(name);
        Ok(())
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Cache>, ApiError> {
        self.cache
            .lock()
            .map_err(|_| ApiError::internal("policy cache lock poisoned"))
    }
}

fn key(name: &str) -> String {
    format!("acl/{name}")
}

/// Policy names: 1–128 characters of `a-z 0-9 - _ . @` (after lower-casing).
fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad(format!(
            "invalid policy name {name:?}: use letters, digits, '-', '_', '.' or '@'"
        )))
    }
}
