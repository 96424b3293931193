//! The invite protocol through the handler as Lambda calls it: the in-memory store, the
//! real Bot API adapter (teloxide-core), and the fake Bot API server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use fake_bot_api::{FakeBotApi, Fault, FaultKind};
use telepay_core::directory::ChannelDirectory;
use telepay_core::fixtures::{SAMPLE_CHANNEL_ID, SAMPLE_DIRECTORY, SAMPLE_USER_ID, sample_record};
use telepay_core::invite::{InviteSender, InviteSettings};
use telepay_core::payment::{ProcessedPayment, RecordState};
use telepay_core::queue::memory::MemoryQueue;
use telepay_core::store::memory::MemoryPaymentStore;
use telepay_shared::sqs_event::{sqs_batch, sqs_message};
use telepay_shared::telegram::{BotApiInviter, BotToken};

use super::*;

const TOKEN: &str = "123456:test-bot-token";
const CHANNEL: i64 = SAMPLE_CHANNEL_ID;
const USER: i64 = SAMPLE_USER_ID;

type Sender = InviteSender<MemoryPaymentStore, BotApiInviter>;

struct World {
    fake: FakeBotApi,
    sender: Arc<Sender>,
    queue: MemoryQueue,
}

fn record(payment_id: i64) -> ProcessedPayment {
    sample_record(payment_id)
}

async fn world_with(settings: InviteSettings) -> World {
    let fake = FakeBotApi::start(TOKEN).await;
    let telegram = BotApiInviter::new(BotToken::new(TOKEN).unwrap(), Some(&fake.url())).unwrap();
    let sender = InviteSender::new(
        MemoryPaymentStore::new(),
        telegram,
        ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap(),
        settings,
    );
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

#[tokio::test]
async fn an_invite_is_one_link_for_one_person_and_one_message_carrying_it() {
    let world = world().await;
    assert!(world.invoke_one(1).await.is_empty());

    let created = world.fake.delivered("createChatInviteLink");
    assert_eq!(created.len(), 1);
    let params = &created[0].params;
    assert_eq!(params["chat_id"], CHANNEL);
    assert_eq!(params["member_limit"], 1);
    assert_eq!(params["name"], "payment 1");
    let expire = params["expire_date"].as_i64().unwrap();
    let in_a_day = (Utc::now() + TimeDelta::hours(24)).timestamp();
    assert!((expire - in_a_day).abs() < 60, "expires in 24 h by default");

    let record = world.stored(1);
    let link = record
        .telegram_invite_link
        .clone()
        .expect("the link is stored");
    let sent = world.fake.delivered("sendMessage");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].chat_id(), Some(USER));
    assert!(sent[0].text().unwrap().contains(&link));
    assert!(record.telegram_invite_sent && record.telegram_invite_sent_at.is_some());
    assert_eq!(
        record.invite_lease_token, None,
        "lease cleared on completion"
    );
}

#[tokio::test]
async fn a_redelivered_request_after_the_invite_was_sent_is_acknowledged_without_calls() {
    let world = world().await;
    world.invoke_one(1).await;
    let calls = world.fake.calls().len();
    assert!(world.invoke_one(1).await.is_empty(), "acknowledged");
    assert_eq!(world.fake.calls().len(), calls, "no Bot API call");
}

#[tokio::test]
async fn eight_concurrent_invocations_for_one_payment_send_one_link_once() {
    let world = Arc::new(world().await);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let world = world.clone();
            tokio::spawn(async move { world.invoke_one(1).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(world.links_created(), 1);
    assert_eq!(world.messages_sent().len(), 1);
    assert!(world.stored(1).telegram_invite_sent);
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

#[tokio::test]
async fn a_crash_after_the_link_is_stored_but_before_sending_reuses_that_link() {
    let world = Arc::new(world().await);
    let stored_link = world
        .crash_during_send_then_redeliver(FaultKind::Hang)
        .await
        .expect("persisted before send");
    assert_eq!(world.links_created(), 1, "no second createChatInviteLink");
    let sent = world.messages_sent();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].contains(&stored_link));
    assert!(world.stored(1).telegram_invite_sent);
}

#[tokio::test]
async fn a_crash_after_sending_but_before_completing_repeats_at_most_once_with_the_same_link() {
    let world = Arc::new(world().await);
    world
        .crash_during_send_then_redeliver(FaultKind::DeliverThenHang)
        .await;
    assert!(
        world.invoke_one(1).await.is_empty(),
        "and later deliveries are acknowledged"
    );
    let sent = world.messages_sent();
    assert_eq!(sent.len(), 2, "the unknown outcome is repeated once");
    assert_eq!(sent[0], sent[1], "with the same link");
    assert_eq!(world.links_created(), 1);
}

#[tokio::test]
async fn a_store_hiccup_after_the_message_went_out_is_retried_in_place_not_resent() {
    let world = world().await;
    world.sender.store.refuse_next_completes(2);
    assert!(world.invoke_one(1).await.is_empty(), "acknowledged");
    assert_eq!(world.messages_sent().len(), 1, "the buyer got one message");
    assert!(world.stored(1).telegram_invite_sent);
}

#[tokio::test]
async fn a_store_outage_after_the_message_went_out_is_left_to_sqs_and_repeats_the_same_link() {
    let world = world().await;
    world.sender.store.refuse_next_completes(1000);
    assert_eq!(world.invoke_one(1).await.len(), 1, "failed: SQS redelivers");
    world.sender.store.refuse_next_completes(0);
    assert!(world.invoke_one(1).await.is_empty());
    let sent = world.messages_sent();
    assert_eq!(sent.len(), 2, "the unknown outcome is repeated once");
    assert_eq!(sent[0], sent[1], "with the same link");
}

#[tokio::test]
async fn a_live_lease_makes_other_deliveries_retry_later_not_drop() {
    let world = world().await;
    let mut leased = record(1);
    leased.invite_lease_token = Some("someone-else".into());
    leased.invite_lease_until = Some(Utc::now() + TimeDelta::minutes(5));
    world.sender.store.put_payment(leased);
    assert_eq!(world.invoke_one(1).await, vec!["m0".to_string()]);
    assert!(world.fake.calls().is_empty());
}

#[tokio::test]
async fn a_stored_link_with_half_its_life_left_is_reused_and_an_older_one_replaced() {
    let world = world().await;
    let mut fresh = record(1);
    fresh.telegram_invite_link = Some("https://t.me/+stored-fresh".into());
    fresh.invite_link_expires_at = Some(Utc::now() + TimeDelta::hours(20));
    world.sender.store.put_payment(fresh);
    let mut stale = record(2);
    stale.telegram_invite_link = Some("https://t.me/+stored-stale".into());
    stale.invite_link_expires_at = Some(Utc::now() + TimeDelta::hours(2));
    world.sender.store.put_payment(stale);

    world
        .invoke(&[invite_body(1), invite_body(2)], Duration::from_secs(30))
        .await;

    let sent = world.messages_sent();
    assert!(sent[0].contains("+stored-fresh"));
    assert!(!sent[1].contains("+stored-stale"));
    let revoked = world.fake.delivered("revokeChatInviteLink");
    assert_eq!(revoked.len(), 1);
    assert_eq!(
        revoked[0].params["invite_link"],
        "https://t.me/+stored-stale"
    );
    assert_eq!(world.links_created(), 1, "only the stale one is replaced");
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

#[tokio::test]
async fn a_buyer_who_joined_with_a_link_we_never_saw_delivered_gets_no_second_link() {
    // GIVEN a send whose outcome was unknown, and the buyer joined with that link
    let world = world().await;
    let link = send_outcome_unknown(&world).await;
    assert_eq!(
        world.fake.join(&link, USER, Utc::now().timestamp()),
        fake_bot_api::JoinOutcome::Joined
    );
    // AND the next attempt comes after half the link's lifetime
    age_the_stored_link(&world);

    // WHEN it is delivered again
    assert!(world.invoke_one(1).await.is_empty());

    // THEN Telegram is asked, and the invite completes without a new link or message
    assert_eq!(
        world.links_created(),
        1,
        "no second link that could admit another"
    );
    assert!(world.fake.delivered("revokeChatInviteLink").is_empty());
    assert_eq!(world.fake.delivered("sendMessage").len(), 1);
    let stored = world.stored(1);
    assert!(stored.telegram_invite_sent && stored.invite_satisfied_by_membership);
    assert_eq!(stored.invite_lease_token, None);
}

#[tokio::test]
async fn a_stale_link_nobody_joined_with_is_revoked_and_replaced() {
    let world = world().await;
    let old = send_outcome_unknown(&world).await;
    age_the_stored_link(&world);
    assert!(world.invoke_one(1).await.is_empty());
    assert_eq!(world.links_created(), 2);
    let revoked = world.fake.delivered("revokeChatInviteLink");
    assert_eq!(revoked[0].params["invite_link"], old.as_str());
    assert_eq!(
        world.fake.join(&old, 999, Utc::now().timestamp()),
        fake_bot_api::JoinOutcome::Revoked,
        "the replaced link admits nobody"
    );
    assert!(!world.stored(1).invite_satisfied_by_membership);
}

#[tokio::test]
async fn a_seed_row_with_a_link_but_no_expiry_asks_before_replacing_it() {
    // GIVEN a seed row holding a link of unknown age, and a buyer already in the channel
    let world = world_with(fast_settings()).await;
    let mut seed = record(7);
    seed.gcwebhook1_processed = true;
    seed.telegram_invite_link = Some("https://t.me/+seed-link".into());
    seed.invite_link_expires_at = None;
    world.sender.store.put_payment(seed);
    world.fake.add_member(CHANNEL, USER);

    assert!(world.invoke_one(7).await.is_empty());
    assert_eq!(world.links_created(), 0);
    assert!(world.stored(7).invite_satisfied_by_membership);
}

#[tokio::test]
async fn a_membership_check_that_fails_is_retried_and_replaces_nothing() {
    let world = world().await;
    let old = send_outcome_unknown(&world).await;
    age_the_stored_link(&world);
    world
        .fake
        .inject(Fault::new("getChatMember", FaultKind::ServerError));
    assert_eq!(world.invoke_one(1).await, vec!["m0".to_string()]);
    assert_eq!(world.links_created(), 1);
    assert!(world.fake.delivered("revokeChatInviteLink").is_empty());
    let stored = world.stored(1);
    assert_eq!(stored.telegram_invite_link.as_deref(), Some(old.as_str()));
    assert_eq!(stored.invite_lease_token, None, "released for the retry");
}

#[tokio::test]
async fn rate_limited_sends_release_the_lease_and_delay_the_message_by_retry_after() {
    let world = world().await;
    world
        .fake
        .inject(Fault::new("sendMessage", FaultKind::RetryAfter(17)));
    assert_eq!(world.invoke_one(1).await, vec!["m0".to_string()]);
    assert_eq!(
        world.queue.delays(),
        vec![("r0".to_string(), Duration::from_secs(17))]
    );
    let record = world.stored(1);
    assert!(!record.telegram_invite_sent);
    assert_eq!(record.invite_lease_token, None, "released for the retry");

    assert!(world.invoke_one(1).await.is_empty(), "the retry succeeds");
    assert_eq!(
        world.links_created(),
        1,
        "with the link created the first time"
    );
}

#[tokio::test]
async fn a_5xx_is_retried_and_teloxides_ten_second_sleep_is_cut_short() {
    let world = world().await;
    world
        .fake
        .inject(Fault::new("sendMessage", FaultKind::ServerError));
    let started = Instant::now();
    assert_eq!(world.invoke_one(1).await, vec!["m0".to_string()]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cut at the call timeout"
    );
    assert_eq!(world.stored(1).invite_lease_token, None);
    assert!(
        world.queue.delays().is_empty(),
        "plain retry, no visibility change"
    );
}

#[tokio::test]
async fn a_bot_api_call_that_outlasts_the_call_timeout_is_retried_and_releases_the_lease() {
    let world = world().await;
    world.fake.inject(Fault::new(
        "createChatInviteLink",
        FaultKind::Delay(Duration::from_secs(3)),
    ));
    let started = Instant::now();
    assert_eq!(world.invoke_one(1).await, vec!["m0".to_string()]);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "cut at the 1 s call timeout"
    );
    let record = world.stored(1);
    assert_eq!(record.invite_lease_token, None);
    assert_eq!(
        record.telegram_invite_link, None,
        "an unanswered create is never stored"
    );
}

#[tokio::test]
async fn an_unreachable_bot_api_is_retried_and_releases_the_lease() {
    let world = world().await;
    let telegram =
        BotApiInviter::new(BotToken::new(TOKEN).unwrap(), Some("http://127.0.0.1:9")).unwrap();
    let sender = InviteSender::new(
        MemoryPaymentStore::new(),
        telegram,
        ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap(),
        fast_settings(),
    );
    sender.store.put_payment(record(1));
    let event = sqs_batch(
        vec![sqs_message("m0", "r0", invite_body(1), 1)],
        Duration::from_secs(30),
    );
    let response = handle(&sender, &world.queue, event).await.unwrap();
    assert_eq!(response.batch_item_failures.len(), 1);
    let stored = sender.store.payment(1).unwrap();
    assert_eq!(stored.invite_lease_token, None);
    assert_eq!(stored.state, RecordState::Accepted);
}

#[tokio::test]
async fn a_user_who_cannot_be_messaged_is_invite_failed_and_acknowledged() {
    let descriptions = [
        FaultKind::Forbidden("Forbidden: bot was blocked by the user".into()),
        FaultKind::Forbidden("Forbidden: user is deactivated".into()),
        FaultKind::Forbidden("Forbidden: bot can't initiate conversation with a user".into()),
        FaultKind::BadRequest("Bad Request: chat not found".into()),
    ];
    for fault in descriptions {
        let world = world().await;
        world
            .fake
            .inject(Fault::new("sendMessage", fault.clone()).for_chat(USER));
        assert!(
            world.invoke_one(1).await.is_empty(),
            "acknowledged: {fault:?}"
        );
        let record = world.stored(1);
        assert_eq!(record.state, RecordState::InviteFailed, "{fault:?}");
        assert!(record.invite_failure_reason.is_some());
        assert_eq!(record.invite_lease_token, None);
        assert!(world.invoke_one(1).await.is_empty(), "stays terminal");
        assert_eq!(
            world
                .fake
                .calls()
                .iter()
                .filter(|c| c.method == "sendMessage")
                .count(),
            1
        );
    }
}

#[tokio::test]
async fn a_bot_that_cannot_manage_the_channel_is_a_configuration_error_never_acknowledged() {
    let descriptions = [
        FaultKind::BadRequest("Bad Request: chat not found".into()),
        FaultKind::BadRequest("Bad Request: not enough rights to manage chat invite links".into()),
        FaultKind::Forbidden("Forbidden: bot is not a member of the channel chat".into()),
    ];
    for fault in descriptions {
        let world = world().await;
        world
            .fake
            .inject(Fault::new("createChatInviteLink", fault.clone()));
        assert_eq!(
            world.invoke_one(1).await,
            vec!["m0".to_string()],
            "{fault:?}"
        );
        let record = world.stored(1);
        assert_eq!(
            record.state,
            RecordState::Accepted,
            "not the user's fault: {fault:?}"
        );
        assert!(!record.telegram_invite_sent);
        assert_eq!(record.invite_lease_token, None);
        assert!(world.fake.delivered("sendMessage").is_empty());
    }
}

#[tokio::test]
async fn the_link_admits_to_the_channel_the_buyer_paid_for_even_after_the_directory_changed() {
    // GIVEN a payment whose stored purchase names a private channel the directory no
    // longer maps its channel to (the owner moved the channel after the sale)
    let world = world_with(fast_settings()).await;
    let mut bought = record(1);
    bought.purchase.as_mut().unwrap().private_channel_id = -1009990001;
    world.sender.store.put_payment(bought);
    // AND a seed row from before this project, with no stored purchase
    let mut seed = record(2);
    seed.purchase = None;
    world.sender.store.put_payment(seed);

    // WHEN both invites are delivered
    assert!(world.invoke_one(1).await.is_empty());
    assert!(world.invoke_one(2).await.is_empty());

    // THEN the buyer's link is for the channel bought, the seed row's for the directory's
    let created = world.fake.delivered("createChatInviteLink");
    assert_eq!(created[0].params["chat_id"], -1009990001);
    assert_eq!(created[1].params["chat_id"], CHANNEL);
}

#[tokio::test]
async fn a_seed_row_whose_channel_is_missing_from_the_directory_waits_for_configuration() {
    // GIVEN a seed row without a stored purchase, for a channel the directory lacks
    let world = world_with(fast_settings()).await;
    let mut seed = record(3);
    seed.purchase = None;
    seed.channel_id = telepay_core::order::ChannelId::new(-1004242424242).unwrap();
    world.sender.store.put_payment(seed);

    // WHEN its invite is delivered, THEN it is retried (never acknowledged, never failed
    // as the buyer's fault) without a single Bot API call, and the lease is released
    assert_eq!(world.invoke_one(3).await, vec!["m0".to_string()]);
    assert!(
        world.fake.calls().is_empty(),
        "a configuration error, not Telegram's"
    );
    let stored = world.stored(3);
    assert_eq!(stored.state, RecordState::Accepted);
    assert_eq!(stored.invite_lease_token, None);
}

#[tokio::test]
async fn an_unknown_telegram_error_is_retried() {
    let world = world().await;
    world.fake.inject(Fault::new(
        "sendMessage",
        FaultKind::BadRequest("Bad Request: something new".into()),
    ));
    assert_eq!(world.invoke_one(1).await, vec!["m0".to_string()]);
    assert_eq!(world.stored(1).state, RecordState::Accepted);
}

#[tokio::test]
async fn near_the_deadline_the_remaining_messages_are_left_untouched_for_redelivery() {
    let world = world().await;
    world.sender.store.put_payment(record(2));
    let failed = world
        .invoke(
            &[invite_body(1), invite_body(2)],
            Duration::from_millis(1500),
        )
        .await;
    assert_eq!(failed, vec!["m0".to_string(), "m1".to_string()]);
    assert!(world.fake.calls().is_empty());
    assert_eq!(world.stored(1).invite_lease_token, None, "not even claimed");
}

#[tokio::test]
async fn a_host_that_sends_no_deadline_gets_the_function_timeout() {
    let world = world().await;
    let mut event = sqs_batch(
        vec![sqs_message("m0", "r0", invite_body(1), 1)],
        Duration::ZERO,
    );
    event.context.deadline = 0; // none sent
    let response = handle(&world.sender, &world.queue, event).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert!(world.stored(1).telegram_invite_sent);
}

#[tokio::test]
async fn a_malformed_request_fails_alone_and_its_neighbours_are_delivered() {
    let world = world().await;
    world.sender.store.put_payment(record(2));
    let bodies = [
        invite_body(1),
        "not json".to_string(),
        r#"{"v":99,"payment_id":2,"user_id":1,"channel_id":-1}"#.to_string(),
        invite_body(2),
    ];
    let failed = world.invoke(&bodies, Duration::from_secs(30)).await;
    assert_eq!(failed, vec!["m1".to_string(), "m2".to_string()]);
    assert!(world.stored(1).telegram_invite_sent && world.stored(2).telegram_invite_sent);
}

#[tokio::test]
async fn a_request_for_an_unknown_payment_is_retried_not_dropped() {
    let world = world().await;
    assert_eq!(world.invoke_one(77).await, vec!["m0".to_string()]);
    assert!(world.fake.calls().is_empty());
}

#[tokio::test]
async fn the_sample_events_give_their_documented_outcomes() {
    let events = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events");
    let world = world_with(fast_settings()).await;
    world.sender.store.put_payment(record(4492847470));
    let json = std::fs::read_to_string(format!("{events}/invite-sender-batch.json")).unwrap();
    let event: SqsEvent = serde_json::from_str(&json).unwrap();
    let batch = sqs_batch(event.records, Duration::from_secs(30));
    let response = handle(&world.sender, &world.queue, batch).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert!(world.stored(4492847470).telegram_invite_sent);
    assert_eq!(world.messages_sent().len(), 1);
}

#[test]
fn the_template_passes_the_function_its_own_timeout() {
    // Lambda exposes no variable with the timeout: the template states it twice, and the
    // cold-start check and the no-deadline fallback rely on both agreeing.
    let template = include_str!("../../../template.yaml");
    let function = template
        .split("  InviteSenderFunction:")
        .nth(1)
        .expect("the invite-sender function")
        .split("\n  # ----")
        .next()
        .unwrap();
    let value = |key: &str| -> u64 {
        let line = function
            .lines()
            .find(|l| l.trim_start().starts_with(key))
            .unwrap_or_else(|| panic!("{key} in InviteSenderFunction"));
        line.split(':')
            .nth(1)
            .unwrap()
            .trim()
            .trim_matches('\'')
            .parse()
            .unwrap()
    };
    assert_eq!(value("Timeout:"), value("TELEPAY_FUNCTION_TIMEOUT_S:"));
    assert_eq!(value("Timeout:"), UNKNOWN_DEADLINE.as_secs());
}

/// The buyer's subscription with the given payments' 30 days each, all accepted now.
async fn subscribed(world: &World, payment_ids: &[i64]) -> chrono::DateTime<Utc> {
    use telepay_core::order::UserId;
    use telepay_core::subscription::{
        AccessDuration, GrantSource, LifecycleSettings, SubscriptionKey, TimeGrant, grant_time,
    };
    let key = SubscriptionKey::new(UserId::new(USER).unwrap(), CHANNEL);
    let at = chrono::DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap();
    let mut expires_at = at;
    for (n, id) in payment_ids.iter().enumerate() {
        let grant = TimeGrant {
            source: GrantSource::Payment(*id),
            // In payment id order: a later id is the renewal.
            accepted_at: at + TimeDelta::milliseconds(n as i64),
            access: AccessDuration::from_days(30).unwrap(),
            refunded_at: None,
            crossed_removal: false,
        };
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

#[tokio::test]
async fn a_renewal_while_the_buyer_is_in_the_channel_gets_no_link_but_a_renewed_note() {
    // GIVEN a buyer in the channel through their first payment, who pays again
    let world = world().await;
    world.sender.store.put_payment(record(2));
    let paid_until = subscribed(&world, &[1, 2]).await;
    world.fake.add_member(CHANNEL, USER);
    // WHEN the renewal's invite request comes (as the reconciler would queue it: the
    // sender reads the subscription)
    assert!(world.invoke_one(2).await.is_empty());
    // THEN no link, one note saying until when, completed as renewed in place
    assert_eq!(world.links_created(), 0);
    let messages = world.messages_sent();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].contains("renewed until"), "{}", messages[0]);
    assert!(
        messages[0].contains(&paid_until.format("%Y-%m-%d %H:%M UTC").to_string()),
        "{}",
        messages[0]
    );
    let stored = world.stored(2);
    assert!(stored.telegram_invite_sent && stored.invite_renewed_in_place);
    assert_eq!(stored.telegram_invite_link, None);
    // A redelivery does nothing more.
    assert!(world.invoke_one(2).await.is_empty());
    assert_eq!(world.messages_sent().len(), 1);
}

#[tokio::test]
async fn a_renewal_after_the_buyer_left_gets_a_link_that_ends_with_the_paid_time() {
    let world = world_with(InviteSettings {
        link_ttl: Duration::from_secs(90 * 24 * 3600),
        ..fast_settings()
    })
    .await;
    world.sender.store.put_payment(record(1));
    world.sender.store.put_payment(record(2));
    let paid_until = subscribed(&world, &[1, 2]).await;
    // The renewal's request as the processor queues it, with what the grant found.
    let body = serde_json::json!({
        "v": 1, "payment_id": 2, "user_id": USER, "channel_id": CHANNEL,
        "grant": {"renewal": true, "paid_until": paid_until},
    })
    .to_string();
    assert!(
        world
            .invoke(&[body], Duration::from_secs(30))
            .await
            .is_empty()
    );
    // Not a member: the normal invite, through a link that stops admitting when the
    // paid time ends (not after the 90-day link lifetime).
    let created = world.fake.delivered("createChatInviteLink").remove(0);
    assert_eq!(created.params["expire_date"], paid_until.timestamp());
    assert!(world.stored(2).telegram_invite_sent);
    assert!(!world.stored(2).invite_renewed_in_place);
}

#[tokio::test]
async fn a_first_payment_never_asks_whether_the_buyer_is_in() {
    let world = world().await;
    subscribed(&world, &[1]).await;
    assert!(world.invoke_one(1).await.is_empty());
    assert!(world.fake.delivered("getChatMember").is_empty());
    assert_eq!(world.links_created(), 1);
}

#[tokio::test]
async fn a_renewal_that_crossed_a_removal_gets_a_link_even_while_the_buyer_is_still_in() {
    use telepay_core::order::UserId;
    use telepay_core::store::SubscriptionStore;
    use telepay_core::subscription::{
        AccessDuration, GrantSource, LifecycleSettings, Subscription, SubscriptionKey, Task,
        TimeGrant, grant_time,
    };
    // GIVEN a buyer whose month ended, and a remover that claimed the removal but whose
    // unbanChatMember has not landed yet: the buyer is still in
    let world = world().await;
    world.sender.store.put_payment(record(2));
    let settings = LifecycleSettings::default();
    let key = SubscriptionKey::new(UserId::new(USER).unwrap(), CHANNEL);
    let month_ago = Utc::now() - TimeDelta::days(31);
    let first = TimeGrant {
        source: GrantSource::Payment(1),
        accepted_at: month_ago,
        access: AccessDuration::from_days(30).unwrap(),
        refunded_at: None,
        crossed_removal: false,
    };
    let claimed = Subscription::first(key, first, month_ago, &settings)
        .claim(Task::Removal, "remover", Utc::now(), &settings)
        .unwrap();
    let mut stored = claimed;
    stored.version = 1;
    let _ = world
        .sender
        .store
        .write_subscription(&stored)
        .await
        .unwrap();
    world.fake.add_member(CHANNEL, USER);
    // WHEN the renewal is granted and its invite goes out
    let renewal = TimeGrant {
        source: GrantSource::Payment(2),
        accepted_at: Utc::now(),
        access: AccessDuration::from_days(30).unwrap(),
        refunded_at: None,
        crossed_removal: false,
    };
    let granted = grant_time(&world.sender.store, key, &renewal, Utc::now(), &settings)
        .await
        .unwrap();
    assert!(granted.crossed_removal());
    assert!(world.invoke_one(2).await.is_empty());
    // THEN a link, not "renewed in place": the remover's call may still land
    assert_eq!(world.links_created(), 1);
    assert!(!world.stored(2).invite_renewed_in_place);
    assert!(world.stored(2).telegram_invite_sent);
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

#[tokio::test]
async fn a_buyers_second_payment_sends_the_subscriptions_live_link_not_a_second_one() {
    // GIVEN a buyer with two payments on one subscription, who has not joined yet
    let world = world().await;
    world.sender.store.put_payment(record(2));
    subscribed(&world, &[1, 2]).await;
    // WHEN both invites go out, one after the other
    assert!(world.invoke_one(1).await.is_empty());
    assert!(world.invoke_one(2).await.is_empty());
    // THEN one link, sent twice, and the second payment records that same link
    assert_eq!(world.links_created(), 1);
    let link = world.stored(1).telegram_invite_link.unwrap();
    assert_eq!(
        world.stored(2).telegram_invite_link.as_deref(),
        Some(&*link)
    );
    assert!(world.stored(2).telegram_invite_sent);
    let messages = world.messages_sent();
    assert_eq!(messages.len(), 2);
    assert!(messages.iter().all(|text| text.contains(&link)));
    assert_eq!(world.open_links(), vec![link]);
}

#[tokio::test]
async fn two_payments_of_one_buyer_racing_leave_one_live_link_which_both_messages_carry() {
    for _ in 0..5 {
        let world = Arc::new(world().await);
        world.sender.store.put_payment(record(2));
        subscribed(&world, &[1, 2]).await;
        let racing: Vec<_> = [1, 2]
            .into_iter()
            .map(|id| {
                let world = world.clone();
                tokio::spawn(async move { world.invoke_one(id).await })
            })
            .collect();
        for task in racing {
            assert!(task.await.unwrap().is_empty());
        }
        let open = world.open_links();
        assert_eq!(open.len(), 1, "one live link per subscription: {open:?}");
        let messages = world.messages_sent();
        assert_eq!(messages.len(), 2);
        assert!(messages.iter().all(|text| text.contains(&open[0])));
        for id in [1, 2] {
            assert_eq!(
                world.stored(id).telegram_invite_link.as_ref(),
                Some(&open[0])
            );
        }
    }
}

#[tokio::test]
async fn a_join_request_channel_gets_a_link_that_asks_and_its_owner_hears_of_the_sale() {
    use telepay_core::order::UserId;
    use telepay_core::subscription::{
        AccessDuration, GrantSource, LifecycleSettings, SubscriptionKey, TimeGrant, grant_time,
    };
    const OWNER: i64 = 5550001;
    let directory = format!(
        r#"{{"channels":[{{"channel_id":{CHANNEL},"private_channel_id":{CHANNEL},"title":"Demo",
        "admission":"join_request","owner_chat_id":{OWNER},
        "tiers":[{{"price_amount":3.21,"price_currency":"usd","subscription_days":30}}]}}]}}"#
    );
    let fake = FakeBotApi::start(TOKEN).await;
    let telegram = BotApiInviter::new(BotToken::new(TOKEN).unwrap(), Some(&fake.url())).unwrap();
    let sender = InviteSender::new(
        MemoryPaymentStore::new(),
        telegram,
        ChannelDirectory::from_json(&directory).unwrap(),
        fast_settings(),
    );
    sender.store.put_payment(record(1));
    let now = Utc::now();
    let grant = TimeGrant {
        source: GrantSource::Payment(1),
        accepted_at: now,
        access: AccessDuration::from_days(30).unwrap(),
        refunded_at: None,
        crossed_removal: false,
    };
    let key = SubscriptionKey::new(UserId::new(USER).unwrap(), CHANNEL);
    grant_time(
        &sender.store,
        key,
        &grant,
        now,
        &LifecycleSettings::default(),
    )
    .await
    .unwrap();
    let world = World {
        fake,
        sender: Arc::new(sender),
        queue: MemoryQueue::new(),
    };
    assert!(world.invoke_one(1).await.is_empty());

    let created = world.fake.delivered("createChatInviteLink");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].params["creates_join_request"], true);
    assert!(
        created[0].params.get("member_limit").is_none(),
        "Telegram forbids a member limit on a link that asks"
    );
    assert_eq!(created[0].params["name"], format!("buyer {USER}"));
    let link = world.stored(1).telegram_invite_link.unwrap();
    // Whoever clicks it only asks: the bot decides.
    assert_eq!(
        world.fake.join(&link, 424242, Utc::now().timestamp()),
        fake_bot_api::JoinOutcome::Requested
    );
    assert!(!world.fake.is_member(CHANNEL, 424242));

    let sent = world.fake.delivered("sendMessage");
    let to_owner: Vec<&str> = sent
        .iter()
        .filter(|c| c.chat_id() == Some(OWNER))
        .map(|c| c.text().unwrap())
        .collect();
    assert_eq!(to_owner.len(), 1, "one notice per sale");
    assert!(
        to_owner[0].starts_with(&format!(
            "New subscriber in Demo: user {USER} paid 3.21 USD"
        )),
        "{}",
        to_owner[0]
    );
    // A redelivered invite request tells nobody again.
    assert!(world.invoke_one(1).await.is_empty());
    assert_eq!(world.fake.delivered("sendMessage").len(), sent.len());
}
