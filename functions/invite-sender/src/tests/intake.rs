//! A message's intake: deadlines, malformed and unknown requests, the sample events and
//! the template's timeout.

use super::*;

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
    let template = include_str!("../../../../template.yaml");
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
