//! The SPIFFE identity verbs (`entry`, `bundle`, `x509`, `jwt`, `token generate`, `agent`):
//! each is one API call to the identity engine's mount.

use serde_json::{Map, Value, json};

use crate::cli::{
    AgentCommand, AgentRef, BundleCommand, BundleFormat, EntryCommand, EntryFields, JoinTokenArgs,
    JwtCommand, X509Command,
};
use crate::cmd::client::with_client;
use crate::exit::{CliError, CliResult};

/// The request body for the entry fields given (the others are left out, so an update
/// changes only those).
fn entry_body(f: &EntryFields) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    if let Some(v) = &f.spiffe_id {
        put("spiffe_id", json!(v));
    }
    if let Some(v) = &f.parent_id {
        put("parent_id", json!(v));
    }
    for (k, list) in [
        ("selectors", &f.selectors),
        ("dns_names", &f.dns_names),
        ("federates_with", &f.federates_with),
    ] {
        if !list.is_empty() {
            put(k, json!(list));
        }
    }
    for (k, v) in [
        ("x509_svid_ttl", &f.x509_svid_ttl),
        ("jwt_svid_ttl", &f.jwt_svid_ttl),
    ] {
        if let Some(v) = v {
            put(k, json!(v));
        }
    }
    if let Some(v) = f.admin {
        put("admin", json!(v));
    }
    if let Some(v) = &f.hint {
        put("hint", json!(v));
    }
    if let Some(v) = f.expires_at {
        put("expires_at", json!(v));
    }
    Value::Object(m)
}

pub(crate) fn entry(cmd: &EntryCommand) -> CliResult {
    match cmd {
        EntryCommand::Create(f) => {
            let (path, body) = (format!("{}/entry", f.mount.mount), entry_body(f));
            with_client(|c| async move { Ok(c.write(&path, &body).await?.data().clone()) })
        }
        EntryCommand::Update(u) => {
            let path = format!("{}/entry/{}", u.fields.mount.mount, u.id);
            let body = entry_body(&u.fields);
            with_client(|c| async move { Ok(c.write(&path, &body).await?.data().clone()) })
        }
        EntryCommand::Show(e) => {
            let path = format!("{}/entry/{}", e.mount.mount, e.id);
            with_client(|c| async move { Ok(c.read(&path).await?.data().clone()) })
        }
        EntryCommand::Delete(e) => {
            let path = format!("{}/entry/{}", e.mount.mount, e.id);
            with_client(|c| async move {
                c.delete(&path).await?;
                Ok(Value::Null)
            })
        }
        EntryCommand::List(m) => {
            let path = format!("{}/entries", m.mount);
            with_client(|c| async move { Ok(c.list(&path).await?.data().clone()) })
        }
    }
}

pub(crate) fn bundle(cmd: &BundleCommand) -> CliResult {
    let BundleCommand::Show(show) = cmd;
    let (path, format) = match show.format {
        BundleFormat::Pem => (format!("{}/bundle/pem", show.mount.mount), show.format),
        BundleFormat::Spiffe => (format!("{}/bundle", show.mount.mount), show.format),
    };
    with_client(|c| async move {
        let body = c.read(&path).await?.body;
        match (format, body) {
            // PEM is printed as is; the document as JSON.
            (BundleFormat::Pem, Value::String(pem)) => {
                print!("{pem}");
                Ok(Value::Null)
            }
            (BundleFormat::Spiffe, doc @ Value::Object(_)) => Ok(doc),
            _ => Err(CliError::failed(
                "the server has no trust domain configured at this mount",
            )),
        }
    })
}

pub(crate) fn x509(cmd: &X509Command) -> CliResult {
    let X509Command::Mint(m) = cmd;
    let path = format!("{}/x509/mint", m.mount.mount);
    let mut body = json!({ "spiffe_id": m.spiffe_id });
    if !m.dns_names.is_empty() {
        body["dns_names"] = json!(m.dns_names);
    }
    if let Some(ttl) = &m.ttl {
        body["ttl"] = json!(ttl);
    }
    with_client(|c| async move { Ok(c.write(&path, &body).await?.data().clone()) })
}

pub(crate) fn jwt(cmd: &JwtCommand) -> CliResult {
    let JwtCommand::Mint(m) = cmd;
    let path = format!("{}/jwt/mint", m.mount.mount);
    let mut body = json!({ "spiffe_id": m.spiffe_id, "audience": m.audience });
    if let Some(ttl) = &m.ttl {
        body["ttl"] = json!(ttl);
    }
    with_client(|c| async move {
        let reply = c.write(&path, &body).await?;
        match reply.data().get("token").and_then(Value::as_str) {
            Some(token) => {
                println!("{token}");
                Ok(Value::Null)
            }
            None => Err(CliError::failed("the server answered without a token")),
        }
    })
}

pub(crate) fn join_token(a: &JoinTokenArgs) -> CliResult {
    let path = format!("{}/token", a.mount.mount);
    let mut body = json!({});
    if let Some(ttl) = &a.ttl {
        body["ttl"] = json!(ttl);
    }
    if let Some(id) = &a.spiffe_id {
        body["spiffe_id"] = json!(id);
    }
    with_client(|c| async move { Ok(c.write(&path, &body).await?.data().clone()) })
}

/// The admin path of an agent named by its SPIFFE ID (`spiffe://td/sigil/agent/<m>/<id>`)
/// or by `<m>/<id>`.
fn agent_path(a: &AgentRef, action: &str) -> String {
    let name = a
        .agent
        .strip_prefix("spiffe://")
        .and_then(|rest| rest.split_once("/sigil/agent/"))
        .map_or(a.agent.as_str(), |(_, tail)| tail);
    format!("{}/agent/{name}{action}", a.mount.mount)
}

pub(crate) fn agent(cmd: &AgentCommand) -> CliResult {
    match cmd {
        AgentCommand::Run(args) => crate::cmd::agent::run(args),
        AgentCommand::List(m) => {
            let path = format!("{}/agents", m.mount);
            with_client(|c| async move { Ok(c.list(&path).await?.data().clone()) })
        }
        AgentCommand::Show(a) => {
            let path = agent_path(a, "");
            with_client(|c| async move { Ok(c.read(&path).await?.data().clone()) })
        }
        AgentCommand::Evict(a) => {
            let path = agent_path(a, "");
            with_client(|c| async move {
                c.delete(&path).await?;
                Ok(Value::Null)
            })
        }
        AgentCommand::Ban(a) => {
            let path = agent_path(a, "/ban");
            with_client(|c| async move { Ok(c.write(&path, &json!({})).await?.data().clone()) })
        }
    }
}
