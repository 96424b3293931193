//! The protocol's run: one link and one message, redeliveries, crashes at each step, a
//! store that fails after the message went out, and leases.

use super::*;

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
