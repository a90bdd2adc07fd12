//! The `auth/token/` mount: create, look up, renew and revoke tokens over the [`TokenStore`],
//! answering in Vault's shapes (`auth` block for create and renew, `data` for lookups, 204 for
//! revocations).
//!
//! Sudo is the ACL layer's business: `create-orphan`, `accessors` and periodic tokens need it
//! in Vault, and the policy module enforces that on the path. Here, a non-root caller asking
//! `create` for `no_parent` or a `period` is refused, since that check is on the body.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::api::{
    ApiError, Operation, Request, Response, bool_field, duration_field, strings_field, u64_field,
};
use crate::auth::token::{TokenEntry, TokenParams, TokenStore};
use crate::engine::{Engine, map};
use crate::view::View;

/// The token auth method, mounted at `auth/token/`.
#[derive(Debug)]
pub struct TokenEngine {
    store: Arc<TokenStore>,
}

impl TokenEngine {
    /// An engine over `store` (the store keeps its own view; the mount's view is unused).
    pub fn new(store: Arc<TokenStore>) -> Self {
        Self { store }
    }
}

fn writes(op: Operation) -> bool {
    matches!(op, Operation::Create | Operation::Update)
}

fn caller(req: &Request) -> Result<&Arc<TokenEntry>, ApiError> {
    req.caller.as_ref().ok_or(ApiError::PermissionDenied)
}

fn string(data: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad(format!("{key}: expected a string"))),
    }
}

fn required(data: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    match string(data, key)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(ApiError::bad(format!("missing {key}"))),
    }
}

/// Parses a `create` body into [`TokenParams`]; everything is checked before anything is
/// written.
fn create_params(data: &Map<String, Value>, path: &str) -> Result<TokenParams, ApiError> {
    let meta = match data.get("meta") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(ApiError::bad("meta: values must be strings")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(ApiError::bad("meta: expected an object of strings")),
    };
    if data.get("id").is_some_and(|v| !v.is_null()) {
        return Err(ApiError::bad("custom token IDs are not supported"));
    }
    match string(data, "type")?.as_deref() {
        None | Some("" | "service" | "default") => {}
        Some(other) => {
            return Err(ApiError::bad(format!(
                "unsupported token type {other:?}: Sigil issues service tokens"
            )));
        }
    }
    Ok(TokenParams {
        policies: strings_field(data, "policies")?,
        meta,
        display_name: string(data, "display_name")?.unwrap_or_default(),
        ttl: duration_field(data, "ttl")?,
        explicit_max_ttl: duration_field(data, "explicit_max_ttl")?.unwrap_or(0),
        period: duration_field(data, "period")?.unwrap_or(0),
        renewable: bool_field(data, "renewable")?,
        no_parent: bool_field(data, "no_parent")?.unwrap_or(false),
        no_default_policy: bool_field(data, "no_default_policy")?.unwrap_or(false),
        num_uses: u64_field(data, "num_uses")?.unwrap_or(0),
        path: format!("auth/token/{path}"),
        max_ttl: 0,
    })
}

pub use crate::time::rfc3339;

/// The `data` of a lookup. `id` is the token when the caller may see it, else empty.
fn lookup_data(e: &TokenEntry, id: &str, now: u64) -> Map<String, Value> {
    let meta = if e.meta.is_empty() {
        Value::Null
    } else {
        Value::Object(
            e.meta
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().into()))
                .collect(),
        )
    };
    let mut data = map([
        ("accessor", e.accessor.clone().into()),
        ("creation_time", e.creation_time.into()),
        ("creation_ttl", e.creation_ttl.into()),
        ("display_name", e.display_name.clone().into()),
        ("entity_id", "".into()),
        (
            "expire_time",
            if e.expire_time == 0 {
                Value::Null
            } else {
                rfc3339(e.expire_time).into()
            },
        ),
        ("explicit_max_ttl", e.explicit_max_ttl.into()),
        ("id", id.into()),
        ("identity_policies", Value::Array(Vec::new())),
        ("issue_time", rfc3339(e.creation_time).into()),
        ("meta", meta),
        ("num_uses", e.num_uses.into()),
        ("orphan", e.orphan.into()),
        ("path", e.path.clone().into()),
        ("policies", e.policies.clone().into()),
        ("renewable", e.renewable.into()),
        ("ttl", e.ttl_at(now).into()),
        ("type", "service".into()),
    ]);
    if e.period > 0 {
        data.insert("period".into(), e.period.into());
    }
    data
}

impl TokenEngine {
    /// The entry for a token named in a body. Vault answers 403 ("bad token") for an unknown
    /// or expired one.
    async fn by_token(&self, token: &str, now: u64) -> Result<Arc<TokenEntry>, ApiError> {
        self.store
            .lookup(token, now)
            .await?
            .ok_or(ApiError::PermissionDenied)
    }

    async fn by_accessor(&self, accessor: &str, now: u64) -> Result<Arc<TokenEntry>, ApiError> {
        self.store
            .lookup_accessor(accessor, now)
            .await?
            .ok_or_else(|| ApiError::bad("invalid accessor"))
    }

    async fn create(&self, req: &Request, orphan: bool) -> Result<Response, ApiError> {
        let parent = caller(req)?;
        let mut params = create_params(&req.data, &req.path)?;
        if !parent.is_root() && params.no_parent && !orphan {
            return Err(ApiError::bad(
                "root or sudo privileges required to create orphan token",
            ));
        }
        params.no_parent |= orphan;
        let auth = self
            .store
            .create(Some(parent), params, req.now_unix())
            .await?;
        Ok(Response {
            auth: Some(auth),
            ..Response::default()
        })
    }

    async fn renew(
        &self,
        req: &Request,
        e: &TokenEntry,
        token: String,
    ) -> Result<Response, ApiError> {
        let increment = duration_field(&req.data, "increment")?.unwrap_or(0);
        let now = req.now_unix();
        let renewed = self.store.renew(e, increment, now).await?;
        Ok(Response {
            auth: Some(renewed.auth(token, now)),
            ..Response::default()
        })
    }
}

#[async_trait::async_trait]
impl Engine for TokenEngine {
    async fn handle(&self, req: &Request, _view: &View) -> Result<Response, ApiError> {
        let now = req.now_unix();
        let own = req.token.as_ref().map(|t| t.expose_secret().to_owned());
        let op = req.operation;
        match req.path.trim_end_matches('/') {
            "create" if writes(op) => self.create(req, false).await,
            "create-orphan" if writes(op) => self.create(req, true).await,
            "lookup-self" if op == Operation::Read || writes(op) => {
                let e = caller(req)?;
                Ok(Response::data(lookup_data(
                    e,
                    own.as_deref().unwrap_or(""),
                    now,
                )))
            }
            "lookup" if op == Operation::Read || writes(op) => {
                caller(req)?;
                let token = required(&req.data, "token")?;
                let e = self.by_token(&token, now).await?;
                let id = if own.as_deref() == Some(token.as_str()) {
                    token.as_str()
                } else {
                    ""
                };
                Ok(Response::data(lookup_data(&e, id, now)))
            }
            "lookup-accessor" if writes(op) => {
                caller(req)?;
                let e = self
                    .by_accessor(&required(&req.data, "accessor")?, now)
                    .await?;
                Ok(Response::data(lookup_data(&e, "", now)))
            }
            "renew-self" if writes(op) => {
                let e = Arc::clone(caller(req)?);
                self.renew(req, &e, own.unwrap_or_default()).await
            }
            "renew" if writes(op) => {
                caller(req)?;
                let token = required(&req.data, "token")?;
                let e = self.by_token(&token, now).await?;
                self.renew(req, &e, token).await
            }
            "renew-accessor" if writes(op) => {
                caller(req)?;
                let e = self
                    .by_accessor(&required(&req.data, "accessor")?, now)
                    .await?;
                self.renew(req, &e, String::new()).await
            }
            "revoke-self" if writes(op) => {
                self.store.revoke_tree(&caller(req)?.accessor).await?;
                Ok(Response::empty())
            }
            "revoke" if writes(op) => {
                caller(req)?;
                let token = required(&req.data, "token")?;
                // Revoking an unknown token is a no-op, as in Vault.
                if let Some(e) = self.store.lookup(&token, now).await? {
                    self.store.revoke_tree(&e.accessor).await?;
                }
                Ok(Response::empty())
            }
            "revoke-orphan" if writes(op) => {
                caller(req)?;
                let token = required(&req.data, "token")?;
                if let Some(e) = self.store.lookup(&token, now).await? {
                    self.store.revoke_orphan(&e.accessor).await?;
                }
                Ok(Response::empty())
            }
            "revoke-accessor" if writes(op) => {
                caller(req)?;
                let e = self
                    .by_accessor(&required(&req.data, "accessor")?, now)
                    .await?;
                self.store.revoke_tree(&e.accessor).await?;
                Ok(Response::empty())
            }
            "accessors" if op == Operation::List => {
                caller(req)?;
                let keys = self.store.accessors().await?;
                if keys.is_empty() {
                    return Err(ApiError::NotFound);
                }
                Ok(Response::data(map([("keys", keys.into())])))
            }
            "create" | "create-orphan" | "lookup-self" | "lookup" | "lookup-accessor"
            | "renew-self" | "renew" | "renew-accessor" | "revoke-self" | "revoke"
            | "revoke-orphan" | "revoke-accessor" | "accessors" => {
                Err(ApiError::UnsupportedOperation)
            }
            _ => Err(ApiError::UnsupportedPath),
        }
    }
}

#[cfg(test)]
mod tests;
