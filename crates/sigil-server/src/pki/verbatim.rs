//! `sign-verbatim` and `sign-verbatim/:role`: signs a CSR keeping its subject and SANs as
//! they are, with no name policy. Only the lifetime (capped by the role, when one is named,
//! and by the issuer), the role's `no_store` and backdating, and the request's `key_usage`,
//! `ext_key_usage` and `ext_key_usage_oids` shape the certificate, as in Vault.
//!
//! The paths need `sudo` (the engine's `sudo_paths`), as Vault documents them: they sign
//! whatever a CSR names. OpenBao does not mark them.

use rcgen::string::{BmpString, UniversalString};
use rcgen::{DistinguishedName, DnType, DnValue};
use serde_json::{Map, Value, json};
use sigil_core::encoding::Pem;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::prelude::FromDer;

use super::profile::Profile;
use super::role::Role;
use crate::api::ApiError;

/// The role `sign-verbatim` signs under: any key, any name, the request's usages; the named
/// role's lifetime and storage settings, if one is named.
pub(super) fn role(data: &Map<String, Value>, named: Option<Role>) -> Result<Role, ApiError> {
    let open = json!({
        "allow_any_name": true,
        "allow_ip_sans": true,
        "allowed_uri_sans": ["*"],
        "enforce_hostnames": false,
        "require_cn": false,
        "key_type": "any",
        "server_flag": false,
        "client_flag": false,
    });
    let mut role = Role::from_body(open.as_object().unwrap_or(&Map::new()))?;
    let usages: Map<String, Value> = data
        .iter()
        .filter(|(k, _)| {
            matches!(
                k.as_str(),
                "key_usage" | "ext_key_usage" | "ext_key_usage_oids"
            )
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    role.profile = Profile::from_body(&usages, Profile::default())?;
    if let Some(named) = named {
        role.ttl = named.ttl;
        role.max_ttl = named.max_ttl;
        role.no_store = named.no_store;
        role.not_before_duration = named.not_before_duration;
    }
    Ok(role)
}

/// The CSR's subject as rcgen will write it: every attribute in order, each value in its
/// own string type (the signature was checked by `parse_csr`). Read here rather than by
/// rcgen's CSR parser, which refuses a request carrying extensions it does not model (a
/// subject key identifier, as Java's keytool adds), though verbatim signing copies none.
/// rcgen's name keeps one value per attribute type: a second OU replaces the first.
pub(super) fn subject(pem: &str) -> Result<DistinguishedName, ApiError> {
    let bad = || ApiError::bad("csr: the subject cannot be copied");
    let der = Pem::decode_expecting(pem, "CERTIFICATE REQUEST")
        .map_err(|_| ApiError::bad("csr: expected one PEM block labelled CERTIFICATE REQUEST"))?;
    let (_, csr) = X509CertificationRequest::from_der(&der)
        .map_err(|_| ApiError::bad("csr: not a valid PKCS#10 certificate request"))?;
    let mut dn = DistinguishedName::new();
    for attr in csr.certification_request_info.subject.iter_attributes() {
        let arcs: Vec<u64> = attr.attr_type().iter().ok_or_else(bad)?.collect();
        let data = attr.attr_value().data;
        let text = || std::str::from_utf8(data).map_err(|_| bad());
        let value = match attr.attr_value().header.tag() {
            Tag::Utf8String => DnValue::Utf8String(text()?.to_owned()),
            Tag::PrintableString => {
                DnValue::PrintableString(text()?.try_into().map_err(|_| bad())?)
            }
            Tag::Ia5String => DnValue::Ia5String(text()?.try_into().map_err(|_| bad())?),
            Tag::T61String => DnValue::TeletexString(text()?.try_into().map_err(|_| bad())?),
            Tag::BmpString => {
                DnValue::BmpString(BmpString::from_utf16be(data.to_vec()).map_err(|_| bad())?)
            }
            Tag::UniversalString => DnValue::UniversalString(
                UniversalString::from_utf32be(data.to_vec()).map_err(|_| bad())?,
            ),
            _ => return Err(bad()),
        };
        dn.push(DnType::from_oid(&arcs), value);
    }
    Ok(dn)
}
