//! The Telegram Stars rail's store guarantees (docs/stars.md), on memory, SQLite, Postgres
//! and DynamoDB (moto): a charge, delivered 32 times at once, is recorded and granted
//! once; a crypto payment and a Stars charge of one buyer fold into one expiry in
//! either order; a Stars record keeps its charge id for a refund.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use telepay_core::access::{Granted, grant_time};
use telepay_core::fixtures::sample_record;
use telepay_core::order::{ChannelId, UserId};
use telepay_core::payment::ProcessedPayment;
use telepay_core::stars::{StarsCharge, StarsOrder};
use telepay_core::store::Recorded;
use telepay_core::store::memory::MemoryStore;
use telepay_core::store::ports::*;
use telepay_core::subscription::{GrantSource, LifecycleSettings, SubscriptionKey, TimeGrant};
use telepay_integration_tests::FreshStore;
use telepay_shared::dynamodb::DynamoDbStore;
use telepay_shared::sql::{PostgresStore, SqliteStore};

trait Backend: PaymentStore + FreshStore {}

impl<S: PaymentStore + FreshStore> Backend for S {}

const BUYER: i64 = 6271402111;
const CHANNEL: i64 = -1003111266231;
const PRIVATE: i64 = -1003111266231;
const DAYS_30: u64 = 2_592_000;

fn paid_at() -> DateTime<Utc> {
    "2026-12-05T10:00:00Z".parse().unwrap()
}

fn charge(id: &str, paid_at: DateTime<Utc>) -> StarsCharge {
    StarsCharge {
        charge_id: id.into(),
        order: StarsOrder {
            user_id: UserId::new(BUYER).unwrap(),
            channel_id: ChannelId::new(CHANNEL).unwrap(),
            tier_seconds: DAYS_30,
            catalog_version: 1,
            stars: 250,
            recurring: true,
        },
        stars_paid: 250,
        paid_at,
    }
}

fn key() -> SubscriptionKey {
    SubscriptionKey::new(UserId::new(BUYER).unwrap(), PRIVATE)
}

/// What the processor does with an accepted record: its time, once by its payment id.
async fn grant<S: PaymentStore>(store: &S, record: &ProcessedPayment) -> Granted {
    let access = record.purchase.as_ref().unwrap().access().unwrap();
    let grant = TimeGrant::new(
        GrantSource::Payment(record.payment_id.get()),
        record.created_at,
        access,
    );
    grant_time(
        store,
        key(),
        &grant,
        record.created_at,
        &LifecycleSettings::default(),
    )
    .await
    .unwrap()
}

async fn expiry<S: PaymentStore>(store: &S) -> DateTime<Utc> {
    store
        .get_subscription(key())
        .await
        .unwrap()
        .unwrap()
        .expires_at
}

mod cases {
    use super::*;

    pub async fn one_charge_is_recorded_and_granted_once_under_32_concurrent_deliveries<
        B: Backend,
    >() {
        let store = Arc::new(B::fresh().await);
        let deliveries: Vec<_> = (0..32)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    let record = charge("stxConcurrent", paid_at()).record(PRIVATE).unwrap();
                    let recorded = store.record_accepted(&record).await.unwrap();
                    let granted = grant(&*store, &record).await;
                    (matches!(recorded, Recorded::New), granted)
                })
            })
            .collect();
        let (mut new, mut granted_now) = (0, 0);
        for delivery in deliveries {
            let (first, granted) = delivery.await.unwrap();
            new += usize::from(first);
            granted_now += usize::from(matches!(granted, Granted::Now { .. }));
        }
        assert_eq!(new, 1, "one record");
        assert_eq!(granted_now, 1, "one grant");
        assert_eq!(
            expiry(&*store).await,
            paid_at() + TimeDelta::seconds(DAYS_30 as i64),
            "30 days, not 32 x 30"
        );
    }

    pub async fn a_crypto_month_and_a_stars_month_fold_into_one_expiry_in_either_order<
        B: Backend,
    >() {
        // A month in crypto, and a day later a month in Stars.
        let mut crypto = sample_record(4_492_847_470);
        (crypto.created_at, crypto.updated_at) = (paid_at(), paid_at());
        let stars = charge("stxFold", paid_at() + TimeDelta::days(1))
            .record(PRIVATE)
            .unwrap();
        let mut expiries = Vec::new();
        for order in [[&crypto, &stars], [&stars, &crypto]] {
            let store = B::fresh().await;
            for record in order {
                store.record_accepted(record).await.unwrap();
                assert!(matches!(grant(&store, record).await, Granted::Now { .. }));
            }
            expiries.push(expiry(&store).await);
        }
        assert_eq!(
            expiries[0], expiries[1],
            "the order of the rails changes nothing"
        );
        // Both months count: the second runs on from the first one's end.
        assert_eq!(expiries[0], paid_at() + TimeDelta::days(60));
    }

    pub async fn a_stars_record_keeps_its_charge_id_for_a_refund<B: Backend>() {
        let store = B::fresh().await;
        let record = charge("stxKept-42", paid_at()).record(PRIVATE).unwrap();
        store.record_accepted(&record).await.unwrap();
        let stored = store.get_payment(record.payment_id).await.unwrap().unwrap();
        let purchase = stored.purchase.unwrap();
        assert_eq!(purchase.star_charge_id.as_deref(), Some("stxKept-42"));
        assert_eq!(
            (purchase.price_amount, purchase.price_currency.as_str()),
            (250.0, "xtr")
        );
        assert_eq!(purchase.outcome_amount, None);
        // A NOWPayments payment has none.
        let crypto = sample_record(4_492_847_470);
        store.record_accepted(&crypto).await.unwrap();
        let stored = store.get_payment(crypto.payment_id).await.unwrap().unwrap();
        assert_eq!(stored.purchase.unwrap().star_charge_id, None);
    }
}

macro_rules! stars_suite {
    ($($backend:ident: $store:ty),* $(,)?) => {$(
        mod $backend {
            use super::*;
            type Store = $store;
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn one_charge_is_recorded_and_granted_once_under_32_concurrent_deliveries() { cases::one_charge_is_recorded_and_granted_once_under_32_concurrent_deliveries::<Store>().await }
            #[tokio::test] async fn a_crypto_month_and_a_stars_month_fold_into_one_expiry_in_either_order() { cases::a_crypto_month_and_a_stars_month_fold_into_one_expiry_in_either_order::<Store>().await }
            #[tokio::test] async fn a_stars_record_keeps_its_charge_id_for_a_refund() { cases::a_stars_record_keeps_its_charge_id_for_a_refund::<Store>().await }
        }
    )*};
}

stars_suite! {
    memory: MemoryStore,
    sqlite: SqliteStore,
    postgres: PostgresStore,
    dynamodb: DynamoDbStore,
}
