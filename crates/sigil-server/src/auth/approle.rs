//! AppRole: machine login with a role id (not secret, baked into the deployment) and a
//! secret id (short-lived, delivered separately).
//!
//! Storage (in the mount's view): `role/<name>` the role; `role-id/<role id>` → name;
//! `secret-id/<name>/<keyed hash>` each secret id, stored hashed with the token store's key;
//! `accessor/<name>/<accessor>` → hash. Logins are unauthenticated and answer 400 for any
//! bad credential, as Vault does.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::token::{TokenParams, TokenStore};
use crate::api::{
    ApiError, Operation, Request, Response, bool_field, duration_field, field_str, strings_field,
    u64_field,
};
use crate::engine::{Engine, split_first};
use crate::view::{View, ViewOp};

const INVALID: &str = "invalid role or secret ID";

/// A role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Role {
    role_id: String,
    bind_secret_id: bool,
    secret_id_bound_cidrs: Vec<String>,
    secret_id_num_uses: u64,
    secret_id_ttl: u64,
    token_ttl: u64,
    token_max_ttl: u64,
    token_policies: Vec<String>,
    token_bound_cidrs: Vec<String>,
    token_num_uses: u64,
    token_period: u64,
    token_no_default_policy: bool,
}

/// A secret id, as stored (without the secret).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct SecretId {
    accessor: String,
    metadata: BTreeMap<String, String>,
    cidr_list: Vec<String>,
    num_uses: u64,
    ttl: u64,
    creation_time: u64,
    expiration_time: u64,
}

/// The AppRole auth method.
#[derive(Debug)]
pub struct AppRole {
    tokens: Arc<TokenStore>,
    /// Serializes use-count changes on secret ids.
    lock: Mutex<()>,
}

impl AppRole {
    /// The method, issuing tokens from `tokens`.
    pub fn new(tokens: Arc<TokenStore>) -> Self {
        Self {
            tokens,
            lock: Mutex::new(()),
        }
    }

    async fn role(&self, view: &View, name: &str) -> Result<Option<Role>, ApiError> {
        view.get_json(&format!("role/{name}")).await
    }

    async fn write_role(
        &self,
        req: &Request,
        view: &View,
        name: &str,
    ) -> Result<Response, ApiError> {
        let existing = self.role(view, name).await?;
        let mut role = existing.clone().unwrap_or(Role {
            role_id: uuid::Uuid::new_v4().to_string(),
            bind_secret_id: true,
            ..Role::default()
        });
        let d = &req.data;
        if let Some(v) = bool_field(d, "bind_secret_id")? {
            role.bind_secret_id = v;
        }
        if let Some(v) = strings_field(d, "secret_id_bound_cidrs")? {
            check_cidrs(&v)?;
            role.secret_id_bound_cidrs = v;
        }
        if let Some(v) = u64_field(d, "secret_id_num_uses")? {
            role.secret_id_num_uses = v;
        }
        if let Some(v) = duration_field(d, "secret_id_ttl")? {
            role.secret_id_ttl = v;
        }
        if let Some(v) = duration_field(d, "token_ttl")? {
            role.token_ttl = v;
        }
        if let Some(v) = duration_field(d, "token_max_ttl")? {
            role.token_max_ttl = v;
        }
        if let Some(v) = strings_field(d, "token_policies")?.or(strings_field(d, "policies")?) {
            role.token_policies = v;
        }
        if let Some(v) = strings_field(d, "token_bound_cidrs")? {
            check_cidrs(&v)?;
            role.token_bound_cidrs = v;
        }
        if let Some(v) = u64_field(d, "token_num_uses")? {
            role.token_num_uses = v;
        }
        if let Some(v) = duration_field(d, "token_period")?.or(duration_field(d, "period")?) {
            role.token_period = v;
        }
        if let Some(v) = bool_field(d, "token_no_default_policy")? {
            role.token_no_default_policy = v;
        }
        if let Some(t) = field_str(d, "token_type")
            && !matches!(t.as_str(), "" | "service" | "default")
        {
            return Err(ApiError::bad(format!("unsupported token_type {t:?}")));
        }
        if role.token_max_ttl > 0 && role.token_ttl > role.token_max_ttl {
            return Err(ApiError::bad(
                "token_ttl must not be greater than token_max_ttl",
            ));
        }
        if !role.bind_secret_id
            && role.secret_id_bound_cidrs.is_empty()
            && role.token_bound_cidrs.is_empty()
        {
            return Err(ApiError::bad(
                "at least one constraint should be enabled on the role",
            ));
        }
        let mut ops = vec![ViewOp::Put(
            format!("role/{name}"),
            crate::view::to_json(&role)?,
        )];
        if existing.is_none() {
            ops.push(ViewOp::Put(
                format!("role-id/{}", role.role_id),
                name.as_bytes().to_vec(),
            ));
        }
        view.transaction(ops).await?;
        Ok(Response::empty())
    }

    async fn generate(
        &self,
        req: &Request,
        view: &View,
        name: &str,
        role: &Role,
    ) -> Result<Response, ApiError> {
        let d = &req.data;
        let metadata: BTreeMap<String, String> = match d.get("metadata") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::String(s)) if s.is_empty() => BTreeMap::new(),
            Some(Value::String(s)) => serde_json::from_str(s).map_err(|_| {
                ApiError::bad("metadata must be a JSON object of strings, given as a string")
            })?,
            Some(_) => return Err(ApiError::bad("metadata must be a JSON string")),
        };
        let cidr_list = strings_field(d, "cidr_list")?.unwrap_or_default();
        check_cidrs(&cidr_list)?;
        let num_uses = u64_field(d, "num_uses")?.unwrap_or(role.secret_id_num_uses);
        let ttl = duration_field(d, "ttl")?.unwrap_or(role.secret_id_ttl);
        if role.secret_id_ttl > 0 && (ttl == 0 || ttl > role.secret_id_ttl) {
            return Err(ApiError::bad(
                "ttl cannot be longer than the role's secret_id_ttl",
            ));
        }
        let secret = uuid::Uuid::new_v4().to_string();
        let hash = self.tokens.hash(&secret).await?;
        let now = req.now_unix();
        let entry = SecretId {
            accessor: uuid::Uuid::new_v4().to_string(),
            metadata,
            cidr_list,
            num_uses,
            ttl,
            creation_time: now,
            expiration_time: if ttl == 0 { 0 } else { now.saturating_add(ttl) },
        };
        view.transaction(vec![
            ViewOp::Put(
                format!("secret-id/{name}/{hash}"),
                crate::view::to_json(&entry)?,
            ),
            ViewOp::Put(
                format!("accessor/{name}/{}", entry.accessor),
                hash.into_bytes(),
            ),
        ])
        .await?;
        Ok(Response::json(json!({
            "secret_id": secret,
            "secret_id_accessor": entry.accessor,
            "secret_id_ttl": ttl,
            "secret_id_num_uses": num_uses,
        })))
    }

    async fn login(&self, req: &Request, view: &View) -> Result<Response, ApiError> {
        let role_id = field_str(&req.data, "role_id")
            .filter(|r| !r.is_empty())
            .ok_or_else(|| ApiError::bad("missing role_id"))?;
        if role_id.len() > 256 || role_id.contains('/') {
            return Err(ApiError::bad(INVALID));
        }
        let name = match view.get(&format!("role-id/{role_id}")).await? {
            Some(n) => {
                String::from_utf8(n).map_err(|_| ApiError::internal("corrupt role index"))?
            }
            None => return Err(ApiError::bad(INVALID)),
        };
        let role = self
            .role(view, &name)
            .await?
            .ok_or_else(|| ApiError::bad(INVALID))?;
        let now = req.now_unix();
        let ip = req.remote_addr.map(|a| a.ip());
        if !role.secret_id_bound_cidrs.is_empty()
            && !ip.is_some_and(|ip| in_any(&role.secret_id_bound_cidrs, ip))
        {
            return Err(ApiError::bad(INVALID));
        }
        let mut metadata = BTreeMap::new();
        if role.bind_secret_id {
            let secret = field_str(&req.data, "secret_id")
                .filter(|s| !s.is_empty() && s.len() <= 256)
                .ok_or_else(|| ApiError::bad(INVALID))?;
            let hash = self.tokens.hash(&secret).await?;
            let key = format!("secret-id/{name}/{hash}");
            let _guard = self.lock.lock().await;
            let entry: SecretId = view
                .get_json(&key)
                .await?
                .ok_or_else(|| ApiError::bad(INVALID))?;
            if entry.expiration_time != 0 && now >= entry.expiration_time {
                self.destroy(view, &name, &hash, &entry.accessor).await?;
                return Err(ApiError::bad(INVALID));
            }
            if !entry.cidr_list.is_empty() && !ip.is_some_and(|ip| in_any(&entry.cidr_list, ip)) {
                return Err(ApiError::bad(INVALID));
            }
            match entry.num_uses {
                0 => {}
                1 => self.destroy(view, &name, &hash, &entry.accessor).await?,
                n => {
                    let mut e = entry.clone();
                    e.num_uses = n - 1;
                    view.put_json(&key, &e).await?;
                }
            }
            metadata = entry.metadata;
        }
        metadata.insert("role_name".into(), name.clone());
        let params = TokenParams {
            policies: Some(role.token_policies.clone()),
            no_default_policy: role.token_no_default_policy,
            ttl: (role.token_ttl > 0).then_some(role.token_ttl),
            explicit_max_ttl: role.token_max_ttl,
            period: role.token_period,
            num_uses: role.token_num_uses,
            renewable: Some(true),
            display_name: format!("approle-{name}"),
            meta: metadata,
            orphan: true,
            path: "auth/approle/login".into(),
        };
        let (_, auth) = self.tokens.create(None, params, now).await?;
        Ok(Response {
            auth: Some(auth),
            ..Response::default()
        })
    }

    async fn destroy(
        &self,
        view: &View,
        name: &str,
        hash: &str,
        accessor: &str,
    ) -> Result<(), ApiError> {
        view.transaction(vec![
            ViewOp::Delete(format!("secret-id/{name}/{hash}")),
            ViewOp::Delete(format!("accessor/{name}/{accessor}")),
        ])
        .await
    }

    async fn secret_id_op(
        &self,
        req: &Request,
        view: &View,
        name: &str,
        tail: &str,
    ) -> Result<Response, ApiError> {
        let (hash, entry) = if tail.starts_with("secret-id-accessor/") {
            let accessor = field_str(&req.data, "secret_id_accessor")
                .filter(|a| !a.is_empty() && !a.contains('/'))
                .ok_or_else(|| ApiError::bad("missing secret_id_accessor"))?;
            let hash = view
                .get(&format!("accessor/{name}/{accessor}"))
                .await?
                .ok_or_else(|| {
                    ApiError::bad("failed to find accessor entry for secret_id_accessor")
                })?;
            let hash = String::from_utf8(hash).map_err(|_| ApiError::internal("corrupt index"))?;
            let entry = view
                .get_json::<SecretId>(&format!("secret-id/{name}/{hash}"))
                .await?;
            (hash, entry)
        } else {
            let secret = field_str(&req.data, "secret_id")
                .filter(|s| !s.is_empty())
                .ok_or_else(|| ApiError::bad("missing secret_id"))?;
            let hash = self.tokens.hash(&secret).await?;
            let entry = view
                .get_json::<SecretId>(&format!("secret-id/{name}/{hash}"))
                .await?;
            (hash, entry)
        };
        if tail.ends_with("/destroy") {
            if let Some(e) = entry {
                self.destroy(view, name, &hash, &e.accessor).await?;
            }
            return Ok(Response::empty());
        }
        let e = entry.ok_or(ApiError::NotFound)?;
        Ok(Response::json(json!({
            "secret_id_accessor": e.accessor,
            "metadata": e.metadata,
            "cidr_list": e.cidr_list,
            "secret_id_num_uses": e.num_uses,
            "secret_id_ttl": e.ttl,
            "creation_time": crate::core::rfc3339(e.creation_time),
            "expiration_time": if e.expiration_time == 0 { "0001-01-01T00:00:00Z".to_owned() } else { crate::core::rfc3339(e.expiration_time) },
        })))
    }
}

#[async_trait::async_trait]
impl Engine for AppRole {
    async fn handle(&self, req: &Request, view: &View) -> Result<Response, ApiError> {
        use Operation::{Create, Delete, List, Read, Update};
        let op = req.operation;
        let write = matches!(op, Create | Update);
        let path = req.path.trim_end_matches('/');
        if path == "login" {
            return if write {
                self.login(req, view).await
            } else {
                Err(ApiError::UnsupportedOperation)
            };
        }
        if path == "role" {
            if op != List {
                return Err(ApiError::UnsupportedOperation);
            }
            let mut keys = view.list("role/", sigil_storage::Page::default()).await?;
            keys.retain(|k| !k.ends_with('/'));
            if keys.is_empty() {
                return Err(ApiError::NotFound);
            }
            return Ok(Response::json(json!({ "keys": keys })));
        }
        let Some(rest) = path.strip_prefix("role/") else {
            return Err(ApiError::UnsupportedPath);
        };
        let (name, tail) = split_first(rest);
        let name = name.to_lowercase();
        if name.is_empty()
            || name.len() > 128
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(ApiError::bad("invalid role name"));
        }
        if tail.is_empty() {
            return match op {
                Read => {
                    let role = self.role(view, &name).await?.ok_or(ApiError::NotFound)?;
                    Ok(Response::json(json!({
                        "bind_secret_id": role.bind_secret_id,
                        "secret_id_bound_cidrs": role.secret_id_bound_cidrs,
                        "secret_id_num_uses": role.secret_id_num_uses,
                        "secret_id_ttl": role.secret_id_ttl,
                        "token_ttl": role.token_ttl,
                        "token_max_ttl": role.token_max_ttl,
                        "token_policies": role.token_policies,
                        "policies": role.token_policies,
                        "token_bound_cidrs": role.token_bound_cidrs,
                        "token_num_uses": role.token_num_uses,
                        "token_period": role.token_period,
                        "token_no_default_policy": role.token_no_default_policy,
                        "token_type": "default",
                    })))
                }
                Create | Update => self.write_role(req, view, &name).await,
                Delete => {
                    let Some(role) = self.role(view, &name).await? else {
                        return Ok(Response::empty());
                    };
                    let mut ops = vec![
                        ViewOp::Delete(format!("role/{name}")),
                        ViewOp::Delete(format!("role-id/{}", role.role_id)),
                    ];
                    for prefix in ["secret-id", "accessor"] {
                        for k in view
                            .list(&format!("{prefix}/{name}/"), sigil_storage::Page::default())
                            .await?
                        {
                            ops.push(ViewOp::Delete(format!("{prefix}/{name}/{k}")));
                        }
                    }
                    view.transaction(ops).await?;
                    Ok(Response::empty())
                }
                _ => Err(ApiError::UnsupportedOperation),
            };
        }
        let role = self
            .role(view, &name)
            .await?
            .ok_or_else(|| ApiError::bad(format!("role {name:?} does not exist")))?;
        match (tail, op) {
            ("role-id", Read) => Ok(Response::json(json!({ "role_id": role.role_id }))),
            ("role-id", Create | Update) => {
                let new_id = field_str(&req.data, "role_id")
                    .filter(|r| !r.is_empty() && r.len() <= 256 && !r.contains('/'))
                    .ok_or_else(|| ApiError::bad("missing or invalid role_id"))?;
                if view.get(&format!("role-id/{new_id}")).await?.is_some() {
                    return Err(ApiError::bad("role_id already in use"));
                }
                let mut updated = role.clone();
                updated.role_id = new_id.clone();
                view.transaction(vec![
                    ViewOp::Delete(format!("role-id/{}", role.role_id)),
                    ViewOp::Put(format!("role-id/{new_id}"), name.as_bytes().to_vec()),
                    ViewOp::Put(format!("role/{name}"), crate::view::to_json(&updated)?),
                ])
                .await?;
                Ok(Response::empty())
            }
            ("secret-id", Create | Update) => self.generate(req, view, &name, &role).await,
            ("secret-id", List) => {
                let keys = view
                    .list(&format!("accessor/{name}/"), sigil_storage::Page::default())
                    .await?;
                if keys.is_empty() {
                    return Err(ApiError::NotFound);
                }
                Ok(Response::json(json!({ "keys": keys })))
            }
            (
                "secret-id/lookup"
                | "secret-id/destroy"
                | "secret-id-accessor/lookup"
                | "secret-id-accessor/destroy",
                Create | Update | Delete,
            ) => self.secret_id_op(req, view, &name, tail).await,
            _ => Err(ApiError::UnsupportedPath),
        }
    }

    async fn exists(&self, path: &str, view: &View) -> Result<bool, ApiError> {
        match path.strip_prefix("role/") {
            Some(name) if !name.contains('/') => Ok(view
                .get(&format!("role/{}", name.to_lowercase()))
                .await?
                .is_some()),
            _ => Ok(true),
        }
    }

    fn unauthenticated_paths(&self) -> &'static [&'static str] {
        &["login"]
    }
}

fn check_cidrs(cidrs: &[String]) -> Result<(), ApiError> {
    for c in cidrs {
        parse_cidr(c).ok_or_else(|| ApiError::bad(format!("invalid CIDR block {c:?}")))?;
    }
    Ok(())
}

fn parse_cidr(c: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match c.split_once('/') {
        Some((a, l)) => (a.parse::<IpAddr>().ok()?, l.parse::<u8>().ok()?),
        None => {
            let a = c.parse::<IpAddr>().ok()?;
            (a, if a.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((addr, len))
}

/// Whether `ip` falls in any of the CIDR blocks.
fn in_any(cidrs: &[String], ip: IpAddr) -> bool {
    cidrs
        .iter()
        .filter_map(|c| parse_cidr(c))
        .any(|(net, len)| match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                u32::from(n) & mask == u32::from(i) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                u128::from(n) & mask == u128::from(i) & mask
            }
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_matching() {
        let v4: IpAddr = "10.1.2.3".parse().unwrap();
        let v6: IpAddr = "::1".parse().unwrap();
        assert!(in_any(&["10.0.0.0/8".into()], v4));
        assert!(!in_any(&["10.1.3.0/24".into()], v4));
        assert!(in_any(&["0.0.0.0/0".into()], v4));
        assert!(in_any(&["10.1.2.3".into()], v4));
        assert!(in_any(&["::1/128".into()], v6));
        assert!(!in_any(&["10.0.0.0/8".into()], v6));
        for bad in ["10.0.0.0/33", "x", "1.2.3.4/", "::1/129"] {
            assert!(parse_cidr(bad).is_none(), "{bad}");
        }
    }
}
