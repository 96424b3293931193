//! A warm invocation's own cost: each handler as its function's runtime calls it, on the
//! in-memory store and queues (no network), so what is measured is our code per
//! invocation. Target: <= 50 µs. `make bench` runs it.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use serde_json::Value;
use telepay_core::directory::ChannelDirectory;
use telepay_core::fixtures::{SAMPLE_DIRECTORY, SAMPLE_IPN, SAMPLE_IPN_SECRET, sample_record};
use telepay_core::processor::PaymentProcessor;
use telepay_core::queue::memory::MemoryQueue;
use telepay_core::signature::IpnSecret;
use telepay_core::store::IngressStore;
use telepay_core::store::memory::MemoryStore;
use telepay_core::webhook::PaymentWebhook;
use telepay_integration_tests::signed_ipn;
use telepay_shared::sqs_event::{sqs_batch, sqs_message};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn ipn_of(payment_id: i64) -> String {
    let mut body: Value = serde_json::from_str(SAMPLE_IPN).unwrap();
    body["payment_id"] = payment_id.into();
    body.to_string()
}

fn np_webhook(c: &mut Criterion) {
    let rt = runtime();
    let webhook = PaymentWebhook::new(
        IpnSecret::new(SAMPLE_IPN_SECRET).unwrap(),
        ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap(),
        MemoryStore::new(),
        MemoryQueue::new(),
    );
    let mut next = 1_000_000_000_i64;
    c.bench_function(
        "np-webhook: a new finished payment (verify, record, enqueue)",
        |b| {
            b.iter_batched(
                || {
                    next += 1;
                    signed_ipn(&ipn_of(next))
                },
                |request| {
                    rt.block_on(np_webhook::handle(&webhook, black_box(request)))
                        .unwrap()
                },
                BatchSize::SmallInput,
            )
        },
    );
    c.bench_function(
        "np-webhook: a redelivered payment (answered from the record)",
        |b| {
            b.iter_batched(
                || signed_ipn(SAMPLE_IPN),
                |request| {
                    rt.block_on(np_webhook::handle(&webhook, black_box(request)))
                        .unwrap()
                },
                BatchSize::SmallInput,
            )
        },
    );
}

fn payment_processor(c: &mut Criterion) {
    let rt = runtime();
    let store = MemoryStore::new();
    rt.block_on(store.record_accepted(&sample_record(4492847470)))
        .unwrap();
    let processor = PaymentProcessor::new(store, MemoryQueue::new(), MemoryQueue::new());
    let body = serde_json::json!({
        "v": 1, "payment_id": 4492847470_i64, "user_id": 6271402111_i64,
        "channel_id": -1003111266231_i64,
        "purchase": {"private_channel_id": -1003111266231_i64, "subscription_days": 30,
            "price_amount": 3.21, "price_currency": "usd", "outcome_amount": 0.001408,
            "outcome_currency": "eth"}
    })
    .to_string();
    c.bench_function(
        "payment-processor: a batch of one message (payout, grant, invite, mark)",
        |b| {
            b.iter_batched(
                || {
                    sqs_batch(
                        vec![sqs_message("m1", "r1", body.clone(), 1)],
                        Duration::from_secs(30),
                    )
                },
                |event| {
                    rt.block_on(payment_processor::handle(&processor, black_box(event)))
                        .unwrap()
                },
                BatchSize::SmallInput,
            )
        },
    );
}

criterion_group!(benches, np_webhook, payment_processor);
criterion_main!(benches);
