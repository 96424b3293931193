//! An in-memory store with the same conditional semantics as the real backends: the
//! domain and handler tests run on it in microseconds. Each operation checks its
//! condition and writes under one lock, as one conditional write does in a database.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};

use super::bot::OnceRecord;
use super::subscriptions::{
    ListedSubscription, SubscriptionFilter, SubscriptionStore, UnreadableSubscription, Versioned,
};
use super::{
    ClaimOutcome, Decided, Fenced, Held, IngressStore, InviteClaim, InviteCompletion, InviteLease,
    InviteStore, Listed, OperatorStore, ProcessedMark, ProcessingStart, ProcessorStore,
    ReconcilerStore, Recorded, Reopened, Resolution, Resolved, StoreError,
};
use crate::ipn::PaymentId;
use crate::payment::{PaymentReview, ProcessedPayment, RecordState, ReviewDecision};
use crate::subscription::{Subscription, SubscriptionKey};

mod bot;
mod budgets;
mod catalog;
mod held;
mod offsets;
mod parts;
mod watches;

#[derive(Debug, Default)]
pub struct MemoryStore {
    payments: Mutex<HashMap<i64, ProcessedPayment>>,
    reviews: Mutex<HashMap<i64, PaymentReview>>,
    /// Each review's notice columns (locked after `reviews`, never alone for a claim).
    notices: Mutex<HashMap<i64, NoticeColumns>>,
    subscriptions: Mutex<HashMap<SubscriptionKey, Subscription>>,
    /// Rows this version cannot read (what a rollback leaves in a real store), with their
    /// due time: [`MemoryStore::put_unreadable_subscription`].
    unreadable_subscriptions: Mutex<HashMap<(i64, i64), UnreadableRow>>,
    /// The bot's once-records by storage key, with the token holding each.
    once: Mutex<HashMap<String, (Option<String>, OnceRecord)>>,
    /// Payment watches by payment id, with the token holding each (`watches.rs`).
    watches: Mutex<HashMap<i64, (Option<String>, super::watches::PaymentWatch)>>,
    /// Purchases in parts by their first payment's id (locked after `reviews`, whose
    /// decision settles them: `parts.rs`).
    /// The decision stored here is ignored: the review's is the purchase's.
    parts: Mutex<HashMap<i64, super::parts::PartsTally>>,
    /// The catalog's versions by number (`catalog.rs`).
    catalogs: Mutex<std::collections::BTreeMap<u32, super::catalog::StoredCatalog>>,
    /// The polling server's next update id (`offsets.rs`).
    update_offset: Mutex<Option<i64>>,
    /// Rate budgets: each key's window start and count (`budgets.rs`).
    budgets: Mutex<HashMap<super::budgets::BudgetKey, (DateTime<Utc>, u32)>>,
    unavailable: AtomicBool,
    refused_completes: std::sync::atomic::AtomicU32,
}

/// A review's held-notice columns, beside the review (`held.rs`): the state and the
/// token holding its lease.
#[derive(Debug, Clone, Default)]
struct NoticeColumns {
    token: Option<String>,
    state: super::held::NoticeState,
}

/// An unreadable subscription row and its due time.
type UnreadableRow = (UnreadableSubscription, Option<DateTime<Utc>>);

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Simulates an outage: every call answers `Unavailable` until set back.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    /// Refuses the next `times` `complete_invite` writes (a short outage right after a
    /// message went out).
    pub fn refuse_next_completes(&self, times: u32) {
        self.refused_completes.store(times, Ordering::SeqCst);
    }

    pub fn payment(&self, payment_id: i64) -> Option<ProcessedPayment> {
        self.payments.lock().unwrap().get(&payment_id).cloned()
    }

    pub fn review(&self, payment_id: i64) -> Option<PaymentReview> {
        self.reviews.lock().unwrap().get(&payment_id).cloned()
    }

    pub fn payment_count(&self) -> usize {
        self.payments.lock().unwrap().len()
    }

    pub fn review_count(&self) -> usize {
        self.reviews.lock().unwrap().len()
    }

    /// Seeds a subscription row this version cannot read, due at `next_due_at`, as a
    /// test's GIVEN step (what a rollback leaves in a real store).
    pub fn put_unreadable_subscription(
        &self,
        row: UnreadableSubscription,
        next_due_at: Option<DateTime<Utc>>,
    ) {
        self.unreadable_subscriptions
            .lock()
            .unwrap()
            .insert((row.user_id, row.channel_id), (row, next_due_at));
    }

    /// Seeds or overwrites a record, as a test's GIVEN step.
    pub fn put_payment(&self, record: ProcessedPayment) {
        self.payments
            .lock()
            .unwrap()
            .insert(record.payment_id.get(), record);
    }

    fn check_available(&self) -> Result<(), StoreError> {
        if self.unavailable.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable(
                "in-memory store set unavailable".into(),
            ))
        } else {
            Ok(())
        }
    }

    /// Applies `write` to the record if `lease` holds it.
    fn fenced(
        &self,
        lease: &InviteLease,
        write: impl FnOnce(&mut ProcessedPayment),
    ) -> Result<Fenced, StoreError> {
        self.check_available()?;
        let mut payments = self.payments.lock().unwrap();
        match payments.get_mut(&lease.payment_id.get()) {
            Some(record) if record.invite_lease_token.as_deref() == Some(&lease.token) => {
                write(record);
                Ok(Fenced::Done)
            }
            _ => Ok(Fenced::LeaseLost),
        }
    }
}

fn clear_lease(record: &mut ProcessedPayment, now: DateTime<Utc>) {
    record.invite_lease_token = None;
    record.invite_lease_until = None;
    record.updated_at = now;
}

impl IngressStore for MemoryStore {
    async fn record_accepted(&self, record: &ProcessedPayment) -> Result<Recorded, StoreError> {
        self.check_available()?;
        let mut payments = self.payments.lock().unwrap();
        match payments.get(&record.payment_id.get()) {
            Some(existing) => Ok(Recorded::Existing(Box::new(existing.clone()))),
            None => {
                payments.insert(record.payment_id.get(), record.clone());
                Ok(Recorded::New)
            }
        }
    }

    async fn hold_for_review(&self, review: &PaymentReview) -> Result<Held, StoreError> {
        self.check_available()?;
        let mut reviews = self.reviews.lock().unwrap();
        if reviews.contains_key(&review.payment_id.get()) {
            return Ok(Held::AlreadyHeld);
        }
        reviews.insert(review.payment_id.get(), review.clone());
        Ok(Held::New)
    }
}

impl ProcessorStore for MemoryStore {
    async fn begin_processing(
        &self,
        payment_id: PaymentId,
        now: DateTime<Utc>,
    ) -> Result<ProcessingStart, StoreError> {
        self.check_available()?;
        let mut payments = self.payments.lock().unwrap();
        let Some(record) = payments.get_mut(&payment_id.get()) else {
            return Ok(ProcessingStart::Refused(ProcessedMark::NotFound));
        };
        if !record.awaits_processing() {
            return Ok(ProcessingStart::Refused(ProcessedMark::refused_by(record)));
        }
        record.updated_at = now;
        Ok(ProcessingStart::Stored(Box::new(record.clone())))
    }

    async fn mark_processed(
        &self,
        payment_id: PaymentId,
        now: DateTime<Utc>,
    ) -> Result<ProcessedMark, StoreError> {
        self.check_available()?;
        let mut payments = self.payments.lock().unwrap();
        let Some(record) = payments.get_mut(&payment_id.get()) else {
            return Ok(ProcessedMark::NotFound);
        };
        if !record.awaits_processing() {
            return Ok(ProcessedMark::refused_by(record));
        }
        record.processed = true;
        record.processed_at = Some(now);
        record.updated_at = now;
        Ok(ProcessedMark::Marked)
    }
}

impl InviteStore for MemoryStore {
    async fn claim_invite(&self, claim: &InviteClaim) -> Result<ClaimOutcome, StoreError> {
        self.check_available()?;
        let mut payments = self.payments.lock().unwrap();
        let Some(record) = payments.get_mut(&claim.payment_id.get()) else {
            return Ok(ClaimOutcome::NotFound);
        };
        if !record.invite_claimable_at(claim.now) {
            return Ok(ClaimOutcome::refused_by(record));
        }
        record.invite_lease_token = Some(claim.lease_token.clone());
        record.invite_lease_until = Some(claim.lease_until);
        record.updated_at = claim.now;
        Ok(ClaimOutcome::Claimed(Box::new(record.clone())))
    }

    async fn persist_invite_link(
        &self,
        lease: &InviteLease,
        link: &str,
        link_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        self.fenced(lease, |record| {
            record.telegram_invite_link = Some(link.to_owned());
            record.invite_link_expires_at = Some(link_expires_at);
            record.updated_at = now;
        })
    }

    async fn complete_invite(
        &self,
        lease: &InviteLease,
        how: InviteCompletion,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        if how == InviteCompletion::Sent {
            let refused =
                self.refused_completes
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            if refused.is_ok() {
                return Err(StoreError::Unavailable("complete_invite refused".into()));
            }
        }
        self.fenced(lease, |record| {
            record.telegram_invite_sent = true;
            record.telegram_invite_sent_at = Some(now);
            match how {
                InviteCompletion::Sent => {}
                InviteCompletion::ByMembership => record.invite_satisfied_by_membership = true,
                InviteCompletion::RenewedInPlace => record.invite_renewed_in_place = true,
            }
            clear_lease(record, now);
        })
    }

    async fn release_invite(
        &self,
        lease: &InviteLease,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        self.fenced(lease, |record| clear_lease(record, now))
    }

    async fn fail_invite(
        &self,
        lease: &InviteLease,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        self.fenced(lease, |record| {
            record.state = RecordState::InviteFailed;
            record.invite_failure_reason = Some(reason.to_owned());
            clear_lease(record, now);
        })
    }
}

impl ReconcilerStore for MemoryStore {
    async fn mark_requeued(
        &self,
        payment_id: PaymentId,
        quiet_since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.check_available()?;
        let mut payments = self.payments.lock().unwrap();
        let Some(record) = payments.get_mut(&payment_id.get()) else {
            return Ok(false);
        };
        if !record.is_pending() || record.updated_at >= quiet_since {
            return Ok(false);
        }
        record.updated_at = now;
        Ok(true)
    }

    async fn pending_payments(
        &self,
        created_before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Listed>, StoreError> {
        self.check_available()?;
        let mut pending: Vec<_> = self
            .payments
            .lock()
            .unwrap()
            .values()
            .filter(|r| r.is_pending() && !r.needs_operator() && r.created_at < created_before)
            .cloned()
            .collect();
        pending.sort_by_key(|r| (r.created_at, r.payment_id));
        pending.truncate(limit);
        // Memory holds only readable records.
        Ok(pending.into_iter().map(Ok).collect())
    }
    async fn needs_operator(&self, limit: usize) -> Result<Vec<Listed>, StoreError> {
        self.check_available()?;
        let mut waiting: Vec<_> = self
            .payments
            .lock()
            .unwrap()
            .values()
            .filter(|r| r.needs_operator())
            .cloned()
            .collect();
        waiting.sort_by_key(|r| (r.created_at, r.payment_id));
        waiting.truncate(limit);
        Ok(waiting.into_iter().map(Ok).collect())
    }
}

impl OperatorStore for MemoryStore {
    async fn get_payment(
        &self,
        payment_id: PaymentId,
    ) -> Result<Option<ProcessedPayment>, StoreError> {
        self.check_available()?;
        Ok(self.payment(payment_id.get()))
    }

    async fn get_review(&self, payment_id: PaymentId) -> Result<Option<PaymentReview>, StoreError> {
        self.check_available()?;
        Ok(self.review(payment_id.get()))
    }

    async fn failed_invites(&self, limit: usize) -> Result<Vec<Listed>, StoreError> {
        self.check_available()?;
        let mut failed: Vec<_> = self
            .payments
            .lock()
            .unwrap()
            .values()
            .filter(|r| r.state == RecordState::InviteFailed)
            .cloned()
            .collect();
        failed.sort_by_key(|r| std::cmp::Reverse((r.updated_at, r.payment_id)));
        failed.truncate(limit);
        Ok(failed.into_iter().map(Ok).collect())
    }

    async fn list_reviews(&self, limit: usize) -> Result<Vec<PaymentReview>, StoreError> {
        self.check_available()?;
        let mut reviews: Vec<_> = self.reviews.lock().unwrap().values().cloned().collect();
        reviews.sort_by_key(|r| std::cmp::Reverse((r.received_at, r.payment_id)));
        reviews.truncate(limit);
        Ok(reviews)
    }

    async fn decide_review(
        &self,
        payment_id: PaymentId,
        decision: ReviewDecision,
        now: DateTime<Utc>,
    ) -> Result<Decided, StoreError> {
        self.check_available()?;
        let mut reviews = self.reviews.lock().unwrap();
        let Some(review) = reviews.get_mut(&payment_id.get()) else {
            return Ok(Decided::NotFound);
        };
        if review.decision.is_some() {
            return Ok(Decided::AlreadyDecided(review.decision));
        }
        review.decision = Some(decision);
        review.decided_at = Some(now);
        Ok(Decided::Done)
    }

    async fn resolve_needs_operator(
        &self,
        payment_id: PaymentId,
        resolution: &Resolution,
        now: DateTime<Utc>,
    ) -> Result<Resolved, StoreError> {
        self.check_available()?;
        let mut payments = self.payments.lock().unwrap();
        let Some(record) = payments.get_mut(&payment_id.get()) else {
            return Ok(Resolved::NotFound);
        };
        if !record.needs_operator() {
            return Ok(Resolved::NotNeeded);
        }
        match resolution {
            Resolution::SupplyPurchase(purchase) => record.purchase = Some(purchase.clone()),
            Resolution::AlreadyHandled => {
                record.processed = true;
                record.processed_at = Some(now);
                record.telegram_invite_sent = true;
                record.telegram_invite_sent_at = Some(now);
            }
        }
        record.updated_at = now;
        Ok(Resolved::Done)
    }

    async fn reopen_invite(
        &self,
        payment_id: PaymentId,
        link: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Reopened, StoreError> {
        self.check_available()?;
        let mut payments = self.payments.lock().unwrap();
        let Some(record) = payments.get_mut(&payment_id.get()) else {
            return Ok(Reopened::NotFound);
        };
        if record.invite_lease_until.is_some_and(|until| until >= now) {
            return Ok(Reopened::Leased);
        }
        if record.telegram_invite_link.as_deref() != link {
            return Ok(Reopened::LinkChanged);
        }
        record.reopen_invite(now);
        Ok(Reopened::Done)
    }
}

impl SubscriptionStore for MemoryStore {
    async fn get_subscription(
        &self,
        key: SubscriptionKey,
    ) -> Result<Option<Subscription>, StoreError> {
        self.check_available()?;
        Ok(self.subscriptions.lock().unwrap().get(&key).cloned())
    }

    async fn write_subscription(&self, next: &Subscription) -> Result<Versioned, StoreError> {
        self.check_available()?;
        let mut subscriptions = self.subscriptions.lock().unwrap();
        let stored = subscriptions.get(&next.key).map(|s| s.version);
        let expected = next.version.checked_sub(1).filter(|v| *v > 0);
        if stored != expected {
            return Ok(Versioned::Conflict);
        }
        subscriptions.insert(next.key, next.clone());
        Ok(Versioned::Written)
    }

    async fn due_subscriptions(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ListedSubscription>, StoreError> {
        self.check_available()?;
        let subscriptions = self.subscriptions.lock().unwrap();
        let mut due: Vec<(DateTime<Utc>, (i64, i64), ListedSubscription)> = subscriptions
            .values()
            .filter_map(|s| {
                let at = s.next_due_at.filter(|at| *at <= now)?;
                let key = (s.key.user_id.get(), s.key.channel_id);
                Some((at, key, Ok(s.clone())))
            })
            .collect();
        let unreadable = self.unreadable_subscriptions.lock().unwrap();
        due.extend(unreadable.iter().filter_map(|(key, (row, due_at))| {
            let at = due_at.filter(|at| *at <= now)?;
            Some((at, *key, Err(row.clone())))
        }));
        due.sort_by_key(|(at, key, _)| (*at, *key));
        Ok(due.into_iter().take(limit).map(|(_, _, row)| row).collect())
    }

    async fn park_unreadable(
        &self,
        row: &UnreadableSubscription,
        until: DateTime<Utc>,
    ) -> Result<Versioned, StoreError> {
        self.check_available()?;
        let mut unreadable = self.unreadable_subscriptions.lock().unwrap();
        match unreadable.get_mut(&(row.user_id, row.channel_id)) {
            Some((stored, due_at)) if row.version.is_some() && stored.version == row.version => {
                *due_at = Some(until);
                Ok(Versioned::Written)
            }
            _ => Ok(Versioned::Conflict),
        }
    }

    async fn list_subscriptions(
        &self,
        filter: SubscriptionFilter,
        limit: usize,
    ) -> Result<Vec<ListedSubscription>, StoreError> {
        self.check_available()?;
        let subscriptions = self.subscriptions.lock().unwrap();
        let mut listed: Vec<&Subscription> = subscriptions
            .values()
            .filter(|s| filter.selects(s))
            .collect();
        listed.sort_by_key(|s| (s.expires_at, s.key));
        Ok(listed.into_iter().take(limit).cloned().map(Ok).collect())
    }
}
