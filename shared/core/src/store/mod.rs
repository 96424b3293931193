//! The payment store: `processed_payments` and `payment_reviews`, in the payment domain's
//! words, as one port per stage ([`IngressStore`], [`ProcessorStore`], [`InviteStore`],
//! [`ReconcilerStore`], [`OperatorStore`]); [`PaymentStore`] is all of them. Every state
//! change is one conditional write in the backend whose condition is the rule; nothing
//! reads before it writes. Backends: [`memory`] here; DynamoDB, Postgres and SQLite in
//! `telepay-shared`. What the ports answer (claims, leases, fenced outcomes, the error)
//! is in `outcomes.rs`; the ports themselves are here.
//!
//! Tests: every backend in `tests/tests/conformance.rs`.

pub mod after_call;
pub mod bot;
pub mod budgets;
pub mod catalog;
pub mod held;
pub mod memory;
pub mod offsets;
mod outcomes;
pub mod parts;
pub mod subscriptions;
pub mod watches;

pub use bot::{BotStore, OnceClaim, OnceFound, OnceKey, OnceRecord};
pub use budgets::{BudgetKey, BudgetSpend, BudgetWindow, RateBudgetStore};
pub use catalog::{CatalogApplied, CatalogStore, StoredCatalog};
pub use held::{HeldNoticeStore, NoticeClaim, NoticeFound, NoticeState};
pub use offsets::{OffsetAdvance, UpdateOffsetStore};
pub use outcomes::{
    ClaimOutcome, Decided, Fenced, Held, InviteClaim, InviteCompletion, InviteLease, Listed,
    ProcessedMark, ProcessingStart, Recorded, Reopened, Resolution, Resolved, StoreError,
    UnreadableRow,
};
pub use parts::{
    OpenPurchase, PartAdded, PartsSettled, PartsTally, PurchaseOpened, PurchasePart,
    PurchasePartsStore,
};
pub use subscriptions::{
    ListedSubscription, SubscriptionFilter, SubscriptionStore, UnreadableSubscription, Versioned,
};
pub use watches::{
    NewWatch, PaymentWatch, PaymentWatchStore, Settlement, WatchClaim, WatchFound, Watched,
};

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::ipn::PaymentId;
use crate::payment::{PaymentReview, ProcessedPayment, ReviewDecision};

/// What np-webhook writes: a granted payment, or a payment held for a human.
pub trait IngressStore: Send + Sync {
    /// Writes `record` only if no record with its payment_id exists (one conditional put).
    fn record_accepted(
        &self,
        record: &ProcessedPayment,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;

    /// Writes `review` only if no review with its payment_id exists.
    fn hold_for_review(
        &self,
        review: &PaymentReview,
    ) -> impl Future<Output = Result<Held, StoreError>> + Send;
}

/// What payment-processor writes: its stage begun and done.
pub trait ProcessorStore: Send + Sync {
    /// Touches the record (`updated_at`) if it exists, is accepted and is not processed
    /// yet, and returns it as stored: one conditional write that both decides whether
    /// there is anything to process and gives the processor the stored buyer, channel
    /// and purchase to act on, so a message with no accepted record behind it (or other
    /// facts than its record's) can neither grant time nor queue a payout.
    fn begin_processing(
        &self,
        payment_id: PaymentId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<ProcessingStart, StoreError>> + Send;

    /// Sets `processed` (+ `_at`; the seed's `gcwebhook1_processed`) if the record exists, is accepted and is not
    /// processed yet (a missing flag counts as false).
    fn mark_processed(
        &self,
        payment_id: PaymentId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<ProcessedMark, StoreError>> + Send;
}

/// The invite protocol's writes, each fenced by the lease the claim took.
pub trait InviteStore: Send + Sync {
    /// Takes the invite lease if the record exists, is accepted, its invite is not sent,
    /// and no lease is live at `claim.now`; returns the record as updated.
    fn claim_invite(
        &self,
        claim: &InviteClaim,
    ) -> impl Future<Output = Result<ClaimOutcome, StoreError>> + Send;

    /// Stores the invite link and its expiry, if `lease` still holds the record.
    fn persist_invite_link(
        &self,
        lease: &InviteLease,
        link: &str,
        link_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Fenced, StoreError>> + Send;

    /// Completes the invite as `how` (sets `telegram_invite_sent` + `_at`, and the flag
    /// `how` names) and clears the lease, if `lease` holds. One write a completion kind
    /// of [`InviteCompletion`], so a new kind is one arm in each backend.
    fn complete_invite(
        &self,
        lease: &InviteLease,
        how: InviteCompletion,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Fenced, StoreError>> + Send;

    /// Clears the lease so another attempt may claim at once, if `lease` holds.
    fn release_invite(
        &self,
        lease: &InviteLease,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Fenced, StoreError>> + Send;

    /// Moves the record to `invite_failed` with `reason` and clears the lease, if `lease`
    /// holds. Terminal: no claim succeeds afterwards.
    fn fail_invite(
        &self,
        lease: &InviteLease,
        reason: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Fenced, StoreError>> + Send;
}

/// What the reconciler needs: the overdue payments, and its one-re-queue-per-quiet-period mark.
pub trait ReconcilerStore: Send + Sync {
    /// Accepted records created before `created_before` whose processing or invite is not
    /// done (seed rows with NULL flags included), oldest first, at most `limit`: the rows
    /// the reconciler can move. Rows that need an operator
    /// ([`ProcessedPayment::needs_operator`]) are not among them, so however many there
    /// are, they never take the batch. A row this version cannot read is listed as
    /// [`UnreadableRow`], never fails the listing.
    fn pending_payments(
        &self,
        created_before: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Listed>, StoreError>> + Send;

    /// Pending rows only an operator can move (never processed, no stored purchase: a
    /// seed row), oldest first, at most `limit`.
    fn needs_operator(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Listed>, StoreError>> + Send;

    /// The reconciler's claim on a stuck payment: if the record is pending and nothing has
    /// touched it since `quiet_since` (`updated_at` older, or NULL on seed rows), sets
    /// `updated_at = now` and answers true; the caller re-queues it. Overlapping runs, and
    /// runs while a re-queued message still waits in a long queue, answer false: one
    /// re-queue per quiet period, not one per run.
    fn mark_requeued(
        &self,
        payment_id: PaymentId,
        quiet_since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Reads for operators and tests (never on the happy path), and the operator's writes.
pub trait OperatorStore: Send + Sync {
    /// One record, as stored (a consistent read).
    fn get_payment(
        &self,
        payment_id: PaymentId,
    ) -> impl Future<Output = Result<Option<ProcessedPayment>, StoreError>> + Send;

    /// One review entry.
    fn get_review(
        &self,
        payment_id: PaymentId,
    ) -> impl Future<Output = Result<Option<PaymentReview>, StoreError>> + Send;

    /// Records in `invite_failed`, most recently changed first, at most `limit`.
    fn failed_invites(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Listed>, StoreError>> + Send;

    /// Review entries, newest first, at most `limit`.
    fn list_reviews(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<PaymentReview>, StoreError>> + Send;

    /// Records an operator's decision on a review entry, once.
    fn decide_review(
        &self,
        payment_id: PaymentId,
        decision: ReviewDecision,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Decided, StoreError>> + Send;

    /// Settles a row that needs an operator, if it still does (one conditional write):
    /// supplies the purchase it lacks (it is then processed as any payment), or records
    /// that it was handled outside this system (both stages done, nothing sent).
    fn resolve_needs_operator(
        &self,
        payment_id: PaymentId,
        resolution: &Resolution,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Resolved, StoreError>> + Send;

    /// Makes a record's invite due again (state `accepted`, not sent, no link, no failure
    /// reason) unless a live lease holds it, and only while its stored link is still
    /// `link` (compare-and-set): the operator then knows exactly which link it cleared,
    /// and revokes that one. The operator's re-issue and replay.
    fn reopen_invite(
        &self,
        payment_id: PaymentId,
        link: Option<&str>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Reopened, StoreError>> + Send;
}

/// Every port at once: what a backend is (each operation implemented once, in its
/// port), and what the tests and the chaos run hold. Stages name only their own port.
pub trait PaymentStore:
    IngressStore
    + ProcessorStore
    + InviteStore
    + ReconcilerStore
    + OperatorStore
    + SubscriptionStore
    + HeldNoticeStore
    + PaymentWatchStore
    + PurchasePartsStore
    + CatalogStore
    + RateBudgetStore
{
}

impl<T> PaymentStore for T where
    T: IngressStore
        + ProcessorStore
        + InviteStore
        + ReconcilerStore
        + OperatorStore
        + SubscriptionStore
        + HeldNoticeStore
        + PaymentWatchStore
        + PurchasePartsStore
        + CatalogStore
        + RateBudgetStore
{
}

/// Every port trait, for code that holds a whole store (tests, the chaos run) and calls
/// its operations on a concrete backend: `use telepay_core::store::ports::*;`.
pub mod ports {
    pub use super::{
        CatalogStore, HeldNoticeStore, IngressStore, InviteStore, OperatorStore, PaymentStore,
        PaymentWatchStore, ProcessorStore, PurchasePartsStore, RateBudgetStore, ReconcilerStore,
        SubscriptionStore, UpdateOffsetStore,
    };
}
