//! Which link is sent: a stored link reused or replaced (asking first whether the buyer
//! is in), the subscription's one live link, and a join-request channel's link.

use super::*;

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
    seed.processed = true;
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
    use telepay_core::access::grant_time;
    use telepay_core::order::UserId;
    use telepay_core::subscription::{
        AccessDuration, GrantSource, LifecycleSettings, SubscriptionKey, TimeGrant,
    };
    const OWNER: i64 = 5550001;
    let directory = format!(
        r#"{{"channels":[{{"channel_id":{CHANNEL},"private_channel_id":{CHANNEL},"title":"Demo",
        "admission":"join_request","owner_chat_id":{OWNER},
        "tiers":[{{"price_amount":3.21,"price_currency":"usd","subscription_days":30}}]}}]}}"#
    );
    let world = world_on(
        ChannelDirectory::from_json(&directory).unwrap(),
        fast_settings(),
    )
    .await;
    world.sender.store.put_payment(record(1));
    let now = Utc::now();
    let grant = TimeGrant::new(
        GrantSource::Payment(1),
        now,
        AccessDuration::from_days(30).unwrap(),
    );
    let key = SubscriptionKey::new(UserId::new(USER).unwrap(), CHANNEL);
    grant_time(
        &world.sender.store,
        key,
        &grant,
        now,
        &LifecycleSettings::default(),
    )
    .await
    .unwrap();
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

#[tokio::test]
async fn a_live_link_being_replaced_is_revoked_before_its_replacement_goes_out() {
    use telepay_core::order::UserId;
    use telepay_core::store::SubscriptionStore;
    use telepay_core::subscription::SubscriptionKey;
    // GIVEN a buyer sent the live link by their first payment, who has not joined, and
    // the live link past half its life when their second payment's invite runs
    let world = world().await;
    world.sender.store.put_payment(record(2));
    subscribed(&world, &[1, 2]).await;
    assert!(world.invoke_one(1).await.is_empty());
    let first = world.stored(1).telegram_invite_link.unwrap();
    let key = SubscriptionKey::new(UserId::new(USER).unwrap(), CHANNEL);
    let subscription = world
        .sender
        .store
        .get_subscription(key)
        .await
        .unwrap()
        .unwrap();
    let mut aged = subscription.live_link.clone().unwrap();
    aged.expires_at = Utc::now() + TimeDelta::hours(1);
    let next = subscription.with_live_link(aged, Utc::now());
    let written = world.sender.store.write_subscription(&next).await.unwrap();
    assert_eq!(written, telepay_core::store::Versioned::Written);
    // WHEN revoking it fails once (Telegram's 500), as a crash or a lapsing lease would
    // leave it unrevoked
    world
        .fake
        .inject(Fault::new("revokeChatInviteLink", FaultKind::ServerError));
    assert_eq!(
        world.invoke_one(2).await,
        vec!["m0".to_string()],
        "retried, nothing sent"
    );
    assert_eq!(
        world.messages_sent().len(),
        1,
        "only the first payment's message"
    );
    assert!(world.invoke_one(2).await.is_empty());
    // THEN the buyer holds one open link: the replacement, and the old one is revoked
    let second = world.stored(2).telegram_invite_link.unwrap();
    assert_ne!(second, first);
    assert_eq!(world.open_links(), vec![second]);
}
