//! Stored policies and the `sys/policy` / `sys/policies/acl` endpoints. Parsed policies are
//! cached; a write or delete replaces the cache entry after storage accepted it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::parse::text_from;
use super::{Acl, DEFAULT_POLICY, Policy};
use crate::api::{ApiError, Operation, Request, Response};
use crate::view::View;

/// Longest policy name.
const MAX_NAME_LEN: usize = 128;

#[derive(Serialize, Deserialize)]
struct Stored {
    name: String,
    policy: String,
}

/// The policy store over its view (`acl/<name>`).
pub struct PolicyStore {
    view: View,
    cache: RwLock<HashMap<String, Arc<Policy>>>,
}

impl std::fmt::Debug for PolicyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyStore").finish_non_exhaustive()
    }
}

impl PolicyStore {
    /// A store over `view`.
    pub fn new(view: View) -> Self {
        Self {
            view,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// Writes the built-in `default` policy if it is not stored yet.
    pub async fn ensure_default(&self) -> Result<(), ApiError> {
        if self.view.get("acl/default").await?.is_none() {
            self.put("default", DEFAULT_POLICY).await?;
        }
        Ok(())
    }

    /// A policy by name.
    pub async fn get(&self, name: &str) -> Result<Option<Arc<Policy>>, ApiError> {
        if let Some(p) = self.cache.read().ok().and_then(|c| c.get(name).cloned()) {
            return Ok(Some(p));
        }
        let Some(stored) = self.view.get_json::<Stored>(&format!("acl/{name}")).await? else {
            return Ok(None);
        };
        let policy = Arc::new(Policy::parse(&stored.name, &stored.policy)?);
        if let Ok(mut c) = self.cache.write() {
            c.insert(name.to_owned(), Arc::clone(&policy));
        }
        Ok(Some(policy))
    }

    /// The ACL for a token's policy names (unknown names are skipped; `root` is everything).
    pub async fn acl_for(&self, names: &[String]) -> Result<Acl, ApiError> {
        if names.iter().any(|n| n == "root") {
            return Ok(Acl::root());
        }
        let mut policies = Vec::with_capacity(names.len());
        for n in names {
            if let Some(p) = self.get(n).await? {
                policies.push(p);
            }
        }
        Ok(Acl::new(&policies))
    }

    async fn put(&self, name: &str, text: &str) -> Result<(), ApiError> {
        let policy = Arc::new(Policy::parse(name, text)?);
        let stored = Stored {
            name: name.to_owned(),
            policy: policy.raw.clone(),
        };
        self.view.put_json(&format!("acl/{name}"), &stored).await?;
        if let Ok(mut c) = self.cache.write() {
            c.insert(name.to_owned(), policy);
        }
        Ok(())
    }

    async fn names(&self) -> Result<Vec<String>, ApiError> {
        let mut names = self
            .view
            .list("acl/", sigil_storage::Page::default())
            .await?;
        names.retain(|n| !n.ends_with('/'));
        names.push("root".into());
        names.sort();
        Ok(names)
    }

    /// Handles `sys/<sub>` for `policy`, `policy/<name>`, `policies/acl`, `policies/acl/<name>`.
    pub async fn handle(&self, req: &Request, sub: &str) -> Result<Response, ApiError> {
        let (legacy, name) = if let Some(rest) = sub.strip_prefix("policies/acl") {
            (false, rest.trim_matches('/'))
        } else if let Some(rest) = sub.strip_prefix("policy") {
            (true, rest.trim_matches('/'))
        } else {
            return Err(ApiError::UnsupportedPath);
        };
        if name.is_empty() {
            return match (req.operation, legacy) {
                (Operation::Read, true) => {
                    let names = self.names().await?;
                    Ok(Response::json(json!({ "policies": names, "keys": names })))
                }
                (Operation::List, _) | (Operation::Read, false) => {
                    Ok(Response::json(json!({ "keys": self.names().await? })))
                }
                _ => Err(ApiError::UnsupportedOperation),
            };
        }
        let name = validate_name(name)?;
        match req.operation {
            Operation::Read => {
                if name == "root" {
                    return Err(ApiError::bad(
                        "the root policy has no text: it allows everything",
                    ));
                }
                let policy = self.get(&name).await?.ok_or(ApiError::NotFound)?;
                let key = if legacy { "rules" } else { "policy" };
                Ok(Response::json(json!({ "name": name, key: policy.raw })))
            }
            Operation::Create | Operation::Update => {
                if name == "root" {
                    return Err(ApiError::bad("cannot update the root policy"));
                }
                let text = text_from(&req.data)?;
                self.put(&name, &text).await?;
                Ok(Response::empty())
            }
            Operation::Delete => {
                match name.as_str() {
                    "root" => return Err(ApiError::bad("cannot delete the root policy")),
                    "default" => return Err(ApiError::bad("cannot delete the default policy")),
                    _ => {}
                }
                self.view.delete(&format!("acl/{name}")).await?;
                if let Ok(mut c) = self.cache.write() {
                    c.remove(&name);
                }
                Ok(Response::empty())
            }
            _ => Err(ApiError::UnsupportedOperation),
        }
    }
}

fn validate_name(name: &str) -> Result<String, ApiError> {
    let lower = name.to_lowercase();
    let ok = !lower.is_empty()
        && lower.len() <= MAX_NAME_LEN
        && lower
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if !ok {
        return Err(ApiError::bad(format!("invalid policy name {name:?}")));
    }
    Ok(lower)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::view::PlainStore;

    fn req(op: Operation, body: Value) -> Request {
        let mut r = Request::new(op, "sys/x");
        if let Value::Object(m) = body {
            r.data = m;
        }
        r
    }

    #[tokio::test]
    async fn endpoints_and_refusals() {
        let store = PolicyStore::new(PlainStore::view());
        store.ensure_default().await.unwrap();
        let text = r#"path "secret/*" { capabilities = ["read"] }"#;
        store
            .handle(
                &req(Operation::Update, json!({ "policy": text })),
                "policies/acl/App",
            )
            .await
            .unwrap();
        let read = store
            .handle(&req(Operation::Read, json!({})), "policies/acl/app")
            .await
            .unwrap();
        assert_eq!(read.data.unwrap()["policy"], text);
        let legacy = store
            .handle(&req(Operation::Read, json!({})), "policy/app")
            .await
            .unwrap();
        assert_eq!(legacy.data.unwrap()["rules"], text);
        let list = store
            .handle(&req(Operation::List, json!({})), "policies/acl")
            .await
            .unwrap();
        assert_eq!(
            list.data.unwrap()["keys"],
            json!(["app", "default", "root"])
        );
        let before = store.names().await.unwrap();
        for (op, body, sub) in [
            (
                Operation::Update,
                json!({ "policy": "path {" }),
                "policies/acl/bad",
            ),
            (
                Operation::Update,
                json!({ "policy": 5 }),
                "policies/acl/bad",
            ),
            (Operation::Update, json!({}), "policies/acl/bad"),
            (
                Operation::Update,
                json!({ "policy": text }),
                "policies/acl/root",
            ),
            (
                Operation::Update,
                json!({ "policy": text }),
                "policies/acl/bad name",
            ),
            (Operation::Delete, json!({}), "policies/acl/root"),
            (Operation::Delete, json!({}), "policy/default"),
            (Operation::Read, json!({}), "policies/acl/root"),
        ] {
            let got = store.handle(&req(op, body), sub).await;
            assert_eq!(got.unwrap_err().status(), 400, "{op} {sub}");
        }
        assert_eq!(
            store.names().await.unwrap(),
            before,
            "nothing stored on failure"
        );
        let missing = store
            .handle(&req(Operation::Read, json!({})), "policies/acl/none")
            .await;
        assert_eq!(missing.unwrap_err(), ApiError::NotFound);
        store
            .handle(&req(Operation::Delete, json!({})), "policies/acl/app")
            .await
            .unwrap();
        assert!(store.get("app").await.unwrap().is_none());
        let acl = store
            .acl_for(&["default".into(), "gone".into()])
            .await
            .unwrap();
        assert!(
            acl.decide(
                Operation::Read,
                "auth/token/lookup-self",
                &Default::default(),
                false
            )
            .allowed
        );
    }
}
