//! The held-payment notices in memory: each operation checks its condition and writes
//! under one lock (the reviews' lock, as the state lives on the review in every backend).
//!
//! Tests: `tests/tests/conformance.rs` (the memory backend among the four).

use chrono::{DateTime, Utc};

use super::{MemoryStore, NoticeColumns};
use crate::ipn::PaymentId;
use crate::order::UserId;
use crate::payment::PaymentReview;
use crate::store::held::{HeldNoticeStore, NoticeClaim, NoticeFound, NoticeState, holds_of};
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
        if let Some(at) = columns.told_at {
            return Ok(NoticeFound::Told { at });
        }
        if let Some(until) = columns.lease_until.filter(|until| *until > claim.now) {
            return Ok(NoticeFound::Leased { until });
        }
        columns.token = Some(claim.token.clone());
        columns.lease_until = Some(claim.lease_until);
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
            columns.told_at = Some(now);
            columns.told = Some(told.to_owned());
            columns.token = None;
            columns.lease_until = None;
        })
    }

    async fn release_notice(
        &self,
        payment_id: PaymentId,
        token: &str,
    ) -> Result<Fenced, StoreError> {
        self.holding_notice(payment_id, token, |columns| {
            columns.token = None;
            columns.lease_until = None;
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
        let mut untold: Vec<_> = reviews
            .values()
            .filter(|review| review.received_at < held_before && review.decision.is_none())
            .filter(|review| {
                notices
                    .get(&review.payment_id.get())
                    .is_none_or(|columns| columns.told_at.is_none())
            })
            .map(|review| (review.received_at, review.payment_id))
            .collect();
        untold.sort();
        Ok(untold.into_iter().take(limit).map(|(_, id)| id).collect())
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
        let columns = self
            .notices
            .lock()
            .unwrap()
            .get(&payment_id.get())
            .cloned()
            .unwrap_or_default();
        Ok(Some(NoticeState {
            told_at: columns.told_at,
            told: columns.told,
            lease_until: columns.lease_until,
        }))
    }
}
