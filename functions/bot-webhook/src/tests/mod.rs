//! The bot webhook's behaviour, through the handler as Lambda calls it: the in-memory
//! store and queues, the real teloxide adapter against the fake Bot API, the real
//! invoice adapter against the fake NOWPayments.
//!
//! One file a job of `telepay_core::bot::front_door`: `dispatch` (secret, shape,
//! once-records, the store down, the sample events), `commands` (/start, /help,
//! buttons), `purchase` (tier to invoice), `status` (/status and its re-invite),
//! `membership` (the bot's own rights), `budget` (replies and invoices), `joins` (someone in through another's link), `stars` (the Telegram Stars rail), and `admission` (`telepay_core::bot::admission`:
//! join requests).

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use fake_bot_api::FakeBotApi;
use fake_nowpayments::FakeNowPayments;
use lambda_http::http::{self, StatusCode};
use serde_json::{Value, json};
use telepay_core::bot::admission::AdmissionRecheck;
use telepay_core::bot::{BotSetup, BotTexts, WebhookSecret};
use telepay_core::clock::{Clock, ManualClock};
use telepay_core::directory::ChannelDirectory;
use telepay_core::order::UserId;
use telepay_core::queue::memory::MemoryQueue;
use telepay_core::store::memory::MemoryStore;
use telepay_core::store::{BotStore, OnceKey, SubscriptionStore};
use telepay_core::subscription::{
    AccessDuration, GrantSource, LifecycleSettings, Subscription, SubscriptionKey, TimeGrant,
};
use telepay_shared::nowpayments::{NowPaymentsApiKey, NowPaymentsInvoices};
use telepay_shared::telegram::{BotToken, TelegramBotApi};

use super::*;

mod admission;
mod budget;
mod commands;
mod dispatch;
mod joins;
mod membership;
mod purchase;
mod stars;
mod status;
mod topup;

const TOKEN: &str = "123456:bot-webhook-test";
/// The local run's demo secret, which the sample events in events/ carry.
const SECRET: &str = "local-demo-webhook-secret-0123456789";
const API_KEY: &str = "np-api-key-for-tests";
const IPN_SECRET: &str = "ipn-secret-for-tests";
/// Sold with one-time links.
const SIGNALS: i64 = -1003111266231;
const SIGNALS_PRIVATE: i64 = -1002222222222;
/// Sold with join requests.
const CLUB: i64 = -1004444444444;
const CLUB_PRIVATE: i64 = -1005555555555;
const BUYER: i64 = 6271402111;
const STRANGER: i64 = 7000000001;

const DIRECTORY: &str = r#"{
  "channels": [
    { "channel_id": -1003111266231, "private_channel_id": -1002222222222, "title": "Signals",
      "tiers": [ { "price_amount": 3.21, "price_currency": "usd", "subscription_days": 30 },
                 { "price_amount": 8, "price_currency": "usd", "subscription_days": 90 } ] },
    { "channel_id": -1004444444444, "private_channel_id": -1005555555555, "title": "Club",
      "admission": "join_request", "owner_chat_id": 900002,
      "tiers": [ { "price_amount": 5, "price_currency": "usdt", "duration": "7d" } ] }
  ]
}"#;

type Bot = BotFrontDoor<MemoryStore, TelegramBotApi, NowPaymentsInvoices, MemoryQueue, MemoryQueue>;

struct Rig {
    bot: Bot,
    telegram: FakeBotApi,
    nowpayments: FakeNowPayments,
    clock: Arc<ManualClock>,
}

async fn rig() -> Rig {
    rig_with(DIRECTORY).await
}

/// The bot of these tests over another channel directory.
async fn rig_with(directory: &str) -> Rig {
    rig_on(ChannelDirectory::from_json(directory).unwrap().into()).await
}

/// The bot of these tests with other budgets.
async fn rig_budgets(budgets: telepay_core::bot::BotBudgets) -> Rig {
    let catalog = ChannelDirectory::from_json(DIRECTORY).unwrap().into();
    rig_built(catalog, budgets).await
}

/// The bot of these tests over `catalog` (a live one: read again from its store).
async fn rig_on(catalog: telepay_core::catalog::LiveCatalog) -> Rig {
    rig_built(catalog, telepay_core::bot::BotBudgets::default()).await
}

async fn rig_built(
    catalog: telepay_core::catalog::LiveCatalog,
    budgets: telepay_core::bot::BotBudgets,
) -> Rig {
    let telegram = FakeBotApi::start(TOKEN).await;
    let nowpayments = FakeNowPayments::start(API_KEY, IPN_SECRET).await;
    let clock = ManualClock::following_system();
    let mut setup = setup("https://example.com/np-webhook");
    setup.catalog = catalog;
    setup.budgets = budgets;
    setup.urls.success_url = Some("https://t.me/telepay_fake_bot".into());
    let bot = BotFrontDoor::new(
        setup,
        MemoryStore::new(),
        TelegramBotApi::new(BotToken::new(TOKEN).unwrap(), Some(&telegram.url())).unwrap(),
        NowPaymentsInvoices::new(
            NowPaymentsApiKey::new(API_KEY).unwrap(),
            Some(&nowpayments.url()),
        )
        .unwrap(),
        MemoryQueue::new(),
        MemoryQueue::new(),
    )
    .with_processor_queue(MemoryQueue::new())
    .with_clock(clock.clone());
    Rig {
        bot,
        telegram,
        nowpayments,
        clock,
    }
}

/// The bot of these tests, with our IPN URL.
fn setup(ipn_callback_url: &str) -> BotSetup {
    BotSetup::new(
        WebhookSecret::new(SECRET).unwrap(),
        ChannelDirectory::from_json(DIRECTORY).unwrap(),
        ipn_callback_url,
    )
}

fn request(body: &str, secret: Option<&str>) -> Request {
    let mut builder = http::Request::builder()
        .method("POST")
        .uri("https://example.execute-api.us-east-1.amazonaws.com/telegram-webhook");
    if let Some(secret) = secret {
        builder = builder.header("X-Telegram-Bot-Api-Secret-Token", secret);
    }
    builder.body(Body::from(body.to_owned())).unwrap()
}

async fn call(rig: &Rig, body: &Value) -> (StatusCode, String) {
    call_raw(rig, request(&body.to_string(), Some(SECRET))).await
}

async fn call_raw(rig: &Rig, request: Request) -> (StatusCode, String) {
    let response = handle(&rig.bot, request).await.unwrap();
    let status = response.status();
    let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    (status, body["outcome"].as_str().unwrap().to_owned())
}

fn message(update_id: i64, user: i64, text: &str) -> Value {
    json!({"update_id": update_id, "message": {"message_id": 1, "date": 1,
        "chat": {"id": user, "type": "private"}, "from": {"id": user, "is_bot": false, "first_name": "B"},
        "text": text}})
}

fn press(update_id: i64, user: i64, data: &str) -> Value {
    json!({"update_id": update_id, "callback_query": {"id": format!("q{update_id}"),
        "from": {"id": user, "is_bot": false, "first_name": "B"}, "chat_instance": "c", "data": data,
        "message": {"message_id": 2, "date": 1, "chat": {"id": user, "type": "private"}}}})
}

fn join_request(update_id: i64, user: i64, chat: i64, at: DateTime<Utc>) -> Value {
    json!({"update_id": update_id, "chat_join_request": {"chat": {"id": chat, "type": "channel"},
        "from": {"id": user, "is_bot": false, "first_name": "B"}, "user_chat_id": user,
        "date": at.timestamp(), "invite_link": {"invite_link": "https://t.me/+abc",
        "creator": {"id": 1, "is_bot": true, "first_name": "Bot"}, "creates_join_request": true,
        "is_primary": false, "is_revoked": false}}})
}

/// The texts of the messages delivered to `chat`, in order.
fn texts_to(rig: &Rig, chat: i64) -> Vec<String> {
    rig.telegram
        .delivered("sendMessage")
        .iter()
        .filter(|c| c.chat_id() == Some(chat))
        .map(|c| c.text().unwrap_or_default().to_owned())
        .collect()
}

/// Gives `user`'s subscription to `private_channel` the live link `url`, made for
/// `made_for` and expiring when `expires` says (from the stored subscription).
async fn share_live_link(
    rig: &Rig,
    (user, private_channel): (i64, i64),
    url: &str,
    made_for: i64,
    expires: impl FnOnce(&Subscription) -> DateTime<Utc>,
) {
    let key = SubscriptionKey::new(UserId::new(user).unwrap(), private_channel);
    let stored = rig
        .bot
        .store()
        .get_subscription(key)
        .await
        .unwrap()
        .unwrap();
    let live = telepay_core::subscription::LiveLink {
        url: url.to_owned(),
        expires_at: expires(&stored),
        made_for,
        made_at: rig.clock.now(),
    };
    let next = stored.with_live_link(live, rig.clock.now());
    assert_eq!(
        rig.bot.store().write_subscription(&next).await.unwrap(),
        telepay_core::store::Versioned::Written
    );
}

async fn subscribe(
    rig: &Rig,
    user: i64,
    private_channel: i64,
    paid_at: DateTime<Utc>,
    payment: i64,
) {
    let key = SubscriptionKey::new(UserId::new(user).unwrap(), private_channel);
    let grant = TimeGrant::new(
        GrantSource::Payment(payment),
        paid_at,
        AccessDuration::from_days(30).unwrap(),
    );
    let first = Subscription::first(key, grant, paid_at, &LifecycleSettings::default());
    assert_eq!(
        rig.bot.store().write_subscription(&first).await.unwrap(),
        telepay_core::store::Versioned::Written
    );
}
