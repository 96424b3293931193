//! On DynamoDB the reconciler finds overdue payments through the sparse pending index:
//! what it reads follows what is pending, not how many payments ever finished. Seed items
//! and tables from before the index are brought in by `telepay migrate`.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use telepay_core::fixtures::{SAMPLE_CHANNEL_ID, SAMPLE_USER_ID, sample_record};
use telepay_core::queue::memory::MemoryQueue;
use telepay_core::reconcile::Reconciler;
use telepay_core::store::InviteCompletion;
use telepay_core::store::ports::*;
use telepay_integration_tests::{MotoResources, unique};
use telepay_shared::dynamodb::DynamoDbStore;

/// How many finished payments sit beside the pending ones (TELEPAY_INDEX_FINISHED; the
/// published figure uses 10,000).
fn finished_count() -> i64 {
    std::env::var("TELEPAY_INDEX_FINISHED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(500)
}

fn reconciler(store: DynamoDbStore) -> Reconciler<DynamoDbStore, MemoryQueue, MemoryQueue> {
    Reconciler::new(
        store,
        MemoryQueue::new(),
        MemoryQueue::new(),
        Duration::from_secs(60),
        500,
    )
}

#[tokio::test]
async fn the_reconciler_reads_what_is_pending_not_the_history() {
    // GIVEN many finished payments and ten stuck ones
    let store = MotoResources::new().await.store();
    let long_ago = Utc::now() - TimeDelta::hours(2);
    let finished = finished_count();
    for id in 1..=finished {
        let mut done = sample_record(id);
        done.created_at = long_ago;
        done.updated_at = long_ago;
        done.processed = true;
        done.telegram_invite_sent = true;
        store.record_accepted(&done).await.unwrap();
    }
    for id in 1_000_001..=1_000_010 {
        let mut stuck = sample_record(id);
        stuck.created_at = long_ago;
        stuck.updated_at = long_ago;
        store.record_accepted(&stuck).await.unwrap();
    }

    // WHEN the reconciler runs
    let before = store.items_read();
    let report = reconciler(store.clone()).reconcile().await.unwrap();
    let read = store.items_read() - before;

    // THEN it moves the ten, reading about them and nothing of the history
    assert_eq!(report.requeued_processing, 10, "{report:?}");
    println!("reconciler run: {read} items read for 10 pending among {finished} finished");
    assert!(
        read <= 20,
        "{read} items read: the pending listing and the operator listing"
    );

    // What the listing cost as a Scan (as it did before the index): every item.
    let before = store.items_read();
    store.failed_invites(10).await.unwrap();
    let scanned = store.items_read() - before;
    println!("a Scan listing of the same table: {scanned} items read");
    assert!(scanned >= finished as u64 + 10);
}

#[tokio::test]
async fn a_finished_payment_leaves_the_index_and_a_reopened_one_returns() {
    let store = MotoResources::new().await.store();
    let long_ago = Utc::now() - TimeDelta::hours(2);
    let mut record = sample_record(7);
    record.created_at = long_ago;
    record.updated_at = long_ago;
    record.processed = true;
    store.record_accepted(&record).await.unwrap();
    let id = record.payment_id;
    let claim = telepay_core::store::InviteClaim {
        payment_id: id,
        lease_token: "t".into(),
        lease_until: Utc::now() + TimeDelta::seconds(30),
        now: Utc::now(),
    };
    store.claim_invite(&claim).await.unwrap();
    let _ = store
        .complete_invite(&claim.lease(), InviteCompletion::Sent, Utc::now())
        .await
        .unwrap();

    // The first listing after it finished retires it; the next reads nothing.
    assert!(
        store
            .pending_payments(Utc::now(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let before = store.items_read();
    assert!(
        store
            .pending_payments(Utc::now(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.items_read() - before, 0, "retired from the index");

    // A re-open (the operator's re-issue) makes it due again, and findable.
    store.reopen_invite(id, None, Utc::now()).await.unwrap();
    let listed = store
        .pending_payments(Utc::now() + TimeDelta::seconds(1), 10)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn migrate_brings_a_table_from_before_the_index_and_its_seed_items_in() {
    // GIVEN a payments table created without the index, holding a seed item
    let aws = MotoResources::new().await;
    let payments = unique("old_payments");
    let reviews = unique("old_reviews");
    aws.dynamodb
        .create_table()
        .table_name(&payments)
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("payment_id")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::N)
                .build()
                .unwrap(),
        )
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("payment_id")
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    use aws_sdk_dynamodb::types::AttributeValue::{N, S};
    aws.dynamodb
        .put_item()
        .table_name(&payments)
        .item("payment_id", N("88".into()))
        .item("user_id", N(SAMPLE_USER_ID.to_string()))
        .item("channel_id", N(SAMPLE_CHANNEL_ID.to_string()))
        .item(
            "gcwebhook1_processed",
            aws_sdk_dynamodb::types::AttributeValue::Bool(true),
        )
        .item("created_at", S("2025-01-01T00:00:00.000Z".into()))
        .send()
        .await
        .unwrap();
    let store = DynamoDbStore::new(aws.dynamodb.clone(), &payments, &reviews);
    assert!(
        store.pending_payments(Utc::now(), 10).await.is_err(),
        "no index yet"
    );

    // WHEN telepay migrate runs (twice: it is safe to repeat)
    store.create_tables_if_missing().await.unwrap();
    store.create_tables_if_missing().await.unwrap();

    // THEN the seed item is found by the reconciler's listing
    let listed = store.pending_payments(Utc::now(), 10).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
}
