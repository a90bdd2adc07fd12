//! What a role (or a `sign-verbatim` request) puts in a certificate besides its names: key
//! usages, extended key usages by name and by OID, and the subject's organisation fields.
//! Names are Vault's (Go's `x509.KeyUsage*` / `x509.ExtKeyUsage*` without the prefix, any
//! case); unlike Vault, which skips a name it does not know, Sigil refuses it, so a typo
//! cannot silently drop a usage.

use rcgen::{DistinguishedName, DnType, DnValue, ExtendedKeyUsagePurpose, KeyUsagePurpose};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::api::{ApiError, strings_field};

/// The most entries one profile list may hold.
const MAX_ITEMS: usize = 64;
/// The longest subject field value (X.520's upper bound for most of them).
const MAX_FIELD: usize = 128;

/// Vault's default `key_usage`.
pub(super) fn default_key_usage() -> Vec<String> {
    ["DigitalSignature", "KeyAgreement", "KeyEncipherment"]
        .map(String::from)
        .to_vec()
}

/// A key usage by Vault's name.
fn key_usage(name: &str) -> Option<KeyUsagePurpose> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "digitalsignature" => KeyUsagePurpose::DigitalSignature,
        "contentcommitment" => KeyUsagePurpose::ContentCommitment,
        "keyencipherment" => KeyUsagePurpose::KeyEncipherment,
        "dataencipherment" => KeyUsagePurpose::DataEncipherment,
        "keyagreement" => KeyUsagePurpose::KeyAgreement,
        "certsign" => KeyUsagePurpose::KeyCertSign,
        "crlsign" => KeyUsagePurpose::CrlSign,
        "encipheronly" => KeyUsagePurpose::EncipherOnly,
        "decipheronly" => KeyUsagePurpose::DecipherOnly,
        _ => return None,
    })
}

/// An extended key usage by Vault's name.
fn ext_key_usage(name: &str) -> Option<ExtendedKeyUsagePurpose> {
    use ExtendedKeyUsagePurpose as E;
    // The ones rcgen has no variant for, by their OIDs (RFC 5280, RFC 4945, vendors').
    let other = |arcs: &[u64]| Some(E::Other(arcs.to_vec()));
    match name.trim().to_ascii_lowercase().as_str() {
        "any" => Some(E::Any),
        "serverauth" => Some(E::ServerAuth),
        "clientauth" => Some(E::ClientAuth),
        "codesigning" => Some(E::CodeSigning),
        "emailprotection" => Some(E::EmailProtection),
        "timestamping" => Some(E::TimeStamping),
        "ocspsigning" => Some(E::OcspSigning),
        "ipsecendsystem" => other(&[1, 3, 6, 1, 5, 5, 7, 3, 5]),
        "ipsectunnel" => other(&[1, 3, 6, 1, 5, 5, 7, 3, 6]),
        "ipsecuser" => other(&[1, 3, 6, 1, 5, 5, 7, 3, 7]),
        "microsoftservergatedcrypto" => other(&[1, 3, 6, 1, 4, 1, 311, 10, 3, 3]),
        "netscapeservergatedcrypto" => other(&[2, 16, 840, 1, 113_730, 4, 1]),
        _ => None,
    }
}

/// A dotted OID such as `1.3.6.1.5.5.7.3.1`: at least two arcs, the first 0 to 2.
fn parse_oid(text: &str) -> Option<Vec<u64>> {
    let arcs = text
        .trim()
        .split('.')
        .map(|a| {
            (!a.is_empty() && a.bytes().all(|c| c.is_ascii_digit()))
                .then(|| a.parse::<u64>().ok())
                .flatten()
        })
        .collect::<Option<Vec<_>>>()?;
    let ok = arcs.len() >= 2 && arcs.len() <= 32 && arcs[0] <= 2 && (arcs[0] == 2 || arcs[1] < 40);
    ok.then_some(arcs)
}

/// Key usages, extended key usages and subject fields, as stored in a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Profile {
    /// Key usage names.
    #[serde(default = "default_key_usage")]
    pub key_usage: Vec<String>,
    /// Extended key usage names.
    #[serde(default)]
    pub ext_key_usage: Vec<String>,
    /// Extended key usages by dotted OID.
    #[serde(default)]
    pub ext_key_usage_oids: Vec<String>,
    /// Subject OU values.
    #[serde(default)]
    pub ou: Vec<String>,
    /// Subject O values.
    #[serde(default)]
    pub organization: Vec<String>,
    /// Subject C values.
    #[serde(default)]
    pub country: Vec<String>,
    /// Subject L values.
    #[serde(default)]
    pub locality: Vec<String>,
    /// Subject ST values.
    #[serde(default)]
    pub province: Vec<String>,
    /// Subject street values.
    #[serde(default)]
    pub street_address: Vec<String>,
    /// Subject postal code values.
    #[serde(default)]
    pub postal_code: Vec<String>,
}

impl Default for Profile {
    fn default() -> Self {
        Self {
            key_usage: default_key_usage(),
            ext_key_usage: Vec::new(),
            ext_key_usage_oids: Vec::new(),
            ou: Vec::new(),
            organization: Vec::new(),
            country: Vec::new(),
            locality: Vec::new(),
            province: Vec::new(),
            street_address: Vec::new(),
            postal_code: Vec::new(),
        }
    }
}

/// The profile's fields, in Vault's names and the order [`Profile::to_data`] reads them.
const FIELDS: [&str; 10] = [
    "key_usage",
    "ext_key_usage",
    "ext_key_usage_oids",
    "ou",
    "organization",
    "country",
    "locality",
    "province",
    "street_address",
    "postal_code",
];

impl Profile {
    /// Reads the profile from a body over `base` (fields left out keep `base`'s values);
    /// every name and OID is checked.
    pub(super) fn from_body(data: &Map<String, Value>, base: Self) -> Result<Self, ApiError> {
        let list = |key: &str, default: Vec<String>| -> Result<Vec<String>, ApiError> {
            let items = strings_field(data, key)?.unwrap_or(default);
            if items.len() > MAX_ITEMS || items.iter().any(|s| s.len() > MAX_FIELD) {
                return Err(ApiError::bad(format!(
                    "{key}: at most {MAX_ITEMS} entries of at most {MAX_FIELD} characters"
                )));
            }
            Ok(items)
        };
        let p = Self {
            key_usage: list("key_usage", base.key_usage)?,
            ext_key_usage: list("ext_key_usage", base.ext_key_usage)?,
            ext_key_usage_oids: list("ext_key_usage_oids", base.ext_key_usage_oids)?,
            ou: list("ou", base.ou)?,
            organization: list("organization", base.organization)?,
            country: list("country", base.country)?,
            locality: list("locality", base.locality)?,
            province: list("province", base.province)?,
            street_address: list("street_address", base.street_address)?,
            postal_code: list("postal_code", base.postal_code)?,
        };
        if let Some(bad) = p.key_usage.iter().find(|k| key_usage(k).is_none()) {
            return Err(ApiError::bad(format!(
                "key_usage: unknown key usage {bad:?} (use names such as DigitalSignature, KeyEncipherment, KeyAgreement, CertSign)"
            )));
        }
        if let Some(bad) = p.ext_key_usage.iter().find(|k| ext_key_usage(k).is_none()) {
            return Err(ApiError::bad(format!(
                "ext_key_usage: unknown extended key usage {bad:?} (use names such as ServerAuth, ClientAuth, CodeSigning)"
            )));
        }
        if let Some(bad) = p.ext_key_usage_oids.iter().find(|o| parse_oid(o).is_none()) {
            // Vault's words.
            return Err(ApiError::bad(format!(
                "{bad:?} could not be parsed as a valid oid for an extended key usage"
            )));
        }
        if let Some(bad) = p.country.iter().find(|c| !is_printable(c)) {
            return Err(ApiError::bad(format!(
                "country: {bad:?} is not a printable string"
            )));
        }
        Ok(p)
    }

    /// The fields as a role read shows them.
    pub(super) fn to_data(&self, m: &mut Map<String, Value>) {
        let lists = [
            &self.key_usage,
            &self.ext_key_usage,
            &self.ext_key_usage_oids,
            &self.ou,
            &self.organization,
            &self.country,
            &self.locality,
            &self.province,
            &self.street_address,
            &self.postal_code,
        ];
        for (key, list) in FIELDS.iter().zip(lists) {
            m.insert((*key).into(), list.clone().into());
        }
    }

    /// The key usages to write (checked when the profile was read; unknown ones, which a
    /// stored profile cannot hold, are skipped).
    pub(super) fn key_usages(&self) -> Vec<KeyUsagePurpose> {
        let mut out: Vec<KeyUsagePurpose> = Vec::new();
        for k in self.key_usage.iter().filter_map(|k| key_usage(k)) {
            if !out.contains(&k) {
                out.push(k);
            }
        }
        out
    }

    /// The extended key usages to write: the named ones, then the OIDs.
    pub(super) fn ext_key_usages(&self) -> Vec<ExtendedKeyUsagePurpose> {
        let mut out: Vec<ExtendedKeyUsagePurpose> = Vec::new();
        let named = self.ext_key_usage.iter().filter_map(|k| ext_key_usage(k));
        let oids = self
            .ext_key_usage_oids
            .iter()
            .filter_map(|o| parse_oid(o))
            .map(ExtendedKeyUsagePurpose::Other);
        for e in named.chain(oids) {
            if !out.contains(&e) {
                out.push(e);
            }
        }
        out
    }

    /// Adds the subject fields to `dn`, in the order Go's `pkix.Name` writes them.
    pub(super) fn add_subject(&self, dn: &mut DistinguishedName) -> Result<(), ApiError> {
        let custom = |arcs: &[u64]| DnType::CustomDnType(arcs.to_vec());
        let fields: [(DnType, &Vec<String>); 7] = [
            (DnType::CountryName, &self.country),
            (DnType::OrganizationName, &self.organization),
            (DnType::OrganizationalUnitName, &self.ou),
            (DnType::LocalityName, &self.locality),
            (DnType::StateOrProvinceName, &self.province),
            (custom(&[2, 5, 4, 9]), &self.street_address),
            (custom(&[2, 5, 4, 17]), &self.postal_code),
        ];
        for (ty, values) in fields {
            // rcgen's name holds one value per attribute type; Vault's lists are almost always
            // one value long, and the first is kept.
            if let Some(v) = values.first() {
                let value = if ty == DnType::CountryName {
                    DnValue::PrintableString(
                        v.as_str()
                            .try_into()
                            .map_err(|_| ApiError::bad("country: not a printable string"))?,
                    )
                } else {
                    DnValue::Utf8String(v.clone())
                };
                dn.push(ty, value);
            }
        }
        Ok(())
    }
}

/// X.680's PrintableString alphabet.
fn is_printable(s: &str) -> bool {
    s.bytes()
        .all(|c| c.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&c))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn names_and_oids() {
        assert_eq!(key_usage(" certSign "), Some(KeyUsagePurpose::KeyCertSign));
        assert_eq!(key_usage("Signature"), None);
        assert_eq!(
            ext_key_usage("serverauth"),
            Some(ExtendedKeyUsagePurpose::ServerAuth)
        );
        assert_eq!(
            parse_oid("1.3.6.1.5.5.7.3.1"),
            Some(vec![1, 3, 6, 1, 5, 5, 7, 3, 1])
        );
        for bad in ["", "1", "3.1", "1.40", "1..2", "1.a", "1.2."] {
            assert_eq!(parse_oid(bad), None, "{bad}");
        }
    }

    #[test]
    fn bodies_are_checked() {
        let body = |v: Value| v.as_object().cloned().unwrap_or_default();
        let p = Profile::from_body(&body(json!({})), Profile::default()).unwrap();
        assert_eq!(p, Profile::default());
        for bad in [
            json!({"key_usage": ["DigitalSignature", "Bogus"]}),
            json!({"ext_key_usage": "ServerAuth,Nope"}),
            json!({"ext_key_usage_oids": ["1.2.x"]}),
            json!({"country": ["U*S"]}),
            json!({"ou": 7}),
        ] {
            assert!(
                Profile::from_body(&body(bad.clone()), Profile::default()).is_err(),
                "{bad}"
            );
        }
    }
}
