//! np-webhook against DynamoDB and SQS as moto serves them, through the real SDK clients.

use aws_sdk_dynamodb::types::AttributeValue;
use np_webhook::handle;
use serde_json::json;
use telepay_core::fixtures::SAMPLE_IPN;
use telepay_core::ipn::PaymentId;
use telepay_core::queue::ProcessorMessage;
use telepay_core::store::Recorded;
use telepay_core::store::ports::*;
use telepay_integration_tests::{MotoResources, outcome, sample_with, signed_ipn, unique};
use telepay_shared::dynamodb::DynamoDbStore;
use telepay_shared::sqs::SqsQueue;

const PAYMENT_ID: i64 = 4492847470;

fn payment_id() -> PaymentId {
    PaymentId::new(PAYMENT_ID).unwrap()
}

#[tokio::test]
async fn a_finished_ipn_becomes_one_item_with_the_seed_columns_and_one_sqs_message() {
    let aws = MotoResources::new().await;
    let webhook = aws.webhook();

    let response = handle(&webhook, signed_ipn(SAMPLE_IPN)).await.unwrap();
    assert_eq!(outcome(&response), (200, "queued".into()));

    let item = aws
        .dynamodb
        .get_item()
        .table_name(&aws.payments_table)
        .key("payment_id", AttributeValue::N(PAYMENT_ID.to_string()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("the record");
    for column in [
        "payment_id",
        "user_id",
        "channel_id",
        "gcwebhook1_processed",
        "telegram_invite_sent",
        "created_at",
        "updated_at",
    ] {
        assert!(item.contains_key(column), "seed column {column} missing");
    }
    assert_eq!(item["user_id"], AttributeValue::N("6271402111".into()));
    assert_eq!(
        item["channel_id"],
        AttributeValue::N("-1003111266231".into())
    );
    assert_eq!(item["state"], AttributeValue::S("accepted".into()));
    assert_eq!(item["gcwebhook1_processed"], AttributeValue::Bool(false));

    let messages = aws.drain_queue().await;
    assert_eq!(messages.len(), 1);
    let message: ProcessorMessage = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    assert_eq!(message.payment_id, payment_id());
    let attribute = &messages[0].message_attributes().unwrap()["payment_id"];
    assert_eq!(attribute.string_value(), Some("4492847470"));
}

#[tokio::test]
async fn a_repeat_before_processing_sends_again_and_after_processing_is_a_duplicate() {
    let aws = MotoResources::new().await;
    let webhook = aws.webhook();
    handle(&webhook, signed_ipn(SAMPLE_IPN)).await.unwrap();

    let again = handle(&webhook, signed_ipn(SAMPLE_IPN)).await.unwrap();
    assert_eq!(outcome(&again), (200, "queued".into()));
    assert_eq!(
        aws.drain_queue().await.len(),
        2,
        "re-sent: the processor had not finished"
    );

    // The processor marks its stage done (as #3's processor will).
    aws.dynamodb
        .update_item()
        .table_name(&aws.payments_table)
        .key("payment_id", AttributeValue::N(PAYMENT_ID.to_string()))
        .update_expression("SET gcwebhook1_processed = :t")
        .expression_attribute_values(":t", AttributeValue::Bool(true))
        .send()
        .await
        .unwrap();
    let late = handle(&webhook, signed_ipn(SAMPLE_IPN)).await.unwrap();
    assert_eq!(outcome(&late), (200, "duplicate".into()));
    assert!(
        aws.drain_queue().await.is_empty(),
        "nothing sent for a duplicate"
    );
}

#[tokio::test]
async fn a_held_payment_is_one_review_item_and_no_record_or_message() {
    let aws = MotoResources::new().await;
    let webhook = aws.webhook();
    let repeat_deposit = sample_with("parent_payment_id", json!(4492847000i64));
    for _ in 0..2 {
        let response = handle(&webhook, signed_ipn(&repeat_deposit)).await.unwrap();
        assert_eq!(outcome(&response), (200, "held".into()));
    }
    let review = aws
        .store()
        .get_review(payment_id())
        .await
        .unwrap()
        .expect("a review");
    assert_eq!(
        review.reason,
        telepay_core::payment::HoldReason::RepeatDeposit
    );
    assert_eq!(review.ipn, repeat_deposit);
    assert!(
        aws.store()
            .get_payment(payment_id())
            .await
            .unwrap()
            .is_none()
    );
    assert!(aws.drain_queue().await.is_empty());
}

#[tokio::test]
async fn a_missing_table_hands_the_verified_payment_to_the_processor_unrecorded() {
    let aws = MotoResources::new().await;
    let store = DynamoDbStore::new(
        aws.dynamodb.clone(),
        unique("no-such-table"),
        unique("no-such-table"),
    );
    let webhook = telepay_core::webhook::PaymentWebhook::new(
        telepay_core::signature::IpnSecret::new(telepay_core::fixtures::SAMPLE_IPN_SECRET).unwrap(),
        telepay_core::directory::ChannelDirectory::from_json(
            telepay_core::fixtures::SAMPLE_DIRECTORY,
        )
        .unwrap(),
        store,
        aws.queue(),
    );
    let response = handle(&webhook, signed_ipn(SAMPLE_IPN)).await.unwrap();
    // Verified but not written: handed to the processor, which must write it before
    // anything is granted (and retries, then dead-letters, while the table is missing).
    assert_eq!(outcome(&response), (200, "queued".into()));
    let queued = aws.drain_queue().await;
    assert_eq!(queued.len(), 1);
    let body = queued[0].body().expect("a body");
    let message: telepay_core::queue::ProcessorMessage = serde_json::from_str(body).unwrap();
    assert!(
        message.unrecorded.is_some(),
        "the processor records it first"
    );
}

#[tokio::test]
async fn a_missing_queue_answers_unavailable_and_the_retry_delivers() {
    let aws = MotoResources::new().await;
    let missing_queue = format!("{}-gone", aws.queue_url);
    let broken = telepay_core::webhook::PaymentWebhook::new(
        telepay_core::signature::IpnSecret::new(telepay_core::fixtures::SAMPLE_IPN_SECRET).unwrap(),
        telepay_core::directory::ChannelDirectory::from_json(
            telepay_core::fixtures::SAMPLE_DIRECTORY,
        )
        .unwrap(),
        aws.store(),
        SqsQueue::new(aws.sqs.clone(), missing_queue),
    );
    let response = handle(&broken, signed_ipn(SAMPLE_IPN)).await.unwrap();
    assert_eq!(outcome(&response), (500, "unavailable".into()));

    // NOWPayments retries; the queue is back.
    let response = handle(&aws.webhook(), signed_ipn(SAMPLE_IPN))
        .await
        .unwrap();
    assert_eq!(outcome(&response), (200, "queued".into()));
    assert_eq!(aws.drain_queue().await.len(), 1);
}

#[tokio::test]
async fn thirty_two_concurrent_ingress_writes_create_the_record_exactly_once() {
    let aws = MotoResources::new().await;
    let store = std::sync::Arc::new(aws.store());
    let webhook = aws.webhook();
    let record = {
        // The record the webhook would write for the sample IPN.
        handle(&webhook, signed_ipn(SAMPLE_IPN)).await.unwrap();
        let record = store.get_payment(payment_id()).await.unwrap().unwrap();
        aws.dynamodb
            .delete_item()
            .table_name(&aws.payments_table)
            .key("payment_id", AttributeValue::N(PAYMENT_ID.to_string()))
            .send()
            .await
            .unwrap();
        record
    };
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let store = store.clone();
            let record = record.clone();
            tokio::spawn(async move { store.record_accepted(&record).await })
        })
        .collect();
    let mut new = 0;
    for task in tasks {
        match task.await.unwrap().expect("moto answers") {
            Recorded::New => new += 1,
            Recorded::Existing(stored) => {
                assert_eq!(*stored, record, "the stored record comes back")
            }
        }
    }
    assert_eq!(new, 1, "exactly one ingress write wins");
}
