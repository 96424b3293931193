//! The ledger's writes on the in-memory store: a grant counts once however many run at
//! once, and a write over a stale version never lands.

use super::ledger::{Granted, grant_time};
use crate::store::SubscriptionStore;
use crate::store::memory::MemoryStore;
use crate::subscription::Subscription;
use crate::subscription::tests::{days, key, paid, settings, t0};

#[tokio::test]
async fn concurrent_grants_of_one_payment_count_once() {
    let store = std::sync::Arc::new(MemoryStore::new());
    let s = settings();
    let grant = paid(42, t0(), 30);
    let runs = (0..32).map(|_| {
        let (store, grant, s) = (store.clone(), grant.clone(), s.clone());
        tokio::spawn(async move { grant_time(&*store, key(), &grant, t0(), &s).await.unwrap() })
    });
    let mut counted = 0;
    for run in runs {
        if matches!(run.await.unwrap(), Granted::Now { .. }) {
            counted += 1;
        }
    }
    assert_eq!(counted, 1);
    let stored = store.get_subscription(key()).await.unwrap().unwrap();
    assert_eq!(stored.grants.len(), 1);
    assert_eq!(stored.expires_at, t0() + days(30));
}

#[tokio::test]
async fn a_stale_version_is_never_written() {
    let store = MemoryStore::new();
    let s = settings();
    grant_time(&store, key(), &paid(1, t0(), 30), t0(), &s)
        .await
        .unwrap();
    let stored = store.get_subscription(key()).await.unwrap().unwrap();
    let mine = stored.grant(paid(2, t0(), 30), t0(), &s).unwrap();
    let theirs = stored.grant(paid(3, t0(), 30), t0(), &s).unwrap();
    assert_eq!(
        store.write_subscription(&theirs).await.unwrap(),
        crate::store::Versioned::Written
    );
    assert_eq!(
        store.write_subscription(&mine).await.unwrap(),
        crate::store::Versioned::Conflict
    );
    let again = Subscription::first(key(), paid(9, t0(), 1), t0(), &s);
    assert_eq!(
        store.write_subscription(&again).await.unwrap(),
        crate::store::Versioned::Conflict,
        "a first version never overwrites a stored record"
    );
}
