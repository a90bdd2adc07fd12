//! `delete/<path>`, `undelete/<path>` and `destroy/<path>`: changes to chosen versions.
//! Versions that are not kept (never written, trimmed, beyond the current one) are skipped,
//! as Vault skips them.

use crate::api::{ApiError, Request, Response};
use crate::kv::unix_nanos;
use crate::kv::v2::model::{metadata_key, version_key};
use crate::kv::v2::{KvV2, load_config, load_meta, versions_field};
use crate::view::{View, ViewOp, to_json};

/// What a version route does to the versions it lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    /// `delete/<path>`: soft delete (sets `deletion_time` to now).
    Delete,
    /// `undelete/<path>`: clears `deletion_time` (or re-arms `delete_version_after`).
    Undelete,
    /// `destroy/<path>`: marks destroyed and removes the data for good.
    Destroy,
}

impl Action {
    /// The action of a route's first segment.
    pub(super) fn from_route(head: &str) -> Option<Self> {
        match head {
            "delete" => Some(Self::Delete),
            "undelete" => Some(Self::Undelete),
            "destroy" => Some(Self::Destroy),
            _ => None,
        }
    }
}

impl KvV2 {
    /// Applies `action` to the listed versions of `path`.
    pub(super) async fn change_versions(
        &self,
        req: &Request,
        view: &View,
        action: Action,
        path: &str,
    ) -> Result<Response, ApiError> {
        let versions = versions_field(&req.data, action == Action::Destroy)?;
        let now = unix_nanos(req.time);
        let _guard = self.locks.lock(path).await;
        let Some(mut meta) = load_meta(view, path).await? else {
            return Ok(Response::empty());
        };
        // Undeleting re-arms `delete_version_after` from now, as Vault does.
        let dva = meta.delete_version_after(&load_config(view).await?);
        let rearmed = (dva > 0).then(|| now.saturating_add(dva.saturating_mul(1_000_000_000)));
        let mut ops = Vec::new();
        for n in versions {
            let Some(vm) = meta.versions.get_mut(&n) else {
                continue;
            };
            match action {
                Action::Delete if !vm.destroyed && !vm.is_deleted(now) => vm.deletion = Some(now),
                Action::Undelete if !vm.destroyed => vm.deletion = rearmed,
                Action::Destroy if !vm.destroyed => {
                    vm.destroyed = true;
                    ops.push(ViewOp::Delete(version_key(path, n)));
                }
                _ => {}
            }
        }
        ops.push(ViewOp::Put(metadata_key(path), to_json(&meta)?));
        view.transaction(ops).await?;
        Ok(Response::empty())
    }
}
