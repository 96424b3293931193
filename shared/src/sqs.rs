//! The SQS adapter for [`MessageQueue`].

use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{DisplayErrorContext, SdkError};
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName};
use telepay_core::ipn::PaymentId;
use telepay_core::queue::{
    DelayedQueue, MessageQueue, QueueError, Redelivery, RetryDelay, TaskQueue,
};
use telepay_core::subscription::SubscriptionKey;

/// Any SQS failure, with the SDK's full context (it never carries a secret).
fn unavailable<E, R>(error: SdkError<E, R>) -> QueueError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    QueueError::Unavailable(DisplayErrorContext(error).to_string())
}

/// One SQS queue, by URL.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
}

impl SqsQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Sends a body as it is (the redrive of a dead letter).
    pub async fn send_raw(&self, body: &str) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Messages in the queue, visible or not (`ApproximateNumberOfMessages` plus
    /// `…NotVisible`): one read, which also says the queue is reachable.
    pub async fn depth(&self) -> Result<u64, QueueError> {
        use aws_sdk_sqs::types::QueueAttributeName as Name;
        let answer = self
            .client
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(Name::ApproximateNumberOfMessages)
            .attribute_names(Name::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(unavailable)?;
        let attributes = answer.attributes.unwrap_or_default();
        let count = |name: Name| {
            attributes
                .get(&name)
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok(count(Name::ApproximateNumberOfMessages)
            + count(Name::ApproximateNumberOfMessagesNotVisible))
    }

    /// Long-polls up to `max` messages, as the Lambda event source mapping does.
    pub async fn receive(
        &self,
        max: i32,
        wait: Duration,
    ) -> Result<Vec<aws_lambda_events::event::sqs::SqsMessage>, QueueError> {
        self.receive_hidden_for(max, wait, None).await
    }

    /// Up to `max` messages left visible: a look, for operators listing a queue.
    pub async fn peek(
        &self,
        max: i32,
    ) -> Result<Vec<aws_lambda_events::event::sqs::SqsMessage>, QueueError> {
        self.receive_hidden_for(max, Duration::from_secs(1), Some(0))
            .await
    }

    /// Receives up to `max` messages, hidden for `visibility_secs` (the queue's own
    /// visibility timeout when `None`).
    pub async fn receive_hidden_for(
        &self,
        max: i32,
        wait: Duration,
        visibility_secs: Option<i32>,
    ) -> Result<Vec<aws_lambda_events::event::sqs::SqsMessage>, QueueError> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max)
            .set_visibility_timeout(visibility_secs)
            .wait_time_seconds(i32::try_from(wait.as_secs()).unwrap_or(20))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let count = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                crate::sqs_event::sqs_message(
                    m.message_id().unwrap_or_default(),
                    m.receipt_handle().unwrap_or_default(),
                    m.body().unwrap_or_default(),
                    count,
                )
            })
            .collect())
    }

    /// Deletes a handled message.
    pub async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

impl SqsQueue {
    /// SendMessage with one attribute naming what the message is about, so consumers
    /// and operators can see its key without parsing the body.
    async fn send_with_key(
        &self,
        body: &str,
        name: &str,
        data_type: &str,
        value: String,
    ) -> Result<(), QueueError> {
        let attribute = MessageAttributeValue::builder()
            .data_type(data_type)
            .string_value(value)
            .build()
            .map_err(|e| QueueError::Unavailable(e.to_string()))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .message_attributes(name, attribute)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

impl MessageQueue for SqsQueue {
    async fn send(&self, payment_id: PaymentId, body: &str) -> Result<(), QueueError> {
        // The dedupe key every consumer uses.
        self.send_with_key(body, "payment_id", "Number", payment_id.to_string())
            .await
    }
}

impl TaskQueue for SqsQueue {
    async fn send_task(&self, subscription: SubscriptionKey, body: &str) -> Result<(), QueueError> {
        let key = format!("{}:{}", subscription.user_id, subscription.channel_id);
        self.send_with_key(body, "subscription", "String", key)
            .await
    }
}

impl RetryDelay for SqsQueue {
    async fn delay_redelivery(
        &self,
        receipt_handle: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        let seconds = i32::try_from(delay.as_secs().max(1)).unwrap_or(i32::MAX);
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// SQS counts every receive, a hidden message's included, so a spam wave's 429s
    /// would walk removals into the dead-letter queue. Instead a copy of the body goes
    /// back with the delay (`DelaySeconds`, at most 15 minutes) and the message in hand
    /// is reported done: the copy starts its receives afresh. (The copy carries the body
    /// only; the key attribute is for people.) Should the report be lost, the original
    /// comes back too, which the consumers' claims make harmless.
    async fn retry_later(
        &self,
        receipt_handle: &str,
        body: &str,
        delay: Duration,
    ) -> Result<Redelivery, QueueError> {
        if delay > MAX_DELAY {
            self.delay_redelivery(receipt_handle, delay).await?;
            return Ok(Redelivery::Hidden);
        }
        self.send_later(body, delay.max(Duration::from_secs(1)))
            .await?;
        Ok(Redelivery::Requeued)
    }
}

/// What SQS's `DelaySeconds` allows: 15 minutes.
const MAX_DELAY: Duration = Duration::from_secs(900);

impl DelayedQueue for SqsQueue {
    async fn send_later(&self, body: &str, delay: Duration) -> Result<(), QueueError> {
        let seconds = i32::try_from(delay.min(MAX_DELAY).as_secs()).unwrap_or(i32::MAX);
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(seconds)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
