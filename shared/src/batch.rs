//! The one place message outcomes become an SQS batch response: failed items are
//! reported by id (SQS redelivers only those). A `RetryAfter` waits without spending a
//! receive where the queue allows ([`RetryDelay::retry_later`]: on SQS a delayed copy,
//! the message in hand done); otherwise the message is hidden for that long and
//! reported failed.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsMessage};
use telepay_core::queue::{MessageOutcome, Redelivery, RetryDelay};
use tracing::warn;

/// SQS caps a visibility timeout at 12 hours.
const MAX_VISIBILITY_SECS: u64 = 12 * 3600;

pub async fn batch_response<D: RetryDelay>(
    results: Vec<(&SqsMessage, MessageOutcome)>,
    delays: &D,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for (message, outcome) in results {
        let id = message.message_id.clone().unwrap_or_default();
        match outcome {
            MessageOutcome::Done => {}
            MessageOutcome::Retry => response.add_failure(id),
            MessageOutcome::RetryAfter(delay) => {
                let delay = delay.min(std::time::Duration::from_secs(MAX_VISIBILITY_SECS));
                let body = message.body.as_deref().unwrap_or_default();
                let waited = match message.receipt_handle.as_deref() {
                    Some(receipt) => delays.retry_later(receipt, body, delay).await,
                    None => Ok(Redelivery::Hidden),
                };
                match waited {
                    Ok(Redelivery::Requeued) => {}
                    Ok(Redelivery::Hidden) => response.add_failure(id),
                    Err(err) => {
                        // Still reported failed: SQS retries after the normal timeout.
                        warn!(message_id = %id, error = %err, "could not delay the redelivery");
                        response.add_failure(id);
                    }
                }
            }
        }
    }
    response
}

/// The messages of `batch` that `response` did not report failed: what an event source
/// mapping deletes.
pub fn succeeded<'a>(
    batch: &'a [SqsMessage],
    response: &'a SqsBatchResponse,
) -> impl Iterator<Item = &'a SqsMessage> + 'a {
    batch.iter().filter(|message| {
        let id = message.message_id.as_deref().unwrap_or_default();
        !response
            .batch_item_failures
            .iter()
            .any(|f| f.item_identifier == id)
    })
}

/// For consumers that never ask for a delayed retry (the processor).
pub struct NoRedeliveryDelay;

impl RetryDelay for NoRedeliveryDelay {
    async fn delay_redelivery(
        &self,
        _receipt_handle: &str,
        _delay: std::time::Duration,
    ) -> Result<(), telepay_core::queue::QueueError> {
        Ok(())
    }
}

/// The tracing span of one SQS message: `payment_id` is filled once the body is read.
pub fn message_span(message: &SqsMessage) -> tracing::Span {
    tracing::info_span!(
        "message",
        message_id = message.message_id.as_deref().unwrap_or_default(),
        receive_count = message
            .attributes
            .get("ApproximateReceiveCount")
            .map(String::as_str)
            .unwrap_or_default(),
        payment_id = tracing::field::Empty,
    )
}
