//! The subscription record and the values around it: the key, a grant of time, the
//! lifecycle's tasks, leases and endings, the live link. What lower floors (the store
//! and queue ports, the directory) may import; the rules that move a record are in
//! `grants` (time) and `tasks` (reminders and removal), the workflows in `crate::access`.
//!
//! Tests: `super::tests`.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use super::duration::AccessDuration;
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
    /// When it entered the fold (set by the grant): an operator's end caps only the time
    /// granted before it. None on grants from before it: `accepted_at` stands in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted_at: Option<DateTime<Utc>>,
}

impl TimeGrant {
    /// A grant about to be made: not refunded, not crossing a removal, not in the fold
    /// yet (the grant sets `granted_at`).
    pub fn new(source: GrantSource, accepted_at: DateTime<Utc>, access: AccessDuration) -> Self {
        Self {
            source,
            accepted_at,
            access,
            refunded_at: None,
            crossed_removal: false,
            granted_at: None,
        }
    }
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
    /// Get a buyer marked `needs_invite` back in: nothing if they are in, else a fresh
    /// live link (capped at the paid end) in a message.
    Invite,
}

impl Task {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reminder { .. } => "reminder",
            Self::Removal => "removal",
            Self::EndNotice => "end_notice",
            Self::Invite => "invite",
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
    /// Every payment of it was refunded before it was granted (a held payment refunded
    /// before an operator approved it, a refund IPN overtaking the finished one): nobody
    /// was admitted, so nobody is removed or told. Kept so that the grant, when it
    /// comes, counts nothing.
    NeverGranted,
}

impl Ending {
    /// The stored `ended` column (what the listings filter on).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Removed { .. } => "removed",
            Self::RemovalFailed { .. } => "removal_failed",
            Self::NeverGranted => "never_granted",
        }
    }
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
    /// Refunded before any of it was granted: nothing was given.
    Refunded,
}

impl SubscriptionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Removed => "removed",
            Self::RemovalFailed => "removal_failed",
            Self::Refunded => "refunded",
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
    /// The buyer may be out while paid (a grant crossed a removal, an operator gave
    /// time, `/status` found them out with nothing to re-issue): the lifecycle's
    /// [`Task::Invite`] makes sure they get back in, from `needs_invite_at`.
    #[serde(default)]
    pub needs_invite: bool,
    /// When the invite is due (a crossing grant's own invite goes first); none on a
    /// record from before it: due at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs_invite_at: Option<DateTime<Utc>>,
    /// A removal call for the current expiry got no answer (Telegram may still apply
    /// it) and its lease was released: a grant until the removal is recorded or the
    /// expiry moves counts as crossing a removal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removal_unknown_at: Option<DateTime<Utc>>,
    /// When the sweeper should look next (`None`: nothing pending, off the due index).
    #[serde(default)]
    pub next_due_at: Option<DateTime<Utc>>,
    /// The one invite link this buyer's payments share ([`super::live_link`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_link: Option<LiveLink>,
    /// New invites `/status` gave for the current expiry (at most
    /// [`MAX_REISSUES_PER_PERIOD`]); cleared when the expiry moves.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub reissues: u32,
    /// The last entries ([`super::bounds::KEPT_HISTORY`]).
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
    /// History entries dropped from the front, oldest first.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub earlier_history: u64,
    /// The oldest grants, folded ([`super::bounds`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folded: Option<FoldedGrants>,
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
    /// The marked buyer is in, or was sent a fresh link.
    Invited,
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

/// The subscription's invite link, as Telegram made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveLink {
    pub url: String,
    /// Its `expire_date`.
    pub expires_at: DateTime<Utc>,
    /// The payment whose invite made it (0: the lifecycle's invite of a paid buyer found
    /// outside).
    pub made_for: i64,
    pub made_at: DateTime<Utc>,
}

/// What settling a candidate link found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkDecision {
    /// The candidate is the live link now (or was already). `replaced`: the live link it
    /// took over from (expired or too short-lived), to revoke.
    Ours { replaced: Option<LiveLink> },
    /// Another good link is live (a racing payment of the same buyer made it): send that
    /// one, and revoke the candidate.
    Theirs(LiveLink),
    /// No subscription holds this buyer's time: the payment's own link stands.
    NoSubscription,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

/// New invites `/status` may give one buyer per paid period. In a one-time-link channel
/// a buyer could forward each link to a friend and ask for another: without a cap, one
/// extra member per link lifetime (docs/bot.md, "/status").
pub const MAX_REISSUES_PER_PERIOD: u32 = 3;

/// The oldest grants, folded: what they add up to, and how many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoldedGrants {
    /// The latest acceptance among them: every kept grant was accepted after it
    /// ([`super::bounds`]).
    pub through: DateTime<Utc>,
    /// The fold's value after them (with the ends at or before `through`); `None` if all
    /// of them were refunded.
    pub expires_at: Option<DateTime<Utc>>,
    /// How many grants were folded (refunded ones included).
    pub grants: u64,
    /// How many of them counted (not refunded).
    pub counted: u64,
}

impl FoldedGrants {
    /// Whether a grant accepted at `accepted_at` is one of the folded ones.
    pub fn covers(&self, accepted_at: DateTime<Utc>) -> bool {
        accepted_at <= self.through
    }
}
