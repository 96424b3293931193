//! Held payments' notices on DynamoDB: attributes of the review item
//! (`notice_lease_token`, `notice_lease_until` in epoch ms as a Number, `told_at` as
//! RFC 3339, `told`). A claim is one conditional UpdateItem that returns the review (or
//! the item that refused it: no extra read); finish and release are fenced on the token.
//! The untold listing scans the reviews table (held payments are few).

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use telepay_core::ipn::PaymentId;
use telepay_core::order::UserId;
use telepay_core::payment::PaymentReview;
use telepay_core::store::held::{holds_of, oldest_untold};
use telepay_core::store::{
    Fenced, HeldNoticeStore, NoticeClaim, NoticeFound, NoticeState, StoreError,
};

use super::DynamoDbStore;
use super::item::{notice_state_from_item, number, review_from_item, timestamp};
use super::update::{ConditionalUpdate, UNDECIDED, Update};

const NOT_TOLD: &str = "(attribute_not_exists(told_at) OR attribute_type(told_at, :null))";
const HOLDS_NOTICE: &str = "notice_lease_token = :token";

impl DynamoDbStore {
    async fn fenced_notice(
        &self,
        payment_id: PaymentId,
        token: &str,
        set: &str,
        values: Vec<(&'static str, AttributeValue)>,
    ) -> Result<Fenced, StoreError> {
        let update = ConditionalUpdate::new(
            &self.client,
            &self.reviews_table,
            payment_id.get(),
            set,
            format!("{HOLDS_NOTICE} AND {NOT_TOLD}"),
        )
        .value(":token", AttributeValue::S(token.to_owned()))
        .values(values);
        Ok(match update.send().await? {
            Update::Applied(_) => Fenced::Done,
            Update::Refused(_) => Fenced::LeaseLost,
        })
    }
}

impl HeldNoticeStore for DynamoDbStore {
    async fn claim_notice(&self, claim: &NoticeClaim) -> Result<NoticeFound, StoreError> {
        let update = ConditionalUpdate::new(
            &self.client,
            &self.reviews_table,
            claim.payment_id.get(),
            "SET notice_lease_token = :token, notice_lease_until = :until",
            format!(
                "attribute_exists(payment_id) AND {NOT_TOLD} AND \
                 (attribute_not_exists(notice_lease_until) OR attribute_type(notice_lease_until, :null) \
                 OR notice_lease_until <= :now_ms)"
            ),
        )
        .value(":token", AttributeValue::S(claim.token.clone()))
        .value(":until", number(claim.lease_until.timestamp_millis()))
        .value(":now_ms", number(claim.now.timestamp_millis()))
        .returning_new();
        match update.send().await? {
            Update::Applied(Some(item)) => {
                Ok(NoticeFound::Claimed(Box::new(review_from_item(&item)?)))
            }
            Update::Applied(None) => Err(StoreError::Corrupt {
                payment_id: claim.payment_id.get(),
                detail: "the notice claim applied but returned no item".into(),
            }),
            Update::Refused(None) => Ok(NoticeFound::NotFound),
            Update::Refused(Some(item)) => Ok(notice_state_from_item(&item)?.refused_at(claim.now)),
        }
    }

    async fn finish_notice(
        &self,
        payment_id: PaymentId,
        token: &str,
        told: &str,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        self.fenced_notice(
            payment_id,
            token,
            "SET told_at = :now, told = :told REMOVE notice_lease_token, notice_lease_until",
            vec![
                (":now", timestamp(now)),
                (":told", AttributeValue::S(told.to_owned())),
            ],
        )
        .await
    }

    async fn release_notice(
        &self,
        payment_id: PaymentId,
        token: &str,
    ) -> Result<Fenced, StoreError> {
        self.fenced_notice(
            payment_id,
            token,
            "REMOVE notice_lease_token, notice_lease_until",
            Vec::new(),
        )
        .await
    }

    async fn untold_holds(
        &self,
        held_before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PaymentId>, StoreError> {
        let items = self
            .scan(
                &self.reviews_table,
                Some(format!("{NOT_TOLD} AND {UNDECIDED}")),
                Vec::new(),
            )
            .await?;
        let reviews = items
            .iter()
            .map(review_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(oldest_untold(reviews, held_before, limit))
    }

    async fn undecided_holds_of(
        &self,
        user_id: UserId,
        limit: usize,
    ) -> Result<Vec<PaymentReview>, StoreError> {
        let items = self
            .scan(&self.reviews_table, Some(UNDECIDED.to_owned()), Vec::new())
            .await?;
        let reviews = items
            .iter()
            .map(review_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(holds_of(reviews, user_id, limit))
    }

    async fn notice_state(&self, payment_id: PaymentId) -> Result<Option<NoticeState>, StoreError> {
        let item = self.get(&self.reviews_table, payment_id).await?;
        item.as_ref().map(notice_state_from_item).transpose()
    }
}
