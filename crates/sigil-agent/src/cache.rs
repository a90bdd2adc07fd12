//! The identities the agent may hand out: entries with their X.509-SVIDs and keys, and the
//! trust bundles.
//!
//! Whoever talks to the server fills the cache through [`Cache::replace`] or
//! [`Cache::update`]; both publish a whole new [`CacheState`] at once, and every open
//! Workload API stream wakes up, recomputes what its caller sees, and sends it if it
//! changed. Readers never see half an update. Nothing here does I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use sigil_core::SecretBytes;
use sigil_core::spiffe::{SpiffeId, TrustDomain};
use tokio::sync::watch;

use crate::error::Error;
use crate::selector::SelectorSet;

/// The longest hint the agent hands out: the standard says values over 1024 bytes should
/// not be supported.
const MAX_HINT: usize = 1024;

/// One identity a workload may receive: a SPIFFE ID, the selectors a caller must have, and
/// the current X.509-SVID with its key.
#[derive(Clone)]
pub struct Entry {
    spiffe_id: SpiffeId,
    selectors: SelectorSet,
    hint: String,
    federates_with: BTreeSet<TrustDomain>,
    svid_chain: Vec<Vec<u8>>,
    key: SecretBytes,
}

impl Entry {
    /// An entry for callers having all of `selectors` (at least one), with the X.509-SVID
    /// `svid_chain` (DER certificates, leaf first) and its private key (PKCS#8 DER).
    ///
    /// The certificates are not checked here: they come from Sigil's own server.
    pub fn new(
        spiffe_id: SpiffeId,
        selectors: SelectorSet,
        svid_chain: Vec<Vec<u8>>,
        key: SecretBytes,
    ) -> Result<Self, Error> {
        if selectors.is_empty() {
            // An empty requirement is a subset of every caller's selectors.
            return Err(Error::BadEntry(format!(
                "{spiffe_id} has no selectors and would be handed to every caller"
            )));
        }
        if svid_chain.is_empty() || svid_chain.iter().any(Vec::is_empty) {
            return Err(Error::BadEntry(format!(
                "{spiffe_id} has no X.509-SVID certificate"
            )));
        }
        if key.is_empty() {
            return Err(Error::BadEntry(format!("{spiffe_id} has no private key")));
        }
        Ok(Self {
            spiffe_id,
            selectors,
            hint: String::new(),
            federates_with: BTreeSet::new(),
            svid_chain,
            key,
        })
    }

    /// The same entry with a hint (at most 1024 bytes) telling it apart from the caller's
    /// other identities.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Result<Self, Error> {
        let hint = hint.into();
        if hint.len() > MAX_HINT {
            return Err(Error::BadEntry(format!(
                "the hint of {} is longer than {MAX_HINT} bytes",
                self.spiffe_id
            )));
        }
        self.hint = hint;
        Ok(self)
    }

    /// The same entry federating with `trust_domains`: their X.509 bundles go along with the
    /// SVID.
    pub fn federating_with(mut self, trust_domains: impl IntoIterator<Item = TrustDomain>) -> Self {
        self.federates_with = trust_domains.into_iter().collect();
        self
    }

    /// The same entry with a new X.509-SVID and key (a rotation).
    pub fn with_svid(mut self, svid_chain: Vec<Vec<u8>>, key: SecretBytes) -> Result<Self, Error> {
        let rotated = Self::new(
            self.spiffe_id.clone(),
            self.selectors.clone(),
            svid_chain,
            key,
        )?;
        self.svid_chain = rotated.svid_chain;
        self.key = rotated.key;
        Ok(self)
    }

    /// The SPIFFE ID.
    pub fn spiffe_id(&self) -> &SpiffeId {
        &self.spiffe_id
    }

    /// The selectors a caller must have.
    pub fn selectors(&self) -> &SelectorSet {
        &self.selectors
    }

    /// The hint (empty when none).
    pub fn hint(&self) -> &str {
        &self.hint
    }

    /// The foreign trust domains whose bundles go with this SVID.
    pub fn federates_with(&self) -> &BTreeSet<TrustDomain> {
        &self.federates_with
    }

    /// The X.509-SVID: DER certificates, leaf first.
    pub fn svid_chain(&self) -> &[Vec<u8>] {
        &self.svid_chain
    }

    /// The private key, PKCS#8 DER.
    pub fn key(&self) -> &SecretBytes {
        &self.key
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("spiffe_id", &self.spiffe_id.as_str())
            .field(
                "selectors",
                &self
                    .selectors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
            )
            .field("hint", &self.hint)
            .field("federates_with", &self.federates_with)
            .field(
                "svid_chain",
                &format_args!("[{} certificates]", self.svid_chain.len()),
            )
            .field("key", &format_args!("[redacted]"))
            .finish()
    }
}

/// Everything the Workload API serves, at one moment.
#[derive(Debug, Clone)]
pub struct CacheState {
    /// The agent's own trust domain.
    pub trust_domain: TrustDomain,
    /// The identities, in order of preference: a caller's first matching entry is its
    /// default identity.
    pub entries: Vec<Entry>,
    /// The trust domain's X.509 authorities (DER CA certificates).
    pub x509_bundle: Vec<Vec<u8>>,
    /// Foreign trust domains' X.509 authorities (DER CA certificates).
    pub federated_x509_bundles: BTreeMap<TrustDomain, Vec<Vec<u8>>>,
    /// JWT bundles, local and federated: a JWK Set (RFC 7517) JSON document per trust
    /// domain.
    pub jwt_bundles: BTreeMap<TrustDomain, Vec<u8>>,
}

impl CacheState {
    /// A state with no identities and no bundles.
    pub fn empty(trust_domain: TrustDomain) -> Self {
        Self {
            trust_domain,
            entries: Vec::new(),
            x509_bundle: Vec::new(),
            federated_x509_bundles: BTreeMap::new(),
            jwt_bundles: BTreeMap::new(),
        }
    }

    /// The entries a caller with `selectors` may have, in cache order (the first is its
    /// default identity).
    pub fn entries_for<'a>(
        &'a self,
        selectors: &'a SelectorSet,
    ) -> impl Iterator<Item = &'a Entry> {
        self.entries
            .iter()
            .filter(move |e| e.selectors.is_subset_of(selectors))
    }
}

/// The agent's identity cache: one current [`CacheState`], and a way to wait for the next.
#[derive(Debug)]
pub struct Cache {
    state: watch::Sender<Arc<CacheState>>,
}

impl Cache {
    /// A cache holding `state`.
    pub fn new(state: CacheState) -> Self {
        Self {
            state: watch::Sender::new(Arc::new(state)),
        }
    }

    /// Replaces the whole state and wakes every open stream. The previous state's keys are
    /// zeroized once no stream still reads them.
    pub fn replace(&self, state: CacheState) {
        self.state.send_replace(Arc::new(state));
    }

    /// Changes the state with `change` (applied to a copy) and wakes every open stream.
    pub fn update(&self, change: impl FnOnce(&mut CacheState)) {
        let mut next = CacheState::clone(&self.current());
        change(&mut next);
        self.replace(next);
    }

    /// The current state.
    pub fn current(&self) -> Arc<CacheState> {
        self.state.borrow().clone()
    }

    /// A receiver that sees every state from now on.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Arc<CacheState>> {
        self.state.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, selectors: &[&str]) -> Entry {
        Entry::new(
            SpiffeId::parse(id).unwrap(),
            selectors.iter().map(|s| s.parse().unwrap()).collect(),
            vec![vec![0x30, 0x00]],
            SecretBytes::new(b"private key bytes".to_vec()),
        )
        .unwrap()
    }

    #[test]
    fn entries_match_by_subset_in_cache_order() {
        let mut state = CacheState::empty(TrustDomain::parse("example.org").unwrap());
        state.entries = vec![
            entry("spiffe://example.org/a", &["unix:uid:1000", "unix:gid:5"]),
            entry("spiffe://example.org/b", &["unix:uid:1000"]),
            entry("spiffe://example.org/c", &["unix:uid:0"]),
        ];
        let caller: SelectorSet = ["unix:uid:1000", "unix:gid:5", "unix:user:app"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let ids: Vec<_> = state
            .entries_for(&caller)
            .map(|e| e.spiffe_id().as_str())
            .collect();
        assert_eq!(ids, ["spiffe://example.org/a", "spiffe://example.org/b"]);
        assert_eq!(state.entries_for(&SelectorSet::default()).count(), 0);
    }

    #[test]
    fn an_entry_needs_selectors_a_certificate_and_a_key() {
        let id = SpiffeId::parse("spiffe://example.org/a").unwrap();
        let sel: SelectorSet = ["unix:uid:1".parse().unwrap()].into_iter().collect();
        let key = SecretBytes::new(vec![1]);
        assert!(
            Entry::new(
                id.clone(),
                SelectorSet::default(),
                vec![vec![1]],
                key.clone()
            )
            .is_err()
        );
        assert!(Entry::new(id.clone(), sel.clone(), vec![], key.clone()).is_err());
        assert!(Entry::new(id.clone(), sel.clone(), vec![vec![]], key).is_err());
        assert!(Entry::new(id, sel, vec![vec![1]], SecretBytes::default()).is_err());
        let long = "h".repeat(MAX_HINT + 1);
        assert!(
            entry("spiffe://example.org/a", &["unix:uid:1"])
                .with_hint(long)
                .is_err()
        );
    }

    #[test]
    fn debug_redacts_the_key() {
        let e = entry("spiffe://example.org/a", &["unix:uid:1000"]);
        let shown = format!(
            "{e:?} {:?}",
            Cache::new(CacheState {
                entries: vec![e.clone()],
                ..CacheState::empty(TrustDomain::parse("example.org").unwrap())
            })
        );
        assert!(shown.contains("[redacted]"), "{shown}");
        assert!(!shown.contains("112, 114, 105"), "{shown}"); // "pri" as bytes
        assert!(!shown.contains("private key bytes"), "{shown}");
    }

    #[test]
    fn update_publishes_a_new_state() {
        let cache = Cache::new(CacheState::empty(
            TrustDomain::parse("example.org").unwrap(),
        ));
        let mut rx = cache.subscribe();
        rx.mark_unchanged();
        cache.update(|s| {
            s.entries
                .push(entry("spiffe://example.org/a", &["unix:uid:1"]));
        });
        assert!(rx.has_changed().unwrap());
        assert_eq!(rx.borrow_and_update().entries.len(), 1);
    }
}
