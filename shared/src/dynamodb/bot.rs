//! The bot's once-records on DynamoDB: one item per key in the bot table (hash key
//! `once_key`, a String): `lease_token`, `lease_until_ms`, `done`, `result_json`,
//! `keep_until_ms`, and `expires_at` (epoch seconds, the table's TTL attribute, so
//! DynamoDB deletes forgotten records). A claim is one PutItem whose condition is the
//! rule and which returns the refusing item (no extra read); finish and release are
//! UpdateItems fenced on the token.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};
use telepay_core::store::{
    BotStore, Fenced, OnceClaim, OnceFound, OnceKey, OnceRecord, StoreError,
};

use super::DynamoDbStore;
use super::error::unavailable;
use super::item::{Item, number};

const CLAIMABLE: &str = "attribute_not_exists(once_key) OR keep_until_ms <= :now \
     OR (done = :false AND lease_until_ms <= :now)";
const HELD: &str = "lease_token = :token AND done = :false";

impl DynamoDbStore {
    async fn fenced_once(
        &self,
        key: OnceKey,
        token: &str,
        set: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Fenced, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(self.bot_table()?)
            .key("once_key", AttributeValue::S(key.storage_key()))
            .update_expression(set)
            .condition_expression(HELD)
            .expression_attribute_values(":token", AttributeValue::S(token.to_owned()))
            .expression_attribute_values(":false", AttributeValue::Bool(false));
        for (name, value) in values {
            update = update.expression_attribute_values(name, value);
        }
        match update.send().await {
            Ok(_) => Ok(Fenced::Done),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(Fenced::LeaseLost)
            }
            Err(other) => Err(unavailable(other)),
        }
    }
}

fn record_from_item(item: &Item) -> Option<OnceRecord> {
    let ms = |name: &str| match item.get(name) {
        Some(AttributeValue::N(n)) => n
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_millis),
        _ => None,
    };
    Some(OnceRecord {
        done: matches!(item.get("done"), Some(AttributeValue::Bool(true))),
        result: match item.get("result_json") {
            Some(AttributeValue::S(text)) => Some(text.clone()),
            _ => None,
        },
        lease_until: ms("lease_until_ms")?,
        keep_until: ms("keep_until_ms")?,
    })
}

impl BotStore for DynamoDbStore {
    async fn claim_once(&self, key: OnceKey, claim: &OnceClaim) -> Result<OnceFound, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(self.bot_table()?)
            .item("once_key", AttributeValue::S(key.storage_key()))
            .item("lease_token", AttributeValue::S(claim.token.clone()))
            .item(
                "lease_until_ms",
                number(claim.lease_until.timestamp_millis()),
            )
            .item("done", AttributeValue::Bool(false))
            .item("keep_until_ms", number(claim.keep_until.timestamp_millis()))
            .item("expires_at", number(claim.keep_until.timestamp()))
            .condition_expression(CLAIMABLE)
            .expression_attribute_values(":now", number(claim.now.timestamp_millis()))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(OnceFound::Claimed),
            Err(SdkError::ServiceError(failure)) => match failure.err() {
                PutItemError::ConditionalCheckFailedException(refusal) => {
                    let found = refusal
                        .item()
                        .and_then(record_from_item)
                        .map(|record| record.found_at(claim.now));
                    Ok(match found {
                        Some(OnceFound::Claimed) | None => OnceFound::Leased { until: claim.now },
                        Some(found) => found,
                    })
                }
                _ => Err(unavailable(SdkError::ServiceError(failure))),
            },
            Err(other) => Err(unavailable(other)),
        }
    }

    async fn finish_once(
        &self,
        key: OnceKey,
        token: &str,
        result: Option<&str>,
        _now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        match result {
            Some(result) => {
                let values = vec![
                    (":result", AttributeValue::S(result.to_owned())),
                    (":true", AttributeValue::Bool(true)),
                ];
                self.fenced_once(
                    key,
                    token,
                    "SET done = :true, result_json = :result REMOVE lease_token",
                    values,
                )
                .await
            }
            None => {
                let values = vec![(":true", AttributeValue::Bool(true))];
                self.fenced_once(key, token, "SET done = :true REMOVE lease_token", values)
                    .await
            }
        }
    }

    async fn release_once(&self, key: OnceKey, token: &str) -> Result<Fenced, StoreError> {
        let values = vec![(":zero", number(0))];
        self.fenced_once(
            key,
            token,
            "SET lease_until_ms = :zero REMOVE lease_token",
            values,
        )
        .await
    }

    async fn read_once(&self, key: OnceKey) -> Result<Option<OnceRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(self.bot_table()?)
            .key("once_key", AttributeValue::S(key.storage_key()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output.item.as_ref().and_then(record_from_item))
    }

    /// The table's TTL deletes forgotten records: nothing to do here.
    async fn forget_expired(&self, _now: DateTime<Utc>, _limit: usize) -> Result<u64, StoreError> {
        Ok(0)
    }
}
