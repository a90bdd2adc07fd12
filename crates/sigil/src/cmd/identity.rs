//! The SPIFFE identity verbs (`entry`, `bundle`, `x509`, `jwt`): each is one API call to the
//! identity engine's mount.

use serde_json::{Map, Value, json};

use crate::cli::{BundleCommand, BundleFormat, EntryCommand, EntryFields, JwtCommand, X509Command};
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
