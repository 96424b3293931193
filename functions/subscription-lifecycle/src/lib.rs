//! subscription-lifecycle: an SQS-triggered consumer of the lifecycle queue. Each task
//! (reminder, removal, end notice) runs under a fenced lease ([`LifecycleWorker::handle`])
//! in its own span, paced ([`Pacer`]) so a burst of expiries stays within Telegram's
//! limits; after a 429 the rest of the batch is left for its `retry_after`.

use std::convert::Infallible;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use telepay_core::access::{LifecycleWorker, Pacer};
use telepay_core::queue::{MessageOutcome, RetryDelay};
use telepay_core::store::SubscriptionStore;
use telepay_core::telegram::{MemberRemover, TelegramInviter};
use telepay_shared::batch::{batch_response, message_span};
use tracing::Instrument;

pub async fn handle<S, T, D>(
    worker: &LifecycleWorker<S, T>,
    pacer: &Pacer,
    lifecycle_queue: &D,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Infallible>
where
    S: SubscriptionStore,
    T: TelegramInviter + MemberRemover,
    D: RetryDelay,
{
    let mut results = Vec::with_capacity(event.payload.records.len());
    let mut rate_limited = None;
    for message in &event.payload.records {
        let outcome = match rate_limited {
            // Telegram asked for a pause: the rest of the batch waits it out untouched.
            Some(delay) => MessageOutcome::RetryAfter(delay),
            None => {
                // Behind any invite sharing the pace (`telepay serve`).
                pacer.wait_spare_turn().await;
                let body = message.body.as_deref().unwrap_or_default();
                let outcome = worker.handle(body).instrument(message_span(message)).await;
                if let MessageOutcome::RetryAfter(delay) = outcome {
                    rate_limited = Some(delay);
                }
                outcome
            }
        };
        results.push((message, outcome));
    }
    Ok(batch_response(results, lifecycle_queue).await)
}

#[cfg(test)]
mod tests;
