//! The `pki` secrets engine: a private certificate authority speaking Vault's PKI API, so
//! that `bao write pki/issue/web common_name=...` and hvac's PKI calls work unchanged.
//!
//! A mount holds several issuers (roots and intermediates), as Vault ≥ 1.11 does. Layout:
//! [`ca`] key types, serials, CA certificate parameters and a loaded issuer; [`issuers`] the
//! issuer and key storage, references (id, name or `default`), chains and the cache of
//! parsed signers; [`issuer_api`] the issuer, key and chain endpoints; [`intermediate`] new
//! issuers' storage, CSRs and `sign-intermediate`; [`import`] `set-signed` and bundles;
//! [`role`] roles and their name policy (pure); [`profile`] a role's key usages, EKUs and
//! subject fields; [`issue`] leaf building for `issue`, `sign` and `sign-verbatim`
//! ([`verbatim`] its open role and the CSR's subject); [`key_format`] the issued key's
//! container; [`urls`] `config/urls` and the AIA and CRL distribution point extensions;
//! [`state`] the cache of roles, issuers and URLs that issuance reads (dropped by every other
//! write); [`tidy`] `tidy` and `tidy-status`; [`revoke`] revocation and the CRL reads; [`crl`] the
//! revoked list and CRL signing; [`ocsp`] the OCSP responder, which reads `certs/` and the
//! default issuer and writes nothing; this file the routing.
//!
//! Storage in the mount's view: `issuers/<id>` (certificate, name, key id or "" when only
//! the certificate is known, the chain above it), `keys/<id>` (PKCS#8, name, type: the
//! barrier encrypts it), `config/issuers` (the default issuer), `roles/<name>`,
//! `certs/<serial with dashes>` (every issued certificate unless the role says `no_store`,
//! the roots and the CAs this mount signed, each with its issuer's id), under
//! `crl/<issuer id>/` the revoked list in chunks and the signed CRL (see [`crl`]; revocation
//! uses the default issuer's), `config/urls`, and `tidy/status` (the last tidy's outcome).
//! Changes to issuers, keys and revocations take the engine's lock, so two revocations cannot
//! lose one another's entry and a changed issuer's cached signer is dropped before anyone can
//! use it; issuance writes only its own certificate and needs no lock; tidy takes it per page
//! of deletions.
//!
//! Raw reads (`ca`, `ca/pem`, `ca_chain`, `crl`, `crl/pem`, `issuer/<ref>/{pem,der}`) answer
//! with the DER or PEM body itself and its content type, as Vault does; before a root exists
//! the default issuer's reads answer 204 with no body.
//! `ocsp` (`POST`, DER body) and `ocsp/<base64>` (`GET`) answer DER OCSP responses.
//! `issue` and `sign` answer in Vault's `format`: PEM, bare base64 DER or a PEM bundle.
//! `cert/crl` is the CRL in PEM inside Vault's JSON, as `crl/pem` serves it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, json};
use sigil_core::encoding::{Pem, base64_encode};
use sigil_storage::Page;
use tokio::sync::Mutex;

use crate::api::{ApiError, Operation, Request, Response, field_str, u64_field};
use crate::engine::{Engine, split_first};
use crate::view::View;

mod ca;
mod crl;
mod import;
mod intermediate;
mod issue;
mod issuer_api;
mod issuers;
mod key_format;
mod ocsp;
mod profile;
mod revoke;
mod role;
mod state;
mod tidy;
mod urls;
mod verbatim;

#[cfg(test)]
mod tests;

// What the SPIFFE identity engine shares: key types, leaf keys, serials, dates and CSR checks.
pub(crate) use ca::{KeySpec, at, expiry, random_serial, serial_colons};
pub(crate) use issue::with_verified_csr;
pub(crate) use key_format::{KeyFormat, LeafKey};
pub(crate) use role::{glob_match, is_hostname};

use ca::{RootRequest, normalize_serial, private_key_pem, serial_key};
use issue::{Format, LeafContext, Mode, Names, requested_ttl, sign_leaf, validity};
use revoke::CrlForm;
use role::{Role, check_role_name};

/// The stored form of an issued certificate.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CertEntry {
    /// PEM.
    certificate: String,
    /// Unix seconds; 0 while not revoked.
    revocation_time: i64,
    /// The issuer that signed it ("" for entries older than several issuers, and for the
    /// roots, which sign themselves).
    #[serde(default)]
    issuer_id: String,
}

/// The pki engine of one mount.
#[derive(Debug, Default)]
pub struct Pki {
    /// Serializes changes to issuers, keys and the revoked list.
    lock: Mutex<()>,
    /// Parsed signers by issuer id, dropped under `lock` when an issuer changes.
    signers: issuers::SignerCache,
    /// Roles, resolved issuers and `config/urls` for `issue` and `sign`.
    state: state::StateCache,
}

impl Pki {
    /// A new engine.
    pub fn new() -> Self {
        Self::default()
    }
}

/// A revocation time as Vault shows it beside the Unix seconds: RFC 3339, or "" for 0 (not
/// revoked).
fn rfc3339(t: i64) -> String {
    if t == 0 {
        return String::new();
    }
    at(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn now(req: &Request) -> i64 {
    i64::try_from(req.now_unix()).unwrap_or(i64::MAX)
}

async fn load_role(view: &View, name: &str) -> Result<Role, ApiError> {
    check_role_name(name)?;
    view.get_json::<Role>(&format!("roles/{name}"))
        .await?
        .ok_or_else(|| ApiError::bad(format!("unknown role: {name}")))
}

/// A body that is not JSON (DER or PEM), sent as is.
fn raw(content_type: &'static str, body: &[u8]) -> Response {
    Response::raw(content_type, body.to_vec())
}

/// What a raw read answers before there is anything to read: Vault's 204 with no body, still
/// labelled with the content type, so a relying party polling `ca` or `crl` before the root
/// exists sees "nothing yet" rather than an error.
fn no_content(content_type: &'static str) -> Response {
    Response::raw(content_type, Vec::new()).with_status(204)
}

/// Whether the mount has a default issuer.
async fn has_ca(view: &View) -> Result<bool, ApiError> {
    Ok(!issuers::config(view).await?.default.is_empty())
}

/// The `:kind` of `root/generate` and `intermediate/generate`: whether the key is returned.
fn exported_kind(kind: &str) -> Result<bool, ApiError> {
    match kind {
        "internal" => Ok(false),
        "exported" => Ok(true),
        "" => Err(ApiError::UnsupportedPath),
        // Vault's words; its "existing" and "kms" are not supported.
        _ => Err(ApiError::bad(
            "the \"exported\" path parameter must be \"internal\" or \"exported\"",
        )),
    }
}

fn pem_of(label: &str, der: &[u8]) -> Result<String, ApiError> {
    Pem::encode(label, der).map_err(|_| ApiError::internal("encoding PEM"))
}

impl Pki {
    async fn generate_root(
        &self,
        req: &Request,
        view: &View,
        kind: &str,
    ) -> Result<Response, ApiError> {
        let exported = exported_kind(kind)?;
        let d = &req.data;
        let common_name = field_str(d, "common_name").unwrap_or_default();
        if common_name.is_empty() || common_name.len() > 64 {
            return Err(ApiError::bad(
                "common_name is required, at most 64 characters",
            ));
        }
        let max_path_length = intermediate::path_length(d)?;
        let issuer_name = field_str(d, "issuer_name").unwrap_or_default();
        let key_name = field_str(d, "key_name").unwrap_or_default();
        issuers::check_name("issuer_name", &issuer_name)?;
        issuers::check_name("key_name", &key_name)?;
        let root = RootRequest {
            common_name,
            ttl: requested_ttl(d)?
                .filter(|t| *t > 0)
                .unwrap_or(issue::DEFAULT_TTL),
            key: KeySpec::parse(
                &field_str(d, "key_type").unwrap_or_else(|| "ec".into()),
                u64_field(d, "key_bits")?.unwrap_or(0),
            )?,
            max_path_length,
            issuer_name,
        };
        let _guard = self.lock.lock().await;
        let (key, mut data) = intermediate::store_root(view, &root, &key_name, now(req)).await?;
        if exported {
            data.insert("private_key".into(), private_key_pem(&key)?.as_str().into());
            data.insert("private_key_type".into(), root.key.name().into());
        }
        Ok(Response::data(data))
    }

    async fn issue(
        &self,
        req: &Request,
        view: &View,
        role_name: &str,
        mode: Mode,
        issuer_ref: Option<&str>,
    ) -> Result<Response, ApiError> {
        let role = match mode {
            Mode::Verbatim if role_name.is_empty() => Arc::new(verbatim::role(&req.data, None)?),
            Mode::Verbatim => {
                let named = Role::clone(&*self.state.role(view, role_name).await?);
                Arc::new(verbatim::role(&req.data, Some(named))?)
            }
            _ => self.state.role(view, role_name).await?,
        };
        let ca = self
            .state
            .issuer(view, issuer_ref.unwrap_or(role.issuer_ref.as_str()))
            .await?;
        let format = Format::from_body(&req.data)?;
        let key_format = KeyFormat::from_body(&req.data)?;
        let mut names = Names::from_body(&req.data)?;
        let mut ctx = LeafContext {
            urls: self.state.urls(view).await?,
            verbatim_subject: None,
        };
        let mut warnings = Vec::new();
        let parsed = if mode == Mode::Issue {
            None
        } else {
            let pem = field_str(&req.data, "csr")
                .ok_or_else(|| ApiError::bad("the csr field is required"))?;
            let mut parsed = issue::parse_csr(&pem, &role)?;
            if mode == Mode::Verbatim {
                // The CSR's subject and SANs exactly as they are, with no name policy.
                ctx.verbatim_subject = Some(verbatim::subject(&pem)?);
                names = std::mem::take(&mut parsed.names);
            } else {
                names = issue::csr_names(&req.data, &role, names, &mut parsed, &mut warnings);
            }
            Some(parsed)
        };
        if mode != Mode::Verbatim {
            names.check(&role)?;
        }
        let (not_before, not_after, lifetime_warnings) =
            validity(now(req), requested_ttl(&req.data)?, &role, ca.not_after);
        warnings.extend(lifetime_warnings);
        let issuer = self.signers.get(view, &ca).await?;
        let mut data = Map::new();
        // The issued key in the requested encoding, zeroized when dropped.
        let mut private_key = None;
        let validity = (not_before, not_after);
        let leaf = match parsed {
            Some(c) => sign_leaf(&names, &role, &c.spki, issuer.as_ref(), validity, &ctx)?,
            None => {
                let (key, spec) = issue::issue_key(&role)?;
                let leaf = sign_leaf(&names, &role, &key, issuer.as_ref(), validity, &ctx)?;
                private_key = Some(key.encode(key_format, format == Format::Der)?);
                data.insert("private_key_type".into(), spec.name().into());
                leaf
            }
        };
        if !role.no_store {
            let entry = CertEntry {
                certificate: leaf.pem.clone(),
                revocation_time: 0,
                issuer_id: ca.issuer_id.clone(),
            };
            view.put_json(&format!("certs/{}", serial_key(&leaf.serial)), &entry)
                .await?;
        }
        let (certificate, issuing_ca) =
            match format {
                Format::Pem => (leaf.pem, ca.certificate.clone()),
                Format::Der => (
                    base64_encode(&Pem::decode_expecting(&leaf.pem, "CERTIFICATE").map_err(
                        |_| ApiError::internal("the issued certificate is not one PEM block"),
                    )?),
                    base64_encode(&ca.der()?),
                ),
                // As in Vault: the key (when issued), the leaf, then the issuing CA.
                Format::PemBundle => {
                    let mut bundle = String::new();
                    for block in [private_key.as_deref().map(String::as_str), Some(&leaf.pem)]
                        .into_iter()
                        .flatten()
                        .chain([ca.certificate.as_str()])
                    {
                        bundle.push_str(block.trim_end());
                        bundle.push('\n');
                    }
                    (bundle, ca.certificate.clone())
                }
            };
        if let Some(key) = &private_key {
            data.insert("private_key".into(), key.as_str().into());
        }
        data.insert("certificate".into(), certificate.into());
        // The issuing CA and everything above it, in the answer's encoding.
        let chain = match format {
            Format::Der => ca
                .full_chain()
                .iter()
                .map(|p| intermediate::der_b64(p))
                .collect::<Result<Vec<_>, _>>()?,
            _ => ca.full_chain(),
        };
        data.insert("ca_chain".into(), json!(chain));
        data.insert("issuing_ca".into(), issuing_ca.into());
        data.insert("serial_number".into(), leaf.serial.into());
        data.insert("not_before".into(), not_before.into());
        data.insert("expiration".into(), leaf.not_after.into());
        let mut resp = Response::data(data);
        resp.warnings = warnings;
        Ok(resp)
    }

    async fn roles(&self, req: &Request, view: &View, name: &str) -> Result<Response, ApiError> {
        check_role_name(name)?;
        let key = format!("roles/{name}");
        match req.operation {
            Operation::Read => match view.get_json::<Role>(&key).await? {
                Some(r) => Ok(Response::data(r.to_data())),
                None => Err(ApiError::NotFound),
            },
            Operation::Create | Operation::Update => {
                let role = Role::from_body(&req.data)?;
                view.put_json(&key, &role).await?;
                // Vault answers a role write with the role as stored.
                Ok(Response::data(role.to_data()))
            }
            Operation::Delete => {
                view.delete(&key).await?;
                Ok(Response::empty())
            }
            _ => Err(ApiError::UnsupportedOperation),
        }
    }

    async fn read_cert(
        &self,
        req: &Request,
        view: &View,
        which: &str,
    ) -> Result<Response, ApiError> {
        // The CRL as the `crl` route reads it, in PEM (Vault's `cert/crl`).
        if which == "crl" {
            let der = self
                .crl_der(req, view, "default")
                .await?
                .ok_or(ApiError::NotFound)?;
            return Ok(Response::json(
                json!({"certificate": pem_of("X509 CRL", &der)?, "revocation_time": 0}),
            ));
        }
        if which == "ca" {
            let ca = issuers::resolve_issuer(view, "default").await?;
            return Ok(Response::json(
                json!({"certificate": ca.certificate, "revocation_time": 0}),
            ));
        }
        // As in Vault, what is not a serial (`cert/ca_chain`, bare hex) is no
        // certificate here: 404, not a complaint about the serial's form.
        let serial = normalize_serial(which).map_err(|_| ApiError::UnsupportedPath)?;
        let entry: CertEntry = view
            .get_json(&format!("certs/{}", serial_key(&serial)))
            .await?
            .ok_or(ApiError::NotFound)?;
        Ok(Response::json(json!({
            "certificate": entry.certificate,
            "revocation_time": entry.revocation_time,
            "revocation_time_rfc3339": rfc3339(entry.revocation_time),
        })))
    }

    /// Lists `prefix`; serials are shown in Vault's colon form.
    async fn list(view: &View, prefix: &str) -> Result<Response, ApiError> {
        let mut keys = view.list(prefix, Page::default()).await?;
        if prefix == "certs/" {
            for k in &mut keys {
                *k = k.replace('-', ":");
            }
        }
        if keys.is_empty() {
            return Err(ApiError::NotFound);
        }
        Ok(Response::json(json!({ "keys": keys })))
    }
}

/// Whether `path` (relative to the mount) issues or signs a leaf: such a request writes
/// only its certificate, and reads roles, issuers and URLs through the state cache.
fn is_leaf_path(path: &str) -> bool {
    let (head, rest) = split_first(path);
    match head {
        "issue" | "sign" | "sign-verbatim" => true,
        "issuer" => matches!(split_first(split_first(rest).1).0, "issue" | "sign"),
        _ => false,
    }
}

impl Pki {
    async fn route(&self, req: &Request, view: &View) -> Result<Response, ApiError> {
        let path = req.path.trim_end_matches('/');
        let (head, rest) = split_first(path);
        let write = matches!(req.operation, Operation::Create | Operation::Update);
        match (head, req.operation) {
            ("root", _) if write => match split_first(rest) {
                ("generate", kind) => self.generate_root(req, view, kind).await,
                ("sign-intermediate", "") => self.sign_intermediate(req, view, "default").await,
                _ => Err(ApiError::UnsupportedPath),
            },
            ("intermediate", _) if write => match split_first(rest) {
                ("generate", kind) => self.generate_intermediate(req, view, kind).await,
                ("set-signed", "") => self.import(req, view, import::ImportKind::SetSigned).await,
                _ => Err(ApiError::UnsupportedPath),
            },
            ("issuers", Operation::List) if rest.is_empty() => issuer_api::list_issuers(view).await,
            ("issuers", _) if write && rest == "import/bundle" => {
                self.import(req, view, import::ImportKind::Bundle).await
            }
            ("config", _) if write && rest == "ca" => {
                self.import(req, view, import::ImportKind::Bundle).await
            }
            ("config", Operation::Read | Operation::Create | Operation::Update)
                if rest == "issuers" =>
            {
                let _guard = self.lock.lock().await;
                issuer_api::config_issuers(req, view).await
            }
            ("issuer", _) if !rest.is_empty() => self.issuer_paths(req, view, rest).await,
            ("keys", Operation::List) if rest.is_empty() => issuer_api::list_keys(view).await,
            ("key", Operation::Read) if !rest.is_empty() => issuer_api::read_key(view, rest).await,
            ("ca_chain", Operation::Read) if rest.is_empty() => {
                issuer_api::read_default_chain(view, true).await
            }
            ("cert", Operation::Read) if rest == "ca_chain" => {
                issuer_api::read_default_chain(view, false).await
            }
            ("roles", Operation::List) if rest.is_empty() => Self::list(view, "roles/").await,
            ("roles", _) if !rest.is_empty() => self.roles(req, view, rest).await,
            ("issue", _) if write => self.issue(req, view, rest, Mode::Issue, None).await,
            ("sign", _) if write => self.issue(req, view, rest, Mode::Sign, None).await,
            ("sign-verbatim", _) if write => {
                self.issue(req, view, rest, Mode::Verbatim, None).await
            }
            ("config", Operation::Read) if rest == "urls" => urls::handle(req, view, false).await,
            ("config", _) if write && rest == "urls" => urls::handle(req, view, true).await,
            ("tidy", _) if write && rest.is_empty() => tidy::tidy(self, req, view).await,
            ("tidy-status", Operation::Read) if rest.is_empty() => tidy::status(view).await,
            ("revoke", _) if write && rest.is_empty() => self.revoke(req, view).await,
            ("crl", Operation::Read) if rest == "rotate" => self.rotate_crl(req, view).await,
            ("certs", Operation::List) if rest.is_empty() => Self::list(view, "certs/").await,
            ("cert", Operation::Read) if !rest.is_empty() => self.read_cert(req, view, rest).await,
            ("ocsp", _) if write && rest.is_empty() => ocsp::handle(req, view).await,
            ("ocsp", Operation::Read) => ocsp::handle(req, view).await,
            ("ca", Operation::Read) => {
                let pem = match rest {
                    "" => false,
                    "pem" => true,
                    _ => return Err(ApiError::UnsupportedPath),
                };
                let content_type = if pem {
                    "application/pem-certificate-chain"
                } else {
                    "application/pkix-cert"
                };
                if !has_ca(view).await? {
                    return Ok(no_content(content_type));
                }
                let der = issuers::resolve_issuer(view, "default").await?.der()?;
                if pem {
                    Ok(raw(content_type, pem_of("CERTIFICATE", &der)?.as_bytes()))
                } else {
                    Ok(raw(content_type, &der))
                }
            }
            ("crl", Operation::Read) => match rest {
                "" => self.read_crl(req, view, "default", CrlForm::Der).await,
                "pem" => self.read_crl(req, view, "default", CrlForm::Pem).await,
                _ => Err(ApiError::UnsupportedPath),
            },
            _ => Err(ApiError::UnsupportedPath),
        }
    }
}

#[async_trait::async_trait]
impl Engine for Pki {
    /// Routes `req`; a request that may change what the state cache holds runs under its
    /// write guard (see [`state`]).
    async fn handle(&self, req: &Request, view: &View) -> Result<Response, ApiError> {
        if self.read_only(req) || is_leaf_path(&req.path) {
            return self.route(req, view).await;
        }
        let guard = self.state.write();
        let answer = self.route(req, view).await;
        guard.finish();
        answer
    }

    /// As in Vault, the CA certificate, issued certificates, the CRL and the OCSP responder
    /// are public: relying parties ask without a token. Only reads are served there, but for
    /// OCSP's `POST`, which reads too.
    fn unauthenticated_paths(&self) -> &'static [&'static str] {
        &[
            "ca",
            "ca/pem",
            "ca_chain",
            "cert/*",
            "crl",
            "crl/pem",
            "issuer/+/crl",
            "issuer/+/crl/der",
            "issuer/+/crl/pem",
            "issuer/+/pem",
            "issuer/+/der",
            "issuer/+/json",
            "ocsp",
            "ocsp/*",
        ]
    }

    /// Vault's root paths of the engine, and `sign-verbatim`, which signs whatever a CSR
    /// asks for with no name policy: they need `sudo`.
    fn sudo_paths(&self) -> &'static [&'static str] {
        &[
            "root",
            "root/sign-self-issued",
            "sign-verbatim",
            "sign-verbatim/*",
        ]
    }

    /// An OCSP query is a `POST` that writes nothing.
    fn read_only(&self, req: &Request) -> bool {
        matches!(req.operation, Operation::Read | Operation::List) || req.path == "ocsp"
    }

    async fn exists(&self, path: &str, view: &View) -> Result<bool, ApiError> {
        match split_first(path.trim_end_matches('/')) {
            ("roles", name) if check_role_name(name).is_ok() => {
                Ok(view.get(&format!("roles/{name}")).await?.is_some())
            }
            _ => Ok(true),
        }
    }
}
