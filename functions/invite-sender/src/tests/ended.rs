//! A subscription whose paid time is over before its invite goes out (#23 item 1): no
//! link is made or sent, the payment ends `invite_failed` saying why, and the owner is
//! told how to give time; and no link, new or reused, admits past the paid end.

use chrono::DateTime;
use telepay_core::access::grant_time;
use telepay_core::order::UserId;
use telepay_core::store::{SubscriptionStore, Versioned};
use telepay_core::subscription::{
    AccessDuration, GrantSource, LifecycleSettings, LiveLink, SubscriptionKey, Task, TaskDone,
    TimeGrant,
};

use super::*;

const OWNER: i64 = 5550001;

async fn world_with_owner() -> World {
    let directory = format!(
        r#"{{"channels":[{{"channel_id":{CHANNEL},"private_channel_id":{CHANNEL},"title":"Demo",
        "owner_chat_id":{OWNER},
        "tiers":[{{"price_amount":3.21,"price_currency":"usd","subscription_days":30}}]}}]}}"#
    );
    let world = world_on(
        ChannelDirectory::from_json(&directory).unwrap(),
        fast_settings(),
    )
    .await;
    world.sender.store.put_payment(record(1));
    world
}

fn key() -> SubscriptionKey {
    SubscriptionKey::new(UserId::new(USER).unwrap(), CHANNEL)
}

fn whole_ms(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap()
}

/// `payment_id` bought `hours`, accepted `ago`: the subscription's paid end.
async fn paid(world: &World, payment_id: i64, hours: u64, ago: TimeDelta) -> DateTime<Utc> {
    let at = whole_ms(Utc::now() - ago);
    let grant = TimeGrant::new(
        GrantSource::Payment(payment_id),
        at,
        AccessDuration::from_seconds(hours * 3600).unwrap(),
    );
    grant_time(
        &world.sender.store,
        key(),
        &grant,
        at,
        &LifecycleSettings::default(),
    )
    .await
    .unwrap()
    .expires_at()
}

/// The lifecycle removed the buyer (a no-op: they never joined) and recorded it.
async fn removal_recorded(world: &World) {
    let settings = LifecycleSettings::default();
    let store = &world.sender.store;
    let now = Utc::now();
    let stored = store.get_subscription(key()).await.unwrap().unwrap();
    let claimed = stored
        .claim(Task::Removal, "remover", now, &settings)
        .unwrap();
    assert_eq!(
        store.write_subscription(&claimed).await.unwrap(),
        Versioned::Written
    );
    let (done, _) = claimed
        .complete("remover", TaskDone::Removed, now, &settings)
        .unwrap();
    assert_eq!(
        store.write_subscription(&done).await.unwrap(),
        Versioned::Written
    );
}

impl World {
    fn to_owner(&self) -> Vec<String> {
        self.fake
            .delivered("sendMessage")
            .iter()
            .filter(|c| c.chat_id() == Some(OWNER))
            .map(|c| c.text().unwrap().to_owned())
            .collect()
    }

    fn to_buyer(&self) -> Vec<String> {
        self.fake
            .delivered("sendMessage")
            .iter()
            .filter(|c| c.chat_id() == Some(USER))
            .map(|c| c.text().unwrap().to_owned())
            .collect()
    }

    /// The `expire_date` of the one link made, as Telegram was asked.
    fn made_link_expiry(&self) -> i64 {
        let created = self.fake.delivered("createChatInviteLink");
        assert_eq!(created.len(), 1);
        created[0].params["expire_date"].as_i64().unwrap()
    }
}

/// The payment ended `invite_failed` saying the access ended, nothing was made or sent to
/// the buyer, and the owner heard how to give time.
fn assert_ended_without_a_link(world: &World) {
    assert_eq!(
        world.links_created(),
        0,
        "no link for an ended subscription"
    );
    assert!(world.to_buyer().is_empty(), "{:?}", world.to_buyer());
    let stored = world.stored(1);
    assert_eq!(stored.state, RecordState::InviteFailed);
    let reason = stored.invite_failure_reason.unwrap();
    assert!(reason.starts_with("access_ended"), "{reason}");
    let to_owner = world.to_owner();
    assert_eq!(to_owner.len(), 1, "{to_owner:?}");
    assert!(
        to_owner[0].contains(&format!("telepay subscriptions extend {USER} {CHANNEL}")),
        "{}",
        to_owner[0]
    );
}

#[tokio::test]
async fn a_reissue_after_the_paid_time_ran_out_and_the_removal_was_recorded_admits_nobody() {
    // GIVEN a buyer who paid 12 hours 13 hours ago, was never reached (blocked the bot),
    // and whose removal (a no-op) is recorded
    let world = world_with_owner().await;
    paid(&world, 1, 12, TimeDelta::hours(13)).await;
    removal_recorded(&world).await;
    // WHEN support re-issues the invite (the payment is accepted again and queued)
    assert!(world.invoke_one(1).await.is_empty());
    // THEN no link is made or sent, and the payment says why
    assert_ended_without_a_link(&world);
    assert!(world.open_links().is_empty());
}

#[tokio::test]
async fn a_reconciler_requeue_after_an_outage_longer_than_the_tier_admits_nobody() {
    // GIVEN a buyer whose 12 hours ran out during an outage, removal not yet done
    let world = world_with_owner().await;
    paid(&world, 1, 12, TimeDelta::hours(13)).await;
    // WHEN the reconciler re-queues the invite
    assert!(world.invoke_one(1).await.is_empty());
    // THEN no link is made or sent
    assert_ended_without_a_link(&world);
}

#[tokio::test]
async fn a_link_made_in_the_last_minutes_expires_with_the_paid_time() {
    // GIVEN a buyer with two minutes of paid time left
    let world = world_with_owner().await;
    let paid_end = paid(&world, 1, 12, TimeDelta::hours(12) - TimeDelta::minutes(2)).await;
    // WHEN the invite goes out
    assert!(world.invoke_one(1).await.is_empty());
    // THEN the link expires by the paid end (never the five minutes it used to get), so
    // the remover, which acts after the paid end, removes whoever joined with it
    let expire_date = world.made_link_expiry();
    assert!(
        expire_date <= paid_end.timestamp(),
        "link admits until {expire_date}, paid until {}",
        paid_end.timestamp()
    );
    let link = world.stored(1).telegram_invite_link.unwrap();
    assert_eq!(
        world.fake.join(&link, USER, paid_end.timestamp() + 1),
        fake_bot_api::JoinOutcome::Expired
    );
}

#[tokio::test]
async fn a_live_link_that_outlives_the_paid_time_is_not_sent_again() {
    // GIVEN a live link that admits for a day, on a subscription with an hour left (a
    // refund shortened it after the link was made)
    let world = world_with_owner().await;
    let paid_end = paid(&world, 1, 12, TimeDelta::hours(11)).await;
    let store = &world.sender.store;
    let stored = store.get_subscription(key()).await.unwrap().unwrap();
    let long_lived = LiveLink {
        url: "https://t.me/+made-before-the-refund".into(),
        expires_at: whole_ms(Utc::now() + TimeDelta::hours(24)),
        made_for: 7,
        made_at: whole_ms(Utc::now() - TimeDelta::hours(2)),
    };
    let next = stored.with_live_link(long_lived.clone(), Utc::now());
    assert_eq!(
        store.write_subscription(&next).await.unwrap(),
        Versioned::Written
    );
    // WHEN payment 1's invite goes out
    assert!(world.invoke_one(1).await.is_empty());
    // THEN a new link, capped at the paid end, is sent instead
    let sent = world.to_buyer();
    assert_eq!(sent.len(), 1);
    assert!(!sent[0].contains(&long_lived.url), "{}", sent[0]);
    assert!(world.made_link_expiry() <= paid_end.timestamp());
}

#[tokio::test]
async fn a_refunded_payment_gets_no_invite_even_while_the_buyer_has_other_time() {
    // GIVEN a buyer with two paid months, the second (payment 2) refunded before its
    // invite went out
    let world = world_with_owner().await;
    world.sender.store.put_payment(record(2));
    paid(&world, 1, 24 * 30, TimeDelta::zero()).await;
    paid(&world, 2, 24 * 30, TimeDelta::zero()).await;
    let settings = LifecycleSettings::default();
    telepay_core::access::refund_time(
        &world.sender.store,
        key(),
        &GrantSource::Payment(2),
        Utc::now(),
        &settings,
    )
    .await
    .unwrap();
    // WHEN payment 2's invite request is handled
    assert!(world.invoke_one(2).await.is_empty());
    // THEN no link is made or sent for it, and the payment says why
    assert_eq!(world.links_created(), 0);
    assert!(world.to_buyer().is_empty(), "{:?}", world.to_buyer());
    let stored = world.stored(2);
    assert_eq!(stored.state, RecordState::InviteFailed);
    assert!(
        stored
            .invite_failure_reason
            .unwrap()
            .starts_with("refunded"),
        "the payment says it was refunded"
    );
}
