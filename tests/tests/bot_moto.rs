//! The bot on AWS as deployed: DynamoDB (its table and subscriptions) and SQS (the
//! admission queue with a real `DelaySeconds`) on moto, through the real SDK clients,
//! the handlers as Lambda calls them, the fake Bot API and the fake NOWPayments.
//! A buyer's join request racing their payment waits on SQS, and the re-check approves
//! it once the grant has landed; a stranger is declined at once.

use std::time::Duration;

use chrono::Utc;
use fake_bot_api::FakeBotApi;
use fake_nowpayments::FakeNowPayments;
use lambda_http::{Body, http};
use serde_json::json;
use telepay_core::access::grant_time;
use telepay_core::bot::{BotSetup, BotTiming, WebhookSecret};
use telepay_core::chain::BotStages;
use telepay_core::clock::system_clock;
use telepay_core::directory::ChannelDirectory;
use telepay_core::order::UserId;
use telepay_core::store::{BotStore, OnceKey};
use telepay_core::subscription::{
    AccessDuration, GrantSource, LifecycleSettings, SubscriptionKey, TimeGrant,
};
use telepay_integration_tests::{MotoResources, unique};
use telepay_shared::nowpayments::{NowPaymentsApiKey, NowPaymentsInvoices};
use telepay_shared::sqs::SqsQueue;
use telepay_shared::sqs_event::sqs_batch;
use telepay_shared::telegram::{BotToken, TelegramBotApi};

const TOKEN: &str = "555:bot-moto";
const SECRET: &str = "bot-moto-webhook-secret-0123456789abcd";
const NP_KEY: &str = "bot-moto-np-key";
const DIRECTORY: &str = r#"{"channels":[{"channel_id":-1004000000001,"private_channel_id":-1004000000002,
    "title":"Club","admission":"join_request",
    "tiers":[{"price_amount":5,"price_currency":"usd","duration":"7d"}]}]}"#;
const CHANNEL: i64 = -1004000000002;
const BUYER: i64 = 6100000001;
const STRANGER: i64 = 6100000002;

fn post(body: serde_json::Value) -> lambda_http::Request {
    http::Request::builder()
        .method("POST")
        .uri("/telegram-webhook")
        .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn join_request(update_id: i64, user: i64) -> serde_json::Value {
    json!({"update_id": update_id, "chat_join_request": {"chat": {"id": CHANNEL, "type": "channel"},
        "from": {"id": user, "is_bot": false, "first_name": "B"}, "user_chat_id": user,
        "date": Utc::now().timestamp()}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_request_racing_its_payment_waits_on_sqs_and_is_approved_after_the_grant() {
    let aws = MotoResources::new().await;
    let store = aws.store();
    let admission_url = aws
        .sqs
        .create_queue()
        .queue_name(unique("admission"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let admission_queue = SqsQueue::new(aws.sqs.clone(), &admission_url);
    let fake = FakeBotApi::start(TOKEN).await;
    let nowpayments = FakeNowPayments::start(NP_KEY, "ipn").await;
    let telegram =
        || TelegramBotApi::new(BotToken::new(TOKEN).unwrap(), Some(&fake.url())).unwrap();
    let directory = ChannelDirectory::from_json(DIRECTORY).unwrap();
    let timing = BotTiming {
        recheck_every: Duration::from_secs(3),
        ..BotTiming::default()
    };
    // Both bot stages as deployed: bot-webhook's front door and admission-recheck's stage.
    let BotStages {
        front_door: bot,
        admission: recheck,
    } = BotStages::wire(
        BotSetup {
            timing,
            ..BotSetup::new(
                WebhookSecret::new(SECRET).unwrap(),
                directory.clone(),
                "https://example.com/np-webhook",
            )
        },
        store.clone(),
        telegram(),
        NowPaymentsInvoices::new(
            NowPaymentsApiKey::new(NP_KEY).unwrap(),
            Some(&nowpayments.url()),
        )
        .unwrap(),
        admission_queue.clone(),
        aws.queue(),
        aws.queue(),
        system_clock(),
    );

    // The buyer takes an invoice (one, on DynamoDB's once-records), then asks to join
    // before the grant; a stranger asks too.
    let tap = json!({"update_id": 1, "callback_query": {"id": "q1", "from": {"id": BUYER, "is_bot": false},
        "chat_instance": "c", "data": "buy:-1004000000001:0",
        "message": {"message_id": 1, "date": 1, "chat": {"id": BUYER, "type": "private"}}}});
    for _ in 0..2 {
        let response = bot_webhook::handle(&bot, post(tap.clone())).await.unwrap();
        assert_eq!(response.status(), 200);
    }
    assert_eq!(
        nowpayments.invoices().len(),
        1,
        "one invoice, however often the update comes"
    );
    let record = store.read_once(OnceKey::Update(1)).await.unwrap().unwrap();
    assert!(record.done);
    for (id, user) in [(2, BUYER), (3, STRANGER)] {
        let response = bot_webhook::handle(&bot, post(join_request(id, user)))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let decided = |method: &str| -> Vec<i64> {
        fake.calls()
            .iter()
            .filter(|c| c.method == method)
            .map(|c| c.params["user_id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(
        decided("declineChatJoinRequest"),
        vec![STRANGER],
        "the stranger at once"
    );
    assert!(
        decided("approveChatJoinRequest").is_empty(),
        "the buyer waits"
    );

    // SQS holds the re-check for its delay: nothing to receive at once.
    let now = admission_queue.receive(10, Duration::ZERO).await.unwrap();
    assert!(now.is_empty(), "delayed, not visible yet: {now:?}");

    // The grant lands; the delayed re-check, received from SQS, approves.
    let key = SubscriptionKey::new(UserId::new(BUYER).unwrap(), CHANNEL);
    let paid = TimeGrant::new(
        GrantSource::Payment(77),
        Utc::now(),
        AccessDuration::from_days(7).unwrap(),
    );
    grant_time(
        &store,
        key,
        &paid,
        Utc::now(),
        &LifecycleSettings::default(),
    )
    .await
    .unwrap();
    let mut messages = Vec::new();
    for _ in 0..10 {
        messages = admission_queue
            .receive(10, Duration::from_secs(1))
            .await
            .unwrap();
        if !messages.is_empty() {
            break;
        }
    }
    assert_eq!(messages.len(), 1, "the re-check arrives after its delay");
    let event = sqs_batch(messages, Duration::from_secs(30));
    let response = admission_recheck::handle(&recheck.admission(), &recheck.clock, event)
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(decided("approveChatJoinRequest"), vec![BUYER]);
}
