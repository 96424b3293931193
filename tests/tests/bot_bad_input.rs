//! The bot webhook's bad-input corpus, table-driven, through `bot_webhook::handle` as
//! API Gateway calls it, with a real SQLite store, the fake Bot API and the fake
//! NOWPayments behind it. Every case gets its documented status and leaves nothing
//! behind: no once-record, no Bot API call, no invoice. A forged button is answered and
//! nothing else. Never a panic.

use fake_bot_api::FakeBotApi;
use fake_nowpayments::FakeNowPayments;
use lambda_http::{Body, Request, http};
use serde_json::{Value, json};
use telepay_core::bot::{BotFrontDoor, BotSetup, WebhookSecret};
use telepay_core::directory::ChannelDirectory;
use telepay_core::fixtures::SAMPLE_DIRECTORY;
use telepay_core::queue::memory::MemoryQueue;
use telepay_integration_tests::sqlite_store;
use telepay_shared::nowpayments::{NowPaymentsApiKey, NowPaymentsInvoices};
use telepay_shared::sql::SqliteStore;
use telepay_shared::telegram::{BotToken, TelegramBotApi};

const TOKEN: &str = "31337:bot-bad-input";
const SECRET: &str = "bot-bad-input-secret-0123456789-abc";
const NP_KEY: &str = "bot-bad-input-np-key";

/// What a case must leave behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    /// No record, no Bot API call, no invoice.
    Nothing,
    /// The tap answered (`answerCallbackQuery`), its update recorded done; nothing else.
    AnsweredOnly,
}

struct Case {
    name: String,
    method: &'static str,
    secret: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    effect: Effect,
}

fn case(name: &str, body: impl Into<Vec<u8>>, status: u16) -> Case {
    Case {
        name: name.to_owned(),
        method: "POST",
        secret: Some(SECRET),
        body: body.into(),
        status,
        effect: Effect::Nothing,
    }
}

fn update(id: i64, kind: &str, value: Value) -> Vec<u8> {
    let mut update = json!({ "update_id": id });
    update[kind] = value;
    update.to_string().into_bytes()
}

fn start() -> Vec<u8> {
    update(
        1,
        "message",
        json!({"message_id": 1, "date": 1, "chat": {"id": 42, "type": "private"},
               "from": {"id": 42, "is_bot": false, "first_name": "A"}, "text": "/start"}),
    )
}

fn cases() -> Vec<Case> {
    let mut cases = vec![
        // The secret: anything but the exact token is 401, nothing read.
        Case {
            secret: None,
            ..case("no secret header", start(), 401)
        },
        Case {
            secret: Some(""),
            ..case("an empty secret", start(), 401)
        },
        Case {
            secret: Some("bot-bad-input-secret-0123456789-abd"),
            ..case("one character off", start(), 401)
        },
        Case {
            secret: Some("BOT-BAD-INPUT-SECRET-0123456789-ABC"),
            ..case("another case", start(), 401)
        },
        Case {
            secret: Some("bot-bad-input-secret-0123456789-abc "),
            ..case("a trailing space", start(), 401)
        },
        Case {
            secret: Some("bot-bad-input-secret-0123456789-ab"),
            ..case("a prefix of it", start(), 401)
        },
        Case {
            method: "GET",
            ..case("GET", start(), 405)
        },
        Case {
            method: "PUT",
            ..case("PUT", start(), 405)
        },
        // Not an update at all: 400.
        case("an empty body", "", 400),
        case("null", "null", 400),
        case("an array", "[22]", 400),
        case("an empty object", "{}", 400),
        case(
            "update_id as a string",
            r#"{"update_id":"1","message":{}}"#,
            400,
        ),
        case("update_id as a float", r#"{"update_id":1.5}"#, 400),
        case(
            "update_id beyond i64",
            r#"{"update_id":99999999999999999999}"#,
            400,
        ),
        case("truncated JSON", &start()[..40], 400),
        case("not UTF-8", vec![b'{', 0xff, 0xfe, b'}'], 400),
        case(
            "nested past serde's limit",
            format!("{}{}", "[".repeat(200), "]".repeat(200)),
            400,
        ),
        case("plain text", "hello", 400),
        case(
            "over 256 KiB",
            format!(r#"{{"update_id":1,"pad":"{}"}}"#, "x".repeat(300 * 1024)),
            413,
        ),
        // Updates the bot deliberately leaves alone: 200, nothing done.
        case(
            "an edited message",
            update(2, "edited_message", json!({"text": "x"})),
            200,
        ),
        case(
            "a channel post",
            update(3, "channel_post", json!({"text": "x"})),
            200,
        ),
        case(
            "an inline query",
            update(4, "inline_query", json!({"id": "q", "query": "x"})),
            200,
        ),
        case("a poll", update(5, "poll", json!({"id": "p"})), 200),
        case(
            "a chat member update",
            update(6, "chat_member", json!({})),
            200,
        ),
        case("no kind at all", r#"{"update_id":7}"#, 200),
        case(
            "a group message",
            update(
                8,
                "message",
                json!({"chat": {"id": -5, "type": "group"}, "from": {"id": 5}, "text": "/start"}),
            ),
            200,
        ),
        case(
            "a message without text",
            update(
                9,
                "message",
                json!({"chat": {"id": 5, "type": "private"}, "from": {"id": 5}, "photo": []}),
            ),
            200,
        ),
        case(
            "a message from a bot",
            update(
                10,
                "message",
                json!({"chat": {"id": 5, "type": "private"}, "from": {"id": 5, "is_bot": true}, "text": "/start"}),
            ),
            200,
        ),
        case(
            "a message without a sender",
            update(
                11,
                "message",
                json!({"chat": {"id": 5, "type": "private"}, "text": "/start"}),
            ),
            200,
        ),
        case(
            "a message whose text is a number",
            update(
                12,
                "message",
                json!({"chat": {"id": 5, "type": "private"}, "from": {"id": 5}, "text": 42}),
            ),
            200,
        ),
        case(
            "a button press without data",
            update(
                13,
                "callback_query",
                json!({"id": "q", "from": {"id": 5}, "message": {"chat": {"id": 5, "type": "private"}}}),
            ),
            200,
        ),
        case(
            "a button press without its message",
            update(
                14,
                "callback_query",
                json!({"id": "q", "from": {"id": 5}, "data": "buy:-1003111266231:0"}),
            ),
            200,
        ),
        case(
            "a join request without user_chat_id",
            update(
                15,
                "chat_join_request",
                json!({"chat": {"id": -1003111266231i64}, "from": {"id": 5}, "date": 1}),
            ),
            200,
        ),
        case(
            "a join request with a string date",
            update(
                16,
                "chat_join_request",
                json!({"chat": {"id": -1003111266231i64}, "from": {"id": 5}, "user_chat_id": 5, "date": "today"}),
            ),
            200,
        ),
        case(
            "a join request as a string",
            update(17, "chat_join_request", json!("not an object")),
            200,
        ),
        case(
            "my_chat_member without the new status",
            update(
                18,
                "my_chat_member",
                json!({"chat": {"id": -1003111266231i64}}),
            ),
            200,
        ),
    ];
    // Forged or stale buttons: answered with "out of date", nothing else.
    for (n, data) in [
        "buy:-1003111266231:9",
        "buy:-1:0",
        "buy:-1003111266231:-1",
        "buy:-1003111266231:0:extra",
        "channel:not-a-number",
        "pay:-1003111266231",
        "",
        &"x".repeat(64),
    ]
    .into_iter()
    .enumerate()
    {
        let id = 100 + n as i64;
        let body = update(
            id,
            "callback_query",
            json!({"id": format!("q{id}"), "from": {"id": 5, "is_bot": false}, "data": data,
                   "message": {"message_id": 1, "date": 1, "chat": {"id": 5, "type": "private"}}}),
        );
        cases.push(Case {
            effect: Effect::AnsweredOnly,
            ..case(&format!("a forged button {data:?}"), body, 200)
        });
    }
    cases
}

async fn records(store: &SqliteStore) -> Vec<String> {
    sqlx::query_scalar("SELECT once_key FROM bot_once")
        .fetch_all(store.pool())
        .await
        .unwrap()
}

async fn check(case: Case) -> Option<String> {
    let fake = FakeBotApi::start(TOKEN).await;
    let nowpayments = FakeNowPayments::start(NP_KEY, "ipn").await;
    let store = sqlite_store(true).await;
    let bot = BotFrontDoor::new(
        BotSetup::new(
            WebhookSecret::new(SECRET).unwrap(),
            ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap(),
            "https://example.com/np-webhook",
        ),
        store.clone(),
        TelegramBotApi::new(BotToken::new(TOKEN).unwrap(), Some(&fake.url())).unwrap(),
        NowPaymentsInvoices::new(
            NowPaymentsApiKey::new(NP_KEY).unwrap(),
            Some(&nowpayments.url()),
        )
        .unwrap(),
        MemoryQueue::new(),
        MemoryQueue::new(),
    );
    let mut request = http::Request::builder()
        .method(case.method)
        .uri("/telegram-webhook");
    if let Some(secret) = case.secret {
        request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
    }
    let request: Request = request.body(Body::from(case.body.clone())).unwrap();
    let response = bot_webhook::handle(&bot, request).await.unwrap();
    let mut wrong = Vec::new();
    if response.status().as_u16() != case.status {
        wrong.push(format!(
            "status {} (want {})",
            response.status(),
            case.status
        ));
    }
    let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap_or_default();
    if body["outcome"].as_str().is_none() {
        wrong.push(format!("body {body} is not an outcome word"));
    }
    let methods: Vec<String> = fake.calls().iter().map(|c| c.method.clone()).collect();
    let kept = records(&store).await;
    match case.effect {
        Effect::Nothing => {
            if !methods.is_empty() {
                wrong.push(format!("Bot API calls {methods:?}"));
            }
            if !kept.is_empty() {
                wrong.push(format!("records {kept:?}"));
            }
        }
        Effect::AnsweredOnly => {
            if methods != ["answerCallbackQuery"] {
                wrong.push(format!("Bot API calls {methods:?}, want only the answer"));
            }
            if kept.len() != 1 || !kept[0].starts_with("update:") {
                wrong.push(format!("records {kept:?}, want the update's own"));
            }
        }
    }
    if !nowpayments.invoice_requests().is_empty() {
        wrong.push("an invoice was asked for".into());
    }
    (!wrong.is_empty()).then(|| format!("{}: {}", case.name, wrong.join("; ")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bot_webhook_input_gets_its_status_and_changes_nothing() {
    let cases = cases();
    assert!(cases.len() >= 45, "the corpus has {} cases", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        if let Some(failure) = check(case).await {
            failures.push(failure);
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
