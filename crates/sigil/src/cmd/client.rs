//! The client verbs: `operator`, `status`, `read`/`write`/`list`/`delete`, `kv`, `token` and
//! `policy`. Each is one or two API calls through `sigil_client`; output is the response's
//! JSON, pretty-printed.

use std::io::Read;
use std::path::Path;

use serde_json::{Map, Value, json};
use sigil_client::{Client, Reply};

use crate::cli::{
    InitArgs, KvCommand, OperatorCommand, PathArgs, PolicyCommand, TokenCommand, UnsealArgs,
    WriteArgs,
};
use crate::cmd::server::runtime;
use crate::exit::{CliError, CliResult};

/// Runs `f` with a client from the environment on a small runtime.
pub(crate) fn with_client<F, Fut>(f: F) -> CliResult
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = CliResult<Value>>,
{
    let client = Client::from_env()?;
    let rt = runtime()?;
    let out = rt.block_on(f(client))?;
    if !out.is_null() {
        println!(
            "{}",
            serde_json::to_string_pretty(&out).map_err(|e| CliError::failed(e.to_string()))?
        );
    }
    Ok(())
}

/// What a reply shows: `auth` when there is one, else `data`.
fn shown(reply: &Reply) -> Value {
    match reply.body.get("auth") {
        Some(a) if !a.is_null() => a.clone(),
        _ => reply.data().clone(),
    }
}

pub(crate) fn status() -> CliResult {
    with_client(|c| async move { Ok(c.read("sys/seal-status").await?.data().clone()) })
}

pub(crate) fn operator(cmd: &OperatorCommand) -> CliResult {
    match cmd {
        OperatorCommand::Init(InitArgs {
            key_shares,
            key_threshold,
        }) => {
            let body = json!({"secret_shares": key_shares, "secret_threshold": key_threshold});
            with_client(|c| async move { Ok(c.write("sys/init", &body).await?.data().clone()) })
        }
        OperatorCommand::Unseal(UnsealArgs { key, reset }) => {
            let body = if *reset {
                json!({"reset": true})
            } else {
                let key = match key {
                    Some(k) => k.clone(),
                    None => rpassword::prompt_password("Unseal key share: ")
                        .map_err(|e| CliError::io("read", Path::new("the terminal"), &e))?,
                };
                json!({ "key": key.trim() })
            };
            with_client(|c| async move { Ok(c.write("sys/unseal", &body).await?.data().clone()) })
        }
        OperatorCommand::Seal(_) => with_client(|c| async move {
            c.write("sys/seal", &json!({})).await?;
            Ok(Value::Null)
        }),
        OperatorCommand::Status(_) => status(),
        OperatorCommand::Rotate(_) => with_client(|c| async move {
            c.write("sys/rotate", &json!({})).await?;
            Ok(c.read("sys/key-status").await?.data().clone())
        }),
    }
}

pub(crate) fn read(args: &PathArgs) -> CliResult {
    let path = args.path.clone();
    with_client(|c| async move { Ok(shown(&c.read(&path).await?)) })
}

pub(crate) fn list(args: &PathArgs) -> CliResult {
    let path = args.path.clone();
    with_client(|c| async move { Ok(c.list(&path).await?.data().clone()) })
}

pub(crate) fn delete(args: &PathArgs) -> CliResult {
    let path = args.path.clone();
    with_client(|c| async move {
        c.delete(&path).await?;
        Ok(Value::Null)
    })
}

pub(crate) fn write(args: &WriteArgs) -> CliResult {
    let body = body_from(&args.pairs)?;
    let path = args.path.clone();
    with_client(|c| async move { Ok(shown(&c.write(&path, &body).await?)) })
}

/// Builds a JSON body from `key=value` pairs (`@FILE` values read the file), or reads a JSON
/// object from stdin when the only argument is `-`.
fn body_from(pairs: &[String]) -> CliResult<Value> {
    if pairs.len() == 1 && pairs[0] == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CliError::io("read", Path::new("stdin"), &e))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| CliError::bad_input(format!("stdin is not JSON: {e}")))?;
        if !v.is_object() {
            return Err(CliError::bad_input("stdin must hold a JSON object"));
        }
        return Ok(v);
    }
    let mut map = Map::new();
    for pair in pairs {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| CliError::usage(format!("{pair:?} is not key=value")))?;
        let value = match v.strip_prefix('@') {
            Some(file) => std::fs::read_to_string(file)
                .map_err(|e| CliError::io("read", Path::new(file), &e))?,
            None => v.to_owned(),
        };
        map.insert(k.to_owned(), Value::String(value));
    }
    Ok(Value::Object(map))
}

/// Finds the mount of `path` and its KV version with the pre-flight the Vault CLI uses.
async fn kv_mount(c: &Client, path: &str) -> CliResult<(String, String, bool)> {
    let reply = c.read(&format!("sys/internal/ui/mounts/{path}")).await?;
    let mount = reply
        .data()
        .get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| CliError::failed(format!("no KV mount serves {path}")))?
        .to_owned();
    let v2 = reply
        .data()
        .pointer("/options/version")
        .and_then(Value::as_str)
        == Some("2");
    let rest = path
        .strip_prefix(&mount)
        .or_else(|| path.strip_prefix(mount.trim_end_matches('/')))
        .unwrap_or("")
        .trim_start_matches('/')
        .to_owned();
    Ok((mount, rest, v2))
}

/// Like [`kv_mount`], for operations only KV v2 has.
async fn kv2_mount(c: &Client, path: &str) -> CliResult<(String, String)> {
    let (mount, rest, v2) = kv_mount(c, path).await?;
    if !v2 {
        return Err(CliError::usage(format!(
            "{mount} is a KV version 1 mount: no versions"
        )));
    }
    Ok((mount, rest))
}

pub(crate) fn kv(cmd: &KvCommand) -> CliResult {
    match cmd {
        KvCommand::Get(a) => {
            let (path, version) = (a.path.clone(), a.version);
            with_client(|c| async move {
                let (mount, rest, v2) = kv_mount(&c, &path).await?;
                if !v2 {
                    return Ok(c.read(&format!("{mount}{rest}")).await?.data().clone());
                }
                let q = version.map(|v| format!("?version={v}")).unwrap_or_default();
                Ok(c.read(&format!("{mount}data/{rest}{q}"))
                    .await?
                    .data()
                    .clone())
            })
        }
        KvCommand::Put(a) => {
            let body = body_from(&a.pairs)?;
            let path = a.path.clone();
            with_client(|c| async move {
                let (mount, rest, v2) = kv_mount(&c, &path).await?;
                if !v2 {
                    c.write(&format!("{mount}{rest}"), &body).await?;
                    return Ok(Value::Null);
                }
                let reply = c
                    .write(&format!("{mount}data/{rest}"), &json!({ "data": body }))
                    .await?;
                Ok(reply.data().clone())
            })
        }
        KvCommand::Delete(a) => {
            let path = a.path.clone();
            with_client(|c| async move {
                let (mount, rest, v2) = kv_mount(&c, &path).await?;
                let target = if v2 {
                    format!("{mount}data/{rest}")
                } else {
                    format!("{mount}{rest}")
                };
                c.delete(&target).await?;
                Ok(Value::Null)
            })
        }
        KvCommand::Patch(a) => {
            let body = body_from(&a.pairs)?;
            let path = a.path.clone();
            with_client(|c| async move {
                let (mount, rest) = kv2_mount(&c, &path).await?;
                let reply = c
                    .request(
                        "PATCH",
                        &format!("{mount}data/{rest}"),
                        Some(&json!({ "data": body })),
                    )
                    .await?;
                Ok(reply.data().clone())
            })
        }
        KvCommand::Undelete(a) | KvCommand::Destroy(a) => {
            let verb = if matches!(cmd, KvCommand::Undelete(_)) {
                "undelete"
            } else {
                "destroy"
            };
            let (path, versions) = (a.path.clone(), a.versions.clone());
            with_client(|c| async move {
                let (mount, rest) = kv2_mount(&c, &path).await?;
                c.write(
                    &format!("{mount}{verb}/{rest}"),
                    &json!({ "versions": versions }),
                )
                .await?;
                Ok(Value::Null)
            })
        }
        KvCommand::Metadata(a) => {
            let path = a.path.clone();
            with_client(|c| async move {
                let (mount, rest) = kv2_mount(&c, &path).await?;
                Ok(c.read(&format!("{mount}metadata/{rest}"))
                    .await?
                    .data()
                    .clone())
            })
        }
        KvCommand::List(a) => {
            let path = a.path.clone();
            with_client(|c| async move {
                let (mount, rest, v2) = kv_mount(&c, &path).await?;
                let target = if v2 {
                    format!("{mount}metadata/{rest}")
                } else {
                    format!("{mount}{rest}")
                };
                Ok(c.list(&target).await?.data().clone())
            })
        }
    }
}

pub(crate) fn token(cmd: &TokenCommand) -> CliResult {
    match cmd {
        TokenCommand::Generate(a) => crate::cmd::identity::join_token(a),
        TokenCommand::Create(a) => {
            let mut body = Map::new();
            if !a.policies.is_empty() {
                body.insert("policies".into(), json!(a.policies));
            }
            if let Some(ttl) = &a.ttl {
                body.insert("ttl".into(), json!(ttl));
            }
            let path = if a.orphan {
                "auth/token/create-orphan"
            } else {
                "auth/token/create"
            };
            let body = Value::Object(body);
            with_client(|c| async move { Ok(shown(&c.write(path, &body).await?)) })
        }
        TokenCommand::Lookup(a) => {
            let token = a.token.clone();
            with_client(|c| async move {
                let reply = match token {
                    Some(t) => c.write("auth/token/lookup", &json!({ "token": t })).await?,
                    None => c.read("auth/token/lookup-self").await?,
                };
                Ok(reply.data().clone())
            })
        }
        TokenCommand::Renew(a) => {
            let mut body = Map::new();
            if let Some(i) = &a.increment {
                body.insert("increment".into(), json!(i));
            }
            let path = match &a.token {
                Some(t) => {
                    body.insert("token".into(), json!(t));
                    "auth/token/renew"
                }
                None => "auth/token/renew-self",
            };
            let body = Value::Object(body);
            with_client(|c| async move { Ok(shown(&c.write(path, &body).await?)) })
        }
        TokenCommand::Revoke(a) => {
            let token = a.token.clone();
            with_client(|c| async move {
                match token {
                    Some(t) => c.write("auth/token/revoke", &json!({ "token": t })).await?,
                    None => c.write("auth/token/revoke-self", &json!({})).await?,
                };
                Ok(Value::Null)
            })
        }
    }
}

pub(crate) fn policy(cmd: &PolicyCommand) -> CliResult {
    match cmd {
        PolicyCommand::Write(a) => {
            let text = if a.file.as_os_str() == "-" {
                let mut t = String::new();
                std::io::stdin()
                    .read_to_string(&mut t)
                    .map_err(|e| CliError::io("read", Path::new("stdin"), &e))?;
                t
            } else {
                std::fs::read_to_string(&a.file).map_err(|e| CliError::io("read", &a.file, &e))?
            };
            let path = format!("sys/policies/acl/{}", a.name);
            with_client(|c| async move {
                c.write(&path, &json!({ "policy": text })).await?;
                Ok(Value::Null)
            })
        }
        PolicyCommand::Read(a) => {
            let path = format!("sys/policies/acl/{}", a.name);
            with_client(|c| async move {
                let reply = c.read(&path).await?;
                let text = reply
                    .data()
                    .get("policy")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                println!("{text}");
                Ok(Value::Null)
            })
        }
        PolicyCommand::List(_) => {
            with_client(|c| async move { Ok(c.list("sys/policies/acl").await?.data().clone()) })
        }
        PolicyCommand::Delete(a) => {
            let path = format!("sys/policies/acl/{}", a.name);
            with_client(|c| async move {
                c.delete(&path).await?;
                Ok(Value::Null)
            })
        }
    }
}
