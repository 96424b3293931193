//! Table creation: `telepay migrate` on DynamoDB, tests and local set-up. In AWS the SAM
//! template owns the tables.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CreateGlobalSecondaryIndexAction,
    GlobalSecondaryIndex, GlobalSecondaryIndexUpdate, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use telepay_core::store::StoreError;

use super::DynamoDbStore;
use super::error::unavailable;
use super::item::{PENDING_INDEX, PENDING_KEY, PENDING_MARK, record_from_item};
use super::update::ConditionalUpdate;

/// The subscriptions table's sparse index of what is due, by shard.
pub const DUE_INDEX: &str = "DueIndex";
/// Shards of the due index's partition key.
pub const DUE_SHARDS: u32 = 16;

impl DynamoDbStore {
    /// The `telepay migrate` of DynamoDB: creates each missing table, adds the pending
    /// index to a payments table made before it, and marks the pending items it finds
    /// there that carry no index key yet (seed items, items from before the index).
    pub async fn create_tables_if_missing(&self) -> Result<(), StoreError> {
        for (table, pending_index) in [(&self.payments_table, true), (&self.reviews_table, false)] {
            match self.client.describe_table().table_name(table).send().await {
                Ok(described) => {
                    let has_index = described
                        .table()
                        .map(|t| t.global_secondary_indexes())
                        .unwrap_or_default()
                        .iter()
                        .any(|index| index.index_name() == Some(PENDING_INDEX));
                    if pending_index && !has_index {
                        add_pending_index(&self.client, table).await?;
                    }
                }
                Err(SdkError::ServiceError(e)) if e.err().is_resource_not_found_exception() => {
                    create_table(&self.client, table, pending_index).await?;
                }
                Err(other) => return Err(unavailable(other)),
            }
        }
        if self.subscriptions_table.is_some() {
            self.create_subscriptions_table_if_missing().await?;
        }
        if self.bot_table.is_some() {
            self.create_bot_table_if_missing().await?;
        }
        if let Some(table) = &self.watches_table {
            create_if_missing(&self.client, table, create_watches_table).await?;
        }
        if let Some(table) = &self.catalog_table {
            create_if_missing(&self.client, table, create_catalog_table).await?;
        }
        self.backfill_pending_index().await
    }

    /// Gives every pending item without the index key one (a conditional write each, so
    /// a worker finishing it meanwhile wins). Safe to run again.
    async fn backfill_pending_index(&self) -> Result<(), StoreError> {
        let items = self.scan(&self.payments_table, None, Vec::new()).await?;
        for item in &items {
            if item.contains_key(PENDING_KEY) {
                continue;
            }
            // An item this version cannot read goes in too: the reconciler then reports it.
            let payment_id = match record_from_item(item) {
                Ok(record) if !record.is_pending() => continue,
                Ok(record) => record.payment_id.get(),
                Err(StoreError::Corrupt { payment_id, .. }) if payment_id > 0 => payment_id,
                Err(_) => continue,
            };
            ConditionalUpdate::new(
                &self.client,
                &self.payments_table,
                payment_id,
                &format!("SET {PENDING_KEY} = :pending"),
                format!("attribute_exists(payment_id) AND attribute_not_exists({PENDING_KEY})"),
            )
            .value(":pending", AttributeValue::S(PENDING_MARK.into()))
            .send()
            .await?;
        }
        Ok(())
    }
}

/// Creates both tables (payment_id Number hash key, on-demand; the payments table with
/// its pending index) and waits until they are active.
pub async fn create_tables(
    client: &Client,
    payments_table: &str,
    reviews_table: &str,
) -> Result<(), StoreError> {
    create_table(client, payments_table, true).await?;
    create_table(client, reviews_table, false).await
}

pub(super) fn attribute(
    name: &str,
    kind: ScalarAttributeType,
) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(kind)
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}

pub(super) fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}

/// The sparse index of pending payments: only items carrying `pending_shard` are in it,
/// ordered by `created_at`, so finding the overdue reads the pending, not the history.
fn pending_index() -> Result<GlobalSecondaryIndex, StoreError> {
    GlobalSecondaryIndex::builder()
        .index_name(PENDING_INDEX)
        .key_schema(key(PENDING_KEY, KeyType::Hash)?)
        .key_schema(key("created_at", KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}

async fn create_table(
    client: &Client,
    table: &str,
    with_pending_index: bool,
) -> Result<(), StoreError> {
    let mut request = client
        .create_table()
        .table_name(table)
        .attribute_definitions(attribute("payment_id", ScalarAttributeType::N)?)
        .key_schema(key("payment_id", KeyType::Hash)?)
        .billing_mode(BillingMode::PayPerRequest);
    if with_pending_index {
        request = request
            .attribute_definitions(attribute(PENDING_KEY, ScalarAttributeType::S)?)
            .attribute_definitions(attribute("created_at", ScalarAttributeType::S)?)
            .global_secondary_indexes(pending_index()?);
    }
    request.send().await.map_err(unavailable)?;
    wait_for_table(client, table).await?;
    Ok(())
}

async fn add_pending_index(client: &Client, table: &str) -> Result<(), StoreError> {
    let index = pending_index()?;
    let create = CreateGlobalSecondaryIndexAction::builder()
        .index_name(PENDING_INDEX)
        .set_key_schema(Some(index.key_schema().to_vec()))
        .set_projection(index.projection().cloned())
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    client
        .update_table()
        .table_name(table)
        .attribute_definitions(attribute(PENDING_KEY, ScalarAttributeType::S)?)
        .attribute_definitions(attribute("created_at", ScalarAttributeType::S)?)
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder().create(create).build(),
        )
        .send()
        .await
        .map_err(unavailable)?;
    Ok(())
}

/// Waits (up to 2 minutes) until a table just created is ACTIVE.
pub(super) async fn wait_for_table(client: &Client, table: &str) -> Result<(), StoreError> {
    client
        .wait_until_table_exists()
        .table_name(table)
        .wait(Duration::from_secs(120))
        .await
        .map_err(|e| StoreError::Unavailable(DisplayErrorContext(e).to_string()))?;
    Ok(())
}

/// Creates `table` with `create` unless it exists (a table of its own kind: the
/// subscriptions' or the bot's).
pub(super) async fn create_if_missing<'a, F, Fut>(
    client: &'a Client,
    table: &'a str,
    create: F,
) -> Result<(), StoreError>
where
    F: FnOnce(&'a Client, &'a str) -> Fut,
    Fut: std::future::Future<Output = Result<(), StoreError>>,
{
    match client.describe_table().table_name(table).send().await {
        Ok(_) => Ok(()),
        Err(SdkError::ServiceError(e)) if e.err().is_resource_not_found_exception() => {
            create(client, table).await
        }
        Err(other) => Err(unavailable(other)),
    }
}

impl DynamoDbStore {
    /// Creates the bot table with its TTL, if missing.
    pub async fn create_bot_table_if_missing(&self) -> Result<(), StoreError> {
        let table = self.bot_table()?;
        create_if_missing(&self.client, table, create_bot_table).await
    }

    /// Creates the subscriptions table with its due index, if missing.
    pub async fn create_subscriptions_table_if_missing(&self) -> Result<(), StoreError> {
        let table = self.subscriptions_table()?;
        create_if_missing(&self.client, table, create_subscriptions_table).await
    }
}

/// Creates the payment watches table (on-demand, hash key `payment_id`) with
/// `expires_at` as its TTL (settled watches are deleted a month on), and waits.
pub async fn create_watches_table(client: &Client, table: &str) -> Result<(), StoreError> {
    create_expiring_table(client, table, "payment_id", ScalarAttributeType::N).await
}

/// Creates the bot table (on-demand) with `expires_at` as its TTL, and waits.
pub async fn create_bot_table(client: &Client, table: &str) -> Result<(), StoreError> {
    create_expiring_table(client, table, "once_key", ScalarAttributeType::S).await
}

/// An on-demand table keyed by `hash_key` alone, whose items expire at `expires_at`.
async fn create_expiring_table(
    client: &Client,
    table: &str,
    hash_key: &str,
    key_type: ScalarAttributeType,
) -> Result<(), StoreError> {
    client
        .create_table()
        .table_name(table)
        .attribute_definitions(attribute(hash_key, key_type)?)
        .key_schema(key(hash_key, KeyType::Hash)?)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .map_err(unavailable)?;
    wait_for_table(client, table).await?;
    expire_items(client, table).await
}

/// Makes `expires_at` (epoch seconds) the table's TTL attribute.
async fn expire_items(client: &Client, table: &str) -> Result<(), StoreError> {
    let ttl = TimeToLiveSpecification::builder()
        .attribute_name("expires_at")
        .enabled(true)
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(unavailable)?;
    Ok(())
}

/// Creates the subscriptions table and its sparse due index (on-demand), and waits.
pub async fn create_subscriptions_table(client: &Client, table: &str) -> Result<(), StoreError> {
    let due_index = GlobalSecondaryIndex::builder()
        .index_name(DUE_INDEX)
        .key_schema(key("due_shard", KeyType::Hash)?)
        .key_schema(key("next_due_at_ms", KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    client
        .create_table()
        .table_name(table)
        .attribute_definitions(attribute("user_id", ScalarAttributeType::N)?)
        .attribute_definitions(attribute("channel_id", ScalarAttributeType::N)?)
        .attribute_definitions(attribute("due_shard", ScalarAttributeType::N)?)
        .attribute_definitions(attribute("next_due_at_ms", ScalarAttributeType::N)?)
        .key_schema(key("user_id", KeyType::Hash)?)
        .key_schema(key("channel_id", KeyType::Range)?)
        .global_secondary_indexes(due_index)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .map_err(unavailable)?;
    wait_for_table(client, table).await?;
    Ok(())
}

/// Creates the catalog table (on-demand; hash key `catalog`, range key `version`), and
/// waits.
pub async fn create_catalog_table(client: &Client, table: &str) -> Result<(), StoreError> {
    client
        .create_table()
        .table_name(table)
        .attribute_definitions(attribute("catalog", ScalarAttributeType::S)?)
        .attribute_definitions(attribute("version", ScalarAttributeType::N)?)
        .key_schema(key("catalog", KeyType::Hash)?)
        .key_schema(key("version", KeyType::Range)?)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .map_err(unavailable)?;
    wait_for_table(client, table).await
}
