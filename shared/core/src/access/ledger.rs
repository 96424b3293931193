//! Changing a subscription: read it, decide the next version with the rules in
//! [`crate::subscription`], write it over the version read; on a conflict (another writer got
//! there first) read and decide again. The write's version condition is what makes a
//! grant or a refund count exactly once, whatever redeliveries and crashes do.
//!
//! Tests: `super::tests`, and every backend in `tests/tests/subscription_conformance.rs`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::warn;

use crate::store::{StoreError, SubscriptionStore, Versioned};
use crate::subscription::{
    GrantSource, LifecycleSettings, Subscription, SubscriptionKey, TimeGrant,
};

/// Enough for every one of dozens of concurrent writers of one record to win in turn.
const MAX_ATTEMPTS: u32 = 64;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Lost the version race `MAX_ATTEMPTS` times in a row: retry the message later.
    #[error("the subscription of {0} kept changing under this write")]
    Contended(SubscriptionKey),
}

/// What `decide` wants done with the record it was shown.
pub enum Step<T> {
    Write(Box<Subscription>, T),
    /// Nothing to write (already done, not due): answer `T`.
    Keep(T),
}

/// Reads `key`, lets `decide` choose, writes over the version read; again on a conflict.
pub async fn change<S, T>(
    store: &S,
    key: SubscriptionKey,
    decide: impl FnMut(Option<&Subscription>) -> Step<T>,
) -> Result<T, LedgerError>
where
    S: SubscriptionStore + ?Sized,
{
    change_from(store, key, None, decide).await
}

/// [`change`], deciding first on `read` (the record as the caller just read it) instead
/// of reading it again.
pub async fn change_from<S, T>(
    store: &S,
    key: SubscriptionKey,
    mut read: Option<Subscription>,
    mut decide: impl FnMut(Option<&Subscription>) -> Step<T>,
) -> Result<T, LedgerError>
where
    S: SubscriptionStore + ?Sized,
{
    for attempt in 0..MAX_ATTEMPTS {
        let stored = match read.take() {
            Some(read) => Some(read),
            None => store.get_subscription(key).await?,
        };
        match decide(stored.as_ref()) {
            Step::Keep(answer) => return Ok(answer),
            Step::Write(next, answer) => match store.write_subscription(&next).await? {
                Versioned::Written => return Ok(answer),
                Versioned::Conflict => {
                    // Spread the retries of writers that collided.
                    let jitter = u64::from(attempt.min(8)) * fastrand_ms();
                    tokio::time::sleep(Duration::from_millis(jitter)).await;
                }
            },
        }
    }
    warn!(%key, "subscription write lost the version race every time");
    Err(LedgerError::Contended(key))
}

fn fastrand_ms() -> u64 {
    // 0..4 ms from the clock's low bits: enough to break lock-step, no RNG dependency.
    u64::from(Utc::now().timestamp_subsec_micros() % 4)
}

/// What a grant found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granted {
    /// Counted now. `renewal`: the buyer had paid time before this grant's
    /// ([`Subscription::is_renewal`]).
    Now {
        expires_at: DateTime<Utc>,
        renewal: bool,
        /// This grant met a removal ([`super::TimeGrant::crossed_removal`]).
        crossed_removal: bool,
    },
    /// Counted before (a redelivery, a retried message), or refunded ahead of it
    /// (`refunded`: it counts nothing, and nothing is owed for it): nothing changed.
    Already {
        expires_at: DateTime<Utc>,
        renewal: bool,
        crossed_removal: bool,
        refunded: bool,
    },
}

impl Granted {
    pub fn expires_at(self) -> DateTime<Utc> {
        match self {
            Self::Now { expires_at, .. } | Self::Already { expires_at, .. } => expires_at,
        }
    }

    pub fn renewal(self) -> bool {
        match self {
            Self::Now { renewal, .. } | Self::Already { renewal, .. } => renewal,
        }
    }

    /// The payment was refunded (ahead of this grant, or since): no payout, no invite.
    pub fn refunded(self) -> bool {
        matches!(self, Self::Already { refunded: true, .. })
    }

    /// This grant met a removal ([`super::TimeGrant::crossed_removal`]).
    pub fn crossed_removal(self) -> bool {
        match self {
            Self::Now {
                crossed_removal, ..
            } => crossed_removal,
            Self::Already {
                crossed_removal, ..
            } => crossed_removal,
        }
    }
}

/// Adds `grant`'s time to the subscription `key`, once.
pub async fn grant_time<S: SubscriptionStore + ?Sized>(
    store: &S,
    key: SubscriptionKey,
    grant: &TimeGrant,
    now: DateTime<Utc>,
    settings: &LifecycleSettings,
) -> Result<Granted, LedgerError> {
    // A first buyer is the common case: try the first version without reading. A
    // stored record refuses it, and the loop below reads and decides.
    let first = Subscription::first(key, grant.clone(), now, settings);
    if store.write_subscription(&first).await? == Versioned::Written {
        return Ok(Granted::Now {
            expires_at: first.expires_at,
            renewal: false,
            crossed_removal: false,
        });
    }
    change(store, key, |stored| match stored {
        None => {
            let first = Subscription::first(key, grant.clone(), now, settings);
            let answer = Granted::Now {
                expires_at: first.expires_at,
                renewal: false,
                crossed_removal: false,
            };
            Step::Write(Box::new(first), answer)
        }
        Some(current) => match current.grant(grant.clone(), now, settings) {
            Ok(next) => {
                let answer = Granted::Now {
                    expires_at: next.expires_at,
                    renewal: next.is_renewal(&grant.source),
                    crossed_removal: next.crossed_removal(&grant.source),
                };
                Step::Write(Box::new(next), answer)
            }
            Err(_) => Step::Keep(Granted::Already {
                expires_at: current.expires_at,
                renewal: current.is_renewal(&grant.source),
                crossed_removal: current.crossed_removal(&grant.source),
                refunded: current.is_refunded(&grant.source),
            }),
        },
    })
    .await
}

/// What a refund found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refunded {
    /// Taken out of the fold now; the expiry is now this.
    Now { expires_at: DateTime<Utc> },
    /// Recorded ahead of its grant (the payment held for review, or not processed yet;
    /// for a first-time buyer the record is made for it): the grant, when it comes,
    /// counts nothing, and nothing is paid out or invited for it.
    AheadOfGrant,
    /// Refunded before: nothing changed.
    Already,
}

/// Takes the payment `source` out of the subscription's fold, once.
pub async fn refund_time<S: SubscriptionStore + ?Sized>(
    store: &S,
    key: SubscriptionKey,
    source: &GrantSource,
    now: DateTime<Utc>,
    settings: &LifecycleSettings,
) -> Result<Refunded, LedgerError> {
    change(store, key, |stored| match stored {
        None => Step::Write(
            Box::new(Subscription::refunded_first(key, source, now, settings)),
            Refunded::AheadOfGrant,
        ),
        Some(current) => {
            let granted = current.grants.iter().any(|g| &g.source == source);
            match current.refund(source, now, settings) {
                Ok(next) if granted => {
                    let expires_at = next.expires_at;
                    Step::Write(Box::new(next), Refunded::Now { expires_at })
                }
                Ok(next) => Step::Write(Box::new(next), Refunded::AheadOfGrant),
                Err(_) => Step::Keep(Refunded::Already),
            }
        }
    })
    .await
}
