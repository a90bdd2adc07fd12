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
use sigil_core::encoding::hex_encode;
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
    /// Seconds after which a new version reads as deleted; 0 = unset, negative = disabled
    /// for every secret of the mount (whatever the secrets' own settings say).
    pub(crate) delete_version_after: i64,
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
    /// Whether the version reads as deleted at `now`: soft-deleted at or before `now`. (Vault
    /// compares "strictly before"; with pinned request times, a version deleted by a request
    /// must read as deleted by another request at the same instant, hence "at or before".)
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
            go_duration(i64::try_from(self.delete_version_after).unwrap_or(i64::MAX)).into(),
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

    /// How many versions to keep: the larger of the secret's and the mount's setting, 10
    /// when neither is set (Vault's rule, so a secret cannot keep fewer than its mount).
    pub(crate) fn max_versions(&self, config: &Config) -> u64 {
        match self.max_versions.max(config.max_versions) {
            0 => DEFAULT_MAX_VERSIONS,
            n => n,
        }
    }

    /// Seconds after which a new (or undeleted) version reads as deleted (0 = never): the
    /// shorter of the mount's and the secret's non-zero settings, never when the mount
    /// disables it.
    pub(crate) fn delete_version_after(&self, config: &Config) -> u64 {
        let Ok(mount) = u64::try_from(config.delete_version_after) else {
            return 0;
        };
        match (self.delete_version_after, mount) {
            (0, c) => c,
            (m, 0) => m,
            (m, c) => m.min(c),
        }
    }

    /// Adds version `current_version + 1` and slides the window of kept versions as Vault
    /// does: once `current - oldest` reaches `max`, every version up to `current - max` goes
    /// and `oldest_version` becomes `current - max + 1`. Returns the new number and the
    /// removed versions (whose data the caller deletes in the same transaction).
    pub(crate) fn add_version(&mut self, vm: VersionMeta, max: u64) -> (u64, Vec<u64>) {
        self.current_version += 1;
        let n = self.current_version;
        self.updated = vm.created;
        self.versions.insert(n, vm);
        let mut removed = Vec::new();
        if n - self.oldest_version.min(n) >= max {
            let last_gone = n - max;
            let gone: Vec<u64> = self.versions.range(..=last_gone).map(|(k, _)| *k).collect();
            for k in gone {
                self.versions.remove(&k);
                removed.push(k);
            }
            self.oldest_version = last_gone + 1;
        }
        (n, removed)
    }
}

/// The storage key of `path`'s metadata.
pub(crate) fn metadata_key(path: &str) -> String {
    format!("metadata/{path}")
}

/// The storage key of version `n` of `path`.
pub(crate) fn version_key(path: &str, n: u64) -> String {
    format!("{}{n}", versions_dir(path))
}

/// The storage folder of `path`'s versions: `version_key(path, n)` is this and `n`.
pub(crate) fn versions_dir(path: &str) -> String {
    let hash = digest(HashAlgorithm::Sha256, path.as_bytes());
    format!("versions/{}/", hex_encode(&hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_slides_like_vaults() {
        let mut m = KeyMetadata::new(0);
        // (max for this write, removed, oldest_version after, versions kept after)
        for (max, removed, oldest, kept) in [
            (3, vec![], 0, vec![1]),
            (3, vec![], 0, vec![1, 2]),
            (3, vec![], 1, vec![1, 2, 3]),
            (3, vec![1], 2, vec![2, 3, 4]),
            (1, vec![2, 3, 4], 5, vec![5]),
            (3, vec![], 5, vec![5, 6]),
        ] {
            let (n, gone) = m.add_version(VersionMeta::default(), max);
            assert_eq!(gone, removed, "version {n}");
            assert_eq!(m.oldest_version, oldest, "version {n}");
            assert_eq!(m.versions.keys().copied().collect::<Vec<_>>(), kept);
        }
    }

    #[test]
    fn settings_fall_back_to_the_mount() {
        let mut cfg = Config {
            max_versions: 3,
            cas_required: true,
            delete_version_after: 60,
        };
        let mut m = KeyMetadata::new(0);
        assert_eq!(m.max_versions(&Config::default()), 10);
        assert_eq!(m.max_versions(&cfg), 3);
        m.max_versions = 7;
        assert_eq!(m.max_versions(&cfg), 7);
        m.max_versions = 2;
        assert_eq!(m.max_versions(&cfg), 3);
        assert!(m.cas_required(&cfg));
        assert_eq!(m.delete_version_after(&cfg), 60);
        m.delete_version_after = 30;
        assert_eq!(m.delete_version_after(&cfg), 30);
        m.delete_version_after = 90;
        assert_eq!(m.delete_version_after(&cfg), 60);
        assert_eq!(m.delete_version_after(&Config::default()), 90);
        cfg.delete_version_after = -1;
        assert_eq!(m.delete_version_after(&cfg), 0);
    }

    #[test]
    fn version_keys_are_the_versions_folder_and_the_number() {
        assert_eq!(version_key("a/b", 7), format!("{}7", versions_dir("a/b")));
        assert!(versions_dir("a/b").starts_with("versions/") && versions_dir("a").ends_with('/'));
    }

    #[test]
    fn version_keys_are_flat_and_distinct() {
        assert_ne!(version_key("a", 1), version_key("a/1", 1));
        assert!(version_key("a/b/c", 2).ends_with("/2"));
        assert_eq!(version_key("a", 1).matches('/').count(), 2);
    }
}
