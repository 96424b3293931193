//! The three functions chained through real SQS queues and a DynamoDB table on moto, with
//! Telegram on the fake Bot API: one paid payment, exactly one invite.

use std::sync::Arc;
use std::time::Duration;

use fake_bot_api::{Fault, FaultKind};
use np_webhook::handle;
use telepay_core::fixtures::{SAMPLE_CHANNEL_ID, SAMPLE_IPN, SAMPLE_USER_ID};
use telepay_integration_tests::{Chain, outcome, queue_with_dlq, signed_ipn};
use telepay_shared::sqs_event::sqs_batch;

const PAYMENT_ID: i64 = 4492847470;

async fn assert_exactly_one_invite(chain: &Chain) {
    let created = chain.fake.delivered("createChatInviteLink");
    assert_eq!(created.len(), 1, "one createChatInviteLink");
    let sent = chain.fake.delivered("sendMessage");
    assert_eq!(sent.len(), 1, "one sendMessage");
    let record = chain.stored(PAYMENT_ID).await;
    let link = record.telegram_invite_link.clone().unwrap();
    assert!(
        sent[0].text().unwrap().contains(&link),
        "the message carries the stored link"
    );
    assert_eq!(sent[0].chat_id(), Some(6271402111));
    assert!(record.processed, "processor flag set");
    assert!(record.telegram_invite_sent, "invite flag set");
}

#[tokio::test]
async fn one_finished_ipn_through_all_three_functions_sends_one_invite_in_eight_writes_and_one_read()
 {
    let chain = Chain::new().await;
    let response = handle(&chain.webhook, signed_ipn(SAMPLE_IPN))
        .await
        .unwrap();
    assert_eq!(outcome(&response), (200, "queued".into()));
    chain.run_processor(1).await;
    chain.run_invite_sender(1).await;

    // Counted before the assertions below read the table.
    let operations = chain.requests.operations();
    assert_exactly_one_invite(&chain).await;
    assert_eq!(
        operations,
        [
            "PutItem",
            "UpdateItem",
            "PutItem",
            "UpdateItem",
            "UpdateItem",
            "GetItem",
            "UpdateItem",
            "PutItem",
            "UpdateItem"
        ],
        "ingress put, the processor's begin (the stored record), a first buyer's \
         subscription, processor mark, invite claim, the \
         subscription's live link read, link persist, the link made live, sent mark"
    );
    let payouts = chain.receive(&chain.payout_queue_url, 30).await;
    assert_eq!(payouts.len(), 1, "one payout instruction");
}

#[tokio::test]
async fn five_ipn_deliveries_and_every_sqs_message_twice_still_send_one_invite() {
    let chain = Chain::new().await;
    for _ in 0..5 {
        let response = handle(&chain.webhook, signed_ipn(SAMPLE_IPN))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        chain.run_processor(2).await;
        chain.run_invite_sender(2).await;
    }
    assert_exactly_one_invite(&chain).await;
}

#[tokio::test]
async fn eight_concurrent_invite_sender_invocations_for_one_payment_send_one_invite() {
    let chain = Arc::new(Chain::new().await);
    handle(&chain.webhook, signed_ipn(SAMPLE_IPN))
        .await
        .unwrap();
    chain.run_processor(1).await;
    let batch = chain.receive(&chain.invite_queue_url, 60).await;
    assert_eq!(batch.len(), 1);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let chain = chain.clone();
            let batch = batch.clone();
            tokio::spawn(async move { chain.invoke_invite_sender(batch).await })
        })
        .collect();
    let mut acknowledged = 0;
    for task in tasks {
        acknowledged += usize::from(task.await.unwrap().batch_item_failures.is_empty());
    }
    assert!(acknowledged >= 1);
    // The ones that met a live lease were reported failed; their redelivery acknowledges.
    chain.invoke_invite_sender(batch).await;
    assert_exactly_one_invite(&chain).await;
}

/// Telegram's 429 on SQS: the invite waits its retry_after as a delayed copy, and the
/// message in hand is done, so the wait spends none of its 5 receives (a spam wave's
/// 429s cannot walk invites into the dead-letter queue).
#[tokio::test]
async fn a_rate_limited_invite_waits_retry_after_as_a_delayed_copy_spending_no_receive() {
    let chain = Chain::new().await;
    handle(&chain.webhook, signed_ipn(SAMPLE_IPN))
        .await
        .unwrap();
    chain.run_processor(1).await;
    chain
        .fake
        .inject(Fault::new("sendMessage", FaultKind::RetryAfter(40)));

    // Received with a 1 s visibility: without the wait it would be back in 1 s.
    let batch = chain.receive(&chain.invite_queue_url, 1).await;
    let response = chain.invoke_invite_sender(batch.clone()).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "done: its copy waits instead"
    );
    chain
        .delete_succeeded(&chain.invite_queue_url, &batch, &response)
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        chain.receive(&chain.invite_queue_url, 30).await.is_empty(),
        "nothing before retry_after"
    );
    let attributes = chain
        .aws
        .sqs
        .get_queue_attributes()
        .queue_url(&chain.invite_queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap();
    let delayed = attributes
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        })
        .cloned();
    assert_eq!(delayed.as_deref(), Some("1"), "the copy waits retry_after");
    let record = chain.stored(PAYMENT_ID).await;
    assert_eq!(record.invite_lease_token, None, "lease released");
}

#[tokio::test]
async fn a_poison_message_lands_in_the_dlq_after_max_receives_and_its_neighbours_succeed() {
    let chain = Chain::new().await;
    let (queue_url, dlq_url) = queue_with_dlq(&chain.aws.sqs, "processor-poison", 2, 1).await;
    let webhook = telepay_core::webhook::PaymentWebhook::new(
        telepay_core::signature::IpnSecret::new(telepay_core::fixtures::SAMPLE_IPN_SECRET).unwrap(),
        telepay_core::directory::ChannelDirectory::from_json(
            telepay_core::fixtures::SAMPLE_DIRECTORY,
        )
        .unwrap(),
        chain.aws.store(),
        telepay_shared::sqs::SqsQueue::new(chain.aws.sqs.clone(), &queue_url),
    );
    handle(&webhook, signed_ipn(SAMPLE_IPN)).await.unwrap();
    chain
        .aws
        .sqs
        .send_message()
        .queue_url(&queue_url)
        .message_body("{\"v\":1,")
        .send()
        .await
        .unwrap();

    let mut rounds = 0;
    loop {
        let batch = chain.receive(&queue_url, 1).await;
        if !batch.is_empty() {
            let response = payment_processor::handle(
                &chain.processor,
                sqs_batch(batch.clone(), Duration::from_secs(30)),
            )
            .await
            .unwrap();
            chain.delete_succeeded(&queue_url, &batch, &response).await;
        }
        let dead = chain.receive(&dlq_url, 30).await;
        if !dead.is_empty() {
            assert_eq!(dead.len(), 1);
            assert_eq!(
                dead[0].body.as_deref(),
                Some("{\"v\":1,"),
                "the poison message, kept"
            );
            break;
        }
        rounds += 1;
        assert!(rounds < 40, "the poison message never reached the DLQ");
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    let record = chain.stored(PAYMENT_ID).await;
    assert!(record.processed, "the neighbour was processed");
    assert_eq!(chain.receive(&chain.invite_queue_url, 30).await.len(), 1);
}

#[tokio::test]
async fn a_paid_month_ends_on_dynamodb_and_sqs_with_one_removal_and_one_notice() {
    use chrono::TimeDelta;
    let chain = Chain::new().await;
    handle(&chain.webhook, signed_ipn(SAMPLE_IPN))
        .await
        .unwrap();
    chain.run_processor(1).await;
    chain.run_invite_sender(1).await;
    // The buyer joins through the link they got.
    let link = chain.fake.delivered("createChatInviteLink")[0]
        .invite_link()
        .unwrap()
        .to_owned();
    let now = chrono::Utc::now().timestamp();
    chain.fake.join(&link, SAMPLE_USER_ID, now);
    assert!(chain.fake.is_member(SAMPLE_CHANNEL_ID, SAMPLE_USER_ID));

    // WHEN the 30 days pass and the sweeper and the consumer run (each message twice)
    chain
        .clock
        .advance(TimeDelta::days(30) + TimeDelta::minutes(1));
    chain.run_lifecycle(2).await;
    chain.run_lifecycle(2).await;

    // THEN the buyer is out, removed once, and told once
    assert!(!chain.fake.is_member(SAMPLE_CHANNEL_ID, SAMPLE_USER_ID));
    assert_eq!(chain.fake.removals().len(), 1);
    let ended: Vec<_> = chain
        .fake
        .delivered("sendMessage")
        .into_iter()
        .filter(|m| m.text().unwrap_or_default().contains("ended"))
        .collect();
    assert_eq!(ended.len(), 1);
}
