//! One conformance suite for every queue backend the chain's consumers read: SQS (moto),
//! and the server's queues in its database, on SQLite and on Postgres (`telepay serve`).
//! The same cases, written once: what the consumers rely on SQS for (a received message
//! hidden for the visibility timeout and back with a higher receive count unless deleted,
//! the dead-letter queue after the maximum receives, a delayed send, a delayed
//! redelivery on a 429) and, with many consumers at once, each message to one of them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsMessage;
use telepay_core::ipn::PaymentId;
use telepay_core::queue::{DelayedQueue, MessageQueue, Redelivery, RetryDelay};
use telepay_integration_tests::FreshStore;
use telepay_integration_tests::moto::{moto, queue_with_dlq, unique};
use telepay_shared::sql::SqlStore;
use telepay_shared::sql_queue::{QueueDialect, SqlQueue};
use telepay_shared::sqs::SqsQueue;

/// A queue under test, as the consumers use it.
trait ConsumedQueue: MessageQueue + RetryDelay + DelayedQueue + Send + Sync + 'static {
    /// Whether consumers at once never receive a message twice within its visibility
    /// timeout. SQS standard queues promise at-least-once only ("more than one copy of a
    /// message might be delivered", AWS's SQS developer guide, standard queues), and moto
    /// shows it; the queues in the database do better (`FOR UPDATE SKIP LOCKED`, one
    /// SQLite writer). The chain is correct either way: its once-records decide.
    const NEVER_TWICE: bool;
    /// Whether a delayed redelivery (a 429's `retry_after`) gives its receive back, so
    /// rate limits never walk a message to the dead-letter queue: the database queues do;
    /// SQS counts every receive.
    const DELAY_GIVES_RECEIVE_BACK: bool;
    /// A fresh queue: hidden `visibility` after a receive, dead-lettered after
    /// `max_receives` deliveries.
    async fn fresh(visibility: Duration, max_receives: u32) -> Self;
    fn take(&self, max: usize) -> impl std::future::Future<Output = Vec<SqsMessage>> + Send;
    fn remove(&self, receipt: &str) -> impl std::future::Future<Output = ()> + Send;
    async fn dead_bodies(&self) -> Vec<String>;
}

/// The queues in the database, on a fresh store of each SQL backend.
impl<DB: QueueDialect> ConsumedQueue for SqlQueue<DB>
where
    SqlStore<DB>: FreshStore,
{
    const NEVER_TWICE: bool = true;
    const DELAY_GIVES_RECEIVE_BACK: bool = true;
    async fn fresh(visibility: Duration, max_receives: u32) -> Self {
        let store = SqlStore::<DB>::fresh().await;
        SqlQueue::new(store.pool().clone(), "invite", visibility, max_receives)
    }
    async fn take(&self, max: usize) -> Vec<SqsMessage> {
        self.receive(max).await.unwrap()
    }
    async fn remove(&self, receipt: &str) {
        self.delete(receipt).await.unwrap();
    }
    async fn dead_bodies(&self) -> Vec<String> {
        let letters = self.dead_letters().await.unwrap();
        letters.into_iter().map(|(_, body)| body).collect()
    }
}

/// SQS on moto: the queue and its dead-letter queue, as template.yaml makes them.
struct Sqs {
    queue: SqsQueue,
    dead_letters: SqsQueue,
}

impl MessageQueue for Sqs {
    async fn send(
        &self,
        payment_id: PaymentId,
        body: &str,
    ) -> Result<(), telepay_core::queue::QueueError> {
        self.queue.send(payment_id, body).await
    }
}

impl RetryDelay for Sqs {
    async fn delay_redelivery(
        &self,
        receipt_handle: &str,
        delay: Duration,
    ) -> Result<(), telepay_core::queue::QueueError> {
        self.queue.delay_redelivery(receipt_handle, delay).await
    }

    async fn retry_later(
        &self,
        receipt_handle: &str,
        body: &str,
        delay: Duration,
    ) -> Result<Redelivery, telepay_core::queue::QueueError> {
        self.queue.retry_later(receipt_handle, body, delay).await
    }
}

impl DelayedQueue for Sqs {
    async fn send_later(
        &self,
        body: &str,
        delay: Duration,
    ) -> Result<(), telepay_core::queue::QueueError> {
        self.queue.send_later(body, delay).await
    }
}

impl ConsumedQueue for Sqs {
    const NEVER_TWICE: bool = false;
    const DELAY_GIVES_RECEIVE_BACK: bool = false;
    async fn fresh(visibility: Duration, max_receives: u32) -> Self {
        let sqs = aws_sdk_sqs::Client::new(&moto().await);
        let seconds = u32::try_from(visibility.as_secs()).unwrap().max(1);
        let (url, dlq) = queue_with_dlq(&sqs, &unique("conformance"), max_receives, seconds).await;
        Self {
            queue: SqsQueue::new(sqs.clone(), url),
            dead_letters: SqsQueue::new(sqs, dlq),
        }
    }
    async fn take(&self, max: usize) -> Vec<SqsMessage> {
        let max = i32::try_from(max).unwrap();
        self.queue.receive(max, Duration::ZERO).await.unwrap()
    }
    async fn remove(&self, receipt: &str) {
        self.queue.delete(receipt).await.unwrap();
    }
    async fn dead_bodies(&self) -> Vec<String> {
        let letters = self.dead_letters.peek(10).await.unwrap();
        letters.into_iter().filter_map(|m| m.body).collect()
    }
}

fn id(n: i64) -> PaymentId {
    PaymentId::new(n).unwrap()
}

fn receive_count(message: &SqsMessage) -> u32 {
    message.attributes["ApproximateReceiveCount"]
        .parse()
        .unwrap()
}

/// Past a one-second visibility timeout (SQS counts whole seconds).
async fn past_visibility() {
    tokio::time::sleep(Duration::from_millis(1300)).await;
}

async fn a_received_message_is_hidden_then_returns_counted_then_dead_letters<Q: ConsumedQueue>() {
    let queue = Q::fresh(Duration::from_secs(1), 2).await;
    queue.send(id(1), "poison").await.unwrap();

    let first = queue.take(10).await;
    assert_eq!(first.len(), 1);
    assert_eq!(receive_count(&first[0]), 1);
    assert!(queue.take(10).await.is_empty(), "hidden while in flight");

    past_visibility().await;
    let second = queue.take(10).await;
    assert_eq!(second.len(), 1, "back after the visibility timeout");
    assert_eq!(receive_count(&second[0]), 2);
    assert_ne!(
        second[0].receipt_handle, first[0].receipt_handle,
        "a receipt per delivery"
    );

    past_visibility().await;
    assert!(
        queue.take(10).await.is_empty(),
        "delivered twice: moved, not delivered"
    );
    assert_eq!(queue.dead_bodies().await, ["poison"]);
}

async fn a_deleted_message_never_returns_and_the_others_do<Q: ConsumedQueue>() {
    let queue = Q::fresh(Duration::from_secs(1), 5).await;
    queue.send(id(1), "handled").await.unwrap();
    queue.send(id(2), "failed").await.unwrap();
    let batch = queue.take(10).await;
    assert_eq!(batch.len(), 2);
    let handled = batch
        .iter()
        .find(|m| m.body.as_deref() == Some("handled"))
        .unwrap();
    queue
        .remove(handled.receipt_handle.as_deref().unwrap())
        .await;

    past_visibility().await;
    let again = queue.take(10).await;
    let bodies: Vec<_> = again.iter().filter_map(|m| m.body.as_deref()).collect();
    assert_eq!(
        bodies,
        ["failed"],
        "the batch's failure comes back, its success does not"
    );
    assert!(queue.dead_bodies().await.is_empty());
}

async fn a_delayed_redelivery_stays_hidden_for_its_delay<Q: ConsumedQueue>() {
    let queue = Q::fresh(Duration::from_secs(1), 5).await;
    queue.send(id(1), "rate limited").await.unwrap();
    let batch = queue.take(10).await;
    // A 429's retry_after: longer than the visibility timeout.
    queue
        .delay_redelivery(
            batch[0].receipt_handle.as_deref().unwrap(),
            Duration::from_secs(4),
        )
        .await
        .unwrap();
    past_visibility().await;
    assert!(
        queue.take(10).await.is_empty(),
        "still hidden: the delay, not the visibility"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later = queue.take(10).await;
    assert_eq!(later.len(), 1, "back after its delay");
    let expected = if Q::DELAY_GIVES_RECEIVE_BACK { 1 } else { 2 };
    assert_eq!(receive_count(&later[0]), expected, "the delay's receive");
}

/// A spam wave's 429s never walk a message to the dead-letter queue: seven rate limits
/// in a row on a queue that dead-letters after 5 receives, and it still comes back. On
/// SQS the wait is a delayed copy and the message in hand is deleted, as the event source
/// mapping deletes what the batch response does not report failed
/// (`telepay_shared::batch`); the database queues give the receive back.
async fn rate_limits_never_spend_the_receives<Q: ConsumedQueue>() {
    let queue = Q::fresh(Duration::from_secs(1), 5).await;
    queue.send(id(1), "rate limited").await.unwrap();
    for round in 1..=7 {
        let mut batch = queue.take(10).await;
        for _ in 0..40 {
            if !batch.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            batch = queue.take(10).await;
        }
        assert_eq!(batch.len(), 1, "round {round}: the message is back");
        let receipt = batch[0].receipt_handle.clone().unwrap();
        let body = batch[0].body.clone().unwrap();
        assert_eq!(body, "rate limited");
        match queue
            .retry_later(&receipt, &body, Duration::from_secs(1))
            .await
            .unwrap()
        {
            Redelivery::Requeued => queue.remove(&receipt).await,
            Redelivery::Hidden => {}
        }
    }
    assert!(queue.dead_bodies().await.is_empty(), "dead-lettered");
}

async fn a_delayed_send_is_hidden_until_its_delay<Q: ConsumedQueue>() {
    let queue = Q::fresh(Duration::from_secs(1), 5).await;
    queue
        .send_later("recheck the join request", Duration::from_secs(2))
        .await
        .unwrap();
    assert!(queue.take(10).await.is_empty(), "not before its delay");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let batch = queue.take(10).await;
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].body.as_deref(), Some("recheck the join request"));
    assert_eq!(receive_count(&batch[0]), 1);
}

/// Eight consumers at once, as the event source mapping (or `telepay serve`'s
/// consumers, in one or several processes) runs them: every message is received, and
/// where the backend promises it ([`ConsumedQueue::NEVER_TWICE`]) by one consumer once.
async fn consumers_at_once_each_get_a_message_once<Q: ConsumedQueue>() {
    const MESSAGES: i64 = 120;
    let queue = Arc::new(Q::fresh(Duration::from_secs(60), 5).await);
    for n in 1..=MESSAGES {
        queue.send(id(n), &format!("payment {n}")).await.unwrap();
    }
    let mut consumers = Vec::new();
    for _ in 0..8 {
        let queue = queue.clone();
        consumers.push(tokio::spawn(async move {
            let mut received = Vec::new();
            let mut empty = 0;
            while empty < 3 {
                let batch = queue.take(10).await;
                if batch.is_empty() {
                    empty += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                empty = 0;
                for message in batch {
                    received.push(message.body.clone().unwrap());
                    queue
                        .remove(message.receipt_handle.as_deref().unwrap())
                        .await;
                }
            }
            received
        }));
    }
    let mut times: HashMap<String, usize> = HashMap::new();
    for consumer in consumers {
        for body in consumer.await.unwrap() {
            *times.entry(body).or_default() += 1;
        }
    }
    let twice: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
    if Q::NEVER_TWICE {
        assert!(
            twice.is_empty(),
            "received twice within the visibility timeout: {twice:?}"
        );
    }
    assert_eq!(times.len(), MESSAGES as usize, "every message received");
}

macro_rules! queue_conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            use super::*;
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() { super::$case::<SqlQueue<sqlx::Sqlite>>().await; })*
        }
        mod postgres {
            use super::*;
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() { super::$case::<SqlQueue<sqlx::Postgres>>().await; })*
        }
        mod sqs {
            use super::*;
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() { super::$case::<Sqs>().await; })*
        }
    };
}

queue_conformance!(
    rate_limits_never_spend_the_receives,
    a_received_message_is_hidden_then_returns_counted_then_dead_letters,
    a_deleted_message_never_returns_and_the_others_do,
    a_delayed_redelivery_stays_hidden_for_its_delay,
    a_delayed_send_is_hidden_until_its_delay,
    consumers_at_once_each_get_a_message_once,
);
