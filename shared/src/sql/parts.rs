//! Purchases in parts on SQL: columns of the first short payment's `payment_reviews` row.
//! Open, add, settle and the owner's notice are each one update whose `WHERE` is the rule
//! (an add refuses a part already in `parts`, and any decided row); settling writes the
//! review's decision in the same statement, so it and an operator's decision exclude
//! each other.

use chrono::{DateTime, Utc};
use telepay_core::ipn::PaymentId;
use telepay_core::store::parts::{refused_add, refused_settle};
use telepay_core::store::{
    OpenPurchase, PartAdded, PartsSettled, PartsTally, PurchaseOpened, PurchasePart,
    PurchasePartsStore, StoreError,
};

use super::dialect::{Bind, SqlDialect};
use super::rows::PartsRow;
use super::statements::parts::{
    ADD, MARK_TOLD, OPEN, OPEN_OF, READ, SETTLE, SETTLE_PART_HOLD, STALE,
};
use super::{SqlStore, limit, unavailable};

impl<DB: SqlDialect> SqlStore<DB> {
    async fn tallies(
        &self,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> Result<Vec<PartsTally>, StoreError> {
        self.statements.count();
        DB::parts_rows(&self.pool, sql, binds)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(PartsRow::into_tally)
            .collect()
    }
}

impl<DB: SqlDialect> PurchasePartsStore for SqlStore<DB> {
    async fn open_purchase(&self, open: &OpenPurchase) -> Result<PurchaseOpened, StoreError> {
        let binds = vec![
            open.purchase_id.get().into(),
            format!(",{},", open.purchase_id).as_str().into(),
            open.user_id.into(),
            Bind::Float(Some(open.price_amount)),
            open.price_currency.as_str().into(),
            Bind::Float(Some(open.first_paid)),
            Bind::Float(Some(open.first_outcome.unwrap_or_default())),
            open.opened_at.timestamp_millis().into(),
            open.channel_id.into(),
        ];
        if self.write(OPEN, binds).await? {
            return Ok(PurchaseOpened::New);
        }
        // Refused: opened before, or no review to open it on.
        Ok(if self.purchase_of(open.purchase_id).await?.is_some() {
            PurchaseOpened::Already
        } else {
            PurchaseOpened::NoReview
        })
    }

    async fn add_part(
        &self,
        purchase_id: PaymentId,
        part: &PurchasePart,
    ) -> Result<PartAdded, StoreError> {
        let binds = vec![
            purchase_id.get().into(),
            part.payment_id.to_string().as_str().into(),
            Bind::Float(Some(part.paid)),
            Bind::Float(Some(part.outcome.unwrap_or_default())),
        ];
        if let Some(tally) = self.tallies(ADD, binds).await?.pop() {
            return Ok(PartAdded::Added(tally));
        }
        // Refused: say why from the row as it is (a part or a decision never goes away).
        Ok(match self.purchase_of(purchase_id).await? {
            None => PartAdded::NotFound,
            Some(tally) => refused_add(tally, part.payment_id),
        })
    }

    async fn settle_purchase(
        &self,
        purchase_id: PaymentId,
        by: PaymentId,
        now: DateTime<Utc>,
    ) -> Result<PartsSettled, StoreError> {
        let binds = vec![
            purchase_id.get().into(),
            by.get().into(),
            now.naive_utc().into(),
        ];
        if self.write(SETTLE, binds).await? {
            return Ok(PartsSettled::Now);
        }
        Ok(match self.purchase_of(purchase_id).await? {
            None => PartsSettled::NotFound,
            Some(tally) => refused_settle(&tally),
        })
    }

    async fn settle_part_hold(
        &self,
        part: PaymentId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let binds = vec![part.get().into(), now.naive_utc().into()];
        self.write(SETTLE_PART_HOLD, binds).await
    }

    async fn purchase_of(&self, purchase_id: PaymentId) -> Result<Option<PartsTally>, StoreError> {
        Ok(self
            .tallies(READ, vec![purchase_id.get().into()])
            .await?
            .pop())
    }

    async fn open_purchases_of(
        &self,
        user_id: i64,
        limit_to: usize,
    ) -> Result<Vec<PartsTally>, StoreError> {
        self.tallies(OPEN_OF, vec![user_id.into(), limit(limit_to)])
            .await
    }

    async fn stale_purchases(
        &self,
        opened_before: DateTime<Utc>,
        limit_to: usize,
    ) -> Result<Vec<PartsTally>, StoreError> {
        let binds = vec![opened_before.timestamp_millis().into(), limit(limit_to)];
        self.tallies(STALE, binds).await
    }

    async fn mark_owner_told(
        &self,
        purchase_id: PaymentId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let binds = vec![purchase_id.get().into(), now.timestamp_millis().into()];
        self.write(MARK_TOLD, binds).await
    }
}
