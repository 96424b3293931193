//! The purchases-in-parts port: a short payment held as `underpaid` in a channel that
//! offers top-ups opens a purchase; the buyer's top-up payments are added to it as parts,
//! and the purchase is settled once, when its parts reach the price ([`crate::topup`]).
//!
//! The state lives on the first short payment's `payment_reviews` entry (as the held
//! notice's does): what is owed, what arrived and from which payments, who settled it.
//! Settling writes the review's decision (`topped_up`) in the same conditional write, so a
//! top-up that completes the purchase and an operator's approve or reject of the same
//! hold exclude each other: whichever decides first wins, the other is refused. Every
//! change is one conditional write; a part is added once however often its IPN comes.
//!
//! Tests: every backend in `tests/tests/conformance.rs` (`parts_*`).

use std::future::Future;

use chrono::{DateTime, Utc};

use super::StoreError;
use crate::ipn::PaymentId;
use crate::payment::ReviewDecision;

/// A purchase opened on a short payment's hold: what the tier costs and what arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenPurchase {
    /// The first short payment (its review holds the purchase).
    pub purchase_id: PaymentId,
    /// The buyer (from the order), so /topup and /status find their purchases.
    pub user_id: i64,
    /// The channel its order names (the directory's `channel_id`).
    pub channel_id: i64,
    /// The price asked, in its currency (lower case, as the tier and the IPN spell it).
    pub price_amount: f64,
    pub price_currency: String,
    /// What the first payment brought, in the price's currency, and in the payout's.
    pub first_paid: f64,
    pub first_outcome: Option<f64>,
    pub opened_at: DateTime<Utc>,
}

/// One payment of a purchase: its id and what it brought (price's and payout's currency).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PurchasePart {
    pub payment_id: PaymentId,
    pub paid: f64,
    pub outcome: Option<f64>,
}

/// A purchase in parts as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct PartsTally {
    pub purchase_id: PaymentId,
    pub user_id: i64,
    pub channel_id: i64,
    pub price_amount: f64,
    pub price_currency: String,
    /// Every part's `paid`, summed by the store as each was added.
    pub paid_total: f64,
    /// Every part's `outcome`, summed (what the payout of the whole purchase is).
    pub outcome_total: f64,
    /// The payment ids of the parts, the first short payment among them, ascending.
    pub parts: Vec<PaymentId>,
    pub opened_at: DateTime<Utc>,
    /// The hold's decision: `topped_up` when its parts completed it, `approved` or
    /// `rejected` when an operator settled it first; `None` while open.
    pub decision: Option<ReviewDecision>,
    /// The part whose addition completed it (`topped_up` only).
    pub settled_by: Option<PaymentId>,
    /// When its owner was told it was never completed.
    pub owner_told_at: Option<DateTime<Utc>>,
}

impl PartsTally {
    /// Still open to top-ups: no decision on its hold yet.
    pub fn is_open(&self) -> bool {
        self.decision.is_none()
    }

    /// What is still missing, in the price's currency (0 once the parts reach it).
    pub fn missing(&self) -> f64 {
        (self.price_amount - self.paid_total).max(0.0)
    }

    /// Whether the parts reach the price within `tolerance_percent` (the same tolerance
    /// a single payment gets).
    pub fn is_paid_within(&self, tolerance_percent: f64) -> bool {
        self.paid_total + 1e-9 >= self.price_amount * (1.0 - tolerance_percent / 100.0)
    }
}

/// What opening a purchase found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurchaseOpened {
    New,
    /// Opened before (a repeated IPN of the first short payment).
    Already,
    /// No review with this payment id (the hold is written first).
    NoReview,
}

/// What adding a part found.
#[derive(Debug, Clone, PartialEq)]
pub enum PartAdded {
    /// Added now; the purchase as it stands after it.
    Added(PartsTally),
    /// This part was added before (a repeated IPN): the purchase as it stands.
    Already(PartsTally),
    /// Its hold is decided (completed, approved or rejected): nothing added.
    Settled(PartsTally),
    /// No purchase with this id.
    NotFound,
}

/// What settling a purchase by its parts found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartsSettled {
    /// Decided `topped_up` now, by this part.
    Now,
    /// Decided before: by a part (`settled_by`) or by an operator (`settled_by` none).
    Already {
        decision: ReviewDecision,
        settled_by: Option<PaymentId>,
    },
    NotFound,
}

pub trait PurchasePartsStore: Send + Sync {
    /// Opens a purchase on the review of its first short payment, with that payment as
    /// its first part, if the review exists and holds no purchase yet.
    fn open_purchase(
        &self,
        open: &OpenPurchase,
    ) -> impl Future<Output = Result<PurchaseOpened, StoreError>> + Send;

    /// Adds `part` to the purchase, if the part is not in it yet and its hold is not
    /// decided (one conditional write; a refused add reads the purchase to say why).
    fn add_part(
        &self,
        purchase_id: PaymentId,
        part: &PurchasePart,
    ) -> impl Future<Output = Result<PartAdded, StoreError>> + Send;

    /// Decides the purchase's hold `topped_up`, settled by `by`, if it is not decided
    /// yet: the one write that lets a purchase grant once.
    fn settle_purchase(
        &self,
        purchase_id: PaymentId,
        by: PaymentId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<PartsSettled, StoreError>> + Send;

    /// Decides `topped_up` the hold of a short top-up `part` of a completed purchase, if
    /// it is held and not decided yet: `false` otherwise.
    fn settle_part_hold(
        &self,
        part: PaymentId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// One purchase (a consistent read), `None` without one.
    fn purchase_of(
        &self,
        purchase_id: PaymentId,
    ) -> impl Future<Output = Result<Option<PartsTally>, StoreError>> + Send;

    /// The buyer's open purchases, newest first, at most `limit` (/topup and /status).
    /// Open purchases are few and settled within days: backends may read every open one.
    fn open_purchases_of(
        &self,
        user_id: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<PartsTally>, StoreError>> + Send;

    /// Open purchases opened before `opened_before` whose owner was not told yet, oldest
    /// first, at most `limit`: the reconciler tells their owners.
    fn stale_purchases(
        &self,
        opened_before: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<PartsTally>, StoreError>> + Send;

    /// Records the owner told of an open purchase never completed, once: `false` when it
    /// was recorded before (or the purchase is gone or decided).
    fn mark_owner_told(
        &self,
        purchase_id: PaymentId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// The rule for an add, on a purchase as stored: why it is refused, if it is. One place,
/// applied by the memory backend and stated by the others' conditions.
pub fn add_refusal(tally: &PartsTally, part: PaymentId) -> Option<PartAdded> {
    if !tally.is_open() {
        return Some(PartAdded::Settled(tally.clone()));
    }
    tally
        .parts
        .contains(&part)
        .then(|| PartAdded::Already(tally.clone()))
}

/// What an add a backend refused found on the purchase read after it: the rule's answer
/// (a part or a decision never goes away, so the rule always has one).
pub fn refused_add(tally: PartsTally, part: PaymentId) -> PartAdded {
    add_refusal(&tally, part).unwrap_or(PartAdded::Already(tally))
}

/// What a settle a backend refused found on the purchase read after it.
pub fn refused_settle(tally: &PartsTally) -> PartsSettled {
    settle_refusal(tally).unwrap_or(PartsSettled::NotFound)
}

/// What a refused settle found on the purchase as stored.
pub fn settle_refusal(tally: &PartsTally) -> Option<PartsSettled> {
    tally.decision.map(|decision| PartsSettled::Already {
        decision,
        settled_by: tally.settled_by,
    })
}

/// The buyer's open purchases, newest first, at most `limit`.
pub fn newest_open_of(
    purchases: impl Iterator<Item = PartsTally>,
    user_id: i64,
    limit: usize,
) -> Vec<PartsTally> {
    let mut open: Vec<PartsTally> = purchases
        .filter(|p| p.user_id == user_id && p.is_open())
        .collect();
    open.sort_by(|a, b| {
        (b.opened_at, b.purchase_id.get()).cmp(&(a.opened_at, a.purchase_id.get()))
    });
    open.truncate(limit);
    open
}

/// Open purchases opened before `before`, owner untold, oldest first, at most `limit`.
pub fn oldest_stale(
    purchases: impl Iterator<Item = PartsTally>,
    before: DateTime<Utc>,
    limit: usize,
) -> Vec<PartsTally> {
    let mut stale: Vec<PartsTally> = purchases
        .filter(|p| p.is_open() && p.owner_told_at.is_none() && p.opened_at < before)
        .collect();
    stale.sort_by_key(|p| (p.opened_at, p.purchase_id.get()));
    stale.truncate(limit);
    stale
}
