//! The subscriptions port on SQL: a versioned row per buyer and private channel. Every
//! write is one statement conditioned on the version it was computed from (an insert
//! that does nothing on a conflict for a first version); the sweeper reads the partial
//! index on `next_due_at_ms`.

use chrono::{DateTime, Utc};
use telepay_core::store::{
    ListedSubscription, StoreError, SubscriptionFilter, SubscriptionStore, UnreadableSubscription,
    Versioned,
};
use telepay_core::subscription::{Ending, Subscription, SubscriptionKey};

use super::dialect::{Bind, SqlDialect};
use super::{SqlPaymentStore, limit, unavailable};

const SELECT: &str = "SELECT user_id, channel_id, version, body FROM subscriptions WHERE user_id = $1 AND channel_id = $2";
const INSERT: &str = "INSERT INTO subscriptions \
     (user_id, channel_id, version, expires_at_ms, next_due_at_ms, ended, body, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     ON CONFLICT (user_id, channel_id) DO NOTHING RETURNING user_id";
const UPDATE: &str = "UPDATE subscriptions SET version = $3, expires_at_ms = $4, \
     next_due_at_ms = $5, ended = $6, body = $7, updated_at = $8 \
     WHERE user_id = $1 AND channel_id = $2 AND version = $9 RETURNING user_id";
const DUE: &str = "SELECT user_id, channel_id, version, body FROM subscriptions \
     WHERE next_due_at_ms IS NOT NULL AND next_due_at_ms <= $1 \
     ORDER BY next_due_at_ms, user_id, channel_id LIMIT $2";
const LIST_ALL: &str = "SELECT user_id, channel_id, version, body FROM subscriptions \
     ORDER BY expires_at_ms, user_id, channel_id LIMIT $1";
const LIST_EXPIRING: &str = "SELECT user_id, channel_id, version, body FROM subscriptions \
     WHERE ended IS NULL AND expires_at_ms > $2 AND expires_at_ms <= $3 \
     ORDER BY expires_at_ms, user_id, channel_id LIMIT $1";
const LIST_EXPIRED: &str = "SELECT user_id, channel_id, version, body FROM subscriptions \
     WHERE ended IS NULL AND expires_at_ms <= $2 \
     ORDER BY expires_at_ms, user_id, channel_id LIMIT $1";
const LIST_FAILED: &str = "SELECT user_id, channel_id, version, body FROM subscriptions \
     WHERE ended = 'removal_failed' ORDER BY expires_at_ms, user_id, channel_id LIMIT $1";

/// A `subscriptions` row as stored.
#[derive(sqlx::FromRow)]
pub struct SubscriptionRow {
    user_id: i64,
    channel_id: i64,
    version: i64,
    body: String,
}

impl SubscriptionRow {
    /// The record, checked against the row's own key and version columns.
    fn into_subscription(self) -> Result<Subscription, StoreError> {
        let corrupt = |detail: String| StoreError::CorruptSubscription {
            user_id: self.user_id,
            channel_id: self.channel_id,
            detail,
        };
        let record: Subscription =
            serde_json::from_str(&self.body).map_err(|e| corrupt(format!("body: {e}")))?;
        let version = u64::try_from(self.version).ok();
        if !record.stored_as(self.user_id, self.channel_id, version) {
            return Err(corrupt("body disagrees with its key or version".into()));
        }
        Ok(record)
    }
}

fn ended_column(record: &Subscription) -> Option<String> {
    record.ended.as_ref().map(|ended| {
        match ended.how {
            Ending::Removed { .. } => "removed",
            Ending::RemovalFailed { .. } => "removal_failed",
        }
        .to_owned()
    })
}

fn version(v: u64) -> Bind {
    Bind::from(i64::try_from(v).unwrap_or(i64::MAX))
}

impl<DB: SqlDialect> SqlPaymentStore<DB> {
    async fn subscriptions(
        &self,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> Result<Vec<ListedSubscription>, StoreError> {
        self.statements.count();
        DB::subscription_rows(&self.pool, sql, binds)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|row| UnreadableSubscription::list(row.into_subscription()))
            .collect()
    }
}

impl<DB: SqlDialect> SubscriptionStore for SqlPaymentStore<DB> {
    async fn get_subscription(
        &self,
        key: SubscriptionKey,
    ) -> Result<Option<Subscription>, StoreError> {
        self.statements.count();
        let binds = vec![key.user_id.get().into(), key.channel_id.into()];
        let mut rows = DB::subscription_rows(&self.pool, SELECT, binds)
            .await
            .map_err(unavailable)?;
        rows.pop()
            .map(SubscriptionRow::into_subscription)
            .transpose()
    }

    async fn write_subscription(&self, next: &Subscription) -> Result<Versioned, StoreError> {
        let body = serde_json::to_string(next).expect("a subscription always serializes");
        let mut binds = vec![
            next.key.user_id.get().into(),
            next.key.channel_id.into(),
            version(next.version),
            next.expires_at.timestamp_millis().into(),
            Bind::Int(next.next_due_at.map(|t| t.timestamp_millis())),
            Bind::Text(ended_column(next)),
            body.as_str().into(),
            next.updated_at.naive_utc().into(),
        ];
        let sql = if next.version <= 1 {
            INSERT
        } else {
            binds.push(version(next.version - 1));
            UPDATE
        };
        Ok(if self.write(sql, binds).await? {
            Versioned::Written
        } else {
            Versioned::Conflict
        })
    }

    async fn due_subscriptions(
        &self,
        now: DateTime<Utc>,
        limit_to: usize,
    ) -> Result<Vec<ListedSubscription>, StoreError> {
        let binds = vec![now.timestamp_millis().into(), limit(limit_to)];
        self.subscriptions(DUE, binds).await
    }

    async fn list_subscriptions(
        &self,
        filter: SubscriptionFilter,
        limit_to: usize,
    ) -> Result<Vec<ListedSubscription>, StoreError> {
        let (sql, mut binds) = match filter {
            SubscriptionFilter::All => (LIST_ALL, vec![]),
            SubscriptionFilter::ExpiringWithin { now, within } => (
                LIST_EXPIRING,
                vec![
                    now.timestamp_millis().into(),
                    (now + within).timestamp_millis().into(),
                ],
            ),
            SubscriptionFilter::Expired { now } => {
                (LIST_EXPIRED, vec![now.timestamp_millis().into()])
            }
            SubscriptionFilter::RemovalFailed => (LIST_FAILED, vec![]),
        };
        binds.insert(0, limit(limit_to));
        self.subscriptions(sql, binds).await
    }
}
