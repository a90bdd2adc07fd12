//! Server configuration: one TOML file (`conf/server.full.toml` documents every key), with
//! environment overrides for the settings deployments most often inject.
//!
//! | Variable | Overrides |
//! |---|---|
//! | `SIGIL_LISTEN` | the first listener's `address` |
//! | `SIGIL_TLS_CERT_FILE`, `SIGIL_TLS_KEY_FILE` | the first listener's TLS files |
//! | `SIGIL_STORAGE_PATH` | `storage.path` |
//! | `SIGIL_SEAL_KEY_FILE` | `seal.key_file` |
//! | `SIGIL_LOG_LEVEL`, `SIGIL_LOG_FORMAT` | `log.level`, `log.format` |

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::api::parse_duration;
use crate::audit::DeviceConfig;
use crate::core::CoreConfig;
use crate::http::DEFAULT_MAX_REQUEST_SIZE;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Reported by status endpoints.
    #[serde(default = "default_cluster_name")]
    pub cluster_name: String,
    /// Where data lives.
    pub storage: Storage,
    /// Where the API listens (at least one).
    #[serde(default, rename = "listener")]
    pub listeners: Vec<Listener>,
    /// How the root key is protected.
    #[serde(default)]
    pub seal: Seal,
    /// Token lifetimes.
    #[serde(default)]
    pub tokens: Tokens,
    /// Audit devices.
    #[serde(default)]
    pub audit: Audit,
    /// Logging.
    #[serde(default)]
    pub log: Log,
    /// SPIFFE bundle endpoints (`https_spiffe`), one per trust domain to publish.
    #[serde(default, rename = "bundle_endpoint")]
    pub bundle_endpoints: Vec<BundleEndpoint>,
}

/// `[[bundle_endpoint]]`: serves a `spiffe` mount's bundle over HTTPS, authenticated with an
/// X509-SVID of the trust domain, for federated peers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleEndpoint {
    /// `host:port`.
    pub address: String,
    /// The mount of the trust domain.
    #[serde(default = "default_spiffe_mount")]
    pub mount: String,
}

fn default_spiffe_mount() -> String {
    "spiffe".into()
}

/// `[storage]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    /// Directory of the embedded store (created if missing; the database is `sigil.redb`).
    pub path: PathBuf,
    /// Bytes of the database the store may keep in memory (default 16 MiB).
    #[serde(default = "default_cache_size")]
    pub cache_size: usize,
}

fn default_cache_size() -> usize {
    sigil_storage::embedded::DEFAULT_CACHE_SIZE
}

/// `[[listener]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// `host:port`.
    pub address: String,
    /// PEM certificate chain.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key.
    pub tls_key_file: Option<PathBuf>,
    /// Serve plain HTTP. Refused unless the address is loopback.
    #[serde(default)]
    pub tls_disable: bool,
    /// Largest request body in bytes.
    #[serde(default = "default_max_request_size")]
    pub max_request_size: usize,
}

/// `[seal]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seal {
    /// Auto-unseal key file (32 bytes, base64 or hex). Without it the server uses Shamir key
    /// shares.
    pub key_file: Option<PathBuf>,
}

/// `[tokens]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tokens {
    /// Default TTL (`768h`).
    #[serde(default = "default_ttl")]
    pub default_ttl: String,
    /// Maximum TTL (`768h`).
    #[serde(default = "default_ttl")]
    pub max_ttl: String,
}

impl Default for Tokens {
    fn default() -> Self {
        Self {
            default_ttl: default_ttl(),
            max_ttl: default_ttl(),
        }
    }
}

/// `[audit]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Audit {
    /// How long a request waits for an audit device before failing (`2s`).
    #[serde(default = "default_audit_timeout")]
    pub timeout: String,
    /// Devices.
    #[serde(default, rename = "device")]
    pub devices: Vec<AuditDevice>,
}

impl Default for Audit {
    fn default() -> Self {
        Self {
            timeout: default_audit_timeout(),
            devices: Vec::new(),
        }
    }
}

/// `[[audit.device]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditDevice {
    /// Name (`file` → shown as `file/`).
    pub name: String,
    /// `file` (the only type).
    #[serde(rename = "type")]
    pub kind: String,
    /// File path, or `stdout`.
    pub path: String,
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    /// `error`, `warn`, `info`, `debug`, `trace`.
    #[serde(default = "default_log_level")]
    pub level: String,
    /// `json` or `text`.
    #[serde(default = "default_log_format")]
    pub format: String,
}

impl Default for Log {
    fn default() -> Self {
        Self {
            level: default_log_level(),
            format: default_log_format(),
        }
    }
}

fn default_cluster_name() -> String {
    "sigil".into()
}
fn default_max_request_size() -> usize {
    DEFAULT_MAX_REQUEST_SIZE
}
fn default_ttl() -> String {
    "768h".into()
}
fn default_audit_timeout() -> String {
    "2s".into()
}
fn default_log_level() -> String {
    "info".into()
}
fn default_log_format() -> String {
    "json".into()
}

impl Config {
    /// Reads, applies environment overrides, and validates.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let mut config = Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        config.apply_env(|k| std::env::var(k).ok());
        config.validate()?;
        Ok(config)
    }

    /// Parses TOML text.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Applies `SIGIL_*` overrides through `get`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) {
        if let Some(v) = get("SIGIL_STORAGE_PATH") {
            self.storage.path = v.into();
        }
        if let Some(v) = get("SIGIL_SEAL_KEY_FILE") {
            self.seal.key_file = Some(v.into());
        }
        if let Some(v) = get("SIGIL_LOG_LEVEL") {
            self.log.level = v;
        }
        if let Some(v) = get("SIGIL_LOG_FORMAT") {
            self.log.format = v;
        }
        let listen = get("SIGIL_LISTEN");
        let cert = get("SIGIL_TLS_CERT_FILE");
        let key = get("SIGIL_TLS_KEY_FILE");
        if listen.is_some() || cert.is_some() || key.is_some() {
            if self.listeners.is_empty() {
                self.listeners.push(Listener {
                    address: "127.0.0.1:8200".into(),
                    tls_cert_file: None,
                    tls_key_file: None,
                    tls_disable: false,
                    max_request_size: DEFAULT_MAX_REQUEST_SIZE,
                });
            }
            if let Some(l) = self.listeners.first_mut() {
                if let Some(v) = listen {
                    l.address = v;
                }
                if let Some(v) = cert {
                    l.tls_cert_file = Some(v.into());
                }
                if let Some(v) = key {
                    l.tls_key_file = Some(v.into());
                }
            }
        }
    }

    /// Checks what the types cannot: listeners, TLS rules, durations, log settings.
    pub fn validate(&self) -> Result<(), String> {
        if self.listeners.is_empty() {
            return Err("at least one [[listener]] is required".into());
        }
        for l in &self.listeners {
            let addr = l.socket_addr()?;
            if l.tls_disable {
                if !addr.ip().is_loopback() {
                    return Err(format!(
                        "listener {}: tls_disable is only allowed on a loopback address",
                        l.address
                    ));
                }
            } else if l.tls_cert_file.is_none() || l.tls_key_file.is_none() {
                return Err(format!(
                    "listener {}: tls_cert_file and tls_key_file are required (or tls_disable on loopback)",
                    l.address
                ));
            }
            if l.max_request_size == 0 {
                return Err(format!(
                    "listener {}: max_request_size must be positive",
                    l.address
                ));
            }
        }
        self.core()?;
        if !matches!(self.log.format.as_str(), "json" | "text") {
            return Err("log.format must be json or text".into());
        }
        if !matches!(
            self.log.level.as_str(),
            "error" | "warn" | "info" | "debug" | "trace"
        ) {
            return Err("log.level must be error, warn, info, debug or trace".into());
        }
        Ok(())
    }

    /// The core's part of the configuration.
    pub fn core(&self) -> Result<CoreConfig, String> {
        let secs = |name: &str, v: &str| {
            parse_duration(&serde_json::Value::String(v.to_owned()))
                .map_err(|_| format!("{name}: invalid duration {v:?}"))
        };
        let default_ttl = secs("tokens.default_ttl", &self.tokens.default_ttl)?;
        let max_ttl = secs("tokens.max_ttl", &self.tokens.max_ttl)?;
        if default_ttl > max_ttl {
            return Err("tokens.default_ttl must not exceed tokens.max_ttl".into());
        }
        let timeout = secs("audit.timeout", &self.audit.timeout)?;
        if timeout == 0 {
            return Err("audit.timeout must be at least 1s".into());
        }
        let mut audit_devices = Vec::new();
        for d in &self.audit.devices {
            if d.kind != "file" {
                return Err(format!("audit device {}: type must be file", d.name));
            }
            let device = if d.path == "stdout" {
                DeviceConfig::Stdout
            } else {
                DeviceConfig::file(d.path.clone())
            };
            let name = crate::mounts::normalize(&d.name)
                .map_err(|_| format!("audit device name {:?} is invalid", d.name))?;
            audit_devices.push((name, device));
        }
        Ok(CoreConfig {
            default_ttl,
            max_ttl,
            seal_key_file: self.seal.key_file.clone(),
            audit_devices,
            audit_timeout: Duration::from_secs(timeout),
            storage_type: "embedded".into(),
            cluster_name: self.cluster_name.clone(),
        })
    }
}

impl Listener {
    /// The parsed address.
    pub fn socket_addr(&self) -> Result<SocketAddr, String> {
        self.address
            .parse()
            .map_err(|_| format!("listener address {:?} is not host:port", self.address))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = include_str!("../../../conf/server.full.toml");

    #[test]
    fn the_documented_example_parses_and_validates() {
        let c = Config::parse(FULL).unwrap();
        c.validate().unwrap();
        assert_eq!(c.core().unwrap().default_ttl, 768 * 3600);
    }

    #[test]
    fn refuses_plain_http_off_loopback_and_bad_values() {
        let base = "[storage]\npath = \"/tmp/x\"\n";
        let cases = [
            (
                "[[listener]]\naddress = \"0.0.0.0:8200\"\ntls_disable = true\n",
                "loopback",
            ),
            (
                "[[listener]]\naddress = \"127.0.0.1:8200\"\n",
                "tls_cert_file",
            ),
            ("", "at least one"),
            (
                "[[listener]]\naddress = \"nope\"\ntls_disable = true\n",
                "host:port",
            ),
            (
                "[[listener]]\naddress = \"127.0.0.1:1\"\ntls_disable = true\n[tokens]\ndefault_ttl = \"9h\"\nmax_ttl = \"1h\"\n",
                "exceed",
            ),
        ];
        for (extra, needle) in cases {
            let err = Config::parse(&format!("{base}{extra}"))
                .and_then(|c| c.validate())
                .unwrap_err();
            assert!(err.contains(needle), "{err}");
        }
        assert!(
            Config::parse(&format!("{base}bogus = 1\n")).is_err(),
            "unknown keys"
        );
    }

    #[test]
    fn the_store_cache_has_a_bounded_default() {
        let c = Config::parse("[storage]\npath = \"/a\"\n").unwrap();
        assert_eq!(c.storage.cache_size, 16 * 1024 * 1024);
        let c = Config::parse("[storage]\npath = \"/a\"\ncache_size = 1048576\n").unwrap();
        assert_eq!(c.storage.cache_size, 1 << 20);
        for bad in ["-1", "\"16MiB\"", "1.5"] {
            let text = format!("[storage]\npath = \"/a\"\ncache_size = {bad}\n");
            assert!(Config::parse(&text).is_err(), "{bad}");
        }
    }

    #[test]
    fn environment_overrides_apply() {
        let mut c = Config::parse("[storage]\npath = \"/a\"\n").unwrap();
        c.apply_env(|k| match k {
            "SIGIL_LISTEN" => Some("127.0.0.1:9999".into()),
            "SIGIL_STORAGE_PATH" => Some("/b".into()),
            _ => None,
        });
        assert_eq!(c.storage.path, PathBuf::from("/b"));
        assert_eq!(c.listeners[0].address, "127.0.0.1:9999");
    }
}
