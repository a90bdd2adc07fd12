//! The X.509 authority's lifecycle, SPIRE's way: when the active authority is half way
//! through its life a successor is **prepared** and published in the bundle (so relying
//! parties trust it before anything it signs appears); when a sixth of the active one's life
//! is left the successor is **activated** and signs from then on; the old one is
//! **retired** but stays in the bundle until it expires, because SVIDs it signed are still
//! in use. Transitions happen when the engine next uses its authorities (there is no timer
//! to miss): a server that was down for a while catches up in one step.

use serde::{Deserialize, Serialize};
use sigil_core::spiffe::TrustDomain;

use super::svid::Authority;
use crate::api::ApiError;
use crate::pki::KeySpec;

/// The authorities of a trust domain.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Authorities {
    /// Signs SVIDs.
    pub active: Authority,
    /// Published, not yet signing.
    pub prepared: Option<Authority>,
    /// No longer signing, published until they expire.
    pub retired: Vec<Authority>,
}

fn point(a: &Authority, numerator: i64, denominator: i64) -> i64 {
    a.not_before + (a.not_after - a.not_before) * numerator / denominator
}

impl Authorities {
    /// A trust domain's first authority.
    pub(super) fn new(active: Authority) -> Self {
        Self {
            active,
            prepared: None,
            retired: Vec::new(),
        }
    }

    /// Whether [`Authorities::advance`] has something to do at `now`.
    pub(super) fn due(&self, now: i64) -> bool {
        let prepare = self.prepared.is_none() && now >= point(&self.active, 1, 2);
        let activate = self.prepared.is_some() && now >= point(&self.active, 5, 6);
        prepare || activate || self.retired.iter().any(|a| a.not_after <= now)
    }

    /// Makes every transition due at `now`; returns whether the published set changed (the
    /// bundle's sequence number must then move).
    pub(super) fn advance(
        &mut self,
        td: &TrustDomain,
        key: KeySpec,
        ttl: u64,
        now: i64,
    ) -> Result<bool, ApiError> {
        let mut changed = false;
        // At most a few rounds: a server down for long may owe a prepare and an activation.
        for _ in 0..4 {
            if self.prepared.is_none() && now >= point(&self.active, 1, 2) {
                self.prepared = Some(Authority::generate(td, key, ttl, now)?);
                changed = true;
            } else if self.prepared.is_some() && now >= point(&self.active, 5, 6) {
                if let Some(next) = self.prepared.take() {
                    let old = std::mem::replace(&mut self.active, next);
                    self.retired.push(old);
                }
            } else {
                break;
            }
        }
        let before = self.retired.len();
        self.retired.retain(|a| a.not_after > now);
        changed |= self.retired.len() != before;
        Ok(changed)
    }

    /// Everything the bundle publishes: the active authority, then the prepared one, then
    /// the retired ones still valid.
    pub(super) fn published(&self) -> impl Iterator<Item = &Authority> {
        std::iter::once(&self.active)
            .chain(self.prepared.iter())
            .chain(self.retired.iter())
    }
}
