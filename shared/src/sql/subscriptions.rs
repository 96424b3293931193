//! The subscriptions port on SQL: a versioned row per buyer and private channel. Every
//! write is one statement conditioned on the version it was computed from (an insert
//! that does nothing on a conflict for a first version); the sweeper reads the partial
//! index on `next_due_at_ms`.

use chrono::{DateTime, Utc};
use telepay_core::store::{
    ListedSubscription, StoreError, SubscriptionFilter, SubscriptionStore, UnreadableSubscription,
    Versioned,
};
use telepay_core::subscription::{Subscription, SubscriptionKey};

use super::dialect::{Bind, SqlDialect};
use super::rows::SubscriptionRow;
use super::statements::subscriptions::{
    DUE, INSERT, LIST_ALL, LIST_EXPIRED, LIST_EXPIRING, LIST_FAILED, PARK, SELECT, UPDATE,
};
use super::{SqlStore, limit, unavailable};

fn ended_column(record: &Subscription) -> Option<String> {
    record
        .ended
        .as_ref()
        .map(|ended| ended.how.as_str().to_owned())
}

fn version(v: u64) -> Bind {
    Bind::from(i64::try_from(v).unwrap_or(i64::MAX))
}

impl<DB: SqlDialect> SqlStore<DB> {
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

impl<DB: SqlDialect> SubscriptionStore for SqlStore<DB> {
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

    async fn park_unreadable(
        &self,
        row: &UnreadableSubscription,
        until: DateTime<Utc>,
    ) -> Result<Versioned, StoreError> {
        let Some(stored) = row.version else {
            return Ok(Versioned::Conflict);
        };
        let binds = vec![
            row.user_id.into(),
            row.channel_id.into(),
            version(stored),
            until.timestamp_millis().into(),
        ];
        Ok(if self.write(PARK, binds).await? {
            Versioned::Written
        } else {
            Versioned::Conflict
        })
    }
}
