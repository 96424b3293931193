//! The operator's workflows on the memory store.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::*;
use crate::clock::ManualClock;
use crate::directory::Admission;
use crate::fixtures::{SAMPLE_DIRECTORY, SAMPLE_IPN, sample_record};
use crate::payment::{HoldReason, PaymentReview, Purchase};
use crate::payment::{RecordState, ReviewDecision};
use crate::queue::memory::MemoryQueue;
use crate::queue::{InviteRequest, ProcessorMessage};
use crate::store::memory::MemoryStore;
use crate::store::{IngressStore, Resolution};
use crate::telegram::InviteLink;
use crate::telegram::TelegramInviter;

fn at() -> DateTime<Utc> {
    "2026-11-29T12:00:00Z".parse().unwrap()
}

fn operator() -> Operator<'static, MemoryStore> {
    // Leaked: a test's store lives as long as the test.
    let store = Box::leak(Box::new(MemoryStore::new()));
    Operator::new(store, ManualClock::frozen_at(at()))
}

fn directory() -> ChannelDirectory {
    ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap()
}

fn id(n: i64) -> PaymentId {
    PaymentId::new(n).unwrap()
}

/// Records the links it was asked to revoke.
#[derive(Default)]
struct Revocations(std::sync::Mutex<Vec<(i64, String)>>);

impl TelegramInviter for Revocations {
    async fn is_member(&self, _: i64, _: i64) -> Result<bool, TelegramError> {
        unreachable!("operators never ask about membership")
    }
    async fn create_invite_link(
        &self,
        _: i64,
        _: &str,
        _: DateTime<Utc>,
        _: Admission,
    ) -> Result<InviteLink, TelegramError> {
        unreachable!("operators never create links")
    }
    async fn revoke_invite_link(&self, chat_id: i64, link: &str) -> Result<(), TelegramError> {
        self.0.lock().unwrap().push((chat_id, link.to_owned()));
        Ok(())
    }
    async fn send_message(&self, _: i64, _: &str) -> Result<(), TelegramError> {
        unreachable!("operators never message buyers")
    }
}

#[tokio::test]
async fn attention_lists_each_stage_once_with_its_age() {
    let op = operator();
    let old = |n: i64| {
        let mut record = sample_record(n);
        record.created_at = at() - TimeDelta::minutes(90);
        record
    };
    op.store.put_payment(old(1));
    let mut processed = old(2);
    processed.processed = true;
    processed.invite_lease_until = Some(at() + TimeDelta::seconds(30));
    op.store.put_payment(processed);
    let mut failed = old(3);
    failed.state = RecordState::InviteFailed;
    failed.invite_failure_reason = Some("blocked".into());
    op.store.put_payment(failed);
    let mut done = old(4);
    done.processed = true;
    done.telegram_invite_sent = true;
    op.store.put_payment(done);

    let lines = op.attention(Duration::ZERO, 10).await.unwrap();
    let stages: Vec<_> = lines.iter().map(|l| (l.payment_id, l.stage)).collect();
    assert_eq!(
        stages,
        [
            (1, "not_processed"),
            (2, "invite_not_sent"),
            (3, "invite_failed")
        ]
    );
    assert_eq!(lines[1].leased, Some(true));
    assert_eq!(lines[0].age_minutes, Some(90));
}

fn bot<'a>(
    telegram: &'a Revocations,
    directory: &'a ChannelDirectory,
) -> LinkRevoker<'a, Revocations> {
    LinkRevoker {
        telegram: Some(telegram),
        directory: Some(directory),
    }
}

const NO_BOT: LinkRevoker<'static, Revocations> = LinkRevoker {
    telegram: None,
    directory: None,
};

fn with_link(n: i64, link: &str) -> ProcessedPayment {
    let mut record = sample_record(n);
    record.processed = true;
    record.telegram_invite_link = Some(link.into());
    record
}

#[tokio::test]
async fn replay_reopens_a_failed_invite_and_refuses_a_sent_one() {
    let op = operator();
    let queue = MemoryQueue::new();
    let mut failed = sample_record(3);
    failed.state = RecordState::InviteFailed;
    op.store.put_payment(failed);
    op.replay(id(3), NO_BOT, &queue).await.unwrap();
    assert_eq!(op.store.payment(3).unwrap().state, RecordState::Accepted);
    let request: InviteRequest = serde_json::from_str(&queue.bodies()[0]).unwrap();
    assert_eq!(request.payment_id, id(3));

    let mut sent = sample_record(4);
    sent.telegram_invite_sent = true;
    op.store.put_payment(sent);
    assert!(matches!(
        op.replay(id(4), NO_BOT, &queue).await,
        Err(OperatorError::AlreadySent(4))
    ));
    assert!(matches!(
        op.replay(id(5), NO_BOT, &queue).await,
        Err(OperatorError::PaymentNotFound(5))
    ));
}

#[tokio::test]
async fn replaying_a_failed_invite_revokes_the_link_it_may_have_delivered() {
    // GIVEN an invite that failed after its link was stored (it may have reached someone)
    let op = operator();
    let queue = MemoryQueue::new();
    let mut failed = with_link(6, "https://t.me/+maybe-delivered");
    failed.state = RecordState::InviteFailed;
    op.store.put_payment(failed);

    // WHEN replayed without a bot, THEN it is refused and nothing changes
    assert!(matches!(
        op.replay(id(6), NO_BOT, &queue).await,
        Err(OperatorError::NoBot(6))
    ));
    assert_eq!(
        op.store.payment(6).unwrap().state,
        RecordState::InviteFailed
    );
    assert!(queue.bodies().is_empty());

    // WHEN replayed with the bot, THEN that link is revoked, cleared, and a new invite queued
    let telegram = Revocations::default();
    let revoked = op
        .replay(id(6), bot(&telegram, &directory()), &queue)
        .await
        .unwrap();
    assert_eq!(revoked.as_deref(), Some("https://t.me/+maybe-delivered"));
    assert_eq!(telegram.0.lock().unwrap().len(), 1);
    let record = op.store.payment(6).unwrap();
    assert_eq!(record.state, RecordState::Accepted);
    assert_eq!(record.telegram_invite_link, None);
    assert_eq!(queue.bodies().len(), 1);
}

#[tokio::test]
async fn reissue_revokes_in_the_purchased_channel_and_queues_a_new_invite() {
    let op = operator();
    let queue = MemoryQueue::new();
    let mut sent = with_link(5, "https://t.me/+lost");
    sent.telegram_invite_sent = true;
    sent.purchase.as_mut().unwrap().private_channel_id = -1007777;
    op.store.put_payment(sent);

    assert!(matches!(
        op.reissue(id(5), NO_BOT, &queue).await,
        Err(OperatorError::NoBot(5))
    ));
    assert!(
        op.store.payment(5).unwrap().telegram_invite_sent,
        "untouched"
    );
    let telegram = Revocations::default();
    let revoked = op
        .reissue(id(5), bot(&telegram, &directory()), &queue)
        .await
        .unwrap();
    assert_eq!(revoked.as_deref(), Some("https://t.me/+lost"));
    assert_eq!(
        *telegram.0.lock().unwrap(),
        [(-1007777, "https://t.me/+lost".to_owned())],
        "the channel the buyer paid for, not the directory's current one"
    );
    let record = op.store.payment(5).unwrap();
    assert!(!record.telegram_invite_sent && record.telegram_invite_link.is_none());
    assert_eq!(queue.bodies().len(), 1);
}

#[tokio::test]
async fn reissue_while_a_worker_holds_the_payment_changes_and_revokes_nothing() {
    // GIVEN a worker holding a live lease (it may be sending the stored link right now)
    let op = operator();
    let queue = MemoryQueue::new();
    let mut leased = with_link(7, "https://t.me/+in-flight");
    leased.invite_lease_token = Some("worker".into());
    leased.invite_lease_until = Some(at() + TimeDelta::seconds(30));
    op.store.put_payment(leased);

    // WHEN re-issued, THEN it is refused before any revoke: the link the worker sends works
    let telegram = Revocations::default();
    assert!(matches!(
        op.reissue(id(7), bot(&telegram, &directory()), &queue)
            .await,
        Err(OperatorError::Leased(7))
    ));
    assert!(telegram.0.lock().unwrap().is_empty());
    assert_eq!(
        op.store.payment(7).unwrap().telegram_invite_link.as_deref(),
        Some("https://t.me/+in-flight")
    );
    assert!(queue.bodies().is_empty());
}

fn held(n: i64) -> PaymentReview {
    PaymentReview {
        payment_id: id(n),
        reason: HoldReason::PriceMismatch,
        ipn: SAMPLE_IPN
            .replace("\"price_amount\":3.21", "\"price_amount\":1.5")
            .replace("4492847470", &n.to_string()),
        received_at: at(),
        decision: None,
        decided_at: None,
    }
}

#[tokio::test]
async fn approve_decides_records_and_queues_once_and_reject_is_then_refused() {
    let op = operator();
    let queue = MemoryQueue::new();
    op.store.hold_for_review(&held(4492847470)).await.unwrap();
    op.approve(id(4492847470), &directory(), &queue)
        .await
        .unwrap();
    assert_eq!(
        op.store.payment(4492847470).unwrap().state,
        RecordState::Accepted
    );
    assert_eq!(
        op.store.review(4492847470).unwrap().decision,
        Some(ReviewDecision::Approved)
    );
    assert_eq!(queue.bodies().len(), 1);
    let again = op.approve(id(4492847470), &directory(), &queue).await;
    assert_eq!(
        again.unwrap_err().to_string(),
        "payment 4492847470 was already approved"
    );
    assert_eq!(
        op.reject(id(4492847470)).await.unwrap_err().to_string(),
        "payment 4492847470 is already granted: it cannot be rejected"
    );
    assert!(matches!(
        op.reject(id(9)).await,
        Err(OperatorError::ReviewNotFound(9))
    ));
}

#[tokio::test]
async fn an_approved_order_gets_the_length_of_the_tier_it_was_ordered_at() {
    // GIVEN a held payment whose order names a tier 90 days long, at a price matching none
    let op = operator();
    let queue = MemoryQueue::new();
    let mut review = held(11);
    review.ipn = review.ipn.replace(
        "PGP-6271402111|-1003111266231",
        &format!("PGP-6271402111|-1003111266231|{}", 90 * 86_400),
    );
    let directory = ChannelDirectory::from_json(
        r#"{"channels": [{"channel_id": -1003111266231, "private_channel_id": -1003111266231,
            "tiers": [{"price_amount": 3.21, "price_currency": "usd", "subscription_days": 30},
                      {"price_amount": 8, "price_currency": "usd", "subscription_days": 90}]}]}"#,
    )
    .unwrap();
    op.store.hold_for_review(&review).await.unwrap();
    // WHEN an operator approves it
    op.approve(id(11), &directory, &queue).await.unwrap();
    // THEN the buyer gets the 90 days they ordered, not the first tier's 30
    let purchase = op.store.payment(11).unwrap().purchase.unwrap();
    assert_eq!(purchase.subscription_days, 90);
}

#[tokio::test]
async fn an_approval_that_stopped_after_deciding_is_completed_by_its_retry() {
    // GIVEN an approval that recorded its decision and then stopped (a crash, a store error)
    let op = operator();
    let queue = MemoryQueue::new();
    op.store.hold_for_review(&held(8)).await.unwrap();
    op.store
        .decide_review(id(8), ReviewDecision::Approved, at())
        .await
        .unwrap();
    assert!(op.store.payment(8).is_none());

    // WHEN approved again, THEN the payment is granted and queued, once
    op.approve(id(8), &directory(), &queue).await.unwrap();
    assert_eq!(op.store.payment(8).unwrap().state, RecordState::Accepted);
    assert_eq!(queue.bodies().len(), 1);
}

#[tokio::test]
async fn approving_a_held_payment_nowpayments_refunded_meanwhile_is_refused() {
    // GIVEN a first-time buyer's payment held for review, then refunded by NOWPayments
    let op = operator();
    let queue = MemoryQueue::new();
    op.store.hold_for_review(&held(10)).await.unwrap();
    let key = crate::subscription::SubscriptionKey::new(
        crate::order::UserId::new(crate::fixtures::SAMPLE_USER_ID).unwrap(),
        crate::fixtures::SAMPLE_CHANNEL_ID,
    );
    let source = crate::subscription::GrantSource::Payment(10);
    let settings = crate::subscription::LifecycleSettings::default();
    crate::access::refund_time(op.store, key, &source, at(), &settings)
        .await
        .unwrap();
    // WHEN an operator approves it
    let approved = op.approve(id(10), &directory(), &queue).await;
    // THEN it is refused with why, and nothing is decided, recorded or queued
    assert_eq!(
        approved.unwrap_err().to_string(),
        "payment 10 was refunded by NOWPayments: nothing to grant; reject it to close the review"
    );
    assert_eq!(op.store.review(10).unwrap().decision, None);
    assert!(op.store.payment(10).is_none());
    assert!(queue.bodies().is_empty());
}

#[tokio::test]
async fn a_rejected_payment_is_never_granted_by_a_later_approval() {
    let op = operator();
    let queue = MemoryQueue::new();
    op.store.hold_for_review(&held(9)).await.unwrap();
    op.reject(id(9)).await.unwrap();
    assert_eq!(
        op.approve(id(9), &directory(), &queue)
            .await
            .unwrap_err()
            .to_string(),
        "payment 9 was already rejected"
    );
    assert!(op.store.payment(9).is_none());
    assert!(queue.bodies().is_empty());
}

#[test]
fn the_stored_purchase_decides_the_channel_and_the_directory_serves_seed_rows() {
    let directory = directory();
    let mut bought = sample_record(1);
    bought.purchase.as_mut().unwrap().private_channel_id = -1007777;
    assert_eq!(bought.private_channel(Some(&directory)), Some(-1007777));
    let mut seed = sample_record(2);
    seed.purchase = None;
    let from_directory = directory
        .channel(seed.channel_id)
        .map(|e| e.private_channel_id);
    assert!(from_directory.is_some());
    assert_eq!(seed.private_channel(Some(&directory)), from_directory);
    assert_eq!(seed.private_channel(None), None);
}

#[tokio::test]
async fn a_seed_row_needing_an_operator_is_listed_and_settled_either_way() {
    // GIVEN two seed rows never processed and without a purchase, listed for an operator
    let op = operator();
    let queue = MemoryQueue::new();
    for n in [61, 62] {
        let mut seed = sample_record(n);
        seed.purchase = None;
        seed.created_at = at() - TimeDelta::days(400);
        op.store.put_payment(seed);
    }
    let lines = op.attention(Duration::ZERO, 10).await.unwrap();
    let stages: Vec<_> = lines.iter().map(|l| (l.payment_id, l.stage)).collect();
    assert_eq!(stages, [(61, "needs_operator"), (62, "needs_operator")]);

    // WHEN one gets the purchase it lacks, THEN it is queued for processing with it
    let purchase = Purchase {
        private_channel_id: -1007777,
        subscription_days: 30,
        duration_seconds: None,
        price_amount: 3.21,
        price_currency: "usd".into(),
        outcome_amount: None,
        outcome_currency: None,
        overpaid_by: None,
        prorated_from_seconds: None,
        recovered: false,
        star_charge_id: None,
    };
    // A length of 0 or over ten years would invite a member never removed: refused,
    // nothing written, nothing queued.
    for days in [0, 3661] {
        let endless = Purchase {
            subscription_days: days,
            duration_seconds: Some(u64::from(days) * 86_400),
            ..purchase.clone()
        };
        let refused = op
            .resolve(id(61), &Resolution::SupplyPurchase(endless), &queue)
            .await;
        assert!(
            matches!(refused, Err(OperatorError::BadLength(d)) if d == days),
            "{refused:?}"
        );
    }
    assert!(queue.bodies().is_empty());
    let stages: Vec<_> = op
        .attention(Duration::ZERO, 10)
        .await
        .unwrap()
        .iter()
        .map(|l| (l.payment_id, l.stage))
        .collect();
    assert_eq!(stages, [(61, "needs_operator"), (62, "needs_operator")]);
    op.resolve(
        id(61),
        &Resolution::SupplyPurchase(purchase.clone()),
        &queue,
    )
    .await
    .unwrap();
    let message: ProcessorMessage = serde_json::from_str(&queue.bodies()[0]).unwrap();
    assert_eq!(message.purchase, purchase);

    // WHEN the other was handled outside, THEN it is done and nothing is queued
    op.resolve(id(62), &Resolution::AlreadyHandled, &queue)
        .await
        .unwrap();
    let handled = op.store.payment(62).unwrap();
    assert!(handled.processed && handled.telegram_invite_sent);
    assert_eq!(queue.bodies().len(), 1);

    // AND neither needs an operator any more
    assert!(
        op.attention(Duration::ZERO, 10)
            .await
            .unwrap()
            .iter()
            .all(|l| l.stage != "needs_operator")
    );
    assert!(matches!(
        op.resolve(id(62), &Resolution::AlreadyHandled, &queue)
            .await,
        Err(OperatorError::NoOperatorNeeded(62))
    ));
}

#[tokio::test]
async fn ending_a_removal_failed_subscription_retries_the_removal_now() {
    use crate::access::LifecycleMessage;
    use crate::order::UserId;
    use crate::subscription::{
        AccessDuration, GrantSource, LifecycleSettings, Subscription, SubscriptionKey,
        SubscriptionStatus, Task, TaskDone, TimeGrant,
    };
    let operator = operator();
    let settings = LifecycleSettings::default();
    let key = SubscriptionKey::new(UserId::new(7).unwrap(), -1002222222222);
    // GIVEN a removal Telegram refused for good (the member was an admin)
    let grant = TimeGrant::new(
        GrantSource::Payment(1),
        at() - TimeDelta::days(31),
        AccessDuration::from_days(30).unwrap(),
    );
    let failed = Subscription::first(key, grant, at() - TimeDelta::days(31), &settings)
        .claim(Task::Removal, "r", at(), &settings)
        .unwrap()
        .complete(
            "r",
            TaskDone::RemovalFailed {
                reason: "Bad Request: user is an administrator of the chat".into(),
            },
            at(),
            &settings,
        )
        .unwrap()
        .0;
    let mut stored = failed.clone();
    stored.version = 1;
    let _ = crate::store::SubscriptionStore::write_subscription(operator.store, &stored)
        .await
        .unwrap();
    assert_eq!(
        stored.status(at(), &settings),
        SubscriptionStatus::RemovalFailed
    );

    // WHEN the operator, having taken the admin rights away, ends it
    let queue = MemoryQueue::new();
    let ended = operator
        .end(key, "admin rights removed", &settings, &queue)
        .await
        .unwrap();

    // THEN the removal is due and queued at once, with the reason in the history
    assert_eq!(ended.status(at(), &settings), SubscriptionStatus::Expired);
    let queued: LifecycleMessage = serde_json::from_str(&queue.task_bodies()[0]).unwrap();
    assert_eq!(queued.task, Task::Removal);
    assert_eq!(
        ended.history.last().unwrap().reason.as_deref(),
        Some("admin rights removed")
    );
    // An unknown subscription is a clear error.
    let nobody = SubscriptionKey::new(UserId::new(8).unwrap(), -1002222222222);
    assert!(matches!(
        operator.end(nobody, "x", &settings, &queue).await,
        Err(OperatorError::SubscriptionNotFound(_))
    ));
}
