//! The recovery pass end to end: the chain on moto (DynamoDB and SQS), NOWPayments as the
//! fake server through the real status adapter (`GET /v1/payment/{id}` with the API key),
//! Telegram on the fake Bot API. A paid invoice whose finishing IPN never arrived is
//! asked about, admitted once, and its buyer invited once, whatever arrives late.

use std::time::Duration;

use chrono::TimeDelta;
use fake_nowpayments::{Delivery, FakeNowPayments};
use np_webhook::handle;
use telepay_core::bot::{InvoiceApi, InvoiceRequest};
use telepay_core::fixtures::{SAMPLE_CHANNEL_ID, SAMPLE_IPN_SECRET, SAMPLE_USER_ID};
use telepay_core::ipn::PaymentId;
use telepay_core::recovery::{PaymentRecovery, RecoveryReport, RecoverySettings};
use telepay_core::store::{PaymentWatchStore, Settlement};
use telepay_core::webhook::PaymentIngress;
use telepay_integration_tests::{Chain, ipn_request, outcome};
use telepay_shared::dynamodb::DynamoDbStore;
use telepay_shared::nowpayments::{
    NowPaymentsAccount, NowPaymentsApiKey, NowPaymentsInvoices, NowPaymentsPayments,
};
use telepay_shared::sqs::SqsQueue;

const API_KEY: &str = "np-recovery-test-key";

type Recovery = PaymentRecovery<DynamoDbStore, SqsQueue, NowPaymentsPayments>;

/// The recovery pass as the reconciler wires it, over the chain's store and queues.
fn recovery(chain: &Chain, nowpayments: &FakeNowPayments, key: &str) -> Recovery {
    recovery_with(chain, nowpayments, key, None)
}

/// The same, with the account's login (it lists the account's payments too).
fn recovery_with(
    chain: &Chain,
    nowpayments: &FakeNowPayments,
    key: &str,
    login: Option<(&str, &str)>,
) -> Recovery {
    let ingress = PaymentIngress::new(
        chain.webhook.catalog.clone(),
        chain.webhook.store.clone(),
        chain.aws.queue(),
    )
    .with_notice_queue(chain.invite_queue.clone())
    .with_clock(chain.clock.clone());
    let api = NowPaymentsPayments::new(
        NowPaymentsApiKey::new(key).unwrap(),
        Some(&nowpayments.url()),
    )
    .unwrap();
    let api = match login {
        Some((email, password)) => {
            api.with_account(NowPaymentsAccount::new(email, password).unwrap())
        }
        None => api,
    };
    PaymentRecovery::new(ingress, api, RecoverySettings::default())
}

/// The bot's invoice for the demo channel's tier, made on the fake through the real
/// invoice adapter.
async fn invoice(nowpayments: &FakeNowPayments) -> String {
    let invoices = NowPaymentsInvoices::new(
        NowPaymentsApiKey::new(API_KEY).unwrap(),
        Some(&nowpayments.url()),
    )
    .unwrap();
    let request = InvoiceRequest {
        price_amount: 3.21,
        price_currency: "usd".into(),
        order_id: format!("PGP-{SAMPLE_USER_ID}|{SAMPLE_CHANNEL_ID}"),
        order_description: "Demo channel, 30 days".into(),
        // Unreachable: as far as the webhook knows, no IPN ever comes from here.
        ipn_callback_url: "http://127.0.0.1:9/np-webhook".into(),
        success_url: None,
    };
    invoices.create_invoice(&request).await.unwrap().id
}

/// The chain and NOWPayments after a buyer paid the demo tier and not one IPN reached
/// np-webhook (the fake knows the account's login; a test gives it to the pass or not).
async fn paid_with_every_ipn_lost() -> (Chain, FakeNowPayments, i64) {
    let chain = Chain::new().await;
    let nowpayments = FakeNowPayments::start(API_KEY, SAMPLE_IPN_SECRET).await;
    nowpayments.set_account("owner@example.com", "account-password");
    let invoice_id = invoice(&nowpayments).await;
    let payment_id = nowpayments
        .pay_with(&invoice_id, Delivery::Dropped)
        .await
        .unwrap();
    (chain, nowpayments, payment_id)
}

/// Delivers what NOWPayments would have sent for `status` to np-webhook.
async fn deliver(
    chain: &Chain,
    nowpayments: &FakeNowPayments,
    payment_id: i64,
    status: &str,
) -> (u16, String) {
    let (body, signature) = nowpayments.signed_ipn(payment_id, status).unwrap();
    let request = ipn_request(body, Some(&signature), Some("application/json"));
    outcome(&handle(&chain.webhook, request).await.unwrap())
}

async fn run_after(chain: &Chain, recovery: &Recovery, minutes: i64) -> RecoveryReport {
    chain.clock.advance(TimeDelta::minutes(minutes));
    recovery.run().await.unwrap()
}

#[tokio::test]
async fn a_paid_invoice_whose_finished_ipn_never_arrived_is_recovered_and_its_buyer_invited_once() {
    let (chain, nowpayments, payment_id) = paid_with_every_ipn_lost().await;
    // Only the first IPN got through before the callback broke.
    assert_eq!(
        deliver(&chain, &nowpayments, payment_id, "waiting").await,
        (200, "watched".into())
    );
    let recovery = recovery(&chain, &nowpayments, API_KEY);
    assert_eq!(recovery.run().await.unwrap().due, 0, "not overdue yet");

    // NOWPayments fails the first question; the watch is asked again later.
    nowpayments.fail_next_status(1);
    assert_eq!(run_after(&chain, &recovery, 21).await.unavailable, 1);
    let report = run_after(&chain, &recovery, 21).await;
    assert_eq!(report.recovered, 1, "{report:?}");
    assert_eq!(
        nowpayments.status_requests(),
        [(payment_id, 500), (payment_id, 200)]
    );

    assert!(
        chain.stored(payment_id).await.purchase.unwrap().recovered,
        "stored as recovered (DynamoDB), for the owner's sale notice"
    );
    chain.run_processor(1).await;
    chain.run_invite_sender(1).await;
    let sent = chain.fake.delivered("sendMessage");
    assert_eq!(sent.len(), 1, "one invite");
    assert_eq!(sent[0].chat_id(), Some(SAMPLE_USER_ID));

    // The finished IPN arrives after all: recorded already, nothing sent twice.
    assert_eq!(
        deliver(&chain, &nowpayments, payment_id, "finished").await,
        (200, "duplicate".into())
    );
    chain.run_processor(1).await;
    chain.run_invite_sender(1).await;
    assert_eq!(
        chain.fake.delivered("sendMessage").len(),
        1,
        "still one invite"
    );
    let watch = chain
        .webhook
        .store
        .watch_of(PaymentId::new(payment_id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(watch.settled, Some(Settlement::Recovered));
    assert_eq!(
        run_after(&chain, &recovery, 60).await.due,
        0,
        "nothing left to ask"
    );
}

#[tokio::test]
async fn a_finished_ipn_that_arrived_closes_the_watch_without_a_second_invite() {
    let (chain, nowpayments, payment_id) = paid_with_every_ipn_lost().await;
    deliver(&chain, &nowpayments, payment_id, "waiting").await;
    assert_eq!(
        deliver(&chain, &nowpayments, payment_id, "finished").await,
        (200, "queued".into())
    );
    chain.run_processor(1).await;
    chain.run_invite_sender(1).await;

    let report = run_after(&chain, &recovery(&chain, &nowpayments, API_KEY), 21).await;
    assert_eq!((report.recovered, report.arrived), (0, 1), "{report:?}");
    assert!(
        nowpayments.status_requests().is_empty(),
        "recorded already: nothing to ask NOWPayments"
    );
    chain.run_processor(1).await;
    chain.run_invite_sender(1).await;
    assert_eq!(chain.fake.delivered("sendMessage").len(), 1);
}

#[tokio::test]
async fn a_refused_api_key_recovers_nothing_and_keeps_the_watch_for_when_it_is_fixed() {
    let (chain, nowpayments, payment_id) = paid_with_every_ipn_lost().await;
    deliver(&chain, &nowpayments, payment_id, "waiting").await;

    let wrong = recovery(&chain, &nowpayments, "a-rotated-old-key");
    let report = run_after(&chain, &wrong, 21).await;
    assert_eq!((report.refused, report.recovered), (1, 0), "{report:?}");
    assert_eq!(nowpayments.status_requests(), [(payment_id, 403)]);

    let fixed = recovery(&chain, &nowpayments, API_KEY);
    assert_eq!(run_after(&chain, &fixed, 21).await.recovered, 1);
}

#[tokio::test]
async fn a_slow_nowpayments_is_asked_again_later_not_waited_on_forever() {
    let (chain, nowpayments, payment_id) = paid_with_every_ipn_lost().await;
    deliver(&chain, &nowpayments, payment_id, "waiting").await;
    nowpayments.slow_status(Duration::from_secs(12));
    let report = run_after(&chain, &recovery(&chain, &nowpayments, API_KEY), 21).await;
    assert_eq!((report.unavailable, report.recovered), (1, 0), "{report:?}");
}

#[tokio::test]
async fn with_the_accounts_login_a_payment_whose_every_ipn_was_lost_is_found_and_invited_once() {
    // Not one IPN reached np-webhook: nothing watches the payment.
    let (chain, nowpayments, payment_id) = paid_with_every_ipn_lost().await;

    // With the API key alone the pass cannot know of it.
    let key_only = run_after(&chain, &recovery(&chain, &nowpayments, API_KEY), 1).await;
    assert_eq!((key_only.discovered, key_only.recovered), (0, 0));
    assert!(nowpayments.status_requests().is_empty());

    let login = Some(("owner@example.com", "account-password"));
    let listing = recovery_with(&chain, &nowpayments, API_KEY, login);
    let report = run_after(&chain, &listing, 1).await;
    assert_eq!((report.discovered, report.recovered), (1, 1), "{report:?}");
    assert_eq!(nowpayments.list_requests(), [200]);
    chain.run_processor(1).await;
    chain.run_invite_sender(1).await;
    let sent = chain.fake.delivered("sendMessage");
    assert_eq!(sent.len(), 1, "one invite");
    assert_eq!(sent[0].chat_id(), Some(SAMPLE_USER_ID));

    // Listed again: watched and settled already, nothing more.
    let again = run_after(&chain, &listing, 5).await;
    assert_eq!((again.discovered, again.recovered), (0, 0), "{again:?}");
    assert_eq!(
        deliver(&chain, &nowpayments, payment_id, "finished").await,
        (200, "duplicate".into()),
        "a finished IPN arriving at last finds it recorded"
    );
}

#[tokio::test]
async fn a_wrong_account_password_is_refused_and_counted() {
    let (chain, nowpayments, _) = paid_with_every_ipn_lost().await;
    let wrong = recovery_with(
        &chain,
        &nowpayments,
        API_KEY,
        Some(("owner@example.com", "an-old-password")),
    );
    let report = run_after(&chain, &wrong, 1).await;
    assert_eq!((report.refused, report.recovered), (1, 0), "{report:?}");
    assert!(nowpayments.list_requests().is_empty(), "no token, no list");
}

#[tokio::test]
async fn a_repeat_deposit_is_held_and_never_granted_whether_its_ipn_comes_or_the_pass_finds_it() {
    let chain = Chain::new().await;
    let nowpayments = FakeNowPayments::start(API_KEY, SAMPLE_IPN_SECRET).await;
    let invoice_id = invoice(&nowpayments).await;
    let paid = nowpayments
        .pay_with(&invoice_id, Delivery::Dropped)
        .await
        .unwrap();
    assert_eq!(
        deliver(&chain, &nowpayments, paid, "finished").await,
        (200, "queued".into())
    );
    // The buyer sends the same amount again to the same address.
    let repeat = nowpayments.repeat_deposit(paid).unwrap();
    assert_eq!(
        deliver(&chain, &nowpayments, repeat, "finished").await,
        (200, "held".into())
    );
    let store = &chain.webhook.store;
    use telepay_core::store::OperatorStore;
    let review = store
        .get_review(PaymentId::new(repeat).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(review.reason.as_str(), "repeat_deposit");
    assert!(
        store
            .get_payment(PaymentId::new(repeat).unwrap())
            .await
            .unwrap()
            .is_none()
    );
    // Another repeat whose IPN is lost: the operator's recover asks NOWPayments, which
    // names its parent, and it is held the same way.
    let lost = nowpayments.repeat_deposit(paid).unwrap();
    let recovery = recovery(&chain, &nowpayments, API_KEY);
    let asked = recovery
        .recover_now(PaymentId::new(lost).unwrap())
        .await
        .unwrap();
    assert_eq!(asked.status, "finished");
    let review = store
        .get_review(PaymentId::new(lost).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(review.reason.as_str(), "repeat_deposit");
}
