//! The conditional write every state change is: one UpdateItem on one table, its
//! condition the rule, answering the item after (when asked) or the item that refused.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use telepay_core::store::StoreError;

use super::error::unavailable;
use super::item::{Item, number};

/// Conditions shared by the payments table's writes. Each one that reads an attribute
/// is null-safe the way the item reader is: a missing attribute and a NULL-typed one
/// (what boto3 and most migration tools write for a SQL NULL) both mean "absent", so
/// `attribute_type(x, :null)` stands beside every `attribute_not_exists(x)`. `:null` is
/// bound by the request builders whenever an expression names it.
pub(super) const NOT_YET_STORED: &str = "attribute_not_exists(payment_id)";
/// "accepted": rows from before the state attribute count as accepted.
pub(super) const ACCEPTED: &str =
    "(attribute_not_exists(#state) OR attribute_type(#state, :null) OR #state = :accepted)";
pub(super) const NOT_PROCESSED: &str = "(attribute_not_exists(gcwebhook1_processed) \
     OR attribute_type(gcwebhook1_processed, :null) OR gcwebhook1_processed = :false)";
pub(super) const INVITE_NOT_SENT: &str = "(attribute_not_exists(telegram_invite_sent) \
     OR attribute_type(telegram_invite_sent, :null) OR telegram_invite_sent = :false)";
pub(super) const NO_LIVE_LEASE: &str = "(attribute_not_exists(invite_lease_until) \
     OR attribute_type(invite_lease_until, :null) OR invite_lease_until < :now_ms)";
/// Nothing has touched the record since `:quiet_since` (a seed row may have no time).
pub(super) const QUIET_SINCE: &str = "(attribute_not_exists(updated_at) \
     OR attribute_type(updated_at, :null) OR updated_at < :quiet_since)";
pub(super) const HOLDS_LEASE: &str = "invite_lease_token = :token";
/// A review not decided yet (by an operator, or by its purchase's top-ups).
pub(super) const UNDECIDED: &str =
    "(attribute_not_exists(decision) OR attribute_type(decision, :null))";
/// No stored purchase: a seed row.
pub(super) const NO_PURCHASE: &str =
    "(attribute_not_exists(private_channel_id) OR attribute_type(private_channel_id, :null))";

/// The `:null` operand of `attribute_type`: the type's name.
pub(super) fn null_type() -> AttributeValue {
    AttributeValue::S("NULL".into())
}

/// A conditional UpdateItem's answer: the item after, or the item that refused.
pub(super) enum Update {
    Applied(Option<Item>),
    Refused(Option<Item>),
}

/// One conditional UpdateItem on `table`, keyed by `payment_id`.
pub(super) struct ConditionalUpdate<'a> {
    client: &'a Client,
    table: &'a str,
    payment_id: i64,
    update: String,
    condition: String,
    values: Vec<(&'static str, AttributeValue)>,
    return_new: bool,
}

impl<'a> ConditionalUpdate<'a> {
    pub(super) fn new(
        client: &'a Client,
        table: &'a str,
        payment_id: i64,
        update: &str,
        condition: String,
    ) -> Self {
        Self {
            client,
            table,
            payment_id,
            update: update.to_owned(),
            condition,
            values: Vec::new(),
            return_new: false,
        }
    }

    pub(super) fn value(mut self, name: &'static str, value: AttributeValue) -> Self {
        self.values.push((name, value));
        self
    }

    pub(super) fn values(mut self, values: Vec<(&'static str, AttributeValue)>) -> Self {
        self.values.extend(values);
        self
    }

    /// Answer the item as it is after the write.
    pub(super) fn returning_new(mut self) -> Self {
        self.return_new = true;
        self
    }

    pub(super) async fn send(self) -> Result<Update, StoreError> {
        let uses_state = self.update.contains("#state") || self.condition.contains("#state");
        let uses_null = self.condition.contains(":null");
        let mut request = self
            .client
            .update_item()
            .table_name(self.table)
            .key("payment_id", number(self.payment_id))
            .update_expression(self.update)
            .condition_expression(self.condition)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .return_values(if self.return_new {
                ReturnValue::AllNew
            } else {
                ReturnValue::None
            });
        if uses_state {
            // `state` is a DynamoDB reserved word.
            request = request.expression_attribute_names("#state", "state");
        }
        if uses_null {
            request = request.expression_attribute_values(":null", null_type());
        }
        for (name, value) in self.values {
            request = request.expression_attribute_values(name, value);
        }
        match request.send().await {
            Ok(output) => Ok(Update::Applied(output.attributes)),
            Err(SdkError::ServiceError(failure)) => match failure.err() {
                UpdateItemError::ConditionalCheckFailedException(refusal) => {
                    Ok(Update::Refused(refusal.item().cloned()))
                }
                _ => Err(unavailable(SdkError::ServiceError(failure))),
            },
            Err(other) => Err(unavailable(other)),
        }
    }
}
