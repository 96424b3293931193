//! The queue backend chosen at run time, beside the store's: SQS by URL in AWS, or the
//! server's queues in its own database (`telepay serve`, `make run`): always on SQLite,
//! and on Postgres when no queue URL is set. The operator's CLI writes to and redrives
//! them.

use std::time::Duration;

use telepay_core::ipn::PaymentId;
use telepay_core::queue::{MessageQueue, QueueError, TaskQueue};
use telepay_core::subscription::SubscriptionKey;

use crate::config::{
    ADMISSION_QUEUE_URL, ConfigError, Environment, INVITE_QUEUE_URL, LIFECYCLE_QUEUE_URL,
    PAYOUT_QUEUE_URL, PROCESSOR_QUEUE_URL,
};
use crate::sql_queue::{
    PostgresQueue, SERVER_QUEUES, SqlQueue, SqliteQueue, adopt_local_queue_messages,
};
use crate::sqs::SqsQueue;
use crate::store::AnyStore;

pub use crate::sql_queue::QUEUE_NAMES;

pub enum AnyQueue {
    Sqs {
        queue: SqsQueue,
        dead_letters: Option<SqsQueue>,
    },
    Sqlite(SqliteQueue),
    Postgres(PostgresQueue),
}

impl MessageQueue for AnyQueue {
    async fn send(&self, payment_id: PaymentId, body: &str) -> Result<(), QueueError> {
        match self {
            Self::Sqs { queue, .. } => queue.send(payment_id, body).await,
            Self::Sqlite(queue) => queue.send(payment_id, body).await,
            Self::Postgres(queue) => queue.send(payment_id, body).await,
        }
    }
}

impl TaskQueue for AnyQueue {
    async fn send_task(&self, subscription: SubscriptionKey, body: &str) -> Result<(), QueueError> {
        match self {
            Self::Sqs { queue, .. } => queue.send_task(subscription, body).await,
            Self::Sqlite(queue) => queue.send_task(subscription, body).await,
            Self::Postgres(queue) => queue.send_task(subscription, body).await,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenQueueError {
    #[error("unknown queue {0:?}: one of processor, invite, payout, lifecycle, admission")]
    UnknownQueue(String),
    #[error("set TELEPAY_{0}_DLQ_URL to use the dead-letter queue")]
    NoDeadLetterQueue(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Opens queue `name` for the configured backend. SQS needs `TELEPAY_<NAME>_QUEUE_URL`
/// (and `TELEPAY_<NAME>_DLQ_URL` for the dlq commands).
pub async fn open_queue(
    name: &str,
    store: &AnyStore,
    env: &impl Environment,
    sqs: impl FnOnce() -> aws_sdk_sqs::Client,
) -> Result<AnyQueue, OpenQueueError> {
    let variable = match name {
        "processor" => PROCESSOR_QUEUE_URL,
        "invite" => INVITE_QUEUE_URL,
        "payout" => PAYOUT_QUEUE_URL,
        "lifecycle" => LIFECYCLE_QUEUE_URL,
        "admission" => ADMISSION_QUEUE_URL,
        other => return Err(OpenQueueError::UnknownQueue(other.to_owned())),
    };
    let unknown = || OpenQueueError::UnknownQueue(name.to_owned());
    match store {
        AnyStore::Sqlite(store) => {
            // A file from before migration 0017 keeps what its queues held.
            adopt_local_queue_messages(store.pool()).await?;
            let queue = SqlQueue::named(store.pool().clone(), name, &SERVER_QUEUES);
            return Ok(AnyQueue::Sqlite(queue.ok_or_else(unknown)?));
        }
        // A server on Postgres (`telepay serve`) keeps its queues in the database; the
        // Lambda chain on Postgres names its SQS queues.
        AnyStore::Postgres(store) if env.get(variable).is_none_or(|u| u.is_empty()) => {
            let queue = SqlQueue::named(store.pool().clone(), name, &SERVER_QUEUES);
            return Ok(AnyQueue::Postgres(queue.ok_or_else(unknown)?));
        }
        _ => {}
    }
    let client = sqs();
    let url = env.required(variable)?;
    let dlq_variable = variable.replace("_QUEUE_URL", "_DLQ_URL");
    let dead_letters = env
        .get(&dlq_variable)
        .filter(|u| !u.is_empty())
        .map(|u| SqsQueue::new(client.clone(), u));
    Ok(AnyQueue::Sqs {
        queue: SqsQueue::new(client, url),
        dead_letters,
    })
}

fn dead_letters(rows: Vec<(String, String)>) -> Vec<DeadLetter> {
    rows.into_iter()
        .map(|(message_id, body)| DeadLetter { message_id, body })
        .collect()
}

/// One dead letter: its id and body.
pub struct DeadLetter {
    pub message_id: String,
    pub body: String,
}

impl AnyQueue {
    fn sqs_dead_letters(&self, name: &str) -> Result<&SqsQueue, OpenQueueError> {
        match self {
            Self::Sqs {
                dead_letters: Some(dlq),
                ..
            } => Ok(dlq),
            _ => Err(OpenQueueError::NoDeadLetterQueue(name.to_uppercase())),
        }
    }

    /// Messages waiting in the dead-letter queue (SQS: up to 10 per look, left visible).
    pub async fn dead_letters(&self, name: &str) -> Result<Vec<DeadLetter>, OpenQueueError> {
        match self {
            Self::Sqlite(queue) => Ok(dead_letters(queue.dead_letters().await?)),
            Self::Postgres(queue) => Ok(dead_letters(queue.dead_letters().await?)),
            Self::Sqs { .. } => {
                let dlq = self.sqs_dead_letters(name)?;
                let messages = dlq.peek(10).await?;
                Ok(messages
                    .into_iter()
                    .map(|m| DeadLetter {
                        message_id: m.message_id.unwrap_or_default(),
                        body: m.body.unwrap_or_default(),
                    })
                    .collect())
            }
        }
    }

    /// Moves every dead letter back to its queue; how many moved.
    pub async fn redrive(&self, name: &str) -> Result<u64, OpenQueueError> {
        match self {
            Self::Sqlite(queue) => Ok(queue.redrive().await?),
            Self::Postgres(queue) => Ok(queue.redrive().await?),
            Self::Sqs { queue, .. } => {
                let dlq = self.sqs_dead_letters(name)?;
                let mut moved = 0;
                loop {
                    let batch = dlq.receive(10, Duration::from_secs(1)).await?;
                    if batch.is_empty() {
                        return Ok(moved);
                    }
                    for message in batch {
                        let body = message.body.unwrap_or_default();
                        // Send first, then delete: a crash in between duplicates, never loses.
                        queue.send_raw(&body).await?;
                        dlq.delete(message.receipt_handle.as_deref().unwrap_or_default())
                            .await?;
                        moved += 1;
                    }
                }
            }
        }
    }
}

impl telepay_core::queue::DelayedQueue for AnyQueue {
    async fn send_later(&self, body: &str, delay: Duration) -> Result<(), QueueError> {
        match self {
            Self::Sqs { queue, .. } => queue.send_later(body, delay).await,
            Self::Sqlite(queue) => queue.send_later(body, delay).await,
            Self::Postgres(queue) => queue.send_later(body, delay).await,
        }
    }
}
