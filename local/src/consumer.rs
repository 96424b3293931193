//! The server's stand-in for the SQS event source mapping: receive a batch, hand it to the
//! handler as an SQS event, delete what succeeded; failures come back after their
//! visibility timeout and dead-letter after the maximum receives.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use telepay_core::queue::QueueError;
use telepay_shared::batch::succeeded;
use telepay_shared::sql_queue::{QueueDialect, SqlQueue};
use telepay_shared::sqs::SqsQueue;
use telepay_shared::sqs_event::sqs_batch;
use tracing::warn;

/// Where batches come from: the queues in the database, or SQS itself (`--aws`).
pub trait BatchSource: Send + Sync {
    fn receive(
        &self,
        max: usize,
    ) -> impl Future<Output = Result<Vec<SqsMessage>, QueueError>> + Send;
    fn delete(&self, receipt_handle: &str) -> impl Future<Output = Result<(), QueueError>> + Send;
    /// Messages in the queue (one read: `/readyz` and the `QueueDepth` gauge).
    fn depth(&self) -> impl Future<Output = Result<u64, QueueError>> + Send;
}

impl<DB: QueueDialect> BatchSource for SqlQueue<DB> {
    async fn receive(&self, max: usize) -> Result<Vec<SqsMessage>, QueueError> {
        let batch = SqlQueue::receive(self, max).await?;
        if batch.is_empty() {
            // Nothing visible: look again shortly (SQS's long poll, by polling).
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(batch)
    }
    async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        SqlQueue::delete(self, receipt_handle).await
    }
    async fn depth(&self) -> Result<u64, QueueError> {
        SqlQueue::depth(self).await
    }
}

impl BatchSource for SqsQueue {
    async fn receive(&self, max: usize) -> Result<Vec<SqsMessage>, QueueError> {
        // Long polling, as the event source mapping does.
        SqsQueue::receive(
            self,
            i32::try_from(max).unwrap_or(10),
            Duration::from_secs(10),
        )
        .await
    }
    async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        SqsQueue::delete(self, receipt_handle).await
    }
    async fn depth(&self) -> Result<u64, QueueError> {
        SqsQueue::depth(self).await
    }
}

/// Starts `workers` consumers of `source`, as Lambda's event source mapping runs several
/// invocations of a function at once (bounded per queue): each takes its own batches, and
/// the store's conditional writes and leases keep a message's effects once.
pub fn spawn_consumers<B, H, F>(
    workers: usize,
    source: B,
    batch_size: usize,
    function_timeout: Duration,
    handler: H,
) where
    B: BatchSource + Clone + 'static,
    H: Fn(LambdaEvent<SqsEvent>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = SqsBatchResponse> + Send + 'static,
{
    for _ in 0..workers.max(1) {
        tokio::spawn(consume(
            source.clone(),
            batch_size,
            function_timeout,
            handler.clone(),
        ));
    }
}

/// Set on SIGTERM: consumers take no new batch.
static DRAINING: AtomicBool = AtomicBool::new(false);
/// Batches received and not yet handled and deleted.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Resolves once a stop has begun ([`drain`]): what the bot's poller stops on.
pub async fn stopping() {
    while !DRAINING.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Stops every consumer taking new batches and waits, at most `bound`, for the batches
/// in hand to be handled; how many were still in hand (their messages come back after
/// their visibility timeout, and the store's once-records keep their effects once).
pub async fn drain(bound: Duration) -> usize {
    DRAINING.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + bound;
    while IN_FLIGHT.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    IN_FLIGHT.load(Ordering::SeqCst)
}

/// Runs `handler` over `source` until [`drain`], `batch_size` messages at a time, each
/// invocation given `function_timeout` as its deadline.
pub async fn consume<B, H, F>(source: B, batch_size: usize, function_timeout: Duration, handler: H)
where
    B: BatchSource,
    H: Fn(LambdaEvent<SqsEvent>) -> F,
    F: Future<Output = SqsBatchResponse>,
{
    while !DRAINING.load(Ordering::SeqCst) {
        // Counted before the receive: a batch received while draining is still handled.
        IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        let batch = match source.receive(batch_size).await {
            Ok(batch) => batch,
            Err(err) => {
                IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
                warn!(error = %err, "could not receive; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if !batch.is_empty() {
            let response = handler(sqs_batch(batch.clone(), function_timeout)).await;
            for message in succeeded(&batch, &response) {
                let receipt = message.receipt_handle.as_deref().unwrap_or_default();
                if let Err(err) = source.delete(receipt).await {
                    let id = message.message_id.as_deref().unwrap_or_default();
                    warn!(message_id = id, error = %err, "could not delete a handled message; it will be redelivered");
                }
            }
        }
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}
