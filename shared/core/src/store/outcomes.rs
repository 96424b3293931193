//! What the payment store's ports take and answer, in the payment domain's words: an
//! ingress write's `Recorded`/`Held`, the invite protocol's claim, lease and fenced
//! outcomes, an operator's decisions, an unreadable row, and the one store error. The
//! ports are in `super`.
//!
//! Tests: every backend in `tests/tests/conformance.rs`.

use chrono::{DateTime, Utc};

use crate::ipn::PaymentId;
use crate::payment::{ProcessedPayment, Purchase, RecordState, ReviewDecision};

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

/// The processor's first write on a payment: the record as stored, which the processor
/// then acts on (never its queue message's word), or why it will not.
#[derive(Debug, Clone, PartialEq)]
pub enum ProcessingStart {
    /// Accepted and not processed yet: its buyer, channel and purchase as stored.
    Stored(Box<ProcessedPayment>),
    /// Processed already, in another state, or not there at all (a message no accepted
    /// record stands for: forged, or for a payment this store never accepted).
    Refused(ProcessedMark),
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
    /// The write would make an item larger than the backend allows (DynamoDB's 400 KB):
    /// retrying cannot help. Records stay bounded (`subscription::bounds`), so this is
    /// a bug to report, with its own alarm (`StoreItemTooLarge`).
    #[error("the store refused the write as too large: {0}")]
    TooLarge(String),
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
        /// The row's version column, when it reads (what parking it is conditioned on).
        version: Option<u64>,
        detail: String,
    },
}

/// How an invite ended well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteCompletion {
    /// The link went out in a message.
    Sent,
    /// No new link: the buyer was already in the channel
    /// (`invite_satisfied_by_membership`).
    ByMembership,
    /// A renewal without a link: the buyer was in and was told
    /// (`invite_renewed_in_place`).
    RenewedInPlace,
}

impl InviteCompletion {
    /// The write's name in metrics and fault plans.
    pub fn operation(self) -> &'static str {
        match self {
            Self::Sent => "complete_invite",
            Self::ByMembership => "complete_invite_by_membership",
            Self::RenewedInPlace => "complete_invite_renewed_in_place",
        }
    }
}
