//! Subscriptions: paid time, enforced. Payments buy time; the subscription keyed by
//! (buyer, private channel) holds when it ends (`model`: the record and its rules, pure),
//! changes it once per grant or refund (`ledger`: read, decide, write over the version
//! read), keeps the one invite link the buyer's payments share (`live_link`), and drives
//! reminders and removal: `sweeper` queues what is due from the due
//! index, `lifecycle` does each task under a fenced lease (`settings`, `texts`).

mod duration;
pub mod ledger;
pub mod lifecycle;
pub mod live_link;
pub mod model;
pub mod pace;
pub mod settings;
pub mod sweeper;
#[cfg(test)]
mod tests;
pub mod texts;

pub use duration::{AccessDuration, DurationError, MAX_ACCESS_SECONDS};
pub use ledger::{Granted, LedgerError, Refunded, grant_time, refund_time};
pub use lifecycle::{LIFECYCLE_MESSAGE_VERSION, LifecycleMessage, LifecycleWorker};
pub use live_link::{LinkDecision, LiveLink, settle_live_link};
pub use model::{
    Completion, Ended, Ending, GrantSource, HistoryEntry, Refused, Subscription, SubscriptionKey,
    SubscriptionStatus, Task, TaskDone, TimeGrant, WorkLease, fold_expiry,
};
pub use pace::{DEFAULT_TASKS_PER_SECOND, Pacer};
pub use settings::{LifecycleSettings, LifecycleSettingsError};
pub use sweeper::{SubscriptionSweeper, SweepReport};
pub use texts::LifecycleTexts;
