//! The held-payment notices in memory: each operation checks its condition and writes
//! under one lock (the reviews' lock, as the state lives on the review in every backend).
//!
//! Tests: `tests/tests/conformance.rs` (the memory backend among the four).

use chrono::{DateTime, Utc};

use super::{MemoryStore, NoticeColumns};
use crate::ipn::PaymentId;
use crate::order::UserId;
use crate::payment::PaymentReview;
use crate::store::held::{
    HeldNoticeStore, NoticeClaim, NoticeFound, NoticeState, holds_of, oldest_untold,
};
use crate::store::{Fenced, StoreError};

impl MemoryStore {
    fn holding_notice(
        &self,
        payment_id: PaymentId,
        token: &str,
        write: impl FnOnce(&mut NoticeColumns),
    ) -> Result<Fenced, StoreError> {
        self.check_available()?;
        let _reviews = self.reviews.lock().unwrap();
        let mut notices = self.notices.lock().unwrap();
        match notices.get_mut(&payment_id.get()) {
            Some(columns) if columns.token.as_deref() == Some(token) => {
                write(columns);
                Ok(Fenced::Done)
            }
            _ => Ok(Fenced::LeaseLost),
        }
    }
}

impl HeldNoticeStore for MemoryStore {
    async fn claim_notice(&self, claim: &NoticeClaim) -> Result<NoticeFound, StoreError> {
        self.check_available()?;
        let reviews = self.reviews.lock().unwrap();
        let Some(review) = reviews.get(&claim.payment_id.get()) else {
            return Ok(NoticeFound::NotFound);
        };
        let mut notices = self.notices.lock().unwrap();
        let columns = notices.entry(claim.payment_id.get()).or_default();
        if let Some(refused) = columns.state.refusal(claim.now) {
            return Ok(refused);
        }
        columns.token = Some(claim.token.clone());
        columns.state.lease_until = Some(claim.lease_until);
        Ok(NoticeFound::Claimed(Box::new(review.clone())))
    }

    async fn finish_notice(
        &self,
        payment_id: PaymentId,
        token: &str,
        told: &str,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        self.holding_notice(payment_id, token, |columns| {
            columns.state.told_at = Some(now);
            columns.state.told = Some(told.to_owned());
            columns.token = None;
            columns.state.lease_until = None;
        })
    }

    async fn release_notice(
        &self,
        payment_id: PaymentId,
        token: &str,
    ) -> Result<Fenced, StoreError> {
        self.holding_notice(payment_id, token, |columns| {
            columns.token = None;
            columns.state.lease_until = None;
        })
    }

    async fn untold_holds(
        &self,
        held_before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PaymentId>, StoreError> {
        self.check_available()?;
        let reviews = self.reviews.lock().unwrap();
        let notices = self.notices.lock().unwrap();
        let not_told = reviews.values().filter(|review| {
            notices
                .get(&review.payment_id.get())
                .is_none_or(|columns| columns.state.told_at.is_none())
        });
        Ok(oldest_untold(not_told.cloned(), held_before, limit))
    }

    async fn undecided_holds_of(
        &self,
        user_id: UserId,
        limit: usize,
    ) -> Result<Vec<PaymentReview>, StoreError> {
        self.check_available()?;
        let reviews = self.reviews.lock().unwrap();
        Ok(holds_of(reviews.values().cloned(), user_id, limit))
    }

    async fn notice_state(&self, payment_id: PaymentId) -> Result<Option<NoticeState>, StoreError> {
        self.check_available()?;
        let reviews = self.reviews.lock().unwrap();
        if !reviews.contains_key(&payment_id.get()) {
            return Ok(None);
        }
        let notices = self.notices.lock().unwrap();
        let columns = notices.get(&payment_id.get());
        Ok(Some(columns.map(|c| c.state.clone()).unwrap_or_default()))
    }
}
