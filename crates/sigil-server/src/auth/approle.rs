//! The AppRole auth method: roles (a role id plus token settings), secret ids issued against a
//! role, and `login {role_id, secret_id}` that trades the pair for a token.
//!
//! Neither a role id nor a secret id is stored in clear: both are indexed by their HMAC under
//! the token store's key, so finding one is a keyed lookup, not a comparison. Secret ids carry
//! a TTL, a use count (spent under a lock before the token is issued, removed at 0) and an
//! optional CIDR binding checked against the request's peer address. Every bad credential gets
//! the same 400, so the answer does not tell a role id from a secret id.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sigil_storage::Page;
use tokio::sync::Mutex;

use crate::api::{
    ApiError, Operation, Request, Response, bool_field, duration_field, random_uuid, strings_field,
    u64_field,
};
use crate::auth::cidr;
use crate::auth::token::{TokenParams, TokenStore};
use crate::auth::token_engine::rfc3339;
use crate::engine::{Engine, map};
use crate::view::{View, ViewOp, to_json};

/// The one answer for every bad credential at login.
const INVALID: &str = "invalid role or secret ID";

/// A role, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Role {
    role_id: String,
    bind_secret_id: bool,
    secret_id_bound_cidrs: Vec<String>,
    secret_id_num_uses: u64,
    secret_id_ttl: u64,
    token_ttl: u64,
    token_max_ttl: u64,
    token_explicit_max_ttl: u64,
    token_policies: Vec<String>,
    token_num_uses: u64,
    token_period: u64,
    token_no_default_policy: bool,
    token_type: String,
}

/// A secret id, as stored (under the HMAC of the secret id; the id itself is not kept).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct SecretId {
    accessor: String,
    creation_time: u64,
    expiration_time: u64,
    num_uses: u64,
    cidr_list: Vec<String>,
    metadata: BTreeMap<String, String>,
}

impl std::fmt::Debug for SecretId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretId")
            .field("accessor", &self.accessor)
            .field("expiration_time", &self.expiration_time)
            .field("num_uses", &self.num_uses)
            .finish_non_exhaustive()
    }
}

/// The AppRole auth method.
#[derive(Debug)]
pub struct AppRole {
    tokens: Arc<TokenStore>,
    // Serializes secret-id use and role changes, so a use count cannot be spent twice.
    lock: Mutex<()>,
}

fn writes(op: Operation) -> bool {
    matches!(op, Operation::Create | Operation::Update)
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
        Some(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        _ => Err(ApiError::bad(format!("missing {key}"))),
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
}

fn no_token_bound_cidrs(data: &Map<String, Value>) -> Result<(), ApiError> {
    match strings_field(data, "token_bound_cidrs")? {
        Some(list) if !list.is_empty() => Err(ApiError::bad(
            "token_bound_cidrs is not supported yet; bind secret IDs with secret_id_bound_cidrs or cidr_list",
        )),
        _ => Ok(()),
    }
}

/// Applies a role body to `role` (a fresh default or the stored one). Pure: no I/O.
fn apply_role(role: &mut Role, data: &Map<String, Value>) -> Result<(), ApiError> {
    no_token_bound_cidrs(data)?;
    if let Some(b) = bool_field(data, "bind_secret_id")? {
        role.bind_secret_id = b;
    }
    if let Some(c) = strings_field(data, "secret_id_bound_cidrs")? {
        role.secret_id_bound_cidrs = cidr::parse_list(&c)?;
    }
    if let Some(n) = u64_field(data, "secret_id_num_uses")? {
        role.secret_id_num_uses = n;
    }
    if let Some(t) = duration_field(data, "secret_id_ttl")? {
        role.secret_id_ttl = t;
    }
    if let Some(t) = duration_field(data, "token_ttl")? {
        role.token_ttl = t;
    }
    if let Some(t) = duration_field(data, "token_max_ttl")? {
        role.token_max_ttl = t;
    }
    if let Some(t) = duration_field(data, "token_explicit_max_ttl")? {
        role.token_explicit_max_ttl = t;
    }
    let legacy = strings_field(data, "policies")?;
    if let Some(p) = strings_field(data, "token_policies")?.or(legacy) {
        if p.iter().any(|p| p.eq_ignore_ascii_case("root")) {
            return Err(ApiError::bad(
                "root policy cannot be granted by an auth method",
            ));
        }
        role.token_policies = p;
    }
    if let Some(n) = u64_field(data, "token_num_uses")? {
        role.token_num_uses = n;
    }
    if let Some(t) = duration_field(data, "token_period")?.or(duration_field(data, "period")?) {
        role.token_period = t;
    }
    if let Some(b) = bool_field(data, "token_no_default_policy")? {
        role.token_no_default_policy = b;
    }
    if let Some(t) = string(data, "token_type")? {
        match t.as_str() {
            "" | "default" | "service" => role.token_type = "service".into(),
            other => {
                return Err(ApiError::bad(format!(
                    "unsupported token_type {other:?}: Sigil issues service tokens"
                )));
            }
        }
    }
    if role.token_max_ttl > 0 && role.token_ttl > role.token_max_ttl {
        return Err(ApiError::bad(
            "token_ttl should not be greater than token_max_ttl",
        ));
    }
    if !role.bind_secret_id && role.secret_id_bound_cidrs.is_empty() {
        return Err(ApiError::bad(
            "at least one constraint should be enabled on the role",
        ));
    }
    Ok(())
}

fn role_data(r: &Role) -> Map<String, Value> {
    map([
        ("bind_secret_id", r.bind_secret_id.into()),
        ("local_secret_ids", false.into()),
        ("policies", r.token_policies.clone().into()),
        ("period", r.token_period.into()),
        (
            "secret_id_bound_cidrs",
            r.secret_id_bound_cidrs.clone().into(),
        ),
        ("secret_id_num_uses", r.secret_id_num_uses.into()),
        ("secret_id_ttl", r.secret_id_ttl.into()),
        ("token_bound_cidrs", Value::Array(Vec::new())),
        ("token_explicit_max_ttl", r.token_explicit_max_ttl.into()),
        ("token_max_ttl", r.token_max_ttl.into()),
        ("token_no_default_policy", r.token_no_default_policy.into()),
        ("token_num_uses", r.token_num_uses.into()),
        ("token_period", r.token_period.into()),
        ("token_policies", r.token_policies.clone().into()),
        ("token_ttl", r.token_ttl.into()),
        ("token_type", "default".into()),
    ])
}

fn secret_data(s: &SecretId) -> Map<String, Value> {
    let ttl = if s.expiration_time == 0 {
        0
    } else {
        s.expiration_time.saturating_sub(s.creation_time)
    };
    map([
        ("cidr_list", s.cidr_list.clone().into()),
        ("creation_time", rfc3339(s.creation_time).into()),
        (
            "expiration_time",
            if s.expiration_time == 0 {
                "0001-01-01T00:00:00Z".to_owned()
            } else {
                rfc3339(s.expiration_time)
            }
            .into(),
        ),
        ("last_updated_time", rfc3339(s.creation_time).into()),
        (
            "metadata",
            Value::Object(
                s.metadata
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone().into()))
                    .collect(),
            ),
        ),
        ("secret_id_accessor", s.accessor.clone().into()),
        ("secret_id_num_uses", s.num_uses.into()),
        ("secret_id_ttl", ttl.into()),
        ("token_bound_cidrs", Value::Array(Vec::new())),
    ])
}

/// `metadata` arrives as a JSON-encoded string holding an object of strings.
fn parse_metadata(data: &Map<String, Value>) -> Result<BTreeMap<String, String>, ApiError> {
    let Some(text) = string(data, "metadata")? else {
        return Ok(BTreeMap::new());
    };
    if text.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    serde_json::from_str::<BTreeMap<String, String>>(&text)
        .map_err(|_| ApiError::bad("metadata: expected a JSON string of an object of strings"))
}

impl AppRole {
    /// AppRole over the token store that issues its tokens.
    pub fn new(tokens: Arc<TokenStore>) -> Self {
        Self {
            tokens,
            lock: Mutex::new(()),
        }
    }

    async fn role(&self, view: &View, name: &str) -> Result<Option<Role>, ApiError> {
        if !valid_name(name) {
            return Err(ApiError::bad(format!("invalid role name {name:?}")));
        }
        view.get_json(&format!("role/{name}")).await
    }

    async fn must_role(&self, view: &View, name: &str) -> Result<Role, ApiError> {
        self.role(view, name)
            .await?
            .ok_or_else(|| ApiError::bad(format!("role {name:?} does not exist")))
    }

    async fn write_role(
        &self,
        req: &Request,
        view: &View,
        name: &str,
    ) -> Result<Response, ApiError> {
        let _guard = self.lock.lock().await;
        let existing = self.role(view, name).await?;
        let mut role = existing.clone().unwrap_or(Role {
            bind_secret_id: true,
            token_type: "service".into(),
            ..Role::default()
        });
        apply_role(&mut role, &req.data)?;
        let mut ops = Vec::new();
        if existing.is_none() {
            role.role_id = random_uuid()?;
            let h = self.tokens.hmac(&role.role_id).await?;
            ops.push(ViewOp::Put(
                format!("role_id/{h}"),
                name.as_bytes().to_vec(),
            ));
        }
        ops.push(ViewOp::Put(format!("role/{name}"), to_json(&role)?));
        view.transaction(ops).await?;
        Ok(Response::empty())
    }

    async fn delete_role(&self, view: &View, name: &str) -> Result<Response, ApiError> {
        let _guard = self.lock.lock().await;
        let Some(role) = self.role(view, name).await? else {
            return Ok(Response::empty());
        };
        let h = self.tokens.hmac(&role.role_id).await?;
        let mut ops = vec![
            ViewOp::Delete(format!("role/{name}")),
            ViewOp::Delete(format!("role_id/{h}")),
        ];
        for prefix in [format!("secret_id/{name}/"), format!("accessor/{name}/")] {
            for k in view.list(&prefix, Page::default()).await? {
                ops.push(ViewOp::Delete(format!("{prefix}{k}")));
            }
        }
        view.transaction(ops).await?;
        Ok(Response::empty())
    }

    async fn set_role_id(
        &self,
        req: &Request,
        view: &View,
        name: &str,
    ) -> Result<Response, ApiError> {
        let new_id = required(&req.data, "role_id")?;
        let _guard = self.lock.lock().await;
        let mut role = self.must_role(view, name).await?;
        let new_h = self.tokens.hmac(&new_id).await?;
        if let Some(owner) = view.get(&format!("role_id/{new_h}")).await? {
            if owner != name.as_bytes() {
                return Err(ApiError::bad("role_id already in use"));
            }
            return Ok(Response::empty());
        }
        let old_h = self.tokens.hmac(&role.role_id).await?;
        role.role_id = new_id;
        view.transaction(vec![
            ViewOp::Delete(format!("role_id/{old_h}")),
            ViewOp::Put(format!("role_id/{new_h}"), name.as_bytes().to_vec()),
            ViewOp::Put(format!("role/{name}"), to_json(&role)?),
        ])
        .await?;
        Ok(Response::empty())
    }

    async fn new_secret_id(
        &self,
        req: &Request,
        view: &View,
        name: &str,
    ) -> Result<Response, ApiError> {
        no_token_bound_cidrs(&req.data)?;
        let metadata = parse_metadata(&req.data)?;
        let cidr_list =
            cidr::parse_list(&strings_field(&req.data, "cidr_list")?.unwrap_or_default())?;
        let num_uses = u64_field(&req.data, "num_uses")?;
        let ttl = duration_field(&req.data, "ttl")?;
        let role = self.must_role(view, name).await?;
        if !role.secret_id_bound_cidrs.is_empty() {
            let role_blocks: Vec<cidr::Cidr> = role
                .secret_id_bound_cidrs
                .iter()
                .filter_map(|b| b.parse().ok())
                .collect();
            for c in &cidr_list {
                let c: cidr::Cidr = c.parse()?;
                if !role_blocks.iter().any(|r| r.covers(&c)) {
                    return Err(ApiError::bad(
                        "cidr_list must be within the role's secret_id_bound_cidrs",
                    ));
                }
            }
        }
        let num_uses = match num_uses {
            Some(n) if role.secret_id_num_uses > 0 && (n == 0 || n > role.secret_id_num_uses) => {
                return Err(ApiError::bad(
                    "num_uses cannot be higher than the role's secret_id_num_uses",
                ));
            }
            Some(n) => n,
            None => role.secret_id_num_uses,
        };
        let ttl = match ttl {
            Some(t) if role.secret_id_ttl > 0 && (t == 0 || t > role.secret_id_ttl) => {
                return Err(ApiError::bad(
                    "ttl cannot be longer than the role's secret_id_ttl",
                ));
            }
            Some(t) => t,
            None => role.secret_id_ttl,
        };
        let now = req.now_unix();
        let secret_id = random_uuid()?;
        let accessor = random_uuid()?;
        let h = self.tokens.hmac(&secret_id).await?;
        let entry = SecretId {
            accessor: accessor.clone(),
            creation_time: now,
            expiration_time: if ttl == 0 { 0 } else { now.saturating_add(ttl) },
            num_uses,
            cidr_list,
            metadata,
        };
        view.transaction(vec![
            ViewOp::Put(format!("secret_id/{name}/{h}"), to_json(&entry)?),
            ViewOp::Put(format!("accessor/{name}/{accessor}"), h.into_bytes()),
        ])
        .await?;
        Ok(Response::data(map([
            ("secret_id", secret_id.into()),
            ("secret_id_accessor", accessor.into()),
            ("secret_id_ttl", ttl.into()),
            ("secret_id_num_uses", num_uses.into()),
        ])))
    }

    /// The HMAC key of a secret id named by `secret_id` or `secret_id_accessor` in the body.
    async fn secret_key(
        &self,
        req: &Request,
        view: &View,
        name: &str,
        by_accessor: bool,
    ) -> Result<Option<String>, ApiError> {
        self.must_role(view, name).await?;
        if by_accessor {
            let acc = required(&req.data, "secret_id_accessor")?;
            if uuid::Uuid::parse_str(&acc).is_err() {
                return Ok(None);
            }
            return match view.get(&format!("accessor/{name}/{acc}")).await? {
                Some(h) => Ok(Some(String::from_utf8(h).map_err(ApiError::internal)?)),
                None => Ok(None),
            };
        }
        let sid = required(&req.data, "secret_id")?;
        let h = self.tokens.hmac(&sid).await?;
        Ok(view.get(&format!("secret_id/{name}/{h}")).await?.map(|_| h))
    }

    async fn secret_op(
        &self,
        req: &Request,
        view: &View,
        name: &str,
        by_accessor: bool,
        destroy: bool,
    ) -> Result<Response, ApiError> {
        let _guard = self.lock.lock().await;
        let Some(h) = self.secret_key(req, view, name, by_accessor).await? else {
            if by_accessor {
                return Err(ApiError::bad(
                    "failed to find accessor entry for secret_id_accessor",
                ));
            }
            return if destroy {
                Ok(Response::empty())
            } else {
                Err(ApiError::NotFound)
            };
        };
        let Some(entry) = view
            .get_json::<SecretId>(&format!("secret_id/{name}/{h}"))
            .await?
        else {
            return Err(ApiError::NotFound);
        };
        if destroy {
            view.transaction(vec![
                ViewOp::Delete(format!("secret_id/{name}/{h}")),
                ViewOp::Delete(format!("accessor/{name}/{}", entry.accessor)),
            ])
            .await?;
            return Ok(Response::empty());
        }
        Ok(Response::data(secret_data(&entry)))
    }

    async fn login(&self, req: &Request, view: &View) -> Result<Response, ApiError> {
        let role_id = required(&req.data, "role_id")?;
        let secret_id = string(&req.data, "secret_id")?.unwrap_or_default();
        let now = req.now_unix();
        let _guard = self.lock.lock().await;
        let rh = self.tokens.hmac(&role_id).await?;
        let Some(name) = view.get(&format!("role_id/{rh}")).await? else {
            return Err(ApiError::bad(INVALID));
        };
        let name = String::from_utf8(name).map_err(ApiError::internal)?;
        let Some(role) = self.role(view, &name).await? else {
            return Err(ApiError::bad(INVALID));
        };
        let ip = req.remote_addr.map(|a| a.ip());
        if !role.secret_id_bound_cidrs.is_empty()
            && !ip.is_some_and(|ip| cidr::any_contains(&role.secret_id_bound_cidrs, ip))
        {
            return Err(ApiError::bad(
                "source address unauthorized by CIDR restrictions on the role",
            ));
        }
        if role.bind_secret_id {
            if secret_id.is_empty() {
                return Err(ApiError::bad("missing secret_id"));
            }
            let h = self.tokens.hmac(&secret_id).await?;
            let key = format!("secret_id/{name}/{h}");
            let Some(mut entry) = view.get_json::<SecretId>(&key).await? else {
                return Err(ApiError::bad(INVALID));
            };
            let remove = vec![
                ViewOp::Delete(key.clone()),
                ViewOp::Delete(format!("accessor/{name}/{}", entry.accessor)),
            ];
            if entry.expiration_time != 0 && now >= entry.expiration_time {
                view.transaction(remove).await?;
                return Err(ApiError::bad(INVALID));
            }
            if !entry.cidr_list.is_empty()
                && !ip.is_some_and(|ip| cidr::any_contains(&entry.cidr_list, ip))
            {
                return Err(ApiError::bad(
                    "source address unauthorized through CIDR restrictions on the secret ID",
                ));
            }
            // Spend the use before issuing the token: a failure afterwards loses a use rather
            // than granting an extra one.
            match entry.num_uses {
                0 => {}
                1 => view.transaction(remove).await?,
                _ => {
                    entry.num_uses -= 1;
                    view.put(&key, to_json(&entry)?).await?;
                }
            }
        }
        let params = TokenParams {
            policies: Some(role.token_policies.clone()),
            meta: BTreeMap::from([("role_name".to_owned(), name.clone())]),
            display_name: String::new(),
            ttl: Some(role.token_ttl),
            explicit_max_ttl: role.token_explicit_max_ttl,
            period: role.token_period,
            renewable: Some(true),
            no_parent: true,
            no_default_policy: role.token_no_default_policy,
            num_uses: role.token_num_uses,
            path: "auth/approle/login".into(),
            max_ttl: role.token_max_ttl,
        };
        crate::auth::login_response(&self.tokens, params, now).await
    }
}

#[async_trait::async_trait]
impl Engine for AppRole {
    async fn handle(&self, req: &Request, view: &View) -> Result<Response, ApiError> {
        let op = req.operation;
        let path = req.path.trim_end_matches('/');
        let parts: Vec<&str> = path.split('/').collect();
        match (parts.as_slice(), op) {
            (["login"], o) if writes(o) => self.login(req, view).await,
            (["role"], Operation::List) => {
                let keys = view.list("role/", Page::default()).await?;
                if keys.is_empty() {
                    return Err(ApiError::NotFound);
                }
                Ok(Response::data(map([("keys", keys.into())])))
            }
            (["role", name], Operation::Read) => match self.role(view, name).await? {
                Some(r) => Ok(Response::data(role_data(&r))),
                None => Err(ApiError::NotFound),
            },
            (["role", name], o) if writes(o) => {
                if !valid_name(name) {
                    return Err(ApiError::bad(format!("invalid role name {name:?}")));
                }
                self.write_role(req, view, name).await
            }
            (["role", name], Operation::Delete) => self.delete_role(view, name).await,
            (["role", name, "role-id"], Operation::Read) => {
                let r = self.role(view, name).await?.ok_or(ApiError::NotFound)?;
                Ok(Response::data(map([("role_id", r.role_id.into())])))
            }
            (["role", name, "role-id"], o) if writes(o) => self.set_role_id(req, view, name).await,
            (["role", name, "secret-id"], o) if writes(o) => {
                self.new_secret_id(req, view, name).await
            }
            (["role", name, "secret-id"], Operation::List) => {
                self.must_role(view, name).await?;
                let keys = view
                    .list(&format!("accessor/{name}/"), Page::default())
                    .await?;
                if keys.is_empty() {
                    return Err(ApiError::NotFound);
                }
                Ok(Response::data(map([("keys", keys.into())])))
            }
            (
                [
                    "role",
                    name,
                    kind @ ("secret-id" | "secret-id-accessor"),
                    action @ ("lookup" | "destroy"),
                ],
                o,
            ) if writes(o) || (*action == "destroy" && o == Operation::Delete) => {
                self.secret_op(
                    req,
                    view,
                    name,
                    *kind == "secret-id-accessor",
                    *action == "destroy",
                )
                .await
            }
            (["login"] | ["role"] | ["role", _] | ["role", _, "role-id" | "secret-id"], _)
            | (
                [
                    "role",
                    _,
                    "secret-id" | "secret-id-accessor",
                    "lookup" | "destroy",
                ],
                _,
            ) => Err(ApiError::UnsupportedOperation),
            _ => Err(ApiError::UnsupportedPath),
        }
    }

    async fn exists(&self, path: &str, view: &View) -> Result<bool, ApiError> {
        match path
            .trim_end_matches('/')
            .split('/')
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["role", name] if valid_name(name) => {
                Ok(view.get(&format!("role/{name}")).await?.is_some())
            }
            _ => Ok(true),
        }
    }

    fn unauthenticated_paths(&self) -> &'static [&'static str] {
        &["login"]
    }
}

#[cfg(test)]
mod tests;
