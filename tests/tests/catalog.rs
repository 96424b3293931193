//! The catalog on moto, as a deployed np-webhook meets it: a price applied with
//! `telepay catalog apply` reaches a warm function without a restart, an invoice open
//! when the price changed is granted at the price it was made at, and a paid payment
//! costs no catalog read (one Query per refresh period per function instance; one
//! GetItem per older version an open invoice names, once).

use std::sync::Arc;
use std::time::Duration;

use np_webhook::handle;
use serde_json::{Value, json};
use telepay_core::catalog::{Applied, LiveCatalog, apply};
use telepay_core::fixtures::{SAMPLE_CHANNEL_ID, SAMPLE_DIRECTORY, SAMPLE_IPN, SAMPLE_IPN_SECRET};
use telepay_core::signature::IpnSecret;
use telepay_core::webhook::PaymentWebhook;
use telepay_integration_tests::{DynamoDbRequests, MotoResources, moto, outcome, signed_ipn};
use telepay_shared::dynamodb::DynamoDbStore;
use telepay_shared::sqs::SqsQueue;

const BUYER: i64 = 6271402111;
const THIRTY_DAYS: u64 = 30 * 86_400;

/// The sample directory with its one tier at `price`, durations spelled out.
fn catalog_at(price: f64) -> String {
    let mut document: Value = serde_json::from_str(SAMPLE_DIRECTORY).unwrap();
    document["channels"][0]["tiers"] =
        json!([{"price_amount": price, "price_currency": "usd", "duration": "30 days"}]);
    document.to_string()
}

/// A finished IPN of `payment_id` for an invoice of `price` whose order names catalog
/// `version` (none: an order from before versions).
fn paid(payment_id: i64, version: Option<u32>, price: f64) -> String {
    let mut ipn: Value = serde_json::from_str(SAMPLE_IPN).unwrap();
    let version = version.map_or(String::new(), |v| format!("@{v}"));
    ipn["payment_id"] = payment_id.into();
    ipn["price_amount"] = price.into();
    ipn["order_id"] = format!("PGP-{BUYER}|{SAMPLE_CHANNEL_ID}|{THIRTY_DAYS}{version}").into();
    ipn.to_string()
}

/// The store with every DynamoDB request it sends counted.
async fn counted_store(aws: &MotoResources) -> (DynamoDbStore, DynamoDbRequests) {
    let requests = DynamoDbRequests::default();
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&moto().await)
            .interceptor(requests.clone())
            .build(),
    );
    let store = DynamoDbStore::new(client, &aws.payments_table, &aws.reviews_table)
        .with_subscriptions_table(&aws.subscriptions_table)
        .with_watches_table(&aws.watches_table)
        .with_catalog_table(&aws.catalog_table);
    (store, requests)
}

/// np-webhook's cold start, as its `main` does: the catalog loaded from the store.
async fn webhook(
    aws: &MotoResources,
    store: &DynamoDbStore,
    refresh: Duration,
) -> PaymentWebhook<DynamoDbStore, SqsQueue> {
    let catalog = LiveCatalog::load(Arc::new(store.clone()), refresh, None)
        .await
        .expect("a catalog is applied");
    PaymentWebhook::new(
        IpnSecret::new(SAMPLE_IPN_SECRET).unwrap(),
        catalog,
        store.clone(),
        aws.queue(),
    )
}

async fn answer(webhook: &PaymentWebhook<DynamoDbStore, SqsQueue>, body: &str) -> String {
    outcome(&handle(webhook, signed_ipn(body)).await.unwrap()).1
}

#[tokio::test]
async fn a_price_change_reaches_a_warm_np_webhook_and_an_open_invoice_keeps_its_price() {
    let aws = MotoResources::new().await;
    let store = aws.store();
    let now = chrono::Utc::now();
    assert!(matches!(
        apply(&store, &catalog_at(3.21), "first", now)
            .await
            .unwrap(),
        Applied::Now { version: 1, .. }
    ));
    // Warm, reading the catalog again at each IPN (a deployed one: every 30 s).
    let webhook = webhook(&aws, &store, Duration::ZERO).await;
    assert_eq!(answer(&webhook, &paid(1, Some(1), 3.21)).await, "queued");

    // The owner raises the price: version 2, no restart.
    let Applied::Now { version, changes } = apply(&store, &catalog_at(5.0), "price up", now)
        .await
        .unwrap()
    else {
        panic!("a new price is a new version")
    };
    assert_eq!(version, 2);
    assert_eq!(changes, vec!["Demo channel: 30 days from 3.21 to 5 USD"]);

    // An invoice made at version 1, paid after the change: granted at 3.21.
    assert_eq!(answer(&webhook, &paid(2, Some(1), 3.21)).await, "queued");
    // An invoice made at version 2 is 5 USD: paying 3.21 is short, held.
    assert_eq!(answer(&webhook, &paid(3, Some(2), 3.21)).await, "held");
    assert_eq!(answer(&webhook, &paid(4, Some(2), 5.0)).await, "queued");
    // An order from before versions is matched at the prices in force.
    assert_eq!(answer(&webhook, &paid(5, None, 5.0)).await, "queued");
    let granted = store_record(&store, 2).await;
    assert_eq!(granted, Some((3.21, THIRTY_DAYS)));
}

#[tokio::test]
async fn a_paid_payment_costs_no_catalog_read_and_an_open_invoices_version_is_read_once() {
    let aws = MotoResources::new().await;
    let (store, requests) = counted_store(&aws).await;
    let now = chrono::Utc::now();
    apply(&store, &catalog_at(3.21), "first", now)
        .await
        .unwrap();
    apply(&store, &catalog_at(4.0), "second", now)
        .await
        .unwrap();
    let reads = |operation: &str| {
        requests
            .operations()
            .iter()
            .filter(|o| o.as_str() == operation)
            .count()
    };
    let applied = reads("Query");
    let webhook = webhook(&aws, &store, telepay_core::catalog::REFRESH_EVERY).await;
    let (queries, gets) = (reads("Query"), reads("GetItem"));
    assert_eq!(
        queries - applied,
        1,
        "the cold start reads the newest version"
    );

    for payment in 10..30 {
        assert_eq!(
            answer(&webhook, &paid(payment, Some(2), 4.0)).await,
            "queued"
        );
    }
    for payment in 30..35 {
        assert_eq!(
            answer(&webhook, &paid(payment, Some(1), 3.21)).await,
            "queued"
        );
    }
    assert_eq!(
        reads("Query") - queries,
        0,
        "25 paid payments within the refresh period: no catalog Query"
    );
    assert_eq!(
        reads("GetItem") - gets,
        1,
        "five payments of version-1 invoices: version 1 read once"
    );
}

/// A stored record's price and length, if recorded.
async fn store_record(store: &DynamoDbStore, payment_id: i64) -> Option<(f64, u64)> {
    use telepay_core::store::ports::*;
    let record = store
        .get_payment(telepay_core::ipn::PaymentId::new(payment_id).unwrap())
        .await
        .unwrap()?;
    let purchase = record.purchase?;
    Some((purchase.price_amount, purchase.duration_seconds?))
}
