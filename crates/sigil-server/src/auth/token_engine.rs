//! The `auth/token/` endpoints: create, look up, renew and revoke tokens.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::token::{TokenEntry, TokenParams, TokenStore};
use crate::api::{
    ApiError, Operation, Request, Response, bool_field, duration_field, field_str, strings_field,
    u64_field,
};
use crate::core::rfc3339;
use crate::engine::Engine;
use crate::view::View;

/// The token auth method, mounted at `auth/token/`.
#[derive(Debug)]
pub struct TokenEngine {
    store: Arc<TokenStore>,
}

impl TokenEngine {
    /// The engine over the server's token store.
    pub fn new(store: Arc<TokenStore>) -> Self {
        Self { store }
    }

    async fn create(&self, req: &Request, orphan: bool) -> Result<Response, ApiError> {
        let caller = req.caller.as_deref().ok_or(ApiError::PermissionDenied)?;
        let params = params_from(&req.data, orphan, "auth/token/create")?;
        if params.orphan && !caller.is_root() && !orphan {
            return Err(ApiError::bad(
                "root or sudo privileges required to create orphan token",
            ));
        }
        let (_, auth) = self
            .store
            .create(Some(caller), params, req.now_unix())
            .await?;
        Ok(Response {
            auth: Some(auth),
            ..Response::default()
        })
    }

    /// The entry a `token` / `accessor` field names, or the caller's own.
    async fn target(&self, req: &Request, by: By) -> Result<Arc<TokenEntry>, ApiError> {
        let now = req.now_unix();
        match by {
            By::SelfToken => req.caller.clone().ok_or(ApiError::PermissionDenied),
            By::Token => {
                let token = field_str(&req.data, "token")
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| ApiError::bad("missing token"))?;
                let entry = self
                    .store
                    .lookup(&token, now)
                    .await?
                    .ok_or_else(|| ApiError::bad("bad token"))?;
                Ok(entry)
            }
            By::Accessor => {
                let accessor = field_str(&req.data, "accessor")
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| ApiError::bad("missing accessor"))?;
                let entry = self
                    .store
                    .lookup_accessor(&accessor, now)
                    .await?
                    .ok_or_else(|| ApiError::bad("invalid accessor"))?;
                Ok(entry)
            }
        }
    }
}

#[derive(Clone, Copy)]
enum By {
    SelfToken,
    Token,
    Accessor,
}

#[async_trait::async_trait]
impl Engine for TokenEngine {
    async fn handle(&self, req: &Request, _view: &View) -> Result<Response, ApiError> {
        use Operation::{Create, Delete, List, Read, Update};
        let path = req.path.trim_end_matches('/');
        let op = req.operation;
        let write = matches!(op, Create | Update);
        let now = req.now_unix();
        match (path, op) {
            ("create", _) if write => self.create(req, false).await,
            ("create-orphan", _) if write => self.create(req, true).await,
            ("lookup-self", Read) | ("lookup-self", Create | Update) => {
                let e = self.target(req, By::SelfToken).await?;
                Ok(Response::data(lookup_data(&e, Some(token_of(req)), now)))
            }
            ("lookup", _) if write || op == Read => {
                let e = self.target(req, By::Token).await?;
                let id = field_str(&req.data, "token");
                Ok(Response::data(lookup_data(&e, id, now)))
            }
            ("lookup-accessor", _) if write => {
                let e = self.target(req, By::Accessor).await?;
                Ok(Response::data(lookup_data(&e, None, now)))
            }
            ("renew-self" | "renew" | "renew-accessor", _) if write => {
                let by = match path {
                    "renew-self" => By::SelfToken,
                    "renew" => By::Token,
                    _ => By::Accessor,
                };
                let e = self.target(req, by).await?;
                let increment = duration_field(&req.data, "increment")?.unwrap_or(0);
                let mut auth = self.store.renew(&e, increment, now).await?;
                if !matches!(by, By::Accessor) {
                    auth.client_token = match by {
                        By::SelfToken => token_of(req),
                        _ => field_str(&req.data, "token").unwrap_or_default(),
                    };
                }
                Ok(Response {
                    auth: Some(auth),
                    ..Response::default()
                })
            }
            ("revoke-self" | "revoke" | "revoke-accessor", _) if write => {
                let by = match path {
                    "revoke-self" => By::SelfToken,
                    "revoke" => By::Token,
                    _ => By::Accessor,
                };
                let e = self.target(req, by).await?;
                self.store.revoke_tree(&e.accessor).await?;
                Ok(Response::empty())
            }
            ("revoke-orphan", _) if write => {
                let e = self.target(req, By::Token).await?;
                self.store.revoke_orphan(&e.accessor, now).await?;
                Ok(Response::empty())
            }
            ("accessors", List) => {
                let keys = self.store.accessors().await?;
                if keys.is_empty() {
                    return Err(ApiError::NotFound);
                }
                Ok(Response::json(json!({ "keys": keys })))
            }
            (
                "create" | "create-orphan" | "lookup-self" | "lookup" | "lookup-accessor"
                | "renew-self" | "renew" | "renew-accessor" | "revoke-self" | "revoke"
                | "revoke-accessor" | "revoke-orphan" | "accessors",
                Read | List | Delete | Operation::Patch | Create | Update,
            ) => Err(ApiError::UnsupportedOperation),
            _ => Err(ApiError::UnsupportedPath),
        }
    }
}

fn token_of(req: &Request) -> String {
    req.token
        .as_ref()
        .map(|t| t.expose_secret().to_owned())
        .unwrap_or_default()
}

/// Vault's lookup answer. `id` only when the caller named the token itself.
fn lookup_data(e: &TokenEntry, id: Option<String>, now: u64) -> Map<String, Value> {
    let meta = if e.meta.is_empty() {
        Value::Null
    } else {
        json!(e.meta)
    };
    let expire = if e.expire_time == 0 {
        Value::Null
    } else {
        json!(rfc3339(e.expire_time))
    };
    let data = json!({
        "accessor": e.accessor,
        "creation_time": e.creation_time,
        "creation_ttl": e.creation_ttl,
        "display_name": e.display_name,
        "entity_id": "",
        "expire_time": expire,
        "explicit_max_ttl": e.explicit_max_ttl,
        "id": id.unwrap_or_default(),
        "identity_policies": [],
        "issue_time": rfc3339(e.creation_time),
        "meta": meta,
        "num_uses": e.num_uses,
        "orphan": e.orphan,
        "path": e.path,
        "period": e.period,
        "policies": e.policies,
        "renewable": e.renewable && e.expire_time != 0,
        "ttl": e.ttl(now),
        "type": "service",
    });
    match data {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Token parameters from a create request (also used by auth methods' token fields).
pub(crate) fn params_from(
    data: &Map<String, Value>,
    orphan: bool,
    path: &str,
) -> Result<TokenParams, ApiError> {
    let meta = match data.get("meta") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(ApiError::bad("meta values must be strings")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(ApiError::bad("meta must be a map of strings")),
    };
    if let Some(t) = field_str(data, "type")
        && !matches!(t.as_str(), "" | "service" | "default-service" | "default")
    {
        return Err(ApiError::bad(format!("unsupported token type {t:?}")));
    }
    if data.get("id").is_some_and(|v| !v.is_null()) {
        return Err(ApiError::bad("custom token ids are not supported"));
    }
    Ok(TokenParams {
        policies: strings_field(data, "policies")?,
        no_default_policy: bool_field(data, "no_default_policy")?.unwrap_or(false),
        ttl: match duration_field(data, "ttl")? {
            Some(t) => Some(t),
            None => duration_field(data, "lease")?,
        },
        explicit_max_ttl: duration_field(data, "explicit_max_ttl")?.unwrap_or(0),
        period: duration_field(data, "period")?.unwrap_or(0),
        num_uses: u64_field(data, "num_uses")?.unwrap_or(0),
        renewable: bool_field(data, "renewable")?,
        display_name: field_str(data, "display_name").unwrap_or_default(),
        meta,
        orphan: orphan || bool_field(data, "no_parent")?.unwrap_or(false),
        path: path.to_owned(),
    })
}
