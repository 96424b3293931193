//! Queues kept in the local run's SQLite file, behaving as SQS does for our consumers:
//! a received message is hidden for the visibility timeout and comes back if not deleted,
//! its receive count grows with each delivery, and after `max_receives` deliveries it
//! moves to the queue's dead-letter queue (`<name>-dlq`). Nothing is lost on restart.

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsMessage;
use chrono::Utc;
use sqlx::SqlitePool;
use telepay_core::ipn::PaymentId;
use telepay_core::queue::{MessageQueue, QueueError, RetryDelay, TaskQueue};
use telepay_core::subscription::SubscriptionKey;

use crate::sqs_event::sqs_message;

const CREATE: &str = "
CREATE TABLE IF NOT EXISTS local_queue_messages (
    message_id TEXT PRIMARY KEY,
    queue TEXT NOT NULL,
    body TEXT NOT NULL,
    payment_id BIGINT,
    receive_count INTEGER NOT NULL DEFAULT 0,
    visible_at_ms BIGINT NOT NULL,
    receipt_handle TEXT,
    sent_at_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_local_queue_visible ON local_queue_messages (queue, visible_at_ms);";

/// Creates the queue table in `pool` if it is not there yet.
pub async fn create_local_queues(pool: &SqlitePool) -> Result<(), QueueError> {
    sqlx::raw_sql(CREATE)
        .execute(pool)
        .await
        .map_err(unavailable)?;
    Ok(())
}

fn unavailable(error: sqlx::Error) -> QueueError {
    QueueError::Unavailable(error.to_string())
}

/// One named queue in the SQLite file.
#[derive(Debug, Clone)]
pub struct LocalQueue {
    pool: SqlitePool,
    name: String,
    visibility: Duration,
    max_receives: u32,
}

/// The local run's queues and their settings, the one definition `telepay-local` and
/// the CLI share: as in `template.yaml` (5 receives, then the DLQ), with visibility
/// timeouts scaled down so a demo retry comes back in seconds, not minutes.
pub const LOCAL_QUEUES: [(&str, Duration); 5] = [
    ("processor", Duration::from_secs(10)),
    ("invite", Duration::from_secs(30)),
    ("payout", Duration::from_secs(10)),
    ("lifecycle", Duration::from_secs(30)),
    ("admission", Duration::from_secs(10)),
];
pub const LOCAL_MAX_RECEIVES: u32 = 5;

impl LocalQueue {
    /// One of [`LOCAL_QUEUES`] by name, with its settings.
    pub fn named(pool: SqlitePool, name: &str) -> Option<Self> {
        let (_, visibility) = LOCAL_QUEUES.iter().find(|(n, _)| *n == name)?;
        Some(Self::new(pool, name, *visibility, LOCAL_MAX_RECEIVES))
    }

    pub fn new(pool: SqlitePool, name: &str, visibility: Duration, max_receives: u32) -> Self {
        Self {
            pool,
            name: name.to_owned(),
            visibility,
            max_receives,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn dead_letter_name(&self) -> String {
        format!("{}-dlq", self.name)
    }

    /// Receives up to `max` visible messages, hiding them for the visibility timeout.
    /// Messages already delivered `max_receives` times go to the dead-letter queue instead.
    pub async fn receive(&self, max: usize) -> Result<Vec<SqsMessage>, QueueError> {
        let now = Utc::now().timestamp_millis();
        sqlx::query(
            "UPDATE local_queue_messages SET queue = $1, receipt_handle = NULL \
             WHERE queue = $2 AND visible_at_ms <= $3 AND receive_count >= $4",
        )
        .bind(self.dead_letter_name())
        .bind(&self.name)
        .bind(now)
        .bind(i64::from(self.max_receives))
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        let hidden_until = now + i64::try_from(self.visibility.as_millis()).unwrap_or(i64::MAX);
        let rows: Vec<(String, String, i64, String)> = sqlx::query_as(
            "UPDATE local_queue_messages \
             SET receive_count = receive_count + 1, visible_at_ms = $1, \
                 receipt_handle = lower(hex(randomblob(16))) \
             WHERE message_id IN (SELECT message_id FROM local_queue_messages \
                 WHERE queue = $2 AND visible_at_ms <= $3 ORDER BY sent_at_ms LIMIT $4) \
             RETURNING message_id, body, receive_count, receipt_handle",
        )
        .bind(hidden_until)
        .bind(&self.name)
        .bind(now)
        .bind(i64::try_from(max).unwrap_or(10))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(rows
            .into_iter()
            .map(|(id, body, count, receipt)| {
                sqs_message(id, receipt, body, u32::try_from(count).unwrap_or(u32::MAX))
            })
            .collect())
    }

    /// Deletes a received message (what the event source mapping does on success).
    pub async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        sqlx::query("DELETE FROM local_queue_messages WHERE receipt_handle = $1")
            .bind(receipt_handle)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Bodies waiting in this queue's dead-letter queue, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<(String, String)>, QueueError> {
        sqlx::query_as(
            "SELECT message_id, body FROM local_queue_messages WHERE queue = $1 ORDER BY sent_at_ms",
        )
        .bind(self.dead_letter_name())
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)
    }

    /// Moves every dead letter back to this queue, with a fresh receive count.
    pub async fn redrive(&self) -> Result<u64, QueueError> {
        let moved = sqlx::query(
            "UPDATE local_queue_messages SET queue = $1, receive_count = 0, visible_at_ms = $2 \
             WHERE queue = $3",
        )
        .bind(&self.name)
        .bind(Utc::now().timestamp_millis())
        .bind(self.dead_letter_name())
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(moved.rows_affected())
    }
}

impl LocalQueue {
    /// One message in, visible after `delay`; `payment_id` NULL for a lifecycle task.
    async fn insert(&self, payment_id: Option<i64>, body: &str) -> Result<(), QueueError> {
        self.insert_later(payment_id, body, Duration::ZERO).await
    }

    async fn insert_later(
        &self,
        payment_id: Option<i64>,
        body: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        let sent = Utc::now().timestamp_millis();
        let visible = sent + i64::try_from(delay.as_millis()).unwrap_or(0);
        sqlx::query(
            "INSERT INTO local_queue_messages \
             (message_id, queue, body, payment_id, visible_at_ms, sent_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(&self.name)
        .bind(body)
        .bind(payment_id)
        .bind(visible)
        .bind(sent)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }
}

impl MessageQueue for LocalQueue {
    async fn send(&self, payment_id: PaymentId, body: &str) -> Result<(), QueueError> {
        self.insert(Some(payment_id.get()), body).await
    }
}

impl TaskQueue for LocalQueue {
    async fn send_task(
        &self,
        _subscription: SubscriptionKey,
        body: &str,
    ) -> Result<(), QueueError> {
        self.insert(None, body).await
    }
}

impl RetryDelay for LocalQueue {
    async fn delay_redelivery(
        &self,
        receipt_handle: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        let visible_at =
            Utc::now().timestamp_millis() + i64::try_from(delay.as_millis()).unwrap_or(0);
        sqlx::query("UPDATE local_queue_messages SET visible_at_ms = $1 WHERE receipt_handle = $2")
            .bind(visible_at)
            .bind(receipt_handle)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

impl telepay_core::queue::DelayedQueue for LocalQueue {
    async fn send_later(&self, body: &str, delay: Duration) -> Result<(), QueueError> {
        self.insert_later(None, body, delay).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::SqliteStore;

    async fn queue(path: &std::path::Path, visibility: Duration) -> LocalQueue {
        let store = SqliteStore::open(path).await.unwrap();
        create_local_queues(store.pool()).await.unwrap();
        LocalQueue::new(store.pool().clone(), "processor", visibility, 2)
    }

    fn temp_file(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!(
            "telepay-{name}-{}-{}.sqlite",
            std::process::id(),
            fastrand_suffix()
        ))
    }

    fn fastrand_suffix() -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    }

    fn id(n: i64) -> PaymentId {
        PaymentId::new(n).unwrap()
    }

    #[tokio::test]
    async fn a_received_message_is_hidden_then_returns_with_a_higher_count_then_dead_letters() {
        let q = queue(&temp_file("vis"), Duration::from_millis(100)).await;
        q.send(id(1), "poison").await.unwrap();
        let first = q.receive(10).await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].attributes["ApproximateReceiveCount"], "1");
        assert!(
            q.receive(10).await.unwrap().is_empty(),
            "hidden while in flight"
        );

        tokio::time::sleep(Duration::from_millis(150)).await;
        let second = q.receive(10).await.unwrap();
        assert_eq!(second[0].attributes["ApproximateReceiveCount"], "2");
        assert_ne!(second[0].receipt_handle, first[0].receipt_handle);

        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(
            q.receive(10).await.unwrap().is_empty(),
            "max receives reached: moved"
        );
        assert_eq!(q.dead_letters().await.unwrap()[0].1, "poison");
        assert_eq!(q.redrive().await.unwrap(), 1);
        assert_eq!(
            q.receive(10).await.unwrap()[0].attributes["ApproximateReceiveCount"],
            "1"
        );
    }

    #[tokio::test]
    async fn deleted_messages_are_gone_and_the_rest_survive_a_restart() {
        let path = temp_file("restart");
        let q = queue(&path, Duration::from_secs(30)).await;
        q.send(id(1), "one").await.unwrap();
        q.send(id(2), "two").await.unwrap();
        let batch = q.receive(1).await.unwrap();
        q.delete(batch[0].receipt_handle.as_deref().unwrap())
            .await
            .unwrap();
        drop(q);

        let reopened = queue(&path, Duration::from_secs(30)).await;
        let left = reopened.receive(10).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].body.as_deref(), Some("two"));
    }

    #[tokio::test]
    async fn a_delayed_redelivery_stays_hidden_for_the_delay() {
        let q = queue(&temp_file("delay"), Duration::from_millis(50)).await;
        q.send(id(1), "rate limited").await.unwrap();
        let batch = q.receive(10).await.unwrap();
        q.delay_redelivery(
            batch[0].receipt_handle.as_deref().unwrap(),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(q.receive(10).await.unwrap().is_empty());
    }
}
