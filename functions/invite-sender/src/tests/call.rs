//! Bot API failures: rate limits, 5xx, timeouts, an unreachable API, a user who cannot
//! be messaged (terminal), a bot without rights, and an unknown channel.

use super::*;

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
        TelegramBotApi::new(BotToken::new(TOKEN).unwrap(), Some("http://127.0.0.1:9")).unwrap();
    let sender = InviteSender::new(
        MemoryStore::new(),
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
