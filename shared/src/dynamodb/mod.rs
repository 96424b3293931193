//! The DynamoDB backend of the store ports: `update.rs` the conditional write, `error.rs`
//! an SDK failure as the store's error, `item.rs` the item mapping, `tables.rs` table creation, `store.rs` the stages' writes,
//! `listings.rs` the reconciler's and operator's ports.
//!
//! `processed_payments` items carry the seed's ten columns under their names (flags as
//! BOOL, timestamps as RFC 3339 UTC strings) plus the extras: `state`, `payload_hash`,
//! `private_channel_id`, `subscription_days`, `duration_seconds`, `price_amount`, `price_currency`,
//! `outcome_amount`, `outcome_currency`, and the invite protocol's `invite_lease_token`,
//! `invite_lease_until` and `invite_link_expires_at` (epoch milliseconds, Numbers, so
//! conditions compare them numerically) and `invite_failure_reason`. A missing or NULL
//! flag reads as false; this backend only ever writes BOOL flags.
//! `payment_reviews` items: `payment_id`, `reason`, `ipn` (raw body), `received_at`, the
//! decision, and the notice attributes (`held.rs`).
//! `subscriptions` items: see `subscriptions.rs`; the bot's once-records: `bot.rs`; rate
//! budgets (in the bot table): `budgets.rs`.

mod bot;
mod budgets;
mod catalog;
mod error;
mod held;
mod item;
mod listings;
mod offsets;
mod parts;
mod store;
mod subscriptions;
mod tables;
mod update;
mod watches;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use telepay_core::ipn::PaymentId;
use telepay_core::store::{Fenced, InviteLease, StoreError};

pub use listings::REOPEN_ATTRIBUTES;
pub use tables::{
    DUE_INDEX, DUE_SHARDS, create_bot_table, create_catalog_table, create_subscriptions_table,
    create_tables, create_watches_table,
};

use error::unavailable;
use item::{Item, PENDING_INDEX, PENDING_KEY, PENDING_MARK, number, timestamp};
use update::{ConditionalUpdate, HOLDS_LEASE, Update};

#[derive(Debug, Clone)]
pub struct DynamoDbStore {
    client: Client,
    payments_table: String,
    reviews_table: String,
    /// Only the functions that change subscriptions need it.
    subscriptions_table: Option<String>,
    /// Only the bot webhook and its re-check need it.
    bot_table: Option<String>,
    watches_table: Option<String>,
    /// The catalog's versions (every function that reads the catalog, and the CLI).
    catalog_table: Option<String>,
    /// Items read by Scans and Queries (their ScannedCount): what listings cost.
    items_read: Arc<AtomicU64>,
}

impl DynamoDbStore {
    pub(super) fn bot_table(&self) -> Result<&str, StoreError> {
        self.bot_table.as_deref().ok_or_else(|| {
            StoreError::Unavailable("no bot table configured (TELEPAY_BOT_TABLE)".into())
        })
    }

    pub(super) fn watches_table(&self) -> Result<&str, StoreError> {
        self.watches_table.as_deref().ok_or_else(|| {
            StoreError::Unavailable("no watches table configured (TELEPAY_WATCHES_TABLE)".into())
        })
    }

    pub(super) fn subscriptions_table(&self) -> Result<&str, StoreError> {
        self.subscriptions_table.as_deref().ok_or_else(|| {
            StoreError::Unavailable(
                "no subscriptions table configured (TELEPAY_SUBSCRIPTIONS_TABLE)".into(),
            )
        })
    }

    pub fn new(
        client: Client,
        payments_table: impl Into<String>,
        reviews_table: impl Into<String>,
    ) -> Self {
        Self {
            client,
            payments_table: payments_table.into(),
            reviews_table: reviews_table.into(),
            subscriptions_table: None,
            bot_table: None,
            watches_table: None,
            catalog_table: None,
            items_read: Arc::default(),
        }
    }

    /// The subscriptions table (`TELEPAY_SUBSCRIPTIONS_TABLE`).
    pub fn with_subscriptions_table(mut self, table: impl Into<String>) -> Self {
        self.subscriptions_table = Some(table.into());
        self
    }

    /// The payment watches table (`TELEPAY_WATCHES_TABLE`).
    pub fn with_watches_table(mut self, table: impl Into<String>) -> Self {
        self.watches_table = Some(table.into());
        self
    }

    /// The catalog table (`TELEPAY_CATALOG_TABLE`).
    pub fn with_catalog_table(mut self, table: impl Into<String>) -> Self {
        self.catalog_table = Some(table.into());
        self
    }

    /// The bot's once-records table (`TELEPAY_BOT_TABLE`).
    pub fn with_bot_table(mut self, table: impl Into<String>) -> Self {
        self.bot_table = Some(table.into());
        self
    }

    /// Items read by Scans and Queries so far (summed ScannedCount), by this store and
    /// its clones.
    pub fn items_read(&self) -> u64 {
        self.items_read.load(Ordering::Relaxed)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn payments_table(&self) -> &str {
        &self.payments_table
    }

    /// The subscriptions table, when configured.
    pub fn subscriptions_table_name(&self) -> Option<&str> {
        self.subscriptions_table.as_deref()
    }

    /// Every item of `table` matching `filter` (a Scan, all pages; no filter: all items).
    async fn scan(
        &self,
        table: &str,
        filter: Option<String>,
        values: Vec<(&'static str, AttributeValue)>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start_key = None;
        loop {
            let mut scan = self
                .client
                .scan()
                .table_name(table)
                .consistent_read(true)
                .set_exclusive_start_key(start_key);
            if let Some(filter) = &filter {
                if filter.contains("#state") {
                    scan = scan.expression_attribute_names("#state", "state");
                }
                if filter.contains(":null") {
                    scan = scan.expression_attribute_values(":null", update::null_type());
                }
                scan = scan.filter_expression(filter);
            }
            for (name, value) in &values {
                scan = scan.expression_attribute_values(*name, value.clone());
            }
            let page = scan.send().await.map_err(unavailable)?;
            self.count_read(page.scanned_count);
            items.extend(page.items().iter().cloned());
            start_key = page.last_evaluated_key;
            if start_key.is_none() {
                return Ok(items);
            }
        }
    }

    fn count_read(&self, scanned: i32) {
        let scanned = u64::try_from(scanned).unwrap_or_default();
        self.items_read.fetch_add(scanned, Ordering::Relaxed);
    }

    /// Every item in the pending index, oldest first (`created_before`: only older ones).
    /// A Query on the sparse index: its cost follows what is pending, not the history.
    /// Eventually consistent, as every index read is: see the reconciler's docs.
    async fn query_pending(
        &self,
        created_before: Option<DateTime<Utc>>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start_key = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.payments_table)
                .index_name(PENDING_INDEX)
                .expression_attribute_values(":pending", AttributeValue::S(PENDING_MARK.into()))
                .set_exclusive_start_key(start_key);
            query = match created_before {
                Some(before) => query
                    .key_condition_expression(format!(
                        "{PENDING_KEY} = :pending AND created_at < :before"
                    ))
                    .expression_attribute_values(":before", timestamp(before)),
                None => query.key_condition_expression(format!("{PENDING_KEY} = :pending")),
            };
            let page = query.send().await.map_err(unavailable)?;
            self.count_read(page.scanned_count);
            items.extend(page.items().iter().cloned());
            start_key = page.last_evaluated_key;
            if start_key.is_none() {
                return Ok(items);
            }
        }
    }

    async fn get(&self, table: &str, payment_id: PaymentId) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(table)
            .key("payment_id", number(payment_id.get()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output.item)
    }

    /// A conditional update of one payment record.
    fn update(
        &self,
        payment_id: PaymentId,
        update: &str,
        condition: String,
    ) -> ConditionalUpdate<'_> {
        ConditionalUpdate::new(
            &self.client,
            &self.payments_table,
            payment_id.get(),
            update,
            condition,
        )
    }

    /// An update allowed only while `lease` holds the record.
    async fn fenced(
        &self,
        lease: &InviteLease,
        update: &str,
        values: Vec<(&'static str, AttributeValue)>,
    ) -> Result<Fenced, StoreError> {
        let request = self
            .update(lease.payment_id, update, HOLDS_LEASE.to_owned())
            .value(":token", AttributeValue::S(lease.token.clone()))
            .values(values);
        Ok(match request.send().await? {
            Update::Applied(_) => Fenced::Done,
            Update::Refused(_) => Fenced::LeaseLost,
        })
    }
}
