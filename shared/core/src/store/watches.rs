//! The payment watches' port: every payment NOWPayments told us is under way (a signed
//! `waiting`, `confirming`, `confirmed` or `sending` IPN) is watched until its outcome is
//! known, so a payment whose finishing IPN never arrives is asked about
//! ([`crate::recovery`]) instead of lost. One row per payment id; a watch is created
//! once (a repeat is a no-op), claimed with a lease for one check (the fencing token),
//! then postponed to its next check or settled, under the same token. Every change is one
//! conditional write.
//!
//! Tests: every backend in `tests/tests/conformance.rs` (`watch_*`).

use std::future::Future;

use chrono::{DateTime, Utc};

use super::{Fenced, StoreError};
use crate::ipn::PaymentId;

/// A payment under way, as its first in-flight IPN said it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWatch {
    pub payment_id: PaymentId,
    /// The buyer and channel its order names (0 when the order cannot be read: the
    /// recovery still asks, and the ingress decision holds what it cannot place).
    pub user_id: i64,
    pub channel_id: i64,
    /// The status the IPN carried, as NOWPayments spells it.
    pub status: String,
    pub seen_at: DateTime<Utc>,
    /// The first check: when a finished IPN is overdue.
    pub first_check_at: DateTime<Utc>,
}

/// How a watch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Settlement {
    /// NOWPayments answered paid and this pass admitted it (no IPN had recorded it):
    /// the callback is broken.
    Recovered,
    /// The payment was recorded already (its IPN arrived, or an earlier pass).
    Arrived,
    /// NOWPayments answered `expired` or `failed`: no money, nothing to grant.
    Unpaid,
    /// Still not final after the watch period: an operator is told.
    GaveUp,
}

impl Settlement {
    pub const ALL: [Settlement; 4] = [Self::Recovered, Self::Arrived, Self::Unpaid, Self::GaveUp];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recovered => "recovered",
            Self::Arrived => "arrived",
            Self::Unpaid => "unpaid",
            Self::GaveUp => "gave_up",
        }
    }

    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == word)
    }
}

/// A watch as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentWatch {
    pub payment_id: PaymentId,
    pub user_id: i64,
    pub channel_id: i64,
    /// The last status seen (from an IPN or NOWPayments' answer).
    pub last_status: String,
    pub first_seen_at: DateTime<Utc>,
    pub next_check_at: DateTime<Utc>,
    /// Checks made so far.
    pub checks: u32,
    pub settled: Option<Settlement>,
    pub settled_at: Option<DateTime<Utc>>,
    pub lease_until: Option<DateTime<Utc>>,
}

impl PaymentWatch {
    /// What a watch looks like when first written.
    pub fn from_new(watch: &NewWatch) -> Self {
        Self {
            payment_id: watch.payment_id,
            user_id: watch.user_id,
            channel_id: watch.channel_id,
            last_status: watch.status.clone(),
            first_seen_at: watch.seen_at,
            next_check_at: watch.first_check_at,
            checks: 0,
            settled: None,
            settled_at: None,
            lease_until: None,
        }
    }

    /// Why a claim at `now` is refused on this watch (the rule every backend's condition
    /// states; the memory backend applies it directly), or `None` when it may be claimed.
    pub fn refusal(&self, now: DateTime<Utc>) -> Option<WatchFound> {
        if let Some(settlement) = self.settled {
            return Some(WatchFound::Settled(settlement));
        }
        if let Some(until) = self.lease_until.filter(|until| *until > now) {
            return Some(WatchFound::Leased { until });
        }
        (self.next_check_at > now).then_some(WatchFound::NotDue {
            at: self.next_check_at,
        })
    }

    /// What a conditional claim the backend refused found here: the rule's answer, or,
    /// when the row changed between the write and this read, a lease to come back to.
    pub fn refused_at(&self, now: DateTime<Utc>) -> WatchFound {
        self.refusal(now)
            .unwrap_or(WatchFound::Leased { until: now })
    }

    /// Due for a check at `now` (not settled, no live lease, its time come).
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.refusal(now).is_none()
    }
}

/// Whether a watch was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watched {
    New,
    /// Watched before (a repeated or later in-flight IPN): nothing changed.
    Already,
}

/// A claim on a watch for one check: who (the fencing token) and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchClaim {
    pub payment_id: PaymentId,
    pub token: String,
    pub lease_until: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchFound {
    /// The lease is ours; the watch as it was before the claim.
    Claimed(Box<PaymentWatch>),
    Settled(Settlement),
    /// Another pass holds a live lease.
    Leased {
        until: DateTime<Utc>,
    },
    /// Its next check is later.
    NotDue {
        at: DateTime<Utc>,
    },
    NotFound,
}

pub trait PaymentWatchStore: Send + Sync {
    /// Writes the watch if no watch of its payment exists (one conditional put).
    fn watch_payment(
        &self,
        watch: &NewWatch,
    ) -> impl Future<Output = Result<Watched, StoreError>> + Send;

    /// Watches due at `now` (not settled, no live lease, next check come), the longest
    /// due first, at most `limit`.
    fn due_watches(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<PaymentWatch>, StoreError>> + Send;

    /// Takes the check lease if the watch exists, is not settled, is due and no lease is
    /// live at `claim.now` (one conditional write; a refused claim reads the row to say
    /// why).
    fn claim_watch(
        &self,
        claim: &WatchClaim,
    ) -> impl Future<Output = Result<WatchFound, StoreError>> + Send;

    /// Records a check that found the payment still under way: `last_status`, one more
    /// check, the next check at `next_check_at`, the lease cleared; if `token` holds it.
    fn postpone_watch(
        &self,
        payment_id: PaymentId,
        token: &str,
        last_status: &str,
        next_check_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Fenced, StoreError>> + Send;

    /// Ends the watch as `settlement` (final: no claim succeeds afterwards), with the last
    /// status seen; if `token` holds it.
    fn settle_watch(
        &self,
        payment_id: PaymentId,
        token: &str,
        settlement: Settlement,
        last_status: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Fenced, StoreError>> + Send;

    /// One watch as stored (a consistent read).
    fn watch_of(
        &self,
        payment_id: PaymentId,
    ) -> impl Future<Output = Result<Option<PaymentWatch>, StoreError>> + Send;

    /// The buyer's payments still under way (not settled), newest first, at most
    /// `limit`: /status shows them. Watches are few (settled ones leave the listing),
    /// so backends may read the unsettled ones and keep the buyer's.
    fn under_way_of(
        &self,
        user_id: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<PaymentWatch>, StoreError>> + Send;
}

impl<T: PaymentWatchStore + ?Sized> PaymentWatchStore for std::sync::Arc<T> {
    async fn watch_payment(&self, watch: &NewWatch) -> Result<Watched, StoreError> {
        (**self).watch_payment(watch).await
    }
    async fn due_watches(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PaymentWatch>, StoreError> {
        (**self).due_watches(now, limit).await
    }
    async fn claim_watch(&self, claim: &WatchClaim) -> Result<WatchFound, StoreError> {
        (**self).claim_watch(claim).await
    }
    async fn postpone_watch(
        &self,
        payment_id: PaymentId,
        token: &str,
        last_status: &str,
        next_check_at: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        (**self)
            .postpone_watch(payment_id, token, last_status, next_check_at)
            .await
    }
    async fn settle_watch(
        &self,
        payment_id: PaymentId,
        token: &str,
        settlement: Settlement,
        last_status: &str,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        (**self)
            .settle_watch(payment_id, token, settlement, last_status, now)
            .await
    }
    async fn watch_of(&self, payment_id: PaymentId) -> Result<Option<PaymentWatch>, StoreError> {
        (**self).watch_of(payment_id).await
    }
    async fn under_way_of(
        &self,
        user_id: i64,
        limit: usize,
    ) -> Result<Vec<PaymentWatch>, StoreError> {
        (**self).under_way_of(user_id, limit).await
    }
}

/// The `limit` watches of `watches` due at `now`, the longest due first: what each
/// backend that filters in code answers [`PaymentWatchStore::due_watches`] with.
pub fn longest_due(
    watches: impl IntoIterator<Item = PaymentWatch>,
    now: DateTime<Utc>,
    limit: usize,
) -> Vec<PaymentWatch> {
    let mut due: Vec<PaymentWatch> = watches.into_iter().filter(|w| w.is_due(now)).collect();
    due.sort_by_key(|w| (w.next_check_at, w.payment_id));
    due.truncate(limit);
    due
}

/// The newest `limit` of `watches` not settled whose buyer is `user_id`: what each
/// backend that filters in code answers [`PaymentWatchStore::under_way_of`] with.
pub fn newest_under_way(
    watches: impl IntoIterator<Item = PaymentWatch>,
    user_id: i64,
    limit: usize,
) -> Vec<PaymentWatch> {
    let mut theirs: Vec<PaymentWatch> = watches
        .into_iter()
        .filter(|w| w.settled.is_none() && w.user_id == user_id)
        .collect();
    theirs.sort_by_key(|w| std::cmp::Reverse((w.first_seen_at, w.payment_id)));
    theirs.truncate(limit);
    theirs
}
