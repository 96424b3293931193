//! admission-recheck through its handler: the memory store and queue, the real Bot API
//! adapter against the fake Bot API, SQS events as Lambda sends them.

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use chrono::{DateTime, Utc};
use fake_bot_api::FakeBotApi;
use telepay_core::bot::AdmissionStage;
use telepay_core::clock::{ManualClock, SharedClock};
use telepay_core::directory::ChannelDirectory;
use telepay_core::fixtures::SAMPLE_DIRECTORY;
use telepay_core::queue::memory::MemoryQueue;
use telepay_core::store::memory::MemoryStore;
use telepay_core::subscription::LifecycleSettings;
use telepay_shared::sqs_event::{sqs_batch, sqs_message};
use telepay_shared::telegram::{BotToken, TelegramBotApi};

use super::*;

const TOKEN: &str = "123:admission-test";

/// The function's stage as its `main` builds it: the memory store and queue, the real
/// adapter on `api`.
type Rig = AdmissionStage<MemoryStore, TelegramBotApi, MemoryQueue>;

fn rig_on(api: &str) -> Rig {
    AdmissionStage::new(
        MemoryStore::new(),
        TelegramBotApi::new(BotToken::new(TOKEN).unwrap(), Some(api)).unwrap(),
        MemoryQueue::new(),
        ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap(),
        LifecycleSettings::default(),
    )
}

/// One invocation at `at`; the failed message ids.
async fn invoke(rig: &Rig, event: LambdaEvent<SqsEvent>, at: DateTime<Utc>) -> Vec<String> {
    let clock: SharedClock = ManualClock::frozen_at(at);
    let response = handle(&rig.admission(), &clock, event).await.unwrap();
    response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect()
}

async fn run(
    event: LambdaEvent<SqsEvent>,
    at: DateTime<Utc>,
) -> (Vec<String>, FakeBotApi, MemoryQueue) {
    let fake = FakeBotApi::start(TOKEN).await;
    let rig = rig_on(&fake.url());
    let failed = invoke(&rig, event, at).await;
    (failed, fake, rig.rechecks)
}

fn requested_at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-30T07:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn the_sample_recheck_of_a_stranger_is_declined_after_the_menu() {
    let events = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events");
    let json = std::fs::read_to_string(format!("{events}/admission-recheck-batch.json")).unwrap();
    let payload: SqsEvent = serde_json::from_str(&json).unwrap();
    let event = LambdaEvent::new(payload, lambda_runtime::Context::default());
    let (failed, fake, queue) = run(event, requested_at() + chrono::TimeDelta::seconds(30)).await;
    assert!(failed.is_empty());
    let methods: Vec<String> = fake.calls().iter().map(|c| c.method.clone()).collect();
    assert_eq!(methods, vec!["sendMessage", "declineChatJoinRequest"]);
    assert!(
        queue.take_later().is_empty(),
        "no purchase in progress: no further wait"
    );
}

#[tokio::test]
async fn a_recheck_past_telegrams_message_window_declines_without_writing() {
    let body = r#"{"v":1,"chat_id":-1003111266231,"user_id":7000000001,"user_chat_id":7000000001,"requested_at":"2026-11-30T07:00:00Z"}"#;
    let event = sqs_batch(
        vec![sqs_message("m1", "r1", body, 1)],
        Duration::from_secs(30),
    );
    let (failed, fake, _) = run(event, requested_at() + chrono::TimeDelta::minutes(6)).await;
    assert!(failed.is_empty());
    let methods: Vec<String> = fake.calls().iter().map(|c| c.method.clone()).collect();
    assert_eq!(
        methods,
        vec!["declineChatJoinRequest"],
        "the private chat has closed"
    );
}

#[tokio::test]
async fn an_unreadable_recheck_is_retried_then_dead_lettered_never_dropped() {
    let event = sqs_batch(
        vec![
            sqs_message("bad", "r1", "not json", 1),
            sqs_message("old", "r2", r#"{"v":9}"#, 1),
        ],
        Duration::from_secs(30),
    );
    let (failed, fake, _) = run(event, requested_at()).await;
    assert_eq!(failed, vec!["bad", "old"]);
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn telegram_down_leaves_the_recheck_for_a_retry() {
    let body = r#"{"v":1,"chat_id":-1003111266231,"user_id":7000000001,"user_chat_id":7000000001,"requested_at":"2026-11-30T07:00:00Z"}"#;
    // Telegram unreachable: every call fails as a network error, transient.
    let event = sqs_batch(
        vec![sqs_message("m1", "r1", body, 1)],
        Duration::from_secs(30),
    );
    let failed = invoke(&rig_on("http://127.0.0.1:9"), event, requested_at()).await;
    assert_eq!(failed, vec!["m1"]);
}
