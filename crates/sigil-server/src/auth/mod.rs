//! Authentication: the token store (every request's credential) and the auth methods that
//! issue tokens (AppRole, TLS client certificates, JWTs), and the role routes the last two
//! share.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use sigil_storage::Page;

use crate::api::{ApiError, Operation, Request, Response};
use crate::view::View;

pub mod approle;
pub mod cert;
pub mod cidr;
pub mod jwt;
pub mod token;
pub mod token_engine;

/// Where an auth method keeps role `name` under `prefix` (`certs`, `role`); names are
/// Vault's: letters, digits, `-`, `_` and `.`.
pub(crate) fn role_key(prefix: &str, name: &str) -> Result<String, ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(format!("{prefix}/{name}"))
    } else {
        Err(ApiError::bad(
            "role names are letters, digits, '-', '_' and '.'",
        ))
    }
}

/// A role's stored form and how a request body makes one.
pub(crate) trait StoredRole: Serialize + DeserializeOwned {
    /// Parses and checks a whole role from a request body.
    fn from_body(data: &Map<String, Value>, name: &str) -> Result<Self, ApiError>;
    /// The role as a read shows it.
    fn to_data(&self) -> Map<String, Value>;
}

/// `LIST <prefix>` (`name` empty) and read, write, delete of `<prefix>/<name>`.
pub(crate) async fn role_routes<R: StoredRole>(
    req: &Request,
    view: &View,
    prefix: &str,
    name: &str,
) -> Result<Response, ApiError> {
    if name.is_empty() {
        if req.operation != Operation::List {
            return Err(ApiError::UnsupportedPath);
        }
        let keys = view.list(&format!("{prefix}/"), Page::default()).await?;
        if keys.is_empty() {
            return Err(ApiError::NotFound);
        }
        return Ok(Response::json(json!({ "keys": keys })));
    }
    let key = role_key(prefix, name)?;
    match req.operation {
        Operation::Read => match view.get_json::<R>(&key).await? {
            Some(r) => Ok(Response::data(r.to_data())),
            None => Err(ApiError::NotFound),
        },
        Operation::Create | Operation::Update => {
            let role = R::from_body(&req.data, name)?;
            view.put_json(&key, &role).await?;
            Ok(Response::empty())
        }
        Operation::Delete => {
            view.delete(&key).await?;
            Ok(Response::empty())
        }
        _ => Err(ApiError::UnsupportedOperation),
    }
}

/// The answer to a successful login: a service token from `tokens` with `params`, issued at
/// `now` without a parent.
pub(crate) async fn login_response(
    tokens: &token::TokenStore,
    params: token::TokenParams,
    now: u64,
) -> Result<Response, ApiError> {
    let mut auth = tokens.create(None, params, now).await?;
    auth.token_type = "service".into();
    Ok(Response {
        auth: Some(auth),
        ..Response::default()
    })
}
