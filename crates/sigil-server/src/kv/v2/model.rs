//! KV v2's stored records and the pure rules over them: which versions are live, which are
//! trimmed, when a version counts as deleted, and how records render on the wire.
//!
//! Storage layout within the mount's view:
//! - `config`: the mount-wide [`Config`];
//! - `metadata/<path>`: one [`KeyMetadata`] per secret (so LIST of `metadata/` is a storage
//!   listing);
//! - `versions/<sha256(path) hex>/<n>`: the data of version `n`, a JSON object, kept apart so
//!   that reading one version never loads the others. Hashing the path keeps version keys
//!   flat whatever the secret's name.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sigil_core::hash::{HashAlgorithm, digest};

use crate::kv::{go_duration, rfc3339};

/// Versions kept when neither the config nor the secret sets `max_versions`.
pub(crate) const DEFAULT_MAX_VERSIONS: u64 = 10;

/// Vault's limits on `custom_metadata`.
pub(crate) const MAX_CUSTOM_KEYS: usize = 64;
/// Longest custom metadata key, in bytes.
pub(crate) const MAX_CUSTOM_KEY_LEN: usize = 128;
/// Longest custom metadata value, in bytes.
pub(crate) const MAX_CUSTOM_VALUE_LEN: usize = 512;

/// The storage key of the mount configuration.
pub(crate) const CONFIG_KEY: &str = "config";

/// The mount-wide settings (`<mount>/config`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Config {
    /// 0 = the default (10).
    pub(crate) max_versions: u64,
    /// Whether every write must carry `options.cas`.
    pub(crate) cas_required: bool,
    /// Seconds after which a new version reads as deleted; 0 = never.
    pub(crate) delete_version_after: u64,
}

impl Config {
    /// The `data` of `GET config`.
    pub(crate) fn render(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("max_versions".into(), self.max_versions.into());
        m.insert("cas_required".into(), self.cas_required.into());
        m.insert(
            "delete_version_after".into(),
            go_duration(self.delete_version_after).into(),
        );
        m
    }
}

/// What is known about one version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct VersionMeta {
    /// When it was written (Unix nanoseconds).
    pub(crate) created: u64,
    /// When it was (or will be) soft-deleted (Unix nanoseconds).
    pub(crate) deletion: Option<u64>,
    /// Whether its data was destroyed.
    pub(crate) destroyed: bool,
}

impl VersionMeta {
    /// Whether the version reads as deleted at `now`: soft-deleted at or before `now`.
    pub(crate) fn is_deleted(&self, now: u64) -> bool {
        self.deletion.is_some_and(|t| t <= now)
    }

    /// The fields every per-version answer carries.
    fn render_into(&self, m: &mut Map<String, Value>) {
        m.insert("created_time".into(), rfc3339(self.created).into());
        m.insert(
            "deletion_time".into(),
            self.deletion.map(rfc3339).unwrap_or_default().into(),
        );
        m.insert("destroyed".into(), self.destroyed.into());
    }
}

/// Everything about one secret except its versions' data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyMetadata {
    /// When the secret was first written (Unix nanoseconds).
    pub(crate) created: u64,
    /// When it last changed (Unix nanoseconds).
    pub(crate) updated: u64,
    /// The newest version number (0 = no version yet).
    pub(crate) current_version: u64,
    /// The oldest version kept (0 until trimming first removes one, as in Vault).
    pub(crate) oldest_version: u64,
    /// Per-secret `max_versions`; 0 = the mount's.
    pub(crate) max_versions: u64,
    /// Per-secret `cas_required`.
    pub(crate) cas_required: bool,
    /// Per-secret `delete_version_after` in seconds; 0 = the mount's.
    pub(crate) delete_version_after: u64,
    /// Free-form, non-secret labels.
    pub(crate) custom_metadata: BTreeMap<String, String>,
    /// The versions kept, by number.
    pub(crate) versions: BTreeMap<u64, VersionMeta>,
}

impl KeyMetadata {
    /// A secret with no versions yet.
    pub(crate) fn new(now: u64) -> Self {
        Self {
            created: now,
            updated: now,
            ..Self::default()
        }
    }

    /// The `custom_metadata` field: `null` when there is none, as Vault answers.
    pub(crate) fn custom_value(&self) -> Value {
        if self.custom_metadata.is_empty() {
            Value::Null
        } else {
            Value::Object(
                self.custom_metadata
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            )
        }
    }

    /// The `metadata` block of a data read or write for `version`.
    pub(crate) fn version_block(&self, version: u64, vm: &VersionMeta) -> Map<String, Value> {
        let mut m = Map::new();
        vm.render_into(&mut m);
        m.insert("custom_metadata".into(), self.custom_value());
        m.insert("version".into(), version.into());
        m
    }

    /// The `data` of `GET metadata/<path>`.
    pub(crate) fn render(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("cas_required".into(), self.cas_required.into());
        m.insert("created_time".into(), rfc3339(self.created).into());
        m.insert("current_version".into(), self.current_version.into());
        m.insert("custom_metadata".into(), self.custom_value());
        m.insert(
            "delete_version_after".into(),
            go_duration(self.delete_version_after).into(),
        );
        m.insert("max_versions".into(), self.max_versions.into());
        m.insert("oldest_version".into(), self.oldest_version.into());
        m.insert("updated_time".into(), rfc3339(self.updated).into());
        let versions = self
            .versions
            .iter()
            .map(|(n, vm)| {
                let mut v = Map::new();
                vm.render_into(&mut v);
                (n.to_string(), Value::Object(v))
            })
            .collect();
        m.insert("versions".into(), Value::Object(versions));
        m
    }

    /// Whether a write must carry `options.cas`.
    pub(crate) fn cas_required(&self, config: &Config) -> bool {
        self.cas_required || config.cas_required
    }

    /// How many versions to keep: the secret's setting, else the mount's, else 10.
    pub(crate) fn max_versions(&self, config: &Config) -> u64 {
        [self.max_versions, config.max_versions, DEFAULT_MAX_VERSIONS]
            .into_iter()
            .find(|&n| n > 0)
            .unwrap_or(DEFAULT_MAX_VERSIONS)
    }

    /// Seconds after which a new version reads as deleted (0 = never). When both the mount
    /// and the secret set one, the shorter wins: Vault documents that a secret's value may
    /// not exceed the mount's.
    pub(crate) fn delete_version_after(&self, config: &Config) -> u64 {
        match (self.delete_version_after, config.delete_version_after) {
            (0, c) => c,
            (m, 0) => m,
            (m, c) => m.min(c),
        }
    }

    /// Removes the oldest versions beyond `max`, returning their numbers (whose data the
    /// caller deletes in the same transaction).
    pub(crate) fn trim(&mut self, max: u64) -> Vec<u64> {
        let mut removed = Vec::new();
        while u64::try_from(self.versions.len()).unwrap_or(u64::MAX) > max {
            let Some((n, _)) = self.versions.pop_first() else {
                break;
            };
            removed.push(n);
        }
        if !removed.is_empty() {
            self.oldest_version = self.versions.keys().next().copied().unwrap_or(0);
        }
        removed
    }
}

/// The storage key of `path`'s metadata.
pub(crate) fn metadata_key(path: &str) -> String {
    format!("metadata/{path}")
}

/// The storage key of version `n` of `path`.
pub(crate) fn version_key(path: &str, n: u64) -> String {
    let hash = digest(HashAlgorithm::Sha256, path.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("versions/{hex}/{n}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_removes_oldest_first() {
        let mut m = KeyMetadata::new(0);
        for n in 1..=5 {
            m.versions.insert(n, VersionMeta::default());
        }
        m.current_version = 5;
        assert!(m.trim(5).is_empty());
        assert_eq!(m.oldest_version, 0);
        assert_eq!(m.trim(2), [1, 2, 3]);
        assert_eq!(m.oldest_version, 4);
        assert_eq!(m.versions.keys().copied().collect::<Vec<_>>(), [4, 5]);
    }

    #[test]
    fn settings_fall_back_to_the_mount() {
        let cfg = Config {
            max_versions: 3,
            cas_required: true,
            delete_version_after: 60,
        };
        let mut m = KeyMetadata::new(0);
        assert_eq!(m.max_versions(&Config::default()), 10);
        assert_eq!(m.max_versions(&cfg), 3);
        m.max_versions = 7;
        assert_eq!(m.max_versions(&cfg), 7);
        assert!(m.cas_required(&cfg));
        assert_eq!(m.delete_version_after(&cfg), 60);
        m.delete_version_after = 30;
        assert_eq!(m.delete_version_after(&cfg), 30);
        m.delete_version_after = 90;
        assert_eq!(m.delete_version_after(&cfg), 60);
        assert_eq!(m.delete_version_after(&Config::default()), 90);
    }

    #[test]
    fn version_keys_are_flat_and_distinct() {
        assert_ne!(version_key("a", 1), version_key("a/1", 1));
        assert!(version_key("a/b/c", 2).ends_with("/2"));
        assert_eq!(version_key("a", 1).matches('/').count(), 2);
    }
}
