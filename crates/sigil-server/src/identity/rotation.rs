//! The lifecycle of a trust domain's signing keys, SPIRE's way, for the X.509 authorities
//! and the JWT keys alike: when the active key is half way through its life a successor is
//! **prepared** and published in the bundle (so relying parties trust it before anything it
//! signs appears); when a sixth of the active one's life is left the successor is
//! **activated** and signs from then on; the old one is **retired** but stays in the bundle
//! until it expires, because what it signed is still in use. Transitions happen when the
//! engine next uses its keys (there is no timer to miss): a server that was down for a
//! while catches up in one step.

use serde::{Deserialize, Serialize};

use crate::api::ApiError;

/// A key with a validity period (Unix seconds).
pub(super) trait Rotating {
    /// When it starts being valid.
    fn not_before(&self) -> i64;
    /// When it stops being valid.
    fn not_after(&self) -> i64;
}

/// A trust domain's keys of one kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Lifecycle<T> {
    /// Signs.
    pub active: T,
    /// Published, not yet signing.
    pub prepared: Option<T>,
    /// No longer signing, published until they expire.
    pub retired: Vec<T>,
}

fn point(a: &impl Rotating, numerator: i64, denominator: i64) -> i64 {
    a.not_before() + (a.not_after() - a.not_before()) * numerator / denominator
}

impl<T: Rotating> Lifecycle<T> {
    /// A lifecycle starting with `active`.
    pub(super) fn new(active: T) -> Self {
        Self {
            active,
            prepared: None,
            retired: Vec::new(),
        }
    }

    /// Whether [`Lifecycle::advance`] has something to do at `now`.
    pub(super) fn due(&self, now: i64) -> bool {
        let prepare = self.prepared.is_none() && now >= point(&self.active, 1, 2);
        let activate = self.prepared.is_some() && now >= point(&self.active, 5, 6);
        prepare || activate || self.retired.iter().any(|a| a.not_after() <= now)
    }

    /// Makes every transition due at `now`, with `make` for a successor; returns whether
    /// the published set changed (the bundle's sequence number must then move).
    pub(super) fn advance(
        &mut self,
        now: i64,
        mut make: impl FnMut() -> Result<T, ApiError>,
    ) -> Result<bool, ApiError> {
        let mut changed = false;
        // At most a few rounds: a server down for long may owe a prepare and an activation.
        for _ in 0..4 {
            if self.prepared.is_none() && now >= point(&self.active, 1, 2) {
                self.prepared = Some(make()?);
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
        self.retired.retain(|a| a.not_after() > now);
        changed |= self.retired.len() != before;
        Ok(changed)
    }

    /// Everything the bundle publishes: the active key, then the prepared one, then the
    /// retired ones still valid.
    pub(super) fn published(&self) -> impl Iterator<Item = &T> {
        std::iter::once(&self.active)
            .chain(self.prepared.iter())
            .chain(self.retired.iter())
    }
}
