//! The subscription record and its rules: pure functions of the stored facts and `now`.
//! Every change returns the next version of the record (or why it does not apply); the
//! store writes it only if the stored version is still the one it was computed from, so
//! each change is decided by one conditional write, whatever runs beside it.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use super::AccessDuration;
use super::live_link::LiveLink;
use super::settings::LifecycleSettings;
use crate::order::UserId;

/// A subscription is one buyer in one private channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SubscriptionKey {
    pub user_id: UserId,
    /// The private channel admitted to (not the order's channel id).
    pub channel_id: i64,
}

impl SubscriptionKey {
    pub fn new(user_id: UserId, channel_id: i64) -> Self {
        Self {
            user_id,
            channel_id,
        }
    }

    /// A stable shard in `0..shards` (the DynamoDB due index spreads its partition key
    /// over shards so that a burst of expiries does not land on one partition).
    pub fn shard(&self, shards: u32) -> u32 {
        // Fixed arithmetic, not a std hasher: the shard is stored and must not change
        // between releases.
        let mixed = (self.user_id.get() as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(self.channel_id as u64)
            .wrapping_mul(0xBF58_476D_1CE4_E5B9);
        ((mixed >> 33) % u64::from(shards.max(1))) as u32
    }
}

impl std::fmt::Display for SubscriptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "user {} in channel {}", self.user_id, self.channel_id)
    }
}

/// What bought a stretch of time: a payment (once, by its id) or an operator.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantSource {
    Payment(i64),
    /// An operator's `extend`, by a fresh id.
    Operator(String),
}

/// One stretch of paid time, as the fold reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeGrant {
    pub source: GrantSource,
    /// The payment record's `created_at` (the approval time for a reviewed payment).
    pub accepted_at: DateTime<Utc>,
    pub access: AccessDuration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refunded_at: Option<DateTime<Utc>>,
    /// This grant met a removal (running, or done for an older end): its buyer may be out
    /// or on the way out, so its invite must carry a link, never "renewed in place".
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub crossed_removal: bool,
}

/// The paid time: over the grants not refunded, in (`accepted_at`, source) order,
/// `acc = max(accepted_at, acc) + duration`; an operator's `end` at time `t` caps what
/// was bought before it (`acc = min(acc, t)`), and time bought after it starts afresh.
/// `None` when nothing is left.
pub fn fold_expiry(grants: &[TimeGrant], cut_offs: &[DateTime<Utc>]) -> Option<DateTime<Utc>> {
    let mut live: Vec<&TimeGrant> = grants.iter().filter(|g| g.refunded_at.is_none()).collect();
    live.sort_by(|a, b| (a.accepted_at, &a.source).cmp(&(b.accepted_at, &b.source)));
    let mut cuts: Vec<DateTime<Utc>> = cut_offs.to_vec();
    cuts.sort();
    let mut cuts = cuts.into_iter().peekable();
    let mut acc: Option<DateTime<Utc>> = None;
    for grant in live {
        // A cut at the same instant as a grant comes after it: the cut wins.
        while let Some(cut) = cuts.next_if(|cut| *cut < grant.accepted_at) {
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

/// Work the lifecycle does on a subscription, one at a time under a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "task")]
pub enum Task {
    /// The reminder `before_seconds` ahead of the expiry.
    Reminder { before_seconds: u64 },
    /// `unbanChatMember` once the paid time and the grace are over.
    Removal,
    /// Tell the buyer, once, that it ended.
    EndNotice,
}

impl Task {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reminder { .. } => "reminder",
            Self::Removal => "removal",
            Self::EndNotice => "end_notice",
        }
    }
}

/// A lifecycle worker's claim: its fencing token, until when, on which task, and the
/// expiry it decided on (a completion re-checks it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkLease {
    pub token: String,
    pub until: DateTime<Utc>,
    #[serde(flatten)]
    pub task: Task,
    pub for_expiry: DateTime<Utc>,
}

/// How the current expiry ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "how")]
pub enum Ending {
    Removed {
        notice_sent: bool,
    },
    /// Telegram refused for good (the buyer is an admin or the owner, the bot lacks
    /// rights): skipped by the sweeper until an operator acts.
    RemovalFailed {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ended {
    pub for_expiry: DateTime<Utc>,
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub how: Ending,
}

/// One line of the subscription's history: what happened, when, and why if a human said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: DateTime<Utc>,
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Where a subscription stands, for listings and the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    Active,
    /// Past its paid time and grace, removal not done yet.
    Expired,
    Removed,
    RemovalFailed,
}

impl SubscriptionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Removed => "removed",
            Self::RemovalFailed => "removal_failed",
        }
    }
}

/// One `subscriptions` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub key: SubscriptionKey,
    /// Bumped by every write; a write applies only over the version it was computed from.
    pub version: u64,
    pub grants: Vec<TimeGrant>,
    /// When an operator ended the subscription (`telepay subscriptions end`): the fold
    /// caps the time bought before each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cut_offs: Vec<DateTime<Utc>>,
    /// The fold of `grants` (the first grant's time if every grant was refunded).
    pub expires_at: DateTime<Utc>,
    /// When `expires_at` last changed: reminder points already past then are skipped.
    pub expiry_set_at: DateTime<Utc>,
    /// The smallest reminder point already sent for `expires_at`: every point at or
    /// above it is done. Cleared when the expiry moves.
    #[serde(default)]
    pub reminded_before_seconds: Option<u64>,
    #[serde(default)]
    pub lease: Option<WorkLease>,
    /// Set only while it applies to `expires_at`; cleared when the expiry moves.
    #[serde(default)]
    pub ended: Option<Ended>,
    /// A grant crossed a removal (a live removal lease, or a completed removal of an
    /// older expiry): the invite path must make sure the buyer gets back in.
    #[serde(default)]
    pub needs_invite: bool,
    /// When the sweeper should look next (`None`: nothing pending, off the due index).
    #[serde(default)]
    pub next_due_at: Option<DateTime<Utc>>,
    /// The one invite link this buyer's payments share ([`super::live_link`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_link: Option<LiveLink>,
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Why a change does not apply (nothing is written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// This payment (or operator grant) is already in the fold.
    AlreadyGranted,
    /// Not granted here, or already refunded.
    NothingToRefund,
    /// The task is not due now (renewed, already done, not yet time).
    NotDue,
    /// Another worker holds a live lease until then.
    Leased { until: DateTime<Utc> },
    /// The lease is no longer ours: another worker took over.
    LeaseLost,
}

/// What a lifecycle worker reports when it finishes its task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskDone {
    ReminderSent,
    /// `unbanChatMember` succeeded (a user who already left counts).
    Removed,
    RemovalFailed {
        reason: String,
    },
    NoticeSent,
}

/// What a completion found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    Recorded,
    /// The expiry moved while the worker held its lease (a renewal crossed it): nothing
    /// recorded for the old expiry; a crossed removal marks `needs_invite`.
    ExpiryMoved,
}

pub(super) fn ms(t: DateTime<Utc>) -> DateTime<Utc> {
    // Millisecond precision: what every backend stores exactly.
    t.trunc_subsecs(3)
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
        let mut first = Self {
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
            next_due_at: None,
            live_link: None,
            history: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        first.push_grant(grant, now);
        first.finish(now, settings)
    }

    /// Adds a payment's (or an operator's) time, once per source.
    pub fn grant(
        &self,
        grant: TimeGrant,
        now: DateTime<Utc>,
        settings: &LifecycleSettings,
    ) -> Result<Self, Refused> {
        if self.grants.iter().any(|g| g.source == grant.source) {
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
            None => next.grants.push(TimeGrant {
                source: source.clone(),
                accepted_at: now,
                // Out of the fold: its length never counts.
                access: AccessDuration::from_seconds(1).expect("positive"),
                refunded_at: Some(now),
                crossed_removal: false,
            }),
        }
        next.note(now, format!("refunded {}", source_label(source)), None);
        let _ = next.refold(now);
        Ok(next.finish(now, settings))
    }

    /// The task due now, if any: the end notice, else the removal, else the nearest
    /// reminder point that has passed.
    pub fn due_task(&self, now: DateTime<Utc>, settings: &LifecycleSettings) -> Option<Task> {
        if let Some(ended) = &self.ended {
            return match ended.how {
                Ending::Removed { notice_sent: false } => Some(Task::EndNotice),
                _ => None,
            };
        }
        if now >= self.expires_at + settings.grace {
            return Some(Task::Removal);
        }
        if now >= self.expires_at {
            // A reminder after the end (the sweeper was down) would only confuse.
            return None;
        }
        self.pending_reminders(settings)
            .rfind(|&before| now >= self.reminder_time(before))
            .map(|before_seconds| Task::Reminder { before_seconds })
    }

    /// The lifecycle claim: the task is due now and no live lease holds the record.
    pub fn claim(
        &self,
        task: Task,
        token: &str,
        now: DateTime<Utc>,
        settings: &LifecycleSettings,
    ) -> Result<Self, Refused> {
        if let Some(lease) = &self.lease
            && lease.until >= now
        {
            return Err(Refused::Leased { until: lease.until });
        }
        if self.due_task(now, settings) != Some(task) {
            return Err(Refused::NotDue);
        }
        let now = ms(now);
        let mut next = self.clone();
        next.lease = Some(WorkLease {
            token: token.to_owned(),
            until: ms(now + settings.lease),
            task,
            for_expiry: self.expires_at,
        });
        Ok(next.finish(now, settings))
    }

    /// Records a finished task, if `token` still holds the lease; for the expiry the
    /// worker decided on only (a renewal in between wins).
    pub fn complete(
        &self,
        token: &str,
        done: TaskDone,
        now: DateTime<Utc>,
        settings: &LifecycleSettings,
    ) -> Result<(Self, Completion), Refused> {
        let lease = self
            .lease
            .as_ref()
            .filter(|lease| lease.token == token)
            .ok_or(Refused::LeaseLost)?;
        let now = ms(now);
        let mut next = self.clone();
        next.lease = None;
        let completion = if lease.for_expiry != self.expires_at {
            if lease.task == Task::Removal {
                next.needs_invite = true;
                next.note(
                    now,
                    "removal crossed a renewal: the buyer is invited back".into(),
                    None,
                );
            }
            Completion::ExpiryMoved
        } else {
            match (lease.task, done) {
                (Task::Reminder { before_seconds }, TaskDone::ReminderSent) => {
                    next.reminded_before_seconds = Some(before_seconds);
                }
                (Task::Removal, TaskDone::Removed) => {
                    next.ended = Some(Ended {
                        for_expiry: self.expires_at,
                        at: now,
                        how: Ending::Removed { notice_sent: false },
                    });
                    next.note(now, "removed from the channel".into(), None);
                }
                (Task::Removal, TaskDone::RemovalFailed { reason }) => {
                    next.note(now, "removal failed".into(), Some(reason.clone()));
                    next.ended = Some(Ended {
                        for_expiry: self.expires_at,
                        at: now,
                        how: Ending::RemovalFailed { reason },
                    });
                }
                (Task::EndNotice, TaskDone::NoticeSent) => {
                    if let Some(Ended {
                        how: Ending::Removed { notice_sent },
                        ..
                    }) = &mut next.ended
                    {
                        *notice_sent = true;
                    }
                }
                // A worker reporting another task than it claimed: a bug; record nothing.
                _ => return Err(Refused::LeaseLost),
            }
            Completion::Recorded
        };
        Ok((next.finish(now, settings), completion))
    }

    /// Gives the lease back (a transient failure) so the retry may claim at once.
    pub fn release(
        &self,
        token: &str,
        now: DateTime<Utc>,
        settings: &LifecycleSettings,
    ) -> Result<Self, Refused> {
        if self.lease.as_ref().is_none_or(|lease| lease.token != token) {
            return Err(Refused::LeaseLost);
        }
        let now = ms(now);
        let mut next = self.clone();
        next.lease = None;
        Ok(next.finish(now, settings))
    }

    /// The sweeper queued its due task: look again only after `requeue_quiet`, so a
    /// message still waiting in the queue is not queued again by every sweep.
    pub fn requeued(&self, now: DateTime<Utc>, settings: &LifecycleSettings) -> Self {
        let now = ms(now);
        let mut next = self.clone().bump(now);
        next.next_due_at = Some(ms(now + settings.requeue_quiet));
        next
    }

    /// The record as the sweeper should leave it when it finds nothing due (a lapsed
    /// lease, settings changed since the last write): `None` if it is already right.
    pub fn settled(&self, now: DateTime<Utc>, settings: &LifecycleSettings) -> Option<Self> {
        let next = self.clone().finish(ms(now), settings);
        (next.next_due_at != self.next_due_at || next.lease != self.lease).then_some(next)
    }

    /// An operator's `end`: the time bought so far stops now, so the removal is due now
    /// (a `removal_failed` is retried). Time bought later starts afresh.
    pub fn end_now(&self, reason: &str, now: DateTime<Utc>, settings: &LifecycleSettings) -> Self {
        let now = ms(now);
        let mut next = self.clone();
        if next.removal_failed() {
            next.ended = None;
        }
        next.cut_offs.push(now);
        next.note(now, "ended by an operator".into(), Some(reason.to_owned()));
        let _ = next.refold(now);
        next.finish(now, settings)
    }

    /// Puts the operator's reason on the latest history line (an operator grant).
    pub fn with_reason(mut self, reason: &str) -> Self {
        if let Some(last) = self.history.last_mut() {
            last.reason = Some(reason.to_owned());
        }
        self
    }

    /// An operator's retry of a `removal_failed`: the removal is due again.
    pub fn retry_removal(
        &self,
        reason: &str,
        now: DateTime<Utc>,
        settings: &LifecycleSettings,
    ) -> Result<Self, Refused> {
        if !self.removal_failed() {
            return Err(Refused::NotDue);
        }
        let now = ms(now);
        let mut next = self.clone();
        next.ended = None;
        next.note(now, "removal retried".into(), Some(reason.to_owned()));
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
        self.grants.iter().any(|other| {
            other.refunded_at.is_none()
                && (other.accepted_at, &other.source) < (this.accepted_at, &this.source)
        })
    }

    /// Until when a link for this subscription may admit: its end plus the grace.
    pub fn paid_until(&self, settings: &LifecycleSettings) -> DateTime<Utc> {
        self.expires_at + settings.grace
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
        now < self.expires_at + settings.grace
    }

    fn push_grant(&mut self, grant: TimeGrant, now: DateTime<Utc>) {
        let event = format!(
            "granted {} by {}",
            grant.access,
            source_label(&grant.source)
        );
        self.grants.push(grant);
        self.note(now, event, None);
        if self.refold(now)
            && let Some(pushed) = self.grants.last_mut()
        {
            pushed.crossed_removal = true;
        }
    }

    /// Recomputes the expiry from the grants; a moved expiry starts its reminders and
    /// ending afresh, and one that reopens a removed buyer's access needs an invite.
    /// Whether the change crossed a removal (the buyer may be out).
    fn refold(&mut self, now: DateTime<Utc>) -> bool {
        let first = self.grants.iter().map(|g| g.accepted_at).min();
        let expires_at = fold_expiry(&self.grants, &self.cut_offs)
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
        // Live or lapsed: a remover that crashed may have removed the buyer already.
        let removal_running = self
            .lease
            .as_ref()
            .is_some_and(|lease| lease.task == Task::Removal);
        let crossed = was_removed || removal_running;
        if crossed {
            self.needs_invite = true;
        }
        self.expires_at = expires_at;
        self.expiry_set_at = now;
        self.reminded_before_seconds = None;
        self.ended = None;
        crossed
    }

    /// A write that changes neither the time nor the tasks: the next version, its time.
    pub(super) fn bump(mut self, now: DateTime<Utc>) -> Self {
        self.version += 1;
        self.updated_at = now;
        self
    }

    /// Every write: the next version, its time, and when the sweeper looks next.
    fn finish(mut self, now: DateTime<Utc>, settings: &LifecycleSettings) -> Self {
        // A lapsed lease fences nothing any more: its worker's completion finds it gone.
        if self.lease.as_ref().is_some_and(|lease| lease.until < now) {
            self.lease = None;
        }
        let mut next = self.bump(now);
        next.next_due_at = next.compute_next_due(now, settings);
        next
    }

    fn compute_next_due(
        &self,
        now: DateTime<Utc>,
        settings: &LifecycleSettings,
    ) -> Option<DateTime<Utc>> {
        if let Some(lease) = &self.lease {
            return Some(lease.until);
        }
        if let Some(ended) = &self.ended {
            return match ended.how {
                Ending::Removed { notice_sent: false } => Some(ended.at),
                _ => None,
            };
        }
        let removal = self.expires_at + settings.grace;
        let reminder = self
            .pending_reminders(settings)
            .next()
            .filter(|_| now < self.expires_at)
            .map(|before| self.reminder_time(before));
        Some(reminder.map_or(removal, |r| r.min(removal)))
    }

    /// Reminder points not yet sent for this expiry and not already past when it was
    /// set, largest first.
    fn pending_reminders<'s>(
        &'s self,
        settings: &'s LifecycleSettings,
    ) -> impl DoubleEndedIterator<Item = u64> + 's {
        settings.reminder_points_seconds().filter(move |&before| {
            self.reminded_before_seconds
                .is_none_or(|sent| before < sent)
                && self.reminder_time(before) > self.expiry_set_at
        })
    }

    fn reminder_time(&self, before_seconds: u64) -> DateTime<Utc> {
        self.expires_at - chrono::TimeDelta::seconds(before_seconds as i64)
    }

    fn note(&mut self, at: DateTime<Utc>, event: String, reason: Option<String>) {
        self.history.push(HistoryEntry { at, event, reason });
    }
}

fn source_label(source: &GrantSource) -> String {
    match source {
        GrantSource::Payment(id) => format!("payment {id}"),
        GrantSource::Operator(id) => format!("operator grant {id}"),
    }
}
