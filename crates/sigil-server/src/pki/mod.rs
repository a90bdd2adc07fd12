//! The `pki` secrets engine: a private certificate authority speaking Vault's PKI API, so
//! that `bao write pki/issue/web common_name=...` and hvac's PKI calls work unchanged.
//!
//! This first slice holds one self-signed root per mount. Layout: [`ca`] the issuer and its
//! key, serials and key types; [`role`] roles and their name policy (pure); [`issue`] leaf
//! building for `issue` and `sign`; [`revoke`] revocation and the CRL reads; [`crl`] the
//! revoked list and CRL signing; this file the routing and storage.
//!
//! Storage in the mount's view: `ca/default` (the issuer, key included: the barrier encrypts
//! it), `roles/<name>`, `certs/<serial with dashes>` (every issued certificate unless the
//! role says `no_store`, and the root), and under `crl/<issuer id>/` the revoked list in
//! chunks and the signed CRL (see [`crl`]). Changes to the issuer and to revocations take
//! the engine's lock, so two revocations cannot lose one another's entry; issuance writes
//! only its own certificate and needs no lock.
//!
//! Raw reads (`ca`, `ca/pem`, `crl`, `crl/pem`) answer with the DER or PEM body itself and
//! its content type, as Vault does; before a root exists they answer 204 with no body.
//! `issue` and `sign` answer in Vault's `format`: PEM, bare base64 DER or a PEM bundle.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sigil_core::encoding::{Pem, base64_encode};
use sigil_storage::Page;
use tokio::sync::Mutex;

use crate::api::{ApiError, Operation, Request, Response, field_str, u64_field};
use crate::engine::{Engine, split_first};
use crate::view::{View, ViewOp, to_json};

mod ca;
mod crl;
mod issue;
mod revoke;
mod role;

#[cfg(test)]
mod tests;

use ca::{CA_KEY, KeySpec, RootRequest, StoredCa, normalize_serial, private_key_pem, serial_key};
use issue::{Format, Names, requested_ttl, sign_leaf, validity};
use role::{Role, check_role_name};

/// The stored form of an issued certificate.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CertEntry {
    /// PEM.
    certificate: String,
    /// Unix seconds; 0 while not revoked.
    revocation_time: i64,
}

/// The pki engine of one mount.
#[derive(Debug, Default)]
pub struct Pki {
    /// Serializes changes to the issuer and the revoked list.
    lock: Mutex<()>,
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
    ca::at(t)
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

/// The issuer; the stored document holding its key is zeroized once parsed.
async fn load_ca(view: &View) -> Result<StoredCa, ApiError> {
    let Some(bytes) = view.get(CA_KEY).await?.map(zeroize::Zeroizing::new) else {
        return Err(ApiError::bad(
            "no issuer is configured: generate a root with root/generate/internal first",
        ));
    };
    serde_json::from_slice(&bytes).map_err(|_| ApiError::internal("the stored issuer is corrupt"))
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

/// Whether the mount has an issuer; the stored document holds its key and is zeroized.
async fn has_ca(view: &View) -> Result<bool, ApiError> {
    Ok(view
        .get(CA_KEY)
        .await?
        .map(zeroize::Zeroizing::new)
        .is_some())
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
        let exported = match kind {
            "internal" => false,
            "exported" => true,
            "" => return Err(ApiError::UnsupportedPath),
            // Vault's words; its "existing" and "kms" are not in this slice.
            _ => {
                return Err(ApiError::bad(
                    "the \"exported\" path parameter must be \"internal\" or \"exported\"",
                ));
            }
        };
        let d = &req.data;
        let common_name = field_str(d, "common_name").unwrap_or_default();
        if common_name.is_empty() || common_name.len() > 64 {
            return Err(ApiError::bad(
                "common_name is required, at most 64 characters",
            ));
        }
        let max_path_length = match d.get("max_path_length") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let n = v
                    .as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .ok_or_else(|| ApiError::bad("max_path_length: expected an integer"))?;
                match n {
                    -1 => None,
                    0..=255 => Some(u8::try_from(n).unwrap_or(u8::MAX)),
                    _ => return Err(ApiError::bad("max_path_length must be -1 or 0 to 255")),
                }
            }
        };
        let issuer_name = field_str(d, "issuer_name").unwrap_or_default();
        if !issuer_name.is_empty() {
            check_role_name(&issuer_name).map_err(|_| {
                ApiError::bad("issuer_name: letters, digits, '-', '_' and '.' only")
            })?;
        }
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
        if has_ca(view).await? {
            return Err(ApiError::bad(
                "this mount already has a root; more than one issuer is not supported yet",
            ));
        }
        let t = now(req);
        let made = ca::generate_root(&root, t)?;
        let entry = CertEntry {
            certificate: made.stored.certificate.clone(),
            revocation_time: 0,
        };
        view.transaction(vec![
            ViewOp::Put(CA_KEY.into(), to_json(&made.stored)?),
            ViewOp::Put(
                format!("certs/{}", serial_key(&made.stored.serial_number)),
                to_json(&entry)?,
            ),
        ])
        .await?;
        let mut data = made.stored.describe();
        if exported {
            data.insert(
                "private_key".into(),
                private_key_pem(&made.key)?.as_str().into(),
            );
            data.insert("private_key_type".into(), root.key.name().into());
        }
        Ok(Response::data(data))
    }

    async fn issue(
        &self,
        req: &Request,
        view: &View,
        role_name: &str,
        csr: bool,
    ) -> Result<Response, ApiError> {
        let role = load_role(view, role_name).await?;
        let ca = load_ca(view).await?;
        let format = Format::from_body(&req.data)?;
        let mut names = Names::from_body(&req.data)?;
        let mut warnings = Vec::new();
        let parsed = if csr {
            let pem = field_str(&req.data, "csr")
                .ok_or_else(|| ApiError::bad("the csr field is required"))?;
            let mut parsed = issue::parse_csr(&pem, &role)?;
            // Vault's defaults (`use_csr_common_name`, `use_csr_sans`): the CSR's common name
            // wins over the body's, and the SANs are the CSR's alone.
            let body_cn = std::mem::take(&mut names.common_name);
            // Vault says so when the body's names are overruled (even when the CSR has no
            // common name and the body's is used after all).
            if !body_cn.is_empty() {
                warnings.push(
                    "the common_name field was provided but the role is set with \"use_csr_common_name\" set to true".to_owned(),
                );
            }
            if field_str(&req.data, "alt_names").is_some_and(|a| !a.trim().is_empty()) {
                warnings.push(
                    "the alt_names field was provided but the role is set with \"use_csr_sans\" set to true".to_owned(),
                );
            }
            names = std::mem::take(&mut parsed.names);
            if names.common_name.is_empty() {
                names.common_name = body_cn;
            }
            Some(parsed)
        } else {
            None
        };
        names.check(&role)?;
        let (not_before, not_after, lifetime_warnings) =
            validity(now(req), requested_ttl(&req.data)?, &role, ca.not_after);
        warnings.extend(lifetime_warnings);
        let issuer = ca.issuer()?;
        let mut data = Map::new();
        // The issued key in the requested encoding (PKCS#8 either way), zeroized when dropped.
        let mut private_key = None;
        let leaf = match parsed {
            Some(c) => sign_leaf(
                &names,
                &role,
                &c.spki,
                c.is_rsa,
                &issuer,
                (not_before, not_after),
            )?,
            None => {
                let (key, spec) = issue::issue_key(&role)?;
                let leaf = sign_leaf(
                    &names,
                    &role,
                    &key,
                    matches!(spec, KeySpec::Rsa(_)),
                    &issuer,
                    (not_before, not_after),
                )?;
                private_key = Some(if format == Format::Der {
                    zeroize::Zeroizing::new(base64_encode(&zeroize::Zeroizing::new(
                        key.serialize_der(),
                    )))
                } else {
                    private_key_pem(&key)?
                });
                data.insert("private_key_type".into(), spec.name().into());
                leaf
            }
        };
        if !role.no_store {
            let entry = CertEntry {
                certificate: leaf.pem.clone(),
                revocation_time: 0,
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
        data.insert("ca_chain".into(), json!([issuing_ca]));
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

    async fn read_cert(view: &View, which: &str) -> Result<Response, ApiError> {
        if which == "ca" {
            let ca = load_ca(view).await?;
            return Ok(Response::json(
                json!({"certificate": ca.certificate, "revocation_time": 0}),
            ));
        }
        // As in Vault, what is not a serial (`cert/crl`, `cert/ca_chain`, bare hex) is no
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

#[async_trait::async_trait]
impl Engine for Pki {
    async fn handle(&self, req: &Request, view: &View) -> Result<Response, ApiError> {
        let path = req.path.trim_end_matches('/');
        let (head, rest) = split_first(path);
        let write = matches!(req.operation, Operation::Create | Operation::Update);
        match (head, req.operation) {
            ("root", _) if write => match split_first(rest) {
                ("generate", kind) => self.generate_root(req, view, kind).await,
                _ => Err(ApiError::UnsupportedPath),
            },
            ("roles", Operation::List) if rest.is_empty() => Self::list(view, "roles/").await,
            ("roles", _) if !rest.is_empty() => self.roles(req, view, rest).await,
            ("issue", _) if write => self.issue(req, view, rest, false).await,
            ("sign", _) if write => self.issue(req, view, rest, true).await,
            ("revoke", _) if write && rest.is_empty() => self.revoke(req, view).await,
            ("crl", Operation::Read) if rest == "rotate" => self.rotate_crl(req, view).await,
            ("certs", Operation::List) if rest.is_empty() => Self::list(view, "certs/").await,
            ("cert", Operation::Read) if !rest.is_empty() => Self::read_cert(view, rest).await,
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
                let der = load_ca(view).await?.der()?;
                if pem {
                    Ok(raw(content_type, pem_of("CERTIFICATE", &der)?.as_bytes()))
                } else {
                    Ok(raw(content_type, &der))
                }
            }
            ("crl", Operation::Read) => {
                let pem = match rest {
                    "" => false,
                    "pem" => true,
                    _ => return Err(ApiError::UnsupportedPath),
                };
                let content_type = if pem {
                    "application/x-pem-file"
                } else {
                    "application/pkix-crl"
                };
                let Some(der) = self.crl_der(req, view).await? else {
                    return Ok(no_content(content_type));
                };
                if pem {
                    Ok(raw(content_type, pem_of("X509 CRL", &der)?.as_bytes()))
                } else {
                    Ok(raw(content_type, &der))
                }
            }
            _ => Err(ApiError::UnsupportedPath),
        }
    }

    /// As in Vault, the CA certificate, issued certificates and the CRL are public: relying
    /// parties fetch them without a token. Only reads are served there.
    fn unauthenticated_paths(&self) -> &'static [&'static str] {
        &["ca", "ca/pem", "cert/*", "crl", "crl/pem"]
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
