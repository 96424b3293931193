//! Rate budgets on DynamoDB: one item per budget and window in the bot table, under the
//! key `budget#<key>#<window start>` (its once-keys are `update#…`, `invoice#…`: no
//! clash), `spent` a Number and `expires_at` the table's TTL. One UpdateItem counts and
//! decides: `ADD spent 1` on the condition that the window's count is below the limit
//! (or there is none yet); a refusal is the limit reached. A writer on an older window
//! counts in that window's own item, which is already past or soon expired.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use telepay_core::store::{BudgetKey, BudgetSpend, BudgetWindow, RateBudgetStore, StoreError};

use super::DynamoDbStore;
use super::error::unavailable;
use super::item::number;

impl RateBudgetStore for DynamoDbStore {
    async fn spend_budget(
        &self,
        key: BudgetKey,
        window: BudgetWindow,
        limit: u32,
    ) -> Result<BudgetSpend, StoreError> {
        let item_key = format!("budget#{}#{}", key.storage_key(), window.start.timestamp());
        let update = self
            .client
            .update_item()
            .table_name(self.bot_table()?)
            .key("once_key", AttributeValue::S(item_key))
            .update_expression("ADD spent :one SET expires_at = :expires")
            .condition_expression("attribute_not_exists(spent) OR spent < :limit")
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":limit", number(limit))
            .expression_attribute_values(":expires", number(window.keep_until.timestamp()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match update {
            Ok(answer) => {
                let used = answer
                    .attributes()
                    .and_then(|item| item.get("spent"))
                    .and_then(|value| value.as_n().ok())
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| StoreError::Unavailable("spent is not a number".into()))?;
                Ok(BudgetSpend::Spent { used })
            }
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(BudgetSpend::Exhausted)
            }
            Err(other) => Err(unavailable(other)),
        }
    }
}
