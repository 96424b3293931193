//! The update offset's conformance suite (`telepay serve` polling Telegram): the same
//! cases on memory, SQLite, Postgres and DynamoDB (moto). The offset moves only forward
//! and only from the value read: two pollers never both advance from one value, and no
//! advance ever moves it back.

use std::sync::Arc;

use telepay_core::store::memory::MemoryStore;
use telepay_core::store::{OffsetAdvance, UpdateOffsetStore};
use telepay_integration_tests::FreshStore;
use telepay_shared::dynamodb::DynamoDbStore;
use telepay_shared::sql::{PostgresStore, SqliteStore};

trait Backend: UpdateOffsetStore + FreshStore {}

impl<S: UpdateOffsetStore + FreshStore> Backend for S {}

mod cases {
    use super::*;

    pub async fn a_new_store_has_none_and_the_first_advance_is_kept<B: Backend>() {
        let store = B::fresh().await;
        assert_eq!(store.update_offset().await.unwrap(), None);
        assert_eq!(
            store
                .advance_update_offset(None, 700_000_005)
                .await
                .unwrap(),
            OffsetAdvance::Advanced
        );
        assert_eq!(store.update_offset().await.unwrap(), Some(700_000_005));
        // A poller that still thinks there is none is refused, and changes nothing.
        assert_eq!(
            store
                .advance_update_offset(None, 700_000_009)
                .await
                .unwrap(),
            OffsetAdvance::Moved
        );
        assert_eq!(store.update_offset().await.unwrap(), Some(700_000_005));
    }

    pub async fn it_moves_only_forward_and_only_from_the_value_read<B: Backend>() {
        let store = B::fresh().await;
        store.advance_update_offset(None, 100).await.unwrap();
        assert_eq!(
            store.advance_update_offset(Some(100), 90).await.unwrap(),
            OffsetAdvance::Moved,
            "never back"
        );
        assert_eq!(
            store.advance_update_offset(Some(100), 100).await.unwrap(),
            OffsetAdvance::Moved,
            "never in place"
        );
        assert_eq!(
            store.advance_update_offset(Some(99), 120).await.unwrap(),
            OffsetAdvance::Moved,
            "not from a value it no longer holds"
        );
        assert_eq!(
            store.advance_update_offset(Some(100), 120).await.unwrap(),
            OffsetAdvance::Advanced
        );
        assert_eq!(store.update_offset().await.unwrap(), Some(120));
    }

    /// 32 pollers that read the same offset advance at once, each to its own further
    /// value: exactly one is written, and it is the one the store holds.
    pub async fn one_of_thirty_two_racing_advances_wins<B: Backend>() {
        let store = Arc::new(B::fresh().await);
        store.advance_update_offset(None, 1_000).await.unwrap();
        let racers: Vec<_> = (1..=32)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let next = 1_000 + i;
                    (
                        next,
                        store
                            .advance_update_offset(Some(1_000), next)
                            .await
                            .unwrap(),
                    )
                })
            })
            .collect();
        let mut winners = Vec::new();
        for racer in racers {
            let (next, advance) = racer.await.unwrap();
            if advance == OffsetAdvance::Advanced {
                winners.push(next);
            }
        }
        assert_eq!(winners.len(), 1, "{winners:?}");
        assert_eq!(store.update_offset().await.unwrap(), Some(winners[0]));
    }

    /// Two first pollers at once (a fresh store): one insert wins.
    pub async fn of_two_first_advances_one_is_kept<B: Backend>() {
        let store = Arc::new(B::fresh().await);
        let (a, b) = tokio::join!(
            store.advance_update_offset(None, 10),
            store.advance_update_offset(None, 20)
        );
        let advanced = [a.unwrap(), b.unwrap()]
            .iter()
            .filter(|a| **a == OffsetAdvance::Advanced)
            .count();
        assert_eq!(advanced, 1);
        let held = store.update_offset().await.unwrap().unwrap();
        assert!(held == 10 || held == 20);
    }
}

macro_rules! offset_suite {
    ($($backend:ident: $store:ty),* $(,)?) => {$(
        mod $backend {
            use super::*;
            type Store = $store;
            #[tokio::test] async fn a_new_store_has_none_and_the_first_advance_is_kept() { cases::a_new_store_has_none_and_the_first_advance_is_kept::<Store>().await }
            #[tokio::test] async fn it_moves_only_forward_and_only_from_the_value_read() { cases::it_moves_only_forward_and_only_from_the_value_read::<Store>().await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn one_of_thirty_two_racing_advances_wins() { cases::one_of_thirty_two_racing_advances_wins::<Store>().await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn of_two_first_advances_one_is_kept() { cases::of_two_first_advances_one_is_kept::<Store>().await }
        }
    )*};
}

offset_suite! {
    memory: MemoryStore,
    sqlite: SqliteStore,
    postgres: PostgresStore,
    dynamodb: DynamoDbStore,
}
