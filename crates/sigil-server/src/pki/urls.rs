//! `config/urls`: the URLs issued certificates point relying parties to. A certificate
//! carries an Authority Information Access extension (where to fetch the issuer and whom to
//! ask over OCSP) and a CRL Distribution Points extension while these lists are set, and
//! neither once they are empty again, as in Vault.
//!
//! The CRL distribution points are rcgen's own field; the AIA extension, which rcgen has no
//! field for, is encoded by the `x509-cert` types and handed to rcgen as a custom extension.

use der::Encode;
use der::asn1::Ia5String;
use der::oid::AssociatedOid;
use der::oid::db::rfc5280::{ID_AD_CA_ISSUERS, ID_AD_OCSP};
use rcgen::{CertificateParams, CrlDistributionPoint, CustomExtension};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax};

use crate::api::{ApiError, Request, Response, bool_field, strings_field};
use crate::view::View;

/// Where the URLs live in the mount's view.
pub(super) const URLS_KEY: &str = "config/urls";
/// The most URLs one list may hold.
const MAX_URLS: usize = 32;
/// The longest URL accepted.
const MAX_URL: usize = 2048;

/// The stored `config/urls`, in Vault's field names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Urls {
    /// AIA caIssuers: where the issuing certificate can be fetched.
    pub issuing_certificates: Vec<String>,
    /// Where the CRL can be fetched.
    pub crl_distribution_points: Vec<String>,
    /// AIA OCSP: whom to ask about a certificate's status.
    pub ocsp_servers: Vec<String>,
}

impl Urls {
    /// The stored URLs (all empty before the first write).
    pub(super) async fn load(view: &View) -> Result<Self, ApiError> {
        Ok(view.get_json(URLS_KEY).await?.unwrap_or_default())
    }

    /// The body Vault answers reads and writes with.
    fn to_data(&self) -> Map<String, Value> {
        match json!({
            "issuing_certificates": self.issuing_certificates,
            "crl_distribution_points": self.crl_distribution_points,
            "delta_crl_distribution_points": [],
            "ocsp_servers": self.ocsp_servers,
            "enable_templating": false,
        }) {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// Applies a write's fields over the stored ones: a field left out keeps its value, an
    /// empty one clears it (Vault's rule). Every URL is checked before anything changes.
    fn update(&mut self, data: &Map<String, Value>) -> Result<(), ApiError> {
        let mut next = self.clone();
        for (key, list) in [
            ("issuing_certificates", &mut next.issuing_certificates),
            ("crl_distribution_points", &mut next.crl_distribution_points),
            ("ocsp_servers", &mut next.ocsp_servers),
        ] {
            if let Some(urls) = strings_field(data, key)? {
                if urls.len() > MAX_URLS {
                    return Err(ApiError::bad(format!("{key}: at most {MAX_URLS} URLs")));
                }
                if let Some(bad) = urls.iter().find(|u| !is_url(u)) {
                    // Vault's words, naming the URL (never a secret).
                    return Err(ApiError::bad(format!(
                        "invalid URL found in Authority Information Access (AIA) parameter {key}: {bad}"
                    )));
                }
                *list = urls;
            }
        }
        // Sigil fills in no templates (`{{issuer_id}}`, ...): only plain URLs are stored.
        if bool_field(data, "enable_templating")?.unwrap_or(false) {
            return Err(ApiError::bad("enable_templating is not supported"));
        }
        if strings_field(data, "delta_crl_distribution_points")?.is_some_and(|l| !l.is_empty()) {
            return Err(ApiError::bad(
                "delta_crl_distribution_points: delta CRLs are not supported",
            ));
        }
        *self = next;
        Ok(())
    }

    /// Adds the CRL Distribution Points and AIA extensions to a certificate being built, or
    /// nothing when the lists are empty.
    pub(super) fn apply(&self, params: &mut CertificateParams) -> Result<(), ApiError> {
        if !self.crl_distribution_points.is_empty() {
            params.crl_distribution_points = vec![CrlDistributionPoint {
                uris: self.crl_distribution_points.clone(),
            }];
        }
        if let Some(ext) = self.aia()? {
            params.custom_extensions.push(ext);
        }
        Ok(())
    }

    /// The AIA extension (RFC 5280 §4.2.2.1): caIssuers entries then OCSP entries, each a
    /// URI general name.
    fn aia(&self) -> Result<Option<CustomExtension>, ApiError> {
        let described = self
            .issuing_certificates
            .iter()
            .map(|u| (ID_AD_CA_ISSUERS, u))
            .chain(self.ocsp_servers.iter().map(|u| (ID_AD_OCSP, u)))
            .map(|(method, url)| {
                Ok(AccessDescription {
                    access_method: method,
                    access_location: GeneralName::UniformResourceIdentifier(
                        Ia5String::new(url)
                            .map_err(|_| ApiError::internal("a stored URL is not ASCII"))?,
                    ),
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        if described.is_empty() {
            return Ok(None);
        }
        let der = AuthorityInfoAccessSyntax(described)
            .to_der()
            .map_err(|_| ApiError::internal("encoding the AIA extension"))?;
        let arcs: Vec<u64> = AuthorityInfoAccessSyntax::OID
            .arcs()
            .map(u64::from)
            .collect();
        Ok(Some(CustomExtension::from_oid_content(&arcs, der)))
    }
}

/// Vault's test: a URL has a scheme and a host. Sigil also wants printable ASCII (the
/// extensions carry IA5 strings) and no spaces.
fn is_url(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once("://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    text.len() <= MAX_URL
        && !scheme.is_empty()
        && scheme
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        && !host.is_empty()
        && text.bytes().all(|c| c.is_ascii_graphic())
}

/// `config/urls`: read, or write (answering with the URLs as stored).
pub(super) async fn handle(req: &Request, view: &View, write: bool) -> Result<Response, ApiError> {
    let mut urls = Urls::load(view).await?;
    if write {
        urls.update(&req.data)?;
        view.put_json(URLS_KEY, &urls).await?;
    }
    Ok(Response::data(urls.to_data()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        for good in [
            "http://ca.example/ca",
            "https://ca.example:8200/v1/pki/ca",
            "ldap://dir.example/cn=ca",
        ] {
            assert!(is_url(good), "{good}");
        }
        for bad in [
            "",
            "ca.example/ca",
            "http://",
            "http:///path",
            "://host",
            "http://host/a b",
            "http://hôte/",
        ] {
            assert!(!is_url(bad), "{bad}");
        }
    }

    #[test]
    fn a_bad_url_changes_nothing() {
        let mut urls = Urls::default();
        let body = json!({"issuing_certificates": ["http://a.example/ca"], "ocsp_servers": "nope"});
        let err = urls.update(body.as_object().unwrap()).unwrap_err();
        assert!(err.to_string().contains("ocsp_servers: nope"), "{err}");
        assert_eq!(urls, Urls::default());
    }
}
