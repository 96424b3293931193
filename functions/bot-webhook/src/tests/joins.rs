//! Someone in through another buyer's link (`chat_member`): removed, the link revoked,
//! the owner told; the buyer themselves, and a payer with access of their own, left in.
//! The updates come from the fake Bot API's own join, through `getUpdates` and
//! teloxide-core, as `telepay serve` polls them.

use std::time::Duration;

use telepay_core::directory::Admission;
use telepay_core::fixtures::sample_record;
use telepay_core::polling::UpdateSource;
use telepay_core::store::IngressStore;
use telepay_core::telegram::TelegramInviter;

use super::*;

/// Signals with an owner to tell.
const OWNED: &str = r#"{
  "channels": [
    { "channel_id": -1003111266231, "private_channel_id": -1002222222222, "title": "Signals",
      "owner_chat_id": 900001,
      "tiers": [ { "price_amount": 3.21, "price_currency": "usd", "subscription_days": 30 } ] }
  ]
}"#;
const OWNER: i64 = 900001;
const FRIEND: i64 = 7_000_000_077;

fn api(rig: &Rig) -> TelegramBotApi {
    TelegramBotApi::new(BotToken::new(TOKEN).unwrap(), Some(&rig.telegram.url())).unwrap()
}

/// A one-time link the bot made, named `name`, as the invite sender makes them.
async fn link_named(rig: &Rig, name: &str) -> String {
    api(rig)
        .create_invite_link(
            SIGNALS_PRIVATE,
            name,
            rig.clock.now() + TimeDelta::hours(24),
            Admission::OneTimeLink,
        )
        .await
        .unwrap()
        .url
}

/// `user` clicks `link`, and the bot handles what Telegram then tells it.
async fn joins(rig: &Rig, link: &str, user: i64) {
    rig.telegram.join(link, user, rig.clock.now().timestamp());
    let updates = api(rig).updates(None, Duration::ZERO).await.unwrap();
    assert!(!updates.is_empty(), "Telegram tells the bot of the join");
    let mut last = 0;
    for update in updates {
        let body: Value = serde_json::from_slice(&update.body).unwrap();
        assert_eq!(call(rig, &body).await.0, StatusCode::OK);
        last = update.update_id;
    }
    // Confirmed, as the poller's next round does.
    api(rig)
        .updates(Some(last + 1), Duration::ZERO)
        .await
        .unwrap();
}

fn revoked(rig: &Rig, link: &str) -> bool {
    rig.telegram
        .calls()
        .iter()
        .any(|c| c.method == "revokeChatInviteLink" && c.params["invite_link"] == link)
}

#[tokio::test]
async fn a_friend_in_through_a_forwarded_one_time_link_is_removed_the_link_revoked_and_the_owner_told()
 {
    let rig = rig_with(OWNED).await;
    // Payment 9001 is BUYER's; the invite sender's link is named for it.
    rig.bot
        .store()
        .record_accepted(&sample_record(9001))
        .await
        .unwrap();
    subscribe(&rig, BUYER, SIGNALS_PRIVATE, rig.clock.now(), 9001).await;
    let link = link_named(&rig, "payment 9001").await;

    joins(&rig, &link, FRIEND).await;
    assert!(
        !rig.telegram.is_member(SIGNALS_PRIVATE, FRIEND),
        "the friend is out"
    );
    assert!(
        revoked(&rig, &link),
        "the forwarded link admits nobody again"
    );
    let told = texts_to(&rig, OWNER);
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0].contains(&FRIEND.to_string()) && told[0].contains(&BUYER.to_string()),
        "{}",
        told[0]
    );
    // The freed place cannot be taken again through the same link.
    rig.telegram
        .join(&link, FRIEND, rig.clock.now().timestamp());
    assert!(!rig.telegram.is_member(SIGNALS_PRIVATE, FRIEND));
}

#[tokio::test]
async fn the_buyer_through_their_own_link_and_a_payer_with_access_of_their_own_are_left_in() {
    let rig = rig_with(OWNED).await;
    let now = rig.clock.now();
    subscribe(&rig, BUYER, SIGNALS_PRIVATE, now, 9002).await;
    subscribe(&rig, STRANGER, SIGNALS_PRIVATE, now, 9003).await;
    // The lifecycle's links are named for the buyer.
    let own = link_named(&rig, &format!("buyer {BUYER}")).await;
    joins(&rig, &own, BUYER).await;
    let shared = link_named(&rig, &format!("buyer {BUYER}")).await;
    joins(&rig, &shared, STRANGER).await;
    assert!(rig.telegram.is_member(SIGNALS_PRIVATE, BUYER));
    assert!(
        rig.telegram.is_member(SIGNALS_PRIVATE, STRANGER),
        "a payer stays"
    );
    assert!(!revoked(&rig, &own) && !revoked(&rig, &shared));
    assert!(texts_to(&rig, OWNER).is_empty());
}

#[tokio::test]
async fn the_buyers_live_link_used_by_someone_else_is_forgotten_so_status_makes_a_new_one() {
    let rig = rig_with(OWNED).await;
    let now = rig.clock.now();
    subscribe(&rig, BUYER, SIGNALS_PRIVATE, now, 9004).await;
    let link = link_named(&rig, &format!("buyer {BUYER}")).await;
    let in_24_hours = now + TimeDelta::hours(24);
    share_live_link(&rig, (BUYER, SIGNALS_PRIVATE), &link, 9004, |_| in_24_hours).await;
    let key = SubscriptionKey::new(UserId::new(BUYER).unwrap(), SIGNALS_PRIVATE);

    joins(&rig, &link, FRIEND).await;
    assert!(!rig.telegram.is_member(SIGNALS_PRIVATE, FRIEND));
    let after = rig
        .bot
        .store()
        .get_subscription(key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        after.live_link, None,
        "a revoked link is never sent by /status"
    );
}

#[tokio::test]
async fn a_join_through_a_link_the_bot_did_not_name_for_a_buyer_is_left_alone() {
    let rig = rig_with(OWNED).await;
    let link = link_named(&rig, "owner's promo").await;
    joins(&rig, &link, FRIEND).await;
    assert!(rig.telegram.is_member(SIGNALS_PRIVATE, FRIEND));
    assert!(!revoked(&rig, &link));
}
