//! A Telegram Stars payment handed over by the bot: recorded only once the bot's own
//! Stars ledger (`getStarTransactions`, read through teloxide-core from the fake Bot API)
//! lists the charge as this buyer's, for this invoice and amount, not refunded; then
//! granted once, with no payout.

use fake_bot_api::FakeBotApi;
use telepay_core::order::{ChannelId, UserId};
use telepay_core::queue::ProcessorMessage;
use telepay_core::stars::{StarsCharge, StarsOrder, StarsPaid, charge_payment_id};
use telepay_core::store::SubscriptionStore;
use telepay_core::subscription::{GrantSource, SubscriptionKey};
use telepay_core::telegram::{StarsInvoice, StarsPayments};
use telepay_shared::telegram::{BotToken, TelegramBotApi};

use super::*;

const TOKEN: &str = "123456:processor-stars";
const BUYER: i64 = 6271402111;
const SIGNALS: i64 = -1003111266231;
const SIGNALS_PRIVATE: i64 = -1002222222222;

type StarsProcessor = PaymentProcessor<MemoryStore, MemoryQueue, MemoryQueue, TelegramBotApi>;

struct Rig {
    processor: StarsProcessor,
    telegram: FakeBotApi,
}

fn api(fake: &FakeBotApi) -> TelegramBotApi {
    TelegramBotApi::new(BotToken::new(TOKEN).unwrap(), Some(&fake.url())).unwrap()
}

async fn rig() -> Rig {
    let telegram = FakeBotApi::start(TOKEN).await;
    let processor = empty_processor().with_stars_ledger(api(&telegram));
    Rig {
        processor,
        telegram,
    }
}

fn order(user: i64, stars: u32) -> StarsOrder {
    StarsOrder {
        user_id: UserId::new(user).unwrap(),
        channel_id: ChannelId::new(SIGNALS).unwrap(),
        tier_seconds: 2_592_000,
        catalog_version: 0,
        stars,
        recurring: true,
    }
}

/// `order`'s buyer pays it in Stars: the charge id.
async fn paid(rig: &Rig, order: &StarsOrder) -> String {
    let link = api(&rig.telegram)
        .create_stars_invoice_link(&StarsInvoice {
            title: "Signals".into(),
            description: "30 days".into(),
            payload: order.to_payload(),
            stars: order.stars,
            recurring: order.recurring,
        })
        .await
        .unwrap();
    rig.telegram
        .charge_stars(order.user_id.get(), &link)
        .unwrap()
}

/// What the bot hands over for a `successful_payment` saying this.
fn handover(charge_id: &str, order: &StarsOrder, total_amount: u32) -> String {
    let charge = StarsCharge {
        charge_id: charge_id.into(),
        order: order.clone(),
        stars_paid: total_amount,
        paid_at: chrono::Utc::now(),
    };
    let record = charge.record(SIGNALS_PRIVATE).unwrap();
    let paid = StarsPaid {
        charge_id: charge_id.into(),
        invoice_payload: order.to_payload(),
        total_amount,
    };
    ProcessorMessage::stars_paid(&record, paid).to_json()
}

fn key(user: i64) -> SubscriptionKey {
    SubscriptionKey::new(UserId::new(user).unwrap(), SIGNALS_PRIVATE)
}

#[tokio::test]
async fn a_charge_the_ledger_lists_is_recorded_and_granted_once_with_no_payout() {
    let rig = rig().await;
    let order = order(BUYER, 250);
    let charge_id = paid(&rig, &order).await;
    let body = handover(&charge_id, &order, 250);
    // Telegram redelivers, the bot hands over again, SQS redelivers: one record, one grant.
    assert!(
        invoke(&rig.processor, &[body.clone(), body.clone()])
            .await
            .is_empty()
    );
    assert!(invoke(&rig.processor, &[body]).await.is_empty());

    let payment_id = charge_payment_id(&charge_id);
    let record = rig
        .processor
        .store
        .payment(payment_id.get())
        .expect("recorded");
    assert_eq!(record.state, RecordState::Accepted);
    assert!(record.processed, "processed");
    let purchase = record.purchase.unwrap();
    assert_eq!(purchase.star_charge_id.as_deref(), Some(charge_id.as_str()));
    assert_eq!(
        (purchase.price_amount, purchase.price_currency.as_str()),
        (250.0, "xtr")
    );
    let subscription = rig
        .processor
        .store
        .get_subscription(key(BUYER))
        .await
        .unwrap()
        .expect("the buyer's subscription");
    assert_eq!(subscription.grants.len(), 1, "granted once");
    assert_eq!(
        subscription.grants[0].source,
        GrantSource::Payment(payment_id.get())
    );
    assert_eq!(
        subscription.expires_at - record.created_at,
        chrono::TimeDelta::days(30),
        "30 days from the ledger's date"
    );
    assert!(
        rig.processor.payout_queue.bodies().is_empty(),
        "Stars stay with the bot"
    );
    let invites = rig.processor.invite_queue.bodies();
    assert!(!invites.is_empty(), "the invite is asked for");
    assert!(
        invites
            .iter()
            .all(|b| b.contains(&payment_id.get().to_string()))
    );
}

#[tokio::test]
async fn a_handover_the_ledger_does_not_vouch_for_writes_and_grants_nothing() {
    let rig = rig().await;
    let order = order(BUYER, 250);
    let charge_id = paid(&rig, &order).await;
    let stranger = 7_000_000_001;
    let forgeries = [
        // A charge Telegram never made.
        handover("stxforged0001", &order, 250),
        // A real charge, claimed by another account (its own payload and all).
        handover(&charge_id, &self::order(stranger, 250), 250),
        // A real charge, claimed for more than was paid.
        handover(&charge_id, &self::order(BUYER, 2500), 2500),
    ];
    for forged in &forgeries {
        let failed = invoke(&rig.processor, std::slice::from_ref(forged)).await;
        assert_eq!(
            failed.len(),
            1,
            "left to the dead-letter queue, seen: {forged}"
        );
    }
    assert!(
        rig.processor
            .store
            .payment(charge_payment_id("stxforged0001").get())
            .is_none()
    );
    assert!(
        rig.processor
            .store
            .payment(charge_payment_id(&charge_id).get())
            .is_none()
    );
    for user in [BUYER, stranger] {
        let sub = rig
            .processor
            .store
            .get_subscription(key(user))
            .await
            .unwrap();
        assert!(sub.is_none(), "no time for {user}: {sub:?}");
    }
    assert!(rig.processor.invite_queue.bodies().is_empty());
    assert!(rig.processor.payout_queue.bodies().is_empty());

    // Without a ledger to read (no bot token), nothing is recorded either.
    let blind = empty_processor();
    let failed = invoke(&blind, &[handover(&charge_id, &order, 250)]).await;
    assert_eq!(failed.len(), 1);
    assert!(
        blind
            .store
            .payment(charge_payment_id(&charge_id).get())
            .is_none()
    );
}

#[tokio::test]
async fn a_charge_refunded_before_it_was_recorded_grants_nothing_and_is_done() {
    let rig = rig().await;
    let order = order(BUYER, 250);
    let charge_id = paid(&rig, &order).await;
    api(&rig.telegram)
        .refund_star_payment(BUYER, &charge_id)
        .await
        .unwrap();
    let failed = invoke(&rig.processor, &[handover(&charge_id, &order, 250)]).await;
    assert!(failed.is_empty(), "nothing to retry: the Stars went back");
    assert!(
        rig.processor
            .store
            .payment(charge_payment_id(&charge_id).get())
            .is_none()
    );
    assert!(
        rig.processor
            .store
            .get_subscription(key(BUYER))
            .await
            .unwrap()
            .is_none(),
        "no time for a refunded charge"
    );
}

#[tokio::test]
async fn a_charge_deep_in_a_long_ledger_is_found() {
    let rig = rig().await;
    // 250 purchases by others first: the ledger spans pages.
    for n in 0..250 {
        paid(&rig, &order(8_000_000_000 + n, 5)).await;
    }
    let order = order(BUYER, 250);
    let charge_id = paid(&rig, &order).await;
    assert!(
        invoke(&rig.processor, &[handover(&charge_id, &order, 250)])
            .await
            .is_empty()
    );
    assert!(
        rig.processor
            .store
            .payment(charge_payment_id(&charge_id).get())
            .is_some()
    );
    let reads = rig.telegram.delivered("getStarTransactions").len();
    assert!(reads <= 14, "{reads} ledger reads for 251 transactions");
    // The next charge, on the warm processor: it starts from the length it found.
    let next = paid(&rig, &order).await;
    assert!(
        invoke(&rig.processor, &[handover(&next, &order, 250)])
            .await
            .is_empty()
    );
    assert!(
        rig.processor
            .store
            .payment(charge_payment_id(&next).get())
            .is_some()
    );
    let warm = rig.telegram.delivered("getStarTransactions").len() - reads;
    assert!(warm <= 3, "{warm} ledger reads for the next charge");
}
