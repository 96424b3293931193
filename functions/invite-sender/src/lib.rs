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

/// Lambda always sends the invocation's absolute deadline; a host that does not (`cargo
/// lambda watch` sends none, or a duration) gets the deployed function's timeout from now.
fn invocation_deadline(context: &lambda_runtime::Context) -> DateTime<Utc> {
    let now = Utc::now();
    let deadline: DateTime<Utc> = context.deadline().into();
    if deadline < now - chrono::TimeDelta::days(1) {
        return now + chrono::TimeDelta::seconds(UNKNOWN_DEADLINE_SECS);
    }
    deadline
}

/// The invite-sender's timeout in template.yaml.
const UNKNOWN_DEADLINE_SECS: i64 = 60;

pub async fn handle<S: PaymentStore, T: TelegramInviter, D: RetryDelay>(
    sender: &InviteSender<S, T>,
    invite_queue: &D,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Infallible> {
    let deadline = invocation_deadline(&event.context);
    let mut results = Vec::with_capacity(event.payload.records.len());
    for message in &event.payload.records {
        let span = message_span(message);
        let outcome = if sender.has_time_for_one(deadline) {
            let body = message.body.as_deref().unwrap_or_default();
            sender.deliver(body, deadline).instrument(span).await
        } else {
            let left_ms = (deadline - Utc::now()).num_milliseconds();
            span.in_scope(|| warn!(left_ms, "invocation deadline near: left for redelivery"));
            MessageOutcome::Retry
        };
        results.push((message, outcome));
    }
    Ok(batch_response(results, invite_queue).await)
}

#[cfg(test)]
mod tests;
