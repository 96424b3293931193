//! The Telegram Stars rail in the bot (`telepay_core::bot::front_door::stars`): both rails
//! offered, the Stars invoice link, the pre-checkout answer, and a payment handed to the
//! processor (which records it once the bot's ledger lists it: the processor's tests).
//! The buyer pays through the fake Bot API's payments model; its updates reach the bot
//! through `getUpdates` and teloxide-core, as `telepay serve` polls them.

use std::time::Duration;

use fake_bot_api::StarsCheckout;
use telepay_core::polling::UpdateSource;
use telepay_core::queue::ProcessorMessage;
use telepay_core::stars::{StarsOrder, charge_payment_id};
use telepay_core::telegram::{StarsInvoice, StarsPayments};

use super::*;

/// Signals sold for crypto and for Stars (its 30-day tier renewing, its 90-day one-time);
/// the Club for crypto only.
const WITH_STARS: &str = r#"{
  "channels": [
    { "channel_id": -1003111266231, "private_channel_id": -1002222222222, "title": "Signals",
      "tiers": [ { "price_amount": 3.21, "price_currency": "usd", "subscription_days": 30, "stars": 250 },
                 { "price_amount": 8, "price_currency": "usd", "subscription_days": 90, "stars": 600 } ] },
    { "channel_id": -1004444444444, "private_channel_id": -1005555555555, "title": "Club",
      "admission": "join_request",
      "tiers": [ { "price_amount": 5, "price_currency": "usdt", "duration": "7d" } ] }
  ]
}"#;

fn api(rig: &Rig) -> TelegramBotApi {
    TelegramBotApi::new(BotToken::new(TOKEN).unwrap(), Some(&rig.telegram.url())).unwrap()
}

/// The buttons of the last menu sent to `chat`: (text, callback data or URL).
fn last_buttons(rig: &Rig, chat: i64) -> Vec<Vec<(String, String)>> {
    let sent = rig.telegram.delivered("sendMessage");
    let last = sent
        .iter()
        .rfind(|c| c.chat_id() == Some(chat))
        .expect("a message to the chat");
    let markup = match &last.params["reply_markup"] {
        Value::String(json) => serde_json::from_str(json).unwrap(),
        other => other.clone(),
    };
    markup["inline_keyboard"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|b| {
                    let target = b["callback_data"].as_str().or(b["url"].as_str());
                    (
                        b["text"].as_str().unwrap().to_owned(),
                        target.unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .collect()
}

/// Hands every update Telegram holds for the bot to it, and confirms them.
async fn deliver_updates(rig: &Rig) -> usize {
    let updates = api(rig).updates(None, Duration::ZERO).await.unwrap();
    let mut last = None;
    for update in &updates {
        let body: Value = serde_json::from_slice(&update.body).unwrap();
        assert_eq!(call(rig, &body).await.0, StatusCode::OK);
        last = Some(update.update_id);
    }
    if let Some(last) = last {
        api(rig)
            .updates(Some(last + 1), Duration::ZERO)
            .await
            .unwrap();
    }
    updates.len()
}

/// `user` pays the Stars invoice `link`, the bot answering the pre-checkout query as it
/// arrives, then receiving the payment.
async fn pays(rig: &Rig, user: i64, link: &str) -> StarsCheckout {
    let answering = async {
        // The query arrives once the buyer confirms; answered well inside 10 seconds.
        for _ in 0..100 {
            if deliver_updates(rig).await > 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (checkout, ()) = tokio::join!(rig.telegram.pay_stars(user, link), answering);
    deliver_updates(rig).await;
    checkout
}

/// The Stars link of the Pay button the bot sent `user` after they pressed `data`.
async fn stars_link(rig: &Rig, user: i64, data: &str, update_id: i64) -> String {
    assert_eq!(
        call(rig, &press(update_id, user, data)).await.0,
        StatusCode::OK
    );
    let buttons = last_buttons(rig, user);
    assert_eq!(buttons.len(), 1, "one Pay button: {buttons:?}");
    buttons[0][0].1.clone()
}

fn handed_over(rig: &Rig) -> Vec<ProcessorMessage> {
    rig.bot
        .processor_queue()
        .unwrap()
        .bodies()
        .iter()
        .map(|body| serde_json::from_str(body).unwrap())
        .collect()
}

#[tokio::test]
async fn both_rails_are_offered_and_a_stars_purchase_reaches_the_processor_once_paid() {
    let rig = rig_with(WITH_STARS).await;
    call(&rig, &message(1, BUYER, "/start -1003111266231")).await;
    let rows = last_buttons(&rig, BUYER);
    let shown: Vec<Vec<&str>> = rows
        .iter()
        .map(|row| row.iter().map(|(text, _)| text.as_str()).collect())
        .collect();
    assert_eq!(
        shown,
        [
            ["3.21 USD · 30 days", "⭐ 250 · 30 days"],
            ["8 USD · 90 days", "⭐ 600 · 90 days"]
        ],
        "each tier, each rail, with what it costs"
    );

    // The 30-day tier in Stars: a renewing invoice at the catalog's price, no NOWPayments.
    let link = stars_link(&rig, BUYER, &rows[0][1].1, 2).await;
    assert!(link.starts_with("https://t.me/$"), "{link}");
    let made = rig.telegram.delivered("createInvoiceLink");
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].params["currency"], "XTR");
    assert_eq!(made[0].params["prices"][0]["amount"], 250);
    assert_eq!(made[0].params["subscription_period"], 2_592_000);
    assert!(rig.nowpayments.invoices().is_empty(), "no crypto invoice");
    let said = texts_to(&rig, BUYER);
    assert!(
        said.last()
            .unwrap()
            .contains("renewed by Telegram every 30 days"),
        "{said:?}"
    );

    let StarsCheckout::Paid(charge_id) = pays(&rig, BUYER, &link).await else {
        panic!("the bot let Telegram charge");
    };
    let handed = handed_over(&rig);
    assert_eq!(handed.len(), 1, "the payment went to the processor");
    let message = &handed[0];
    assert_eq!(message.payment_id, charge_payment_id(&charge_id));
    assert_eq!(message.user_id.get(), BUYER);
    assert_eq!(message.purchase.private_channel_id, SIGNALS_PRIVATE);
    assert_eq!(message.purchase.duration_seconds, Some(2_592_000));
    let paid = message.stars_paid.as_ref().expect("a Stars handover");
    assert_eq!(
        (paid.charge_id.as_str(), paid.total_amount),
        (charge_id.as_str(), 250)
    );
    // The bot wrote no payment: the processor writes it once the ledger lists it.
    let record = rig.bot.store().payment(message.payment_id.get());
    assert!(record.is_none(), "{record:?}");

    // The 90-day tier in Stars is one payment, not renewed.
    let link = stars_link(&rig, BUYER, &rows[1][1].1, 3).await;
    let made = rig.telegram.delivered("createInvoiceLink");
    assert!(
        made[1]
            .params
            .get("subscription_period")
            .is_none_or(Value::is_null)
    );
    assert!(matches!(
        pays(&rig, BUYER, &link).await,
        StarsCheckout::Paid(_)
    ));
    assert_eq!(handed_over(&rig).len(), 2);
}

#[tokio::test]
async fn a_purchase_that_no_longer_matches_the_catalog_is_refused_before_the_charge() {
    let rig = rig_with(WITH_STARS).await;
    let order = |stars, user: i64| StarsOrder {
        user_id: UserId::new(user).unwrap(),
        channel_id: telepay_core::order::ChannelId::new(SIGNALS).unwrap(),
        tier_seconds: 2_592_000,
        catalog_version: 0,
        stars,
        recurring: true,
    };
    let invoice = |order: &StarsOrder| StarsInvoice {
        title: "Signals".into(),
        description: "30 days".into(),
        payload: order.to_payload(),
        stars: order.stars,
        recurring: true,
    };
    // An invoice at an old price, one made for another account, one not ours at all.
    let old_price = api(&rig)
        .create_stars_invoice_link(&invoice(&order(200, BUYER)))
        .await
        .unwrap();
    let others = api(&rig)
        .create_stars_invoice_link(&invoice(&order(250, STRANGER)))
        .await
        .unwrap();
    let forged = api(&rig)
        .create_stars_invoice_link(&StarsInvoice {
            payload: "free access please".into(),
            ..invoice(&order(250, BUYER))
        })
        .await
        .unwrap();
    for (link, why) in [
        (old_price, "price in Stars has changed"),
        (others, "another Telegram account"),
        (forged, "not a purchase of this bot"),
    ] {
        match pays(&rig, BUYER, &link).await {
            StarsCheckout::Refused(said) => assert!(said.contains(why), "{said}"),
            other => panic!("{why}: {other:?}"),
        }
    }
    assert!(rig.telegram.star_charges().is_empty(), "nobody was charged");
    assert!(handed_over(&rig).is_empty());
    // The catalog's own price still sells.
    let link = api(&rig)
        .create_stars_invoice_link(&invoice(&order(250, BUYER)))
        .await
        .unwrap();
    assert!(matches!(
        pays(&rig, BUYER, &link).await,
        StarsCheckout::Paid(_)
    ));
}

#[tokio::test]
async fn a_tier_not_sold_for_stars_has_no_stars_button_and_a_forged_one_is_stale() {
    let rig = rig_with(WITH_STARS).await;
    call(&rig, &message(1, BUYER, "/start -1004444444444")).await;
    let rows = last_buttons(&rig, BUYER);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].len(), 1, "crypto only: {rows:?}");
    call(&rig, &press(2, BUYER, "stars:-1004444444444:0")).await;
    assert!(rig.telegram.delivered("createInvoiceLink").is_empty());
    let answered = rig.telegram.delivered("answerCallbackQuery");
    assert!(
        answered.last().unwrap().params["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "told the button is stale"
    );
}

/// What the processor leaves once it recorded and granted the handed-over payment (its
/// own tests prove it does): the record, processed, and the paid time in the fold.
async fn processed(rig: &Rig, message: &ProcessorMessage) {
    let mut record = message.record("stars", rig.clock.now());
    record.processed = true;
    rig.bot.store().put_payment(record);
    let access = message.purchase.access().unwrap();
    let grant = TimeGrant::new(
        GrantSource::Payment(message.payment_id.get()),
        rig.clock.now(),
        access,
    );
    let key = SubscriptionKey::new(message.user_id, message.purchase.private_channel_id);
    telepay_core::access::grant_time(
        rig.bot.store(),
        key,
        &grant,
        rig.clock.now(),
        &LifecycleSettings::default(),
    )
    .await
    .unwrap();
}

async fn subscription(rig: &Rig, user: i64) -> Subscription {
    let key = SubscriptionKey::new(UserId::new(user).unwrap(), SIGNALS_PRIVATE);
    rig.bot
        .store()
        .get_subscription(key)
        .await
        .unwrap()
        .unwrap()
}

/// The buyer bought the 30-day tier in Stars and was granted it: the charge id.
async fn bought_a_month(rig: &Rig, update_id: i64) -> String {
    let link = stars_link(rig, BUYER, "stars:-1003111266231:0", update_id).await;
    let StarsCheckout::Paid(charge_id) = pays(rig, BUYER, &link).await else {
        panic!("charged");
    };
    let message = handed_over(rig).pop().unwrap();
    processed(rig, &message).await;
    charge_id
}

#[tokio::test]
async fn a_refund_takes_the_month_back_once_and_the_buyer_is_told() {
    let rig = rig_with(WITH_STARS).await;
    subscribe(&rig, BUYER, SIGNALS_PRIVATE, rig.clock.now(), 4_000_000_001).await;
    let charge_id = bought_a_month(&rig, 1).await;
    let before = subscription(&rig, BUYER).await;
    assert_eq!(before.grants.len(), 2, "a crypto month and a Stars month");
    call(&rig, &message(5, BUYER, "/status")).await;
    let said = texts_to(&rig, BUYER);
    assert!(
        said.iter()
            .any(|t| t.contains("paid with crypto and Telegram Stars")),
        "/status shows which rails paid: {said:?}"
    );

    // The owner refunds (or Telegram does): Telegram tells the bot, more than once.
    api(&rig)
        .refund_star_payment(BUYER, &charge_id)
        .await
        .unwrap();
    let updates = api(&rig).updates(None, Duration::ZERO).await.unwrap();
    assert_eq!(updates.len(), 1, "one refunded_payment");
    let body: Value = serde_json::from_slice(&updates[0].body).unwrap();
    assert!(body["message"]["refunded_payment"].is_object(), "{body}");
    for _ in 0..3 {
        assert_eq!(call(&rig, &body).await.0, StatusCode::OK);
    }
    let after = subscription(&rig, BUYER).await;
    assert_eq!(
        before.expires_at - after.expires_at,
        TimeDelta::days(30),
        "the Stars month is taken back, once; the crypto month stays"
    );
    let told: Vec<String> = texts_to(&rig, BUYER)
        .into_iter()
        .filter(|t| t.contains("were refunded"))
        .collect();
    assert_eq!(told.len(), 1, "told once: {told:?}");
    assert!(
        told[0].contains("⭐ 250") && told[0].contains("Signals"),
        "{told:?}"
    );
}

#[tokio::test]
async fn cancel_stops_the_renewals_and_the_paid_month_runs_to_its_end() {
    let rig = rig_with(WITH_STARS).await;
    call(&rig, &message(1, BUYER, "/cancel")).await;
    assert!(
        texts_to(&rig, BUYER)
            .last()
            .unwrap()
            .contains("no Telegram Stars subscription"),
        "nothing to cancel yet"
    );
    let charge_id = bought_a_month(&rig, 2).await;
    let paid_until = subscription(&rig, BUYER).await.expires_at;

    call(&rig, &message(3, BUYER, "/cancel")).await;
    let cancelled = rig.telegram.delivered("editUserStarSubscription");
    assert_eq!(cancelled.len(), 1);
    assert_eq!(
        cancelled[0].params["telegram_payment_charge_id"],
        charge_id.as_str()
    );
    assert_eq!(cancelled[0].params["is_canceled"], true);
    let said = texts_to(&rig, BUYER);
    assert!(said.last().unwrap().contains("will not renew"), "{said:?}");
    assert_eq!(
        rig.telegram.renew_stars(&charge_id),
        None,
        "Telegram renews no more"
    );
    assert_eq!(
        subscription(&rig, BUYER).await.expires_at,
        paid_until,
        "the month paid is kept"
    );
}

#[tokio::test]
async fn a_renewal_charge_is_handed_over_as_a_payment_of_its_own() {
    let rig = rig_with(WITH_STARS).await;
    let first = bought_a_month(&rig, 1).await;
    let renewal = rig.telegram.renew_stars(&first).expect("renewed");
    deliver_updates(&rig).await;
    let handed = handed_over(&rig);
    assert_eq!(handed.len(), 2);
    let renewed = &handed[1];
    assert_eq!(renewed.payment_id, charge_payment_id(&renewal));
    assert_ne!(
        renewed.payment_id, handed[0].payment_id,
        "a month of its own"
    );
    assert_eq!(renewed.purchase.duration_seconds, Some(2_592_000));
}

#[tokio::test]
async fn a_payment_nothing_can_be_granted_for_is_refunded_at_once() {
    let rig = rig_with(WITH_STARS).await;
    let link = stars_link(&rig, BUYER, "stars:-1003111266231:1", 1).await;
    let StarsCheckout::Paid(charge_id) = pays(&rig, BUYER, &link).await else {
        panic!("charged");
    };
    let handed = handed_over(&rig).len();
    // The same charge reported with a payload this bot never wrote (an older version's).
    let odd = json!({"update_id": 90, "message": {"message_id": 9, "date": 1,
        "chat": {"id": BUYER, "type": "private"}, "from": {"id": BUYER, "is_bot": false, "first_name": "B"},
        "successful_payment": {"currency": "XTR", "total_amount": 600, "invoice_payload": "s0|old",
            "telegram_payment_charge_id": charge_id, "provider_payment_charge_id": ""}}});
    assert_eq!(call(&rig, &odd).await.0, StatusCode::OK);
    let refunds = rig.telegram.delivered("refundStarPayment");
    assert_eq!(refunds.len(), 1, "the Stars go straight back");
    assert_eq!(
        refunds[0].params["telegram_payment_charge_id"],
        charge_id.as_str()
    );
    assert!(rig.telegram.star_charges()[0].refunded);
    assert_eq!(
        handed_over(&rig).len(),
        handed,
        "nothing handed over for it"
    );
    let said = texts_to(&rig, BUYER);
    assert!(
        said.last().unwrap().contains("⭐ 600 were refunded"),
        "{said:?}"
    );
}

#[tokio::test]
async fn a_pre_checkout_query_is_answered_in_time_while_the_store_is_down() {
    let rig = rig_with(WITH_STARS).await;
    let link = stars_link(&rig, BUYER, "stars:-1003111266231:1", 1).await;
    // No once-record can be claimed now; the answer must not wait for one.
    rig.bot.store().set_unavailable(true);
    let answering = async {
        for _ in 0..100 {
            let updates = api(&rig).updates(None, Duration::ZERO).await.unwrap();
            if let Some(update) = updates.first() {
                let body: Value = serde_json::from_slice(&update.body).unwrap();
                let (status, _) = call(&rig, &body).await;
                assert_eq!(status, StatusCode::OK, "answered, not left to a retry");
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (checkout, ()) = tokio::join!(rig.telegram.pay_stars(BUYER, &link), answering);
    assert!(matches!(checkout, StarsCheckout::Paid(_)), "{checkout:?}");
}
