//! Top-ups through the ingress decision, on the memory store and queue.

use serde_json::json;

use super::*;
use crate::directory::ChannelDirectory;
use crate::fixtures::SAMPLE_IPN;
use crate::ipn::PaymentId;
use crate::payment::PaymentReview;
use crate::queue::memory::MemoryQueue;
use crate::store::OperatorStore;
use crate::store::memory::MemoryStore;
use crate::webhook::{PaymentIngress, WebhookOutcome};

const BUYER: i64 = 6271402111;
const CHANNEL: i64 = -1003111266231;
const MONTH: u64 = 30 * 86_400;
const FIRST: i64 = 5077000001;

fn directory(partial: &str) -> ChannelDirectory {
    ChannelDirectory::from_json(&format!(
        r#"{{"price_tolerance_percent": 1, "channels": [{{"channel_id": {CHANNEL},
        "private_channel_id": {CHANNEL}, "title": "Demo", "partial": "{partial}",
        "tiers": [{{"price_amount": 10.0, "price_currency": "usd", "subscription_days": 30}}]}}]}}"#
    ))
    .unwrap()
}

fn ingress(partial: &str) -> PaymentIngress<MemoryStore, MemoryQueue> {
    PaymentIngress::new(directory(partial), MemoryStore::new(), MemoryQueue::new())
}

/// An IPN of `payment_id` asking `price` USD for `order_id`, of which `share` arrived
/// (by the crypto amounts NOWPayments states).
fn ipn(payment_id: i64, order_id: &str, status: &str, price: f64, share: f64) -> String {
    let mut ipn: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(SAMPLE_IPN).unwrap();
    for (field, value) in [
        ("payment_id", json!(payment_id)),
        ("order_id", json!(order_id)),
        ("payment_status", json!(status)),
        ("price_amount", json!(price)),
        ("pay_amount", json!(1.0)),
        ("actually_paid", json!(share)),
        ("outcome_amount", json!(share / 10.0)),
    ] {
        ipn.insert(field.into(), value);
    }
    serde_json::to_string(&ipn).unwrap()
}

fn order() -> String {
    format!("PGP-{BUYER}|{CHANNEL}|{MONTH}")
}

fn topup_order() -> String {
    format!("PGP-{BUYER}|{CHANNEL}|{MONTH}|{FIRST}")
}

async fn admit(ingress: &PaymentIngress<MemoryStore, MemoryQueue>, body: &str) -> WebhookOutcome {
    let parsed = Ipn::parse(body.as_bytes()).unwrap();
    ingress.admit(&parsed, body.as_bytes()).await.outcome
}

fn id(n: i64) -> PaymentId {
    PaymentId::new(n).unwrap()
}

async fn review(ingress: &PaymentIngress<MemoryStore, MemoryQueue>, n: i64) -> PaymentReview {
    ingress.store.get_review(id(n)).await.unwrap().unwrap()
}

#[tokio::test]
async fn a_short_payment_and_its_top_up_grant_the_tier_once_with_the_whole_price_and_payout() {
    let ingress = ingress("topup");
    let short = ipn(FIRST, &order(), "partially_paid", 10.0, 0.6);
    assert_eq!(admit(&ingress, &short).await, WebhookOutcome::Held);
    let purchase = ingress.store.purchase_of(id(FIRST)).await.unwrap().unwrap();
    assert_eq!((purchase.paid_total, missing_to_ask(&purchase)), (6.0, 4.0));
    assert_eq!(purchase.user_id, BUYER);

    let rest = ipn(FIRST + 1, &topup_order(), "finished", 4.0, 1.0);
    for _ in 0..3 {
        let outcome = admit(&ingress, &rest).await;
        assert!(
            matches!(outcome, WebhookOutcome::Queued | WebhookOutcome::Duplicate),
            "{outcome:?}"
        );
    }
    // One record, under the completing part, granting the whole tier at the whole price
    // and paying out both parts.
    let record = ingress
        .store
        .get_payment(id(FIRST + 1))
        .await
        .unwrap()
        .unwrap();
    let bought = record.purchase.unwrap();
    assert_eq!(bought.duration_seconds, Some(MONTH));
    assert_eq!(bought.price_amount, 10.0);
    assert!((bought.outcome_amount.unwrap() - 0.16).abs() < 1e-9);
    assert!(
        ingress
            .store
            .get_payment(id(FIRST))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        review(&ingress, FIRST).await.decision,
        Some(ReviewDecision::ToppedUp)
    );
    // The short payment's repeated IPN changes nothing.
    assert_eq!(admit(&ingress, &short).await, WebhookOutcome::Held);
    assert!(
        ingress
            .store
            .get_payment(id(FIRST))
            .await
            .unwrap()
            .is_none()
    );
    let queued = ingress.processor_queue.bodies();
    assert!(
        queued
            .iter()
            .all(|body| body.contains(&(FIRST + 1).to_string()))
    );
}

#[tokio::test]
async fn a_short_top_up_is_held_with_the_new_remainder_and_settled_when_a_second_completes() {
    let ingress = ingress("topup");
    admit(&ingress, &ipn(FIRST, &order(), "partially_paid", 10.0, 0.6)).await;
    // 2 of the 4 missing arrive: held so the buyer hears 2 are still missing.
    let half = ipn(FIRST + 1, &topup_order(), "partially_paid", 4.0, 0.5);
    assert_eq!(admit(&ingress, &half).await, WebhookOutcome::Held);
    let purchase = ingress.store.purchase_of(id(FIRST)).await.unwrap().unwrap();
    assert_eq!((purchase.paid_total, missing_to_ask(&purchase)), (8.0, 2.0));
    assert!(purchase.is_open());
    assert_eq!(
        review(&ingress, FIRST + 1).await.reason,
        HoldReason::Underpaid
    );
    // It opened no purchase of its own.
    assert!(
        ingress
            .store
            .purchase_of(id(FIRST + 1))
            .await
            .unwrap()
            .is_none()
    );

    let last = ipn(FIRST + 2, &topup_order(), "finished", 2.0, 1.0);
    assert_eq!(admit(&ingress, &last).await, WebhookOutcome::Queued);
    for part in [FIRST, FIRST + 1] {
        assert_eq!(
            review(&ingress, part).await.decision,
            Some(ReviewDecision::ToppedUp),
            "{part}"
        );
    }
    // The short top-up's repeat is counted already, never granted.
    assert_eq!(admit(&ingress, &half).await, WebhookOutcome::Duplicate);
    assert!(
        ingress
            .store
            .get_payment(id(FIRST + 1))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_top_up_of_a_purchase_an_operator_settled_or_of_no_purchase_is_held_for_a_person() {
    let ingress = ingress("topup");
    admit(&ingress, &ipn(FIRST, &order(), "partially_paid", 10.0, 0.6)).await;
    ingress
        .store
        .decide_review(id(FIRST), ReviewDecision::Approved, chrono::Utc::now())
        .await
        .unwrap();
    let rest = ipn(FIRST + 1, &topup_order(), "finished", 4.0, 1.0);
    assert_eq!(admit(&ingress, &rest).await, WebhookOutcome::Held);
    assert_eq!(
        review(&ingress, FIRST + 1).await.reason,
        HoldReason::PriceMismatch
    );
    assert!(
        ingress
            .store
            .get_payment(id(FIRST + 1))
            .await
            .unwrap()
            .is_none()
    );

    let nowhere = ipn(
        FIRST + 5,
        &format!("PGP-{BUYER}|{CHANNEL}|{MONTH}|42"),
        "finished",
        4.0,
        1.0,
    );
    assert_eq!(admit(&ingress, &nowhere).await, WebhookOutcome::Held);
    // Another buyer cannot top up this buyer's purchase.
    let ingress = self::ingress("topup");
    admit(&ingress, &ipn(FIRST, &order(), "partially_paid", 10.0, 0.6)).await;
    let stranger = ipn(
        FIRST + 1,
        &format!("PGP-77|{CHANNEL}|{MONTH}|{FIRST}"),
        "finished",
        4.0,
        1.0,
    );
    assert_eq!(admit(&ingress, &stranger).await, WebhookOutcome::Held);
    assert!(
        ingress
            .store
            .purchase_of(id(FIRST))
            .await
            .unwrap()
            .unwrap()
            .is_open()
    );
}

#[tokio::test]
async fn a_channel_that_holds_or_prorates_opens_no_purchase() {
    for partial in ["hold", "prorate"] {
        let ingress = ingress(partial);
        admit(&ingress, &ipn(FIRST, &order(), "partially_paid", 10.0, 0.6)).await;
        assert!(
            ingress
                .store
                .purchase_of(id(FIRST))
                .await
                .unwrap()
                .is_none(),
            "{partial}"
        );
    }
}

#[tokio::test]
async fn an_operator_settles_a_purchase_by_its_first_payment_never_by_a_top_up() {
    let ingress = ingress("topup");
    admit(&ingress, &ipn(FIRST, &order(), "partially_paid", 10.0, 0.6)).await;
    admit(
        &ingress,
        &ipn(FIRST + 1, &topup_order(), "partially_paid", 4.0, 0.5),
    )
    .await;
    let operator = crate::operator::Operator::new(&ingress.store, crate::clock::system_clock());
    let refused = operator
        .approve(
            id(FIRST + 1),
            &ingress.catalog.now().directory,
            &ingress.processor_queue,
        )
        .await
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        format!(
            "payment {} is a top-up of purchase {FIRST}: settle the purchase with telepay reviews approve {FIRST}",
            FIRST + 1
        )
    );
    operator
        .approve(
            id(FIRST),
            &ingress.catalog.now().directory,
            &ingress.processor_queue,
        )
        .await
        .unwrap();
    // Approved by hand: the purchase is closed, a later top-up is held for a person.
    assert!(
        !ingress
            .store
            .purchase_of(id(FIRST))
            .await
            .unwrap()
            .unwrap()
            .is_open()
    );
    let late = ipn(FIRST + 2, &topup_order(), "finished", 2.0, 1.0);
    assert_eq!(admit(&ingress, &late).await, WebhookOutcome::Held);
    assert_eq!(
        review(&ingress, FIRST + 2).await.reason,
        HoldReason::PriceMismatch
    );
}

#[tokio::test]
async fn a_short_top_up_held_as_another_part_completes_the_purchase_is_settled_by_its_retry() {
    use crate::store::{IngressStore, PurchasePart};
    let ingress = ingress("topup");
    admit(&ingress, &ipn(FIRST, &order(), "partially_paid", 10.0, 0.6)).await;
    // Part A's first delivery counts it (2 of the 4 missing) and crashes before its hold.
    let part_a = ipn(FIRST + 1, &topup_order(), "partially_paid", 4.0, 0.5);
    let part = PurchasePart {
        payment_id: id(FIRST + 1),
        paid: 2.0,
        outcome: None,
    };
    ingress.store.add_part(id(FIRST), &part).await.unwrap();
    // Part B completes the purchase meanwhile.
    let part_b = ipn(FIRST + 2, &topup_order(), "finished", 2.0, 1.0);
    assert_eq!(admit(&ingress, &part_b).await, WebhookOutcome::Queued);
    // A late write of A's hold (the crashed invocation's, or a slow one's).
    let hold = PaymentReview {
        payment_id: id(FIRST + 1),
        reason: HoldReason::Underpaid,
        ipn: part_a.clone(),
        received_at: chrono::Utc::now(),
        decision: None,
        decided_at: None,
    };
    ingress.store.hold_for_review(&hold).await.unwrap();
    // NOWPayments' retry of A: counted already, and its hold settled with the purchase.
    assert_eq!(admit(&ingress, &part_a).await, WebhookOutcome::Duplicate);
    assert_eq!(
        review(&ingress, FIRST + 1).await.decision,
        Some(ReviewDecision::ToppedUp)
    );
    assert!(
        ingress
            .store
            .get_payment(id(FIRST + 1))
            .await
            .unwrap()
            .is_none()
    );
}

/// The race a CI run of the Postgres conformance case caught: part A's first delivery
/// finds the purchase short and holds A; part B's add then makes it complete, but B has
/// not settled it yet when A's second delivery arrives, finds it complete and settles it
/// itself. A's record grants the tier, and A's own earlier hold is settled with it, not
/// left for a person. (Before the fix, only the other parts' holds were settled.)
#[tokio::test]
async fn a_part_held_short_that_then_completes_the_purchase_has_its_own_hold_settled() {
    use crate::store::PurchasePart;
    let ingress = ingress("topup");
    admit(&ingress, &ipn(FIRST, &order(), "partially_paid", 10.0, 0.6)).await;
    let part_a = ipn(FIRST + 1, &topup_order(), "partially_paid", 4.0, 0.5);
    assert_eq!(admit(&ingress, &part_a).await, WebhookOutcome::Held);
    // B's add lands (its settle has not run yet).
    let b = PurchasePart {
        payment_id: id(FIRST + 2),
        paid: 2.0,
        outcome: None,
    };
    ingress.store.add_part(id(FIRST), &b).await.unwrap();
    // A's second delivery: the purchase is complete, and A settles it.
    assert_eq!(admit(&ingress, &part_a).await, WebhookOutcome::Queued);
    assert!(
        ingress
            .store
            .get_payment(id(FIRST + 1))
            .await
            .unwrap()
            .is_some()
    );
    for part in [FIRST, FIRST + 1] {
        assert_eq!(
            review(&ingress, part).await.decision,
            Some(ReviewDecision::ToppedUp),
            "{part}"
        );
    }
}
