//! The rate budgets' conformance suite (the bot's replies per user, new invoices for
//! everyone): the same cases on memory, SQLite, Postgres and DynamoDB (moto). A budget
//! counts at most its limit in a window, whatever the concurrency, starts again in the
//! next window, and one key's spending never touches another's.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use telepay_core::store::memory::MemoryStore;
use telepay_core::store::{BudgetKey, BudgetSpend, BudgetWindow, RateBudgetStore};
use telepay_integration_tests::FreshStore;
use telepay_shared::dynamodb::DynamoDbStore;
use telepay_shared::sql::{PostgresStore, SqliteStore};

trait Backend: RateBudgetStore + FreshStore {}

impl<S: RateBudgetStore + FreshStore> Backend for S {}

fn window(start: DateTime<Utc>) -> BudgetWindow {
    BudgetWindow {
        start,
        keep_until: start + TimeDelta::hours(1),
    }
}

fn ten_o_clock() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 5, 10, 0, 0).unwrap()
}

fn user(n: i64) -> BudgetKey {
    BudgetKey::Replies {
        user_id: 7_000_000_000 + n,
    }
}

mod cases {
    use super::*;

    pub async fn it_counts_up_to_the_limit_then_refuses<B: Backend>() {
        let store = B::fresh().await;
        let (key, now) = (user(1), window(ten_o_clock()));
        for used in 1..=3 {
            assert_eq!(
                store.spend_budget(key, now, 3).await.unwrap(),
                BudgetSpend::Spent { used }
            );
        }
        for _ in 0..3 {
            assert_eq!(
                store.spend_budget(key, now, 3).await.unwrap(),
                BudgetSpend::Exhausted,
                "beyond the limit nothing is counted"
            );
        }
    }

    pub async fn a_new_window_starts_from_zero_and_an_older_one_never_resets_it<B: Backend>() {
        let store = B::fresh().await;
        let key = user(1);
        let (first, second) = (
            window(ten_o_clock()),
            window(ten_o_clock() + TimeDelta::minutes(10)),
        );
        for _ in 0..2 {
            store.spend_budget(key, first, 2).await.unwrap();
        }
        assert_eq!(
            store.spend_budget(key, first, 2).await.unwrap(),
            BudgetSpend::Exhausted
        );
        assert_eq!(
            store.spend_budget(key, second, 2).await.unwrap(),
            BudgetSpend::Spent { used: 1 }
        );
        assert_eq!(
            store.spend_budget(key, second, 2).await.unwrap(),
            BudgetSpend::Spent { used: 2 }
        );
        // A worker whose clock is behind spends in the older window, which is spent: it
        // never gives the current one its budget back.
        assert_eq!(
            store.spend_budget(key, first, 2).await.unwrap(),
            BudgetSpend::Exhausted
        );
        assert_eq!(
            store.spend_budget(key, second, 2).await.unwrap(),
            BudgetSpend::Exhausted
        );
    }

    pub async fn one_budget_spent_leaves_the_others_whole<B: Backend>() {
        let store = B::fresh().await;
        let now = window(ten_o_clock());
        let (spammer, buyer) = (user(1), user(2));
        for _ in 0..4 {
            store.spend_budget(spammer, now, 1).await.unwrap();
        }
        assert_eq!(
            store.spend_budget(buyer, now, 1).await.unwrap(),
            BudgetSpend::Spent { used: 1 }
        );
        // The global invoice budget is its own key.
        assert_eq!(
            store
                .spend_budget(BudgetKey::Invoices, now, 5)
                .await
                .unwrap(),
            BudgetSpend::Spent { used: 1 }
        );
    }

    /// 32 replies to one user at once against a limit of 10: exactly 10 are counted,
    /// each with its own place in the window.
    pub async fn of_thirty_two_racing_spends_exactly_the_limit_count<B: Backend>() {
        let store = Arc::new(B::fresh().await);
        let (key, now) = (user(1), window(ten_o_clock()));
        let racers: Vec<_> = (0..32)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.spend_budget(key, now, 10).await.unwrap() })
            })
            .collect();
        let mut places = Vec::new();
        for racer in racers {
            if let BudgetSpend::Spent { used } = racer.await.unwrap() {
                places.push(used);
            }
        }
        places.sort();
        assert_eq!(places, (1..=10).collect::<Vec<_>>());
        assert_eq!(
            store.spend_budget(key, now, 10).await.unwrap(),
            BudgetSpend::Exhausted
        );
    }
}

macro_rules! budget_suite {
    ($($backend:ident: $store:ty),* $(,)?) => {$(
        mod $backend {
            use super::*;
            type Store = $store;
            #[tokio::test] async fn it_counts_up_to_the_limit_then_refuses() { cases::it_counts_up_to_the_limit_then_refuses::<Store>().await }
            #[tokio::test] async fn a_new_window_starts_from_zero_and_an_older_one_never_resets_it() { cases::a_new_window_starts_from_zero_and_an_older_one_never_resets_it::<Store>().await }
            #[tokio::test] async fn one_budget_spent_leaves_the_others_whole() { cases::one_budget_spent_leaves_the_others_whole::<Store>().await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn of_thirty_two_racing_spends_exactly_the_limit_count() { cases::of_thirty_two_racing_spends_exactly_the_limit_count::<Store>().await }
        }
    )*};
}

budget_suite! {
    memory: MemoryStore,
    sqlite: SqliteStore,
    postgres: PostgresStore,
    dynamodb: DynamoDbStore,
}
