//! Held payments' notices on SQL: the state is four columns of `payment_reviews`. A claim
//! is one update whose `WHERE` is the rule (not told, no live lease) and returns the
//! review; finish and release are updates fenced on the token.

use chrono::{DateTime, Utc};
use telepay_core::ipn::PaymentId;
use telepay_core::order::UserId;
use telepay_core::payment::PaymentReview;
use telepay_core::store::held::holds_of;
use telepay_core::store::{
    Fenced, HeldNoticeStore, NoticeClaim, NoticeFound, NoticeState, StoreError,
};

/// How many undecided holds one /status reads at most (they are decided within days).
const UNDECIDED_READ: usize = 1_000;

use super::dialect::{Bind, SqlDialect};
use super::rows::ReviewRow;
use super::statements::held::{CLAIM, FINISH, RELEASE, STATE, UNDECIDED, UNTOLD};
use super::{SqlStore, fenced, limit, unavailable};

impl<DB: SqlDialect> SqlStore<DB> {
    /// Review rows as stored (the notice columns where the statement selects them).
    pub(super) async fn review_rows(
        &self,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> Result<Vec<ReviewRow>, StoreError> {
        self.statements.count();
        DB::review_rows(&self.pool, sql, binds)
            .await
            .map_err(unavailable)
    }
}

impl<DB: SqlDialect> HeldNoticeStore for SqlStore<DB> {
    async fn claim_notice(&self, claim: &NoticeClaim) -> Result<NoticeFound, StoreError> {
        let binds = vec![
            claim.payment_id.get().into(),
            claim.token.as_str().into(),
            claim.lease_until.timestamp_millis().into(),
            claim.now.timestamp_millis().into(),
        ];
        if let Some(row) = self.review_rows(CLAIM, binds).await?.pop() {
            return Ok(NoticeFound::Claimed(Box::new(row.into_review()?)));
        }
        // Refused: say why from the row as it is.
        Ok(match self.notice_state(claim.payment_id).await? {
            None => NoticeFound::NotFound,
            Some(state) => state.refused_at(claim.now),
        })
    }

    async fn finish_notice(
        &self,
        payment_id: PaymentId,
        token: &str,
        told: &str,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        let binds = vec![
            payment_id.get().into(),
            token.into(),
            now.timestamp_millis().into(),
            told.into(),
        ];
        self.write(FINISH, binds).await.map(fenced)
    }

    async fn release_notice(
        &self,
        payment_id: PaymentId,
        token: &str,
    ) -> Result<Fenced, StoreError> {
        let binds = vec![payment_id.get().into(), token.into()];
        self.write(RELEASE, binds).await.map(fenced)
    }

    async fn untold_holds(
        &self,
        held_before: DateTime<Utc>,
        limit_to: usize,
    ) -> Result<Vec<PaymentId>, StoreError> {
        let binds = vec![held_before.naive_utc().into(), limit(limit_to)];
        self.review_rows(UNTOLD, binds)
            .await?
            .into_iter()
            .map(|row| row.into_review().map(|review| review.payment_id))
            .collect()
    }

    async fn undecided_holds_of(
        &self,
        user_id: UserId,
        limit_to: usize,
    ) -> Result<Vec<PaymentReview>, StoreError> {
        let reviews = self
            .review_rows(UNDECIDED, vec![limit(UNDECIDED_READ)])
            .await?
            .into_iter()
            .map(ReviewRow::into_review)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(holds_of(reviews, user_id, limit_to))
    }

    async fn notice_state(&self, payment_id: PaymentId) -> Result<Option<NoticeState>, StoreError> {
        self.review_rows(STATE, vec![payment_id.get().into()])
            .await?
            .pop()
            .map(|row| row.notice_state())
            .transpose()
    }
}
