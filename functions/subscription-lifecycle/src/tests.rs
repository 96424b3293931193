//! subscription-lifecycle through its handler: the memory store, the real Bot API
//! adapter against the fake Bot API (which keeps who is in the channel), SQS events.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use chrono::{DateTime, TimeDelta, Utc};
use fake_bot_api::{FakeBotApi, Fault, FaultKind};
use telepay_core::access::{LifecycleMessage, LifecycleWorker, SubscriptionSweeper, grant_time};
use telepay_core::clock::{Clock, ManualClock};
use telepay_core::directory::{Admission, ChannelDirectory};
use telepay_core::order::UserId;
use telepay_core::queue::memory::MemoryQueue;
use telepay_core::store::SubscriptionStore;
use telepay_core::store::memory::MemoryStore;
use telepay_core::subscription::{
    AccessDuration, GrantSource, LifecycleSettings, LifecycleTexts, Subscription, SubscriptionKey,
    SubscriptionStatus, Task, TimeGrant,
};
use telepay_core::telegram::{InviteLink, MemberRemover, TelegramError, TelegramInviter};
use telepay_shared::sqs_event::{sqs_batch, sqs_message};
use telepay_shared::telegram::{BotToken, TelegramBotApi};

use super::*;

const TOKEN: &str = "123:lifecycle-test";
const CHANNEL: i64 = -1002222222222;
const DIRECTORY: &str = r#"{"channels":[{"channel_id":-1003111266231,"private_channel_id":-1002222222222,
    "title":"Premium signals","owner_chat_id":900001,"tiers":[{"price_amount":3.21,"price_currency":"usd","subscription_days":30}]}]}"#;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-01T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn key(user: i64) -> SubscriptionKey {
    SubscriptionKey::new(UserId::new(user).unwrap(), CHANNEL)
}

fn paid(payment_id: i64, at: DateTime<Utc>) -> TimeGrant {
    TimeGrant::new(
        GrantSource::Payment(payment_id),
        at,
        AccessDuration::from_days(30).unwrap(),
    )
}

/// The lifecycle around one store, one fake Telegram and one clock.
struct Rig<T> {
    fake: FakeBotApi,
    clock: Arc<ManualClock>,
    store: Arc<MemoryStore>,
    sweeper: SubscriptionSweeper<Arc<MemoryStore>, MemoryQueue>,
    worker: LifecycleWorker<Arc<MemoryStore>, T>,
    queue: MemoryQueue,
}

fn bot(fake: &FakeBotApi) -> TelegramBotApi {
    TelegramBotApi::new(BotToken::new(TOKEN).unwrap(), Some(&fake.url())).unwrap()
}

async fn rig() -> Rig<TelegramBotApi> {
    let fake = FakeBotApi::start(TOKEN).await;
    let telegram = bot(&fake);
    rig_with(fake, telegram)
}

fn rig_with<T: TelegramInviter + MemberRemover>(fake: FakeBotApi, telegram: T) -> Rig<T> {
    let clock = ManualClock::frozen_at(t0());
    let store = Arc::new(MemoryStore::new());
    let settings = LifecycleSettings::default();
    let sweeper =
        SubscriptionSweeper::new(store.clone(), MemoryQueue::new(), settings.clone(), 100)
            .with_clock(clock.clone());
    let worker = LifecycleWorker::new(
        store.clone(),
        telegram,
        ChannelDirectory::from_json(DIRECTORY).unwrap(),
        settings,
        LifecycleTexts::default(),
    )
    .with_clock(clock.clone());
    Rig {
        fake,
        clock,
        store,
        sweeper,
        worker,
        queue: MemoryQueue::new(),
    }
}

impl<T: TelegramInviter + MemberRemover> Rig<T> {
    async fn buy(&self, user: i64, payment_id: i64, at: DateTime<Utc>) {
        grant_time(
            &*self.store,
            key(user),
            &paid(payment_id, at),
            at,
            &self.worker.settings,
        )
        .await
        .unwrap();
    }

    /// One sweep, then every queued task through the handler; the failed message ids.
    async fn sweep_and_consume(&self) -> Vec<String> {
        self.sweeper.sweep().await.unwrap();
        let bodies = self.sweeper.lifecycle_queue.take_tasks();
        self.consume(&bodies).await
    }

    async fn consume(&self, bodies: &[String]) -> Vec<String> {
        let records = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| sqs_message(format!("m{i}"), format!("r{i}"), body.clone(), 1))
            .collect();
        let event: LambdaEvent<SqsEvent> = sqs_batch(records, Duration::from_secs(60));
        let response = handle(&self.worker, &Pacer::unlimited(), &self.queue, event)
            .await
            .unwrap();
        response
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect()
    }

    async fn stored(&self, user: i64) -> Subscription {
        self.store
            .get_subscription(key(user))
            .await
            .unwrap()
            .unwrap()
    }

    fn messages_to(&self, user: i64) -> Vec<String> {
        self.fake
            .delivered("sendMessage")
            .iter()
            .filter(|call| call.chat_id() == Some(user))
            .map(|call| call.text().unwrap_or_default().to_owned())
            .collect()
    }
}

#[tokio::test]
async fn a_reminder_goes_out_once_per_point_before_the_end() {
    let rig = rig().await;
    rig.buy(7, 1, t0()).await;
    // WHEN the 3-day point passes and the sweeper and consumer run, twice
    rig.clock.set(t0() + TimeDelta::days(27));
    assert!(rig.sweep_and_consume().await.is_empty());
    assert!(rig.sweep_and_consume().await.is_empty());
    // THEN one reminder, naming the channel and the end
    let messages = rig.messages_to(7);
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(messages[0].contains("Premium signals"));
    assert!(messages[0].contains("2026-12-01 12:00 UTC"));
    // AND the 1-day point brings the second, once
    rig.clock.set(t0() + TimeDelta::days(29));
    rig.sweep_and_consume().await;
    rig.sweep_and_consume().await;
    assert_eq!(rig.messages_to(7).len(), 2);
}

#[tokio::test]
async fn an_expired_member_is_removed_once_and_told_once() {
    let rig = rig().await;
    rig.fake.add_member(CHANNEL, 7);
    rig.buy(7, 1, t0()).await;
    rig.clock.set(t0() + TimeDelta::days(30));
    let bodies = {
        rig.sweeper.sweep().await.unwrap();
        rig.sweeper.lifecycle_queue.take_tasks()
    };
    assert!(rig.consume(&bodies).await.is_empty());
    // A redelivery of the same task (SQS at least once) removes no one twice.
    assert!(rig.consume(&bodies).await.is_empty());
    assert!(rig.sweep_and_consume().await.is_empty());

    assert!(!rig.fake.is_member(CHANNEL, 7), "removed");
    let removals = rig.fake.removals();
    assert_eq!(removals.len(), 1, "{removals:?}");
    assert!(removals[0].was_member);
    let messages = rig.messages_to(7);
    assert_eq!(messages.len(), 1, "one end notice: {messages:?}");
    assert!(messages[0].contains("ended"));
    let stored = rig.stored(7).await;
    assert_eq!(
        stored.status(rig.clock.now(), &rig.worker.settings),
        SubscriptionStatus::Removed
    );
    assert_eq!(stored.next_due_at, None, "nothing left for the sweeper");
}

#[tokio::test]
async fn a_removal_revokes_the_subscriptions_live_link_so_it_admits_no_one_after() {
    use telepay_core::access::settle_live_link;
    use telepay_core::subscription::LiveLink;
    // GIVEN an expired buyer whose live invite link was never used
    let rig = rig().await;
    rig.fake.add_member(CHANNEL, 7);
    rig.buy(7, 1, t0()).await;
    let made = bot(&rig.fake)
        .create_invite_link(
            CHANNEL,
            "payment 1",
            t0() + TimeDelta::days(30),
            Admission::OneTimeLink,
        )
        .await
        .unwrap();
    let live = LiveLink {
        url: made.url.clone(),
        expires_at: made.expires_at,
        made_for: 1,
        made_at: t0(),
    };
    settle_live_link(&*rig.store, key(7), None, &live, t0(), |_| true)
        .await
        .unwrap();
    let joined_at = (t0() + TimeDelta::days(29)).timestamp();
    assert_eq!(rig.fake.open_links(joined_at).len(), 1);
    // WHEN the removal runs
    rig.clock.set(t0() + TimeDelta::days(30));
    assert!(rig.sweep_and_consume().await.is_empty());
    // THEN the link is revoked and forgotten: a returning buyer gets a fresh one
    assert!(rig.fake.open_links(joined_at).is_empty());
    assert_eq!(
        rig.fake.join(&made.url, 8, joined_at),
        fake_bot_api::JoinOutcome::Revoked
    );
    assert_eq!(rig.stored(7).await.live_link, None);
}

#[tokio::test]
async fn removal_never_lifts_a_ban_the_owner_set_by_hand() {
    // GIVEN an expired buyer whom the channel's owner banned by hand, and a link of theirs
    // that would still admit them (not the live link, so the removal does not revoke it)
    let rig = rig().await;
    rig.fake.add_member(CHANNEL, 7);
    rig.buy(7, 1, t0()).await;
    let spare = bot(&rig.fake)
        .create_invite_link(
            CHANNEL,
            "payment 1",
            t0() + TimeDelta::days(60),
            Admission::OneTimeLink,
        )
        .await
        .unwrap();
    rig.fake.ban(CHANNEL, 7);
    // WHEN the removal runs
    rig.clock.set(t0() + TimeDelta::days(30));
    assert!(rig.sweep_and_consume().await.is_empty());
    // THEN Telegram was asked first and no unbanChatMember lifted the ban: the link
    // admits them no more, and the subscription is recorded removed, once
    let removals = rig.fake.removals();
    assert!(removals.is_empty(), "no unban call: {removals:?}");
    assert!(rig.fake.is_banned(CHANNEL, 7), "the owner's ban stands");
    let now = (t0() + TimeDelta::days(31)).timestamp();
    assert_eq!(
        rig.fake.join(&spare.url, 7, now),
        fake_bot_api::JoinOutcome::Banned
    );
    let stored = rig.stored(7).await;
    assert_eq!(
        stored.status(rig.clock.now(), &rig.worker.settings),
        SubscriptionStatus::Removed
    );
    assert!(rig.sweep_and_consume().await.is_empty());
    assert!(rig.fake.removals().is_empty(), "nor on a later sweep");
}

#[tokio::test]
async fn a_member_who_is_still_paid_for_is_never_removed() {
    let rig = rig().await;
    rig.fake.add_member(CHANNEL, 7);
    rig.buy(7, 1, t0()).await;
    // A removal message for a subscription that was renewed meanwhile (a stale task).
    rig.buy(7, 2, t0() + TimeDelta::days(20)).await;
    let stale = LifecycleMessage::new(key(7), Task::Removal, t0() + TimeDelta::days(30));
    rig.clock.set(t0() + TimeDelta::days(31));
    assert!(rig.consume(&[stale.to_json()]).await.is_empty());
    assert!(rig.fake.is_member(CHANNEL, 7));
    assert!(rig.fake.removals().is_empty());
}

#[tokio::test]
async fn an_admin_cannot_be_removed_and_ends_removal_failed_off_the_sweep() {
    let rig = rig().await;
    rig.fake.add_admin(CHANNEL, 7);
    rig.buy(7, 1, t0()).await;
    rig.clock.set(t0() + TimeDelta::days(30));
    assert!(rig.sweep_and_consume().await.is_empty());
    let stored = rig.stored(7).await;
    assert_eq!(
        stored.status(rig.clock.now(), &rig.worker.settings),
        SubscriptionStatus::RemovalFailed
    );
    assert!(stored.history.iter().any(|h| {
        h.reason
            .as_deref()
            .is_some_and(|r| r.contains("administrator"))
    }));
    assert_eq!(stored.next_due_at, None);
    assert!(
        rig.messages_to(7).is_empty(),
        "no 'it ended' for one still inside"
    );
    let to_owner = rig.messages_to(900001);
    assert_eq!(to_owner.len(), 1, "the owner is told once: {to_owner:?}");
    assert!(to_owner[0].starts_with("Could not remove user 7 from Premium signals"));
    assert!(
        to_owner[0].contains("administrator"),
        "with Telegram's reason"
    );
}

#[tokio::test]
async fn a_transient_failure_is_retried_and_a_429_waits_its_retry_after() {
    let rig = rig().await;
    rig.fake.add_member(CHANNEL, 7);
    rig.buy(7, 1, t0()).await;
    rig.buy(8, 2, t0()).await;
    rig.clock.set(t0() + TimeDelta::days(30));
    rig.fake
        .inject(Fault::new("unbanChatMember", FaultKind::RetryAfter(7)));
    rig.sweeper.sweep().await.unwrap();
    let bodies = rig.sweeper.lifecycle_queue.take_tasks();
    assert_eq!(bodies.len(), 2);
    // THEN both are left for Telegram's retry_after: the second untouched
    assert_eq!(rig.consume(&bodies).await, vec!["m0", "m1"]);
    let delays = rig.queue.delays();
    assert_eq!(delays.len(), 2);
    assert!(delays.iter().all(|(_, d)| *d == Duration::from_secs(7)));
    // The removal asks first (getChatMember), then its unban meets the 429: nothing more.
    assert_eq!(rig.fake.calls().len(), 2, "two calls before the pause");
    // AND the retry removes the member once
    let transient = FaultKind::BadRequest("Bad Request: please try again later".into());
    rig.fake.inject(Fault::new("unbanChatMember", transient));
    let failed = rig.consume(&bodies).await;
    assert_eq!(failed.len(), 1, "an unknown refusal is retried");
    assert!(rig.consume(&bodies).await.is_empty());
    assert!(!rig.fake.is_member(CHANNEL, 7));
    assert_eq!(
        rig.fake
            .removals()
            .iter()
            .filter(|r| r.user_id == 7 && r.was_member)
            .count(),
        1
    );
}

/// The real adapter, with a renewal landing at a chosen point of the removal call.
struct RenewalDuring {
    inner: TelegramBotApi,
    store: Arc<MemoryStore>,
    clock: Arc<ManualClock>,
    /// Before the unbanChatMember call reaches Telegram, or after it acted.
    before_call: bool,
}

impl RenewalDuring {
    async fn renew(&self) {
        let now = self.clock.now();
        grant_time(
            &*self.store,
            key(7),
            &paid(2, now),
            now,
            &LifecycleSettings::default(),
        )
        .await
        .unwrap();
    }
}

impl TelegramInviter for RenewalDuring {
    async fn is_member(&self, chat_id: i64, user_id: i64) -> Result<bool, TelegramError> {
        self.inner.is_member(chat_id, user_id).await
    }
    async fn create_invite_link(
        &self,
        chat_id: i64,
        name: &str,
        expires_at: DateTime<Utc>,
        admission: Admission,
    ) -> Result<InviteLink, TelegramError> {
        self.inner
            .create_invite_link(chat_id, name, expires_at, admission)
            .await
    }
    async fn revoke_invite_link(&self, chat_id: i64, link: &str) -> Result<(), TelegramError> {
        self.inner.revoke_invite_link(chat_id, link).await
    }
    async fn send_message(&self, user_id: i64, text: &str) -> Result<(), TelegramError> {
        self.inner.send_message(user_id, text).await
    }
}

impl MemberRemover for RenewalDuring {
    async fn remove_member(&self, chat_id: i64, user_id: i64) -> Result<(), TelegramError> {
        if self.before_call {
            self.renew().await;
        }
        let removed = self.inner.remove_member(chat_id, user_id).await;
        if !self.before_call {
            self.renew().await;
        }
        removed
    }
}

async fn crossing(before_call: bool) -> Rig<RenewalDuring> {
    let fake = FakeBotApi::start(TOKEN).await;
    let inner = bot(&fake);
    let clock = ManualClock::frozen_at(t0());
    let placeholder = RenewalDuring {
        inner,
        store: Arc::new(MemoryStore::new()),
        clock: clock.clone(),
        before_call,
    };
    let mut rig = rig_with(fake, placeholder);
    rig.clock = clock.clone();
    rig.worker.clock = clock.clone();
    rig.sweeper.clock = clock;
    rig.worker.telegram.store = rig.store.clone();
    rig
}

#[tokio::test]
async fn a_renewal_between_the_claim_and_the_removal_call_marks_the_buyer_for_an_invite() {
    for before_call in [true, false] {
        let rig = crossing(before_call).await;
        rig.fake.add_member(CHANNEL, 7);
        rig.buy(7, 1, t0()).await;
        rig.clock.set(t0() + TimeDelta::days(30));
        assert!(rig.sweep_and_consume().await.is_empty());
        // The removal went through Telegram (the remover could not know), but the
        // renewal won: paid again, no "ended" note, and the invite path is told to get
        // the buyer back in (the renewal's own invite request carries a link).
        let stored = rig.stored(7).await;
        let now = rig.clock.now();
        assert_eq!(
            stored.status(now, &rig.worker.settings),
            SubscriptionStatus::Active
        );
        assert!(stored.needs_invite, "before_call={before_call}");
        assert_eq!(stored.expires_at, t0() + TimeDelta::days(60));
        assert!(rig.messages_to(7).is_empty(), "never told it ended");
        // And no later sweep removes them again while paid.
        rig.clock.set(t0() + TimeDelta::days(45));
        rig.sweep_and_consume().await;
        assert_eq!(rig.fake.removals().len(), 1);
    }
}

#[tokio::test]
async fn a_renewal_before_the_claim_leaves_the_member_in() {
    let rig = rig().await;
    rig.fake.add_member(CHANNEL, 7);
    rig.buy(7, 1, t0()).await;
    rig.clock.set(t0() + TimeDelta::days(30));
    rig.sweeper.sweep().await.unwrap();
    let queued = rig.sweeper.lifecycle_queue.take_tasks();
    // The renewal lands while the removal waits in the queue.
    rig.buy(7, 2, t0() + TimeDelta::days(30)).await;
    assert!(rig.consume(&queued).await.is_empty());
    assert!(rig.fake.is_member(CHANNEL, 7));
    assert!(rig.fake.removals().is_empty());
    assert!(!rig.stored(7).await.needs_invite);
}

/// The invite link in a message, if it carries one.
fn link_in(text: &str) -> Option<String> {
    text.split_whitespace()
        .find(|word| word.starts_with("https://t.me/+"))
        .map(|word| word.trim_end_matches(['.', ',']).to_owned())
}

impl<T: TelegramInviter + MemberRemover> Rig<T> {
    /// The buyer's messages that carry an invite link, and those links.
    fn links_sent_to(&self, user: i64) -> Vec<String> {
        self.messages_to(user)
            .iter()
            .filter_map(|text| link_in(text))
            .collect()
    }
}

#[tokio::test]
async fn an_operator_extend_after_the_removal_invites_the_buyer_back() {
    use telepay_core::operator::Operator;
    // GIVEN a buyer removed at the end of their month
    let rig = rig().await;
    rig.fake.add_member(CHANNEL, 7);
    rig.buy(7, 1, t0()).await;
    rig.clock.set(t0() + TimeDelta::days(30));
    assert!(rig.sweep_and_consume().await.is_empty());
    assert!(!rig.fake.is_member(CHANNEL, 7));
    // WHEN support gives them ten days
    rig.clock.set(t0() + TimeDelta::days(31));
    let operator = Operator::new(&*rig.store, rig.clock.clone());
    let settings = rig.worker.settings.clone();
    operator
        .extend(key(7), 10, "goodwill after an outage", &settings)
        .await
        .unwrap();
    // AND the sweeper and the lifecycle run a while later
    rig.clock
        .set(t0() + TimeDelta::days(31) + TimeDelta::minutes(20));
    assert!(rig.sweep_and_consume().await.is_empty());
    assert!(rig.sweep_and_consume().await.is_empty());
    // THEN they get one invite link, which admits them, and no later than the paid end
    let links = rig.links_sent_to(7);
    assert_eq!(links.len(), 1, "{:?}", rig.messages_to(7));
    let now = rig.clock.now().timestamp();
    assert_eq!(
        rig.fake.join(&links[0], 7, now),
        fake_bot_api::JoinOutcome::Joined
    );
    let paid_end = rig.stored(7).await.expires_at;
    assert!(
        !rig.stored(7).await.needs_invite,
        "the mark is acted on once"
    );
    assert!(rig.fake.open_links(paid_end.timestamp() + 1).is_empty());
}

#[tokio::test]
async fn a_renewed_buyer_whom_a_crossing_removal_took_out_is_invited_back() {
    // GIVEN a renewal that landed while Telegram was removing the buyer: paid, but out
    let rig = crossing(false).await;
    rig.fake.add_member(CHANNEL, 7);
    rig.buy(7, 1, t0()).await;
    rig.clock.set(t0() + TimeDelta::days(30));
    assert!(rig.sweep_and_consume().await.is_empty());
    assert!(!rig.fake.is_member(CHANNEL, 7));
    // WHEN the sweeper and the lifecycle run a while later
    rig.clock
        .set(t0() + TimeDelta::days(30) + TimeDelta::minutes(20));
    assert!(rig.sweep_and_consume().await.is_empty());
    // THEN a link brings them back in, once
    let links = rig.links_sent_to(7);
    assert_eq!(links.len(), 1, "{:?}", rig.messages_to(7));
    let now = rig.clock.now().timestamp();
    assert_eq!(
        rig.fake.join(&links[0], 7, now),
        fake_bot_api::JoinOutcome::Joined
    );
    rig.sweep_and_consume().await;
    assert_eq!(rig.links_sent_to(7).len(), 1);
}

#[tokio::test]
async fn a_marked_buyer_already_back_in_gets_nothing() {
    // GIVEN a crossing renewal whose buyer got back in through the renewal's own invite
    let rig = crossing(false).await;
    rig.fake.add_member(CHANNEL, 7);
    rig.buy(7, 1, t0()).await;
    rig.clock.set(t0() + TimeDelta::days(30));
    assert!(rig.sweep_and_consume().await.is_empty());
    rig.fake.add_member(CHANNEL, 7);
    // WHEN the lifecycle looks
    rig.clock
        .set(t0() + TimeDelta::days(30) + TimeDelta::minutes(20));
    assert!(rig.sweep_and_consume().await.is_empty());
    // THEN no message, no link, and the mark is gone
    assert!(rig.messages_to(7).is_empty(), "{:?}", rig.messages_to(7));
    assert!(rig.fake.delivered("createChatInviteLink").is_empty());
    assert!(!rig.stored(7).await.needs_invite);
}

#[tokio::test]
async fn a_renewal_after_a_removal_call_of_unknown_outcome_is_treated_as_a_crossing() {
    // GIVEN an expired member whose removal call got no answer (Telegram may still apply
    // it), the lease released for the retry
    let mut rig = rig().await;
    rig.worker.call_timeout = Duration::from_millis(300);
    rig.fake.add_member(CHANNEL, 7);
    rig.buy(7, 1, t0()).await;
    rig.clock.set(t0() + TimeDelta::days(30));
    rig.fake
        .inject(Fault::new("unbanChatMember", FaultKind::Hang).times(1));
    assert_eq!(rig.sweep_and_consume().await.len(), 1, "retried");
    assert!(
        rig.stored(7).await.lease.is_none(),
        "released for the retry"
    );
    // WHEN the buyer renews before the retry
    let granted = grant_time(
        &*rig.store,
        key(7),
        &paid(2, t0() + TimeDelta::days(30)),
        t0() + TimeDelta::days(30),
        &rig.worker.settings,
    )
    .await
    .unwrap();
    // THEN the renewal counts as crossing a removal: its invite carries a link (never
    // "renewed in place" while a late unban may still land), and the buyer is marked
    assert!(granted.crossed_removal(), "{granted:?}");
    assert!(rig.stored(7).await.needs_invite);
}
