//! Roles: what a caller may ask the CA for. A [`Role`] is parsed once from the request body
//! (unknown key types, bad durations and malformed patterns are refused before anything is
//! stored), and its name policy is a set of small pure functions tested without storage.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::ca::KeySpec;
use super::profile::Profile;
use crate::api::{ApiError, bool_field, duration_field, field_str, strings_field, u64_field};

/// The most patterns a role may list in one field.
const MAX_PATTERNS: usize = 256;

/// A stored role, in Vault's field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Role {
    /// Domains (or globs) names may be under.
    pub allowed_domains: Vec<String>,
    /// Names below an allowed domain (and `*.` wildcards of them).
    pub allow_subdomains: bool,
    /// `*` in `allowed_domains` matches any run of characters.
    pub allow_glob_domains: bool,
    /// Any syntactically valid host name.
    pub allow_any_name: bool,
    /// `localhost` itself.
    pub allow_localhost: bool,
    /// An allowed domain itself.
    pub allow_bare_domains: bool,
    /// IP SANs at all.
    pub allow_ip_sans: bool,
    /// Globs URI SANs must match; empty = none allowed.
    pub allowed_uri_sans: Vec<String>,
    /// `ec`, `ed25519`, `rsa`, or `any` (sign only: any CSR key).
    pub key_type: String,
    /// The key size (0 for ed25519 and `any`).
    pub key_bits: u32,
    /// Seconds; 0 = the engine default.
    pub ttl: u64,
    /// Seconds; 0 = the engine default.
    pub max_ttl: u64,
    /// Adds the serverAuth EKU.
    pub server_flag: bool,
    /// Adds the clientAuth EKU.
    pub client_flag: bool,
    /// Issued certificates are not stored (nor listable, nor revocable by serial).
    pub no_store: bool,
    /// Seconds `notBefore` is backdated.
    pub not_before_duration: u64,
    /// Names must be valid host names (else any string the domain rules allow).
    #[serde(default = "yes")]
    pub enforce_hostnames: bool,
    /// Names may start with a `*` label.
    #[serde(default = "yes")]
    pub allow_wildcard_certificates: bool,
    /// `sign`: the CSR's common name wins over the body's.
    #[serde(default = "yes")]
    pub use_csr_common_name: bool,
    /// `sign`: the CSR's SANs are used (else the body's).
    #[serde(default = "yes")]
    pub use_csr_sans: bool,
    /// A common name is required.
    #[serde(default = "yes")]
    pub require_cn: bool,
    /// Key usages, extended key usages and subject fields.
    #[serde(flatten)]
    pub profile: Profile,
    /// The issuer that signs for this role: an id, a name or `default`.
    #[serde(default = "default_issuer_ref")]
    pub issuer_ref: String,
}

fn default_issuer_ref() -> String {
    "default".to_owned()
}

/// Serde's default for the options that default to true (roles stored before they existed).
const fn yes() -> bool {
    true
}

impl Role {
    /// Parses a role from a request body, starting from Vault's defaults.
    pub(super) fn from_body(data: &Map<String, Value>) -> Result<Self, ApiError> {
        let flag = |key: &str, default: bool| bool_field(data, key).map(|b| b.unwrap_or(default));
        let patterns = |key: &str| -> Result<Vec<String>, ApiError> {
            let list = strings_field(data, key)?.unwrap_or_default();
            if list.len() > MAX_PATTERNS || list.iter().any(|p| p.len() > 253 || !p.is_ascii()) {
                return Err(ApiError::bad(format!(
                    "{key}: at most {MAX_PATTERNS} ASCII entries of at most 253 characters"
                )));
            }
            Ok(list)
        };
        let key_type = field_str(data, "key_type").unwrap_or_else(|| "rsa".to_owned());
        let key_bits = u64_field(data, "key_bits")?.unwrap_or(0);
        let key_bits = if key_type == "any" {
            0
        } else {
            KeySpec::parse(&key_type, key_bits)?.bits()
        };
        let ttl = duration_field(data, "ttl")?.unwrap_or(0);
        let max_ttl = duration_field(data, "max_ttl")?.unwrap_or(0);
        if max_ttl != 0 && ttl > max_ttl {
            return Err(ApiError::bad("ttl cannot be larger than max_ttl"));
        }
        let role = Self {
            allowed_domains: patterns("allowed_domains")?,
            allow_subdomains: flag("allow_subdomains", false)?,
            allow_glob_domains: flag("allow_glob_domains", false)?,
            allow_any_name: flag("allow_any_name", false)?,
            allow_localhost: flag("allow_localhost", true)?,
            allow_bare_domains: flag("allow_bare_domains", false)?,
            allow_ip_sans: flag("allow_ip_sans", true)?,
            allowed_uri_sans: patterns("allowed_uri_sans")?,
            key_type,
            key_bits,
            ttl,
            max_ttl,
            server_flag: flag("server_flag", true)?,
            client_flag: flag("client_flag", true)?,
            no_store: flag("no_store", false)?,
            not_before_duration: duration_field(data, "not_before_duration")?.unwrap_or(30),
            enforce_hostnames: flag("enforce_hostnames", true)?,
            allow_wildcard_certificates: flag("allow_wildcard_certificates", true)?,
            use_csr_common_name: flag("use_csr_common_name", true)?,
            use_csr_sans: flag("use_csr_sans", true)?,
            require_cn: flag("require_cn", true)?,
            profile: Profile::from_body(data, Profile::default())?,
            issuer_ref: field_str(data, "issuer_ref")
                .filter(|r| !r.is_empty())
                .unwrap_or_else(default_issuer_ref),
        };
        if role.issuer_ref.contains('/') || role.issuer_ref.len() > 128 {
            return Err(ApiError::bad(
                "issuer_ref: an issuer id, name or \"default\"",
            ));
        }
        Ok(role)
    }

    /// The role as `roles/:name` reads it.
    pub(super) fn to_data(&self) -> Map<String, Value> {
        match json!({
            "allowed_domains": self.allowed_domains,
            "allow_subdomains": self.allow_subdomains,
            "allow_glob_domains": self.allow_glob_domains,
            "allow_any_name": self.allow_any_name,
            "allow_localhost": self.allow_localhost,
            "allow_bare_domains": self.allow_bare_domains,
            "allow_ip_sans": self.allow_ip_sans,
            "allowed_uri_sans": self.allowed_uri_sans,
            "key_type": self.key_type,
            "key_bits": self.key_bits,
            "ttl": self.ttl,
            "max_ttl": self.max_ttl,
            "server_flag": self.server_flag,
            "client_flag": self.client_flag,
            "no_store": self.no_store,
            "not_before_duration": self.not_before_duration,
            "enforce_hostnames": self.enforce_hostnames,
            "allow_wildcard_certificates": self.allow_wildcard_certificates,
            "use_csr_common_name": self.use_csr_common_name,
            "use_csr_sans": self.use_csr_sans,
            "require_cn": self.require_cn,
            "issuer_ref": self.issuer_ref,
        }) {
            Value::Object(mut m) => {
                self.profile.to_data(&mut m);
                m
            }
            _ => Map::new(),
        }
    }

    /// The key spec `issue` generates (`any` issues EC P-256, as Vault's default key).
    pub(super) fn issue_key(&self) -> Result<KeySpec, ApiError> {
        if self.key_type == "any" {
            return Ok(KeySpec::Ec(256));
        }
        KeySpec::parse(&self.key_type, u64::from(self.key_bits))
    }

    /// Whether the role lets a certificate name the DNS host `name` (the common name or a DNS
    /// SAN). Names are compared in lower case.
    pub(super) fn allows_host(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        if name.starts_with('*') && !self.allow_wildcard_certificates {
            return false;
        }
        // Without `enforce_hostnames` a name need only be printable ASCII (a person's name,
        // a device id) and still pass the domain rules below.
        let well_formed = if self.enforce_hostnames {
            is_hostname(&name)
        } else {
            !name.is_empty()
                && name.len() <= 253
                && name.bytes().all(|c| c.is_ascii_graphic() || c == b' ')
        };
        if !well_formed {
            return false;
        }
        if self.allow_any_name {
            return true;
        }
        if self.allow_localhost && (name == "localhost" || name == "localhost.localdomain") {
            return true;
        }
        let (wildcard, base) = match name.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, name.as_str()),
        };
        self.allowed_domains.iter().any(|domain| {
            let domain = domain.to_ascii_lowercase();
            if self.allow_glob_domains && domain.contains('*') && glob_match(&domain, &name) {
                return true;
            }
            if !wildcard && self.allow_bare_domains && base == domain {
                return true;
            }
            self.allow_subdomains
                && ((wildcard && base == domain) || base.ends_with(&format!(".{domain}")))
        })
    }

    /// Whether the role lets a certificate carry the URI SAN `uri`.
    pub(super) fn allows_uri(&self, uri: &str) -> bool {
        self.allowed_uri_sans.iter().any(|p| glob_match(p, uri))
    }
}

/// A DNS host name as certificates carry it: dot-separated labels of letters, digits and
/// inner dashes, at most 253 characters, with an optional leading `*.` wildcard label.
pub(crate) fn is_hostname(name: &str) -> bool {
    let body = name.strip_prefix("*.").unwrap_or(name);
    !body.is_empty()
        && name.len() <= 253
        && body.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Glob matching with `*` for any run of characters (including none and dots), as Vault's
/// `allowed_domains` with `allow_glob_domains` and `allowed_uri_sans` do.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Vault's role-name rule: word characters, dots and dashes; never a path.
pub(super) fn check_role_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.')
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad(format!("invalid role name {name:?}")))
    }
}
