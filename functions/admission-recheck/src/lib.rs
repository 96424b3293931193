//! admission-recheck: an SQS-triggered consumer of the admission queue. Each message is
//! a join request that arrived while its buyer's purchase was in progress, delivered
//! after a delay; it is decided again ([`Admission::recheck`]): approved once the grant
//! landed, re-checked later while the wait lasts, declined when it ran out.

use std::convert::Infallible;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use telepay_core::bot::admission::Admission;
use telepay_core::clock::SharedClock;
use telepay_core::queue::{DelayedQueue, RetryDelay};
use telepay_core::store::{BotStore, SubscriptionStore};
use telepay_core::telegram::BotConversation;
use telepay_shared::batch::{batch_response, message_span};
use tracing::Instrument;

pub async fn handle<S, T, Q>(
    admission: &Admission<'_, S, T, Q>,
    clock: &SharedClock,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Infallible>
where
    S: BotStore + SubscriptionStore,
    T: BotConversation,
    Q: DelayedQueue + RetryDelay,
{
    let mut results = Vec::with_capacity(event.payload.records.len());
    for message in &event.payload.records {
        let body = message.body.as_deref().unwrap_or_default();
        let outcome = admission
            .recheck(body, clock.now())
            .instrument(message_span(message))
            .await;
        results.push((message, outcome));
    }
    Ok(batch_response(results, admission.rechecks).await)
}

#[cfg(test)]
mod tests;
