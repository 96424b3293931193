//! The held-payment notices' port: each payment held for review is told to its buyer and
//! its channel's owner once (at least once under crashes: a lease that lapses mid-tell is
//! taken over and the tell runs again). The state lives on the `payment_reviews` entry
//! (`notice_lease_token`, `notice_lease_until`, `told_at`, `told`): a hold is claimed
//! with a lease (the fencing token), finished under it with what reached whom, or given
//! back. Every change is one conditional write.
//!
//! Tests: every backend in `tests/tests/conformance.rs` (`held_*`).

use std::future::Future;

use chrono::{DateTime, Utc};

use super::{Fenced, StoreError};
use crate::ipn::PaymentId;
use crate::order::UserId;
use crate::payment::PaymentReview;

/// A claim on a hold's notice: who (the fencing token) and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeClaim {
    pub payment_id: PaymentId,
    pub token: String,
    pub lease_until: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq)]
pub enum NoticeFound {
    /// The lease is ours; the review as stored (its IPN names the buyer and the channel).
    Claimed(Box<PaymentReview>),
    /// Told before: nothing to do again.
    Told { at: DateTime<Utc> },
    /// Another worker holds a live lease.
    Leased { until: DateTime<Utc> },
    /// No review with this payment id.
    NotFound,
}

/// A hold's notice state as stored, for operators and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoticeState {
    pub told_at: Option<DateTime<Utc>>,
    /// What reached whom, e.g. `buyer:sent owner:sent`.
    pub told: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
}

impl NoticeState {
    /// Why a claim at `now` is refused on this state (the rule every backend's condition
    /// states; the memory backend applies it directly), or `None` when it may be claimed.
    pub fn refusal(&self, now: DateTime<Utc>) -> Option<NoticeFound> {
        if let Some(at) = self.told_at {
            return Some(NoticeFound::Told { at });
        }
        self.lease_until
            .filter(|until| *until > now)
            .map(|until| NoticeFound::Leased { until })
    }

    /// What a conditional claim the backend refused found here: the rule's answer, or,
    /// when the row changed between the write and this read, a lease to come back to.
    pub fn refused_at(&self, now: DateTime<Utc>) -> NoticeFound {
        self.refusal(now)
            .unwrap_or(NoticeFound::Leased { until: now })
    }
}

pub trait HeldNoticeStore: Send + Sync {
    /// Takes the notice lease if the review exists, is not told, and no lease is live at
    /// `claim.now` (one conditional write; a refused claim reads the entry to say why).
    fn claim_notice(
        &self,
        claim: &NoticeClaim,
    ) -> impl Future<Output = Result<NoticeFound, StoreError>> + Send;

    /// Records the hold told (`told_at = now`, `told`) and clears the lease, if `token`
    /// still holds it.
    fn finish_notice(
        &self,
        payment_id: PaymentId,
        token: &str,
        told: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Fenced, StoreError>> + Send;

    /// Gives the lease back untold (a Telegram failure worth retrying), if `token` still
    /// holds it.
    fn release_notice(
        &self,
        payment_id: PaymentId,
        token: &str,
    ) -> impl Future<Output = Result<Fenced, StoreError>> + Send;

    /// Reviews received before `held_before`, not told and not decided yet, oldest
    /// first, at most `limit`: the reconciler queues their notices again.
    fn untold_holds(
        &self,
        held_before: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<PaymentId>, StoreError>> + Send;

    /// The held payments not decided yet whose order names `user_id`, newest first, at
    /// most `limit` (/status shows them to their buyer). Held payments are few and
    /// decided within days, so backends may read every undecided one and keep the
    /// buyer's.
    fn undecided_holds_of(
        &self,
        user_id: UserId,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<PaymentReview>, StoreError>> + Send;

    /// The notice state of one review (a consistent read), `None` without a review.
    fn notice_state(
        &self,
        payment_id: PaymentId,
    ) -> impl Future<Output = Result<Option<NoticeState>, StoreError>> + Send;
}

impl<T: HeldNoticeStore + ?Sized> HeldNoticeStore for std::sync::Arc<T> {
    async fn claim_notice(&self, claim: &NoticeClaim) -> Result<NoticeFound, StoreError> {
        (**self).claim_notice(claim).await
    }
    async fn finish_notice(
        &self,
        payment_id: PaymentId,
        token: &str,
        told: &str,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        (**self).finish_notice(payment_id, token, told, now).await
    }
    async fn release_notice(
        &self,
        payment_id: PaymentId,
        token: &str,
    ) -> Result<Fenced, StoreError> {
        (**self).release_notice(payment_id, token).await
    }
    async fn untold_holds(
        &self,
        held_before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PaymentId>, StoreError> {
        (**self).untold_holds(held_before, limit).await
    }
    async fn undecided_holds_of(
        &self,
        user_id: UserId,
        limit: usize,
    ) -> Result<Vec<PaymentReview>, StoreError> {
        (**self).undecided_holds_of(user_id, limit).await
    }
    async fn notice_state(&self, payment_id: PaymentId) -> Result<Option<NoticeState>, StoreError> {
        (**self).notice_state(payment_id).await
    }
}

/// The ids of the oldest `limit` of `reviews` (not told ones) received before
/// `held_before` and not decided: what each backend that filters in code answers
/// [`HeldNoticeStore::untold_holds`] with.
pub fn oldest_untold(
    reviews: impl IntoIterator<Item = PaymentReview>,
    held_before: DateTime<Utc>,
    limit: usize,
) -> Vec<PaymentId> {
    let mut untold: Vec<_> = reviews
        .into_iter()
        .filter(|review| review.received_at < held_before && review.decision.is_none())
        .map(|review| (review.received_at, review.payment_id))
        .collect();
    untold.sort();
    untold.into_iter().take(limit).map(|(_, id)| id).collect()
}

/// The newest `limit` of `reviews` (undecided ones) whose order names `user_id`: what
/// each backend answers [`HeldNoticeStore::undecided_holds_of`] with.
pub fn holds_of(
    reviews: impl IntoIterator<Item = PaymentReview>,
    user_id: UserId,
    limit: usize,
) -> Vec<PaymentReview> {
    let mut theirs: Vec<PaymentReview> = reviews
        .into_iter()
        .filter(|review| review.decision.is_none() && review.buyer() == Some(user_id))
        .collect();
    theirs.sort_by_key(|review| std::cmp::Reverse((review.received_at, review.payment_id)));
    theirs.truncate(limit);
    theirs
}
