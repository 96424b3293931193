//! Table creation: `telepay migrate` on DynamoDB, tests and local set-up. In AWS the SAM
//! template owns the tables.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use telepay_core::store::StoreError;

use super::{DynamoDbPaymentStore, unavailable};

impl DynamoDbPaymentStore {
    /// Creates each table that does not exist yet (the `telepay migrate` of DynamoDB).
    pub async fn create_tables_if_missing(&self) -> Result<(), StoreError> {
        for table in [&self.payments_table, &self.reviews_table] {
            match self.client.describe_table().table_name(table).send().await {
                Ok(_) => {}
                Err(SdkError::ServiceError(e)) if e.err().is_resource_not_found_exception() => {
                    create_table(&self.client, table).await?;
                }
                Err(other) => return Err(unavailable(other)),
            }
        }
        Ok(())
    }
}

/// Creates both tables (payment_id Number hash key, on-demand) and waits until they are
/// active.
pub async fn create_tables(
    client: &Client,
    payments_table: &str,
    reviews_table: &str,
) -> Result<(), StoreError> {
    create_table(client, payments_table).await?;
    create_table(client, reviews_table).await
}

async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
    let attribute = AttributeDefinition::builder()
        .attribute_name("payment_id")
        .attribute_type(ScalarAttributeType::N)
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    let key = KeySchemaElement::builder()
        .attribute_name("payment_id")
        .key_type(KeyType::Hash)
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    client
        .create_table()
        .table_name(table)
        .attribute_definitions(attribute)
        .key_schema(key)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .map_err(unavailable)?;
    client
        .wait_until_table_exists()
        .table_name(table)
        .wait(Duration::from_secs(120))
        .await
        .map_err(|e| StoreError::Unavailable(DisplayErrorContext(e).to_string()))?;
    Ok(())
}
