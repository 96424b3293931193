//! The polling server's update offset on DynamoDB (`telepay serve --aws`): one item in
//! the bot table under the key `offset#telegram` (its once-keys are `update#…`,
//! `invoice#…`: no clash), `next_offset` a Number, no `expires_at` (the table's TTL
//! never takes it). The first advance is a PutItem on the item's absence, every later
//! one an UpdateItem whose condition is the rule (still the value read, and further).

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use telepay_core::store::{OffsetAdvance, StoreError, UpdateOffsetStore};

use super::DynamoDbStore;
use super::error::unavailable;
use super::item::number;

const KEY: &str = "offset#telegram";

impl UpdateOffsetStore for DynamoDbStore {
    async fn update_offset(&self) -> Result<Option<i64>, StoreError> {
        let answer = self
            .client
            .get_item()
            .table_name(self.bot_table()?)
            .key("once_key", AttributeValue::S(KEY.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        match answer.item().and_then(|item| item.get("next_offset")) {
            None => Ok(None),
            Some(AttributeValue::N(n)) => n
                .parse()
                .map(Some)
                .map_err(|_| StoreError::Unavailable(format!("next_offset {n:?} is not a number"))),
            Some(_) => Err(StoreError::Unavailable(
                "next_offset is not a number".into(),
            )),
        }
    }

    async fn advance_update_offset(
        &self,
        seen: Option<i64>,
        next: i64,
    ) -> Result<OffsetAdvance, StoreError> {
        let now = chrono::Utc::now().timestamp_millis();
        let table = self.bot_table()?;
        let key = AttributeValue::S(KEY.into());
        let Some(seen) = seen else {
            let put = self
                .client
                .put_item()
                .table_name(table)
                .item("once_key", key)
                .item("next_offset", number(next))
                .item("updated_at_ms", number(now))
                .condition_expression("attribute_not_exists(once_key)")
                .send()
                .await;
            return match put {
                Ok(_) => Ok(OffsetAdvance::Advanced),
                Err(SdkError::ServiceError(e))
                    if e.err().is_conditional_check_failed_exception() =>
                {
                    Ok(OffsetAdvance::Moved)
                }
                Err(other) => Err(unavailable(other)),
            };
        };
        let update = self
            .client
            .update_item()
            .table_name(table)
            .key("once_key", key)
            .update_expression("SET next_offset = :next, updated_at_ms = :now")
            .condition_expression("next_offset = :seen AND next_offset < :next")
            .expression_attribute_values(":next", number(next))
            .expression_attribute_values(":now", number(now))
            .expression_attribute_values(":seen", number(seen))
            .send()
            .await;
        match update {
            Ok(_) => Ok(OffsetAdvance::Advanced),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(OffsetAdvance::Moved)
            }
            Err(other) => Err(unavailable(other)),
        }
    }
}
