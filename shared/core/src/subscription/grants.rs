//! The rules of paid time, pure functions of the stored facts and `now`: the fold of
//! grants and cut-offs into an expiry, a first grant, a renewal, a refund, and what a
//! record says of itself (status, active, renewal, paid until, its live link). Every
//! change returns the next version of the record; the store writes it only if the stored
//! version is still the one it was computed from, so each change is decided by one
//! conditional write, whatever runs beside it. Tests: `super::tests`.

use chrono::{DateTime, Utc};

use super::duration::AccessDuration;
use super::record::{
    Ended, Ending, GrantSource, LiveLink, MAX_REISSUES_PER_PERIOD, Refused, Subscription,
    SubscriptionKey, SubscriptionStatus, Task, TimeGrant, ms,
};
use super::settings::LifecycleSettings;

/// How long after a grant that crossed a removal the lifecycle looks whether the buyer is
/// back in: the grant's own invite (with a link) goes first.
pub const CROSSING_INVITE_AFTER: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// The paid time: over the grants not refunded, in (`accepted_at`, source) order,
/// `acc = max(accepted_at, acc) + duration`; an operator's `end` at time `t` caps what
/// was granted before it (`acc = min(acc, t)`), and time granted after it starts afresh:
/// a payment accepted before the end but granted after it (a processor backlog) is placed
/// after the end, so the end never wipes it. `None` when nothing is left.
pub fn fold_expiry(grants: &[TimeGrant], cut_offs: &[DateTime<Utc>]) -> Option<DateTime<Utc>> {
    fold_expiry_from(None, grants, cut_offs)
}

/// [`fold_expiry`] continued from `start`: the value of grants folded earlier, all
/// accepted before any of `grants` ([`super::bounds`]).
pub fn fold_expiry_from(
    start: Option<DateTime<Utc>>,
    grants: &[TimeGrant],
    cut_offs: &[DateTime<Utc>],
) -> Option<DateTime<Utc>> {
    let mut cuts: Vec<DateTime<Utc>> = cut_offs.to_vec();
    cuts.sort();
    // Where each grant sits among the cuts: at its acceptance, or just after the last
    // cut made between its acceptance and its grant.
    let placed_at = |grant: &TimeGrant| {
        let granted_at = grant.granted_at.unwrap_or(grant.accepted_at);
        cuts.iter()
            .rev()
            .find(|cut| **cut >= grant.accepted_at && **cut < granted_at)
            .map_or((grant.accepted_at, false), |cut| (*cut, true))
    };
    let mut live: Vec<(&TimeGrant, (DateTime<Utc>, bool))> = grants
        .iter()
        .filter(|g| g.refunded_at.is_none())
        .map(|g| (g, placed_at(g)))
        .collect();
    live.sort_by(|(a, at_a), (b, at_b)| (at_a, &a.source).cmp(&(at_b, &b.source)));
    let mut cuts = cuts.into_iter().peekable();
    let mut acc: Option<DateTime<Utc>> = start;
    for (grant, (at, after_cut)) in live {
        // A cut at the same instant as a grant comes after it (the cut wins), unless the
        // grant was placed after that very cut.
        while let Some(cut) = cuts.next_if(|cut| *cut < at || (after_cut && *cut == at)) {
            acc = acc.map(|acc| acc.min(cut));
        }
        let start = acc.map_or(grant.accepted_at, |acc| acc.max(grant.accepted_at));
        acc = Some(start + grant.access.as_delta());
    }
    for cut in cuts {
        acc = acc.map(|acc| acc.min(cut));
    }
    acc
}

impl Subscription {
    /// A subscription's first grant: version 1.
    pub fn first(
        key: SubscriptionKey,
        grant: TimeGrant,
        now: DateTime<Utc>,
        settings: &LifecycleSettings,
    ) -> Self {
        let now = ms(now);
        let mut first = Self::empty(key, now);
        first.push_grant(grant, now);
        first.finish(now, settings)
    }

    /// A refund ahead of any grant of this buyer in this channel: version 1, holding the
    /// refund (so the grant, when it comes, counts nothing), ended as never granted.
    pub fn refunded_first(
        key: SubscriptionKey,
        source: &GrantSource,
        now: DateTime<Utc>,
        settings: &LifecycleSettings,
    ) -> Self {
        let now = ms(now);
        let mut first = Self::empty(key, now);
        first.grants.push(refunded_ahead(source, now));
        first.note(
            now,
            format!("refunded {} before it was granted", source_label(source)),
            None,
        );
        first.ended = Some(Ended {
            for_expiry: now,
            at: now,
            how: Ending::NeverGranted,
        });
        first.finish(now, settings)
    }

    /// Marks the buyer for the lifecycle's invite, due at `due` (or earlier, if already
    /// marked for earlier).
    pub fn mark_needs_invite(&mut self, due: DateTime<Utc>) {
        let due = ms(due);
        self.needs_invite_at = Some(match (self.needs_invite, self.needs_invite_at) {
            (true, Some(earlier)) => earlier.min(due),
            _ => due,
        });
        self.needs_invite = true;
    }

    /// The next version with the buyer marked for an invite now (`/status` found them out
    /// with nothing to re-issue); `None` if already marked for now or earlier.
    pub fn invite_now(&self, now: DateTime<Utc>, settings: &LifecycleSettings) -> Option<Self> {
        let now = ms(now);
        if self.needs_invite && self.needs_invite_at.is_none_or(|due| due <= now) {
            return None;
        }
        let mut next = self.clone();
        next.mark_needs_invite(now);
        next.note(now, "invite asked for: the buyer is not in".into(), None);
        Some(next.finish(now, settings))
    }

    /// This version with one more `/status` re-issue counted, if the paid period has one
    /// left ([`MAX_REISSUES_PER_PERIOD`]). No version bump: for a change that makes one.
    pub fn with_reissue_counted(mut self) -> Option<Self> {
        if self.reissues >= MAX_REISSUES_PER_PERIOD {
            return None;
        }
        self.reissues += 1;
        Some(self)
    }

    /// The next version counting one `/status` re-issue, if the period has one left.
    pub fn count_reissue(&self, now: DateTime<Utc>, settings: &LifecycleSettings) -> Option<Self> {
        let now = ms(now);
        let mut next = self.clone().with_reissue_counted()?;
        next.note(
            now,
            format!(
                "invite re-issued for /status ({} of {MAX_REISSUES_PER_PERIOD} this period)",
                next.reissues
            ),
            None,
        );
        Some(next.finish(now, settings))
    }

    /// Whether `source`'s payment is in the record refunded (its grant counts nothing).
    pub fn is_refunded(&self, source: &GrantSource) -> bool {
        self.grants
            .iter()
            .any(|g| &g.source == source && g.refunded_at.is_some())
    }

    fn empty(key: SubscriptionKey, now: DateTime<Utc>) -> Self {
        Self {
            key,
            version: 0,
            expires_at: now,
            expiry_set_at: now,
            grants: Vec::new(),
            cut_offs: Vec::new(),
            reminded_before_seconds: None,
            lease: None,
            ended: None,
            needs_invite: false,
            needs_invite_at: None,
            removal_unknown_at: None,
            next_due_at: None,
            live_link: None,
            history: Vec::new(),
            earlier_history: 0,
            folded: None,
            reissues: 0,
            created_at: now,
            updated_at: now,
        }
    }

    /// Adds a payment's (or an operator's) time, once per source.
    pub fn grant(
        &self,
        grant: TimeGrant,
        now: DateTime<Utc>,
        settings: &LifecycleSettings,
    ) -> Result<Self, Refused> {
        let folded = self
            .folded
            .as_ref()
            .is_some_and(|folded| folded.covers(grant.accepted_at));
        if folded || self.grants.iter().any(|g| g.source == grant.source) {
            return Err(Refused::AlreadyGranted);
        }
        let now = ms(now);
        let mut next = self.clone();
        next.push_grant(grant, now);
        Ok(next.finish(now, settings))
    }

    /// Takes a refunded payment out of the fold, once. A refund that arrives before its
    /// grant leaves the grant in the list already refunded, so the grant, when it comes,
    /// counts nothing.
    pub fn refund(
        &self,
        source: &GrantSource,
        now: DateTime<Utc>,
        settings: &LifecycleSettings,
    ) -> Result<Self, Refused> {
        let now = ms(now);
        let mut next = self.clone();
        match next.grants.iter_mut().find(|g| &g.source == source) {
            Some(grant) if grant.refunded_at.is_some() => return Err(Refused::NothingToRefund),
            Some(grant) => grant.refunded_at = Some(now),
            None => next.grants.push(refunded_ahead(source, now)),
        }
        next.note(now, format!("refunded {}", source_label(source)), None);
        let _ = next.refold(now);
        Ok(next.finish(now, settings))
    }

    pub fn status(&self, now: DateTime<Utc>, settings: &LifecycleSettings) -> SubscriptionStatus {
        match &self.ended {
            Some(Ended {
                how: Ending::Removed { .. },
                ..
            }) => SubscriptionStatus::Removed,
            Some(Ended {
                how: Ending::RemovalFailed { .. },
                ..
            }) => SubscriptionStatus::RemovalFailed,
            Some(Ended {
                how: Ending::NeverGranted,
                ..
            }) => SubscriptionStatus::Refunded,
            None if self.is_active(now, settings) => SubscriptionStatus::Active,
            None => SubscriptionStatus::Expired,
        }
    }

    /// Whether `source`'s grant met a removal ([`TimeGrant::crossed_removal`]).
    pub fn crossed_removal(&self, source: &GrantSource) -> bool {
        self.grants
            .iter()
            .any(|g| &g.source == source && g.crossed_removal)
    }

    /// Whether `source`'s time came after other paid time of this buyer (a renewal, or a
    /// return): its invite first asks whether the buyer is still in the channel.
    pub fn is_renewal(&self, source: &GrantSource) -> bool {
        let Some(this) = self.grants.iter().find(|g| &g.source == source) else {
            return false;
        };
        if self
            .folded
            .as_ref()
            .is_some_and(|folded| folded.counted > 0)
        {
            return true;
        }
        self.grants.iter().any(|other| {
            other.refunded_at.is_none()
                && (other.accepted_at, &other.source) < (this.accepted_at, &this.source)
        })
    }

    /// Until when a link for this subscription may admit: its end plus the grace.
    pub fn paid_until(&self, settings: &LifecycleSettings) -> DateTime<Utc> {
        self.expires_at + self.grace(settings)
    }

    /// The grace after the end: none when the end is an operator's `end` (it removes now,
    /// as its help says).
    pub fn grace(&self, settings: &LifecycleSettings) -> chrono::TimeDelta {
        if self.cut_offs.contains(&self.expires_at) {
            chrono::TimeDelta::zero()
        } else {
            settings.grace
        }
    }

    /// Whether a stored row's key and version columns are this record's: what each
    /// backend checks on read (a disagreement is an unreadable row, never a guess).
    pub fn stored_as(&self, user_id: i64, channel_id: i64, version: Option<u64>) -> bool {
        self.key.user_id.get() == user_id
            && self.key.channel_id == channel_id
            && version == Some(self.version)
    }

    pub fn removal_failed(&self) -> bool {
        matches!(
            self.ended,
            Some(Ended {
                how: Ending::RemovalFailed { .. },
                ..
            })
        )
    }

    /// The one "active" rule, shared by removal and admission: `now < expires_at + grace`.
    pub fn is_active(&self, now: DateTime<Utc>, settings: &LifecycleSettings) -> bool {
        now < self.paid_until(settings)
    }

    pub(super) fn push_grant(&mut self, grant: TimeGrant, now: DateTime<Utc>) {
        let event = format!(
            "granted {} by {}",
            grant.access,
            source_label(&grant.source)
        );
        let mut grant = grant;
        grant.granted_at = Some(now);
        self.grants.push(grant);
        self.fold_old_grants();
        self.note(now, event, None);
        if self.refold(now)
            && let Some(pushed) = self.grants.last_mut()
        {
            pushed.crossed_removal = true;
        }
    }

    /// Recomputes the expiry from the grants; a moved expiry starts its reminders and
    /// ending afresh, and one that reopens a removed buyer's access needs an invite. One
    /// that moves but stays past keeps a completed removal.
    /// Whether the change crossed a removal (the buyer may be out).
    pub(super) fn refold(&mut self, now: DateTime<Utc>) -> bool {
        let first = self.grants.iter().map(|g| g.accepted_at).min();
        let folded = self.folded.as_ref().and_then(|folded| folded.expires_at);
        let expires_at = fold_expiry_from(folded, &self.grants, &self.cut_offs)
            .or(first)
            .unwrap_or(self.expires_at);
        if expires_at == self.expires_at && self.version > 0 {
            return false;
        }
        let was_removed = matches!(
            self.ended,
            Some(Ended {
                how: Ending::Removed { .. },
                ..
            })
        );
        // The expiry moved but is still past (a refund, late time that ended long ago):
        // the buyer is out and was told. The removal stands, re-anchored to the new
        // expiry: no second removal, no second notice, no invite owed.
        let removal_stands = was_removed && expires_at <= now;
        // Live or lapsed: a remover that crashed may have removed the buyer already; and
        // a removal call whose answer never came may still land.
        let removal_running = self
            .lease
            .as_ref()
            .is_some_and(|lease| lease.task == Task::Removal)
            || self.removal_unknown_at.is_some();
        let crossed = !removal_stands && (was_removed || removal_running);
        if crossed {
            // The grant's own invite request carries a link: the lifecycle looks later.
            self.mark_needs_invite(now + CROSSING_INVITE_AFTER);
        }
        self.expires_at = expires_at;
        self.expiry_set_at = now;
        self.reminded_before_seconds = None;
        self.reissues = 0;
        // The unknown removal belonged to the old expiry: a crossing (marked above) or a
        // removal that stands took it over.
        self.removal_unknown_at = None;
        match self.ended.as_mut() {
            Some(ended) if removal_stands => ended.for_expiry = expires_at,
            _ => self.ended = None,
        }
        crossed
    }

    /// The live link, if `good` says it may still be sent (its remaining lifetime) and it
    /// admits nobody past the paid time (one made before a refund moved the end back may).
    pub fn sendable_link(
        &self,
        settings: &LifecycleSettings,
        good: impl Fn(&LiveLink) -> bool,
    ) -> Option<&LiveLink> {
        let paid_until = self.paid_until(settings);
        self.live_link
            .as_ref()
            .filter(|link| link.expires_at <= paid_until && good(link))
    }

    /// The next version with `link` as the live link, if `token` still holds the lease
    /// (the lifecycle's invite).
    pub fn with_live_link_leased(
        &self,
        token: &str,
        link: LiveLink,
        now: DateTime<Utc>,
    ) -> Result<Self, Refused> {
        if self.lease.as_ref().is_none_or(|lease| lease.token != token) {
            return Err(Refused::LeaseLost);
        }
        Ok(self.with_live_link(link, now))
    }

    /// The next version without a live link (it was revoked: a re-issue makes another).
    pub fn without_live_link(&self, now: DateTime<Utc>) -> Self {
        let mut next = self.clone();
        next.live_link = None;
        next.bump(ms(now))
    }

    /// The next version with `link` as the live link.
    pub fn with_live_link(&self, link: LiveLink, now: DateTime<Utc>) -> Self {
        let mut next = self.clone();
        next.live_link = Some(link);
        next.bump(ms(now))
    }
}

/// A refund's entry for a payment not granted yet: out of the fold, its length never
/// counts, and the grant of the same payment is refused as already there.
fn refunded_ahead(source: &GrantSource, now: DateTime<Utc>) -> TimeGrant {
    TimeGrant {
        source: source.clone(),
        accepted_at: now,
        access: AccessDuration::from_seconds(1).expect("positive"),
        refunded_at: Some(now),
        crossed_removal: false,
        granted_at: None,
    }
}

fn source_label(source: &GrantSource) -> String {
    match source {
        GrantSource::Payment(id) => format!("payment {id}"),
        GrantSource::Operator(id) => format!("operator grant {id}"),
    }
}
