//! Purchases in parts in memory: each operation checks its condition and writes under
//! the reviews' lock (the state lives on the review in every backend, and settling
//! writes the review's decision).
//!
//! Tests: `tests/tests/conformance.rs` (the memory backend among the four).

use chrono::{DateTime, Utc};

use super::MemoryStore;
use crate::ipn::PaymentId;
use crate::payment::{PaymentReview, ReviewDecision};
use crate::store::StoreError;
use crate::store::parts::{
    OpenPurchase, PartAdded, PartsSettled, PartsTally, PurchaseOpened, PurchasePart,
    PurchasePartsStore, add_refusal, newest_open_of, oldest_stale, settle_refusal,
};

/// A purchase as stored beside its review, read with the review's decision.
fn read(stored: &PartsTally, review: Option<&PaymentReview>) -> PartsTally {
    PartsTally {
        decision: review.and_then(|r| r.decision),
        ..stored.clone()
    }
}

impl MemoryStore {
    fn tallies(&self) -> Result<Vec<PartsTally>, StoreError> {
        self.check_available()?;
        let reviews = self.reviews.lock().unwrap();
        let parts = self.parts.lock().unwrap();
        Ok(parts
            .iter()
            .map(|(id, stored)| read(stored, reviews.get(id)))
            .collect())
    }
}

impl PurchasePartsStore for MemoryStore {
    async fn open_purchase(&self, open: &OpenPurchase) -> Result<PurchaseOpened, StoreError> {
        self.check_available()?;
        let reviews = self.reviews.lock().unwrap();
        let id = open.purchase_id.get();
        if !reviews.contains_key(&id) {
            return Ok(PurchaseOpened::NoReview);
        }
        let mut parts = self.parts.lock().unwrap();
        if parts.contains_key(&id) {
            return Ok(PurchaseOpened::Already);
        }
        parts.insert(
            id,
            PartsTally {
                purchase_id: open.purchase_id,
                user_id: open.user_id,
                channel_id: open.channel_id,
                price_amount: open.price_amount,
                price_currency: open.price_currency.clone(),
                paid_total: open.first_paid,
                outcome_total: open.first_outcome.unwrap_or_default(),
                parts: vec![open.purchase_id],
                opened_at: open.opened_at,
                decision: None,
                settled_by: None,
                owner_told_at: None,
            },
        );
        Ok(PurchaseOpened::New)
    }

    async fn add_part(
        &self,
        purchase_id: PaymentId,
        part: &PurchasePart,
    ) -> Result<PartAdded, StoreError> {
        self.check_available()?;
        let reviews = self.reviews.lock().unwrap();
        let mut parts = self.parts.lock().unwrap();
        let Some(stored) = parts.get_mut(&purchase_id.get()) else {
            return Ok(PartAdded::NotFound);
        };
        let review = reviews.get(&purchase_id.get());
        if let Some(refused) = add_refusal(&read(stored, review), part.payment_id) {
            return Ok(refused);
        }
        stored.paid_total += part.paid;
        stored.outcome_total += part.outcome.unwrap_or_default();
        stored.parts.push(part.payment_id);
        stored.parts.sort_unstable();
        Ok(PartAdded::Added(read(stored, review)))
    }

    async fn settle_purchase(
        &self,
        purchase_id: PaymentId,
        by: PaymentId,
        now: DateTime<Utc>,
    ) -> Result<PartsSettled, StoreError> {
        self.check_available()?;
        let mut reviews = self.reviews.lock().unwrap();
        let mut parts = self.parts.lock().unwrap();
        let (Some(review), Some(stored)) = (
            reviews.get_mut(&purchase_id.get()),
            parts.get_mut(&purchase_id.get()),
        ) else {
            return Ok(PartsSettled::NotFound);
        };
        if let Some(refused) = settle_refusal(&read(stored, Some(review))) {
            return Ok(refused);
        }
        review.decision = Some(ReviewDecision::ToppedUp);
        review.decided_at = Some(now);
        stored.settled_by = Some(by);
        Ok(PartsSettled::Now)
    }

    async fn settle_part_hold(
        &self,
        part: PaymentId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.check_available()?;
        let mut reviews = self.reviews.lock().unwrap();
        match reviews.get_mut(&part.get()) {
            Some(review) if review.decision.is_none() => {
                review.decision = Some(ReviewDecision::ToppedUp);
                review.decided_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn purchase_of(&self, purchase_id: PaymentId) -> Result<Option<PartsTally>, StoreError> {
        self.check_available()?;
        let reviews = self.reviews.lock().unwrap();
        let parts = self.parts.lock().unwrap();
        Ok(parts
            .get(&purchase_id.get())
            .map(|stored| read(stored, reviews.get(&purchase_id.get()))))
    }

    async fn open_purchases_of(
        &self,
        user_id: i64,
        limit: usize,
    ) -> Result<Vec<PartsTally>, StoreError> {
        Ok(newest_open_of(self.tallies()?.into_iter(), user_id, limit))
    }

    async fn stale_purchases(
        &self,
        opened_before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PartsTally>, StoreError> {
        Ok(oldest_stale(
            self.tallies()?.into_iter(),
            opened_before,
            limit,
        ))
    }

    async fn mark_owner_told(
        &self,
        purchase_id: PaymentId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.check_available()?;
        let reviews = self.reviews.lock().unwrap();
        let mut parts = self.parts.lock().unwrap();
        let Some(stored) = parts.get_mut(&purchase_id.get()) else {
            return Ok(false);
        };
        let tally = read(stored, reviews.get(&purchase_id.get()));
        if !tally.is_open() || tally.owner_told_at.is_some() {
            return Ok(false);
        }
        stored.owner_told_at = Some(now);
        Ok(true)
    }
}
