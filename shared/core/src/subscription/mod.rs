//! Subscriptions: paid time, enforced. Payments buy time; the subscription keyed by
//! (buyer, private channel) holds when it ends (`model`: the record and its rules, pure),
//! changes it once per grant or refund (`ledger`: read, decide, write over the version
//! read), and drives reminders and removal (`settings`).

mod duration;
pub mod ledger;
pub mod model;
pub mod settings;
#[cfg(test)]
mod tests;

pub use duration::{AccessDuration, DurationError, MAX_ACCESS_SECONDS};
pub use ledger::{Granted, LedgerError, Refunded, grant_time, refund_time};
pub use model::{
    Completion, Ended, Ending, GrantSource, HistoryEntry, Refused, Subscription, SubscriptionKey,
    SubscriptionStatus, Task, TaskDone, TimeGrant, WorkLease, fold_expiry,
};
pub use settings::{LifecycleSettings, LifecycleSettingsError};
