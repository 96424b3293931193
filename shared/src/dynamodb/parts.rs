//! Purchases in parts on DynamoDB: attributes of the first short payment's review item
//! (`parts` a number set of the parts' payment ids, `parts_paid_total` and
//! `parts_outcome_total` Numbers that each add increments, `parts_opened_at_ms`,
//! `parts_settled_by`, `parts_owner_told_at_ms`). Each change is one conditional
//! UpdateItem: an add is refused for a part already in the set (`contains`) or a decided
//! review; settling sets the review's `decision` in the same write, so it and an
//! operator's decision exclude each other. The listings scan the reviews table (open
//! purchases are few, like held payments).

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use telepay_core::ipn::PaymentId;
use telepay_core::payment::ReviewDecision;
use telepay_core::store::parts::{newest_open_of, oldest_stale, refused_add, refused_settle};
use telepay_core::store::{
    OpenPurchase, PartAdded, PartsSettled, PartsTally, PurchaseOpened, PurchasePart,
    PurchasePartsStore, StoreError,
};

use super::DynamoDbStore;
use super::item::{number, parts_from_item, timestamp};
use super::update::{ConditionalUpdate, UNDECIDED, Update};

const HAS_PARTS: &str = "attribute_exists(parts)";

fn part_set(part: PaymentId) -> AttributeValue {
    AttributeValue::Ns(vec![part.get().to_string()])
}

impl DynamoDbStore {
    /// Every purchase on the reviews table whose hold is not decided.
    async fn open_tallies(&self) -> Result<Vec<PartsTally>, StoreError> {
        let items = self
            .scan(
                &self.reviews_table,
                Some(format!("{HAS_PARTS} AND {UNDECIDED}")),
                Vec::new(),
            )
            .await?;
        Ok(items
            .iter()
            .map(parts_from_item)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect())
    }

    fn tally_of(item: Option<&super::item::Item>) -> Result<Option<PartsTally>, StoreError> {
        Ok(match item {
            Some(item) => parts_from_item(item)?,
            None => None,
        })
    }
}

impl PurchasePartsStore for DynamoDbStore {
    async fn open_purchase(&self, open: &OpenPurchase) -> Result<PurchaseOpened, StoreError> {
        let update = ConditionalUpdate::new(
            &self.client,
            &self.reviews_table,
            open.purchase_id.get(),
            "SET parts = :parts, parts_user_id = :user, parts_price_amount = :price, \
             parts_price_currency = :currency, parts_paid_total = :paid, \
             parts_outcome_total = :outcome, parts_opened_at_ms = :now_ms, \
             parts_channel_id = :channel",
            "attribute_exists(payment_id) AND attribute_not_exists(parts)".into(),
        )
        .value(":parts", part_set(open.purchase_id))
        .value(":user", number(open.user_id))
        .value(":channel", number(open.channel_id))
        .value(":price", number(open.price_amount))
        .value(":currency", AttributeValue::S(open.price_currency.clone()))
        .value(":paid", number(open.first_paid))
        .value(":outcome", number(open.first_outcome.unwrap_or_default()))
        .value(":now_ms", number(open.opened_at.timestamp_millis()));
        Ok(match update.send().await? {
            Update::Applied(_) => PurchaseOpened::New,
            Update::Refused(None) => PurchaseOpened::NoReview,
            Update::Refused(Some(_)) => PurchaseOpened::Already,
        })
    }

    async fn add_part(
        &self,
        purchase_id: PaymentId,
        part: &PurchasePart,
    ) -> Result<PartAdded, StoreError> {
        let update = ConditionalUpdate::new(
            &self.client,
            &self.reviews_table,
            purchase_id.get(),
            "ADD parts :part, parts_paid_total :paid, parts_outcome_total :outcome",
            format!("{HAS_PARTS} AND NOT contains(parts, :part_id) AND {UNDECIDED}"),
        )
        .value(":part", part_set(part.payment_id))
        .value(":part_id", number(part.payment_id.get()))
        .value(":paid", number(part.paid))
        .value(":outcome", number(part.outcome.unwrap_or_default()))
        .returning_new();
        Ok(match update.send().await? {
            Update::Applied(item) => match Self::tally_of(item.as_ref())? {
                Some(tally) => PartAdded::Added(tally),
                None => {
                    return Err(StoreError::Corrupt {
                        payment_id: purchase_id.get(),
                        detail: "the part was added but no purchase came back".into(),
                    });
                }
            },
            Update::Refused(item) => match Self::tally_of(item.as_ref())? {
                None => PartAdded::NotFound,
                Some(tally) => refused_add(tally, part.payment_id),
            },
        })
    }

    async fn settle_purchase(
        &self,
        purchase_id: PaymentId,
        by: PaymentId,
        now: DateTime<Utc>,
    ) -> Result<PartsSettled, StoreError> {
        let update = ConditionalUpdate::new(
            &self.client,
            &self.reviews_table,
            purchase_id.get(),
            "SET decision = :decision, decided_at = :now, parts_settled_by = :by",
            format!("{HAS_PARTS} AND {UNDECIDED}"),
        )
        .value(
            ":decision",
            AttributeValue::S(ReviewDecision::ToppedUp.as_str().into()),
        )
        .value(":now", timestamp(now))
        .value(":by", number(by.get()));
        Ok(match update.send().await? {
            Update::Applied(_) => PartsSettled::Now,
            Update::Refused(item) => match Self::tally_of(item.as_ref())? {
                None => PartsSettled::NotFound,
                Some(tally) => refused_settle(&tally),
            },
        })
    }

    async fn settle_part_hold(
        &self,
        part: PaymentId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let update = ConditionalUpdate::new(
            &self.client,
            &self.reviews_table,
            part.get(),
            "SET decision = :decision, decided_at = :now",
            format!("attribute_exists(payment_id) AND {UNDECIDED}"),
        )
        .value(
            ":decision",
            AttributeValue::S(ReviewDecision::ToppedUp.as_str().into()),
        )
        .value(":now", timestamp(now));
        Ok(matches!(update.send().await?, Update::Applied(_)))
    }

    async fn purchase_of(&self, purchase_id: PaymentId) -> Result<Option<PartsTally>, StoreError> {
        let item = self.get(&self.reviews_table, purchase_id).await?;
        Self::tally_of(item.as_ref())
    }

    async fn open_purchases_of(
        &self,
        user_id: i64,
        limit: usize,
    ) -> Result<Vec<PartsTally>, StoreError> {
        Ok(newest_open_of(
            self.open_tallies().await?.into_iter(),
            user_id,
            limit,
        ))
    }

    async fn stale_purchases(
        &self,
        opened_before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PartsTally>, StoreError> {
        Ok(oldest_stale(
            self.open_tallies().await?.into_iter(),
            opened_before,
            limit,
        ))
    }

    async fn mark_owner_told(
        &self,
        purchase_id: PaymentId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let update = ConditionalUpdate::new(
            &self.client,
            &self.reviews_table,
            purchase_id.get(),
            "SET parts_owner_told_at_ms = :now_ms",
            format!(
                "{HAS_PARTS} AND {UNDECIDED} AND (attribute_not_exists(parts_owner_told_at_ms) \
                 OR attribute_type(parts_owner_told_at_ms, :null))"
            ),
        )
        .value(":now_ms", number(now.timestamp_millis()));
        Ok(matches!(update.send().await?, Update::Applied(_)))
    }
}
