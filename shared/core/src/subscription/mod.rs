//! Subscriptions: paid time, as values and pure rules. Payments buy time; the
//! subscription keyed by (buyer, private channel) holds when it ends. `record`: the
//! record and the values around it (the one live link a buyer's payments share among
//! them); `grants`: the rules of paid time; `tasks`: the rules of reminders and removal;
//! `duration`, `settings`, `texts`. Lower floors (store and queue ports, directory,
//! payment) import these; the workflows that read, decide and write them (ledger, live
//! link settling, sweeper, lifecycle worker) are in `crate::access`, above the ports.
//! Tests of the rules: `tests.rs` beside this file.

pub mod bounds;
mod duration;
mod grants;
mod record;
pub mod settings;
mod tasks;
#[cfg(test)]
pub(crate) mod tests;
pub mod texts;

pub use bounds::{ReasonTooLong, check_reason};
pub use duration::{AccessDuration, DurationError, MAX_ACCESS_SECONDS, is_spelled_out};
pub use grants::{fold_expiry, fold_expiry_from};
pub use record::{
    Completion, Ended, Ending, FoldedGrants, GrantSource, HistoryEntry, LinkDecision, LiveLink,
    MAX_REISSUES_PER_PERIOD, Refused, Subscription, SubscriptionKey, SubscriptionStatus, Task,
    TaskDone, TimeGrant, WorkLease,
};
pub use settings::{LifecycleSettings, LifecycleSettingsError};
pub use texts::LifecycleTexts;
