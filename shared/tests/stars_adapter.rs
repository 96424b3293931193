//! The Stars rail's Bot API calls (docs/stars.md) against the fake Bot API, which models
//! Telegram's payments: an invoice link in XTR, a buyer's payment through the bot's
//! pre-checkout answer, the `successful_payment` that follows (one-time and recurring,
//! each with its charge id), a subscription renewed until cancelled, refunds once. The
//! updates come through `getUpdates` and teloxide-core, as `telepay serve` polls them.

use std::time::Duration;

use fake_bot_api::{FakeBotApi, StarsCheckout};
use serde_json::Value;
use telepay_core::order::{ChannelId, UserId};
use telepay_core::polling::UpdateSource;
use telepay_core::stars::{SUBSCRIPTION_PERIOD_SECONDS, StarsOrder};
use telepay_core::telegram::{StarsInvoice, StarsPayments, TelegramError};
use telepay_shared::telegram::{BotToken, TelegramBotApi};

const TOKEN: &str = "987654:stars-adapter-token";
const BUYER: i64 = 6271402111;

fn bot(fake: &FakeBotApi) -> TelegramBotApi {
    TelegramBotApi::new(BotToken::new(TOKEN).unwrap(), Some(&fake.url())).unwrap()
}

fn invoice(recurring: bool) -> StarsInvoice {
    let order = StarsOrder {
        user_id: UserId::new(BUYER).unwrap(),
        channel_id: ChannelId::new(-1003111266231).unwrap(),
        tier_seconds: SUBSCRIPTION_PERIOD_SECONDS,
        catalog_version: 1,
        stars: 250,
        recurring,
    };
    StarsInvoice {
        title: "Signals: 30 days".into(),
        description: "Access to the Signals channel for 30 days".into(),
        payload: order.to_payload(),
        stars: 250,
        recurring,
    }
}

/// The updates waiting for the bot, as JSON, confirmed.
async fn updates(bot: &TelegramBotApi) -> Vec<Value> {
    let polled = bot.updates(None, Duration::ZERO).await.unwrap();
    if let Some(last) = polled.last() {
        bot.updates(Some(last.update_id + 1), Duration::ZERO)
            .await
            .unwrap();
    }
    polled
        .iter()
        .map(|u| serde_json::from_slice(&u.body).unwrap())
        .collect()
}

/// A buyer pays `link`; the bot answers the pre-checkout query it is asked with
/// `refusal`. Returns how the payment went and the updates after it.
async fn pay(
    fake: &FakeBotApi,
    bot: &TelegramBotApi,
    link: &str,
    refusal: Option<&str>,
) -> (StarsCheckout, Vec<Value>) {
    let paying = {
        let (fake, link) = (fake_bot_api::FakeBotApiHandle::clone(fake), link.to_owned());
        tokio::spawn(async move { fake.pay_stars(BUYER, &link).await })
    };
    let mut seen = Vec::new();
    let query = loop {
        let polled = updates(bot).await;
        if let Some(query) = polled
            .iter()
            .find(|u| u.get("pre_checkout_query").is_some())
        {
            break query.clone();
        }
        seen.extend(polled);
        assert!(
            seen.len() < 5 && !paying.is_finished(),
            "no pre-checkout query: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let query = &query["pre_checkout_query"];
    assert_eq!(query["currency"], "XTR");
    assert_eq!(query["total_amount"], 250);
    assert_eq!(query["from"]["id"], BUYER);
    bot.answer_pre_checkout(query["id"].as_str().unwrap(), refusal)
        .await
        .unwrap();
    let outcome = paying.await.unwrap();
    (outcome, updates(bot).await)
}

#[tokio::test]
async fn a_one_time_payment_goes_through_the_pre_checkout_answer_and_reports_its_charge() {
    let fake = FakeBotApi::start(TOKEN).await;
    let bot = bot(&fake);
    let link = bot
        .create_stars_invoice_link(&invoice(false))
        .await
        .unwrap();
    let created = &fake.calls()[0];
    assert_eq!(created.method, "createInvoiceLink");
    assert_eq!(created.params["currency"], "XTR");
    assert_eq!(created.params["prices"][0]["amount"], 250);
    assert!(
        created
            .params
            .get("subscription_period")
            .is_none_or(Value::is_null)
    );
    assert!(
        created
            .params
            .get("provider_token")
            .is_none_or(|t| t.as_str() == Some(""))
    );

    let (outcome, after) = pay(&fake, &bot, &link, None).await;
    let StarsCheckout::Paid(charge) = outcome else {
        panic!("charged: {outcome:?}")
    };
    let paid = &after[0]["message"]["successful_payment"];
    assert_eq!(paid["telegram_payment_charge_id"], charge.as_str());
    assert_eq!(paid["invoice_payload"], invoice(false).payload.as_str());
    assert_eq!(paid["total_amount"], 250);
    assert!(paid.get("is_recurring").is_none_or(|r| r == false));
}

#[tokio::test]
async fn a_refusal_at_pre_checkout_charges_nothing_and_telegram_shows_the_reason() {
    let fake = FakeBotApi::start(TOKEN).await;
    let bot = bot(&fake);
    let link = bot
        .create_stars_invoice_link(&invoice(false))
        .await
        .unwrap();
    let (outcome, after) = pay(&fake, &bot, &link, Some("the price in Stars has changed")).await;
    assert_eq!(
        outcome,
        StarsCheckout::Refused("the price in Stars has changed".into())
    );
    assert!(fake.star_charges().is_empty());
    assert!(after.is_empty(), "no successful_payment");
}

#[tokio::test]
async fn a_subscription_renews_every_30_days_until_cancelled_and_refunds_go_back_once() {
    let fake = FakeBotApi::start(TOKEN).await;
    let bot = bot(&fake);
    let link = bot.create_stars_invoice_link(&invoice(true)).await.unwrap();
    assert_eq!(fake.calls()[0].params["subscription_period"], 2_592_000);
    let (outcome, after) = pay(&fake, &bot, &link, None).await;
    let StarsCheckout::Paid(first) = outcome else {
        panic!("charged: {outcome:?}")
    };
    let paid = &after[0]["message"]["successful_payment"];
    assert_eq!(
        (
            paid["is_recurring"].clone(),
            paid["is_first_recurring"].clone()
        ),
        (true.into(), true.into())
    );
    let first_end = paid["subscription_expiration_date"].as_i64().unwrap();

    // The period ends: Telegram charges again, a renewal of the same subscription.
    let second = fake.renew_stars(&first).expect("renewed");
    let renewal = &updates(&bot).await[0]["message"]["successful_payment"];
    assert_eq!(renewal["telegram_payment_charge_id"], second.as_str());
    assert_eq!(renewal["is_recurring"], true);
    assert!(renewal.get("is_first_recurring").is_none_or(|f| f == false));
    assert_eq!(
        renewal["subscription_expiration_date"].as_i64(),
        Some(first_end + 2_592_000)
    );

    // The buyer cancels in the bot: no more renewals.
    bot.cancel_star_subscription(BUYER, &first).await.unwrap();
    assert_eq!(fake.renew_stars(&first), None);

    // A refund goes back once; asked again (a retry) it is no error, and nothing more.
    bot.refund_star_payment(BUYER, &second).await.unwrap();
    bot.refund_star_payment(BUYER, &second).await.unwrap();
    let refunded: Vec<Value> = updates(&bot).await;
    assert_eq!(refunded.len(), 1, "one refunded_payment: {refunded:?}");
    assert_eq!(
        refunded[0]["message"]["refunded_payment"]["telegram_payment_charge_id"],
        second.as_str()
    );
    assert!(
        fake.star_charges()
            .iter()
            .any(|c| c.charge_id == second && c.refunded)
    );
    // A charge Telegram never made is refused for good.
    assert!(matches!(
        bot.refund_star_payment(BUYER, "stxNever").await,
        Err(TelegramError::Misconfigured(_))
    ));
}
