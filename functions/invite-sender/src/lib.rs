//! invite-sender: an SQS-triggered consumer of the invite queue. Each message runs the
//! exactly-once invite protocol ([`InviteSender::deliver`]) in its own span; when the
//! invocation nears its deadline the remaining messages are left untouched and reported
//! failed, so SQS redelivers them.

use std::convert::Infallible;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use telepay_core::invite::InviteSender;
use telepay_core::queue::{MessageOutcome, RetryDelay};
use telepay_core::store::PaymentStore;
use telepay_core::telegram::TelegramInviter;
use telepay_shared::batch::{batch_response, message_span};
use tracing::{Instrument, warn};

pub async fn handle<S: PaymentStore, T: TelegramInviter, D: RetryDelay>(
    sender: &InviteSender<S, T>,
    invite_queue: &D,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Infallible> {
    let deadline: DateTime<Utc> = event.context.deadline().into();
    let mut results = Vec::with_capacity(event.payload.records.len());
    for message in &event.payload.records {
        let span = message_span(message);
        let outcome = if sender.has_time_for_one(deadline) {
            let body = message.body.as_deref().unwrap_or_default();
            sender.deliver(body, deadline).instrument(span).await
        } else {
            span.in_scope(|| warn!("invocation deadline near: left for redelivery"));
            MessageOutcome::Retry
        };
        results.push((message, outcome));
    }
    Ok(batch_response(results, invite_queue).await)
}

#[cfg(test)]
mod tests;
