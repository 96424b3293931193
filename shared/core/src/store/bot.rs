//! The bot's port: records that make each piece of the bot's work happen once. A
//! Telegram update is handled once; an invoice is created once per (buyer, channel,
//! tier, 10-minute window); a started purchase is noted once per (buyer, channel, hour).
//! Each record is claimed with a lease (a fencing token and until when), finished with
//! a done flag and its result (the invoice URL), and kept until `keep_until` (48 h),
//! after which a claim treats it as absent. Every change is one conditional write.
//!
//! Tests: every backend in `tests/tests/bot_conformance.rs`.

use std::future::Future;

use chrono::{DateTime, Utc};

use super::{Fenced, StoreError};

/// What a record is for. Backends store [`OnceKey::storage_key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OnceKey {
    /// A Telegram update, by its `update_id`.
    Update(i64),
    /// An invoice for a buyer, a directory channel and a tier (its index in catalog
    /// version `catalog_version`, which never changes) in one window: a price changed or
    /// tiers reordered since make a new invoice, never show another tier's.
    Invoice {
        user_id: i64,
        channel_id: i64,
        catalog_version: u32,
        tier: u32,
        window: i64,
    },
    /// A top-up invoice for the rest of a purchase (its first payment's id) in one window.
    TopUpInvoice { purchase_id: i64, window: i64 },
    /// /status re-issued a buyer's invite for a private channel in this 10-minute window.
    Reinvite {
        user_id: i64,
        channel_id: i64,
        window: i64,
    },
    /// A buyer asked for an invoice for a channel in this hour (Unix hours): a join
    /// request from them may be a payment on its way.
    PurchaseStarted {
        user_id: i64,
        channel_id: i64,
        hour: i64,
    },
}

impl OnceKey {
    /// The one string key every backend stores.
    pub fn storage_key(&self) -> String {
        match *self {
            Self::Update(id) => format!("update:{id}"),
            // Version 0 (a catalog from the environment) keeps the key it always had.
            Self::Invoice {
                user_id,
                channel_id,
                catalog_version: 0,
                tier,
                window,
            } => format!("invoice:{user_id}:{channel_id}:{tier}:{window}"),
            Self::Invoice {
                user_id,
                channel_id,
                catalog_version,
                tier,
                window,
            } => format!("invoice:{user_id}:{channel_id}:v{catalog_version}:{tier}:{window}"),
            Self::TopUpInvoice {
                purchase_id,
                window,
            } => format!("topup:{purchase_id}:{window}"),
            Self::Reinvite {
                user_id,
                channel_id,
                window,
            } => format!("reinvite:{user_id}:{channel_id}:{window}"),
            Self::PurchaseStarted {
                user_id,
                channel_id,
                hour,
            } => format!("purchase:{user_id}:{channel_id}:{hour}"),
        }
    }
}

/// A claim: who (the fencing token), until when, and how long the record is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnceClaim {
    pub token: String,
    pub lease_until: DateTime<Utc>,
    pub keep_until: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnceFound {
    /// The lease is ours: no record, a forgotten one, or one whose holder's lease lapsed
    /// before it finished (a crash half-way): the work runs (again).
    Claimed,
    /// Finished before, with its result: nothing to do again.
    Done { result: Option<String> },
    /// Another worker holds a live lease.
    Leased { until: DateTime<Utc> },
}

/// A record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnceRecord {
    pub done: bool,
    pub result: Option<String>,
    pub lease_until: DateTime<Utc>,
    pub keep_until: DateTime<Utc>,
}

impl OnceRecord {
    /// What a claim at `now` finds on this record (the rule every backend's condition
    /// states; the memory backend applies it directly).
    pub fn found_at(&self, now: DateTime<Utc>) -> OnceFound {
        if self.keep_until <= now {
            OnceFound::Claimed
        } else if self.done {
            OnceFound::Done {
                result: self.result.clone(),
            }
        } else if self.lease_until > now {
            OnceFound::Leased {
                until: self.lease_until,
            }
        } else {
            OnceFound::Claimed
        }
    }
}

pub trait BotStore: Send + Sync {
    /// Claims `key`: writes a fresh record holding `claim.token` unless a kept record is
    /// done or leased to someone else (one conditional write; a refused claim reads the
    /// record to say why).
    fn claim_once(
        &self,
        key: OnceKey,
        claim: &OnceClaim,
    ) -> impl Future<Output = Result<OnceFound, StoreError>> + Send;

    /// Marks the record done with `result`, if `token` still holds it (fenced).
    fn finish_once(
        &self,
        key: OnceKey,
        token: &str,
        result: Option<&str>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Fenced, StoreError>> + Send;

    /// Gives the lease back unfinished (the work failed and may be tried again at once),
    /// if `token` still holds it.
    fn release_once(
        &self,
        key: OnceKey,
        token: &str,
    ) -> impl Future<Output = Result<Fenced, StoreError>> + Send;

    /// The record as stored, kept or not (a consistent read).
    fn read_once(
        &self,
        key: OnceKey,
    ) -> impl Future<Output = Result<Option<OnceRecord>, StoreError>> + Send;

    /// Deletes up to `limit` records whose keep time has passed at `now`; answers how
    /// many. SQL keeps them until then (`telepay bot forget`); DynamoDB's TTL deletes
    /// them on its own, so there it deletes nothing.
    fn forget_expired(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

impl<T: BotStore + ?Sized> BotStore for std::sync::Arc<T> {
    async fn claim_once(&self, key: OnceKey, claim: &OnceClaim) -> Result<OnceFound, StoreError> {
        (**self).claim_once(key, claim).await
    }
    async fn finish_once(
        &self,
        key: OnceKey,
        token: &str,
        result: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        (**self).finish_once(key, token, result, now).await
    }
    async fn release_once(&self, key: OnceKey, token: &str) -> Result<Fenced, StoreError> {
        (**self).release_once(key, token).await
    }
    async fn read_once(&self, key: OnceKey) -> Result<Option<OnceRecord>, StoreError> {
        (**self).read_once(key).await
    }
    async fn forget_expired(&self, now: DateTime<Utc>, limit: usize) -> Result<u64, StoreError> {
        (**self).forget_expired(now, limit).await
    }
}
