//! Payment watches on DynamoDB: one item per payment in the watches table (hash key
//! `payment_id`): `user_id`, `channel_id`, `last_status`, `first_seen_at_ms`,
//! `next_check_at_ms`, `checks`, and while a check runs `lease_token`, `lease_until_ms`;
//! once settled, `settled`, `settled_at_ms` and `expires_at` (epoch seconds, the table's
//! TTL: DynamoDB deletes a settled watch a month on, so the due Scan stays small). A
//! watch is one PutItem on absence; a claim one UpdateItem whose condition is the rule
//! and which returns the refusing item (no extra read); postpone and settle are
//! UpdateItems fenced on the token.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, TimeDelta, Utc};
use telepay_core::ipn::PaymentId;
use telepay_core::store::watches::{longest_due, newest_under_way};
use telepay_core::store::{
    Fenced, NewWatch, PaymentWatch, PaymentWatchStore, Settlement, StoreError, WatchClaim,
    WatchFound, Watched,
};

use super::DynamoDbStore;
use super::error::unavailable;
use super::item::{number, watch_from_item};

/// How long a settled watch is kept (for operators) before DynamoDB deletes it.
const KEEP_SETTLED: TimeDelta = TimeDelta::days(30);

const DUE: &str = "attribute_not_exists(settled) AND next_check_at_ms <= :now \
     AND (attribute_not_exists(lease_until_ms) OR lease_until_ms <= :now)";
const CLAIMABLE: &str = "attribute_exists(payment_id) AND attribute_not_exists(settled) \
     AND next_check_at_ms <= :now \
     AND (attribute_not_exists(lease_until_ms) OR lease_until_ms <= :now)";
const HELD: &str = "lease_token = :token AND attribute_not_exists(settled)";

impl DynamoDbStore {
    async fn fenced_watch(
        &self,
        payment_id: PaymentId,
        token: &str,
        set: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Fenced, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(self.watches_table()?)
            .key("payment_id", number(payment_id.get()))
            .update_expression(set)
            .condition_expression(HELD)
            .expression_attribute_values(":token", AttributeValue::S(token.to_owned()))
            .expression_attribute_values(":one", number(1));
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

impl PaymentWatchStore for DynamoDbStore {
    async fn watch_payment(&self, watch: &NewWatch) -> Result<Watched, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(self.watches_table()?)
            .item("payment_id", number(watch.payment_id.get()))
            .item("user_id", number(watch.user_id))
            .item("channel_id", number(watch.channel_id))
            .item("last_status", AttributeValue::S(watch.status.clone()))
            .item("first_seen_at_ms", number(watch.seen_at.timestamp_millis()))
            .item(
                "next_check_at_ms",
                number(watch.first_check_at.timestamp_millis()),
            )
            .item("checks", number(0))
            .condition_expression("attribute_not_exists(payment_id)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(Watched::New),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(Watched::Already)
            }
            Err(other) => Err(unavailable(other)),
        }
    }

    async fn due_watches(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PaymentWatch>, StoreError> {
        let items = self
            .scan(
                self.watches_table()?,
                Some(DUE.to_owned()),
                vec![(":now", number(now.timestamp_millis()))],
            )
            .await?;
        let watches = items
            .iter()
            .map(watch_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(longest_due(watches, now, limit))
    }

    async fn claim_watch(&self, claim: &WatchClaim) -> Result<WatchFound, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(self.watches_table()?)
            .key("payment_id", number(claim.payment_id.get()))
            .update_expression("SET lease_token = :token, lease_until_ms = :until")
            .condition_expression(CLAIMABLE)
            .expression_attribute_values(":token", AttributeValue::S(claim.token.clone()))
            .expression_attribute_values(":until", number(claim.lease_until.timestamp_millis()))
            .expression_attribute_values(":now", number(claim.now.timestamp_millis()))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => {
                let item = output.attributes.unwrap_or_default();
                Ok(WatchFound::Claimed(Box::new(watch_from_item(&item)?)))
            }
            Err(SdkError::ServiceError(failure)) => match failure.err() {
                UpdateItemError::ConditionalCheckFailedException(refusal) => {
                    Ok(match refusal.item() {
                        None => WatchFound::NotFound,
                        Some(item) => watch_from_item(item)?.refused_at(claim.now),
                    })
                }
                _ => Err(unavailable(SdkError::ServiceError(failure))),
            },
            Err(other) => Err(unavailable(other)),
        }
    }

    async fn postpone_watch(
        &self,
        payment_id: PaymentId,
        token: &str,
        last_status: &str,
        next_check_at: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        let values = vec![
            (":status", AttributeValue::S(last_status.to_owned())),
            (":next", number(next_check_at.timestamp_millis())),
        ];
        self.fenced_watch(
            payment_id,
            token,
            "SET last_status = :status, next_check_at_ms = :next ADD checks :one \
             REMOVE lease_token, lease_until_ms",
            values,
        )
        .await
    }

    async fn settle_watch(
        &self,
        payment_id: PaymentId,
        token: &str,
        settlement: Settlement,
        last_status: &str,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        let values = vec![
            (
                ":settled",
                AttributeValue::S(settlement.as_str().to_owned()),
            ),
            (":status", AttributeValue::S(last_status.to_owned())),
            (":at", number(now.timestamp_millis())),
            (":expires", number((now + KEEP_SETTLED).timestamp())),
        ];
        self.fenced_watch(
            payment_id,
            token,
            "SET settled = :settled, last_status = :status, settled_at_ms = :at, \
             expires_at = :expires ADD checks :one REMOVE lease_token, lease_until_ms",
            values,
        )
        .await
    }

    async fn watch_of(&self, payment_id: PaymentId) -> Result<Option<PaymentWatch>, StoreError> {
        self.get(self.watches_table()?, payment_id)
            .await?
            .as_ref()
            .map(watch_from_item)
            .transpose()
    }

    async fn under_way_of(
        &self,
        user_id: i64,
        limit: usize,
    ) -> Result<Vec<PaymentWatch>, StoreError> {
        let items = self
            .scan(
                self.watches_table()?,
                Some("user_id = :user AND attribute_not_exists(settled)".to_owned()),
                vec![(":user", number(user_id))],
            )
            .await?;
        let watches = items
            .iter()
            .map(watch_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(newest_under_way(watches, user_id, limit))
    }
}
