//! The subscriptions port on DynamoDB. One item per buyer and private channel (hash key
//! `user_id`, range key `channel_id`, Numbers): `version`, `expires_at_ms`, `ended`,
//! `body` (the record as JSON), `updated_at`, and the due index's keys, `due_shard`
//! (0..16, fixed per subscription) and `next_due_at_ms`, the latter removed when
//! nothing is pending. Every write is one PutItem conditioned on the version it was
//! computed from. The sweeper queries the sparse `DueIndex` (`due_shard`,
//! `next_due_at_ms`) shard by shard: its cost follows the work due, never the history,
//! and a burst of expiries spreads over 16 partitions.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use telepay_core::store::{
    ListedSubscription, StoreError, SubscriptionFilter, SubscriptionStore, UnreadableSubscription,
    Versioned,
};
use telepay_core::subscription::{Subscription, SubscriptionKey};

use super::DynamoDbStore;
use super::error::unavailable;
use super::item::{Item, number, timestamp};
use super::tables::{DUE_INDEX, DUE_SHARDS};

impl DynamoDbStore {
    /// Every item a Query of one due shard finds at or before `now`, soonest first.
    async fn query_due_shard(
        &self,
        table: &str,
        shard: u32,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start_key = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(table)
                .index_name(DUE_INDEX)
                .key_condition_expression("due_shard = :shard AND next_due_at_ms <= :now")
                .expression_attribute_values(":shard", number(shard))
                .expression_attribute_values(":now", number(now.timestamp_millis()))
                .limit(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000))
                .set_exclusive_start_key(start_key)
                .send()
                .await
                .map_err(unavailable)?;
            self.count_read(page.scanned_count);
            items.extend(page.items().iter().cloned());
            start_key = page.last_evaluated_key;
            if start_key.is_none() || items.len() >= limit {
                return Ok(items);
            }
        }
    }
}

fn corrupt(
    user_id: i64,
    channel_id: i64,
    version: Option<u64>,
    detail: impl Into<String>,
) -> StoreError {
    StoreError::CorruptSubscription {
        user_id,
        channel_id,
        version,
        detail: detail.into(),
    }
}

fn item_from_subscription(record: &Subscription) -> Item {
    let mut item = Item::new();
    item.insert("user_id".into(), number(record.key.user_id.get()));
    item.insert("channel_id".into(), number(record.key.channel_id));
    item.insert("version".into(), number(record.version));
    item.insert(
        "expires_at_ms".into(),
        number(record.expires_at.timestamp_millis()),
    );
    item.insert("due_shard".into(), number(record.key.shard(DUE_SHARDS)));
    if let Some(due) = record.next_due_at {
        item.insert("next_due_at_ms".into(), number(due.timestamp_millis()));
    }
    if let Some(ended) = &record.ended {
        item.insert("ended".into(), AttributeValue::S(ended.how.as_str().into()));
    }
    item.insert(
        "body".into(),
        AttributeValue::S(serde_json::to_string(record).expect("a subscription serializes")),
    );
    item.insert("updated_at".into(), timestamp(record.updated_at));
    item
}

fn subscription_from_item(item: &Item) -> Result<Subscription, StoreError> {
    let number_of = |name: &str| -> Option<i64> {
        match item.get(name) {
            Some(AttributeValue::N(n)) => n.parse().ok(),
            _ => None,
        }
    };
    let user_id = number_of("user_id").unwrap_or_default();
    let channel_id = number_of("channel_id").unwrap_or_default();
    let version = number_of("version").and_then(|v| u64::try_from(v).ok());
    let body = match item.get("body") {
        Some(AttributeValue::S(body)) => body,
        _ => return Err(corrupt(user_id, channel_id, version, "no body")),
    };
    let record: Subscription = serde_json::from_str(body)
        .map_err(|e| corrupt(user_id, channel_id, version, format!("body: {e}")))?;
    if !record.stored_as(user_id, channel_id, version) {
        return Err(corrupt(
            user_id,
            channel_id,
            version,
            "body disagrees with its key or version",
        ));
    }
    Ok(record)
}

impl SubscriptionStore for DynamoDbStore {
    async fn get_subscription(
        &self,
        key: SubscriptionKey,
    ) -> Result<Option<Subscription>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(self.subscriptions_table()?)
            .key("user_id", number(key.user_id.get()))
            .key("channel_id", number(key.channel_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        output.item.as_ref().map(subscription_from_item).transpose()
    }

    async fn write_subscription(&self, next: &Subscription) -> Result<Versioned, StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(self.subscriptions_table()?)
            .set_item(Some(item_from_subscription(next)));
        put = if next.version <= 1 {
            put.condition_expression("attribute_not_exists(user_id)")
        } else {
            put.condition_expression("version = :expected")
                .expression_attribute_values(":expected", number(next.version - 1))
        };
        match put.send().await {
            Ok(_) => Ok(Versioned::Written),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(Versioned::Conflict)
            }
            Err(other) => Err(unavailable(other)),
        }
    }

    async fn due_subscriptions(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ListedSubscription>, StoreError> {
        let table = self.subscriptions_table()?;
        let mut due = Vec::new();
        for shard in 0..DUE_SHARDS {
            due.extend(self.query_due_shard(table, shard, now, limit).await?);
        }
        let due_at = |item: &Item| match item.get("next_due_at_ms") {
            Some(AttributeValue::N(n)) => n.parse::<i64>().unwrap_or(i64::MIN),
            _ => i64::MIN,
        };
        due.sort_by_key(due_at);
        due.iter()
            .take(limit)
            .map(|item| UnreadableSubscription::list(subscription_from_item(item)))
            .collect()
    }

    async fn list_subscriptions(
        &self,
        filter: SubscriptionFilter,
        limit: usize,
    ) -> Result<Vec<ListedSubscription>, StoreError> {
        let table = self.subscriptions_table()?.to_owned();
        let (expression, values): (Option<&str>, Vec<(&'static str, AttributeValue)>) = match filter
        {
            SubscriptionFilter::All => (None, vec![]),
            SubscriptionFilter::ExpiringWithin { now, within } => (
                Some(
                    "attribute_not_exists(ended) AND expires_at_ms > :now AND expires_at_ms <= :until",
                ),
                vec![
                    (":now", number(now.timestamp_millis())),
                    (":until", number((now + within).timestamp_millis())),
                ],
            ),
            SubscriptionFilter::Expired { now } => (
                Some("attribute_not_exists(ended) AND expires_at_ms <= :now"),
                vec![(":now", number(now.timestamp_millis()))],
            ),
            SubscriptionFilter::RemovalFailed => (
                Some("ended = :failed"),
                vec![(":failed", AttributeValue::S("removal_failed".into()))],
            ),
        };
        let items = self
            .scan(&table, expression.map(str::to_owned), values)
            .await?;
        let mut listed: Vec<ListedSubscription> = items
            .iter()
            .map(|item| UnreadableSubscription::list(subscription_from_item(item)))
            .collect::<Result<_, _>>()?;
        listed.sort_by_key(|row| match row {
            Ok(record) => (
                0,
                record.expires_at.timestamp_millis(),
                record.key.user_id.get(),
            ),
            Err(unreadable) => (1, 0, unreadable.user_id),
        });
        listed.truncate(limit);
        Ok(listed)
    }

    async fn park_unreadable(
        &self,
        row: &UnreadableSubscription,
        until: DateTime<Utc>,
    ) -> Result<Versioned, StoreError> {
        let Some(stored) = row.version else {
            return Ok(Versioned::Conflict);
        };
        let parked = self
            .client
            .update_item()
            .table_name(self.subscriptions_table()?)
            .key("user_id", number(row.user_id))
            .key("channel_id", number(row.channel_id))
            .update_expression("SET next_due_at_ms = :until")
            .condition_expression("version = :stored")
            .expression_attribute_values(":until", number(until.timestamp_millis()))
            .expression_attribute_values(":stored", number(stored))
            .send()
            .await;
        match parked {
            Ok(_) => Ok(Versioned::Written),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(Versioned::Conflict)
            }
            Err(other) => Err(unavailable(other)),
        }
    }
}
