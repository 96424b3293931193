//! The `subscriptions` port: a versioned record per (buyer, private channel). The rules
//! live in [`crate::subscription`]; a backend stores a record only over the version it
//! was computed from (one conditional write), indexes it by `next_due_at` for the
//! sweeper, and lists it for operators.
//!
//! Tests: every backend in `tests/tests/subscription_conformance.rs`.

use std::future::Future;

use chrono::{DateTime, TimeDelta, Utc};

use super::StoreError;
use crate::subscription::{Subscription, SubscriptionKey};

/// What a versioned write found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Versioned {
    Written,
    /// The stored version is not the one the change was computed from (or a first
    /// version met an existing record): nothing written; read again and decide again.
    Conflict,
}

/// A subscription row this version cannot read: listed with why, never fatal to a listing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnreadableSubscription {
    pub user_id: i64,
    pub channel_id: i64,
    /// Its version column, when that reads: parking is conditioned on it.
    pub version: Option<u64>,
    pub why: String,
}

pub type ListedSubscription = Result<Subscription, UnreadableSubscription>;

impl UnreadableSubscription {
    /// A row read into a listing: the record, or why it cannot be read.
    pub fn list(read: Result<Subscription, StoreError>) -> Result<ListedSubscription, StoreError> {
        match read {
            Ok(record) => Ok(Ok(record)),
            Err(StoreError::CorruptSubscription {
                user_id,
                channel_id,
                version,
                detail,
            }) => Ok(Err(Self {
                user_id,
                channel_id,
                version,
                why: detail,
            })),
            Err(other) => Err(other),
        }
    }
}

/// Which subscriptions an operator lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionFilter {
    All,
    /// Paid time ends within `within` of `now` (and has not ended yet).
    ExpiringWithin {
        now: DateTime<Utc>,
        within: TimeDelta,
    },
    /// Paid time over at `now`, removal not recorded.
    Expired {
        now: DateTime<Utc>,
    },
    /// `removal_failed`: an operator must act.
    RemovalFailed,
}

impl SubscriptionFilter {
    /// The rule every backend's query states: the memory backend applies it directly,
    /// the conformance suite holds the others to it.
    pub fn selects(&self, subscription: &Subscription) -> bool {
        let ended = subscription.ended.is_some();
        match *self {
            Self::All => true,
            Self::ExpiringWithin { now, within } => {
                !ended && subscription.expires_at > now && subscription.expires_at <= now + within
            }
            Self::Expired { now } => !ended && subscription.expires_at <= now,
            Self::RemovalFailed => subscription.removal_failed(),
        }
    }
}

pub trait SubscriptionStore: Send + Sync {
    /// One subscription, as stored (a consistent read).
    fn get_subscription(
        &self,
        key: SubscriptionKey,
    ) -> impl Future<Output = Result<Option<Subscription>, StoreError>> + Send;

    /// Stores `next` if the stored version is `next.version - 1` (no record stored when
    /// `next.version` is 1): one conditional write, with its due-index attributes.
    fn write_subscription(
        &self,
        next: &Subscription,
    ) -> impl Future<Output = Result<Versioned, StoreError>> + Send;

    /// Subscriptions whose `next_due_at` is at or before `now`, soonest first, at most
    /// `limit`: from an index of due times, never a scan, so the cost follows the work
    /// due, not the history.
    fn due_subscriptions(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ListedSubscription>, StoreError>> + Send;

    /// For operators (never on the happy path): the subscriptions `filter` selects,
    /// soonest expiry first, at most `limit`.
    fn list_subscriptions(
        &self,
        filter: SubscriptionFilter,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ListedSubscription>, StoreError>> + Send;

    /// Moves a row this version cannot read off the due index until `until` (its body
    /// untouched), if its version is still the one read: so a thousand of them (after a
    /// rollback) cannot fill every page the sweeper reads. `Conflict`: changed since, or
    /// no readable version to condition on; nothing written.
    fn park_unreadable(
        &self,
        row: &UnreadableSubscription,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Versioned, StoreError>> + Send;
}

/// A shared store is the store (tests and the local run hold one behind an `Arc`).
impl<T: SubscriptionStore + ?Sized> SubscriptionStore for std::sync::Arc<T> {
    async fn get_subscription(
        &self,
        key: SubscriptionKey,
    ) -> Result<Option<Subscription>, StoreError> {
        (**self).get_subscription(key).await
    }

    async fn write_subscription(&self, next: &Subscription) -> Result<Versioned, StoreError> {
        (**self).write_subscription(next).await
    }

    async fn due_subscriptions(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ListedSubscription>, StoreError> {
        (**self).due_subscriptions(now, limit).await
    }

    async fn list_subscriptions(
        &self,
        filter: SubscriptionFilter,
        limit: usize,
    ) -> Result<Vec<ListedSubscription>, StoreError> {
        (**self).list_subscriptions(filter, limit).await
    }

    async fn park_unreadable(
        &self,
        row: &UnreadableSubscription,
        until: DateTime<Utc>,
    ) -> Result<Versioned, StoreError> {
        (**self).park_unreadable(row, until).await
    }
}
