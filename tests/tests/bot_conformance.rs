//! The bot store's conformance suite: the same cases on memory, SQLite, Postgres and
//! DynamoDB (moto). Each piece of bot work (an update, an invoice window, a purchase
//! note) is decided by one conditional write: one claimant among many, a done record
//! never runs again, a crashed holder's lapsed lease is taken over, a stale holder's
//! finish changes nothing, and a record past its keep time is forgotten.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use telepay_core::store::memory::MemoryStore;
use telepay_core::store::{BotStore, Fenced, OnceClaim, OnceFound, OnceKey};
use telepay_integration_tests::FreshStore;
use telepay_shared::dynamodb::DynamoDbStore;
use telepay_shared::sql::{PostgresStore, SqliteStore};

/// A backend under test: a fresh store of it, and the port.
trait Backend: BotStore + FreshStore {}

impl<S: BotStore + FreshStore> Backend for S {}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-01T12:00:00.000Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn claim(token: &str, now: DateTime<Utc>) -> OnceClaim {
    OnceClaim {
        token: token.into(),
        lease_until: now + TimeDelta::seconds(60),
        keep_until: now + TimeDelta::hours(48),
        now,
    }
}

const UPDATE: OnceKey = OnceKey::Update(424242);

mod cases {
    use super::*;

    pub async fn one_of_sixteen_racing_claims_wins_and_the_rest_see_its_lease<B: Backend>() {
        let store = Arc::new(B::fresh().await);
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .claim_once(UPDATE, &claim(&format!("worker-{i}"), t0()))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut claimed = 0;
        for task in tasks {
            match task.await.unwrap() {
                OnceFound::Claimed => claimed += 1,
                OnceFound::Leased { .. } => {}
                other => panic!("a racing claim found {other:?}"),
            }
        }
        assert_eq!(claimed, 1, "exactly one worker holds the update");
    }

    pub async fn a_done_record_is_never_claimed_again_and_keeps_its_result<B: Backend>() {
        let store = B::fresh().await;
        let key = OnceKey::Invoice {
            user_id: 7,
            channel_id: -1003111266231,
            catalog_version: 3,
            tier: 1,
            window: 2_940_000,
        };
        assert_eq!(
            store.claim_once(key, &claim("a", t0())).await.unwrap(),
            OnceFound::Claimed
        );
        assert_eq!(
            store
                .finish_once(key, "a", Some(r#"{"id":"1","invoice_url":"u"}"#), t0())
                .await
                .unwrap(),
            Fenced::Done
        );
        // Even after the lease would have lapsed, a done record stays done.
        let later = t0() + TimeDelta::minutes(5);
        assert_eq!(
            store.claim_once(key, &claim("b", later)).await.unwrap(),
            OnceFound::Done {
                result: Some(r#"{"id":"1","invoice_url":"u"}"#.into())
            }
        );
        assert_eq!(
            store
                .finish_once(key, "a", Some("other"), later)
                .await
                .unwrap(),
            Fenced::LeaseLost,
            "a second finish changes nothing"
        );
        let record = store.read_once(key).await.unwrap().unwrap();
        assert!(record.done);
        assert_eq!(
            record.result.as_deref(),
            Some(r#"{"id":"1","invoice_url":"u"}"#)
        );
    }

    pub async fn a_crashed_holders_lapsed_lease_is_taken_over_and_its_finish_is_refused<
        B: Backend,
    >() {
        let store = B::fresh().await;
        assert_eq!(
            store
                .claim_once(UPDATE, &claim("crashed", t0()))
                .await
                .unwrap(),
            OnceFound::Claimed
        );
        let during = t0() + TimeDelta::seconds(30);
        assert!(matches!(
            store
                .claim_once(UPDATE, &claim("early", during))
                .await
                .unwrap(),
            OnceFound::Leased { .. }
        ));
        let after = t0() + TimeDelta::seconds(61);
        assert_eq!(
            store
                .claim_once(UPDATE, &claim("next", after))
                .await
                .unwrap(),
            OnceFound::Claimed
        );
        assert_eq!(
            store
                .finish_once(UPDATE, "crashed", None, after)
                .await
                .unwrap(),
            Fenced::LeaseLost,
            "the stale holder is fenced off"
        );
        assert_eq!(
            store
                .finish_once(UPDATE, "next", None, after)
                .await
                .unwrap(),
            Fenced::Done
        );
        assert_eq!(
            store
                .claim_once(UPDATE, &claim("late", after))
                .await
                .unwrap(),
            OnceFound::Done { result: None }
        );
    }

    pub async fn a_released_record_is_claimable_at_once_and_only_by_its_holder<B: Backend>() {
        let store = B::fresh().await;
        assert_eq!(
            store.claim_once(UPDATE, &claim("a", t0())).await.unwrap(),
            OnceFound::Claimed
        );
        assert_eq!(
            store.release_once(UPDATE, "not-a").await.unwrap(),
            Fenced::LeaseLost
        );
        assert!(matches!(
            store.claim_once(UPDATE, &claim("b", t0())).await.unwrap(),
            OnceFound::Leased { .. }
        ));
        assert_eq!(store.release_once(UPDATE, "a").await.unwrap(), Fenced::Done);
        assert_eq!(
            store.claim_once(UPDATE, &claim("b", t0())).await.unwrap(),
            OnceFound::Claimed
        );
    }

    pub async fn a_record_past_its_keep_time_is_forgotten<B: Backend>() {
        let store = B::fresh().await;
        assert_eq!(
            store.claim_once(UPDATE, &claim("a", t0())).await.unwrap(),
            OnceFound::Claimed
        );
        assert_eq!(
            store.finish_once(UPDATE, "a", None, t0()).await.unwrap(),
            Fenced::Done
        );
        let two_days_on = t0() + TimeDelta::hours(48);
        assert_eq!(
            store
                .claim_once(UPDATE, &claim("b", two_days_on))
                .await
                .unwrap(),
            OnceFound::Claimed
        );
        let record = store.read_once(UPDATE).await.unwrap().unwrap();
        assert!(!record.done, "the claim starts a fresh record");
    }

    pub async fn forgetting_deletes_only_records_past_their_keep_time<B: Backend>() {
        let store = B::fresh().await;
        let kept = OnceKey::Update(1);
        let old = OnceKey::Update(2);
        let keep_for = |hours: i64| OnceClaim {
            keep_until: t0() + TimeDelta::hours(hours),
            ..claim("a", t0())
        };
        assert_eq!(
            store.claim_once(kept, &keep_for(48)).await.unwrap(),
            OnceFound::Claimed
        );
        assert_eq!(
            store.claim_once(old, &keep_for(1)).await.unwrap(),
            OnceFound::Claimed
        );
        let forgotten = store
            .forget_expired(t0() + TimeDelta::hours(2), 100)
            .await
            .unwrap();
        if forgotten == 0 {
            // DynamoDB: its TTL deletes them; a claim treats them as absent meanwhile.
            assert!(store.read_once(old).await.unwrap().is_some());
        } else {
            assert_eq!(forgotten, 1);
            assert_eq!(store.read_once(old).await.unwrap(), None);
        }
        assert!(
            store.read_once(kept).await.unwrap().is_some(),
            "a kept record stays"
        );
    }

    pub async fn keys_of_different_kinds_never_collide<B: Backend>() {
        let store = B::fresh().await;
        let keys = [
            OnceKey::Update(5),
            OnceKey::Invoice {
                user_id: 5,
                channel_id: -5,
                catalog_version: 0,
                tier: 0,
                window: 5,
            },
            // The same tier index of another catalog version is another tier.
            OnceKey::Invoice {
                user_id: 5,
                channel_id: -5,
                catalog_version: 5,
                tier: 0,
                window: 5,
            },
            OnceKey::Reinvite {
                user_id: 5,
                channel_id: -5,
                window: 5,
            },
            OnceKey::PurchaseStarted {
                user_id: 5,
                channel_id: -5,
                hour: 5,
            },
        ];
        for key in keys {
            assert_eq!(
                store.claim_once(key, &claim("a", t0())).await.unwrap(),
                OnceFound::Claimed,
                "{key:?}"
            );
        }
        assert_eq!(store.read_once(OnceKey::Update(6)).await.unwrap(), None);
    }
}

macro_rules! bot_suite {
    ($($backend:ident: $store:ty),* $(,)?) => {$(
        mod $backend {
            use super::*;
            type Store = $store;
            #[tokio::test] async fn one_of_sixteen_racing_claims_wins_and_the_rest_see_its_lease() { cases::one_of_sixteen_racing_claims_wins_and_the_rest_see_its_lease::<Store>().await }
            #[tokio::test] async fn a_done_record_is_never_claimed_again_and_keeps_its_result() { cases::a_done_record_is_never_claimed_again_and_keeps_its_result::<Store>().await }
            #[tokio::test] async fn a_crashed_holders_lapsed_lease_is_taken_over_and_its_finish_is_refused() { cases::a_crashed_holders_lapsed_lease_is_taken_over_and_its_finish_is_refused::<Store>().await }
            #[tokio::test] async fn a_released_record_is_claimable_at_once_and_only_by_its_holder() { cases::a_released_record_is_claimable_at_once_and_only_by_its_holder::<Store>().await }
            #[tokio::test] async fn a_record_past_its_keep_time_is_forgotten() { cases::a_record_past_its_keep_time_is_forgotten::<Store>().await }
            #[tokio::test] async fn forgetting_deletes_only_records_past_their_keep_time() { cases::forgetting_deletes_only_records_past_their_keep_time::<Store>().await }
            #[tokio::test] async fn keys_of_different_kinds_never_collide() { cases::keys_of_different_kinds_never_collide::<Store>().await }
        }
    )*};
}

bot_suite! {
    memory: MemoryStore,
    sqlite: SqliteStore,
    postgres: PostgresStore,
    dynamodb: DynamoDbStore,
}
