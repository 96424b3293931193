//! The stages' writes on DynamoDB (ingress, processor, invite). Every state change is
//! one conditional write ([`ConditionalUpdate`] or a conditional PutItem).

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};
use telepay_core::ipn::PaymentId;
use telepay_core::payment::{PaymentReview, ProcessedPayment, RecordState};
use telepay_core::store::{
    ClaimOutcome, Fenced, Held, IngressStore, InviteClaim, InviteCompletion, InviteLease,
    InviteStore, ProcessedMark, ProcessingStart, ProcessorStore, Recorded, StoreError,
    UnreadableRow,
};

use super::DynamoDbStore;
use super::error::unavailable;
use super::item::{item_from_record, number, record_from_item, timestamp};
use super::update::{
    ACCEPTED, INVITE_NOT_SENT, NO_LIVE_LEASE, NOT_PROCESSED, NOT_YET_STORED, Update,
};

impl DynamoDbStore {
    /// The invite is done: sent (plus whatever `also_set` records about how), the lease
    /// cleared, if `lease` still holds.
    async fn complete(
        &self,
        lease: &InviteLease,
        now: DateTime<Utc>,
        also_set: &str,
    ) -> Result<Fenced, StoreError> {
        let update = format!(
            "SET telegram_invite_sent = :true, telegram_invite_sent_at = :now, updated_at = :now{also_set} \
             REMOVE invite_lease_token, invite_lease_until"
        );
        let values = vec![
            (":true", AttributeValue::Bool(true)),
            (":now", timestamp(now)),
        ];
        self.fenced(lease, &update, values).await
    }
}

impl IngressStore for DynamoDbStore {
    async fn record_accepted(&self, record: &ProcessedPayment) -> Result<Recorded, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.payments_table)
            .set_item(Some(item_from_record(record)))
            .condition_expression(NOT_YET_STORED)
            // A duplicate gets the stored item back with the refusal: no extra read.
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Recorded::New),
            Err(SdkError::ServiceError(failure)) => match failure.err() {
                PutItemError::ConditionalCheckFailedException(refusal) => {
                    let stored = refusal.item().ok_or_else(|| StoreError::Corrupt {
                        payment_id: record.payment_id.get(),
                        detail: "condition failed but no item came back".into(),
                    })?;
                    Ok(Recorded::Existing(Box::new(record_from_item(stored)?)))
                }
                _ => Err(unavailable(SdkError::ServiceError(failure))),
            },
            Err(other) => Err(unavailable(other)),
        }
    }

    async fn hold_for_review(&self, review: &PaymentReview) -> Result<Held, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.reviews_table)
            .item("payment_id", number(review.payment_id.get()))
            .item("reason", AttributeValue::S(review.reason.as_str().into()))
            .item("ipn", AttributeValue::S(review.ipn.clone()))
            .item("received_at", timestamp(review.received_at))
            .condition_expression(NOT_YET_STORED)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Held::New),
            Err(SdkError::ServiceError(failure))
                if matches!(
                    failure.err(),
                    PutItemError::ConditionalCheckFailedException(_)
                ) =>
            {
                Ok(Held::AlreadyHeld)
            }
            Err(other) => Err(unavailable(other)),
        }
    }
}

impl ProcessorStore for DynamoDbStore {
    async fn begin_processing(
        &self,
        payment_id: PaymentId,
        now: DateTime<Utc>,
    ) -> Result<ProcessingStart, StoreError> {
        // Refused, the condition failure returns the stored item: no read on any path.
        let update = self
            .update(
                payment_id,
                "SET updated_at = :now",
                format!("attribute_exists(payment_id) AND {ACCEPTED} AND {NOT_PROCESSED}"),
            )
            .value(":false", AttributeValue::Bool(false))
            .value(
                ":accepted",
                AttributeValue::S(RecordState::Accepted.as_str().into()),
            )
            .value(":now", timestamp(now))
            .returning_new();
        Ok(match update.send().await? {
            Update::Applied(Some(item)) => {
                ProcessingStart::Stored(Box::new(record_from_item(&item)?))
            }
            Update::Applied(None) => {
                return Err(StoreError::Unavailable(
                    "DynamoDB returned no item for an update asking for it".into(),
                ));
            }
            Update::Refused(None) => ProcessingStart::Refused(ProcessedMark::NotFound),
            Update::Refused(Some(item)) => {
                ProcessingStart::Refused(ProcessedMark::refused_by(&record_from_item(&item)?))
            }
        })
    }

    async fn mark_processed(
        &self,
        payment_id: PaymentId,
        now: DateTime<Utc>,
    ) -> Result<ProcessedMark, StoreError> {
        let update = self
            .update(
                payment_id,
                "SET gcwebhook1_processed = :true, gcwebhook1_processed_at = :now, updated_at = :now",
                format!("attribute_exists(payment_id) AND {ACCEPTED} AND {NOT_PROCESSED}"),
            )
            .value(":true", AttributeValue::Bool(true))
            .value(":false", AttributeValue::Bool(false))
            .value(":accepted", AttributeValue::S(RecordState::Accepted.as_str().into()))
            .value(":now", timestamp(now));
        Ok(match update.send().await? {
            Update::Applied(_) => ProcessedMark::Marked,
            Update::Refused(None) => ProcessedMark::NotFound,
            Update::Refused(Some(item)) => ProcessedMark::refused_by(&record_from_item(&item)?),
        })
    }
}

impl InviteStore for DynamoDbStore {
    async fn claim_invite(&self, claim: &InviteClaim) -> Result<ClaimOutcome, StoreError> {
        let update = self
            .update(
                claim.payment_id,
                "SET invite_lease_token = :token, invite_lease_until = :until_ms, updated_at = :now",
                format!(
                    "attribute_exists(payment_id) AND {ACCEPTED} AND {INVITE_NOT_SENT} AND {NO_LIVE_LEASE}"
                ),
            )
            .value(":token", AttributeValue::S(claim.lease_token.clone()))
            .value(":until_ms", number(claim.lease_until.timestamp_millis()))
            .value(":now_ms", number(claim.now.timestamp_millis()))
            .value(":now", timestamp(claim.now))
            .value(":false", AttributeValue::Bool(false))
            .value(":accepted", AttributeValue::S(RecordState::Accepted.as_str().into()))
            .returning_new();
        Ok(match update.send().await? {
            Update::Applied(Some(item)) => match UnreadableRow::list(record_from_item(&item))? {
                Ok(record) => ClaimOutcome::Claimed(Box::new(record)),
                Err(row) => ClaimOutcome::ClaimedUnreadable { why: row.why },
            },
            Update::Applied(None) => {
                return Err(StoreError::Corrupt {
                    payment_id: claim.payment_id.get(),
                    detail: "claim applied but no item came back".into(),
                });
            }
            Update::Refused(None) => ClaimOutcome::NotFound,
            Update::Refused(Some(item)) => match UnreadableRow::list(record_from_item(&item))? {
                Ok(record) => ClaimOutcome::refused_by(&record),
                Err(row) => ClaimOutcome::Unreadable { why: row.why },
            },
        })
    }

    async fn persist_invite_link(
        &self,
        lease: &InviteLease,
        link: &str,
        link_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        self.fenced(
            lease,
            "SET telegram_invite_link = :link, invite_link_expires_at = :expires_ms, updated_at = :now",
            vec![
                (":link", AttributeValue::S(link.to_owned())),
                (":expires_ms", number(link_expires_at.timestamp_millis())),
                (":now", timestamp(now)),
            ],
        )
        .await
    }

    async fn complete_invite(
        &self,
        lease: &InviteLease,
        how: InviteCompletion,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        let flag = match how {
            InviteCompletion::Sent => "",
            InviteCompletion::ByMembership => ", invite_satisfied_by_membership = :true",
            InviteCompletion::RenewedInPlace => ", invite_renewed_in_place = :true",
        };
        self.complete(lease, now, flag).await
    }

    async fn release_invite(
        &self,
        lease: &InviteLease,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        self.fenced(
            lease,
            "SET updated_at = :now REMOVE invite_lease_token, invite_lease_until",
            vec![(":now", timestamp(now))],
        )
        .await
    }

    async fn fail_invite(
        &self,
        lease: &InviteLease,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        self.fenced(
            lease,
            "SET #state = :failed, invite_failure_reason = :reason, updated_at = :now \
             REMOVE invite_lease_token, invite_lease_until, pending_shard",
            vec![
                (
                    ":failed",
                    AttributeValue::S(RecordState::InviteFailed.as_str().into()),
                ),
                (":reason", AttributeValue::S(reason.to_owned())),
                (":now", timestamp(now)),
            ],
        )
        .await
    }
}
