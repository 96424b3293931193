//! invite-sender: an SQS-triggered consumer of the invite queue. Each message runs the
//! exactly-once invite protocol ([`InviteSender::deliver`]), tells a held payment's
//! buyer and owner ([`InviteSender::tell_held`]), or tells an owner of a purchase never
//! completed ([`InviteSender::tell_wait`]), in its own span; when the
//! invocation nears its deadline the remaining messages are left untouched and reported
//! failed, so SQS redelivers them.

use std::convert::Infallible;
use std::time::{Duration, SystemTime};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use telepay_core::held::HoldNoticeRequest;
use telepay_core::invite::InviteSender;
use telepay_core::metrics::{self, signal};
use telepay_core::queue::{MessageOutcome, RetryDelay};
use telepay_core::store::{HeldNoticeStore, InviteStore, PurchasePartsStore, SubscriptionStore};
use telepay_core::telegram::TelegramInviter;
use telepay_core::topup::PurchaseWaitNotice;
use telepay_shared::batch::{batch_response, message_span};
use tracing::{Instrument, error, warn};

/// The time the invocation has left. Lambda's deadline is wall-clock time, so this is
/// the one place the sender looks at the system clock; the sender turns it into a
/// deadline on its own clock. A host that sends no absolute deadline (`cargo lambda
/// watch` sends none, or a duration) gets the deployed function's timeout.
fn time_left(context: &lambda_runtime::Context) -> Duration {
    let deadline = context.deadline();
    let now = SystemTime::now();
    if deadline + Duration::from_secs(24 * 3600) < now {
        return UNKNOWN_DEADLINE;
    }
    deadline.duration_since(now).unwrap_or_default()
}

/// The invite-sender's timeout in template.yaml.
const UNKNOWN_DEADLINE: Duration = Duration::from_secs(60);

pub async fn handle<
    S: InviteStore + SubscriptionStore + HeldNoticeStore + PurchasePartsStore,
    T: TelegramInviter,
    D: RetryDelay,
>(
    sender: &InviteSender<S, T>,
    invite_queue: &D,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Infallible> {
    let deadline = sender.deadline_in(time_left(&event.context));
    let mut results = Vec::with_capacity(event.payload.records.len());
    for (n, message) in event.payload.records.iter().enumerate() {
        let span = message_span(message);
        let outcome = if sender.has_time_for_one(deadline) {
            let body = message.body.as_deref().unwrap_or_default();
            if let Some(request) = HoldNoticeRequest::recognise(body) {
                sender.tell_held(request, deadline).instrument(span).await
            } else if let Some(notice) = PurchaseWaitNotice::recognise(body) {
                sender.tell_wait(notice).instrument(span).await
            } else {
                sender.deliver(body, deadline).instrument(span).await
            }
        } else {
            let left_ms = (deadline - sender.clock.now()).num_milliseconds();
            if n == 0 {
                // Not even one message fits: every delivery of this batch would go to the
                // DLQ untouched. The function's timeout is too short for the settings.
                let needed_ms = sender.settings.time_per_message().as_millis() as i64;
                span.in_scope(|| {
                    error!(
                        left_ms,
                        needed_ms,
                        "invocation too short for one invite: raise the function timeout or lower TELEPAY_TELEGRAM_CALL_TIMEOUT_MS"
                    )
                });
                metrics::count(signal::INVITE_DEADLINE_TOO_SHORT);
            } else {
                span.in_scope(|| warn!(left_ms, "invocation deadline near: left for redelivery"));
            }
            MessageOutcome::Retry
        };
        results.push((message, outcome));
    }
    Ok(batch_response(results, invite_queue).await)
}

#[cfg(test)]
mod tests;
