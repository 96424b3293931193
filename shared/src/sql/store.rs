//! The store ports on SQL, once for both dialects. Every state change is one statement
//! whose WHERE clause is the rule; only a refused write reads the row back, to report
//! why (a duplicate, a live lease): never read-then-write.

use chrono::{DateTime, Utc};
use telepay_core::ipn::PaymentId;
use telepay_core::payment::{PaymentReview, ProcessedPayment, ReviewDecision};
use telepay_core::store::{
    ClaimOutcome, Decided, Fenced, Held, IngressStore, InviteClaim, InviteCompletion, InviteLease,
    InviteStore, Listed, OperatorStore, ProcessedMark, ProcessingStart, ProcessorStore,
    ReconcilerStore, Recorded, Reopened, Resolution, Resolved, StoreError, UnreadableRow,
};

use super::dialect::{Bind, SqlDialect};
use super::rows::{PaymentRow, ReviewRow, corrupt};
use super::statements::*;
use super::{SqlStore, limit, unavailable};

impl<DB: SqlDialect> SqlStore<DB> {
    /// A conditional write: whether its condition held (it returned a row).
    pub(super) async fn write(
        &self,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> Result<bool, StoreError> {
        self.statements.count();
        DB::returns_row(&self.pool, sql, binds)
            .await
            .map_err(unavailable)
    }

    /// The rows a statement returns, each read on its own.
    async fn payments(
        &self,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> Result<Vec<Result<ProcessedPayment, StoreError>>, StoreError> {
        self.statements.count();
        Ok(DB::payment_rows(&self.pool, sql, binds)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(PaymentRow::into_record)
            .collect())
    }

    /// A listing: an unreadable row is reported, never fatal.
    async fn listed(&self, sql: &'static str, binds: Vec<Bind>) -> Result<Vec<Listed>, StoreError> {
        self.payments(sql, binds)
            .await?
            .into_iter()
            .map(UnreadableRow::list)
            .collect()
    }

    async fn reviews(
        &self,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> Result<Vec<PaymentReview>, StoreError> {
        self.review_rows(sql, binds)
            .await?
            .into_iter()
            .map(ReviewRow::into_review)
            .collect()
    }

    async fn select_payment(
        &self,
        payment_id: PaymentId,
    ) -> Result<Option<ProcessedPayment>, StoreError> {
        let mut rows = self
            .payments(SELECT_PAYMENT, vec![payment_id.get().into()])
            .await?;
        rows.pop().transpose()
    }

    /// A lease-fenced update: `$1` payment_id, `$2` token, then `binds`.
    async fn fenced(
        &self,
        sql: &'static str,
        lease: &InviteLease,
        binds: Vec<Bind>,
    ) -> Result<Fenced, StoreError> {
        let mut all = vec![lease.payment_id.get().into(), lease.token.as_str().into()];
        all.extend(binds);
        Ok(if self.write(sql, all).await? {
            Fenced::Done
        } else {
            Fenced::LeaseLost
        })
    }
}

/// Durations are at most ten years ([`telepay_core::subscription::MAX_ACCESS_SECONDS`]).
fn seconds_column(seconds: u64) -> i64 {
    i64::try_from(seconds).unwrap_or(i64::MAX)
}

fn record_binds(record: &ProcessedPayment) -> Vec<Bind> {
    let purchase = record.purchase.as_ref();
    vec![
        Bind::from(record.payment_id.get()),
        Bind::from(record.user_id.get()),
        Bind::from(record.channel_id.get()),
        Bind::from(record.state.as_str()),
        Bind::Bool(Some(record.processed)),
        Bind::Time(record.processed_at.map(|t| t.naive_utc())),
        Bind::Bool(Some(record.telegram_invite_sent)),
        Bind::Time(record.telegram_invite_sent_at.map(|t| t.naive_utc())),
        Bind::Text(record.telegram_invite_link.clone()),
        Bind::from(record.created_at.naive_utc()),
        Bind::from(record.updated_at.naive_utc()),
        Bind::Text(record.payload_hash.clone()),
        Bind::Int(purchase.map(|p| p.private_channel_id)),
        Bind::Int(purchase.map(|p| i64::from(p.subscription_days))),
        Bind::Float(purchase.map(|p| p.price_amount)),
        Bind::Text(purchase.map(|p| p.price_currency.clone())),
        Bind::Float(purchase.and_then(|p| p.outcome_amount)),
        Bind::Text(purchase.and_then(|p| p.outcome_currency.clone())),
        Bind::Text(record.invite_lease_token.clone()),
        Bind::Int(record.invite_lease_until.map(|t| t.timestamp_millis())),
        Bind::Int(record.invite_link_expires_at.map(|t| t.timestamp_millis())),
        Bind::Text(record.invite_failure_reason.clone()),
        Bind::Bool(Some(record.invite_satisfied_by_membership)),
        Bind::Int(
            purchase
                .and_then(|p| p.duration_seconds)
                .map(seconds_column),
        ),
        Bind::Bool(Some(record.invite_renewed_in_place)),
        Bind::Float(purchase.and_then(|p| p.overpaid_by)),
        Bind::Int(
            purchase
                .and_then(|p| p.prorated_from_seconds)
                .map(seconds_column),
        ),
        // NULL unless recovered: the column says only what is unusual.
        Bind::Bool(purchase.filter(|p| p.recovered).map(|_| true)),
        Bind::Text(purchase.and_then(|p| p.star_charge_id.clone())),
    ]
}

impl<DB: SqlDialect> IngressStore for SqlStore<DB> {
    async fn record_accepted(&self, record: &ProcessedPayment) -> Result<Recorded, StoreError> {
        if self.write(INSERT_PAYMENT, record_binds(record)).await? {
            return Ok(Recorded::New);
        }
        // The insert decided; this read only reports what was there.
        let stored = self
            .select_payment(record.payment_id)
            .await?
            .ok_or_else(|| {
                corrupt(
                    record.payment_id.get(),
                    "insert conflicted but no row is there",
                )
            })?;
        Ok(Recorded::Existing(Box::new(stored)))
    }

    async fn hold_for_review(&self, review: &PaymentReview) -> Result<Held, StoreError> {
        let binds = vec![
            review.payment_id.get().into(),
            review.reason.as_str().into(),
            review.ipn.as_str().into(),
            review.received_at.naive_utc().into(),
        ];
        Ok(if self.write(INSERT_REVIEW, binds).await? {
            Held::New
        } else {
            Held::AlreadyHeld
        })
    }
}

impl<DB: SqlDialect> ProcessorStore for SqlStore<DB> {
    async fn begin_processing(
        &self,
        payment_id: PaymentId,
        now: DateTime<Utc>,
    ) -> Result<ProcessingStart, StoreError> {
        let binds = vec![payment_id.get().into(), now.naive_utc().into()];
        if let Some(stored) = self.payments(BEGIN_PROCESSING, binds).await?.pop() {
            return Ok(ProcessingStart::Stored(Box::new(stored?)));
        }
        // Refused: a read on this path only, to say why.
        Ok(ProcessingStart::Refused(
            match self.select_payment(payment_id).await? {
                None => ProcessedMark::NotFound,
                Some(record) => ProcessedMark::refused_by(&record),
            },
        ))
    }

    async fn mark_processed(
        &self,
        payment_id: PaymentId,
        now: DateTime<Utc>,
    ) -> Result<ProcessedMark, StoreError> {
        let binds = vec![payment_id.get().into(), now.naive_utc().into()];
        if self.write(MARK_PROCESSED, binds).await? {
            return Ok(ProcessedMark::Marked);
        }
        Ok(match self.select_payment(payment_id).await? {
            None => ProcessedMark::NotFound,
            Some(record) => ProcessedMark::refused_by(&record),
        })
    }
}

impl<DB: SqlDialect> InviteStore for SqlStore<DB> {
    async fn claim_invite(&self, claim: &InviteClaim) -> Result<ClaimOutcome, StoreError> {
        let binds = vec![
            claim.payment_id.get().into(),
            claim.lease_token.as_str().into(),
            claim.lease_until.timestamp_millis().into(),
            claim.now.naive_utc().into(),
            claim.now.timestamp_millis().into(),
        ];
        match self.payments(CLAIM_INVITE, binds).await?.pop() {
            Some(Ok(record)) => return Ok(ClaimOutcome::Claimed(Box::new(record))),
            Some(Err(unreadable)) => {
                let why = UnreadableRow::from_error(unreadable)?.why;
                return Ok(ClaimOutcome::ClaimedUnreadable { why });
            }
            None => {}
        }
        Ok(match self.select_payment(claim.payment_id).await {
            Ok(None) => ClaimOutcome::NotFound,
            Ok(Some(record)) => ClaimOutcome::refused_by(&record),
            Err(error) => ClaimOutcome::Unreadable {
                why: UnreadableRow::from_error(error)?.why,
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
        let binds = vec![
            link.into(),
            link_expires_at.timestamp_millis().into(),
            now.naive_utc().into(),
        ];
        self.fenced(PERSIST_LINK, lease, binds).await
    }

    async fn complete_invite(
        &self,
        lease: &InviteLease,
        how: InviteCompletion,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        let statement = match how {
            InviteCompletion::Sent => COMPLETE_INVITE,
            InviteCompletion::ByMembership => COMPLETE_BY_MEMBERSHIP,
            InviteCompletion::RenewedInPlace => COMPLETE_RENEWED_IN_PLACE,
        };
        self.fenced(statement, lease, vec![now.naive_utc().into()])
            .await
    }

    async fn release_invite(
        &self,
        lease: &InviteLease,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        self.fenced(RELEASE_INVITE, lease, vec![now.naive_utc().into()])
            .await
    }

    async fn fail_invite(
        &self,
        lease: &InviteLease,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        let binds = vec![reason.into(), now.naive_utc().into()];
        self.fenced(FAIL_INVITE, lease, binds).await
    }
}

impl<DB: SqlDialect> ReconcilerStore for SqlStore<DB> {
    async fn pending_payments(
        &self,
        created_before: DateTime<Utc>,
        limit_to: usize,
    ) -> Result<Vec<Listed>, StoreError> {
        let binds = vec![created_before.naive_utc().into(), limit(limit_to)];
        self.listed(PENDING_PAYMENTS, binds).await
    }

    async fn needs_operator(&self, limit_to: usize) -> Result<Vec<Listed>, StoreError> {
        self.listed(NEEDS_OPERATOR, vec![limit(limit_to)]).await
    }

    async fn mark_requeued(
        &self,
        payment_id: PaymentId,
        quiet_since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let binds = vec![
            payment_id.get().into(),
            quiet_since.naive_utc().into(),
            now.naive_utc().into(),
        ];
        self.write(MARK_REQUEUED, binds).await
    }
}

impl<DB: SqlDialect> OperatorStore for SqlStore<DB> {
    async fn get_payment(
        &self,
        payment_id: PaymentId,
    ) -> Result<Option<ProcessedPayment>, StoreError> {
        self.select_payment(payment_id).await
    }

    async fn get_review(&self, payment_id: PaymentId) -> Result<Option<PaymentReview>, StoreError> {
        Ok(self
            .reviews(SELECT_REVIEW, vec![payment_id.get().into()])
            .await?
            .pop())
    }

    async fn failed_invites(&self, limit_to: usize) -> Result<Vec<Listed>, StoreError> {
        self.listed(FAILED_INVITES, vec![limit(limit_to)]).await
    }

    async fn list_reviews(&self, limit_to: usize) -> Result<Vec<PaymentReview>, StoreError> {
        self.reviews(LIST_REVIEWS, vec![limit(limit_to)]).await
    }

    async fn decide_review(
        &self,
        payment_id: PaymentId,
        decision: ReviewDecision,
        now: DateTime<Utc>,
    ) -> Result<Decided, StoreError> {
        let binds = vec![
            payment_id.get().into(),
            decision.as_str().into(),
            now.naive_utc().into(),
        ];
        if self.write(DECIDE_REVIEW, binds).await? {
            return Ok(Decided::Done);
        }
        Ok(match self.get_review(payment_id).await? {
            None => Decided::NotFound,
            Some(review) => Decided::AlreadyDecided(review.decision),
        })
    }

    async fn resolve_needs_operator(
        &self,
        payment_id: PaymentId,
        resolution: &Resolution,
        now: DateTime<Utc>,
    ) -> Result<Resolved, StoreError> {
        let resolved = match resolution {
            Resolution::SupplyPurchase(purchase) => {
                let binds = vec![
                    payment_id.get().into(),
                    purchase.private_channel_id.into(),
                    i64::from(purchase.subscription_days).into(),
                    Bind::Float(Some(purchase.price_amount)),
                    purchase.price_currency.as_str().into(),
                    Bind::Float(purchase.outcome_amount),
                    Bind::Text(purchase.outcome_currency.clone()),
                    now.naive_utc().into(),
                    Bind::Int(purchase.duration_seconds.map(seconds_column)),
                ];
                self.write(SUPPLY_PURCHASE, binds).await?
            }
            Resolution::AlreadyHandled => {
                let binds = vec![payment_id.get().into(), now.naive_utc().into()];
                self.write(MARK_HANDLED, binds).await?
            }
        };
        if resolved {
            return Ok(Resolved::Done);
        }
        Ok(match self.select_payment(payment_id).await {
            Ok(None) => Resolved::NotFound,
            // Refused: it no longer needs an operator (or cannot be read to say more).
            Ok(Some(_)) | Err(StoreError::Corrupt { .. }) => Resolved::NotNeeded,
            Err(other) => return Err(other),
        })
    }

    async fn reopen_invite(
        &self,
        payment_id: PaymentId,
        link: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Reopened, StoreError> {
        let binds = vec![
            payment_id.get().into(),
            now.naive_utc().into(),
            now.timestamp_millis().into(),
            Bind::Text(link.map(str::to_owned)),
        ];
        if self.write(REOPEN_INVITE, binds).await? {
            return Ok(Reopened::Done);
        }
        Ok(match self.select_payment(payment_id).await? {
            None => Reopened::NotFound,
            Some(record) => Reopened::refused_by(&record, now),
        })
    }
}
