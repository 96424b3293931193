//! The payment store: `processed_payments` and `payment_reviews`, in the payment domain's
//! words, as one port per stage ([`IngressStore`], [`ProcessorStore`], [`InviteStore`],
//! [`ReconcilerStore`], [`OperatorStore`]); [`PaymentStore`] is all of them. Every state
//! change is one conditional write in the backend whose condition is the rule; nothing
//! reads before it writes. Backends: [`memory`] here; DynamoDB, Postgres and SQLite in
//! `telepay-shared`.

pub mod after_call;
pub mod bot;
pub mod memory;
pub mod subscriptions;

pub use bot::{BotStore, OnceClaim, OnceFound, OnceKey, OnceRecord};
pub use subscriptions::{
    ListedSubscription, SubscriptionFilter, SubscriptionStore, UnreadableSubscription, Versioned,
};

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::ipn::PaymentId;
use crate::payment::{PaymentReview, ProcessedPayment, Purchase, RecordState, ReviewDecision};

/// What the ingress write found.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// The record did not exist and now does.
    New,
    /// A record with this payment_id was already there; it is returned as stored and left
    /// unchanged (no extra read: DynamoDB returns it with the failed condition).
    Existing(Box<ProcessedPayment>),
}

/// What holding a payment for review found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    New,
    /// An entry for this payment_id was already waiting; the first one is kept.
    AlreadyHeld,
}

/// What the processor's "stage done" mark found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessedMark {
    Marked,
    /// Marked before: this delivery was a duplicate.
    AlreadyProcessed,
    /// The record is in another state (e.g. `invite_failed`): nothing to mark.
    NotAccepted(RecordState),
    NotFound,
}

impl ProcessedMark {
    /// Why a record refused the processed mark (the backends' condition failed on it).
    pub fn refused_by(record: &ProcessedPayment) -> Self {
        if record.state != RecordState::Accepted {
            Self::NotAccepted(record.state)
        } else {
            Self::AlreadyProcessed
        }
    }
}

/// A claim request: who claims (the fencing token) and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteClaim {
    pub payment_id: PaymentId,
    pub lease_token: String,
    pub lease_until: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

impl InviteClaim {
    pub fn lease(&self) -> InviteLease {
        InviteLease {
            payment_id: self.payment_id,
            token: self.lease_token.clone(),
        }
    }
}

/// A held claim: every write after the claim is conditioned on this token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteLease {
    pub payment_id: PaymentId,
    pub token: String,
}

/// What an invite claim found.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOutcome {
    /// The lease is ours; the record as it is now.
    Claimed(Box<ProcessedPayment>),
    AlreadySent,
    /// Terminal: `invite_failed`, an operator decides.
    InviteFailed,
    /// Another worker holds a live lease until then.
    Leased {
        until: Option<DateTime<Utc>>,
    },
    NotFound,
    /// The lease is ours, but the row is one this version cannot read: the caller ends
    /// it as `invite_failed` (an operator looks), rather than letting it loop into the DLQ.
    ClaimedUnreadable {
        why: String,
    },
    /// Refused, and the row cannot be read to say why.
    Unreadable {
        why: String,
    },
}

impl ClaimOutcome {
    /// Why a record refused a claim (the backends' condition failed on it), in the order
    /// that decides what the caller does: sent, then failed, then leased.
    pub fn refused_by(record: &ProcessedPayment) -> Self {
        if record.telegram_invite_sent {
            Self::AlreadySent
        } else if record.state != RecordState::Accepted {
            Self::InviteFailed
        } else {
            Self::Leased {
                until: record.invite_lease_until,
            }
        }
    }
}

/// What deciding a review found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decided {
    Done,
    /// Decided before (decisions are final).
    AlreadyDecided(Option<ReviewDecision>),
    NotFound,
}

/// What re-opening an invite (for a re-issue) found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reopened {
    Done,
    /// A worker holds a live lease: try again when it is done.
    Leased,
    /// The stored link is no longer the one the caller saw (a worker stored or sent one
    /// since): nothing changed; read again and decide again.
    LinkChanged,
    NotFound,
}

impl Reopened {
    /// Why a record refused a reopen (the backends' condition failed on it).
    pub fn refused_by(record: &ProcessedPayment, now: DateTime<Utc>) -> Self {
        if record.invite_lease_until.is_some_and(|until| until >= now) {
            Self::Leased
        } else {
            Self::LinkChanged
        }
    }
}

/// How an operator settles a row that needs one.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// What the buyer bought, which the seed row never stored.
    SupplyPurchase(Purchase),
    /// Processed and invited outside this system: nothing more to do.
    AlreadyHandled,
}

/// What settling a row found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    Done,
    /// It does not need an operator (processed, or it has a purchase, or not accepted).
    NotNeeded,
    NotFound,
}

/// The result of a write fenced by a lease token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Fenced {
    Done,
    /// The token no longer holds the record: another worker took over. Nothing written.
    LeaseLost,
}

/// A row a listing found but this version cannot read (a malformed time, an unknown
/// state): reported with why, never fatal to the rest of the listing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnreadableRow {
    pub payment_id: i64,
    pub why: String,
}

/// One row of a listing: a record, or why it cannot be read.
pub type Listed = Result<ProcessedPayment, UnreadableRow>;

impl UnreadableRow {
    /// The row a `Corrupt` error names; any other error stays an error.
    pub fn from_error(error: StoreError) -> Result<Self, StoreError> {
        match error {
            StoreError::Corrupt { payment_id, detail } => Ok(Self {
                payment_id,
                why: detail,
            }),
            other => Err(other),
        }
    }

    /// A row read into a listing: the record, or why it cannot be read.
    pub fn list(read: Result<ProcessedPayment, StoreError>) -> Result<Listed, StoreError> {
        match read {
            Ok(record) => Ok(Ok(record)),
            Err(error) => Ok(Err(Self::from_error(error)?)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend did not answer or refused for now (network, throttling, missing table):
    /// the caller must not proceed and the event must be retried.
    #[error("payment store unavailable: {0}")]
    Unavailable(String),
    /// A stored item this code cannot read: needs a human, never a guess.
    #[error("payment {payment_id} is stored in a shape this version cannot read: {detail}")]
    Corrupt { payment_id: i64, detail: String },
    /// A stored subscription this code cannot read.
    #[error(
        "the subscription of user {user_id} in channel {channel_id} is stored in a shape this version cannot read: {detail}"
    )]
    CorruptSubscription {
        user_id: i64,
        channel_id: i64,
        detail: String,
    },
}

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

/// What payment-processor writes: its stage done.
pub trait ProcessorStore: Send + Sync {
    /// Sets `gcwebhook1_processed` (+ `_at`) if the record exists, is accepted and is not
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

    /// Sets `telegram_invite_sent` (+ `_at`) and clears the lease, if `lease` holds.
    fn complete_invite(
        &self,
        lease: &InviteLease,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Fenced, StoreError>> + Send;

    /// Completes the invite without a new link, recording that the buyer was already in
    /// the channel, and clears the lease, if `lease` holds.
    fn complete_invite_by_membership(
        &self,
        lease: &InviteLease,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Fenced, StoreError>> + Send;

    /// Completes a renewal's invite without a link: the buyer was in the channel and was
    /// told the access is renewed. Clears the lease, if `lease` holds.
    fn complete_invite_renewed_in_place(
        &self,
        lease: &InviteLease,
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
    IngressStore + ProcessorStore + InviteStore + ReconcilerStore + OperatorStore + SubscriptionStore
{
}

impl<T> PaymentStore for T where
    T: IngressStore
        + ProcessorStore
        + InviteStore
        + ReconcilerStore
        + OperatorStore
        + SubscriptionStore
{
}

/// Every port trait, for code that holds a whole store (tests, the chaos run) and calls
/// its operations on a concrete backend: `use telepay_core::store::ports::*;`.
pub mod ports {
    pub use super::{
        IngressStore, InviteStore, OperatorStore, PaymentStore, ProcessorStore, ReconcilerStore,
        SubscriptionStore,
    };
}
