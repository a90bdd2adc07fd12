//! Authorizers: the decision, after a peer's SVID has been validated, whether its SPIFFE ID
//! may talk to us.
//!
//! Validation answers "who is this"; an [`Authorizer`] answers "is that someone we accept".
//! Keeping the two apart means the mTLS helpers never accept a peer just because its
//! certificate chains to a trusted bundle: the caller must say which IDs it wants, and
//! [`Authorizer::any`] is the one explicit way to say "every ID in the bundle".

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use super::id::{SpiffeId, TrustDomain};

/// A predicate over SPIFFE IDs, for policies the fixed variants cannot express.
pub type Predicate = Arc<dyn Fn(&SpiffeId) -> bool + Send + Sync>;

/// Which SPIFFE IDs are allowed.
#[derive(Clone)]
#[non_exhaustive]
pub enum Authorizer {
    /// Every ID (the bundle check is the only gate).
    Any,
    /// Exactly this ID.
    Exact(SpiffeId),
    /// One of these IDs.
    OneOf(BTreeSet<SpiffeId>),
    /// Any ID in this trust domain.
    MemberOf(TrustDomain),
    /// Whatever the predicate accepts.
    Predicate(Predicate),
}

impl Authorizer {
    /// Accepts every ID.
    pub const fn any() -> Self {
        Self::Any
    }

    /// Accepts exactly `id`.
    pub const fn exact(id: SpiffeId) -> Self {
        Self::Exact(id)
    }

    /// Accepts any of `ids`.
    pub fn one_of(ids: impl IntoIterator<Item = SpiffeId>) -> Self {
        Self::OneOf(ids.into_iter().collect())
    }

    /// Accepts any ID in `td`.
    pub const fn member_of(td: TrustDomain) -> Self {
        Self::MemberOf(td)
    }

    /// Accepts the IDs `f` returns true for.
    pub fn predicate(f: impl Fn(&SpiffeId) -> bool + Send + Sync + 'static) -> Self {
        Self::Predicate(Arc::new(f))
    }

    /// Whether `id` is allowed.
    pub fn allows(&self, id: &SpiffeId) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(want) => want == id,
            Self::OneOf(set) => set.contains(id),
            Self::MemberOf(td) => id.is_member_of(td),
            Self::Predicate(f) => f(id),
        }
    }
}

impl fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("Authorizer::Any"),
            Self::Exact(id) => write!(f, "Authorizer::Exact({id})"),
            Self::OneOf(set) => {
                f.write_str("Authorizer::OneOf")?;
                f.debug_set()
                    .entries(set.iter().map(SpiffeId::as_str))
                    .finish()
            }
            Self::MemberOf(td) => write!(f, "Authorizer::MemberOf({td})"),
            // A closure has nothing printable; say what it is.
            Self::Predicate(_) => f.write_str("Authorizer::Predicate(<fn>)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> SpiffeId {
        SpiffeId::parse(s).unwrap()
    }

    #[test]
    fn each_variant_decides() {
        let web = id("spiffe://example.org/web");
        let db = id("spiffe://example.org/db");
        let other = id("spiffe://other.org/web");

        assert!(Authorizer::any().allows(&other));

        let exact = Authorizer::exact(web.clone());
        assert!(exact.allows(&web));
        assert!(!exact.allows(&db));

        let set = Authorizer::one_of([web.clone(), db.clone()]);
        assert!(set.allows(&web) && set.allows(&db) && !set.allows(&other));

        let td = Authorizer::member_of(TrustDomain::parse("example.org").unwrap());
        assert!(td.allows(&web) && !td.allows(&other));

        let pred = Authorizer::predicate(|id| id.path().starts_with("/w"));
        assert!(pred.allows(&web) && !pred.allows(&db));
    }

    #[test]
    fn debug_names_the_policy_without_the_closure() {
        assert_eq!(
            format!("{:?}", Authorizer::predicate(|_| true)),
            "Authorizer::Predicate(<fn>)"
        );
        assert_eq!(
            format!("{:?}", Authorizer::exact(id("spiffe://td/x"))),
            "Authorizer::Exact(spiffe://td/x)"
        );
        assert_eq!(
            format!("{:?}", Authorizer::one_of([id("spiffe://td/x")])),
            "Authorizer::OneOf{\"spiffe://td/x\"}"
        );
    }
}
