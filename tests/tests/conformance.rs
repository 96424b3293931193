//! One conformance suite for every `PaymentStore` backend: the same cases, written once,
//! run on memory, SQLite, Postgres and DynamoDB (single-threaded moto).
//! Adding a backend = implementing the trait + `Backend` below + one line in the suite.

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use telepay_core::clock::system_clock;
use telepay_core::directory::ChannelDirectory;
use telepay_core::fixtures::{
    SAMPLE_CHANNEL_ID, SAMPLE_DIRECTORY, SAMPLE_IPN, SAMPLE_USER_ID, sample_record,
};
use telepay_core::ipn::PaymentId;
use telepay_core::operator::Operator;
use telepay_core::payment::{
    HoldReason, PaymentReview, ProcessedPayment, RecordState, ReviewDecision,
};
use telepay_core::queue::memory::MemoryQueue;
use telepay_core::store::InviteCompletion;
use telepay_core::store::memory::MemoryStore;
use telepay_core::store::ports::*;
use telepay_core::store::{
    ClaimOutcome, Decided, Fenced, Held, InviteClaim, Listed, NewWatch, NoticeClaim, NoticeFound,
    OpenPurchase, PartAdded, PartsSettled, PartsTally, ProcessedMark, ProcessingStart,
    PurchaseOpened, PurchasePart, Recorded, Reopened, Resolution, Resolved, Settlement, WatchClaim,
    WatchFound, Watched,
};
use telepay_integration_tests::{MotoResources, postgres_store, sqlite_store};
use telepay_shared::dynamodb::DynamoDbStore;
use telepay_shared::sql::{PostgresStore, SqliteStore};

/// A backend under test: a fresh, isolated store, and a way to write rows as the seed
/// did (flags possibly NULL, none of this project's extras).
trait Backend: PaymentStore + Sized + 'static {
    async fn fresh() -> Self;
    async fn insert_seed_row(&self, payment_id: i64, processed: Option<bool>, sent: Option<bool>);
}

impl Backend for MemoryStore {
    async fn fresh() -> Self {
        MemoryStore::new()
    }
    async fn insert_seed_row(&self, payment_id: i64, processed: Option<bool>, sent: Option<bool>) {
        // The memory store has no NULL: a missing flag is false, as every backend reads it.
        let mut row = sample_record(payment_id);
        row.processed = processed.unwrap_or(false);
        row.telegram_invite_sent = sent.unwrap_or(false);
        row.payload_hash = None;
        row.purchase = None;
        row.created_at = long_ago();
        self.put_payment(row);
    }
}

const SEED_INSERT: &str = "INSERT INTO processed_payments \
    (payment_id, user_id, channel_id, gcwebhook1_processed, telegram_invite_sent, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6)";

/// The SQL backends seed the same way: the seed's own INSERT, flags possibly NULL.
macro_rules! sql_backend {
    ($store:ty, $fresh:expr) => {
        impl Backend for $store {
            async fn fresh() -> Self {
                $fresh.await
            }
            async fn insert_seed_row(
                &self,
                payment_id: i64,
                processed: Option<bool>,
                sent: Option<bool>,
            ) {
                sqlx::query(SEED_INSERT)
                    .bind(payment_id)
                    .bind(SAMPLE_USER_ID)
                    .bind(SAMPLE_CHANNEL_ID)
                    .bind(processed)
                    .bind(sent)
                    .bind(long_ago().naive_utc())
                    .execute(self.pool())
                    .await
                    .unwrap();
            }
        }
    };
}

sql_backend!(SqliteStore, sqlite_store(true));
sql_backend!(PostgresStore, postgres_store(true));

impl Backend for DynamoDbStore {
    async fn fresh() -> Self {
        MotoResources::new().await.store()
    }
    async fn insert_seed_row(&self, payment_id: i64, processed: Option<bool>, sent: Option<bool>) {
        use aws_sdk_dynamodb::types::AttributeValue::{Bool, N, S};
        let mut put = self
            .client()
            .put_item()
            .table_name(self.payments_table())
            .item("payment_id", N(payment_id.to_string()))
            .item("user_id", N(SAMPLE_USER_ID.to_string()))
            .item("channel_id", N(SAMPLE_CHANNEL_ID.to_string()))
            .item(
                "created_at",
                S(long_ago().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            );
        if let Some(flag) = processed {
            put = put.item("gcwebhook1_processed", Bool(flag));
        }
        if let Some(flag) = sent {
            put = put.item("telegram_invite_sent", Bool(flag));
        }
        put.send().await.unwrap();
        // Imported items join the pending index through `telepay migrate`.
        self.create_tables_if_missing().await.unwrap();
    }
}

fn long_ago() -> DateTime<Utc> {
    "2025-01-01T00:00:00Z".parse().unwrap()
}

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

fn id(n: i64) -> PaymentId {
    PaymentId::new(n).unwrap()
}

fn claim(payment_id: i64, token: &str, now: DateTime<Utc>, lease: TimeDelta) -> InviteClaim {
    InviteClaim {
        payment_id: id(payment_id),
        lease_token: token.into(),
        lease_until: now + lease,
        now,
    }
}

/// The payment id of a listed row; every row these cases write is readable.
fn listed_id(listed: &Listed) -> i64 {
    match listed {
        Ok(record) => record.payment_id.get(),
        Err(row) => panic!("unexpected unreadable row: {row:?}"),
    }
}

fn listed_ids(listed: &[Listed]) -> Vec<i64> {
    listed.iter().map(listed_id).collect()
}

async fn stored<B: Backend>(store: &B, payment_id: i64) -> ProcessedPayment {
    store
        .get_payment(id(payment_id))
        .await
        .unwrap()
        .expect("the record")
}

mod cases {
    use super::*;

    pub async fn ingress_insert_and_duplicate<B: Backend>() {
        let store = B::fresh().await;
        let mut record = sample_record(1);
        // A surplus the owner is told of is stored with the purchase.
        record.purchase.as_mut().unwrap().overpaid_by = Some(2.5);
        record.purchase.as_mut().unwrap().prorated_from_seconds = Some(90 * 86_400);
        assert_eq!(store.record_accepted(&record).await.unwrap(), Recorded::New);
        assert_eq!(stored(&store, 1).await, record, "stored as written");
        assert_eq!(
            store.record_accepted(&record).await.unwrap(),
            Recorded::Existing(Box::new(record.clone())),
            "a duplicate gets the stored record back"
        );
        assert_eq!(store.get_payment(id(2)).await.unwrap(), None);
    }

    pub async fn payload_conflict_keeps_the_first_record<B: Backend>() {
        let store = B::fresh().await;
        let first = sample_record(1);
        store.record_accepted(&first).await.unwrap();
        let mut second = sample_record(1);
        second.payload_hash = Some("cd".repeat(32));
        second.user_id = telepay_core::order::UserId::new(99).unwrap();
        let Recorded::Existing(existing) = store.record_accepted(&second).await.unwrap() else {
            panic!("the second write must not insert");
        };
        assert_eq!(existing.payload_hash, first.payload_hash);
        assert_eq!(stored(&store, 1).await, first, "nothing overwritten");
    }

    fn held_at(payment_id: i64, received_at: DateTime<Utc>) -> PaymentReview {
        PaymentReview {
            payment_id: id(payment_id),
            // The newest reason: every backend stores it (SQL's CHECK knows it).
            reason: HoldReason::Underpaid,
            ipn: SAMPLE_IPN.into(),
            received_at,
            decision: None,
            decided_at: None,
        }
    }

    fn notice_claim(payment_id: i64, token: &str, now: DateTime<Utc>) -> NoticeClaim {
        NoticeClaim {
            payment_id: id(payment_id),
            token: token.into(),
            lease_until: now + TimeDelta::minutes(1),
            now,
        }
    }

    pub async fn held_notice_is_claimed_by_one_and_told_once<B: Backend>() {
        let store = B::fresh().await;
        let t = now();
        assert_eq!(
            store.claim_notice(&notice_claim(7, "a", t)).await.unwrap(),
            NoticeFound::NotFound,
            "no review, nothing to tell"
        );
        store.hold_for_review(&held_at(7, t)).await.unwrap();
        match store.claim_notice(&notice_claim(7, "a", t)).await.unwrap() {
            NoticeFound::Claimed(review) => assert_eq!(*review, held_at(7, t)),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            store.claim_notice(&notice_claim(7, "b", t)).await.unwrap(),
            NoticeFound::Leased { .. }
        ));
        assert_eq!(
            store
                .finish_notice(id(7), "b", "buyer:sent owner:sent", t)
                .await
                .unwrap(),
            Fenced::LeaseLost,
            "only the holder records it told"
        );
        assert_eq!(
            store
                .finish_notice(id(7), "a", "buyer:sent owner:sent", t)
                .await
                .unwrap(),
            Fenced::Done
        );
        let later = t + TimeDelta::hours(1);
        assert_eq!(
            store
                .claim_notice(&notice_claim(7, "c", later))
                .await
                .unwrap(),
            NoticeFound::Told { at: t },
            "told is final"
        );
        assert_eq!(
            store.release_notice(id(7), "a").await.unwrap(),
            Fenced::LeaseLost
        );
        let state = store.notice_state(id(7)).await.unwrap().unwrap();
        assert_eq!(
            (state.told_at, state.told.as_deref(), state.lease_until),
            (Some(t), Some("buyer:sent owner:sent"), None)
        );
        assert_eq!(store.notice_state(id(8)).await.unwrap(), None);
    }

    pub async fn held_notice_lease_lapses_or_is_released_and_is_taken_over<B: Backend>() {
        let store = B::fresh().await;
        let t = now();
        store.hold_for_review(&held_at(7, t)).await.unwrap();
        assert!(matches!(
            store
                .claim_notice(&notice_claim(7, "crashed", t))
                .await
                .unwrap(),
            NoticeFound::Claimed(_)
        ));
        // The holder crashed: once its lease lapses, another worker takes over, and the
        // crashed one can no longer record anything.
        let after = t + TimeDelta::minutes(2);
        assert!(matches!(
            store
                .claim_notice(&notice_claim(7, "next", after))
                .await
                .unwrap(),
            NoticeFound::Claimed(_)
        ));
        assert_eq!(
            store
                .finish_notice(id(7), "crashed", "buyer:sent owner:none", after)
                .await
                .unwrap(),
            Fenced::LeaseLost
        );
        // A Telegram failure gives the lease back: claimable at once.
        assert_eq!(
            store.release_notice(id(7), "next").await.unwrap(),
            Fenced::Done
        );
        assert!(matches!(
            store
                .claim_notice(&notice_claim(7, "retry", after))
                .await
                .unwrap(),
            NoticeFound::Claimed(_)
        ));
        assert_eq!(store.notice_state(id(7)).await.unwrap().unwrap().told, None);
    }

    fn new_watch(payment_id: i64, seen: DateTime<Utc>, due: DateTime<Utc>) -> NewWatch {
        NewWatch {
            payment_id: id(payment_id),
            user_id: SAMPLE_USER_ID,
            channel_id: SAMPLE_CHANNEL_ID,
            status: "waiting".into(),
            seen_at: seen,
            first_check_at: due,
        }
    }

    fn watch_claim(payment_id: i64, token: &str, now: DateTime<Utc>) -> WatchClaim {
        WatchClaim {
            payment_id: id(payment_id),
            token: token.into(),
            lease_until: now + TimeDelta::minutes(2),
            now,
        }
    }

    pub async fn a_watch_is_written_once_and_checked_by_one_when_due<B: Backend>() {
        let store = B::fresh().await;
        let t = now();
        let due = t + TimeDelta::minutes(20);
        assert_eq!(
            store.claim_watch(&watch_claim(7, "a", due)).await.unwrap(),
            WatchFound::NotFound
        );
        assert_eq!(
            store.watch_payment(&new_watch(7, t, due)).await.unwrap(),
            Watched::New
        );
        let mut later_ipn = new_watch(7, t + TimeDelta::minutes(1), due + TimeDelta::hours(1));
        later_ipn.status = "confirming".into();
        assert_eq!(
            store.watch_payment(&later_ipn).await.unwrap(),
            Watched::Already,
            "a later in-flight IPN changes nothing"
        );
        assert_eq!(
            store.claim_watch(&watch_claim(7, "a", t)).await.unwrap(),
            WatchFound::NotDue { at: due }
        );
        match store.claim_watch(&watch_claim(7, "a", due)).await.unwrap() {
            WatchFound::Claimed(watch) => {
                assert_eq!(
                    (
                        watch.last_status.as_str(),
                        watch.first_seen_at,
                        watch.checks
                    ),
                    ("waiting", t, 0)
                );
                assert_eq!(
                    (watch.user_id, watch.channel_id),
                    (SAMPLE_USER_ID, SAMPLE_CHANNEL_ID)
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            store.claim_watch(&watch_claim(7, "b", due)).await.unwrap(),
            WatchFound::Leased { .. }
        ));
        let next = due + TimeDelta::minutes(20);
        assert_eq!(
            store
                .postpone_watch(id(7), "b", "confirming", next)
                .await
                .unwrap(),
            Fenced::LeaseLost,
            "only the holder records its check"
        );
        assert_eq!(
            store
                .postpone_watch(id(7), "a", "confirming", next)
                .await
                .unwrap(),
            Fenced::Done
        );
        let watch = store.watch_of(id(7)).await.unwrap().unwrap();
        assert_eq!(
            (
                watch.last_status.as_str(),
                watch.checks,
                watch.next_check_at
            ),
            ("confirming", 1, next)
        );
        assert_eq!((watch.settled, watch.lease_until), (None, None));
        assert_eq!(
            store.claim_watch(&watch_claim(7, "c", due)).await.unwrap(),
            WatchFound::NotDue { at: next }
        );
        assert_eq!(store.watch_of(id(8)).await.unwrap(), None);
    }

    pub async fn a_lapsed_check_is_taken_over_and_a_settled_watch_stays_settled<B: Backend>() {
        let store = B::fresh().await;
        let t = now();
        store.watch_payment(&new_watch(7, t, t)).await.unwrap();
        assert!(matches!(
            store
                .claim_watch(&watch_claim(7, "crashed", t))
                .await
                .unwrap(),
            WatchFound::Claimed(_)
        ));
        let after = t + TimeDelta::minutes(3);
        assert!(matches!(
            store
                .claim_watch(&watch_claim(7, "next", after))
                .await
                .unwrap(),
            WatchFound::Claimed(_)
        ));
        assert_eq!(
            store
                .settle_watch(id(7), "crashed", Settlement::Unpaid, "expired", after)
                .await
                .unwrap(),
            Fenced::LeaseLost
        );
        assert_eq!(
            store
                .settle_watch(id(7), "next", Settlement::Recovered, "finished", after)
                .await
                .unwrap(),
            Fenced::Done
        );
        let much_later = after + TimeDelta::days(1);
        assert_eq!(
            store
                .claim_watch(&watch_claim(7, "again", much_later))
                .await
                .unwrap(),
            WatchFound::Settled(Settlement::Recovered)
        );
        assert_eq!(
            store
                .postpone_watch(id(7), "next", "waiting", much_later)
                .await
                .unwrap(),
            Fenced::LeaseLost,
            "settled is final"
        );
        let watch = store.watch_of(id(7)).await.unwrap().unwrap();
        assert_eq!(
            (
                watch.settled,
                watch.settled_at,
                watch.last_status.as_str(),
                watch.checks
            ),
            (Some(Settlement::Recovered), Some(after), "finished", 1)
        );
        assert!(store.due_watches(much_later, 10).await.unwrap().is_empty());
    }

    pub async fn thirty_two_concurrent_watches_and_checks_have_one_winner<B: Backend>() {
        let store = Arc::new(B::fresh().await);
        let t = now();
        let writes: Vec<_> = (0..32)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.watch_payment(&new_watch(9, t, t)).await })
            })
            .collect();
        let mut new = 0;
        for write in writes {
            if write.await.unwrap().expect("the backend answers") == Watched::New {
                new += 1;
            }
        }
        assert_eq!(new, 1, "one watch is written");
        let claims: Vec<_> = (0..32)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .claim_watch(&watch_claim(9, &format!("w{n}"), t))
                        .await
                })
            })
            .collect();
        let mut winners = 0;
        for claim in claims {
            match claim.await.unwrap().expect("the backend answers") {
                WatchFound::Claimed(_) => winners += 1,
                WatchFound::Leased { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(winners, 1, "exactly one pass checks a payment at a time");
    }

    pub async fn due_watches_are_listed_longest_due_first_without_settled_leased_or_later<
        B: Backend,
    >() {
        let store = B::fresh().await;
        let t = now();
        let minutes = |m: i64| t + TimeDelta::minutes(m);
        for (payment, due) in [
            (1, minutes(-5)),
            (2, minutes(-30)),
            (3, minutes(-10)),
            (4, minutes(-20)),
            (5, minutes(10)),
        ] {
            store
                .watch_payment(&new_watch(payment, minutes(-60), due))
                .await
                .unwrap();
        }
        // 3 is being checked; 4 is settled; 5 is not due yet.
        store.claim_watch(&watch_claim(3, "live", t)).await.unwrap();
        store.claim_watch(&watch_claim(4, "done", t)).await.unwrap();
        assert_eq!(
            store
                .settle_watch(id(4), "done", Settlement::Arrived, "finished", t)
                .await
                .unwrap(),
            Fenced::Done
        );
        let due = store.due_watches(t, 10).await.unwrap();
        let ids: Vec<i64> = due.iter().map(|w| w.payment_id.get()).collect();
        assert_eq!(ids, vec![2, 1]);
        let one = store.due_watches(t, 1).await.unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].payment_id, id(2));
    }

    pub async fn a_buyers_payments_under_way_are_listed_newest_first<B: Backend>() {
        let store = B::fresh().await;
        let t = now();
        let minutes = |m: i64| t + TimeDelta::minutes(m);
        for (payment, seen) in [(1, minutes(-30)), (2, minutes(-10)), (3, minutes(-20))] {
            store
                .watch_payment(&new_watch(payment, seen, minutes(10)))
                .await
                .unwrap();
        }
        let mut another_buyer = new_watch(4, minutes(-5), minutes(10));
        another_buyer.user_id = SAMPLE_USER_ID + 1;
        store.watch_payment(&another_buyer).await.unwrap();
        // 3 is settled: no longer under way.
        let later = minutes(11);
        store
            .claim_watch(&watch_claim(3, "w", later))
            .await
            .unwrap();
        assert_eq!(
            store
                .settle_watch(id(3), "w", Settlement::Arrived, "finished", later)
                .await
                .unwrap(),
            Fenced::Done
        );
        let theirs = store.under_way_of(SAMPLE_USER_ID, 10).await.unwrap();
        let ids: Vec<i64> = theirs.iter().map(|w| w.payment_id.get()).collect();
        assert_eq!(ids, vec![2, 1]);
        assert_eq!(
            store.under_way_of(SAMPLE_USER_ID, 1).await.unwrap().len(),
            1
        );
        assert!(store.under_way_of(42, 10).await.unwrap().is_empty());
    }

    fn short_hold(payment_id: i64) -> PaymentReview {
        PaymentReview {
            payment_id: id(payment_id),
            reason: HoldReason::Underpaid,
            ipn: SAMPLE_IPN.replace("4492847470", &payment_id.to_string()),
            received_at: now(),
            decision: None,
            decided_at: None,
        }
    }

    fn open_purchase(purchase_id: i64, user_id: i64, opened_at: DateTime<Utc>) -> OpenPurchase {
        OpenPurchase {
            purchase_id: id(purchase_id),
            user_id,
            channel_id: SAMPLE_CHANNEL_ID,
            price_amount: 10.0,
            price_currency: "usd".into(),
            first_paid: 6.0,
            first_outcome: Some(0.06),
            opened_at,
        }
    }

    fn part(payment_id: i64, paid: f64) -> PurchasePart {
        PurchasePart {
            payment_id: id(payment_id),
            paid,
            outcome: Some(paid / 100.0),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    pub async fn a_purchase_is_opened_once_on_its_hold_and_counts_each_part_once<B: Backend>() {
        let store = B::fresh().await;
        let t = now();
        assert_eq!(
            store
                .open_purchase(&open_purchase(1, SAMPLE_USER_ID, t))
                .await
                .unwrap(),
            PurchaseOpened::NoReview,
            "the hold is written first"
        );
        store.hold_for_review(&short_hold(1)).await.unwrap();
        assert_eq!(
            store
                .open_purchase(&open_purchase(1, SAMPLE_USER_ID, t))
                .await
                .unwrap(),
            PurchaseOpened::New
        );
        assert_eq!(
            store
                .open_purchase(&open_purchase(1, SAMPLE_USER_ID, t))
                .await
                .unwrap(),
            PurchaseOpened::Already
        );
        assert_eq!(
            store.add_part(id(9), &part(2, 1.0)).await.unwrap(),
            PartAdded::NotFound
        );
        // Parts in any order, each redelivered: counted once each.
        for (n, paid) in [(3, 1.5), (2, 1.0), (3, 1.5), (2, 1.0)] {
            store.add_part(id(1), &part(n, paid)).await.unwrap();
        }
        assert!(matches!(
            store.add_part(id(1), &part(2, 1.0)).await.unwrap(),
            PartAdded::Already(_)
        ));
        let tally = store.purchase_of(id(1)).await.unwrap().unwrap();
        assert!(close(tally.paid_total, 8.5), "{tally:?}");
        assert!(close(tally.outcome_total, 0.06 + 0.025), "{tally:?}");
        assert_eq!(tally.parts, vec![id(1), id(2), id(3)]);
        assert_eq!(
            (
                tally.user_id,
                tally.channel_id,
                tally.price_currency.as_str()
            ),
            (SAMPLE_USER_ID, SAMPLE_CHANNEL_ID, "usd")
        );
        assert!(tally.is_open() && close(tally.missing(), 1.5));
        assert_eq!(tally.opened_at, t);
        // The first payment itself is a part already.
        assert!(matches!(
            store.add_part(id(1), &part(1, 6.0)).await.unwrap(),
            PartAdded::Already(_)
        ));
        assert!(store.purchase_of(id(2)).await.unwrap().is_none());
    }

    pub async fn thirty_two_concurrent_parts_add_up_once_and_one_settles<B: Backend>() {
        let store = Arc::new(B::fresh().await);
        store.hold_for_review(&short_hold(1)).await.unwrap();
        store
            .open_purchase(&open_purchase(1, SAMPLE_USER_ID, now()))
            .await
            .unwrap();
        // 16 parts, each delivered twice at once: 32 concurrent adds.
        let adds: Vec<_> = (0..32)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move { store.add_part(id(1), &part(100 + n % 16, 0.25)).await })
            })
            .collect();
        let mut added = 0;
        for add in adds {
            match add.await.unwrap().expect("the backend answers") {
                PartAdded::Added(_) => added += 1,
                PartAdded::Already(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(added, 16, "each part is added once");
        let tally = store.purchase_of(id(1)).await.unwrap().unwrap();
        assert!(close(tally.paid_total, 10.0), "{tally:?}");
        assert_eq!(tally.parts.len(), 17);
        // Every part races to settle it: one wins, the others find who did.
        let settles: Vec<_> = (0..32)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    let by = id(100 + n % 16);
                    (by, store.settle_purchase(id(1), by, now()).await)
                })
            })
            .collect();
        let mut winners = Vec::new();
        let mut told = Vec::new();
        for settle in settles {
            let (by, outcome) = settle.await.unwrap();
            match outcome.expect("the backend answers") {
                PartsSettled::Now => winners.push(by),
                PartsSettled::Already {
                    decision,
                    settled_by,
                } => {
                    assert_eq!(decision, ReviewDecision::ToppedUp);
                    told.push(settled_by.expect("settled by a part"));
                }
                PartsSettled::NotFound => panic!("the purchase is there"),
            }
        }
        assert_eq!(winners.len(), 1, "exactly one part settles the purchase");
        assert!(
            told.iter().all(|by| *by == winners[0]),
            "the others are told who"
        );
        let settled = store.purchase_of(id(1)).await.unwrap().unwrap();
        assert_eq!(settled.settled_by, Some(winners[0]));
        assert_eq!(settled.decision, Some(ReviewDecision::ToppedUp));
        assert_eq!(
            store.get_review(id(1)).await.unwrap().unwrap().decision,
            Some(ReviewDecision::ToppedUp),
            "the hold is decided by the same write"
        );
        assert!(matches!(
            store.add_part(id(1), &part(200, 1.0)).await.unwrap(),
            PartAdded::Settled(_)
        ));
    }

    pub async fn a_top_up_settle_and_an_operator_decision_exclude_each_other<B: Backend>() {
        let store = B::fresh().await;
        for n in [1, 2, 3] {
            store.hold_for_review(&short_hold(n)).await.unwrap();
        }
        store
            .open_purchase(&open_purchase(1, SAMPLE_USER_ID, now()))
            .await
            .unwrap();
        store
            .open_purchase(&open_purchase(2, SAMPLE_USER_ID, now()))
            .await
            .unwrap();
        // An operator first: the parts cannot settle it, nor add to it.
        assert_eq!(
            store
                .decide_review(id(1), ReviewDecision::Approved, now())
                .await
                .unwrap(),
            Decided::Done
        );
        assert_eq!(
            store.settle_purchase(id(1), id(9), now()).await.unwrap(),
            PartsSettled::Already {
                decision: ReviewDecision::Approved,
                settled_by: None
            }
        );
        assert!(matches!(
            store.add_part(id(1), &part(9, 4.0)).await.unwrap(),
            PartAdded::Settled(_)
        ));
        // The parts first: the operator's decision is refused.
        assert_eq!(
            store.settle_purchase(id(2), id(8), now()).await.unwrap(),
            PartsSettled::Now
        );
        assert_eq!(
            store
                .decide_review(id(2), ReviewDecision::Rejected, now())
                .await
                .unwrap(),
            Decided::AlreadyDecided(Some(ReviewDecision::ToppedUp))
        );
        // A short top-up's own hold is settled with its purchase, once.
        assert!(store.settle_part_hold(id(3), now()).await.unwrap());
        assert!(!store.settle_part_hold(id(3), now()).await.unwrap());
        assert!(!store.settle_part_hold(id(77), now()).await.unwrap());
        assert_eq!(
            store.get_review(id(3)).await.unwrap().unwrap().decision,
            Some(ReviewDecision::ToppedUp)
        );
    }

    pub async fn open_purchases_are_listed_per_buyer_and_stale_ones_told_once<B: Backend>() {
        let store = B::fresh().await;
        let t = now();
        let hours = |h: i64| t - TimeDelta::hours(h);
        for (n, buyer, opened) in [
            (1, SAMPLE_USER_ID, hours(30)),
            (2, SAMPLE_USER_ID, hours(2)),
            (3, SAMPLE_USER_ID, hours(50)),
            (4, SAMPLE_USER_ID + 1, hours(40)),
        ] {
            store.hold_for_review(&short_hold(n)).await.unwrap();
            store
                .open_purchase(&open_purchase(n, buyer, opened))
                .await
                .unwrap();
        }
        // 3 is completed: neither open nor stale.
        store.settle_purchase(id(3), id(30), t).await.unwrap();
        let ids = |tallies: Vec<PartsTally>| -> Vec<i64> {
            tallies.iter().map(|p| p.purchase_id.get()).collect()
        };
        assert_eq!(
            ids(store.open_purchases_of(SAMPLE_USER_ID, 10).await.unwrap()),
            vec![2, 1]
        );
        assert_eq!(
            ids(store.open_purchases_of(SAMPLE_USER_ID, 1).await.unwrap()),
            vec![2]
        );
        assert!(store.open_purchases_of(42, 10).await.unwrap().is_empty());
        assert_eq!(
            ids(store.stale_purchases(hours(24), 10).await.unwrap()),
            vec![4, 1]
        );
        assert!(store.mark_owner_told(id(4), t).await.unwrap());
        assert!(!store.mark_owner_told(id(4), t).await.unwrap(), "told once");
        assert!(
            !store.mark_owner_told(id(3), t).await.unwrap(),
            "a completed one is not told"
        );
        assert_eq!(
            ids(store.stale_purchases(hours(24), 10).await.unwrap()),
            vec![1]
        );
        assert_eq!(
            store
                .purchase_of(id(4))
                .await
                .unwrap()
                .unwrap()
                .owner_told_at,
            Some(t)
        );
    }

    /// 32 IPNs of a purchase's top-ups at once, through the ingress decision: 8 parts,
    /// each delivered 4 times, which together bring the rest.
    pub async fn thirty_two_concurrent_top_up_ipns_grant_the_purchase_once<B: Backend>() {
        use telepay_core::webhook::{PaymentIngress, WebhookOutcome};
        let directory = ChannelDirectory::from_json(&format!(
            r#"{{"price_tolerance_percent": 1, "channels": [{{"channel_id": {SAMPLE_CHANNEL_ID},
            "private_channel_id": {SAMPLE_CHANNEL_ID}, "tiers": [{{"price_amount": 10.0,
            "price_currency": "usd", "subscription_days": 30}}]}}]}}"#
        ))
        .unwrap();
        let ingress = Arc::new(PaymentIngress::new(
            directory,
            B::fresh().await,
            MemoryQueue::new(),
        ));
        let month = 30 * 86_400;
        let ipn = |payment: i64, order: String, status: &str, price: f64, share: f64| {
            let mut ipn: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(SAMPLE_IPN).unwrap();
            for (field, value) in [
                ("payment_id", serde_json::json!(payment)),
                ("order_id", serde_json::json!(order)),
                ("payment_status", serde_json::json!(status)),
                ("price_amount", serde_json::json!(price)),
                ("pay_amount", serde_json::json!(1.0)),
                ("actually_paid", serde_json::json!(share)),
            ] {
                ipn.insert(field.into(), value);
            }
            serde_json::to_string(&ipn).unwrap()
        };
        let first = ipn(
            900,
            format!("PGP-{SAMPLE_USER_ID}|{SAMPLE_CHANNEL_ID}|{month}"),
            "partially_paid",
            10.0,
            0.6,
        );
        let parsed = telepay_core::ipn::Ipn::parse(first.as_bytes()).unwrap();
        assert_eq!(
            ingress.admit(&parsed, first.as_bytes()).await.outcome,
            WebhookOutcome::Held
        );
        let deliveries: Vec<_> = (0..32)
            .map(|n| {
                let ingress = ingress.clone();
                let body = ipn(
                    901 + n % 8,
                    format!("PGP-{SAMPLE_USER_ID}|{SAMPLE_CHANNEL_ID}|{month}|900"),
                    "finished",
                    0.5,
                    1.0,
                );
                tokio::spawn(async move {
                    let parsed = telepay_core::ipn::Ipn::parse(body.as_bytes()).unwrap();
                    ingress.admit(&parsed, body.as_bytes()).await.outcome
                })
            })
            .collect();
        for delivery in deliveries {
            let outcome = delivery.await.unwrap();
            assert_ne!(outcome, WebhookOutcome::Unavailable);
        }
        let store = &ingress.store;
        let mut granted = Vec::new();
        for part in 900..=908 {
            if store.get_payment(id(part)).await.unwrap().is_some() {
                granted.push(part);
            }
        }
        assert_eq!(
            granted.len(),
            1,
            "one part's record grants the purchase: {granted:?}"
        );
        let record = store.get_payment(id(granted[0])).await.unwrap().unwrap();
        assert_eq!(record.purchase.as_ref().unwrap().price_amount, 10.0);
        let purchase = store.purchase_of(id(900)).await.unwrap().unwrap();
        assert!(close(purchase.paid_total, 10.0), "{purchase:?}");
        assert_eq!(purchase.parts.len(), 9);
        assert_eq!(purchase.settled_by, Some(id(granted[0])));
        // Every hold of the purchase is settled: none is left for a person.
        for part in 900..=908 {
            if let Some(review) = store.get_review(id(part)).await.unwrap() {
                assert_eq!(review.decision, Some(ReviewDecision::ToppedUp), "{part}");
            }
        }
        let queued = ingress.processor_queue.bodies();
        assert!(
            !queued.is_empty()
                && queued
                    .iter()
                    .all(|body| body.contains(&format!("\"payment_id\":{}", granted[0]))),
            "only the completing part is processed: {queued:?}"
        );
    }

    pub async fn a_recovered_purchase_is_stored_as_recovered<B: Backend>() {
        let store = B::fresh().await;
        let mut recovered = sample_record(5);
        recovered.purchase.as_mut().unwrap().recovered = true;
        assert_eq!(
            store.record_accepted(&recovered).await.unwrap(),
            Recorded::New
        );
        assert_eq!(stored(&store, 5).await, recovered);
        let plain = sample_record(6);
        store.record_accepted(&plain).await.unwrap();
        assert!(!stored(&store, 6).await.purchase.unwrap().recovered);
    }

    pub async fn thirty_two_concurrent_notice_claims_have_one_winner<B: Backend>() {
        let store = Arc::new(B::fresh().await);
        let t = now();
        store.hold_for_review(&held_at(9, t)).await.unwrap();
        let tasks: Vec<_> = (0..32)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .claim_notice(&notice_claim(9, &format!("w{n}"), t))
                        .await
                })
            })
            .collect();
        let mut winners = 0;
        for task in tasks {
            match task.await.unwrap().expect("the backend answers") {
                NoticeFound::Claimed(_) => winners += 1,
                NoticeFound::Leased { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(winners, 1, "exactly one worker tells");
    }

    pub async fn untold_holds_are_listed_oldest_first_without_told_or_decided<B: Backend>() {
        let store = B::fresh().await;
        let t = now();
        for (payment_id, minutes_ago) in [(1, 30), (2, 60), (3, 45), (4, 40), (5, 1)] {
            let at = t - TimeDelta::minutes(minutes_ago);
            store
                .hold_for_review(&held_at(payment_id, at))
                .await
                .unwrap();
        }
        // 3 is told; 4 is decided by an operator; 5 is too recent.
        assert!(matches!(
            store.claim_notice(&notice_claim(3, "x", t)).await.unwrap(),
            NoticeFound::Claimed(_)
        ));
        let told = store.finish_notice(id(3), "x", "buyer:sent owner:sent", t);
        assert_eq!(told.await.unwrap(), Fenced::Done);
        store
            .decide_review(id(4), ReviewDecision::Rejected, t)
            .await
            .unwrap();
        let untold = store
            .untold_holds(t - TimeDelta::minutes(15), 10)
            .await
            .unwrap();
        assert_eq!(untold, vec![id(2), id(1)]);
        let first = store
            .untold_holds(t - TimeDelta::minutes(15), 1)
            .await
            .unwrap();
        assert_eq!(first, vec![id(2)]);
    }

    pub async fn a_buyers_undecided_holds_are_listed_newest_first<B: Backend>() {
        let store = B::fresh().await;
        let t = now();
        let of_buyer = |payment_id: i64, buyer: i64, minutes_ago: i64| PaymentReview {
            ipn: SAMPLE_IPN
                .replace("4492847470", &payment_id.to_string())
                .replace("6271402111", &buyer.to_string()),
            ..held_at(payment_id, t - TimeDelta::minutes(minutes_ago))
        };
        for review in [
            of_buyer(31, SAMPLE_USER_ID, 30),
            of_buyer(32, SAMPLE_USER_ID, 10),
            of_buyer(33, SAMPLE_USER_ID + 1, 5),
            of_buyer(34, SAMPLE_USER_ID, 1),
        ] {
            store.hold_for_review(&review).await.unwrap();
        }
        store
            .decide_review(id(34), ReviewDecision::Approved, t)
            .await
            .unwrap();
        let buyer = telepay_core::order::UserId::new(SAMPLE_USER_ID).unwrap();
        let ids = |reviews: Vec<PaymentReview>| -> Vec<i64> {
            reviews.iter().map(|r| r.payment_id.get()).collect()
        };
        assert_eq!(
            ids(store.undecided_holds_of(buyer, 10).await.unwrap()),
            vec![32, 31]
        );
        assert_eq!(
            ids(store.undecided_holds_of(buyer, 1).await.unwrap()),
            vec![32]
        );
    }

    pub async fn review_entries_are_held_once<B: Backend>() {
        let store = B::fresh().await;
        let review = PaymentReview {
            payment_id: id(5),
            reason: HoldReason::PriceMismatch,
            ipn: r#"{"payment_id":5,"note":"ünïcode / \"quoted\""}"#.into(),
            received_at: now(),
            decision: None,
            decided_at: None,
        };
        assert_eq!(store.hold_for_review(&review).await.unwrap(), Held::New);
        let again = PaymentReview {
            reason: HoldReason::RepeatDeposit,
            ..review.clone()
        };
        assert_eq!(
            store.hold_for_review(&again).await.unwrap(),
            Held::AlreadyHeld
        );
        assert_eq!(
            store.get_review(id(5)).await.unwrap(),
            Some(review),
            "the first is kept"
        );
        assert_eq!(
            store.get_payment(id(5)).await.unwrap(),
            None,
            "never a payment record"
        );
    }

    pub async fn reviews_are_listed_newest_first_and_decided_once<B: Backend>() {
        let store = B::fresh().await;
        let t0 = now();
        for (n, minutes_ago) in [(1, 30), (2, 10), (3, 20)] {
            let review = PaymentReview {
                payment_id: id(n),
                reason: HoldReason::UnknownChannel,
                ipn: format!("{{\"payment_id\":{n}}}"),
                received_at: t0 - TimeDelta::minutes(minutes_ago),
                decision: None,
                decided_at: None,
            };
            store.hold_for_review(&review).await.unwrap();
        }
        let listed: Vec<i64> = store
            .list_reviews(10)
            .await
            .unwrap()
            .iter()
            .map(|r| r.payment_id.get())
            .collect();
        assert_eq!(listed, vec![2, 3, 1]);
        assert_eq!(store.list_reviews(1).await.unwrap().len(), 1);

        assert_eq!(
            store
                .decide_review(id(3), ReviewDecision::Rejected, t0)
                .await
                .unwrap(),
            Decided::Done
        );
        assert_eq!(
            store
                .decide_review(id(3), ReviewDecision::Approved, t0)
                .await
                .unwrap(),
            Decided::AlreadyDecided(Some(ReviewDecision::Rejected)),
            "decisions are final"
        );
        assert_eq!(
            store
                .decide_review(id(9), ReviewDecision::Approved, t0)
                .await
                .unwrap(),
            Decided::NotFound
        );
        let decided = store.get_review(id(3)).await.unwrap().unwrap();
        assert_eq!(
            (decided.decision, decided.decided_at),
            (Some(ReviewDecision::Rejected), Some(t0))
        );
    }

    pub async fn a_reopened_invite_is_due_again_unless_leased<B: Backend>() {
        let store = B::fresh().await;
        assert_eq!(
            store.reopen_invite(id(1), None, now()).await.unwrap(),
            Reopened::NotFound
        );
        store.record_accepted(&sample_record(1)).await.unwrap();
        let first = claim(1, "a", now(), TimeDelta::seconds(30));
        store.claim_invite(&first).await.unwrap();
        assert_eq!(
            store.reopen_invite(id(1), None, now()).await.unwrap(),
            Reopened::Leased,
            "a worker is on it"
        );
        let expiry = now() + TimeDelta::hours(24);
        let _ = store
            .persist_invite_link(&first.lease(), "https://t.me/+old", expiry, now())
            .await
            .unwrap();
        let _ = store
            .fail_invite(&first.lease(), "blocked", now())
            .await
            .unwrap();

        assert_eq!(
            store.reopen_invite(id(1), None, now()).await.unwrap(),
            Reopened::LinkChanged,
            "a link was stored since the caller looked: nothing is cleared unseen"
        );
        assert_eq!(
            stored(&store, 1).await.telegram_invite_link.as_deref(),
            Some("https://t.me/+old")
        );
        assert_eq!(
            store
                .reopen_invite(id(1), Some("https://t.me/+old"), now())
                .await
                .unwrap(),
            Reopened::Done
        );
        let reopened = stored(&store, 1).await;
        assert_eq!(reopened.state, RecordState::Accepted);
        assert!(!reopened.telegram_invite_sent);
        assert_eq!(
            reopened.telegram_invite_link, None,
            "the old link is not reused"
        );
        assert_eq!(reopened.invite_failure_reason, None);
        assert!(matches!(
            store
                .claim_invite(&claim(1, "b", now(), TimeDelta::seconds(30)))
                .await
                .unwrap(),
            ClaimOutcome::Claimed(_)
        ));
    }

    pub async fn processor_mark_once<B: Backend>() {
        let store = B::fresh().await;
        assert_eq!(
            store.mark_processed(id(1), now()).await.unwrap(),
            ProcessedMark::NotFound
        );
        store.record_accepted(&sample_record(1)).await.unwrap();
        let at = now();
        assert_eq!(
            store.mark_processed(id(1), at).await.unwrap(),
            ProcessedMark::Marked
        );
        let record = stored(&store, 1).await;
        assert!(record.processed);
        assert_eq!(record.processed_at, Some(at));
        assert_eq!(
            store.mark_processed(id(1), now()).await.unwrap(),
            ProcessedMark::AlreadyProcessed
        );
        assert_eq!(
            stored(&store, 1).await.processed_at,
            Some(at),
            "first mark kept"
        );
    }

    /// The processor's first write returns the record as stored, only while it is
    /// accepted and unprocessed: what it then grants and pays is the store's, never a
    /// queue message's (a message with no record behind it finds nothing).
    pub async fn processing_begins_only_on_an_accepted_unprocessed_record<B: Backend>() {
        let store = B::fresh().await;
        assert_eq!(
            store.begin_processing(id(1), now()).await.unwrap(),
            ProcessingStart::Refused(ProcessedMark::NotFound),
            "no record: nothing to act on"
        );
        let record = sample_record(1);
        store.record_accepted(&record).await.unwrap();
        let at = now();
        let ProcessingStart::Stored(stored) = store.begin_processing(id(1), at).await.unwrap()
        else {
            panic!("an accepted record begins");
        };
        assert_eq!(
            (stored.user_id, stored.channel_id, stored.purchase.clone()),
            (record.user_id, record.channel_id, record.purchase.clone()),
            "the stored buyer, channel and purchase"
        );
        assert_eq!(stored.updated_at, at);
        assert!(!stored.processed);
        // Begun twice (a redelivery before the mark): the same record again.
        assert!(matches!(
            store.begin_processing(id(1), now()).await.unwrap(),
            ProcessingStart::Stored(_)
        ));
        store.mark_processed(id(1), now()).await.unwrap();
        assert_eq!(
            store.begin_processing(id(1), now()).await.unwrap(),
            ProcessingStart::Refused(ProcessedMark::AlreadyProcessed)
        );
    }

    pub async fn invite_claim_lease_expiry_and_takeover<B: Backend>() {
        let store = B::fresh().await;
        assert_eq!(
            store
                .claim_invite(&claim(1, "a", now(), TimeDelta::seconds(30)))
                .await
                .unwrap(),
            ClaimOutcome::NotFound
        );
        store.record_accepted(&sample_record(1)).await.unwrap();
        let t0 = now();
        let first = claim(1, "a", t0, TimeDelta::seconds(30));
        let ClaimOutcome::Claimed(record) = store.claim_invite(&first).await.unwrap() else {
            panic!("the first claim wins");
        };
        assert_eq!(record.invite_lease_token.as_deref(), Some("a"));
        assert_eq!(record.invite_lease_until, Some(first.lease_until));

        let during = claim(1, "b", t0 + TimeDelta::seconds(10), TimeDelta::seconds(30));
        assert_eq!(
            store.claim_invite(&during).await.unwrap(),
            ClaimOutcome::Leased {
                until: Some(first.lease_until)
            }
        );
        let after = claim(1, "b", t0 + TimeDelta::seconds(31), TimeDelta::seconds(30));
        assert!(
            matches!(
                store.claim_invite(&after).await.unwrap(),
                ClaimOutcome::Claimed(_)
            ),
            "expired lease taken over"
        );
        assert_eq!(
            stored(&store, 1).await.invite_lease_token.as_deref(),
            Some("b")
        );
    }

    pub async fn a_released_lease_is_claimable_at_once<B: Backend>() {
        let store = B::fresh().await;
        store.record_accepted(&sample_record(1)).await.unwrap();
        let first = claim(1, "a", now(), TimeDelta::minutes(5));
        store.claim_invite(&first).await.unwrap();
        assert_eq!(
            store.release_invite(&first.lease(), now()).await.unwrap(),
            Fenced::Done
        );
        let record = stored(&store, 1).await;
        assert_eq!(
            (record.invite_lease_token, record.invite_lease_until),
            (None, None)
        );
        assert!(matches!(
            store
                .claim_invite(&claim(1, "b", now(), TimeDelta::minutes(5)))
                .await
                .unwrap(),
            ClaimOutcome::Claimed(_)
        ));
    }

    pub async fn a_stale_token_can_neither_persist_nor_complete<B: Backend>() {
        let store = B::fresh().await;
        store.record_accepted(&sample_record(1)).await.unwrap();
        let t0 = now();
        let stale = claim(
            1,
            "stale",
            t0 - TimeDelta::seconds(60),
            TimeDelta::seconds(30),
        );
        store.claim_invite(&stale).await.unwrap();
        let current = claim(1, "current", t0, TimeDelta::seconds(30));
        assert!(matches!(
            store.claim_invite(&current).await.unwrap(),
            ClaimOutcome::Claimed(_)
        ));

        let expiry = t0 + TimeDelta::hours(24);
        let lost = Fenced::LeaseLost;
        assert_eq!(
            store
                .persist_invite_link(&stale.lease(), "https://t.me/+stale", expiry, t0)
                .await
                .unwrap(),
            lost
        );
        assert_eq!(
            store
                .complete_invite(&stale.lease(), InviteCompletion::Sent, t0)
                .await
                .unwrap(),
            lost
        );
        assert_eq!(
            store.release_invite(&stale.lease(), t0).await.unwrap(),
            lost
        );
        assert_eq!(
            store
                .fail_invite(&stale.lease(), "stale", t0)
                .await
                .unwrap(),
            lost
        );
        let untouched = stored(&store, 1).await;
        assert_eq!(untouched.telegram_invite_link, None);
        assert!(!untouched.telegram_invite_sent);
        assert_eq!(untouched.state, RecordState::Accepted);

        assert_eq!(
            store
                .persist_invite_link(&current.lease(), "https://t.me/+current", expiry, t0)
                .await
                .unwrap(),
            Fenced::Done
        );
        assert_eq!(
            store
                .complete_invite(&current.lease(), InviteCompletion::Sent, t0)
                .await
                .unwrap(),
            Fenced::Done
        );
        let done = stored(&store, 1).await;
        assert_eq!(
            done.telegram_invite_link.as_deref(),
            Some("https://t.me/+current")
        );
        assert_eq!(done.invite_link_expires_at, Some(expiry));
        assert!(done.telegram_invite_sent && done.telegram_invite_sent_at == Some(t0));
        assert_eq!(done.invite_lease_token, None);
        assert_eq!(
            store
                .claim_invite(&claim(1, "late", now(), TimeDelta::seconds(30)))
                .await
                .unwrap(),
            ClaimOutcome::AlreadySent
        );
    }

    pub async fn invite_failed_is_terminal<B: Backend>() {
        let store = B::fresh().await;
        store.record_accepted(&sample_record(1)).await.unwrap();
        let held = claim(1, "a", now(), TimeDelta::seconds(30));
        store.claim_invite(&held).await.unwrap();
        let reason = "Forbidden: bot was blocked by the user";
        assert_eq!(
            store
                .fail_invite(&held.lease(), reason, now())
                .await
                .unwrap(),
            Fenced::Done
        );
        let failed = stored(&store, 1).await;
        assert_eq!(failed.state, RecordState::InviteFailed);
        assert_eq!(failed.invite_failure_reason.as_deref(), Some(reason));
        assert_eq!(failed.invite_lease_token, None);
        assert_eq!(
            store
                .claim_invite(&claim(
                    1,
                    "b",
                    now() + TimeDelta::hours(1),
                    TimeDelta::seconds(30)
                ))
                .await
                .unwrap(),
            ClaimOutcome::InviteFailed
        );
        assert_eq!(
            store.mark_processed(id(1), now()).await.unwrap(),
            ProcessedMark::NotAccepted(RecordState::InviteFailed)
        );
    }

    pub async fn pending_payments_are_listed_oldest_first<B: Backend>() {
        let store = B::fresh().await;
        let t0 = now();
        let at = |minutes_ago: i64, payment_id: i64| {
            let mut record = sample_record(payment_id);
            record.created_at = t0 - TimeDelta::minutes(minutes_ago);
            record.updated_at = record.created_at;
            record
        };
        for record in [at(30, 1), at(20, 2), at(25, 3), at(15, 4), at(1, 5)] {
            store.record_accepted(&record).await.unwrap();
        }
        // 2: processed, invite not sent (stuck at the invite). 3: fully done. 4: failed.
        store.mark_processed(id(2), t0).await.unwrap();
        store.mark_processed(id(3), t0).await.unwrap();
        let three = claim(3, "x", t0, TimeDelta::seconds(30));
        store.claim_invite(&three).await.unwrap();
        let _ = store
            .complete_invite(&three.lease(), InviteCompletion::Sent, t0)
            .await
            .unwrap();
        let four = claim(4, "y", t0, TimeDelta::seconds(30));
        store.claim_invite(&four).await.unwrap();
        let _ = store
            .fail_invite(&four.lease(), "blocked", t0)
            .await
            .unwrap();

        let pending = store
            .pending_payments(t0 - TimeDelta::minutes(5), 10)
            .await
            .unwrap();
        let ids = listed_ids(&pending);
        assert_eq!(ids, vec![1, 2], "5 is too recent; 3 is done; 4 failed");
        let failed: Vec<i64> = store
            .failed_invites(10)
            .await
            .unwrap()
            .iter()
            .map(listed_id)
            .collect();
        assert_eq!(failed, vec![4]);
        let limited = store.pending_payments(t0, 1).await.unwrap();
        assert_eq!(limited.len(), 1);
        assert_eq!(listed_id(&limited[0]), 1);
    }

    pub async fn a_stuck_payment_is_marked_requeued_once_per_quiet_period<B: Backend>() {
        let store = B::fresh().await;
        let t0 = now();
        let mut quiet = sample_record(1);
        quiet.created_at = t0 - TimeDelta::minutes(30);
        quiet.updated_at = quiet.created_at;
        store.record_accepted(&quiet).await.unwrap();
        let mut done = quiet.clone();
        done.payment_id = id(2);
        store.record_accepted(&done).await.unwrap();
        store
            .mark_processed(id(2), t0 - TimeDelta::minutes(29))
            .await
            .unwrap();
        let two = claim(2, "x", t0 - TimeDelta::minutes(29), TimeDelta::seconds(30));
        store.claim_invite(&two).await.unwrap();
        let _ = store
            .complete_invite(
                &two.lease(),
                InviteCompletion::Sent,
                t0 - TimeDelta::minutes(29),
            )
            .await
            .unwrap();
        store.insert_seed_row(3, Some(true), None).await;

        let quiet_since = t0 - TimeDelta::minutes(15);
        assert!(store.mark_requeued(id(1), quiet_since, t0).await.unwrap());
        assert!(
            !store.mark_requeued(id(1), quiet_since, t0).await.unwrap(),
            "a second run in the same quiet period does not re-queue it"
        );
        assert_eq!(stored(&store, 1).await.updated_at, t0);
        let later = t0 + TimeDelta::minutes(16);
        assert!(
            store
                .mark_requeued(id(1), later - TimeDelta::minutes(15), later)
                .await
                .unwrap(),
            "quiet again for a whole period"
        );
        assert!(
            !store.mark_requeued(id(2), quiet_since, t0).await.unwrap(),
            "done"
        );
        assert!(
            !store.mark_requeued(id(9), quiet_since, t0).await.unwrap(),
            "unknown"
        );
        let after_insert = now() + TimeDelta::seconds(1);
        assert!(
            store
                .mark_requeued(id(3), after_insert, after_insert)
                .await
                .unwrap(),
            "a seed row with NULL flags is pending and marked too"
        );
    }

    pub async fn seed_rows_with_null_flags_follow_the_protocol<B: Backend>() {
        let store = B::fresh().await;
        store.insert_seed_row(11, None, None).await;
        store.insert_seed_row(12, Some(true), None).await;
        store.insert_seed_row(13, Some(true), Some(true)).await;

        let row = stored(&store, 11).await;
        assert_eq!(row.state, RecordState::Accepted);
        assert!(!row.processed && !row.telegram_invite_sent);
        assert_eq!(row.purchase, None);

        let pending: Vec<i64> = store
            .pending_payments(now(), 10)
            .await
            .unwrap()
            .iter()
            .map(listed_id)
            .collect();
        assert_eq!(
            pending,
            vec![12],
            "11 was never processed and has no purchase"
        );
        assert_eq!(
            listed_ids(&store.needs_operator(10).await.unwrap()),
            vec![11],
            "only an operator can move it"
        );

        assert_eq!(
            store.mark_processed(id(11), now()).await.unwrap(),
            ProcessedMark::Marked
        );
        assert_eq!(
            store.mark_processed(id(12), now()).await.unwrap(),
            ProcessedMark::AlreadyProcessed
        );
        assert!(
            matches!(
                store
                    .claim_invite(&claim(12, "a", now(), TimeDelta::seconds(30)))
                    .await
                    .unwrap(),
                ClaimOutcome::Claimed(_)
            ),
            "processed but not sent: picked up by the protocol"
        );
        assert_eq!(
            store
                .claim_invite(&claim(13, "a", now(), TimeDelta::seconds(30)))
                .await
                .unwrap(),
            ClaimOutcome::AlreadySent,
            "a seed row marked sent is never sent again"
        );
    }

    /// An operator approving while another rejects: the decision is one conditional
    /// write, so a payment ends approved and granted, or rejected and never granted.
    pub async fn a_racing_approve_and_reject_decide_once<B: Backend>() {
        let store = B::fresh().await;
        let directory = ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap();
        let queue = MemoryQueue::new();
        let held = |n: i64| PaymentReview {
            payment_id: id(n),
            reason: HoldReason::PriceMismatch,
            ipn: SAMPLE_IPN.replace("4492847470", &n.to_string()),
            received_at: now(),
            decision: None,
            decided_at: None,
        };
        let approver = Operator::new(&store, system_clock());
        let rejecter = Operator::new(&store, system_clock());
        let mut granted_count = 0;
        for n in 1..=8 {
            store.hold_for_review(&held(n)).await.unwrap();
            let (approved, rejected) = tokio::join!(
                approver.approve(id(n), &directory, &queue),
                rejecter.reject(id(n))
            );
            assert!(
                approved.is_ok() != rejected.is_ok(),
                "{n}: exactly one wins ({approved:?}, {rejected:?})"
            );
            let decision = store.get_review(id(n)).await.unwrap().unwrap().decision;
            let granted = store.get_payment(id(n)).await.unwrap().is_some();
            granted_count += usize::from(granted);
            match decision {
                Some(ReviewDecision::Approved) => assert!(granted, "{n}: approved and granted"),
                Some(ReviewDecision::Rejected) => assert!(!granted, "{n}: rejected, never granted"),
                Some(ReviewDecision::ToppedUp) => panic!("{n}: no top-up here"),
                None => panic!("{n}: undecided"),
            }
        }
        assert_eq!(
            queue.bodies().len(),
            granted_count,
            "one processor message per granted payment"
        );
    }

    pub async fn rows_needing_an_operator_are_listed_apart_and_resolved_once<B: Backend>() {
        let store = B::fresh().await;
        store.insert_seed_row(51, None, None).await;
        store.insert_seed_row(52, None, None).await;
        store.insert_seed_row(53, Some(true), None).await;
        assert_eq!(
            listed_ids(&store.pending_payments(now(), 10).await.unwrap()),
            vec![53],
            "never processed and no purchase: not the reconciler's to move"
        );
        assert_eq!(
            listed_ids(&store.needs_operator(10).await.unwrap()),
            vec![51, 52]
        );

        let purchase = sample_record(51).purchase.unwrap();
        let supply = Resolution::SupplyPurchase(purchase.clone());
        assert_eq!(
            store
                .resolve_needs_operator(id(51), &supply, now())
                .await
                .unwrap(),
            Resolved::Done
        );
        assert_eq!(
            store
                .resolve_needs_operator(id(51), &supply, now())
                .await
                .unwrap(),
            Resolved::NotNeeded,
            "once"
        );
        assert_eq!(
            store
                .resolve_needs_operator(id(52), &Resolution::AlreadyHandled, now())
                .await
                .unwrap(),
            Resolved::Done
        );
        assert_eq!(
            store
                .resolve_needs_operator(id(53), &Resolution::AlreadyHandled, now())
                .await
                .unwrap(),
            Resolved::NotNeeded
        );
        assert_eq!(
            store
                .resolve_needs_operator(id(99), &Resolution::AlreadyHandled, now())
                .await
                .unwrap(),
            Resolved::NotFound
        );

        assert_eq!(stored(&store, 51).await.purchase, Some(purchase));
        let handled = stored(&store, 52).await;
        assert!(handled.processed && handled.telegram_invite_sent);
        assert_eq!(
            listed_ids(&store.pending_payments(now(), 10).await.unwrap()),
            vec![51, 53],
            "with its purchase, the reconciler moves it"
        );
        assert!(store.needs_operator(10).await.unwrap().is_empty());
    }

    pub async fn an_invite_completed_by_membership_is_sent_and_says_so<B: Backend>() {
        let store = B::fresh().await;
        store.record_accepted(&sample_record(71)).await.unwrap();
        let stale = claim(
            71,
            "stale",
            now() - TimeDelta::minutes(5),
            TimeDelta::seconds(1),
        );
        store.claim_invite(&stale).await.unwrap();
        let live = claim(71, "live", now(), TimeDelta::seconds(30));
        assert!(matches!(
            store.claim_invite(&live).await.unwrap(),
            ClaimOutcome::Claimed(_)
        ));
        assert_eq!(
            store
                .complete_invite(&stale.lease(), InviteCompletion::ByMembership, now())
                .await
                .unwrap(),
            Fenced::LeaseLost,
            "fenced like every write after a claim"
        );
        assert_eq!(
            store
                .complete_invite(&live.lease(), InviteCompletion::ByMembership, now())
                .await
                .unwrap(),
            Fenced::Done
        );
        let done = stored(&store, 71).await;
        assert!(done.telegram_invite_sent && done.invite_satisfied_by_membership);
        assert_eq!(done.invite_lease_token, None);
        assert_eq!(
            store
                .claim_invite(&claim(71, "again", now(), TimeDelta::seconds(30)))
                .await
                .unwrap(),
            ClaimOutcome::AlreadySent
        );
    }

    pub async fn a_renewal_completed_in_place_is_sent_and_says_so<B: Backend>() {
        let store = B::fresh().await;
        store.record_accepted(&sample_record(72)).await.unwrap();
        let stale = claim(
            72,
            "stale",
            now() - TimeDelta::minutes(5),
            TimeDelta::seconds(1),
        );
        store.claim_invite(&stale).await.unwrap();
        let live = claim(72, "live", now(), TimeDelta::seconds(30));
        store.claim_invite(&live).await.unwrap();
        assert_eq!(
            store
                .complete_invite(&stale.lease(), InviteCompletion::RenewedInPlace, now())
                .await
                .unwrap(),
            Fenced::LeaseLost,
            "fenced like every write after a claim"
        );
        assert_eq!(
            store
                .complete_invite(&live.lease(), InviteCompletion::RenewedInPlace, now())
                .await
                .unwrap(),
            Fenced::Done
        );
        let done = stored(&store, 72).await;
        assert!(done.telegram_invite_sent && done.invite_renewed_in_place);
        assert!(!done.invite_satisfied_by_membership);
        assert_eq!(done.telegram_invite_link, None);
        assert_eq!(
            store
                .claim_invite(&claim(72, "again", now(), TimeDelta::seconds(30)))
                .await
                .unwrap(),
            ClaimOutcome::AlreadySent
        );
    }

    pub async fn thirty_two_concurrent_claims_have_one_winner<B: Backend>() {
        let store = Arc::new(B::fresh().await);
        store.record_accepted(&sample_record(1)).await.unwrap();
        let at = now();
        let tasks: Vec<_> = (0..32)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .claim_invite(&claim(
                            1,
                            &format!("worker-{n}"),
                            at,
                            TimeDelta::seconds(30),
                        ))
                        .await
                })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            match task.await.unwrap().expect("the backend answers") {
                ClaimOutcome::Claimed(record) => winners.push(record.invite_lease_token.unwrap()),
                ClaimOutcome::Leased { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "exactly one claim wins: {winners:?}");
        assert_eq!(
            stored(&*store, 1).await.invite_lease_token,
            Some(winners.remove(0))
        );
    }
}

macro_rules! conformance_suite {
    ($($backend:ident: $store:ty),* $(,)?) => {$(
        mod $backend {
            use super::*;
            type Store = $store;
            #[tokio::test] async fn ingress_insert_and_duplicate() { cases::ingress_insert_and_duplicate::<Store>().await }
            #[tokio::test] async fn payload_conflict_keeps_the_first_record() { cases::payload_conflict_keeps_the_first_record::<Store>().await }
            #[tokio::test] async fn review_entries_are_held_once() { cases::review_entries_are_held_once::<Store>().await }
            #[tokio::test] async fn reviews_are_listed_newest_first_and_decided_once() { cases::reviews_are_listed_newest_first_and_decided_once::<Store>().await }
            #[tokio::test] async fn a_reopened_invite_is_due_again_unless_leased() { cases::a_reopened_invite_is_due_again_unless_leased::<Store>().await }
            #[tokio::test] async fn processor_mark_once() { cases::processor_mark_once::<Store>().await }
            #[tokio::test] async fn processing_begins_only_on_an_accepted_unprocessed_record() { cases::processing_begins_only_on_an_accepted_unprocessed_record::<Store>().await }
            #[tokio::test] async fn invite_claim_lease_expiry_and_takeover() { cases::invite_claim_lease_expiry_and_takeover::<Store>().await }
            #[tokio::test] async fn a_released_lease_is_claimable_at_once() { cases::a_released_lease_is_claimable_at_once::<Store>().await }
            #[tokio::test] async fn a_stale_token_can_neither_persist_nor_complete() { cases::a_stale_token_can_neither_persist_nor_complete::<Store>().await }
            #[tokio::test] async fn invite_failed_is_terminal() { cases::invite_failed_is_terminal::<Store>().await }
            #[tokio::test] async fn pending_payments_are_listed_oldest_first() { cases::pending_payments_are_listed_oldest_first::<Store>().await }
            #[tokio::test] async fn a_stuck_payment_is_marked_requeued_once_per_quiet_period() { cases::a_stuck_payment_is_marked_requeued_once_per_quiet_period::<Store>().await }
            #[tokio::test] async fn seed_rows_with_null_flags_follow_the_protocol() { cases::seed_rows_with_null_flags_follow_the_protocol::<Store>().await }
            #[tokio::test] async fn thirty_two_concurrent_claims_have_one_winner() { cases::thirty_two_concurrent_claims_have_one_winner::<Store>().await }
            #[tokio::test] async fn rows_needing_an_operator_are_listed_apart_and_resolved_once() { cases::rows_needing_an_operator_are_listed_apart_and_resolved_once::<Store>().await }
            #[tokio::test] async fn an_invite_completed_by_membership_is_sent_and_says_so() { cases::an_invite_completed_by_membership_is_sent_and_says_so::<Store>().await }
            #[tokio::test] async fn a_racing_approve_and_reject_decide_once() { cases::a_racing_approve_and_reject_decide_once::<Store>().await }
            #[tokio::test] async fn a_renewal_completed_in_place_is_sent_and_says_so() { cases::a_renewal_completed_in_place_is_sent_and_says_so::<Store>().await }
            #[tokio::test] async fn held_notice_is_claimed_by_one_and_told_once() { cases::held_notice_is_claimed_by_one_and_told_once::<Store>().await }
            #[tokio::test] async fn held_notice_lease_lapses_or_is_released_and_is_taken_over() { cases::held_notice_lease_lapses_or_is_released_and_is_taken_over::<Store>().await }
            #[tokio::test] async fn thirty_two_concurrent_notice_claims_have_one_winner() { cases::thirty_two_concurrent_notice_claims_have_one_winner::<Store>().await }
            #[tokio::test] async fn untold_holds_are_listed_oldest_first_without_told_or_decided() { cases::untold_holds_are_listed_oldest_first_without_told_or_decided::<Store>().await }
            #[tokio::test] async fn a_buyers_undecided_holds_are_listed_newest_first() { cases::a_buyers_undecided_holds_are_listed_newest_first::<Store>().await }
            #[tokio::test] async fn a_watch_is_written_once_and_checked_by_one_when_due() { cases::a_watch_is_written_once_and_checked_by_one_when_due::<Store>().await }
            #[tokio::test] async fn a_lapsed_check_is_taken_over_and_a_settled_watch_stays_settled() { cases::a_lapsed_check_is_taken_over_and_a_settled_watch_stays_settled::<Store>().await }
            #[tokio::test] async fn thirty_two_concurrent_watches_and_checks_have_one_winner() { cases::thirty_two_concurrent_watches_and_checks_have_one_winner::<Store>().await }
            #[tokio::test] async fn due_watches_are_listed_longest_due_first_without_settled_leased_or_later() { cases::due_watches_are_listed_longest_due_first_without_settled_leased_or_later::<Store>().await }
            #[tokio::test] async fn a_buyers_payments_under_way_are_listed_newest_first() { cases::a_buyers_payments_under_way_are_listed_newest_first::<Store>().await }
            #[tokio::test] async fn parts_a_purchase_is_opened_once_on_its_hold_and_counts_each_part_once() { cases::a_purchase_is_opened_once_on_its_hold_and_counts_each_part_once::<Store>().await }
            #[tokio::test] async fn parts_thirty_two_concurrent_parts_add_up_once_and_one_settles() { cases::thirty_two_concurrent_parts_add_up_once_and_one_settles::<Store>().await }
            #[tokio::test] async fn parts_a_top_up_settle_and_an_operator_decision_exclude_each_other() { cases::a_top_up_settle_and_an_operator_decision_exclude_each_other::<Store>().await }
            #[tokio::test] async fn parts_open_purchases_are_listed_per_buyer_and_stale_ones_told_once() { cases::open_purchases_are_listed_per_buyer_and_stale_ones_told_once::<Store>().await }
            #[tokio::test] async fn parts_thirty_two_concurrent_top_up_ipns_grant_the_purchase_once() { cases::thirty_two_concurrent_top_up_ipns_grant_the_purchase_once::<Store>().await }
            #[tokio::test] async fn a_recovered_purchase_is_stored_as_recovered() { cases::a_recovered_purchase_is_stored_as_recovered::<Store>().await }
            #[tokio::test] async fn catalog_versions_are_applied_once_and_every_one_is_kept() { catalog_cases::versions_are_applied_once_and_every_one_is_kept::<Store>().await }
            #[tokio::test] async fn catalog_thirty_two_concurrent_applies_of_one_version_have_one_winner() { catalog_cases::thirty_two_concurrent_applies_of_one_version_have_one_winner::<Store>().await }
        }
    )*};
}

/// The catalog's versions (`telepay catalog apply`): one conditional write per version.
mod catalog_cases {
    use telepay_core::store::{CatalogApplied, StoredCatalog};

    use super::*;

    fn version(number: u32, body: &str) -> StoredCatalog {
        StoredCatalog {
            version: number,
            body: body.into(),
            applied_at: now(),
            note: format!("v{number}"),
        }
    }

    pub async fn versions_are_applied_once_and_every_one_is_kept<B: Backend>() {
        let store = B::fresh().await;
        assert_eq!(store.latest_catalog().await.unwrap(), None);
        assert!(store.catalog_history(10).await.unwrap().is_empty());
        let first = version(1, r#"{"channels":[1]}"#);
        assert_eq!(
            store.apply_catalog(&first).await.unwrap(),
            CatalogApplied::Applied
        );
        // A second apply of the same number changes nothing.
        assert_eq!(
            store
                .apply_catalog(&version(1, r#"{"channels":[2]}"#))
                .await
                .unwrap(),
            CatalogApplied::VersionTaken
        );
        assert_eq!(store.catalog_version(1).await.unwrap(), Some(first.clone()));
        let second = version(2, r#"{"channels":[3]}"#);
        store.apply_catalog(&second).await.unwrap();
        assert_eq!(store.latest_catalog().await.unwrap(), Some(second.clone()));
        assert_eq!(
            store.catalog_version(1).await.unwrap(),
            Some(first.clone()),
            "an older version stays readable (an open invoice names it)"
        );
        assert_eq!(store.catalog_version(3).await.unwrap(), None);
        assert_eq!(
            store.catalog_history(10).await.unwrap(),
            vec![second.clone(), first]
        );
        assert_eq!(store.catalog_history(1).await.unwrap(), vec![second]);
    }

    pub async fn thirty_two_concurrent_applies_of_one_version_have_one_winner<B: Backend>() {
        let store = Arc::new(B::fresh().await);
        let applies: Vec<_> = (0..32)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    let body = format!(r#"{{"writer":{n}}}"#);
                    let applied = store.apply_catalog(&version(1, &body)).await;
                    (body, applied)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for apply in applies {
            let (body, applied) = apply.await.unwrap();
            if applied.expect("the backend answers") == CatalogApplied::Applied {
                winners.push(body);
            }
        }
        assert_eq!(winners.len(), 1, "{winners:?}");
        let stored = store.latest_catalog().await.unwrap().unwrap();
        assert_eq!(
            stored.body, winners[0],
            "the winner's catalog is the one kept"
        );
    }
}

conformance_suite! {
    memory: MemoryStore,
    sqlite: SqliteStore,
    postgres: PostgresStore,
    dynamodb: DynamoDbStore,
}

/// DynamoDB alone has a NULL type apart from a missing attribute: what boto3 and most
/// migration tools write for a SQL NULL. Every condition must read it as the item reader
/// does (absent), or such an item can never be claimed, processed or re-queued.
mod dynamodb_null_typed_attributes {
    use aws_sdk_dynamodb::types::AttributeValue::{N, Null, S};

    use super::*;

    /// A seed item with `nulls` present but NULL-typed.
    async fn insert_seed_item(store: &DynamoDbStore, payment_id: i64, nulls: &[&str]) {
        let mut put = store
            .client()
            .put_item()
            .table_name(store.payments_table())
            .item("payment_id", N(payment_id.to_string()))
            .item("user_id", N(SAMPLE_USER_ID.to_string()))
            .item("channel_id", N(SAMPLE_CHANNEL_ID.to_string()))
            .item(
                "created_at",
                S(long_ago().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            );
        for name in nulls {
            put = put.item(*name, Null(true));
        }
        put.send().await.unwrap();
    }

    #[tokio::test]
    async fn seed_items_with_null_typed_flags_state_and_times_get_exactly_one_invite() {
        // GIVEN a seed item whose flags, state, updated_at and lease are NULL-typed, and
        // one where they are missing (the case that always worked)
        let store = DynamoDbStore::fresh().await;
        let null_typed = [
            "gcwebhook1_processed",
            "telegram_invite_sent",
            "state",
            "updated_at",
            "invite_lease_until",
        ];
        insert_seed_item(&store, 21, &null_typed).await;
        insert_seed_item(&store, 22, &[]).await;
        store.create_tables_if_missing().await.unwrap(); // `telepay migrate` after an import

        // THEN both are seen (never processed, no purchase: listed for an operator),
        // re-queued once, processed once and invited exactly once
        assert_eq!(
            listed_ids(&store.needs_operator(10).await.unwrap()),
            vec![21, 22],
            "both are seen"
        );
        for payment_id in [21, 22] {
            let t = now();
            assert!(
                store.mark_requeued(id(payment_id), t, t).await.unwrap(),
                "{payment_id}: a NULL updated_at is quiet"
            );
            assert_eq!(
                store.mark_processed(id(payment_id), t).await.unwrap(),
                ProcessedMark::Marked,
                "{payment_id}"
            );
            let first = claim(payment_id, "first", t, TimeDelta::seconds(30));
            assert!(
                matches!(
                    store.claim_invite(&first).await.unwrap(),
                    ClaimOutcome::Claimed(_)
                ),
                "{payment_id}: claimable, not read as leased"
            );
            assert_eq!(
                store
                    .complete_invite(&first.lease(), InviteCompletion::Sent, t)
                    .await
                    .unwrap(),
                Fenced::Done
            );
            let again = claim(payment_id, "again", t, TimeDelta::seconds(30));
            assert_eq!(
                store.claim_invite(&again).await.unwrap(),
                ClaimOutcome::AlreadySent,
                "{payment_id}: exactly one invite"
            );
        }
    }
}

/// DynamoDB items an operator or a migration tool wrote by hand: one this version cannot
/// read, and one whose channel_id lost its minus sign.
mod dynamodb_items_written_by_hand {
    use aws_sdk_dynamodb::types::AttributeValue::{Bool, N, S};

    use super::*;

    async fn insert_item(
        store: &DynamoDbStore,
        payment_id: i64,
        channel_id: i64,
        processed_at: &str,
    ) {
        store
            .client()
            .put_item()
            .table_name(store.payments_table())
            .item("payment_id", N(payment_id.to_string()))
            .item("user_id", N(SAMPLE_USER_ID.to_string()))
            .item("channel_id", N(channel_id.to_string()))
            .item("gcwebhook1_processed", Bool(true))
            .item(
                "created_at",
                S(long_ago().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            )
            .item("gcwebhook1_processed_at", S(processed_at.into()))
            .send()
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn an_unreadable_item_is_listed_as_such_and_its_claim_can_end_it() {
        // GIVEN an item with a malformed time beside a readable legacy one
        let store = DynamoDbStore::fresh().await;
        insert_item(&store, 41, SAMPLE_CHANNEL_ID, "last tuesday").await;
        insert_item(&store, 42, -SAMPLE_CHANNEL_ID, "2026-01-01T00:00:00.000Z").await;
        store.create_tables_if_missing().await.unwrap(); // `telepay migrate` after an import

        // THEN the listing reports it and still lists the other
        let pending = store.pending_payments(now(), 10).await.unwrap();
        assert_eq!(pending.len(), 2, "{pending:?}");
        assert_eq!(listed_id(&pending[0]), 42);
        assert!(
            matches!(&pending[1], Err(row) if row.payment_id == 41),
            "{pending:?}"
        );
        assert_eq!(
            stored(&store, 42).await.channel_id.get(),
            SAMPLE_CHANNEL_ID,
            "a positive channel_id reads as the legacy order form reads it"
        );

        // AND its claim takes the lease and says why it cannot be read, so the claimer
        // can end it as invite_failed instead of looping into the DLQ
        let first = claim(41, "a", now(), TimeDelta::seconds(30));
        assert!(matches!(
            store.claim_invite(&first).await.unwrap(),
            ClaimOutcome::ClaimedUnreadable { why } if why.contains("gcwebhook1_processed_at")
        ));
        assert_eq!(
            store
                .fail_invite(&first.lease(), "unreadable: gcwebhook1_processed_at", now())
                .await
                .unwrap(),
            Fenced::Done
        );
        let failed = store.failed_invites(10).await.unwrap();
        assert!(
            matches!(failed.as_slice(), [Err(row)] if row.payment_id == 41),
            "{failed:?}"
        );
        assert_eq!(
            listed_ids(&store.pending_payments(now(), 10).await.unwrap()),
            vec![42]
        );
    }
}
