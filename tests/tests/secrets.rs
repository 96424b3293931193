//! Secrets never reach a log line or an error body. Every log event of a full run, at
//! every level and from every crate (sqlx, reqwest, hyper, teloxide included), is
//! captured while the IPN secret, the bot token and the database password have known
//! values; the run goes through the happy path and through the failures whose messages
//! are most likely to carry a secret (a request URL with the bot token in its path, a
//! refused database connection, a wrong token, configuration errors, the cold-start
//! read from Secrets Manager and a secret it cannot read). The bot's two secrets too:
//! the webhook secret token and the NOWPayments API key, through its configuration, a
//! call with the wrong token, an invoice refused for a wrong key and one that fails.

use std::time::Duration;

use fake_bot_api::{FakeBotApi, Fault, FaultKind};
use fake_nowpayments::FakeNowPayments;
use telepay_core::bot::{BotFrontDoor, BotSetup, WebhookSecret};
use telepay_core::directory::ChannelDirectory;
use telepay_core::fixtures::{SAMPLE_DIRECTORY, SAMPLE_IPN, sample_record};
use telepay_core::invite::{InviteSender, InviteSettings};
use telepay_core::processor::PaymentProcessor;
use telepay_core::queue::memory::MemoryQueue;
use telepay_core::signature::IpnSecret;
use telepay_core::store::ports::*;
use telepay_core::webhook::PaymentWebhook;
use telepay_integration_tests::{LogBuffer, database_url, ipn_request, moto, outcome, unique};
use telepay_shared::config::DatabaseUrl;
use telepay_shared::config::StoreConfig;
use telepay_shared::config::{BotWebhookConfig, InviteSenderConfig, WebhookConfig};
use telepay_shared::nowpayments::{NowPaymentsApiKey, NowPaymentsInvoices};
use telepay_shared::secrets::read_secrets;
use telepay_shared::sqs_event::{sqs_batch, sqs_message};
use telepay_shared::store::AnyStore;
use telepay_shared::telegram::{BotToken, TelegramBotApi};
use tracing::{error, info};

const IPN_SECRET: &str = "ipn-secret-Zq8vN3pL";
const BOT_TOKEN: &str = "987654321:AAbot-token-Xk29LmQv";
const DB_PASSWORD: &str = "pg-password-Jw71RtYe";
const WEBHOOK_SECRET: &str = "webhook-secret-Hq4nTz8Wk2Lp9Vx3Rb7Yc6Md";
const NOWPAYMENTS_KEY: &str = "np-api-key-Gt5Rk8Wq3Zm";

/// `DATABASE_URL` of the test server with our password in it (the throwaway cluster
/// trusts loopback, so any password connects) and a database of its own.
async fn database_with_password() -> String {
    let admin = sqlx::PgPool::connect(&database_url()).await.unwrap();
    let database = unique("secrets").replace('-', "_");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let url = database_url();
    let (scheme, rest) = url.split_once("://").unwrap();
    let (user, host_and_db) = rest.split_once('@').unwrap();
    let host = host_and_db.split('/').next().unwrap();
    format!("{scheme}://{user}:{DB_PASSWORD}@{host}/{database}")
}

fn invite_body(payment_id: i64) -> String {
    format!(
        r#"{{"v":1,"payment_id":{payment_id},"user_id":6271402111,"channel_id":-1003111266231}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_line_or_an_answer() {
    let logs = LogBuffer::default();
    // RUST_LOG=trace, as an owner debugging might set it: every crate at every level,
    // the runtime's raw events excepted (telemetry::log_filter).
    let (filter, _) = telepay_shared::telemetry::log_filter(Some("trace"));
    tracing::subscriber::set_global_default(logs.subscriber_with(filter)).unwrap();
    let mut answers = Vec::new();

    // What lambda_runtime logs at trace for each invocation: the raw event, headers and
    // all (its `layers::api_response`).
    let raw_event = serde_json::json!({
        "rawPath": "/bot-webhook",
        "headers": {
            "x-telegram-bot-api-secret-token": WEBHOOK_SECRET,
            "x-nowpayments-sig": IpnSecret::new(IPN_SECRET).unwrap().sign(b"{}"),
        },
        "body": "{}",
    })
    .to_string();
    tracing::trace!(
        target: "lambda_runtime::layers::api_response",
        body = raw_event.as_str(),
        "raw JSON event received from Lambda"
    );

    // Configuration as the functions read it at cold start, printed as a careless
    // `?config` would print it; then errors naming what is missing.
    let url = database_with_password().await;
    let env = [
        ("TELEPAY_IPN_SECRET", IPN_SECRET),
        ("TELEGRAM_BOT_TOKEN", BOT_TOKEN),
        ("TELEPAY_STORE_BACKEND", "postgres"),
        ("DATABASE_URL", url.as_str()),
        ("TELEPAY_CHANNEL_DIRECTORY", SAMPLE_DIRECTORY),
        (
            "TELEPAY_PROCESSOR_QUEUE_URL",
            "http://127.0.0.1:1/processor",
        ),
        ("TELEPAY_INVITE_QUEUE_URL", "http://127.0.0.1:1/invite"),
    ];
    let webhook_config = WebhookConfig::from_env(&env).unwrap();
    let invite_config = InviteSenderConfig::from_env(&env).unwrap();
    info!(?webhook_config, ?invite_config, "configuration read");
    let missing = [
        ("TELEPAY_IPN_SECRET", IPN_SECRET),
        ("DATABASE_URL", url.as_str()),
    ];
    error!(error = %WebhookConfig::from_env(&missing).unwrap_err(), "cold start failed");

    // The cold-start secret read from Secrets Manager (on moto), and one it cannot read.
    let moto_sdk = moto().await;
    let secrets_manager = aws_sdk_secretsmanager::Client::new(&moto_sdk);
    let mut arns = Vec::new();
    for value in [IPN_SECRET, BOT_TOKEN, url.as_str()] {
        let created = secrets_manager
            .create_secret()
            .name(unique("leak-check"))
            .secret_string(value)
            .send()
            .await
            .expect("moto creates the secret");
        arns.push(created.arn.expect("an ARN"));
    }
    let from_secrets_manager = [
        ("TELEPAY_IPN_SECRET_ARN", arns[0].as_str()),
        ("TELEGRAM_BOT_TOKEN_SECRET_ARN", arns[1].as_str()),
        ("DATABASE_URL_SECRET_ARN", arns[2].as_str()),
    ];
    let read = read_secrets(from_secrets_manager, &moto_sdk).await.unwrap();
    info!(?read, "secrets read at cold start");
    let unreadable = [(
        "TELEGRAM_BOT_TOKEN_SECRET_ARN",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf",
    )];
    error!(error = %read_secrets(unreadable, &moto_sdk).await.unwrap_err(), "cold start failed");

    // The store through the production connect path, with the password in the URL.
    let sdk = aws_types::SdkConfig::builder().build();
    let store = AnyStore::connect(&webhook_config.store, &sdk)
        .await
        .expect("connects");
    store.migrate().await.expect("migrates");
    // A refused connection with the password in its URL, reported as main.rs would.
    let refused = DatabaseUrl::new(format!("postgres://postgres:{DB_PASSWORD}@127.0.0.1:1/x"));
    // The pool connects lazily: the first statement meets the refusal.
    let unreachable = AnyStore::connect(&StoreConfig::Postgres(refused), &sdk)
        .await
        .expect("a lazy pool");
    let err = unreachable.migrate().await.unwrap_err();
    error!(error = %err, debug = ?err, "cannot connect to the store");

    // The chain: webhook, processor, invite sender on the fake Bot API.
    let fake = FakeBotApi::start(BOT_TOKEN).await;
    let webhook = PaymentWebhook::new(
        IpnSecret::new(IPN_SECRET).unwrap(),
        ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap(),
        store.clone(),
        MemoryQueue::new(),
    );
    let signature = IpnSecret::new(IPN_SECRET)
        .unwrap()
        .sign(SAMPLE_IPN.as_bytes());
    for request in [
        ipn_request(SAMPLE_IPN, Some(&signature), None),
        ipn_request(SAMPLE_IPN, Some(&signature[..100]), None),
        ipn_request(SAMPLE_IPN, None, None),
        {
            let refused = "{\"payment_id\":0}";
            let signature = IpnSecret::new(IPN_SECRET).unwrap().sign(refused.as_bytes());
            ipn_request(refused, Some(&signature), None)
        },
    ] {
        let response = np_webhook::handle(&webhook, request).await.unwrap();
        answers.push(format!("{:?}", outcome(&response)));
    }
    let processor = PaymentProcessor::new(store.clone(), MemoryQueue::new(), MemoryQueue::new());
    for body in webhook.processor_queue.bodies() {
        let event = sqs_batch(
            vec![sqs_message("p", "r", body, 1)],
            Duration::from_secs(30),
        );
        let response = payment_processor::handle(&processor, event).await.unwrap();
        answers.push(format!("{response:?}"));
    }
    let settings = InviteSettings {
        call_timeout: Duration::from_millis(500),
        ..InviteSettings::default()
    };
    let invite = |token: &str, api: &str| {
        InviteSender::new(
            store.clone(),
            TelegramBotApi::new(BotToken::new(token).unwrap(), Some(api)).unwrap(),
            ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap(),
            settings.clone(),
        )
    };
    for id in 2..=6 {
        store.record_accepted(&sample_record(id)).await.unwrap();
    }
    fake.inject(Fault::new("sendMessage", FaultKind::ServerError));
    fake.inject(Fault::new("createChatInviteLink", FaultKind::RetryAfter(1)));
    fake.inject(Fault::new(
        "sendMessage",
        FaultKind::Forbidden("Forbidden: bot was blocked by the user".into()),
    ));
    let cases = [
        (4492847470, invite(BOT_TOKEN, &fake.url())),
        (2, invite(BOT_TOKEN, &fake.url())),
        (3, invite(BOT_TOKEN, &fake.url())),
        (4, invite(BOT_TOKEN, &fake.url())),
        // Nothing listens there: the network error's URL carries the token in its path.
        (5, invite(BOT_TOKEN, "http://127.0.0.1:1")),
        // A token Telegram does not know.
        (6, invite("111:not-our-token", &fake.url())),
    ];
    for (payment_id, sender) in &cases {
        let event = sqs_batch(
            vec![sqs_message("i", "r", invite_body(*payment_id), 1)],
            Duration::from_secs(30),
        );
        let queue = MemoryQueue::new();
        let response = invite_sender::handle(sender, &queue, event).await.unwrap();
        answers.push(format!("{response:?}"));
    }
    answers.push(format!("{:?}", cases[0].1.telegram));

    // The bot: its configuration, a webhook call with and without the secret, invoices
    // made, refused for a wrong key, and failed with NOWPayments unreachable.
    let bot_env = [
        ("TELEPAY_BOT_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ("TELEPAY_NOWPAYMENTS_API_KEY", NOWPAYMENTS_KEY),
        ("TELEPAY_IPN_CALLBACK_URL", "https://example.com/np-webhook"),
        ("TELEGRAM_BOT_TOKEN", BOT_TOKEN),
        ("TELEPAY_STORE_BACKEND", "postgres"),
        ("DATABASE_URL", url.as_str()),
        ("TELEPAY_CHANNEL_DIRECTORY", SAMPLE_DIRECTORY),
        (
            "TELEPAY_ADMISSION_QUEUE_URL",
            "http://127.0.0.1:1/admission",
        ),
        ("TELEPAY_INVITE_QUEUE_URL", "http://127.0.0.1:1/invite"),
        (
            "TELEPAY_PROCESSOR_QUEUE_URL",
            "http://127.0.0.1:1/processor",
        ),
    ];
    let bot_config = BotWebhookConfig::from_env(&bot_env).unwrap();
    info!(?bot_config, "bot configuration read");
    let mut short = bot_env;
    short[0] = ("TELEPAY_BOT_WEBHOOK_SECRET", &WEBHOOK_SECRET[..20]);
    error!(error = %BotWebhookConfig::from_env(&short).unwrap_err(), "bot cold start failed");
    let nowpayments = FakeNowPayments::start(NOWPAYMENTS_KEY, IPN_SECRET).await;
    let front_door = |key: &str, api: &str| {
        BotFrontDoor::new(
            BotSetup::new(
                WebhookSecret::new(WEBHOOK_SECRET).unwrap(),
                ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap(),
                bot_config.urls.ipn_callback_url.clone(),
            ),
            store.clone(),
            TelegramBotApi::new(BotToken::new(BOT_TOKEN).unwrap(), Some(&fake.url())).unwrap(),
            NowPaymentsInvoices::new(NowPaymentsApiKey::new(key).unwrap(), Some(api)).unwrap(),
            MemoryQueue::new(),
            MemoryQueue::new(),
        )
    };
    let press = |update_id: i64, user: i64| {
        format!(
            r#"{{"update_id":{update_id},"callback_query":{{"id":"q{update_id}","from":{{"id":{user}}},"data":"buy:-1003111266231:0","message":{{"chat":{{"id":{user},"type":"private"}}}}}}}}"#
        )
    };
    let bots = [
        (
            front_door(NOWPAYMENTS_KEY, &nowpayments.url()),
            801,
            WEBHOOK_SECRET,
        ),
        (
            front_door(NOWPAYMENTS_KEY, &nowpayments.url()),
            802,
            "wrong-secret-but-long-enough-0123456789",
        ),
        (
            front_door("np-wrong-key-0000", &nowpayments.url()),
            803,
            WEBHOOK_SECRET,
        ),
        (
            front_door(NOWPAYMENTS_KEY, "http://127.0.0.1:1"),
            804,
            WEBHOOK_SECRET,
        ),
    ];
    for (bot, update_id, secret) in &bots {
        let request = lambda_http::http::Request::builder()
            .method("POST")
            .uri("/telegram-webhook")
            .header("X-Telegram-Bot-Api-Secret-Token", *secret)
            .body(lambda_http::Body::from(press(*update_id, 5000 + update_id)))
            .unwrap();
        let response = bot_webhook::handle(bot, request).await.unwrap();
        answers.push(format!("{:?} {:?}", response.status(), response.body()));
    }
    assert_eq!(nowpayments.invoices().len(), 1, "one invoice made");

    let text = logs.text();
    // The run did what it must, so the check below is not vacuous.
    let invites = fake
        .delivered("sendMessage")
        .into_iter()
        .filter(|c| c.chat_id() == Some(6271402111))
        .count();
    assert_eq!(invites, 1, "one invite went out");
    for expected in [
        "invite sent",
        "IPN signature rejected",
        "Telegram call failed",
        "bot configuration error",
        "invite_failed",
        "cannot connect to the store",
        "TELEPAY_PAYMENTS_TABLE",
        "secrets read from Secrets Manager",
        "TELEGRAM_BOT_TOKEN_SECRET_ARN: cannot read the secret",
        "invoice ready",
        "NOWPayments refused an invoice",
        "NOWPayments did not create the invoice now",
        "bot webhook call without the right secret token",
        "TELEPAY_BOT_WEBHOOK_SECRET is not valid",
    ] {
        assert!(text.contains(expected), "the logs lack {expected:?}");
    }
    assert!(
        text.lines().count() > 50,
        "every crate's events were captured"
    );
    let token_secret = BOT_TOKEN.split_once(':').unwrap().1;
    for (name, secret) in [
        ("IPN secret", IPN_SECRET),
        ("bot token", BOT_TOKEN),
        ("bot token (secret part)", token_secret),
        ("bot token (URL-encoded)", &BOT_TOKEN.replace(':', "%3A")),
        ("database password", DB_PASSWORD),
        ("bot webhook secret", WEBHOOK_SECRET),
        ("bot webhook secret (the short one)", &WEBHOOK_SECRET[..20]),
        ("NOWPayments API key", NOWPAYMENTS_KEY),
    ] {
        let leaks: Vec<&str> = text.lines().filter(|l| l.contains(secret)).collect();
        assert!(
            leaks.is_empty(),
            "the {name} leaked into {} log lines: {:?}",
            leaks.len(),
            &leaks[..leaks.len().min(3)]
        );
        for answer in &answers {
            assert!(
                !answer.contains(secret),
                "the {name} leaked into an answer: {answer}"
            );
        }
    }
}
