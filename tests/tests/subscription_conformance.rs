//! The subscriptions port's conformance suite: the same cases on memory, SQLite,
//! Postgres and DynamoDB (single-threaded moto). The rules (fold, reminders, removal)
//! are the core's; what each backend must prove is that a change is decided by one
//! conditional write on the version (grants, refunds, the one live invite link), that
//! the due index finds exactly the due rows, and that the operator's listings select
//! what they say.

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use telepay_core::access::{Granted, Refunded, grant_time, refund_time, settle_live_link};
use telepay_core::order::UserId;
use telepay_core::store::memory::MemoryStore;
use telepay_core::store::{SubscriptionFilter, SubscriptionStore, Versioned};
use telepay_core::subscription::{
    AccessDuration, GrantSource, LifecycleSettings, LinkDecision, LiveLink, Subscription,
    SubscriptionKey, SubscriptionStatus, Task, TaskDone, TimeGrant,
};
use telepay_integration_tests::FreshStore;
use telepay_shared::dynamodb::DynamoDbStore;
use telepay_shared::sql::{PostgresStore, SqliteStore};

/// A backend under test: a fresh store of it, the port, and a way to plant a row this
/// version cannot read (what a rollback leaves behind), due at `due`.
trait Backend: SubscriptionStore + FreshStore {
    fn plant_unreadable(&self, user: i64, due: DateTime<Utc>) -> impl Future<Output = ()>;
}

/// A body a newer release might write: not this version's shape.
const FOREIGN_BODY: &str = r#"{"shape":"from a newer release"}"#;

impl Backend for MemoryStore {
    async fn plant_unreadable(&self, user: i64, due: DateTime<Utc>) {
        let key = key(user);
        self.put_unreadable_subscription(
            telepay_core::store::UnreadableSubscription {
                user_id: user,
                channel_id: key.channel_id,
                version: Some(3),
                why: "body: missing field `key`".into(),
            },
            Some(due),
        );
    }
}

macro_rules! plant_sql {
    ($store:ty) => {
        impl Backend for $store {
            async fn plant_unreadable(&self, user: i64, due: DateTime<Utc>) {
                sqlx::query(
                    "INSERT INTO subscriptions (user_id, channel_id, version, expires_at_ms, \
                     next_due_at_ms, ended, body, updated_at) \
                     VALUES ($1, $2, 3, $3, $3, NULL, $4, $5)",
                )
                .bind(user)
                .bind(key(user).channel_id)
                .bind(due.timestamp_millis())
                .bind(FOREIGN_BODY)
                .bind(due.naive_utc())
                .execute(self.pool())
                .await
                .unwrap();
            }
        }
    };
}
plant_sql!(SqliteStore);
plant_sql!(PostgresStore);

impl Backend for DynamoDbStore {
    async fn plant_unreadable(&self, user: i64, due: DateTime<Utc>) {
        use aws_sdk_dynamodb::types::AttributeValue::{N, S};
        let key = key(user);
        let shard = key.shard(telepay_shared::dynamodb::DUE_SHARDS);
        self.client()
            .put_item()
            .table_name(self.subscriptions_table_name().unwrap())
            .item("user_id", N(user.to_string()))
            .item("channel_id", N(key.channel_id.to_string()))
            .item("version", N("3".into()))
            .item("expires_at_ms", N(due.timestamp_millis().to_string()))
            .item("next_due_at_ms", N(due.timestamp_millis().to_string()))
            .item("due_shard", N(shard.to_string()))
            .item("body", S(FOREIGN_BODY.into()))
            .send()
            .await
            .unwrap();
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-01T12:00:00.000Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// Stores `record` as a new row, whatever steps built it (a test's GIVEN).
async fn seed<B: Backend>(store: &B, record: &Subscription) {
    let mut row = record.clone();
    row.version = 1;
    assert_eq!(
        store.write_subscription(&row).await.unwrap(),
        Versioned::Written
    );
}

fn key(user: i64) -> SubscriptionKey {
    SubscriptionKey::new(UserId::new(user).unwrap(), -1002222222222)
}

fn paid(payment_id: i64, at: DateTime<Utc>, days: u32) -> TimeGrant {
    TimeGrant::new(
        GrantSource::Payment(payment_id),
        at,
        AccessDuration::from_days(days).unwrap(),
    )
}

fn settings() -> LifecycleSettings {
    LifecycleSettings::default()
}

async fn stored<B: Backend>(store: &B, key: SubscriptionKey) -> Subscription {
    store.get_subscription(key).await.unwrap().expect("stored")
}

mod cases {
    use super::*;

    pub async fn a_subscription_reads_back_exactly_and_a_first_version_is_written_once<
        B: Backend,
    >() {
        let store = B::fresh().await;
        let s = settings();
        let first = Subscription::first(key(1), paid(10, t0(), 30), t0(), &s);
        assert_eq!(
            store.write_subscription(&first).await.unwrap(),
            Versioned::Written
        );
        assert_eq!(stored(&store, key(1)).await, first);
        assert_eq!(store.get_subscription(key(2)).await.unwrap(), None);
        // Every mark a record can carry reads back too.
        let mut marked = first.clone();
        marked.mark_needs_invite(t0() + TimeDelta::minutes(10));
        marked.removal_unknown_at = Some(t0() + TimeDelta::seconds(1));
        marked.version += 1;
        assert_eq!(
            store.write_subscription(&marked).await.unwrap(),
            Versioned::Written
        );
        assert_eq!(stored(&store, key(1)).await, marked);
        let first = marked;
        // GIVEN another first version for the same buyer and channel, THEN it is refused
        let other = Subscription::first(key(1), paid(11, t0(), 1), t0(), &s);
        assert_eq!(
            store.write_subscription(&other).await.unwrap(),
            Versioned::Conflict
        );
        assert_eq!(stored(&store, key(1)).await, first);
    }

    pub async fn a_write_over_a_stale_version_changes_nothing<B: Backend>() {
        let store = B::fresh().await;
        let s = settings();
        let first = Subscription::first(key(1), paid(10, t0(), 30), t0(), &s);
        seed(&store, &first).await;
        let mine = first.grant(paid(11, t0(), 30), t0(), &s).unwrap();
        let theirs = first.grant(paid(12, t0(), 5), t0(), &s).unwrap();
        assert_eq!(
            store.write_subscription(&theirs).await.unwrap(),
            Versioned::Written
        );
        assert_eq!(
            store.write_subscription(&mine).await.unwrap(),
            Versioned::Conflict
        );
        assert_eq!(stored(&store, key(1)).await, theirs);
    }

    pub async fn thirty_two_concurrent_grants_of_one_payment_count_once<B: Backend>() {
        let store = Arc::new(B::fresh().await);
        let grant = paid(42, t0(), 30);
        let runs: Vec<_> = (0..32)
            .map(|_| {
                let (store, grant) = (store.clone(), grant.clone());
                tokio::spawn(async move {
                    grant_time(&*store, key(1), &grant, t0(), &settings())
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut counted = 0;
        for run in runs {
            if matches!(run.await.unwrap(), Granted::Now { .. }) {
                counted += 1;
            }
        }
        assert_eq!(counted, 1, "one grant counted");
        let subscription = stored(&*store, key(1)).await;
        assert_eq!(subscription.grants.len(), 1);
        assert_eq!(subscription.expires_at, t0() + TimeDelta::days(30));
    }

    pub async fn sixteen_racing_links_leave_one_live_and_a_short_lived_one_is_replaced_once<
        B: Backend,
    >() {
        let store = Arc::new(B::fresh().await);
        grant_time(&*store, key(1), &paid(1, t0(), 30), t0(), &settings())
            .await
            .unwrap();
        let link = |n: i64, hours: i64| LiveLink {
            url: format!("https://t.me/+link{n}"),
            expires_at: t0() + TimeDelta::hours(hours),
            made_for: n,
            made_at: t0(),
        };
        // A link with more than an hour left is good enough to send.
        let good = |live: &LiveLink| live.expires_at > t0() + TimeDelta::hours(1);
        let runs: Vec<_> = (0..16)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    let candidate = link(n, 24);
                    let decision =
                        settle_live_link(&*store, key(1), None, &candidate, t0(), good).await;
                    (candidate, decision.unwrap())
                })
            })
            .collect();
        let mut winners = Vec::new();
        let mut sent = std::collections::HashSet::new();
        for run in runs {
            match run.await.unwrap() {
                (candidate, LinkDecision::Ours { replaced }) => {
                    assert_eq!(replaced, None);
                    sent.insert(candidate.url.clone());
                    winners.push(candidate);
                }
                (_, LinkDecision::Theirs(live)) => {
                    sent.insert(live.url);
                }
                (_, other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "one candidate became the live link");
        assert_eq!(sent.len(), 1, "every racer sends that one link");
        let live = stored(&*store, key(1)).await.live_link.unwrap();
        assert_eq!(live, winners[0]);
        // Settling the live link again changes nothing.
        let again = settle_live_link(&*store, key(1), None, &live, t0(), good)
            .await
            .unwrap();
        assert_eq!(again, LinkDecision::Ours { replaced: None });

        // GIVEN a live link about to expire, WHEN two fresh ones race to replace it, THEN
        // one replaces it (and is told which, to revoke it), the other sends the winner.
        let store = Arc::new(B::fresh().await);
        grant_time(&*store, key(2), &paid(2, t0(), 30), t0(), &settings())
            .await
            .unwrap();
        let short = link(100, 1);
        settle_live_link(&*store, key(2), None, &short, t0(), |_| false)
            .await
            .unwrap();
        let runs: Vec<_> = [101, 102]
            .into_iter()
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    settle_live_link(&*store, key(2), None, &link(n, 24), t0(), good)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut replaced = Vec::new();
        for run in runs {
            if let LinkDecision::Ours {
                replaced: Some(old),
            } = run.await.unwrap()
            {
                replaced.push(old);
            }
        }
        assert_eq!(replaced, vec![short], "replaced once, by one of the two");
        // No subscription: the payment's own link stands.
        let none = settle_live_link(&*store, key(3), None, &link(3, 24), t0(), good)
            .await
            .unwrap();
        assert_eq!(none, LinkDecision::NoSubscription);
    }

    pub async fn concurrent_grants_of_different_payments_all_count<B: Backend>() {
        let store = Arc::new(B::fresh().await);
        let runs: Vec<_> = (0..8)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    let grant = paid(100 + n, t0(), 1);
                    grant_time(&*store, key(1), &grant, t0(), &settings())
                        .await
                        .unwrap()
                })
            })
            .collect();
        for run in runs {
            assert!(matches!(run.await.unwrap(), Granted::Now { .. }));
        }
        assert_eq!(
            stored(&*store, key(1)).await.expires_at,
            t0() + TimeDelta::days(8)
        );
    }

    pub async fn two_payments_give_the_same_expiry_in_either_order<B: Backend>() {
        let store = B::fresh().await;
        let s = settings();
        let early = paid(7, t0(), 30);
        let late = paid(3, t0() + TimeDelta::days(40), 30);
        for (user, order) in [(1, [&early, &late]), (2, [&late, &early])] {
            for grant in order {
                grant_time(&store, key(user), grant, t0(), &s)
                    .await
                    .unwrap();
            }
        }
        let one = stored(&store, key(1)).await.expires_at;
        assert_eq!(one, t0() + TimeDelta::days(70));
        assert_eq!(stored(&store, key(2)).await.expires_at, one);
    }

    pub async fn a_refund_takes_its_time_out_once<B: Backend>() {
        let store = B::fresh().await;
        let s = settings();
        for grant in [paid(1, t0(), 30), paid(2, t0(), 30)] {
            grant_time(&store, key(1), &grant, t0(), &s).await.unwrap();
        }
        let refund = GrantSource::Payment(2);
        assert_eq!(
            refund_time(&store, key(1), &refund, t0(), &s)
                .await
                .unwrap(),
            Refunded::Now {
                expires_at: t0() + TimeDelta::days(30)
            }
        );
        assert_eq!(
            refund_time(&store, key(1), &refund, t0(), &s)
                .await
                .unwrap(),
            Refunded::Already
        );
        assert_eq!(
            refund_time(&store, key(9), &refund, t0(), &s)
                .await
                .unwrap(),
            Refunded::AheadOfGrant,
            "a buyer with no subscription: the refund is kept for the grant to find"
        );
        let subscription = stored(&store, key(1)).await;
        assert_eq!(subscription.expires_at, t0() + TimeDelta::days(30));
        assert_eq!(
            grant_time(&store, key(1), &paid(2, t0(), 30), t0(), &s)
                .await
                .unwrap(),
            Granted::Already {
                expires_at: t0() + TimeDelta::days(30),
                renewal: true,
                crossed_removal: false,
                refunded: true,
            },
            "a refunded payment redelivered does not count again"
        );
    }

    pub async fn a_refund_ahead_of_a_first_grant_is_kept_and_the_grant_counts_nothing<
        B: Backend,
    >() {
        let store = B::fresh().await;
        let s = settings();
        let now = Utc::now().trunc_subsecs(3);
        let refund = GrantSource::Payment(5);
        let users = |rows: Vec<telepay_core::store::ListedSubscription>| -> Vec<i64> {
            rows.into_iter()
                .map(|row| row.unwrap().key.user_id.get())
                .collect()
        };
        // GIVEN a first-time buyer's held payment, refunded by NOWPayments before review
        assert_eq!(
            refund_time(&store, key(5), &refund, now, &s).await.unwrap(),
            Refunded::AheadOfGrant
        );
        assert_eq!(
            refund_time(&store, key(5), &refund, now, &s).await.unwrap(),
            Refunded::Already
        );
        // THEN the refund is kept, with nothing to remove or tell: off the sweeper's index
        // and the expired listing
        let later = now + TimeDelta::days(400);
        assert_eq!(
            stored(&store, key(5)).await.status(later, &s),
            SubscriptionStatus::Refunded
        );
        assert!(users(store.due_subscriptions(later, 100).await.unwrap()).is_empty());
        let expired = SubscriptionFilter::Expired { now: later };
        assert!(users(store.list_subscriptions(expired, 10).await.unwrap()).is_empty());
        // WHEN the payment is granted after all (approved, or its IPN came late)
        let granted = grant_time(&store, key(5), &paid(5, now, 30), now, &s)
            .await
            .unwrap();
        // THEN it counts nothing and says it was refunded
        assert!(granted.refunded(), "{granted:?}");
        assert_eq!(
            stored(&store, key(5)).await.status(now, &s),
            SubscriptionStatus::Refunded
        );
        // AND a real payment afterwards starts the subscription as a first purchase
        let next = grant_time(&store, key(5), &paid(6, now, 30), now, &s)
            .await
            .unwrap();
        assert_eq!(next.expires_at(), now + TimeDelta::days(30));
        assert!(!next.refunded());
        let record = stored(&store, key(5)).await;
        assert_eq!(record.status(now, &s), SubscriptionStatus::Active);
        assert!(record.next_due_at.is_some(), "on the sweeper's index again");
    }

    pub async fn a_buyer_marked_for_an_invite_is_due_until_invited<B: Backend>() {
        let store = B::fresh().await;
        let s = settings();
        let now = Utc::now().trunc_subsecs(3);
        // GIVEN a paid buyer with nothing due for weeks
        seed(
            &store,
            &Subscription::first(key(1), paid(1, now, 30), now, &s),
        )
        .await;
        assert!(store.due_subscriptions(now, 10).await.unwrap().is_empty());
        // WHEN they are marked for an invite (/status found them out)
        let marked = stored(&store, key(1)).await.invite_now(now, &s).unwrap();
        assert_eq!(
            store.write_subscription(&marked).await.unwrap(),
            Versioned::Written
        );
        // THEN the sweeper's read finds them, with the invite due
        let due = store.due_subscriptions(now, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        let found = due.into_iter().next().unwrap().unwrap();
        assert_eq!(found.due_task(now, &s), Some(Task::Invite));
        // AND once invited, they leave the index until their first reminder
        let claimed = found.claim(Task::Invite, "i", now, &s).unwrap();
        assert_eq!(
            store.write_subscription(&claimed).await.unwrap(),
            Versioned::Written
        );
        let (invited, _) = claimed.complete("i", TaskDone::Invited, now, &s).unwrap();
        assert_eq!(
            store.write_subscription(&invited).await.unwrap(),
            Versioned::Written
        );
        assert!(store.due_subscriptions(now, 10).await.unwrap().is_empty());
        assert!(!stored(&store, key(1)).await.needs_invite);
    }

    pub async fn unreadable_due_rows_are_parked_so_the_sweep_reaches_the_rest<B: Backend>() {
        use telepay_core::access::{SubscriptionSweeper, UNREADABLE_PARKED_FOR};
        use telepay_core::clock::ManualClock;
        use telepay_core::queue::memory::MemoryQueue;
        let store = Arc::new(B::fresh().await);
        let s = settings();
        let now = Utc::now().trunc_subsecs(3);
        // GIVEN five rows this version cannot read (a rollback), due before a readable
        // subscription whose removal is due
        for user in 1..=5 {
            store
                .plant_unreadable(user, now - TimeDelta::days(30))
                .await;
        }
        let expired = paid(9, now - TimeDelta::days(40), 30);
        seed(
            &*store,
            &Subscription::first(key(9), expired, now - TimeDelta::days(40), &s),
        )
        .await;
        // WHEN the sweeper runs, two rows a page
        let sweeper = SubscriptionSweeper::new(store.clone(), MemoryQueue::new(), s.clone(), 2)
            .with_clock(ManualClock::frozen_at(now));
        let report = sweeper
            .sweep_until(now + TimeDelta::seconds(60))
            .await
            .unwrap();
        // THEN it reaches the readable one, and every unreadable row is counted and parked
        assert_eq!(report.removals_queued, 1, "{report:?}");
        assert_eq!((report.unreadable, report.parked), (5, 5), "{report:?}");
        assert_eq!(sweeper.lifecycle_queue.take_tasks().len(), 1);
        // AND they are off the index for a day, then looked at again
        let due_now = store.due_subscriptions(now, 100).await.unwrap();
        assert!(due_now.iter().all(Result::is_ok), "{due_now:?}");
        let a_day_on = now + UNREADABLE_PARKED_FOR;
        let due_later = store.due_subscriptions(a_day_on, 100).await.unwrap();
        assert_eq!(due_later.iter().filter(|row| row.is_err()).count(), 5);
    }

    pub async fn the_due_index_finds_exactly_the_due_soonest_first<B: Backend>() {
        let store = B::fresh().await;
        let s = settings();
        let now = Utc::now().trunc_subsecs(3);
        // GIVEN one subscription past its end, one with a reminder due, one far off, and
        // one removed with its notice sent (off the index)
        let ended_long_ago = paid(1, now - TimeDelta::days(40), 30);
        let reminder_due = paid(2, now - TimeDelta::days(28), 30);
        let far_off = paid(3, now, 30);
        for (user, grant) in [(1, &ended_long_ago), (2, &reminder_due), (3, &far_off)] {
            let first = Subscription::first(key(user), grant.clone(), grant.accepted_at, &s);
            seed(&store, &first).await;
        }
        let removed = Subscription::first(key(4), paid(4, now - TimeDelta::days(40), 1), now, &s);
        let removed = removed.claim(Task::Removal, "r", now, &s).unwrap();
        let (removed, _) = removed.complete("r", TaskDone::Removed, now, &s).unwrap();
        let removed = removed.claim(Task::EndNotice, "n", now, &s).unwrap();
        let (removed, _) = removed
            .complete("n", TaskDone::NoticeSent, now, &s)
            .unwrap();
        assert_eq!(removed.next_due_at, None);
        seed(&store, &removed).await;

        // THEN the sweeper's read finds the first two, soonest due first
        let due: Vec<i64> = store
            .due_subscriptions(now, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|row| row.unwrap().key.user_id.get())
            .collect();
        assert_eq!(due, vec![1, 2]);
        let first_only = store.due_subscriptions(now, 1).await.unwrap();
        assert_eq!(first_only.len(), 1);

        // WHEN the sweeper queues the first and marks it, THEN it leaves the due set
        let marked = stored(&store, key(1)).await.requeued(now, &s);
        assert_eq!(
            store.write_subscription(&marked).await.unwrap(),
            Versioned::Written
        );
        let due = store.due_subscriptions(now, 100).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(
            store
                .due_subscriptions(now + s.requeue_quiet, 100)
                .await
                .unwrap()
                .len(),
            2,
            "and is due again once its quiet period is over"
        );
    }

    pub async fn operator_listings_select_expiring_expired_and_failed<B: Backend>() {
        let store = B::fresh().await;
        let s = settings();
        let now = Utc::now().trunc_subsecs(3);
        let expiring = Subscription::first(key(1), paid(1, now - TimeDelta::days(29), 30), now, &s);
        let expired = Subscription::first(key(2), paid(2, now - TimeDelta::days(31), 30), now, &s);
        let later = Subscription::first(key(3), paid(3, now, 30), now, &s);
        let failed = Subscription::first(key(4), paid(4, now - TimeDelta::days(40), 30), now, &s)
            .claim(Task::Removal, "r", now, &s)
            .unwrap()
            .complete(
                "r",
                TaskDone::RemovalFailed {
                    reason: "Bad Request: can't remove chat owner".into(),
                },
                now,
                &s,
            )
            .unwrap()
            .0;
        for record in [&expiring, &expired, &later, &failed] {
            seed(&store, record).await;
        }
        let users = |rows: Vec<telepay_core::store::ListedSubscription>| -> Vec<i64> {
            rows.into_iter()
                .map(|row| row.unwrap().key.user_id.get())
                .collect()
        };
        let within = SubscriptionFilter::ExpiringWithin {
            now,
            within: TimeDelta::days(3),
        };
        assert_eq!(
            users(store.list_subscriptions(within, 10).await.unwrap()),
            vec![1]
        );
        let over = SubscriptionFilter::Expired { now };
        assert_eq!(
            users(store.list_subscriptions(over, 10).await.unwrap()),
            vec![2]
        );
        let failing = SubscriptionFilter::RemovalFailed;
        assert_eq!(
            users(store.list_subscriptions(failing, 10).await.unwrap()),
            vec![4]
        );
        let all = users(
            store
                .list_subscriptions(SubscriptionFilter::All, 10)
                .await
                .unwrap(),
        );
        assert_eq!(all, vec![4, 2, 1, 3], "soonest expiry first");
        assert_eq!(
            store
                .list_subscriptions(SubscriptionFilter::All, 2)
                .await
                .unwrap()
                .len(),
            2
        );
    }

    pub async fn a_lifetime_of_payments_still_renews_reminds_and_is_removed<B: Backend>() {
        let store = B::fresh().await;
        let s = settings();
        let now = Utc::now().trunc_subsecs(3);
        // GIVEN a buyer with 10,000 payments and 2,000 extends behind them, paid until now
        let lifetime = lifetime_record(1, now, &s);
        let bytes = serde_json::to_vec(&lifetime).unwrap().len();
        assert!(
            bytes < telepay_core::subscription::bounds::MAX_RECORD_BYTES,
            "{bytes} bytes"
        );
        seed(&store, &lifetime).await;
        // WHEN they renew for 30 days
        let renewal = paid(9_000_000_001, now, 30);
        let granted = grant_time(&store, key(1), &renewal, now, &s).await.unwrap();
        // THEN it is a renewal, 30 days past the old end
        let expires_at = now + TimeDelta::days(30);
        assert_eq!(
            granted,
            Granted::Now {
                expires_at,
                renewal: true,
                crossed_removal: false
            }
        );
        // AND the reminder goes out 3 days ahead
        let remind_at = expires_at - TimeDelta::days(3);
        let current = stored(&store, key(1)).await;
        assert_eq!(
            current.due_task(remind_at, &s),
            Some(Task::Reminder {
                before_seconds: 3 * 86_400
            })
        );
        let claimed = current
            .claim(current.due_task(remind_at, &s).unwrap(), "r", remind_at, &s)
            .unwrap();
        assert_eq!(
            store.write_subscription(&claimed).await.unwrap(),
            Versioned::Written
        );
        let (reminded, _) = claimed
            .complete("r", TaskDone::ReminderSent, remind_at, &s)
            .unwrap();
        assert_eq!(
            store.write_subscription(&reminded).await.unwrap(),
            Versioned::Written
        );
        // AND after the end the removal is due, done once, and recorded
        let after = expires_at + TimeDelta::minutes(1);
        let current = stored(&store, key(1)).await;
        let mut task = current.due_task(after, &s);
        let mut current = current;
        // The 1-day reminder may come first; then the removal.
        while let Some(Task::Reminder { .. }) = task {
            let claimed = current.claim(task.unwrap(), "r", after, &s).unwrap();
            assert_eq!(
                store.write_subscription(&claimed).await.unwrap(),
                Versioned::Written
            );
            let (done, _) = claimed
                .complete("r", TaskDone::ReminderSent, after, &s)
                .unwrap();
            assert_eq!(
                store.write_subscription(&done).await.unwrap(),
                Versioned::Written
            );
            current = stored(&store, key(1)).await;
            task = current.due_task(after, &s);
        }
        assert_eq!(task, Some(Task::Removal));
        let claimed = current.claim(Task::Removal, "x", after, &s).unwrap();
        assert_eq!(
            store.write_subscription(&claimed).await.unwrap(),
            Versioned::Written
        );
        let (removed, _) = claimed.complete("x", TaskDone::Removed, after, &s).unwrap();
        assert_eq!(
            store.write_subscription(&removed).await.unwrap(),
            Versioned::Written
        );
        let last = stored(&store, key(1)).await;
        assert_eq!(last.status(after, &s), SubscriptionStatus::Removed);
        assert!(
            serde_json::to_vec(&last).unwrap().len()
                < telepay_core::subscription::bounds::MAX_RECORD_BYTES
        );
    }
}

/// A buyer's lifetime: 10,000 hourly payments and 2,000 operator extends (each with the
/// longest reason), as the core's rules leave the record.
fn lifetime_record(user: i64, ends_at: DateTime<Utc>, s: &LifecycleSettings) -> Subscription {
    let reason = "r".repeat(telepay_core::subscription::bounds::MAX_REASON_CHARS);
    let start = ends_at - TimeDelta::hours(12_000);
    let mut record: Option<Subscription> = None;
    for n in 0..12_000_i64 {
        let at = start + TimeDelta::hours(n);
        let extend = n % 6 == 5;
        let grant = TimeGrant {
            source: if extend {
                GrantSource::Operator(format!("{n:036}"))
            } else {
                GrantSource::Payment(5_000_000_000 + n)
            },
            access: AccessDuration::from_seconds(3600).unwrap(),
            ..paid(0, at, 1)
        };
        let next = match &record {
            None => Subscription::first(key(user), grant, at, s),
            Some(current) => current.grant(grant, at, s).unwrap(),
        };
        record = Some(if extend {
            next.with_reason(&reason)
        } else {
            next
        });
    }
    record.unwrap()
}

macro_rules! subscription_suite {
    ($($backend:ident: $store:ty),* $(,)?) => {$(
        mod $backend {
            use super::*;
            type Store = $store;
            #[tokio::test] async fn a_subscription_reads_back_exactly_and_a_first_version_is_written_once() { cases::a_subscription_reads_back_exactly_and_a_first_version_is_written_once::<Store>().await }
            #[tokio::test] async fn a_write_over_a_stale_version_changes_nothing() { cases::a_write_over_a_stale_version_changes_nothing::<Store>().await }
            #[tokio::test] async fn thirty_two_concurrent_grants_of_one_payment_count_once() { cases::thirty_two_concurrent_grants_of_one_payment_count_once::<Store>().await }
            #[tokio::test] async fn sixteen_racing_links_leave_one_live_and_a_short_lived_one_is_replaced_once() { cases::sixteen_racing_links_leave_one_live_and_a_short_lived_one_is_replaced_once::<Store>().await }
            #[tokio::test] async fn concurrent_grants_of_different_payments_all_count() { cases::concurrent_grants_of_different_payments_all_count::<Store>().await }
            #[tokio::test] async fn two_payments_give_the_same_expiry_in_either_order() { cases::two_payments_give_the_same_expiry_in_either_order::<Store>().await }
            #[tokio::test] async fn a_refund_takes_its_time_out_once() { cases::a_refund_takes_its_time_out_once::<Store>().await }
            #[tokio::test] async fn a_refund_ahead_of_a_first_grant_is_kept_and_the_grant_counts_nothing() { cases::a_refund_ahead_of_a_first_grant_is_kept_and_the_grant_counts_nothing::<Store>().await }
            #[tokio::test] async fn a_buyer_marked_for_an_invite_is_due_until_invited() { cases::a_buyer_marked_for_an_invite_is_due_until_invited::<Store>().await }
            #[tokio::test] async fn unreadable_due_rows_are_parked_so_the_sweep_reaches_the_rest() { cases::unreadable_due_rows_are_parked_so_the_sweep_reaches_the_rest::<Store>().await }
            #[tokio::test] async fn the_due_index_finds_exactly_the_due_soonest_first() { cases::the_due_index_finds_exactly_the_due_soonest_first::<Store>().await }
            #[tokio::test] async fn a_lifetime_of_payments_still_renews_reminds_and_is_removed() { cases::a_lifetime_of_payments_still_renews_reminds_and_is_removed::<Store>().await }
            #[tokio::test] async fn operator_listings_select_expiring_expired_and_failed() { cases::operator_listings_select_expiring_expired_and_failed::<Store>().await }
        }
    )*};
}

subscription_suite! {
    memory: MemoryStore,
    sqlite: SqliteStore,
    postgres: PostgresStore,
    dynamodb: DynamoDbStore,
}

/// DynamoDB's own limit: an item over 400 KB is refused as too large (never "try again"),
/// what today's records stay far below.
#[tokio::test]
async fn dynamodb_refuses_an_oversized_record_as_too_large() {
    let store = DynamoDbStore::fresh().await;
    let s = settings();
    let now = Utc::now().trunc_subsecs(3);
    // GIVEN a record holding 10,000 grants unfolded (what the record was before bounds)
    let mut oversized = Subscription::first(key(1), paid(1, now, 30), now, &s);
    oversized.grants = (0..10_000)
        .map(|n| paid(5_000_000_000 + n, now, 1))
        .collect();
    // WHEN it is written
    let refused = store.write_subscription(&oversized).await;
    // THEN the store says too large, and nothing is stored
    assert!(
        matches!(refused, Err(telepay_core::store::StoreError::TooLarge(_))),
        "{refused:?}"
    );
    assert!(store.get_subscription(key(1)).await.unwrap().is_none());
}
