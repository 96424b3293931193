//! payment-processor: an SQS-triggered consumer of the processor queue. Each message is
//! handled in its own span by [`PaymentProcessor::process`]; only failed ones are
//! reported back, so one bad message never fails its neighbours.

use std::convert::Infallible;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use telepay_core::processor::PaymentProcessor;
use telepay_core::queue::MessageQueue;
use telepay_core::store::{IngressStore, ProcessorStore, SubscriptionStore};
use telepay_core::telegram::StarsLedger;
use telepay_shared::batch::{NoRedeliveryDelay, batch_response, message_span};
use tracing::Instrument;

pub async fn handle<
    S: ProcessorStore + SubscriptionStore + IngressStore,
    P: MessageQueue,
    I: MessageQueue,
    L: StarsLedger,
>(
    processor: &PaymentProcessor<S, P, I, L>,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Infallible> {
    let mut results = Vec::with_capacity(event.payload.records.len());
    for message in &event.payload.records {
        let body = message.body.as_deref().unwrap_or_default();
        let outcome = processor
            .process(body)
            .instrument(message_span(message))
            .await;
        results.push((message, outcome));
    }
    Ok(batch_response(results, &NoRedeliveryDelay).await)
}

#[cfg(test)]
mod tests;
