//! Renewals: a buyer in the channel is renewed in place, one who left gets a link that
//! ends with the paid time, and a renewal that crossed a removal always gets a link.

use super::*;

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
    use telepay_core::access::grant_time;
    use telepay_core::order::UserId;
    use telepay_core::store::SubscriptionStore;
    use telepay_core::subscription::{
        AccessDuration, GrantSource, LifecycleSettings, Subscription, SubscriptionKey, Task,
        TimeGrant,
    };
    // GIVEN a buyer whose month ended, and a remover that claimed the removal but whose
    // unbanChatMember has not landed yet: the buyer is still in
    let world = world().await;
    world.sender.store.put_payment(record(2));
    let settings = LifecycleSettings::default();
    let key = SubscriptionKey::new(UserId::new(USER).unwrap(), CHANNEL);
    let month_ago = Utc::now() - TimeDelta::days(31);
    let first = TimeGrant::new(
        GrantSource::Payment(1),
        month_ago,
        AccessDuration::from_days(30).unwrap(),
    );
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
    let renewal = TimeGrant::new(
        GrantSource::Payment(2),
        Utc::now(),
        AccessDuration::from_days(30).unwrap(),
    );
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
