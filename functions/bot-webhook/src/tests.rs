//! The bot webhook's behaviour, through the handler as Lambda calls it: the in-memory
//! store and queues, the real teloxide adapter against the fake Bot API, the real
//! invoice adapter against the fake NOWPayments.

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
use telepay_core::store::memory::MemoryPaymentStore;
use telepay_core::store::{BotStore, OnceKey, SubscriptionStore};
use telepay_core::subscription::{
    AccessDuration, GrantSource, LifecycleSettings, Subscription, SubscriptionKey, TimeGrant,
};
use telepay_shared::nowpayments::{NowPaymentsApiKey, NowPaymentsInvoices};
use telepay_shared::telegram::{BotApiInviter, BotToken};

use super::*;

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

type Bot =
    BotFrontDoor<MemoryPaymentStore, BotApiInviter, NowPaymentsInvoices, MemoryQueue, MemoryQueue>;

struct Rig {
    bot: Bot,
    telegram: FakeBotApi,
    nowpayments: FakeNowPayments,
    clock: Arc<ManualClock>,
}

async fn rig() -> Rig {
    let telegram = FakeBotApi::start(TOKEN).await;
    let nowpayments = FakeNowPayments::start(API_KEY, IPN_SECRET).await;
    let clock = ManualClock::following_system();
    let mut setup = setup("https://example.com/np-webhook");
    setup.urls.success_url = Some("https://t.me/telepay_fake_bot".into());
    let bot = BotFrontDoor::new(
        setup,
        MemoryPaymentStore::new(),
        BotApiInviter::new(BotToken::new(TOKEN).unwrap(), Some(&telegram.url())).unwrap(),
        NowPaymentsInvoices::new(
            NowPaymentsApiKey::new(API_KEY).unwrap(),
            Some(&nowpayments.url()),
        )
        .unwrap(),
        MemoryQueue::new(),
        MemoryQueue::new(),
    )
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

async fn subscribe(
    rig: &Rig,
    user: i64,
    private_channel: i64,
    paid_at: DateTime<Utc>,
    payment: i64,
) {
    let key = SubscriptionKey::new(UserId::new(user).unwrap(), private_channel);
    let grant = TimeGrant {
        source: GrantSource::Payment(payment),
        accepted_at: paid_at,
        access: AccessDuration::from_days(30).unwrap(),
        refunded_at: None,
        crossed_removal: false,
    };
    let first = Subscription::first(key, grant, paid_at, &LifecycleSettings::default());
    assert_eq!(
        rig.bot.store().write_subscription(&first).await.unwrap(),
        telepay_core::store::Versioned::Written
    );
}

#[tokio::test]
async fn start_shows_the_channels_and_a_deep_link_goes_straight_to_its_tiers() {
    let rig = rig().await;
    assert_eq!(
        call(&rig, &message(1, BUYER, "/start")).await,
        (StatusCode::OK, "handled".into())
    );
    let buttons = rig.telegram.last_buttons(BUYER);
    assert_eq!(
        buttons,
        vec![
            ("Signals".to_owned(), format!("channel:{SIGNALS}")),
            ("Club".to_owned(), format!("channel:{CLUB}")),
        ]
    );
    call(&rig, &message(2, BUYER, &format!("/start {SIGNALS}"))).await;
    let tiers = rig.telegram.last_buttons(BUYER);
    assert_eq!(
        tiers,
        vec![
            ("3.21 USD · 30 days".to_owned(), format!("buy:{SIGNALS}:0")),
            ("8 USD · 90 days".to_owned(), format!("buy:{SIGNALS}:1")),
        ]
    );
    // The private channel's id names it too (the lifecycle's renewal links use it).
    call(
        &rig,
        &message(3, BUYER, &format!("/start@telepay_fake_bot {CLUB_PRIVATE}")),
    )
    .await;
    assert_eq!(
        rig.telegram.last_buttons(BUYER),
        vec![("5 USDT · 7 days".to_owned(), format!("buy:{CLUB}:0"))]
    );
}

#[tokio::test]
async fn a_tier_gives_one_invoice_with_the_order_id_and_a_second_tap_the_same_one() {
    let rig = rig().await;
    assert_eq!(
        call(&rig, &press(10, BUYER, &format!("buy:{SIGNALS}:1")))
            .await
            .1,
        "handled"
    );
    let invoices = rig.nowpayments.invoices();
    assert_eq!(invoices.len(), 1);
    let request = &invoices[0].request;
    assert_eq!(request["order_id"], format!("PGP-{BUYER}|{SIGNALS}"));
    assert_eq!(request["price_amount"], 8.0);
    assert_eq!(request["price_currency"], "usd");
    assert_eq!(
        request["ipn_callback_url"],
        "https://example.com/np-webhook"
    );
    assert_eq!(request["success_url"], "https://t.me/telepay_fake_bot");
    assert_eq!(
        rig.nowpayments.invoice_requests()[0].0.as_deref(),
        Some(API_KEY)
    );
    let pay = rig.telegram.last_buttons(BUYER);
    assert_eq!(
        pay,
        vec![("Pay".to_owned(), invoices[0].invoice_url.clone())]
    );
    assert_eq!(
        rig.telegram.delivered("answerCallbackQuery").len(),
        1,
        "the tap is answered"
    );

    // A second tap (a new update) a few minutes later shows the same invoice.
    rig.clock.advance(TimeDelta::minutes(3));
    assert_eq!(
        call(&rig, &press(11, BUYER, &format!("buy:{SIGNALS}:1")))
            .await
            .1,
        "handled"
    );
    assert_eq!(rig.nowpayments.invoices().len(), 1, "no second invoice");
    assert_eq!(rig.telegram.last_buttons(BUYER), pay);
    // Another tier is another invoice.
    call(&rig, &press(12, BUYER, &format!("buy:{SIGNALS}:0"))).await;
    assert_eq!(rig.nowpayments.invoices().len(), 2);
}

#[tokio::test]
async fn nowpayments_down_is_a_500_and_telegrams_redelivery_makes_the_one_invoice() {
    let rig = rig().await;
    rig.nowpayments.fail_next_invoices(1);
    let tap = press(20, BUYER, &format!("buy:{CLUB}:0"));
    assert_eq!(
        call(&rig, &tap).await,
        (StatusCode::INTERNAL_SERVER_ERROR, "unavailable".into())
    );
    assert!(rig.nowpayments.invoices().is_empty());
    assert!(
        rig.telegram.last_buttons(BUYER).is_empty(),
        "nothing shown yet"
    );
    // Telegram redelivers the same update: the released claims let it run again.
    assert_eq!(call(&rig, &tap).await.1, "handled");
    assert_eq!(rig.nowpayments.invoices().len(), 1);
    assert_eq!(call(&rig, &tap).await.1, "already_handled");
    assert_eq!(rig.nowpayments.invoices().len(), 1);
}

#[tokio::test]
async fn a_refused_invoice_is_answered_on_the_button_not_retried() {
    let rig = rig().await;
    let bot_with_wrong_key = BotFrontDoor::new(
        setup("https://example.com/np"),
        MemoryPaymentStore::new(),
        BotApiInviter::new(BotToken::new(TOKEN).unwrap(), Some(&rig.telegram.url())).unwrap(),
        NowPaymentsInvoices::new(
            NowPaymentsApiKey::new("wrong-key").unwrap(),
            Some(&rig.nowpayments.url()),
        )
        .unwrap(),
        MemoryQueue::new(),
        MemoryQueue::new(),
    );
    let response = handle(
        &bot_with_wrong_key,
        request(
            &press(30, BUYER, &format!("buy:{SIGNALS}:0")).to_string(),
            Some(SECRET),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "a retry cannot fix a refused key"
    );
    let answers = rig.telegram.delivered("answerCallbackQuery");
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].params["text"], BotTexts::default().invoice_later);
    assert_eq!(
        rig.nowpayments.invoice_requests()[0],
        (Some("wrong-key".into()), 403)
    );
}

#[tokio::test]
async fn a_wrong_or_missing_secret_is_a_401_and_nothing_is_done() {
    let rig = rig().await;
    for secret in [None, Some("local-demo-webhook-secret-0123456788"), Some("")] {
        let (status, word) = call_raw(
            &rig,
            request(&message(40, BUYER, "/start").to_string(), secret),
        )
        .await;
        assert_eq!(
            (status, word.as_str()),
            (StatusCode::UNAUTHORIZED, "bad_secret")
        );
    }
    assert!(rig.telegram.calls().is_empty(), "no Bot API call");
    assert_eq!(
        rig.bot
            .store()
            .read_once(OnceKey::Update(40))
            .await
            .unwrap(),
        None,
        "no record"
    );
}

#[tokio::test]
async fn a_redelivered_update_does_nothing_and_a_crashed_one_runs_again() {
    let rig = rig().await;
    let help = message(50, BUYER, "/help");
    assert_eq!(call(&rig, &help).await.1, "handled");
    assert_eq!(call(&rig, &help).await.1, "already_handled");
    assert_eq!(texts_to(&rig, BUYER).len(), 1, "one answer");

    // A worker claimed update 51 and crashed before finishing: while its lease lives a
    // redelivery is told to come back (500), after it the update runs.
    let crashed = telepay_core::store::OnceClaim {
        token: "crashed-worker".into(),
        lease_until: rig.clock.now() + TimeDelta::seconds(60),
        keep_until: rig.clock.now() + TimeDelta::hours(48),
        now: rig.clock.now(),
    };
    rig.bot
        .store()
        .claim_once(OnceKey::Update(51), &crashed)
        .await
        .unwrap();
    let status = message(51, BUYER, "/status");
    assert_eq!(
        call(&rig, &status).await,
        (StatusCode::INTERNAL_SERVER_ERROR, "busy".into())
    );
    rig.clock.advance(TimeDelta::seconds(61));
    assert_eq!(call(&rig, &status).await.1, "handled");
    assert_eq!(texts_to(&rig, BUYER)[1], BotTexts::default().status_none);
}

#[tokio::test]
async fn help_and_anything_else_get_a_clear_answer() {
    let rig = rig().await;
    call(&rig, &message(60, BUYER, "/help")).await;
    call(&rig, &message(61, BUYER, "hello?")).await;
    assert_eq!(
        texts_to(&rig, BUYER),
        vec![BotTexts::default().help, BotTexts::default().unknown]
    );
}

#[tokio::test]
async fn status_lists_subscriptions_and_resends_the_live_link_to_a_buyer_not_in() {
    let rig = rig().await;
    subscribe(&rig, BUYER, SIGNALS_PRIVATE, rig.clock.now(), 9001).await;
    // The invite sender made and shared the subscription's live link.
    let key = SubscriptionKey::new(UserId::new(BUYER).unwrap(), SIGNALS_PRIVATE);
    let stored = rig
        .bot
        .store()
        .get_subscription(key)
        .await
        .unwrap()
        .unwrap();
    let live = telepay_core::subscription::LiveLink {
        url: "https://t.me/+live".into(),
        expires_at: rig.clock.now() + TimeDelta::hours(20),
        made_for: 9001,
        made_at: rig.clock.now(),
    };
    let next = stored.with_live_link(live, rig.clock.now());
    let _ = rig.bot.store().write_subscription(&next).await.unwrap();

    call(&rig, &message(70, BUYER, "/status")).await;
    let texts = texts_to(&rig, BUYER);
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(
        texts[0].starts_with("Signals: active until "),
        "{}",
        texts[0]
    );
    assert!(
        texts[1].contains("https://t.me/+live"),
        "the live link, never a new one"
    );
    assert!(rig.telegram.delivered("createChatInviteLink").is_empty());

    // Once in the channel, /status only lists.
    rig.telegram.add_member(SIGNALS_PRIVATE, BUYER);
    call(&rig, &message(71, BUYER, "/status")).await;
    assert_eq!(texts_to(&rig, BUYER).len(), 3);
}

#[tokio::test]
async fn status_without_a_usable_link_reissues_the_invite_once() {
    let rig = rig().await;
    let paid_at = rig.clock.now();
    subscribe(&rig, BUYER, SIGNALS_PRIVATE, paid_at, 9002).await;
    // The payment's invite was sent long ago; its link has lapsed.
    let mut record = telepay_core::fixtures::sample_record(9002);
    record.telegram_invite_sent = true;
    record.telegram_invite_link = Some("https://t.me/+old".into());
    record.purchase.as_mut().unwrap().private_channel_id = SIGNALS_PRIVATE;
    rig.bot.store().put_payment(record);

    call(&rig, &message(80, BUYER, "/status")).await;
    assert_eq!(
        texts_to(&rig, BUYER)[1],
        "You are not in Signals yet; a new invite is on its way."
    );
    let queued = rig.bot.invites().bodies();
    assert_eq!(queued.len(), 1, "one invite re-issued");
    assert!(queued[0].contains("\"payment_id\":9002"));
    let revoked = rig.telegram.delivered("revokeChatInviteLink");
    assert_eq!(revoked[0].invite_link(), Some("https://t.me/+old"));
    // Asking again in the same minutes does not re-issue again.
    call(&rig, &message(81, BUYER, "/status")).await;
    assert_eq!(rig.bot.invites().bodies().len(), 1);
}

#[tokio::test]
async fn a_join_request_is_approved_only_for_an_active_subscriber() {
    let rig = rig().await;
    subscribe(&rig, BUYER, CLUB_PRIVATE, rig.clock.now(), 9003).await;
    let now = rig.clock.now();
    assert_eq!(
        call(&rig, &join_request(90, BUYER, CLUB_PRIVATE, now))
            .await
            .1,
        "handled"
    );
    assert_eq!(
        call(&rig, &join_request(91, STRANGER, CLUB_PRIVATE, now))
            .await
            .1,
        "handled"
    );
    let approved: Vec<i64> = rig
        .telegram
        .delivered("approveChatJoinRequest")
        .iter()
        .map(|c| c.params["user_id"].as_i64().unwrap())
        .collect();
    let declined: Vec<i64> = rig
        .telegram
        .delivered("declineChatJoinRequest")
        .iter()
        .map(|c| c.params["user_id"].as_i64().unwrap())
        .collect();
    // The fake had no pending requests (these updates were made up): it answers
    // HIDE_REQUESTER_MISSING, which the adapter takes as already handled.
    assert!(approved.is_empty() && declined.is_empty());
    let calls = rig.telegram.calls();
    let decisions: Vec<(&str, i64)> = calls
        .iter()
        .filter(|c| c.method.ends_with("ChatJoinRequest"))
        .map(|c| (c.method.as_str(), c.params["user_id"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        decisions,
        vec![
            ("approveChatJoinRequest", BUYER),
            ("declineChatJoinRequest", STRANGER)
        ]
    );
    // The stranger got the tiers first, in the chat the request opened.
    assert_eq!(
        rig.telegram.last_buttons(STRANGER),
        vec![("5 USDT · 7 days".to_owned(), format!("buy:{CLUB}:0"))]
    );
    let menu_at = calls
        .iter()
        .position(|c| c.method == "sendMessage" && c.chat_id() == Some(STRANGER))
        .unwrap();
    let decline_at = calls
        .iter()
        .position(|c| c.method == "declineChatJoinRequest")
        .unwrap();
    assert!(
        menu_at < decline_at,
        "the menu goes while the request is pending"
    );
}

#[tokio::test]
async fn an_expired_subscriber_is_declined_like_anyone_else() {
    let rig = rig().await;
    subscribe(
        &rig,
        BUYER,
        CLUB_PRIVATE,
        rig.clock.now() - TimeDelta::days(31),
        9004,
    )
    .await;
    call(
        &rig,
        &join_request(95, BUYER, CLUB_PRIVATE, rig.clock.now()),
    )
    .await;
    let calls = rig.telegram.calls();
    assert!(calls.iter().any(|c| c.method == "declineChatJoinRequest"));
    assert!(!calls.iter().any(|c| c.method == "approveChatJoinRequest"));
}

#[tokio::test]
async fn a_join_request_racing_its_payment_waits_for_the_grant_then_is_approved() {
    let rig = rig().await;
    // The buyer took an invoice for the club, paid, and clicked a join link before the
    // grant landed.
    call(&rig, &press(100, BUYER, &format!("buy:{CLUB}:0"))).await;
    let requested_at = rig.clock.now();
    call(&rig, &join_request(101, BUYER, CLUB_PRIVATE, requested_at)).await;
    let calls = rig.telegram.calls();
    assert!(
        !calls.iter().any(|c| c.method.ends_with("ChatJoinRequest")),
        "not decided yet"
    );
    let later = rig.bot.rechecks().take_later();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].1, telepay_core::bot::RECHECK_EVERY);

    // Still nothing granted 30 s on: it waits again.
    rig.clock.advance(TimeDelta::seconds(30));
    let admission = rig.bot.admission();
    assert_eq!(
        admission.recheck(&later[0].0, rig.clock.now()).await,
        telepay_core::queue::MessageOutcome::Done
    );
    let again = rig.bot.rechecks().take_later();
    assert_eq!(again.len(), 1, "re-checked later again");

    // The grant lands; the next re-check approves.
    subscribe(&rig, BUYER, CLUB_PRIVATE, rig.clock.now(), 9005).await;
    rig.clock.advance(TimeDelta::seconds(30));
    admission.recheck(&again[0].0, rig.clock.now()).await;
    let decided: Vec<String> = rig
        .telegram
        .calls()
        .iter()
        .filter(|c| c.method.ends_with("ChatJoinRequest"))
        .map(|c| c.method.clone())
        .collect();
    assert_eq!(decided, vec!["approveChatJoinRequest"]);
    assert!(rig.bot.rechecks().take_later().is_empty());
}

#[tokio::test]
async fn a_wait_that_runs_out_is_declined_and_never_unbounded() {
    let rig = rig().await;
    call(&rig, &press(110, BUYER, &format!("buy:{CLUB}:0"))).await;
    let requested_at = rig.clock.now();
    call(&rig, &join_request(111, BUYER, CLUB_PRIVATE, requested_at)).await;
    let mut body = rig.bot.rechecks().take_later().remove(0).0;
    let admission = rig.bot.admission();
    let mut rounds = 0;
    loop {
        rig.clock.advance(TimeDelta::seconds(30));
        admission.recheck(&body, rig.clock.now()).await;
        match rig.bot.rechecks().take_later().pop() {
            Some((next, _)) => body = next,
            None => break,
        }
        rounds += 1;
        assert!(rounds < 20, "the wait is bounded");
    }
    assert!(rig.clock.now() - requested_at >= telepay_core::bot::WAIT_FOR_GRANT);
    assert!(
        rig.clock.now() - requested_at
            <= telepay_core::bot::WAIT_FOR_GRANT + TimeDelta::seconds(30)
    );
    let calls = rig.telegram.calls();
    assert!(calls.iter().any(|c| c.method == "declineChatJoinRequest"));
    assert!(AdmissionRecheck::parse(&body).is_ok());
}

#[tokio::test]
async fn bad_bodies_are_4xx_and_odd_updates_are_ignored_with_nothing_done() {
    let rig = rig().await;
    let get = http::Request::builder()
        .method("GET")
        .uri("/telegram-webhook")
        .body(Body::Empty)
        .unwrap();
    let response = handle(&rig.bot, get).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        call_raw(&rig, request("not json", Some(SECRET))).await,
        (StatusCode::BAD_REQUEST, "bad_request".into())
    );
    assert_eq!(
        call_raw(&rig, request("{\"message\":{}}", Some(SECRET)))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    let huge = format!("{{\"update_id\":1,\"pad\":\"{}\"}}", "x".repeat(300 * 1024));
    assert_eq!(
        call_raw(&rig, request(&huge, Some(SECRET))).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    for odd in [
        json!({"update_id": 120, "edited_message": {"text": "x"}}),
        json!({"update_id": 121, "message": {"chat": {"id": -5, "type": "group"}, "from": {"id": 5}, "text": "/start"}}),
        json!({"update_id": 122, "callback_query": {"id": "q", "from": {"id": 5}}}),
        json!({"update_id": 123, "message": {"chat": {"id": 5, "type": "private"}, "from": {"id": 5}, "photo": []}}),
        json!({"update_id": 124, "chat_join_request": "not an object"}),
    ] {
        assert_eq!(
            call(&rig, &odd).await,
            (StatusCode::OK, "ignored".into()),
            "{odd}"
        );
    }
    assert!(rig.telegram.calls().is_empty());
    assert!(rig.nowpayments.invoice_requests().is_empty());
}

#[tokio::test]
async fn a_stale_or_forged_button_is_answered_and_changes_nothing() {
    let rig = rig().await;
    let forged: [String; 3] = [
        format!("buy:{SIGNALS}:7"),
        "buy:-1:0".into(),
        "something".into(),
    ];
    for (update_id, data) in (130..).zip(forged) {
        assert_eq!(
            call(&rig, &press(update_id, BUYER, &data)).await.1,
            "handled"
        );
    }
    assert!(rig.nowpayments.invoice_requests().is_empty());
    let answers = rig.telegram.delivered("answerCallbackQuery");
    assert_eq!(answers.len(), 3);
    let stale = BotTexts::default().stale_button;
    assert!(answers.iter().all(|a| a.params["text"] == stale.as_str()));
}

#[tokio::test]
async fn the_store_down_is_a_500_so_telegram_retries() {
    let rig = rig().await;
    rig.bot.store().set_unavailable(true);
    assert_eq!(
        call(&rig, &message(140, BUYER, "/help")).await,
        (StatusCode::INTERNAL_SERVER_ERROR, "unavailable".into())
    );
    assert!(rig.telegram.calls().is_empty());
    rig.bot.store().set_unavailable(false);
    assert_eq!(call(&rig, &message(140, BUYER, "/help")).await.1, "handled");
}

#[tokio::test]
async fn a_tap_just_after_a_windows_turn_shows_the_invoice_made_just_before_it() {
    let rig = rig().await;
    // 30 s before a 10-minute window turns.
    let into_window = rig.clock.now().timestamp().rem_euclid(600);
    rig.clock
        .advance(TimeDelta::seconds(600 - into_window - 30));
    call(&rig, &press(150, BUYER, &format!("buy:{CLUB}:0"))).await;
    rig.clock.advance(TimeDelta::minutes(2));
    call(&rig, &press(151, BUYER, &format!("buy:{CLUB}:0"))).await;
    assert_eq!(
        rig.nowpayments.invoices().len(),
        1,
        "the same invoice across the turn"
    );
    // Ten minutes after it was made, a tap makes a new one.
    rig.clock.advance(TimeDelta::minutes(9));
    call(&rig, &press(152, BUYER, &format!("buy:{CLUB}:0"))).await;
    assert_eq!(rig.nowpayments.invoices().len(), 2);
}

#[tokio::test]
async fn the_owner_is_told_plainly_when_the_bot_loses_its_rights() {
    let rig = rig().await;
    let demoted = json!({"update_id": 160, "my_chat_member": {
        "chat": {"id": CLUB_PRIVATE, "type": "channel", "title": "Club"},
        "from": {"id": 900002, "is_bot": false, "first_name": "Owner"}, "date": 1,
        "old_chat_member": {"user": {"id": 1, "is_bot": true, "first_name": "Bot"}, "status": "administrator"},
        "new_chat_member": {"user": {"id": 1, "is_bot": true, "first_name": "Bot"}, "status": "member"}}});
    assert_eq!(call(&rig, &demoted).await.1, "handled");
    let told = texts_to(&rig, 900002);
    assert_eq!(told.len(), 1);
    assert!(told[0].contains("can no longer manage Club"), "{}", told[0]);
    assert!(told[0].contains("not enough rights"));
    // Made an admin with the rights it needs again: nothing to say.
    let mut promoted = demoted.clone();
    promoted["update_id"] = json!(161);
    promoted["my_chat_member"]["new_chat_member"] = json!({"user": {"id": 1, "is_bot": true, "first_name": "Bot"},
        "status": "administrator", "can_invite_users": true, "can_restrict_members": true});
    call(&rig, &promoted).await;
    // A channel without an owner chat: logged only.
    let mut elsewhere = demoted.clone();
    elsewhere["update_id"] = json!(162);
    elsewhere["my_chat_member"]["chat"]["id"] = json!(SIGNALS_PRIVATE);
    call(&rig, &elsewhere).await;
    assert_eq!(texts_to(&rig, 900002).len(), 1);
    assert_eq!(rig.telegram.delivered("sendMessage").len(), 1);
}

/// Every sample event in events/ for this function, through the handler.
#[tokio::test]
async fn the_sample_events_give_their_documented_outcomes() {
    let events = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events");
    let cases = [
        ("bot-webhook-start.json", StatusCode::OK, "handled"),
        (
            "bot-webhook-bad-secret.json",
            StatusCode::UNAUTHORIZED,
            "bad_secret",
        ),
    ];
    for (file, status, outcome) in cases {
        let rig = rig().await;
        let json = std::fs::read_to_string(format!("{events}/{file}")).unwrap();
        let request = lambda_http::request::from_str(&json).unwrap();
        assert_eq!(
            call_raw(&rig, request).await,
            (status, outcome.into()),
            "{file}"
        );
    }
}
