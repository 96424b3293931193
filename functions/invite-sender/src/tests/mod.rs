//! The invite protocol through the handler as Lambda calls it: the in-memory store, the
//! real Bot API adapter (teloxide-core), and the fake Bot API server.

//!
//! One file a job of `telepay_core::invite`: `protocol` (the run, crashes, leases),
//! `link` (which link is sent, the shared live link), `renewal` (membership), `call`
//! (Bot API failures and terminal failure), `intake` (deadlines, bad messages, events).
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use fake_bot_api::{FakeBotApi, Fault, FaultKind};
use telepay_core::directory::ChannelDirectory;
use telepay_core::fixtures::{SAMPLE_CHANNEL_ID, SAMPLE_DIRECTORY, SAMPLE_USER_ID, sample_record};
use telepay_core::invite::{InviteSender, InviteSettings};
use telepay_core::payment::{ProcessedPayment, RecordState};
use telepay_core::queue::memory::MemoryQueue;
use telepay_core::store::memory::MemoryStore;
use telepay_shared::sqs_event::{sqs_batch, sqs_message};
use telepay_shared::telegram::{BotToken, TelegramBotApi};

use super::*;

mod call;
mod ended;
mod held;
mod intake;
mod link;
mod protocol;
mod renewal;

const TOKEN: &str = "123456:test-bot-token";
const CHANNEL: i64 = SAMPLE_CHANNEL_ID;
const USER: i64 = SAMPLE_USER_ID;

type Sender = InviteSender<MemoryStore, TelegramBotApi>;

struct World {
    fake: FakeBotApi,
    sender: Arc<Sender>,
    queue: MemoryQueue,
}

fn record(payment_id: i64) -> ProcessedPayment {
    sample_record(payment_id)
}

async fn world_with(settings: InviteSettings) -> World {
    world_on(
        ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap(),
        settings,
    )
    .await
}

/// A sender over `directory` (an owner to tell, another admission), on the fake Bot API.
async fn world_on(directory: ChannelDirectory, settings: InviteSettings) -> World {
    let fake = FakeBotApi::start(TOKEN).await;
    let telegram = TelegramBotApi::new(BotToken::new(TOKEN).unwrap(), Some(&fake.url())).unwrap();
    let sender = InviteSender::new(MemoryStore::new(), telegram, directory, settings);
    World {
        fake,
        sender: Arc::new(sender),
        queue: MemoryQueue::new(),
    }
}

/// Short call timeouts and leases so crash tests recover in about a second.
fn fast_settings() -> InviteSettings {
    InviteSettings {
        call_timeout: Duration::from_millis(1000),
        lease_grace: Duration::ZERO,
        ..InviteSettings::default()
    }
}

async fn world() -> World {
    let world = world_with(fast_settings()).await;
    world.sender.store.put_payment(record(1));
    world
}

fn invite_body(payment_id: i64) -> String {
    format!(r#"{{"v":1,"payment_id":{payment_id},"user_id":{USER},"channel_id":{CHANNEL}}}"#)
}

impl World {
    /// One invocation with the given bodies and time budget; the failed message ids.
    async fn invoke(&self, bodies: &[String], time_left: Duration) -> Vec<String> {
        let records = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| sqs_message(format!("m{i}"), format!("r{i}"), body.clone(), 1))
            .collect();
        let response = handle(&self.sender, &self.queue, sqs_batch(records, time_left))
            .await
            .unwrap();
        response
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect()
    }

    async fn invoke_one(&self, payment_id: i64) -> Vec<String> {
        self.invoke(&[invite_body(payment_id)], Duration::from_secs(30))
            .await
    }

    fn stored(&self, payment_id: i64) -> ProcessedPayment {
        self.sender.store.payment(payment_id).unwrap()
    }

    fn links_created(&self) -> usize {
        self.fake.delivered("createChatInviteLink").len()
    }

    fn messages_sent(&self) -> Vec<String> {
        self.fake
            .delivered("sendMessage")
            .iter()
            .map(|c| c.text().unwrap().to_owned())
            .collect()
    }
}

impl World {
    /// GIVEN sendMessage meets `fault`, WHEN the invocation is aborted (a crash) once the
    /// call reached Telegram, THEN SQS redelivers after the crashed lease lapsed.
    async fn crash_during_send_then_redeliver(
        self: &Arc<Self>,
        fault: FaultKind,
    ) -> Option<String> {
        self.fake.inject(Fault::new("sendMessage", fault));
        let crashing = {
            let world = self.clone();
            tokio::spawn(async move {
                world
                    .invoke(&[invite_body(1)], Duration::from_millis(8200))
                    .await
            })
        };
        assert!(
            self.fake
                .wait_for_calls("sendMessage", 1, Duration::from_secs(5))
                .await
        );
        crashing.abort();
        let link_at_crash = self.stored(1).telegram_invite_link;
        tokio::time::sleep(Duration::from_millis(8300)).await;
        assert!(self.invoke_one(1).await.is_empty());
        link_at_crash
    }
}

/// The first attempt's message went out but its answer was lost: the link is stored, the
/// invite not marked sent.
async fn send_outcome_unknown(world: &World) -> String {
    world
        .fake
        .inject(Fault::new("sendMessage", FaultKind::DeliverThenHang));
    assert_eq!(world.invoke_one(1).await, vec!["m0".to_string()]);
    let stored = world.stored(1);
    assert!(!stored.telegram_invite_sent);
    stored
        .telegram_invite_link
        .expect("the link was stored before the send")
}

/// The stored link has aged past half its lifetime by the next attempt.
fn age_the_stored_link(world: &World) {
    let mut stored = world.stored(1);
    stored.invite_link_expires_at = Some(Utc::now() + TimeDelta::hours(1));
    world.sender.store.put_payment(stored);
}

/// The buyer's subscription with the given payments' 30 days each, all accepted now.
async fn subscribed(world: &World, payment_ids: &[i64]) -> chrono::DateTime<Utc> {
    use telepay_core::access::grant_time;
    use telepay_core::order::UserId;
    use telepay_core::subscription::{
        AccessDuration, GrantSource, LifecycleSettings, SubscriptionKey, TimeGrant,
    };
    let key = SubscriptionKey::new(UserId::new(USER).unwrap(), CHANNEL);
    let at = chrono::DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap();
    let mut expires_at = at;
    for (n, id) in payment_ids.iter().enumerate() {
        let grant = TimeGrant::new(
            GrantSource::Payment(*id),
            // In payment id order: a later id is the renewal.
            at + TimeDelta::milliseconds(n as i64),
            AccessDuration::from_days(30).unwrap(),
        );
        expires_at = grant_time(
            &world.sender.store,
            key,
            &grant,
            at,
            &LifecycleSettings::default(),
        )
        .await
        .unwrap()
        .expires_at();
    }
    expires_at
}

impl World {
    /// The links that still admit anyone, by Telegram's state.
    fn open_links(&self) -> Vec<String> {
        self.fake
            .open_links(Utc::now().timestamp())
            .into_iter()
            .map(|link| link.url)
            .collect()
    }
}
