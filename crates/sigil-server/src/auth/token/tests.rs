//! Token store lifecycle tests over a plain in-memory view.

use sigil_storage::Page;

use super::*;
use crate::view::PlainStore;

const T0: u64 = 1_700_000_000;

fn store() -> TokenStore {
    TokenStore::new(PlainStore::view(), 0, 0)
}

fn params(policies: &[&str]) -> TokenParams {
    TokenParams {
        policies: Some(policies.iter().map(|p| p.to_string()).collect()),
        path: "auth/token/create".into(),
        ..TokenParams::default()
    }
}

async fn root(s: &TokenStore) -> Arc<TokenEntry> {
    let t = s.create_root(T0).await.unwrap();
    s.lookup(&t, T0).await.unwrap().unwrap()
}

async fn all_bytes(view: &View, prefix: &str, out: &mut Vec<u8>) {
    for k in view.list(prefix, Page::default()).await.unwrap() {
        let key = format!("{prefix}{k}");
        if k.ends_with('/') {
            Box::pin(all_bytes(view, &key, out)).await;
        } else {
            out.extend_from_slice(key.as_bytes());
            out.extend(view.get(&key).await.unwrap().unwrap());
        }
    }
}

#[tokio::test]
async fn root_token_has_no_ttl_and_is_hashed_at_rest() {
    let s = store();
    let t = s.create_root(T0).await.unwrap();
    assert!(t.starts_with("hvs.") && t.len() >= 28);
    let e = s.lookup(&t, T0 + 10_000_000).await.unwrap().unwrap();
    assert_eq!(e.policies, ["root"]);
    assert_eq!(e.expire_time, 0);
    assert!(!format!("{e:?}").contains(&t));
    let mut bytes = Vec::new();
    all_bytes(s.view(), "", &mut bytes).await;
    assert!(!bytes.windows(t.len()).any(|w| w == t.as_bytes()));
    assert!(!bytes.windows(24).any(|w| w == &t.as_bytes()[4..]));
}

#[tokio::test]
async fn child_policies_subset_rule() {
    let s = store();
    let r = root(&s).await;
    let a = s
        .create(Some(&r), params(&["web", "db"]), T0)
        .await
        .unwrap();
    assert_eq!(a.policies, ["db", "default", "web"]);
    let pa = s.lookup(&a.client_token, T0).await.unwrap().unwrap();
    let c = s.create(Some(&pa), params(&["web"]), T0).await.unwrap();
    assert_eq!(c.policies, ["default", "web"]);
    assert!(!c.orphan);
    let err = s
        .create(Some(&pa), params(&["admin"]), T0)
        .await
        .unwrap_err();
    assert_eq!(err.messages(), ["child policies must be subset of parent"]);
    assert!(s.create(Some(&pa), params(&["root"]), T0).await.is_err());
    let mut np = params(&["web"]);
    np.no_default_policy = true;
    assert_eq!(s.create(Some(&pa), np, T0).await.unwrap().policies, ["web"]);
    // Inherit the parent's policies when none are given.
    let mut inherit = params(&[]);
    inherit.policies = None;
    assert_eq!(
        s.create(Some(&pa), inherit, T0).await.unwrap().policies,
        ["db", "default", "web"]
    );
}

#[tokio::test]
async fn ttl_rules() {
    let s = TokenStore::new(PlainStore::view(), 3600, 7200);
    let r = root(&s).await;
    let a = s.create(Some(&r), params(&["p"]), T0).await.unwrap();
    assert_eq!(a.lease_duration, 3600);
    let mut p = params(&["p"]);
    p.ttl = Some(99_999);
    assert_eq!(
        s.create(Some(&r), p, T0).await.unwrap().lease_duration,
        7200
    );
    let mut p = params(&["p"]);
    p.explicit_max_ttl = 60;
    let e = s.create(Some(&r), p, T0).await.unwrap();
    assert_eq!(e.lease_duration, 60);
    let e = s.lookup(&e.client_token, T0).await.unwrap().unwrap();
    let renewed = s.renew(&e, 3000, T0 + 30).await.unwrap();
    assert_eq!(renewed.ttl_at(T0 + 30), 30, "explicit max caps renewals");
    // Renew with increment, capped by max TTL from creation.
    let e = s.lookup(&a.client_token, T0).await.unwrap().unwrap();
    let renewed = s.renew(&e, 100, T0 + 10).await.unwrap();
    assert_eq!(renewed.ttl_at(T0 + 10), 100);
    let renewed = s.renew(&e, 100_000, T0 + 7000).await.unwrap();
    assert_eq!(renewed.ttl_at(T0 + 7000), 200);
    // Periodic: renews to the period, beyond max TTL.
    let mut p = params(&["p"]);
    p.period = 600;
    let pt = s.create(Some(&r), p, T0).await.unwrap();
    assert_eq!(pt.lease_duration, 600);
    let pe = s.lookup(&pt.client_token, T0).await.unwrap().unwrap();
    let renewed = s.renew(&pe, 0, T0 + 10_000).await.unwrap();
    assert_eq!(renewed.ttl_at(T0 + 10_000), 600);
    // Periods need a root parent.
    let child = s.lookup(&a.client_token, T0).await.unwrap().unwrap();
    let mut p = params(&["p"]);
    p.period = 60;
    assert!(s.create(Some(&child), p, T0).await.is_err());
}

#[tokio::test]
async fn expiry_and_num_uses() {
    let s = TokenStore::new(PlainStore::view(), 60, 0);
    let r = root(&s).await;
    let a = s.create(Some(&r), params(&["p"]), T0).await.unwrap();
    assert!(s.lookup(&a.client_token, T0 + 59).await.unwrap().is_some());
    assert!(s.lookup(&a.client_token, T0 + 60).await.unwrap().is_none());
    assert!(
        s.lookup_accessor(&a.accessor, T0).await.unwrap().is_none(),
        "revoked"
    );
    let mut p = params(&["p"]);
    p.num_uses = 2;
    let u = s.create(Some(&r), p, T0).await.unwrap();
    for _ in 0..2 {
        let e = s.lookup(&u.client_token, T0).await.unwrap().unwrap();
        s.use_once(&e).await.unwrap();
    }
    assert!(s.lookup(&u.client_token, T0).await.unwrap().is_none());
    // A parent spent or revoked after lookup cannot create children.
    let mut p = params(&["p"]);
    p.num_uses = 1;
    let once = s.create(Some(&r), p, T0).await.unwrap();
    let oe = s.lookup(&once.client_token, T0).await.unwrap().unwrap();
    s.use_once(&oe).await.unwrap();
    let err = s.create(Some(&oe), params(&["p"]), T0).await.unwrap_err();
    assert_eq!(err.status(), 403);
    assert!(s.lookup("hvs.nonsense", T0).await.unwrap().is_none());
    assert!(s.lookup("", T0).await.unwrap().is_none());
}

#[tokio::test]
async fn revocation_follows_the_tree() {
    let s = store();
    let r = root(&s).await;
    let parent = s.create(Some(&r), params(&["p"]), T0).await.unwrap();
    let pe = s.lookup(&parent.client_token, T0).await.unwrap().unwrap();
    let child = s.create(Some(&pe), params(&["p"]), T0).await.unwrap();
    let ce = s.lookup(&child.client_token, T0).await.unwrap().unwrap();
    let grandchild = s.create(Some(&ce), params(&["p"]), T0).await.unwrap();
    let mut op = params(&["p"]);
    op.no_parent = true;
    let orphan = s.create(Some(&r), op, T0).await.unwrap();
    assert!(orphan.orphan);
    let by_acc = s
        .lookup_accessor(&child.accessor, T0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_acc.parent, parent.accessor);
    s.revoke_tree(&parent.accessor).await.unwrap();
    for t in [&parent, &child, &grandchild] {
        assert!(s.lookup(&t.client_token, T0).await.unwrap().is_none());
    }
    assert!(s.lookup(&orphan.client_token, T0).await.unwrap().is_some());
    assert!(s.lookup(&r_token(&s).await, T0).await.unwrap().is_some());
    // revoke-orphan keeps the children.
    let p2 = s.create(Some(&r), params(&["p"]), T0).await.unwrap();
    let p2e = s.lookup(&p2.client_token, T0).await.unwrap().unwrap();
    let c2 = s.create(Some(&p2e), params(&["p"]), T0).await.unwrap();
    s.revoke_orphan(&p2.accessor).await.unwrap();
    assert!(s.lookup(&p2.client_token, T0).await.unwrap().is_none());
    let c2e = s.lookup(&c2.client_token, T0).await.unwrap().unwrap();
    assert!(c2e.orphan && c2e.parent.is_empty());
}

async fn r_token(s: &TokenStore) -> String {
    s.create_root(T0).await.unwrap()
}

#[test]
fn base62_is_base62() {
    let t = random_base62(64).unwrap();
    assert_eq!(t.len(), 64);
    assert!(t.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_ne!(t, random_base62(64).unwrap());
}

#[test]
fn a_lookup_that_read_before_a_write_cannot_cache_a_stale_entry() {
    let c = EntryCache::default();
    let before = c.generation();
    c.invalidate();
    c.insert(before, "h", Arc::new(TokenEntry::default()));
    assert!(c.get("h").is_none(), "stale entry cached");
    let now = c.generation();
    c.insert(now, "h", Arc::new(TokenEntry::default()));
    assert!(c.get("h").is_some());
    c.invalidate();
    assert!(c.get("h").is_none());
}

#[tokio::test]
async fn cached_lookups_see_renewals_uses_and_revocations() {
    let s = store();
    let r = root(&s).await;
    let mut p = params(&["p"]);
    p.num_uses = 3;
    let t = s.create(Some(&r), p, T0).await.unwrap();
    let first = s.lookup(&t.client_token, T0).await.unwrap().unwrap();
    // Served from the cache now; a use must show in the next lookup.
    s.use_once(&first).await.unwrap();
    let second = s.lookup(&t.client_token, T0).await.unwrap().unwrap();
    assert_eq!(second.num_uses, first.num_uses - 1);
    s.revoke_tree(&t.accessor).await.unwrap();
    assert!(s.lookup(&t.client_token, T0).await.unwrap().is_none());
}
