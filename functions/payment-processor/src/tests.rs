//! payment-processor through its handler, on the in-memory store and queues.

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use telepay_core::fixtures::{
    SAMPLE_CHANNEL_ID, SAMPLE_IPN_SECRET, SAMPLE_USER_ID, sample_ipn_with, sample_record,
};
use telepay_core::payment::{ProcessedPayment, Purchase, RecordState};
use telepay_core::processor::PaymentProcessor;
use telepay_core::queue::memory::MemoryQueue;
use telepay_core::queue::{InviteRequest, PayoutInstruction};
use telepay_core::signature::IpnSecret;
use telepay_core::store::memory::MemoryStore;
use telepay_shared::sqs_event::{sqs_batch, sqs_message};

use super::*;

mod stars;

type Processor = PaymentProcessor<MemoryStore, MemoryQueue, MemoryQueue>;

fn processor() -> Processor {
    let processor = empty_processor();
    for id in [1, 2] {
        processor.store.put_payment(record(id));
    }
    processor
}

/// With np-webhook's IPN secret, as deployed.
fn empty_processor() -> Processor {
    PaymentProcessor::new(MemoryStore::new(), MemoryQueue::new(), MemoryQueue::new())
        .with_ipn_secret(IpnSecret::new(SAMPLE_IPN_SECRET).unwrap())
}

fn record(payment_id: i64) -> ProcessedPayment {
    sample_record(payment_id)
}

fn purchase() -> Purchase {
    sample_record(1).purchase.unwrap()
}

fn body(payment_id: i64) -> String {
    serde_json::json!({
        "v": 1, "payment_id": payment_id, "user_id": SAMPLE_USER_ID, "channel_id": SAMPLE_CHANNEL_ID,
        "purchase": purchase(),
    })
    .to_string()
}

async fn invoke<L: telepay_core::telegram::StarsLedger>(
    processor: &PaymentProcessor<MemoryStore, MemoryQueue, MemoryQueue, L>,
    bodies: &[String],
) -> Vec<String> {
    let records = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| sqs_message(format!("m{i}"), format!("r{i}"), b.clone(), 1))
        .collect();
    let response = handle(processor, sqs_batch(records, Duration::from_secs(30)))
        .await
        .unwrap();
    response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect()
}

#[tokio::test]
async fn a_payment_gets_one_payout_instruction_one_invite_request_and_is_marked_processed() {
    let processor = processor();
    assert!(invoke(&processor, &[body(1)]).await.is_empty());

    let payouts = processor.payout_queue.bodies();
    assert_eq!(payouts.len(), 1);
    let payout: PayoutInstruction = serde_json::from_str(&payouts[0]).unwrap();
    assert_eq!(
        payout.payment_id.get(),
        1,
        "the key the payout consumer dedupes on"
    );
    assert_eq!(payout.outcome_amount, Some(0.001408));
    assert_eq!(payout.outcome_currency.as_deref(), Some("eth"));

    let invites = processor.invite_queue.bodies();
    let invite: InviteRequest = serde_json::from_str(&invites[0]).unwrap();
    assert_eq!(
        (invite.payment_id.get(), invite.user_id.get()),
        (1, SAMPLE_USER_ID)
    );

    let stored = processor.store.payment(1).unwrap();
    assert!(stored.processed && stored.processed_at.is_some());
}

#[tokio::test]
async fn a_redelivery_after_the_mark_is_acknowledged_and_sends_nothing_again() {
    let processor = processor();
    invoke(&processor, &[body(1)]).await;
    let marked_at = processor.store.payment(1).unwrap().processed_at;
    assert!(invoke(&processor, &[body(1)]).await.is_empty());
    assert_eq!(
        processor.store.payment(1).unwrap().processed_at,
        marked_at,
        "mark kept"
    );
    // The first write finds it processed: no second payout instruction or invite.
    assert_eq!(processor.payout_queue.bodies().len(), 1);
    assert_eq!(processor.invite_queue.bodies().len(), 1);
}

/// Anyone able to send to the processor queue could write a message for a payment that
/// was never accepted: it grants no time and queues no payout or invite, and is left to
/// the dead-letter queue.
#[tokio::test]
async fn a_message_no_accepted_payment_stands_for_grants_nothing_and_pays_nothing() {
    let processor = processor();
    // Reported failed: it walks to the dead-letter queue, where the owner sees it.
    assert_eq!(
        invoke(&processor, &[body(99)]).await,
        vec!["m0".to_string()]
    );
    assert!(processor.payout_queue.bodies().is_empty(), "no payout");
    assert!(processor.invite_queue.bodies().is_empty(), "no invite");
    assert!(subscription(&processor).await.is_none(), "no time");
    assert!(processor.store.payment(99).is_none(), "no record made");
}

/// A message with other facts than its record's (a longer tier, another buyer) is acted
/// on as the record says.
#[tokio::test]
async fn the_stored_purchase_and_buyer_are_acted_on_not_the_messages() {
    let processor = processor();
    let mut forged: serde_json::Value = serde_json::from_str(&body(1)).unwrap();
    forged["purchase"]["subscription_days"] = 3660.into();
    forged["purchase"]["duration_seconds"] = (3660_u64 * 86_400).into();
    forged["purchase"]["outcome_amount"] = 99.0.into();
    forged["user_id"] = 4242.into();
    assert!(invoke(&processor, &[forged.to_string()]).await.is_empty());
    let stored = processor.store.payment(1).unwrap();
    let subscription = subscription(&processor).await.expect("the stored buyer's");
    assert_eq!(
        subscription.expires_at,
        stored.created_at + chrono::TimeDelta::days(30),
        "the stored 30 days"
    );
    let payout: PayoutInstruction =
        serde_json::from_str(&processor.payout_queue.bodies()[0]).unwrap();
    assert_eq!(payout.outcome_amount, Some(0.001408), "the stored amount");
    let invite: InviteRequest = serde_json::from_str(&processor.invite_queue.bodies()[0]).unwrap();
    assert_eq!(invite.user_id.get(), SAMPLE_USER_ID);
}

#[tokio::test]
async fn a_poison_message_fails_alone_and_its_neighbours_are_processed() {
    let processor = processor();
    let bodies = [
        body(1),
        "{\"payment_id\":\"oops\"".into(),
        body(2).replace("\"v\":1", "\"v\":7"),
        body(2),
    ];
    assert_eq!(
        invoke(&processor, &bodies).await,
        vec!["m1".to_string(), "m2".to_string()]
    );
    assert!(processor.store.payment(1).unwrap().processed);
    assert!(processor.store.payment(2).unwrap().processed);
    assert_eq!(processor.invite_queue.bodies().len(), 2);
}

#[tokio::test]
async fn a_failed_send_leaves_the_payment_unmarked_for_the_retry() {
    let processor = processor();
    processor.invite_queue.set_unavailable(true);
    assert_eq!(invoke(&processor, &[body(1)]).await, vec!["m0".to_string()]);
    assert!(
        !processor.store.payment(1).unwrap().processed,
        "marking first would lose it"
    );

    processor.invite_queue.set_unavailable(false);
    assert!(invoke(&processor, &[body(1)]).await.is_empty());
    assert_eq!(processor.invite_queue.bodies().len(), 1);
    assert!(processor.store.payment(1).unwrap().processed);
}

#[tokio::test]
async fn an_unavailable_store_or_unknown_payment_is_retried() {
    let processor = processor();
    assert_eq!(
        invoke(&processor, &[body(9)]).await,
        vec!["m0".to_string()],
        "no record"
    );
    processor.store.set_unavailable(true);
    assert_eq!(invoke(&processor, &[body(1)]).await, vec!["m0".to_string()]);
}

#[tokio::test]
async fn a_payment_whose_invite_already_failed_is_acknowledged() {
    let processor = processor();
    let mut failed = record(1);
    failed.state = RecordState::InviteFailed;
    processor.store.put_payment(failed);
    assert!(invoke(&processor, &[body(1)]).await.is_empty());
}

#[tokio::test]
async fn the_sample_events_give_their_documented_outcomes() {
    let events = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events");
    let read = |file: &str| -> SqsEvent {
        serde_json::from_str(&std::fs::read_to_string(format!("{events}/{file}")).unwrap()).unwrap()
    };
    let processor = processor();
    processor.store.put_payment(record(4492847470));
    let batch = sqs_batch(
        read("payment-processor-batch.json").records,
        Duration::from_secs(30),
    );
    assert!(
        handle(&processor, batch)
            .await
            .unwrap()
            .batch_item_failures
            .is_empty()
    );
    assert!(processor.store.payment(4492847470).unwrap().processed);

    let poison = read("payment-processor-poison.json");
    let poison_id = poison.records[0].message_id.clone().unwrap();
    let response = handle(
        &processor,
        sqs_batch(poison.records, Duration::from_secs(30)),
    )
    .await
    .unwrap();
    let failed: Vec<_> = response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    assert_eq!(failed, vec![poison_id], "only the poison message fails");
}

/// Stores `payment_id` as accepted at `accepted_at` (what its grant counts from) and
/// answers its message.
fn accepted_at(processor: &Processor, payment_id: i64, accepted_at: &str) -> String {
    let mut stored = record(payment_id);
    stored.created_at = accepted_at.parse().unwrap();
    processor.store.put_payment(stored);
    body(payment_id)
}

async fn subscription(processor: &Processor) -> Option<telepay_core::subscription::Subscription> {
    use telepay_core::store::SubscriptionStore;
    let key = telepay_core::subscription::SubscriptionKey::new(
        telepay_core::order::UserId::new(SAMPLE_USER_ID).unwrap(),
        purchase().private_channel_id,
    );
    processor.store.get_subscription(key).await.unwrap()
}

#[tokio::test]
async fn a_payment_buys_its_time_once_however_often_it_is_delivered() {
    // GIVEN a 30-day purchase accepted at a known time, delivered three times
    let processor = processor();
    let message = accepted_at(&processor, 1, "2026-11-01T12:00:00Z");
    for _ in 0..3 {
        assert!(
            invoke(&processor, std::slice::from_ref(&message))
                .await
                .is_empty()
        );
    }
    // THEN the buyer's subscription ends 30 days after acceptance, counted once
    let subscription = subscription(&processor).await.expect("granted");
    assert_eq!(
        subscription.expires_at.to_rfc3339(),
        "2026-12-01T12:00:00+00:00"
    );
    assert_eq!(subscription.grants.len(), 1);
}

#[tokio::test]
async fn a_second_payment_extends_the_first_whichever_is_processed_first() {
    let processor = processor();
    // The later payment arrives first.
    let later = accepted_at(&processor, 2, "2026-11-10T00:00:00Z");
    let earlier = accepted_at(&processor, 1, "2026-11-01T00:00:00Z");
    invoke(&processor, &[later]).await;
    invoke(&processor, &[earlier]).await;
    let subscription = subscription(&processor).await.unwrap();
    assert_eq!(
        subscription.expires_at.to_rfc3339(),
        "2026-12-31T00:00:00+00:00",
        "30 days from Nov 1, then 30 more: 60 in all"
    );
}

#[tokio::test]
async fn a_store_outage_during_the_grant_retries_before_the_invite_is_queued() {
    let processor = processor();
    processor.store.set_unavailable(true);
    assert_eq!(invoke(&processor, &[body(1)]).await, vec!["m0".to_string()]);
    assert!(
        processor.invite_queue.bodies().is_empty(),
        "no invite before the time is granted"
    );
    processor.store.set_unavailable(false);
    assert!(invoke(&processor, &[body(1)]).await.is_empty());
    assert!(subscription(&processor).await.is_some());
    assert_eq!(processor.invite_queue.bodies().len(), 1);
}

/// NOWPayments' refund of `payment_id`, recorded as the webhook records it.
async fn refunded_by_nowpayments(processor: &Processor, payment_id: i64) {
    use telepay_core::access::refund_time;
    use telepay_core::order::UserId;
    use telepay_core::subscription::{GrantSource, LifecycleSettings, SubscriptionKey};
    let key = SubscriptionKey::new(UserId::new(SAMPLE_USER_ID).unwrap(), SAMPLE_CHANNEL_ID);
    let source = GrantSource::Payment(payment_id);
    let settings = LifecycleSettings::default();
    refund_time(
        &processor.store,
        key,
        &source,
        chrono::Utc::now(),
        &settings,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_renewal_refunded_before_its_grant_is_neither_granted_nor_paid_out() {
    // GIVEN a buyer with a paid month (payment 2), whose next payment (1) NOWPayments
    // refunded before the processor reached it
    let processor = processor();
    assert!(invoke(&processor, &[body(2)]).await.is_empty());
    let before = subscription(&processor).await.unwrap().expires_at;
    refunded_by_nowpayments(&processor, 1).await;
    // WHEN payment 1 is processed
    assert!(invoke(&processor, &[body(1)]).await.is_empty());
    // THEN no time and no payout for it; its invite request carries no grant (the invite
    // sender ends it without a link), and the stage is done
    assert_eq!(subscription(&processor).await.unwrap().expires_at, before);
    let payouts = processor.payout_queue.bodies();
    assert_eq!(payouts.len(), 1, "payment 2's payout only: {payouts:?}");
    assert!(payouts[0].contains("\"payment_id\":2"));
    assert!(processor.store.payment(1).unwrap().processed);
}

#[tokio::test]
async fn a_first_purchase_refunded_before_its_grant_buys_no_time_and_pays_nothing_out() {
    // GIVEN a first-time buyer's payment refunded before the processor reached it
    let processor = processor();
    refunded_by_nowpayments(&processor, 1).await;
    // WHEN it is processed (an approval, a late IPN)
    assert!(invoke(&processor, &[body(1)]).await.is_empty());
    // THEN no payout and no paid time
    assert!(processor.payout_queue.bodies().is_empty());
    let active = subscription(&processor)
        .await
        .is_some_and(|s| s.is_active(chrono::Utc::now(), &processor.lifecycle));
    assert!(!active, "a refunded payment bought time");
}

/// The sample IPN of `payment_id`, as NOWPayments signs it.
fn signed_ipn(payment_id: i64) -> (String, String) {
    let ipn = sample_ipn_with("payment_id", payment_id.into());
    let signature = IpnSecret::new(SAMPLE_IPN_SECRET)
        .unwrap()
        .sign(ipn.as_bytes());
    (ipn, signature)
}

/// What np-webhook sends when the store refused the record's write: the signed IPN with
/// it.
fn unrecorded_body(payment_id: i64) -> String {
    let (ipn, signature) = signed_ipn(payment_id);
    handover(&record(payment_id), &ipn, &signature)
}

fn handover(record: &ProcessedPayment, ipn: &str, signature: &str) -> String {
    telepay_core::queue::ProcessorMessage::unrecorded(
        record,
        &purchase(),
        ipn.as_bytes(),
        signature,
    )
    .to_json()
}

/// Nothing written, granted or queued for `payment_id`; the message walks to the DLQ.
async fn nothing_minted(processor: &Processor, body: String, payment_id: i64) {
    assert_eq!(invoke(processor, &[body]).await, vec!["m0"]);
    assert!(
        processor.store.payment(payment_id).is_none(),
        "no record written"
    );
    assert!(processor.payout_queue.bodies().is_empty(), "no payout");
    assert!(processor.invite_queue.bodies().is_empty(), "no invite");
    assert!(subscription(processor).await.is_none(), "no paid time");
}

#[tokio::test]
async fn a_forged_unrecorded_handover_mints_no_record_no_payout_and_no_time() {
    let processor = empty_processor();
    // A sender to the queue with no signed IPN (the handover before this change).
    let (ipn, _) = signed_ipn(7);
    let mut bare: serde_json::Value =
        serde_json::from_str(&handover(&record(7), &ipn, "x")).unwrap();
    bare["unrecorded"] = serde_json::json!({"payload_hash": "ab"});
    nothing_minted(&processor, bare.to_string(), 7).await;
    // A signature made with another secret.
    let forged = IpnSecret::new("not-the-ipn-secret")
        .unwrap()
        .sign(ipn.as_bytes());
    nothing_minted(&processor, handover(&record(7), &ipn, &forged), 7).await;
    // A genuine signed IPN of another payment, replayed for payment 8.
    let (other, signature) = signed_ipn(7);
    nothing_minted(&processor, handover(&record(8), &other, &signature), 8).await;
    // The buyer's genuine IPN, handed over for another buyer.
    let mut someone_else = record(7);
    someone_else.user_id = telepay_core::order::UserId::new(7_000_000_001).unwrap();
    nothing_minted(&processor, handover(&someone_else, &ipn, &signature), 7).await;
    // A status that pays nothing.
    let waiting = sample_ipn_with("payment_id", 7.into()).replace("\"finished\"", "\"waiting\"");
    let signed = IpnSecret::new(SAMPLE_IPN_SECRET)
        .unwrap()
        .sign(waiting.as_bytes());
    nothing_minted(&processor, handover(&record(7), &waiting, &signed), 7).await;
}

#[tokio::test]
async fn without_the_ipn_secret_no_handover_is_written() {
    let processor =
        PaymentProcessor::new(MemoryStore::new(), MemoryQueue::new(), MemoryQueue::new());
    nothing_minted(&processor, unrecorded_body(7), 7).await;
}

#[tokio::test]
async fn a_payment_np_webhook_could_not_record_is_recorded_here_then_granted_and_invited_once() {
    let processor = empty_processor();
    // The store is still down: nothing is granted or sent, the message comes back.
    processor.store.set_unavailable(true);
    assert_eq!(invoke(&processor, &[unrecorded_body(7)]).await, vec!["m0"]);
    assert!(processor.payout_queue.bodies().is_empty());
    assert!(processor.invite_queue.bodies().is_empty());

    processor.store.set_unavailable(false);
    assert!(invoke(&processor, &[unrecorded_body(7)]).await.is_empty());
    let stored = processor
        .store
        .payment(7)
        .expect("recorded by the processor");
    assert_eq!(stored.state, RecordState::Accepted);
    assert!(stored.processed);
    // The hash of the IPN NOWPayments signed, not of the message's word.
    let (ipn, _) = signed_ipn(7);
    let ipn = telepay_core::ipn::Ipn::parse(ipn.as_bytes()).unwrap();
    assert_eq!(
        stored.payload_hash.as_deref(),
        Some(telepay_core::payment::payload_hash(&ipn).as_str())
    );
    assert_eq!(processor.invite_queue.bodies().len(), 1);
    assert_eq!(processor.payout_queue.bodies().len(), 1);

    // Redelivered: recorded once, processed once (the repeat sends are deduped downstream).
    assert!(invoke(&processor, &[unrecorded_body(7)]).await.is_empty());
    assert_eq!(processor.store.payment_count(), 1);
    assert_eq!(
        processor.store.payment(7).unwrap().processed_at,
        stored.processed_at,
        "marked once"
    );
}

#[tokio::test]
async fn an_unrecorded_message_for_a_payment_recorded_meanwhile_keeps_the_stored_record() {
    let processor = processor();
    // np-webhook's write applied but its answer was lost: the record exists (with its
    // own purchase); the message's copy does not replace it.
    let mut stored = record(1);
    stored.purchase.as_mut().unwrap().price_amount = 9.99;
    processor.store.put_payment(stored);
    assert!(invoke(&processor, &[unrecorded_body(1)]).await.is_empty());
    let payout: PayoutInstruction =
        serde_json::from_str(&processor.payout_queue.bodies()[0]).unwrap();
    assert_eq!(payout.price_amount, 9.99, "the stored record's purchase");
    assert!(processor.store.payment(1).unwrap().processed);
}

#[tokio::test]
async fn a_stars_payment_is_granted_and_invited_with_no_payout() {
    // GIVEN a charge in Telegram Stars recorded as its payment
    let processor = empty_processor();
    let charge = telepay_core::stars::StarsCharge {
        charge_id: "stxProcessor".into(),
        order: telepay_core::stars::StarsOrder {
            user_id: telepay_core::order::UserId::new(SAMPLE_USER_ID).unwrap(),
            channel_id: telepay_core::order::ChannelId::new(SAMPLE_CHANNEL_ID).unwrap(),
            tier_seconds: 30 * 86_400,
            catalog_version: 1,
            stars: 250,
            recurring: false,
        },
        stars_paid: 250,
        paid_at: chrono::Utc::now(),
    };
    let record = charge.record(purchase().private_channel_id).unwrap();
    processor.store.put_payment(record.clone());
    let body = telepay_core::queue::ProcessorMessage::from_record(&record, &purchase()).to_json();
    // WHEN it is processed
    assert!(invoke(&processor, &[body]).await.is_empty());
    // THEN its time and its invite, and no payout: the Stars stay in the bot's balance
    assert!(processor.payout_queue.bodies().is_empty(), "no payout");
    assert_eq!(processor.invite_queue.bodies().len(), 1);
    assert!(
        subscription(&processor)
            .await
            .is_some_and(|s| s.is_active(chrono::Utc::now(), &processor.lifecycle))
    );
    assert!(
        processor
            .store
            .payment(record.payment_id.get())
            .unwrap()
            .processed
    );
}
