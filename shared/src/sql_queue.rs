//! Queues in the store's own SQL database (`queue_messages`, migration 0017), behaving as
//! SQS does for our consumers: a received message is hidden for the visibility timeout
//! and comes back unless deleted by its receipt, its receive count grows with each
//! delivery, after `max_receives` deliveries it moves to the queue's dead-letter queue
//! (`<name>-dlq`), and a send may be delayed. Nothing is lost on restart or crash.
//!
//! One implementation for both dialects; only the receive differs. On Postgres several
//! consumers (several processes, even) receive at once: `FOR UPDATE SKIP LOCKED` hands
//! each row to one of them and lets the others pass over it instead of waiting. SQLite
//! has one writer at a time, so its single `UPDATE … RETURNING` is already exclusive.

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsMessage;
use chrono::Utc;
use sqlx::{Database, Pool};
use telepay_core::ipn::PaymentId;
use telepay_core::queue::{DelayedQueue, MessageQueue, QueueError, RetryDelay, TaskQueue};
use telepay_core::subscription::SubscriptionKey;

use crate::sql::{Bind, SqlDialect};
use crate::sqs_event::sqs_message;

/// How long a received message stays hidden on a server, per queue: twice its consumer's
/// deadline (the in-process consumer has no event source mapping to retry a throttled
/// invoke, which is why SQS needs six times), so a crash's batches come back within
/// minutes. As in `template.yaml`, 5 receives, then the dead-letter queue.
pub const SERVER_QUEUES: [(&str, Duration); 5] = [
    ("processor", Duration::from_secs(60)),
    ("invite", Duration::from_secs(120)),
    ("payout", Duration::from_secs(60)),
    ("lifecycle", Duration::from_secs(300)),
    ("admission", Duration::from_secs(60)),
];

/// The demo's (`make run`): scaled down so a demo retry comes back in seconds.
pub const DEMO_QUEUES: [(&str, Duration); 5] = [
    ("processor", Duration::from_secs(10)),
    ("invite", Duration::from_secs(30)),
    ("payout", Duration::from_secs(10)),
    ("lifecycle", Duration::from_secs(30)),
    ("admission", Duration::from_secs(10)),
];

pub const MAX_RECEIVES: u32 = 5;

/// The queues by their names on the command line.
pub const QUEUE_NAMES: [&str; 5] = ["processor", "invite", "payout", "lifecycle", "admission"];

/// A driver the queue runs on: the store's (`sql::SqlDialect`, whose statements it runs),
/// and its receive statement.
pub trait QueueDialect: SqlDialect {
    /// The receive statement: `$1` hidden until, `$2` queue, `$3` now, `$4` how many,
    /// `$5` the batch's receipt prefix.
    const RECEIVE: &'static str;
}

#[cfg(feature = "sqlite")]
impl QueueDialect for sqlx::Sqlite {
    const RECEIVE: &'static str = "UPDATE queue_messages \
         SET receive_count = receive_count + 1, visible_at_ms = $1, \
             receipt_handle = $5 || message_id \
         WHERE message_id IN (SELECT message_id FROM queue_messages \
             WHERE queue = $2 AND visible_at_ms <= $3 ORDER BY sent_at_ms LIMIT $4) \
         RETURNING message_id, body, receive_count, receipt_handle";
}

#[cfg(feature = "postgres")]
impl QueueDialect for sqlx::Postgres {
    const RECEIVE: &'static str = "WITH picked AS (SELECT message_id FROM queue_messages \
             WHERE queue = $2 AND visible_at_ms <= $3 ORDER BY sent_at_ms LIMIT $4 \
             FOR UPDATE SKIP LOCKED) \
         UPDATE queue_messages AS q \
         SET receive_count = q.receive_count + 1, visible_at_ms = $1, \
             receipt_handle = $5 || q.message_id \
         FROM picked WHERE q.message_id = picked.message_id \
         RETURNING q.message_id, q.body, q.receive_count, q.receipt_handle";
}

fn unavailable(error: sqlx::Error) -> QueueError {
    QueueError::Unavailable(error.to_string())
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// One named queue in the database.
#[derive(Debug)]
pub struct SqlQueue<DB: Database> {
    pool: Pool<DB>,
    name: String,
    visibility: Duration,
    max_receives: u32,
}

impl<DB: Database> Clone for SqlQueue<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            name: self.name.clone(),
            visibility: self.visibility,
            max_receives: self.max_receives,
        }
    }
}

#[cfg(feature = "sqlite")]
pub type SqliteQueue = SqlQueue<sqlx::Sqlite>;
#[cfg(feature = "postgres")]
pub type PostgresQueue = SqlQueue<sqlx::Postgres>;

impl<DB: QueueDialect> SqlQueue<DB> {
    /// One of `settings` (e.g. [`SERVER_QUEUES`]) by name.
    pub fn named(pool: Pool<DB>, name: &str, settings: &[(&str, Duration)]) -> Option<Self> {
        let (_, visibility) = settings.iter().find(|(n, _)| *n == name)?;
        Some(Self::new(pool, name, *visibility, MAX_RECEIVES))
    }

    pub fn new(pool: Pool<DB>, name: &str, visibility: Duration, max_receives: u32) -> Self {
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
        DB::rows_returned(
            &self.pool,
            "UPDATE queue_messages SET queue = $1, receipt_handle = NULL \
             WHERE queue = $2 AND visible_at_ms <= $3 AND receive_count >= $4 \
             RETURNING message_id",
            vec![
                self.dead_letter_name().as_str().into(),
                self.name.as_str().into(),
                now.into(),
                i64::from(self.max_receives).into(),
            ],
        )
        .await
        .map_err(unavailable)?;
        // Each delivery its own receipt: a stale one (the message came back and went to
        // another consumer) then deletes nothing, as in SQS.
        let receipt_prefix = format!("{}:", uuid::Uuid::new_v4().simple());
        let rows = DB::queue_rows(
            &self.pool,
            DB::RECEIVE,
            vec![
                (now + millis(self.visibility)).into(),
                self.name.as_str().into(),
                now.into(),
                i64::try_from(max).unwrap_or(10).into(),
                receipt_prefix.as_str().into(),
            ],
        )
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
        DB::rows_returned(
            &self.pool,
            "DELETE FROM queue_messages WHERE receipt_handle = $1 RETURNING message_id",
            vec![receipt_handle.into()],
        )
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    /// Messages in this queue (visible, delayed or in flight): one read, which also
    /// says the queue is reachable (`/readyz`).
    pub async fn depth(&self) -> Result<u64, QueueError> {
        let counts = DB::numbers(
            &self.pool,
            "SELECT count(*) FROM queue_messages WHERE queue = $1",
            vec![self.name.as_str().into()],
        )
        .await
        .map_err(unavailable)?;
        Ok(counts.first().map_or(0, |n| u64::try_from(*n).unwrap_or(0)))
    }

    /// Bodies waiting in this queue's dead-letter queue, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<(String, String)>, QueueError> {
        let rows = DB::queue_rows(
            &self.pool,
            "SELECT message_id, body, receive_count, '' FROM queue_messages \
             WHERE queue = $1 ORDER BY sent_at_ms",
            vec![self.dead_letter_name().as_str().into()],
        )
        .await
        .map_err(unavailable)?;
        Ok(rows
            .into_iter()
            .map(|(id, body, _, _)| (id, body))
            .collect())
    }

    /// Moves every dead letter back to this queue, with a fresh receive count: one
    /// statement, so a crash moves all or none and duplicates nothing.
    pub async fn redrive(&self) -> Result<u64, QueueError> {
        DB::rows_returned(
            &self.pool,
            "UPDATE queue_messages SET queue = $1, receive_count = 0, visible_at_ms = $2 \
             WHERE queue = $3 RETURNING message_id",
            vec![
                self.name.as_str().into(),
                Utc::now().timestamp_millis().into(),
                self.dead_letter_name().as_str().into(),
            ],
        )
        .await
        .map_err(unavailable)
    }

    /// One message in, visible after `delay`; `payment_id` NULL for a task.
    async fn insert(
        &self,
        payment_id: Option<i64>,
        body: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        let sent = Utc::now().timestamp_millis();
        DB::rows_returned(
            &self.pool,
            "INSERT INTO queue_messages \
             (message_id, queue, body, payment_id, visible_at_ms, sent_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING message_id",
            vec![
                uuid::Uuid::new_v4().to_string().as_str().into(),
                self.name.as_str().into(),
                body.into(),
                Bind::Int(payment_id),
                (sent + millis(delay)).into(),
                sent.into(),
            ],
        )
        .await
        .map_err(unavailable)?;
        Ok(())
    }
}

impl<DB: QueueDialect> MessageQueue for SqlQueue<DB> {
    async fn send(&self, payment_id: PaymentId, body: &str) -> Result<(), QueueError> {
        self.insert(Some(payment_id.get()), body, Duration::ZERO)
            .await
    }
}

impl<DB: QueueDialect> TaskQueue for SqlQueue<DB> {
    async fn send_task(
        &self,
        _subscription: SubscriptionKey,
        body: &str,
    ) -> Result<(), QueueError> {
        self.insert(None, body, Duration::ZERO).await
    }
}

/// A delayed redelivery is a rate limit's (Telegram's 429 `retry_after`), not a failure:
/// the delivery it ends gives its receive back, so a flash sale's waits never walk a
/// message into the dead-letter queue. (SQS counts it.)
impl<DB: QueueDialect> RetryDelay for SqlQueue<DB> {
    async fn delay_redelivery(
        &self,
        receipt_handle: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        DB::rows_returned(
            &self.pool,
            "UPDATE queue_messages SET visible_at_ms = $1, \
             receive_count = CASE WHEN receive_count > 0 THEN receive_count - 1 ELSE 0 END \
             WHERE receipt_handle = $2 RETURNING message_id",
            vec![
                (Utc::now().timestamp_millis() + millis(delay)).into(),
                receipt_handle.into(),
            ],
        )
        .await
        .map_err(unavailable)?;
        Ok(())
    }
}

impl<DB: QueueDialect> DelayedQueue for SqlQueue<DB> {
    async fn send_later(&self, body: &str, delay: Duration) -> Result<(), QueueError> {
        self.insert(None, body, delay).await
    }
}

/// Moves what a SQLite file's queues held before migration 0017 (the local run's own
/// `local_queue_messages` table) into `queue_messages`, once: a `make run` file keeps its
/// queued messages across the upgrade.
#[cfg(feature = "sqlite")]
pub async fn adopt_local_queue_messages(pool: &Pool<sqlx::Sqlite>) -> Result<u64, QueueError> {
    let mut tx = pool.begin().await.map_err(unavailable)?;
    let old: Option<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'local_queue_messages'",
    )
    .fetch_optional(&mut *tx)
    .await
    .map_err(unavailable)?;
    if old.is_none() {
        return Ok(0);
    }
    let moved = sqlx::query(
        "INSERT OR IGNORE INTO queue_messages \
         (message_id, queue, body, payment_id, receive_count, visible_at_ms, receipt_handle, sent_at_ms) \
         SELECT message_id, queue, body, payment_id, receive_count, visible_at_ms, receipt_handle, sent_at_ms \
         FROM local_queue_messages",
    )
    .execute(&mut *tx)
    .await
    .map_err(unavailable)?
    .rows_affected();
    sqlx::query("DROP TABLE local_queue_messages")
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
    tx.commit().await.map_err(unavailable)?;
    Ok(moved)
}
