//! Each row of the np-webhook behaviour table, through the handler as Lambda calls it, on
//! the in-memory store and queue.

use chrono::Utc;
use lambda_http::http::{self, StatusCode};
use telepay_core::directory::ChannelDirectory;
use telepay_core::fixtures::{SAMPLE_DIRECTORY, SAMPLE_IPN, SAMPLE_IPN_SECRET, sample_ipn_with};
use telepay_core::held::HoldNoticeRequest;
use telepay_core::ipn::PaymentId;
use telepay_core::payment::HoldReason;
use telepay_core::queue::ProcessorMessage;
use telepay_core::queue::memory::MemoryQueue;
use telepay_core::signature::IpnSecret;
use telepay_core::store::memory::MemoryStore;
use telepay_core::webhook::PaymentWebhook;

use super::*;

type MemoryWebhook = PaymentWebhook<MemoryStore, MemoryQueue>;

const PAYMENT_ID: i64 = 4492847470;

fn webhook() -> MemoryWebhook {
    PaymentWebhook::new(
        IpnSecret::new(SAMPLE_IPN_SECRET).unwrap(),
        ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap(),
        MemoryStore::new(),
        MemoryQueue::new(),
    )
}

fn sign(body: &str) -> String {
    IpnSecret::new(SAMPLE_IPN_SECRET)
        .unwrap()
        .sign(body.as_bytes())
}

fn post(body: &str, signature: Option<&str>) -> Request {
    let mut builder = http::Request::builder()
        .method("POST")
        .uri("https://example.execute-api.us-east-1.amazonaws.com/np-webhook");
    if let Some(signature) = signature {
        builder = builder.header("X-NowPayments-Sig", signature);
    }
    builder.body(Body::from(body)).unwrap()
}

fn signed(body: &str) -> Request {
    post(body, Some(&sign(body)))
}

/// The sample IPN with one field replaced.
fn sample_with(field: &str, value: &str) -> String {
    sample_ipn_with(field, serde_json::from_str(value).unwrap())
}

async fn call(webhook: &MemoryWebhook, request: Request) -> (StatusCode, String) {
    let response = handle(webhook, request).await.unwrap();
    let status = response.status();
    let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    (status, body["outcome"].as_str().unwrap().to_owned())
}

fn nothing_changed(webhook: &MemoryWebhook) {
    assert_eq!(webhook.store.payment_count(), 0, "no record");
    assert_eq!(webhook.store.review_count(), 0, "no review");
    assert!(webhook.processor_queue.bodies().is_empty(), "no message");
}

#[tokio::test]
async fn a_method_other_than_post_is_refused_and_changes_nothing() {
    let webhook = webhook();
    let request = http::Request::builder()
        .method("GET")
        .uri("/np-webhook")
        .body(Body::Empty)
        .unwrap();
    let response = handle(&webhook, request).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST");
    nothing_changed(&webhook);
}

#[tokio::test]
async fn a_body_over_64_kib_is_too_large_even_when_signed() {
    let webhook = webhook();
    let body = sample_with(
        "order_description",
        &format!("\"{}\"", "x".repeat(64 * 1024)),
    );
    assert_eq!(
        call(&webhook, signed(&body)).await,
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large".into())
    );
    nothing_changed(&webhook);
}

#[tokio::test]
async fn a_missing_or_wrong_signature_is_refused_and_changes_nothing() {
    let webhook = webhook();
    let unsigned = post(SAMPLE_IPN, None);
    assert_eq!(
        call(&webhook, unsigned).await,
        (StatusCode::UNAUTHORIZED, "bad_signature".into())
    );
    let wrong = IpnSecret::new("not-the-secret")
        .unwrap()
        .sign(SAMPLE_IPN.as_bytes());
    assert_eq!(
        call(&webhook, post(SAMPLE_IPN, Some(&wrong))).await,
        (StatusCode::UNAUTHORIZED, "bad_signature".into())
    );
    assert_eq!(
        call(&webhook, post(SAMPLE_IPN, Some("not-hex"))).await,
        (StatusCode::UNAUTHORIZED, "bad_signature".into())
    );
    nothing_changed(&webhook);
    // The wrong-secret alarm's count: tests/tests/metrics.rs.
}

#[tokio::test]
async fn a_signed_body_that_is_not_an_ipn_is_a_bad_request() {
    let webhook = webhook();
    for body in [
        "not json at all",
        r#"{"hello":"world"}"#,
        &sample_with("payment_status", "\"paid\""),
        &sample_with("payment_id", "-4"),
        // A payment id in the range of Telegram Stars charges (from 2^62): never
        // NOWPayments', refused rather than let it meet a charge's record.
        &sample_with("payment_id", "4611686018427387904"),
        &sample_with("payment_id", "9223372036854775807"),
    ] {
        assert_eq!(
            call(&webhook, signed(body)).await,
            (StatusCode::BAD_REQUEST, "bad_request".into()),
            "{body}"
        );
    }
    nothing_changed(&webhook);
}

#[tokio::test]
async fn a_failed_or_expired_payment_is_ignored() {
    let webhook = webhook();
    // `refunded` is kept even ahead of a grant: its own tests below.
    for status in ["failed", "expired"] {
        let body = sample_with("payment_status", &format!("\"{status}\""));
        assert_eq!(
            call(&webhook, signed(&body)).await,
            (StatusCode::OK, "ignored".into()),
            "{status}"
        );
    }
    nothing_changed(&webhook);
    assert_eq!(watch(&webhook).await, None);
}

async fn watch(webhook: &MemoryWebhook) -> Option<telepay_core::store::PaymentWatch> {
    use telepay_core::store::PaymentWatchStore;
    let id = PaymentId::new(PAYMENT_ID).unwrap();
    webhook.store.watch_of(id).await.unwrap()
}

#[tokio::test]
async fn a_payment_under_way_is_watched_once_and_grants_nothing() {
    let webhook = webhook();
    for status in ["waiting", "confirming", "confirmed", "sending"] {
        let body = sample_with("payment_status", &format!("\"{status}\""));
        assert_eq!(
            call(&webhook, signed(&body)).await,
            (StatusCode::OK, "watched".into()),
            "{status}"
        );
    }
    nothing_changed(&webhook);
    let watch = watch(&webhook).await.expect("watched from its first IPN");
    assert_eq!(watch.last_status, "waiting", "the first IPN wrote it");
    assert_eq!(
        (watch.user_id, watch.channel_id),
        (6271402111, -1003111266231)
    );
    assert!(watch.next_check_at > watch.first_seen_at);
}

#[tokio::test]
async fn a_payment_under_way_that_cannot_be_watched_is_a_500_so_nowpayments_retries() {
    let webhook = webhook();
    webhook.store.set_unavailable(true);
    let body = sample_with("payment_status", "\"waiting\"");
    assert_eq!(
        call(&webhook, signed(&body)).await,
        (StatusCode::INTERNAL_SERVER_ERROR, "unavailable".into())
    );
}

#[tokio::test]
async fn a_finished_payment_that_needs_a_human_is_held_once_and_not_queued() {
    let cases = [
        ("parent_payment_id", "4492847000", HoldReason::RepeatDeposit),
        ("price_amount", "1.00", HoldReason::PriceMismatch),
        ("price_currency", "\"eur\"", HoldReason::PriceMismatch),
        (
            "order_id",
            "\"PGP-6271402111|-1009999999999\"",
            HoldReason::UnknownChannel,
        ),
        ("order_id", "\"ORDER-42\"", HoldReason::UnparseableOrderId),
        ("order_id", "null", HoldReason::UnparseableOrderId),
        // Money arrived, short: never ignored.
        (
            "payment_status",
            "\"partially_paid\"",
            HoldReason::Underpaid,
        ),
        // Finished, but 0.04 of the 0.05716941 LTC asked arrived (beyond the 1 %).
        ("actually_paid", "0.04", HoldReason::Underpaid),
    ];
    for (field, value, reason) in cases {
        let webhook = webhook();
        let body = sample_with(field, value);
        for _ in 0..2 {
            assert_eq!(
                call(&webhook, signed(&body)).await,
                (StatusCode::OK, "held".into()),
                "{field}={value}"
            );
        }
        let review = webhook.store.review(PAYMENT_ID).expect("a review entry");
        assert_eq!(review.reason, reason, "{field}={value}");
        assert_eq!(review.ipn, body, "the raw IPN is kept for the reviewer");
        assert_eq!(webhook.store.review_count(), 1);
        assert_eq!(
            webhook.store.payment_count(),
            0,
            "held payments never enter processed_payments"
        );
        assert!(webhook.processor_queue.bodies().is_empty());
    }
}

#[tokio::test]
async fn a_held_payment_has_its_buyer_and_owner_notice_queued_on_every_delivery() {
    let webhook = webhook().with_notice_queue(MemoryQueue::new());
    let body = sample_with("price_amount", "1.00");
    for _ in 0..2 {
        assert_eq!(
            call(&webhook, signed(&body)).await,
            (StatusCode::OK, "held".into())
        );
    }
    // Queued again with each delivery: the invite sender tells once (the review's lease
    // and told mark), and a crash between the hold and the first send is healed.
    let notice = HoldNoticeRequest::new(PaymentId::new(PAYMENT_ID).unwrap()).to_json();
    let queued = webhook.notice_queue.as_ref().unwrap().bodies();
    assert_eq!(queued, vec![notice.clone(), notice]);
    assert!(webhook.processor_queue.bodies().is_empty());
}

#[tokio::test]
async fn a_notice_queue_outage_answers_500_so_nowpayments_retries_and_the_hold_stands() {
    let webhook = webhook().with_notice_queue(MemoryQueue::new());
    let body = sample_with("parent_payment_id", "4492847000");
    webhook.notice_queue.as_ref().unwrap().set_unavailable(true);
    assert_eq!(
        call(&webhook, signed(&body)).await,
        (StatusCode::INTERNAL_SERVER_ERROR, "unavailable".into())
    );
    assert_eq!(webhook.store.review_count(), 1, "the hold is written first");
    webhook
        .notice_queue
        .as_ref()
        .unwrap()
        .set_unavailable(false);
    assert_eq!(
        call(&webhook, signed(&body)).await,
        (StatusCode::OK, "held".into())
    );
    assert_eq!(webhook.notice_queue.as_ref().unwrap().bodies().len(), 1);
}

#[tokio::test]
async fn a_new_finished_payment_is_recorded_and_queued_once() {
    let webhook = webhook();
    assert_eq!(
        call(&webhook, signed(SAMPLE_IPN)).await,
        (StatusCode::OK, "queued".into())
    );

    let record = webhook.store.payment(PAYMENT_ID).expect("a record");
    assert_eq!(record.user_id.get(), 6271402111);
    assert_eq!(record.channel_id.get(), -1003111266231);
    assert!(!record.processed && !record.telegram_invite_sent);

    let bodies = webhook.processor_queue.bodies();
    assert_eq!(bodies.len(), 1);
    let message: ProcessorMessage = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(message.v, 1);
    assert_eq!(message.payment_id, PaymentId::new(PAYMENT_ID).unwrap());
    assert_eq!(message.user_id, record.user_id);
    assert_eq!(message.purchase.private_channel_id, -1003111266231);
    assert_eq!(message.purchase.subscription_days, 30);
    assert_eq!(message.purchase.outcome_amount, Some(0.001408));
}

#[tokio::test]
async fn a_pretty_printed_reordered_finished_ipn_is_accepted_over_the_canonical_form() {
    let webhook = webhook();
    let value: serde_json::Value = serde_json::from_str(SAMPLE_IPN).unwrap();
    let pretty = serde_json::to_string_pretty(&value)
        .unwrap()
        .replace("\"actually_paid\": 0,", "");
    let pretty = pretty.replacen('{', "{\n  \"actually_paid\": 0.0,", 1);
    let request = post(&pretty, Some(&sign(SAMPLE_IPN)));
    assert_eq!(
        call(&webhook, request).await,
        (StatusCode::OK, "queued".into())
    );
}

#[tokio::test]
async fn a_repeat_after_the_processor_is_done_is_a_duplicate_and_sends_nothing() {
    let webhook = webhook();
    call(&webhook, signed(SAMPLE_IPN)).await;
    let mut record = webhook.store.payment(PAYMENT_ID).unwrap();
    record.processed = true;
    record.processed_at = Some(Utc::now());
    webhook.store.put_payment(record.clone());

    assert_eq!(
        call(&webhook, signed(SAMPLE_IPN)).await,
        (StatusCode::OK, "duplicate".into())
    );
    assert_eq!(
        webhook.processor_queue.bodies().len(),
        1,
        "no second message"
    );
    assert_eq!(
        webhook.store.payment(PAYMENT_ID).unwrap(),
        record,
        "record unchanged"
    );
}

#[tokio::test]
async fn a_repeat_before_the_processor_is_done_queues_the_message_again() {
    let webhook = webhook();
    call(&webhook, signed(SAMPLE_IPN)).await;
    let record = webhook.store.payment(PAYMENT_ID).unwrap();

    assert_eq!(
        call(&webhook, signed(SAMPLE_IPN)).await,
        (StatusCode::OK, "queued".into())
    );
    let bodies = webhook.processor_queue.bodies();
    assert_eq!(bodies.len(), 2);
    assert_eq!(
        bodies[0], bodies[1],
        "the same message, from the stored record"
    );
    assert_eq!(
        webhook.store.payment(PAYMENT_ID).unwrap(),
        record,
        "record unchanged"
    );
}

#[tokio::test]
async fn a_repeat_with_different_amounts_keeps_the_stored_record_and_is_counted() {
    let webhook = webhook();
    call(&webhook, signed(SAMPLE_IPN)).await;
    let record = webhook.store.payment(PAYMENT_ID).unwrap();

    let changed = sample_with("outcome_amount", "0.5");
    assert_eq!(
        call(&webhook, signed(&changed)).await,
        (StatusCode::OK, "queued".into())
    );
    // Its PayloadHashMismatch count: tests/tests/metrics.rs.
    assert_eq!(
        webhook.store.payment(PAYMENT_ID).unwrap(),
        record,
        "nothing overwritten"
    );
    let bodies = webhook.processor_queue.bodies();
    assert_eq!(
        bodies[0], bodies[1],
        "the message is built from the stored record"
    );
}

#[tokio::test]
async fn a_store_outage_queues_the_verified_payment_for_the_processor_to_record() {
    let webhook = webhook();
    webhook.store.set_unavailable(true);
    // Verified and priced, but the record cannot be written: queued with what the
    // processor needs to write it, so an outage longer than NOWPayments' retries
    // loses nothing. Nothing is granted here.
    assert_eq!(
        call(&webhook, signed(SAMPLE_IPN)).await,
        (StatusCode::OK, "queued".into())
    );
    let bodies = webhook.processor_queue.bodies();
    assert_eq!(bodies.len(), 1);
    let message: ProcessorMessage = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(message.payment_id.get(), PAYMENT_ID);
    assert!(
        message.unrecorded.is_some(),
        "the processor records it first"
    );
    assert_eq!(webhook.store.payment_count(), 0);
    // A hold or a refund cannot be handed on: NOWPayments retries them.
    let held = sample_with("parent_payment_id", "1");
    assert_eq!(
        call(&webhook, signed(&held)).await,
        (StatusCode::INTERNAL_SERVER_ERROR, "unavailable".into())
    );
}

#[tokio::test]
async fn a_store_and_queue_outage_answers_500_so_nowpayments_retries() {
    let webhook = webhook();
    webhook.store.set_unavailable(true);
    webhook.processor_queue.set_unavailable(true);
    assert_eq!(
        call(&webhook, signed(SAMPLE_IPN)).await,
        (StatusCode::INTERNAL_SERVER_ERROR, "unavailable".into())
    );
    webhook.processor_queue.set_unavailable(false);
    assert!(webhook.processor_queue.bodies().is_empty());
}

#[tokio::test]
async fn an_unavailable_queue_answers_500_and_the_retry_queues_it() {
    let webhook = webhook();
    webhook.processor_queue.set_unavailable(true);
    assert_eq!(
        call(&webhook, signed(SAMPLE_IPN)).await,
        (StatusCode::INTERNAL_SERVER_ERROR, "unavailable".into())
    );
    assert_eq!(
        webhook.store.payment_count(),
        1,
        "recorded, not yet processed"
    );

    webhook.processor_queue.set_unavailable(false);
    assert_eq!(
        call(&webhook, signed(SAMPLE_IPN)).await,
        (StatusCode::OK, "queued".into())
    );
    assert_eq!(webhook.processor_queue.bodies().len(), 1);
}

#[tokio::test]
async fn no_answer_body_carries_anything_but_the_outcome() {
    let webhook = webhook();
    webhook.store.set_unavailable(true);
    webhook.processor_queue.set_unavailable(true);
    let response = handle(&webhook, signed(SAMPLE_IPN)).await.unwrap();
    assert_eq!(response.body().as_ref(), br#"{"outcome":"unavailable"}"#);
    assert_eq!(response.headers()["content-type"], "application/json");
}

/// Every sample event in events/ for this function, through the handler.
#[tokio::test]
async fn the_sample_events_give_their_documented_outcomes() {
    let events = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events");
    let cases = [
        ("np-webhook-finished.json", StatusCode::OK, "queued"),
        (
            "np-webhook-bad-signature.json",
            StatusCode::UNAUTHORIZED,
            "bad_signature",
        ),
        ("np-webhook-waiting.json", StatusCode::OK, "watched"),
    ];
    for (file, status, outcome) in cases {
        let webhook = webhook();
        let json = std::fs::read_to_string(format!("{events}/{file}")).unwrap();
        let request = lambda_http::request::from_str(&json).unwrap();
        assert_eq!(
            call(&webhook, request).await,
            (status, outcome.into()),
            "{file}"
        );
    }
}

async fn subscription(webhook: &MemoryWebhook) -> Option<telepay_core::subscription::Subscription> {
    use telepay_core::store::SubscriptionStore;
    let key = telepay_core::subscription::SubscriptionKey::new(
        telepay_core::order::UserId::new(6271402111).unwrap(),
        -1003111266231,
    );
    webhook.store.get_subscription(key).await.unwrap()
}

/// The sample payment's 30 days granted, as the processor grants them.
async fn granted(webhook: &MemoryWebhook, payment_id: i64) {
    use telepay_core::access::grant_time;
    use telepay_core::subscription::{AccessDuration, GrantSource, SubscriptionKey, TimeGrant};
    let key = SubscriptionKey::new(
        telepay_core::order::UserId::new(6271402111).unwrap(),
        -1003111266231,
    );
    // Both at one (millisecond) instant: the second extends the first by exactly 30 days.
    let at =
        chrono::DateTime::from_timestamp_millis(Utc::now().timestamp_millis() / 60_000 * 60_000)
            .unwrap();
    let grant = TimeGrant::new(
        GrantSource::Payment(payment_id),
        at,
        AccessDuration::from_days(30).unwrap(),
    );
    grant_time(&webhook.store, key, &grant, Utc::now(), &webhook.lifecycle)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_refund_takes_the_payments_time_back_once() {
    // GIVEN two paid months
    let webhook = webhook();
    granted(&webhook, PAYMENT_ID).await;
    granted(&webhook, 77).await;
    let before = subscription(&webhook).await.unwrap().expires_at;
    // WHEN the first payment's refund arrives, twice
    let refunded = sample_with("payment_status", "\"refunded\"");
    assert_eq!(
        call(&webhook, signed(&refunded)).await,
        (StatusCode::OK, "refunded".into())
    );
    assert_eq!(
        call(&webhook, signed(&refunded)).await,
        (StatusCode::OK, "duplicate".into())
    );
    // THEN one month is taken back, once; no payment record or message is written
    let after = subscription(&webhook).await.unwrap().expires_at;
    assert_eq!(before - after, chrono::TimeDelta::days(30));
    nothing_changed(&webhook);
}

/// The owner moved the channel's private channel after the sale: the refund takes the
/// time back from the subscription the payment's grant went to (its stored purchase),
/// not from one the current catalog names.
#[tokio::test]
async fn a_refund_takes_the_time_from_the_channel_the_payment_bought_not_todays_catalog() {
    use telepay_core::access::grant_time;
    use telepay_core::store::SubscriptionStore;
    use telepay_core::subscription::{AccessDuration, GrantSource, SubscriptionKey, TimeGrant};
    let webhook = webhook();
    let user = telepay_core::order::UserId::new(6271402111).unwrap();
    let moved_from = -1004000000009;
    // GIVEN the payment recorded for the old private channel and granted there
    let mut record = telepay_core::fixtures::sample_record(PAYMENT_ID);
    record.purchase.as_mut().unwrap().private_channel_id = moved_from;
    webhook.store.put_payment(record.clone());
    let bought = SubscriptionKey::new(user, moved_from);
    let grant = TimeGrant::new(
        GrantSource::Payment(PAYMENT_ID),
        record.created_at,
        AccessDuration::from_days(30).unwrap(),
    );
    grant_time(
        &webhook.store,
        bought,
        &grant,
        Utc::now(),
        &webhook.lifecycle,
    )
    .await
    .unwrap();
    // WHEN its refund arrives
    let refunded = sample_with("payment_status", "\"refunded\"");
    assert_eq!(
        call(&webhook, signed(&refunded)).await,
        (StatusCode::OK, "refunded".into())
    );
    // THEN the subscription it bought holds no time, and none was made in today's channel
    let old = webhook
        .store
        .get_subscription(bought)
        .await
        .unwrap()
        .unwrap();
    assert!(!old.is_active(Utc::now(), &webhook.lifecycle), "{old:?}");
    assert!(subscription(&webhook).await.is_none());
}

#[tokio::test]
async fn a_refund_ahead_of_a_first_buyers_grant_is_kept_and_the_grant_then_buys_nothing() {
    // GIVEN a first-time buyer's payment, held for review or not processed yet
    let webhook = webhook();
    // WHEN NOWPayments refunds it before it is granted
    let refunded = sample_with("payment_status", "\"refunded\"");
    assert_eq!(
        call(&webhook, signed(&refunded)).await,
        (StatusCode::OK, "refunded".into())
    );
    nothing_changed(&webhook);
    // AND the payment is granted after all (an operator approves it, its IPN was late)
    granted(&webhook, PAYMENT_ID).await;
    // THEN it buys no time: the refund was kept for the grant to find
    let subscription = subscription(&webhook).await.unwrap();
    assert!(
        !subscription.is_active(Utc::now(), &webhook.lifecycle),
        "a refunded payment bought time: {subscription:?}"
    );
    // Unsigned, a refund is refused like any IPN.
    assert_eq!(
        call(&webhook, post(&refunded, Some("00"))).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_refund_while_the_store_is_down_asks_for_a_retry() {
    let webhook = webhook();
    granted(&webhook, PAYMENT_ID).await;
    webhook.store.set_unavailable(true);
    let refunded = sample_with("payment_status", "\"refunded\"");
    assert_eq!(
        call(&webhook, signed(&refunded)).await,
        (StatusCode::INTERNAL_SERVER_ERROR, "unavailable".into())
    );
}

/// A webhook selling the sample channel at two tiers: 10 usd for 30 days, 25 for 90.
fn two_tier_webhook(tiers: &str) -> MemoryWebhook {
    let directory = format!(
        r#"{{"price_tolerance_percent": 5, "channels": [{{"channel_id": -1003111266231,
        "private_channel_id": -1003111266231, "tiers": {tiers}}}]}}"#
    );
    PaymentWebhook::new(
        IpnSecret::new(SAMPLE_IPN_SECRET).unwrap(),
        ChannelDirectory::from_json(&directory).unwrap(),
        MemoryStore::new(),
        MemoryQueue::new(),
    )
}

/// The sample IPN for an order of the tier `seconds` long, at `price` usd.
fn ordered(seconds: u64, price: f64) -> String {
    let ipn = sample_with(
        "order_id",
        &format!("\"PGP-6271402111|-1003111266231|{seconds}\""),
    );
    let mut ipn: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&ipn).unwrap();
    ipn.insert("price_amount".into(), serde_json::json!(price));
    serde_json::to_string(&ipn).unwrap()
}

#[tokio::test]
async fn an_order_that_names_its_tier_is_granted_that_tier() {
    // GIVEN a channel at 10 usd for 30 days and 25 usd for 90
    let webhook = two_tier_webhook(
        r#"[{"price_amount": 25, "price_currency": "usd", "subscription_days": 90},
            {"price_amount": 10, "price_currency": "usd", "subscription_days": 30}]"#,
    );
    // WHEN the buyer who chose 30 days pays its 10 usd
    assert_eq!(
        call(&webhook, signed(&ordered(30 * 86_400, 10.0))).await,
        (StatusCode::OK, "queued".into())
    );
    // THEN 30 days are granted
    let record = webhook.store.payment(PAYMENT_ID).unwrap();
    assert_eq!(record.purchase.unwrap().subscription_days, 30);
}

#[tokio::test]
async fn a_price_that_fell_while_the_invoice_was_open_grants_the_ordered_tier_and_records_the_surplus()
 {
    // GIVEN a buyer who ordered 30 days at 10 usd, and an owner who since made 30 days
    // cost 8 and 90 days cost 10
    let webhook = two_tier_webhook(
        r#"[{"price_amount": 8, "price_currency": "usd", "subscription_days": 30},
            {"price_amount": 10, "price_currency": "usd", "subscription_days": 90}]"#,
    );
    // WHEN the 10 usd arrive
    assert_eq!(
        call(&webhook, signed(&ordered(30 * 86_400, 10.0))).await,
        (StatusCode::OK, "queued".into())
    );
    // THEN the 30 days ordered (never 90 for a 30-day order), and the 2 usd above the
    // tier's price recorded for the owner's notice
    let purchase = webhook.store.payment(PAYMENT_ID).unwrap().purchase.unwrap();
    assert_eq!(purchase.subscription_days, 30);
    assert_eq!(purchase.overpaid_by, Some(2.0));
}

#[tokio::test]
async fn a_price_that_rose_while_the_invoice_was_open_is_held_not_granted_another_tier() {
    // GIVEN a buyer who ordered 30 days at 10 usd, now 12 (and 90 days at 10)
    let webhook = two_tier_webhook(
        r#"[{"price_amount": 12, "price_currency": "usd", "subscription_days": 30},
            {"price_amount": 10, "price_currency": "usd", "subscription_days": 90}]"#,
    );
    assert_eq!(
        call(&webhook, signed(&ordered(30 * 86_400, 10.0))).await,
        (StatusCode::OK, "held".into())
    );
    // THEN held for a person (and told), never 90 days for a 30-day order
    assert_eq!(
        webhook.store.review(PAYMENT_ID).unwrap().reason,
        HoldReason::PriceMismatch
    );
    assert_eq!(webhook.store.payment_count(), 0);
}

#[tokio::test]
async fn more_crypto_than_asked_grants_the_tier_and_records_the_surplus() {
    let generous = webhook();
    // 0.06 of the 0.05716941 LTC asked for 3.21 usd arrived: 0.159 usd more, beyond 1 %.
    let body = sample_with("actually_paid", "0.06");
    assert_eq!(
        call(&generous, signed(&body)).await,
        (StatusCode::OK, "queued".into())
    );
    let purchase = generous
        .store
        .payment(PAYMENT_ID)
        .unwrap()
        .purchase
        .unwrap();
    assert_eq!(purchase.overpaid_by, Some(0.16));
    // Within the tolerance (1 %) is no surplus.
    let exact = webhook();
    call(&exact, signed(&sample_with("actually_paid", "0.0572"))).await;
    let purchase = exact.store.payment(PAYMENT_ID).unwrap().purchase.unwrap();
    assert_eq!(purchase.overpaid_by, None);
}

#[tokio::test]
async fn a_short_payment_in_a_channel_that_prorates_buys_its_share_of_the_tier() {
    let directory = r#"{"channels": [{"channel_id": -1003111266231,
        "private_channel_id": -1003111266231, "partial": "prorate",
        "tiers": [{"price_amount": 3.21, "price_currency": "usd", "subscription_days": 30}]}]}"#;
    let webhook = PaymentWebhook::new(
        IpnSecret::new(SAMPLE_IPN_SECRET).unwrap(),
        ChannelDirectory::from_json(directory).unwrap(),
        MemoryStore::new(),
        MemoryQueue::new(),
    );
    // 0.04 of the 0.05716941 LTC asked arrived: 70 % of 30 days.
    let short = sample_with("payment_status", "\"partially_paid\"")
        .replace("\"actually_paid\":0,", "\"actually_paid\":0.04,");
    assert_eq!(
        call(&webhook, signed(&short)).await,
        (StatusCode::OK, "queued".into())
    );
    let purchase = webhook.store.payment(PAYMENT_ID).unwrap().purchase.unwrap();
    // 43,200 minutes × 0.04 / 0.05716941 = 30,225.95: rounded down to the minute.
    assert_eq!(purchase.duration_seconds, Some(30_225 * 60));
    assert_eq!(purchase.prorated_from_seconds, Some(30 * 86_400));
    assert_eq!(webhook.store.review_count(), 0, "granted, not held");
    assert_eq!(webhook.processor_queue.bodies().len(), 1);
}
