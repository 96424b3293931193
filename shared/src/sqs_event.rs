//! SQS events shaped as the Lambda event source mapping delivers them, for hosts that
//! call the consumer handlers themselves (the local runner, tests).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use lambda_runtime::{Context, LambdaEvent};

/// One message as Lambda hands it over: id, receipt handle, body, receive count.
pub fn sqs_message(
    message_id: impl Into<String>,
    receipt_handle: impl Into<String>,
    body: impl Into<String>,
    receive_count: u32,
) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(message_id.into());
    message.receipt_handle = Some(receipt_handle.into());
    message.body = Some(body.into());
    message
        .attributes
        .insert("ApproximateReceiveCount".into(), receive_count.to_string());
    message.event_source = Some("aws:sqs".into());
    message
}

/// A batch event for an invocation that must finish within `time_left`.
pub fn sqs_batch(records: Vec<SqsMessage>, time_left: Duration) -> LambdaEvent<SqsEvent> {
    let mut event = SqsEvent::default();
    event.records = records;
    let deadline = SystemTime::now() + time_left;
    let mut context = Context::default();
    context.deadline = deadline
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    context.request_id = format!("local-{}", context.deadline);
    LambdaEvent::new(event, context)
}
