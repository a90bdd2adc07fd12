//! The issuer and key endpoints: `LIST issuers`, `issuer/<ref>` (read, rename, delete) and
//! what hangs under it (`pem`, `der`, `json`, `issue`, `sign`, `sign-intermediate`),
//! `config/issuers`, `LIST keys`, `key/<ref>`, `ca_chain` and `cert/ca_chain`, and the
//! handlers that create issuers (`intermediate/generate`, `set-signed`, the imports). Writes
//! run under the engine lock and drop the changed issuers' cached signers.

use serde_json::{Map, Value, json};

use super::import::{ImportKind, plan_import};
use super::issuers::{
    CONFIG_KEY, IssuerEntry, IssuersConfig, SignerCache, all_issuers, all_keys, check_name, config,
    rechain, resolve_issuer, resolve_key,
};
use super::{CertEntry, Pki, intermediate, now};
use crate::api::{ApiError, Operation, Request, Response, field_str};
use crate::engine::split_first;
use crate::view::{View, ViewOp, to_json};

impl Pki {
    /// `root/sign-intermediate` and `issuer/:ref/sign-intermediate`.
    pub(super) async fn sign_intermediate(
        &self,
        req: &Request,
        view: &View,
        issuer_ref: &str,
    ) -> Result<Response, ApiError> {
        let ca = resolve_issuer(view, issuer_ref).await?;
        let signer = self.signers.get(view, &ca).await?;
        let signed = intermediate::sign_intermediate(&req.data, &ca, &signer, now(req))?;
        let entry = CertEntry {
            certificate: signed.pem.clone(),
            revocation_time: 0,
            issuer_id: ca.issuer_id.clone(),
        };
        view.put_json(&intermediate::cert_key(&signed.serial), &entry)
            .await?;
        // As Vault: the new CA certificate, then its issuer and everything above.
        let chain: Vec<String> = std::iter::once(signed.pem.clone())
            .chain(ca.full_chain())
            .collect();
        let mut resp = Response::json(json!({
            "certificate": signed.pem,
            "issuing_ca": ca.certificate,
            "ca_chain": chain,
            "serial_number": signed.serial,
            "expiration": signed.not_after,
        }));
        resp.warnings = signed.warnings;
        Ok(resp)
    }

    /// `intermediate/generate/:kind`: a key kept here and a CSR for it.
    pub(super) async fn generate_intermediate(
        &self,
        req: &Request,
        view: &View,
        kind: &str,
    ) -> Result<Response, ApiError> {
        let exported = super::exported_kind(kind)?;
        let (key, data) = intermediate::generate_csr(&req.data, exported)?;
        let _guard = self.lock.lock().await;
        intermediate::check_key_name_free(view, &key.key_name).await?;
        view.put_json(&format!("keys/{}", key.key_id), &key).await?;
        Ok(Response::data(data))
    }

    /// `intermediate/set-signed`, `issuers/import/bundle` and `config/ca`.
    pub(super) async fn import(
        &self,
        req: &Request,
        view: &View,
        kind: ImportKind,
    ) -> Result<Response, ApiError> {
        let field = match kind {
            ImportKind::SetSigned => "certificate",
            ImportKind::Bundle => "pem_bundle",
        };
        let text = field_str(&req.data, field)
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| ApiError::bad(format!("the {field} field is required")))?;
        let _guard = self.lock.lock().await;
        let plan = plan_import(view, &text, kind).await?;
        let changed: Vec<String> = plan.changed.iter().map(|e| e.issuer_id.clone()).collect();
        let ops = intermediate::store_issuers(view, plan.keys, plan.new, plan.changed).await?;
        view.transaction(ops).await?;
        self.signers.forget(changed.iter().map(String::as_str));
        Ok(Response::data(plan.data))
    }

    /// `issuer/:ref` and what is under it.
    pub(super) async fn issuer_paths(
        &self,
        req: &Request,
        view: &View,
        rest: &str,
    ) -> Result<Response, ApiError> {
        let write = matches!(req.operation, Operation::Create | Operation::Update);
        let (reference, tail) = split_first(rest);
        let (what, role) = split_first(tail);
        match (what, req.operation) {
            ("", _) if write || req.operation == Operation::Delete => {
                let _guard = self.lock.lock().await;
                issuer(req, view, reference, &self.signers).await
            }
            ("", Operation::Read) => issuer(req, view, reference, &self.signers).await,
            ("crl", Operation::Read) => {
                let form = match role {
                    "" => super::CrlForm::Json,
                    "der" => super::CrlForm::Der,
                    "pem" => super::CrlForm::Pem,
                    _ => return Err(ApiError::UnsupportedPath),
                };
                self.read_crl(req, view, reference, form).await
            }
            ("pem" | "der" | "json", Operation::Read) if role.is_empty() => {
                read_issuer_as(view, reference, what).await
            }
            ("issue", _) if write => {
                self.issue(req, view, role, super::Mode::Issue, Some(reference))
                    .await
            }
            ("sign", _) if write => {
                self.issue(req, view, role, super::Mode::Sign, Some(reference))
                    .await
            }
            ("sign-intermediate", _) if write && role.is_empty() => {
                self.sign_intermediate(req, view, reference).await
            }
            _ => Err(ApiError::UnsupportedPath),
        }
    }
}

/// `LIST issuers`: ids with `key_info` (name, whether default, serial).
pub(super) async fn list_issuers(view: &View) -> Result<Response, ApiError> {
    let default = config(view).await?.default;
    let all = all_issuers(view).await?;
    if all.is_empty() {
        return Err(ApiError::NotFound);
    }
    let keys: Vec<&str> = all.iter().map(|e| e.issuer_id.as_str()).collect();
    let info: Map<String, Value> = all
        .iter()
        .map(|e| {
            (
                e.issuer_id.clone(),
                json!({
                    "issuer_name": e.issuer_name,
                    "is_default": e.issuer_id == default,
                    "serial_number": e.serial_number,
                    "key_id": e.key_id,
                }),
            )
        })
        .collect();
    Ok(Response::json(json!({ "keys": keys, "key_info": info })))
}

/// `LIST keys`: ids with `key_info` (name, type).
pub(super) async fn list_keys(view: &View) -> Result<Response, ApiError> {
    let all = all_keys(view).await?;
    if all.is_empty() {
        return Err(ApiError::NotFound);
    }
    let keys: Vec<&str> = all.iter().map(|k| k.key_id.as_str()).collect();
    let info: Map<String, Value> = all
        .iter()
        .map(|k| {
            (
                k.key_id.clone(),
                json!({"key_name": k.key_name, "key_type": k.key_type}),
            )
        })
        .collect();
    Ok(Response::json(json!({ "keys": keys, "key_info": info })))
}

/// `key/<ref>` read: the key's facts, never its private part.
pub(super) async fn read_key(view: &View, reference: &str) -> Result<Response, ApiError> {
    Ok(Response::data(
        resolve_key(view, reference).await?.to_data(),
    ))
}

/// `issuer/<ref>/{pem,der,json}`: the certificate alone, raw, or with its chain as JSON.
pub(super) async fn read_issuer_as(
    view: &View,
    reference: &str,
    form: &str,
) -> Result<Response, ApiError> {
    let e = resolve_issuer(view, reference).await?;
    match form {
        "pem" => Ok(Response::raw(
            "application/pem-certificate-chain",
            e.certificate.into_bytes(),
        )),
        "der" => Ok(Response::raw("application/pkix-cert", e.der()?)),
        _ => Ok(Response::json(json!({
            "certificate": e.certificate,
            "ca_chain": e.full_chain(),
            "issuer_id": e.issuer_id,
            "issuer_name": e.issuer_name,
        }))),
    }
}

/// `ca_chain` (raw PEMs) and `cert/ca_chain` (JSON): the default issuer and everything above
/// it, leaf-most first, joined by newlines with no trailing one (as Vault writes it; the JSON
/// `ca_chain` is that same string, not a list). Before a default issuer the raw read answers
/// 204, as the other raw reads do, and the JSON read says there is none.
pub(super) async fn read_default_chain(view: &View, raw: bool) -> Result<Response, ApiError> {
    let entry = if raw {
        let id = config(view).await?.default;
        if id.is_empty() {
            None
        } else {
            view.get_json::<IssuerEntry>(&format!("issuers/{id}"))
                .await?
        }
    } else {
        Some(resolve_issuer(view, "default").await?)
    };
    let joined = entry
        .map(|e| {
            e.full_chain()
                .iter()
                .map(|p| p.trim())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    if raw {
        let status = if joined.is_empty() { 204 } else { 200 };
        return Ok(Response::raw("application/pkix-cert", joined.into_bytes()).with_status(status));
    }
    Ok(Response::json(json!({
        "certificate": joined,
        "ca_chain": joined,
        "revocation_time": 0,
        "revocation_time_rfc3339": "",
    })))
}

/// `config/issuers` read and write (`default`: an issuer reference).
pub(super) async fn config_issuers(req: &Request, view: &View) -> Result<Response, ApiError> {
    let answer = |c: &IssuersConfig| {
        Response::json(json!({
            "default": c.default,
            "default_follows_latest_issuer": c.default_follows_latest_issuer,
        }))
    };
    match req.operation {
        Operation::Read => Ok(answer(&config(view).await?)),
        Operation::Create | Operation::Update => {
            let reference = field_str(&req.data, "default").unwrap_or_default();
            if reference.is_empty() || reference == "default" {
                return Err(ApiError::bad(
                    "Invalid issuer specification; must be non-empty and can't be 'default'.",
                ));
            }
            if matches!(
                crate::api::bool_field(&req.data, "default_follows_latest_issuer")?,
                Some(true)
            ) {
                return Err(ApiError::bad(
                    "default_follows_latest_issuer is not supported: set default explicitly",
                ));
            }
            let entry = resolve_issuer(view, &reference).await?;
            let mut c = config(view).await?;
            // The cache is by id, so moving the default changes no cached signer.
            c.default = entry.issuer_id;
            view.put_json(CONFIG_KEY, &c).await?;
            Ok(answer(&c))
        }
        _ => Err(ApiError::UnsupportedOperation),
    }
}

/// `issuer/<ref>` read, update (`issuer_name`) and delete. Writes run under the engine lock.
pub(super) async fn issuer(
    req: &Request,
    view: &View,
    reference: &str,
    cache: &SignerCache,
) -> Result<Response, ApiError> {
    match req.operation {
        Operation::Read => Ok(Response::data(
            resolve_issuer(view, reference).await?.to_data(),
        )),
        Operation::Create | Operation::Update | Operation::Patch => {
            let mut e = resolve_issuer(view, reference).await?;
            if let Some(name) = field_str(&req.data, "issuer_name") {
                check_name("issuer_name", &name)?;
                if !name.is_empty()
                    && all_issuers(view)
                        .await?
                        .iter()
                        .any(|o| o.issuer_name == name && o.issuer_id != e.issuer_id)
                {
                    return Err(ApiError::bad("issuer name already in use"));
                }
                e.issuer_name = name;
            }
            view.put_json(&format!("issuers/{}", e.issuer_id), &e)
                .await?;
            cache.forget([e.issuer_id.as_str()]);
            Ok(Response::data(e.to_data()))
        }
        Operation::Delete => {
            let e = match resolve_issuer(view, reference).await {
                Ok(e) => e,
                // Deleting what is not there succeeds, as Vault's deletes do.
                Err(ApiError::BadRequest(_)) if reference != "default" => {
                    return Ok(Response::empty());
                }
                Err(err) => return Err(err),
            };
            let mut ops = vec![ViewOp::Delete(format!("issuers/{}", e.issuer_id))];
            let mut c = config(view).await?;
            let mut resp = Response::empty();
            if c.default == e.issuer_id {
                c.default.clear();
                ops.push(ViewOp::Put(CONFIG_KEY.into(), to_json(&c)?));
                resp = resp.warn(
                    "Deleted issuer was the default; set a new one with config/issuers \
                     before issuing from default",
                );
            }
            let mut rest: Vec<IssuerEntry> = all_issuers(view)
                .await?
                .into_iter()
                .filter(|o| o.issuer_id != e.issuer_id)
                .collect();
            ops.extend(rechain(&mut rest)?);
            view.transaction(ops).await?;
            cache.forget([e.issuer_id.as_str()]);
            Ok(resp)
        }
        _ => Err(ApiError::UnsupportedOperation),
    }
}
