//! How a subscription record stays bounded. The record is one item (DynamoDB refuses an
//! item over 400 KB), yet a buyer of an hourly tier pays ~9,000 times a year. So:
//!
//! - **Grants**: past [`MAX_GRANTS`], the oldest are folded into [`FoldedGrants`] until
//!   [`KEPT_GRANTS`] are left. The fold is a left fold in acceptance order, so its value
//!   after the oldest grants is all the later ones need: kept and future grants are all
//!   accepted after `through`, and an operator's end at or before `through` cannot move
//!   them. A fold that would not be exact (a folded grant placed after a later end than
//!   a kept grant's acceptance) is not made; the record then waits for a later chance.
//! - **Duplicates**: a grant accepted at or before `through` is counted in the fold (a
//!   redelivery of a folded payment). Payments reach the fold minutes after acceptance;
//!   one granted after [`KEPT_GRANTS`] later payments of the same buyer never happens.
//! - **Refunds** of a folded payment cannot take its time back exactly (its place in the
//!   fold is gone): they are reported as for a payment never granted
//!   (`RefundWithoutGrant`), for the owner to decide (`telepay subscriptions end`).
//! - **History**: the last [`KEPT_HISTORY`] entries; older ones are counted.
//! - **Reasons**: an operator's reason is at most [`MAX_REASON_CHARS`] characters.
//!
//! With these, a record stays under [`MAX_RECORD_BYTES`] serialized, whatever the
//! buyer's history (`super::tests::a_lifetime_of_payments_stays_under_the_bound`).

use chrono::{DateTime, Utc};

use super::grants::fold_expiry_from;
use super::record::{FoldedGrants, Subscription, TimeGrant};

/// Grants kept in the record before the oldest are folded.
pub const MAX_GRANTS: usize = 256;
/// Grants left after a fold.
pub const KEPT_GRANTS: usize = 128;
/// History entries kept; older ones are counted in `earlier_history`.
pub const KEPT_HISTORY: usize = 100;
/// An operator's reason, in characters.
pub const MAX_REASON_CHARS: usize = 200;
/// What a record's JSON stays under: 256 grants of ~200 bytes, 100 history entries of at
/// most ~350 bytes, the rest small. A quarter of DynamoDB's 400 KB item limit.
pub const MAX_RECORD_BYTES: usize = 100 * 1024;

impl Subscription {
    /// Folds the oldest grants once there are more than [`MAX_GRANTS`]; the expiry is
    /// unchanged by construction (checked: a fold that would move it is not made).
    pub(super) fn fold_old_grants(&mut self) {
        if self.grants.len() <= MAX_GRANTS {
            return;
        }
        let mut acceptance: Vec<DateTime<Utc>> =
            self.grants.iter().map(|g| g.accepted_at).collect();
        acceptance.sort();
        // Everything accepted at or before the boundary goes: kept grants are accepted
        // strictly after it. The kept ones stay in their order (the latest grant last).
        let boundary = acceptance[acceptance.len() - KEPT_GRANTS - 1];
        let (old, kept): (Vec<TimeGrant>, Vec<TimeGrant>) = self
            .grants
            .iter()
            .cloned()
            .partition(|g| g.accepted_at <= boundary);
        let (old_cuts, kept_cuts): (Vec<DateTime<Utc>>, Vec<DateTime<Utc>>) =
            self.cut_offs.iter().partition(|cut| **cut <= boundary);
        let previous = self.folded.as_ref();
        let baseline = previous.and_then(|f| f.expires_at);
        let folded = FoldedGrants {
            through: boundary,
            expires_at: fold_expiry_from(baseline, &old, &old_cuts),
            grants: previous.map_or(0, |f| f.grants) + old.len() as u64,
            counted: previous.map_or(0, |f| f.counted)
                + old.iter().filter(|g| g.refunded_at.is_none()).count() as u64,
        };
        let unfolded = fold_expiry_from(baseline, &self.grants, &self.cut_offs);
        let refolded = fold_expiry_from(folded.expires_at, &kept, &kept_cuts);
        if refolded != unfolded {
            // A folded grant sits after an end later than a kept grant's acceptance
            // (a processor backlog across an operator's end): not exact, not now.
            return;
        }
        self.grants = kept;
        self.cut_offs = kept_cuts;
        self.folded = Some(folded);
    }

    /// Keeps the last [`KEPT_HISTORY`] entries, counting the ones it drops.
    pub(super) fn trim_history(&mut self) {
        let over = self.history.len().saturating_sub(KEPT_HISTORY);
        if over > 0 {
            self.history.drain(..over);
            self.earlier_history += over as u64;
        }
    }
}

/// An operator's reason, checked: bad input is refused, never cut silently.
pub fn check_reason(reason: &str) -> Result<(), ReasonTooLong> {
    let chars = reason.chars().count();
    if chars > MAX_REASON_CHARS {
        return Err(ReasonTooLong(chars));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the reason is {0} characters; at most 200 are kept in the subscription's history")]
pub struct ReasonTooLong(pub usize);
