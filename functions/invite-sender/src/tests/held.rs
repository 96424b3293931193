//! Held means told: a held payment's buyer and owner each get one message through the
//! invite sender, whatever SQS redelivers, whatever Telegram answers.

use telepay_core::fixtures::SAMPLE_IPN;
use telepay_core::held::HoldNoticeRequest;
use telepay_core::ipn::PaymentId;
use telepay_core::payment::{HoldReason, PaymentReview, ReviewDecision};
use telepay_core::store::{HeldNoticeStore, IngressStore, OperatorStore};

use super::*;

const HELD: i64 = 4492847470;
const OWNER: i64 = 5550001;
const SECOND_OWNER: i64 = 5550002;

/// The demo directory with an owner, and a second channel with another owner.
fn directory_with_owners() -> ChannelDirectory {
    let mut json: serde_json::Value = serde_json::from_str(SAMPLE_DIRECTORY).unwrap();
    let channels = json["channels"].as_array_mut().unwrap();
    channels[0]["owner_chat_id"] = OWNER.into();
    let mut second = channels[0].clone();
    second["channel_id"] = (-1003222222222_i64).into();
    second["private_channel_id"] = (-1003222222222_i64).into();
    second["title"] = "Second channel".into();
    second["owner_chat_id"] = SECOND_OWNER.into();
    channels.push(second);
    ChannelDirectory::from_json(&json.to_string()).unwrap()
}

async fn held_world() -> World {
    world_on(directory_with_owners(), fast_settings()).await
}

fn review(reason: HoldReason, ipn: String) -> PaymentReview {
    PaymentReview {
        payment_id: PaymentId::new(HELD).unwrap(),
        reason,
        ipn,
        received_at: Utc::now(),
        decision: None,
        decided_at: None,
    }
}

fn notice_body() -> String {
    HoldNoticeRequest::new(PaymentId::new(HELD).unwrap()).to_json()
}

impl World {
    async fn hold(&self, reason: HoldReason, ipn: String) {
        self.sender
            .store
            .hold_for_review(&review(reason, ipn))
            .await
            .unwrap();
    }

    async fn tell(&self) -> Vec<String> {
        self.invoke(&[notice_body()], Duration::from_secs(30)).await
    }

    fn messages_to(&self, chat: i64) -> Vec<String> {
        self.fake
            .delivered("sendMessage")
            .iter()
            .filter(|c| c.chat_id() == Some(chat))
            .map(|c| c.text().unwrap().to_owned())
            .collect()
    }

    async fn told(&self) -> Option<String> {
        let state = self
            .sender
            .store
            .notice_state(PaymentId::new(HELD).unwrap());
        state.await.unwrap().unwrap().told
    }
}

#[tokio::test]
async fn a_price_mismatch_hold_tells_the_buyer_and_the_owner_once_with_the_commands_that_settle_it()
{
    let world = held_world().await;
    let cheap = SAMPLE_IPN.replace("\"price_amount\":3.21", "\"price_amount\":1.5");
    world.hold(HoldReason::PriceMismatch, cheap).await;

    // Delivered three times (np-webhook queues it with each IPN repeat).
    for _ in 0..3 {
        assert!(world.tell().await.is_empty());
    }

    let buyer = world.messages_to(USER);
    assert_eq!(buyer.len(), 1, "one message to the buyer: {buyer:?}");
    assert!(buyer[0].contains("4492847470"), "{}", buyer[0]);
    assert!(buyer[0].contains("1.5 USD"), "{}", buyer[0]);
    assert!(buyer[0].contains("a person will check it"), "{}", buyer[0]);
    assert!(buyer[0].contains("Demo channel"), "{}", buyer[0]);
    let owner = world.messages_to(OWNER);
    assert_eq!(owner.len(), 1, "one notice to the owner: {owner:?}");
    for command in [
        "telepay reviews approve 4492847470",
        "telepay reviews reject 4492847470",
    ] {
        assert!(owner[0].contains(command), "{}", owner[0]);
    }
    assert!(owner[0].contains("user 6271402111"), "{}", owner[0]);
    assert!(
        world.messages_to(SECOND_OWNER).is_empty(),
        "not their channel"
    );
    assert_eq!(world.told().await.as_deref(), Some("buyer:sent owner:sent"));
}

#[tokio::test]
async fn a_buyer_who_blocked_the_bot_is_recorded_unreachable_and_the_owner_is_told_so() {
    let world = held_world().await;
    let repeat = SAMPLE_IPN.replace("\"parent_payment_id\":null", "\"parent_payment_id\":7");
    world.hold(HoldReason::RepeatDeposit, repeat).await;
    world.fake.inject(
        Fault::new(
            "sendMessage",
            FaultKind::Forbidden("Forbidden: bot was blocked by the user".into()),
        )
        .for_chat(USER),
    );

    assert!(
        world.tell().await.is_empty(),
        "nothing a retry could change"
    );

    let owner = world.messages_to(OWNER);
    assert_eq!(owner.len(), 1);
    assert!(owner[0].contains("repeat deposit"), "{}", owner[0]);
    assert!(owner[0].contains("could not be told"), "{}", owner[0]);
    assert_eq!(
        world.told().await.as_deref(),
        Some("buyer:unreachable owner:sent")
    );
}

#[tokio::test]
async fn a_telegram_outage_hands_the_notice_back_and_the_retry_tells_the_buyer_once() {
    let world = held_world().await;
    world
        .hold(HoldReason::PriceMismatch, SAMPLE_IPN.into())
        .await;
    world
        .fake
        .inject(Fault::new("sendMessage", FaultKind::ServerError));

    assert_eq!(world.tell().await, vec!["m0".to_string()], "handed back");
    assert_eq!(world.told().await, None, "not told yet");
    // The lease was released: the redelivery tells at once.
    assert!(world.tell().await.is_empty());

    assert_eq!(world.messages_to(USER).len(), 1);
    assert_eq!(world.messages_to(OWNER).len(), 1);
    assert_eq!(world.told().await.as_deref(), Some("buyer:sent owner:sent"));
}

#[tokio::test]
async fn an_order_naming_no_buyer_tells_every_owner_and_no_buyer() {
    let world = held_world().await;
    let foreign = SAMPLE_IPN.replace("PGP-6271402111|-1003111266231", "ORDER-7");
    world.hold(HoldReason::UnparseableOrderId, foreign).await;

    assert!(world.tell().await.is_empty());

    assert!(world.messages_to(USER).is_empty());
    for owner in [OWNER, SECOND_OWNER] {
        let told = world.messages_to(owner);
        assert_eq!(told.len(), 1, "owner {owner}");
        assert!(told[0].contains("an unknown buyer"), "{}", told[0]);
        assert!(told[0].contains("telepay reviews approve 4492847470"));
    }
    assert_eq!(world.told().await.as_deref(), Some("buyer:none owner:sent"));
}

#[tokio::test]
async fn a_hold_decided_before_its_notice_arrives_sends_nothing() {
    let world = held_world().await;
    world
        .hold(HoldReason::PriceMismatch, SAMPLE_IPN.into())
        .await;
    let decided = world.sender.store.decide_review(
        PaymentId::new(HELD).unwrap(),
        ReviewDecision::Approved,
        Utc::now(),
    );
    decided.await.unwrap();

    assert!(world.tell().await.is_empty());

    assert!(world.fake.delivered("sendMessage").is_empty());
    assert_eq!(world.told().await.as_deref(), Some("decided_first"));
}

#[tokio::test]
async fn a_notice_for_a_payment_never_held_is_retried_then_dead_lettered_not_dropped() {
    let world = held_world().await;
    assert_eq!(world.tell().await, vec!["m0".to_string()]);
    assert!(world.fake.delivered("sendMessage").is_empty());
}

#[tokio::test]
async fn an_underpaid_payment_tells_the_buyer_what_arrived_and_what_is_missing() {
    let world = held_world().await;
    // 0.04 of the 0.05716941 LTC asked for 3.21 USD: 2.25 USD arrived, 0.96 missing.
    let short = SAMPLE_IPN
        .replace(
            "\"payment_status\":\"finished\"",
            "\"payment_status\":\"partially_paid\"",
        )
        .replace("\"actually_paid\":0,", "\"actually_paid\":0.04,");
    world.hold(HoldReason::Underpaid, short).await;

    assert!(world.tell().await.is_empty());

    let buyer = world.messages_to(USER);
    assert_eq!(buyer.len(), 1);
    assert!(
        buyer[0].contains("arrived short: 2.25 USD of 3.21 USD"),
        "{}",
        buyer[0]
    );
    assert!(buyer[0].contains("0.96 USD missing"), "{}", buyer[0]);
    let owner = world.messages_to(OWNER);
    assert!(
        owner[0].contains("less arrived than was asked (2.25 USD of 3.21 USD arrived)"),
        "{}",
        owner[0]
    );
    assert!(owner[0].contains("telepay reviews approve 4492847470"));
}

#[tokio::test]
async fn a_short_payment_offered_a_top_up_tells_the_buyer_to_send_topup_and_the_owner_it_completes_itself()
 {
    let world = held_world().await;
    // The order names its tier: the channel (topup, the default) offers the rest.
    let short = SAMPLE_IPN
        .replace(
            "\"payment_status\":\"finished\"",
            "\"payment_status\":\"partially_paid\"",
        )
        .replace("\"actually_paid\":0,", "\"actually_paid\":0.04,")
        .replace(
            "PGP-6271402111|-1003111266231",
            "PGP-6271402111|-1003111266231|2592000",
        );
    world.hold(HoldReason::Underpaid, short).await;
    assert!(world.tell().await.is_empty());
    let buyer = world.messages_to(USER);
    assert!(
        buyer[0].contains("Send /topup to pay the missing 0.96 USD"),
        "{}",
        buyer[0]
    );
    let owner = world.messages_to(OWNER);
    assert!(
        owner[0].contains("asked to pay the rest with /topup: the access starts by itself"),
        "{}",
        owner[0]
    );
    assert!(owner[0].contains("telepay reviews approve 4492847470"));

    // A short top-up of that purchase: the commands name the purchase, not the part.
    let world = held_world().await;
    let part = SAMPLE_IPN
        .replace(
            "\"payment_status\":\"finished\"",
            "\"payment_status\":\"partially_paid\"",
        )
        .replace("\"actually_paid\":0,", "\"actually_paid\":0.04,")
        .replace(
            "PGP-6271402111|-1003111266231",
            "PGP-6271402111|-1003111266231|2592000|5077000001",
        );
    world.hold(HoldReason::Underpaid, part).await;
    assert!(world.tell().await.is_empty());
    let owner = world.messages_to(OWNER);
    assert!(
        owner[0].contains("telepay reviews approve 5077000001"),
        "{}",
        owner[0]
    );
    assert!(world.messages_to(USER)[0].contains("/topup"));
}

#[tokio::test]
async fn a_sale_that_brought_more_than_the_tier_tells_the_owner_the_surplus() {
    // Not a hold: the tier is granted as bought; the owner hears of what came above it.
    let world = held_world().await;
    let mut paid = record(1);
    paid.purchase.as_mut().unwrap().overpaid_by = Some(2.0);
    world.sender.store.put_payment(paid);
    subscribed(&world, &[1]).await;

    assert!(world.invoke_one(1).await.is_empty());

    let owner = world.messages_to(OWNER);
    assert_eq!(owner.len(), 1);
    assert!(
        owner[0].starts_with("New subscriber in Demo channel"),
        "{}",
        owner[0]
    );
    assert!(
        owner[0].contains("They paid 2.00 USD more than the tier's price"),
        "{}",
        owner[0]
    );
    assert_eq!(world.messages_to(USER).len(), 1, "the buyer's invite");
}

#[tokio::test]
async fn a_sale_whose_ipns_never_arrived_tells_the_owner_the_callback_is_broken() {
    // Recorded by the recovery pass from NOWPayments' answer: the owner, on a phone,
    // hears it where they hear of sales, not only in a CloudWatch alarm.
    let world = held_world().await;
    let mut recovered = record(1);
    recovered.purchase.as_mut().unwrap().recovered = true;
    world.sender.store.put_payment(recovered);
    let mut plain = record(2);
    plain.user_id = telepay_core::order::UserId::new(USER + 1).unwrap();
    world.sender.store.put_payment(plain);
    subscribed(&world, &[1]).await;

    assert!(world.invoke_one(1).await.is_empty());

    let owner = world.messages_to(OWNER);
    assert_eq!(owner.len(), 1);
    assert!(
        owner[0].contains("notification of this payment never reached your bot"),
        "{}",
        owner[0]
    );
    assert!(owner[0].contains("IPN callback URL"), "{}", owner[0]);
    assert_eq!(
        world.messages_to(USER).len(),
        1,
        "the buyer's invite as usual"
    );
}

#[tokio::test]
async fn a_prorated_sale_tells_the_buyer_and_the_owner_what_the_short_payment_bought() {
    let world = held_world().await;
    let mut short = record(1);
    let purchase = short.purchase.as_mut().unwrap();
    purchase.duration_seconds = Some(21 * 86_400);
    purchase.prorated_from_seconds = Some(30 * 86_400);
    world.sender.store.put_payment(short);
    subscribed(&world, &[1]).await;

    assert!(world.invoke_one(1).await.is_empty());

    let buyer = world.messages_to(USER);
    assert_eq!(buyer.len(), 1, "one message: the invite, with the note");
    assert!(buyer[0].contains("https://t.me/"), "{}", buyer[0]);
    assert!(
        buyer[0].contains(
            "arrived short (2.25 USD of 3.21 USD), so it bought 21 days of the 30 days you chose"
        ),
        "{}",
        buyer[0]
    );
    let owner = world.messages_to(OWNER);
    assert!(
        owner[0].contains("so it bought 21 days of the 30 days tier"),
        "{}",
        owner[0]
    );
}

#[tokio::test]
async fn a_purchase_never_completed_tells_its_owner_once_with_the_commands_that_settle_it() {
    use telepay_core::store::{OpenPurchase, PurchasePartsStore};
    use telepay_core::topup::PurchaseWaitNotice;
    let world = held_world().await;
    world
        .hold(HoldReason::Underpaid, SAMPLE_IPN.to_owned())
        .await;
    let id = PaymentId::new(HELD).unwrap();
    let open = OpenPurchase {
        purchase_id: id,
        user_id: USER,
        channel_id: -1003111266231,
        price_amount: 3.21,
        price_currency: "usd".into(),
        first_paid: 2.25,
        first_outcome: None,
        opened_at: Utc::now(),
    };
    world.sender.store.open_purchase(&open).await.unwrap();
    let notice = PurchaseWaitNotice::new(id).to_json();
    for _ in 0..2 {
        assert!(
            world
                .invoke(std::slice::from_ref(&notice), Duration::from_secs(30))
                .await
                .is_empty()
        );
    }
    let owner = world.messages_to(OWNER);
    assert_eq!(owner.len(), 1, "told once: {owner:?}");
    assert!(
        owner[0]
            .contains("still short: 2.25 USD of 3.21 USD arrived in one payment, 0.96 USD missing"),
        "{}",
        owner[0]
    );
    assert!(owner[0].contains("telepay reviews approve 4492847470"));
    assert!(
        world.messages_to(USER).is_empty(),
        "the buyer was told at the hold"
    );
    let told = world.sender.store.purchase_of(id).await.unwrap().unwrap();
    assert!(told.owner_told_at.is_some());
}
