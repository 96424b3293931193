//! The catalog's versions on DynamoDB: one item per version in the catalog table, all in
//! one partition (hash key `catalog`, always `"catalog"`; range key `version`, a
//! Number): `body` (the checked JSON), `applied_at_ms`, `note`. An apply is one PutItem
//! on the version's absence; the newest is one Query of the partition, newest first,
//! limit 1 (strongly consistent: an apply is seen by the next refresh). A catalog item is
//! a few KB; DynamoDB's item limit is 400 KB.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::DateTime;
use telepay_core::store::{CatalogApplied, CatalogStore, StoreError, StoredCatalog};

use super::DynamoDbStore;
use super::error::unavailable;
use super::item::{Item, number};

const PARTITION: &str = "catalog";

impl DynamoDbStore {
    pub(super) fn catalog_table(&self) -> Result<&str, StoreError> {
        self.catalog_table.as_deref().ok_or_else(|| {
            StoreError::Unavailable("no catalog table configured (TELEPAY_CATALOG_TABLE)".into())
        })
    }

    /// Whether this store was given a catalog table.
    pub fn holds_catalog(&self) -> bool {
        self.catalog_table.is_some()
    }

    async fn newest_catalogs(&self, limit: i32) -> Result<Vec<StoredCatalog>, StoreError> {
        let answer = self
            .client
            .query()
            .table_name(self.catalog_table()?)
            .key_condition_expression("catalog = :catalog")
            .expression_attribute_values(":catalog", AttributeValue::S(PARTITION.into()))
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(limit)
            .send()
            .await
            .map_err(unavailable)?;
        answer.items().iter().map(catalog_from_item).collect()
    }
}

impl CatalogStore for DynamoDbStore {
    async fn latest_catalog(&self) -> Result<Option<StoredCatalog>, StoreError> {
        Ok(self.newest_catalogs(1).await?.into_iter().next())
    }

    async fn catalog_version(&self, version: u32) -> Result<Option<StoredCatalog>, StoreError> {
        let answer = self
            .client
            .get_item()
            .table_name(self.catalog_table()?)
            .key("catalog", AttributeValue::S(PARTITION.into()))
            .key("version", number(version))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        answer.item().map(catalog_from_item).transpose()
    }

    async fn apply_catalog(&self, catalog: &StoredCatalog) -> Result<CatalogApplied, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(self.catalog_table()?)
            .set_item(Some(item_from_catalog(catalog)))
            .condition_expression("attribute_not_exists(version)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(CatalogApplied::Applied),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(CatalogApplied::VersionTaken)
            }
            Err(other) => Err(unavailable(other)),
        }
    }

    async fn catalog_history(&self, limit: usize) -> Result<Vec<StoredCatalog>, StoreError> {
        let limit = i32::try_from(limit.max(1)).unwrap_or(i32::MAX);
        self.newest_catalogs(limit).await
    }
}

fn item_from_catalog(catalog: &StoredCatalog) -> Item {
    let mut item = Item::new();
    item.insert("catalog".into(), AttributeValue::S(PARTITION.into()));
    item.insert("version".into(), number(catalog.version));
    item.insert("body".into(), AttributeValue::S(catalog.body.clone()));
    item.insert(
        "applied_at_ms".into(),
        number(catalog.applied_at.timestamp_millis()),
    );
    item.insert("note".into(), AttributeValue::S(catalog.note.clone()));
    item
}

fn catalog_from_item(item: &Item) -> Result<StoredCatalog, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt {
        payment_id: 0,
        detail: format!("catalog item: {what}"),
    };
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(s)) => Ok(s.clone()),
        _ => Err(corrupt(&format!("{name} is missing or not a string"))),
    };
    let number = |name: &str| match item.get(name) {
        Some(AttributeValue::N(n)) => n
            .parse::<i64>()
            .map_err(|_| corrupt(&format!("{name} is not a number"))),
        _ => Err(corrupt(&format!("{name} is missing or not a number"))),
    };
    Ok(StoredCatalog {
        version: u32::try_from(number("version")?)
            .map_err(|_| corrupt("version is out of range"))?,
        body: text("body")?,
        applied_at: DateTime::from_timestamp_millis(number("applied_at_ms")?)
            .ok_or_else(|| corrupt("applied_at_ms is out of range"))?,
        note: text("note").unwrap_or_default(),
    })
}
