//! Paid access, enforced: the workflows that move subscriptions, above the store and
//! queue ports. `ledger` changes a record once per grant or refund (read, decide with
//! the rules in `crate::subscription`, write over the version read); `live_link` settles
//! the one invite link a buyer's payments share; `sweeper` queues what is due from the
//! due index; `lifecycle` does each task under a fenced lease; `pace` keeps to Telegram's
//! rate. Tests: the ledger's in `tests.rs` beside this file, the sweeper's and the
//! worker's in `functions/subscription-sweeper` and `functions/subscription-lifecycle`.

pub mod ledger;
pub mod lifecycle;
pub mod live_link;
pub mod pace;
pub mod sweeper;
#[cfg(test)]
mod tests;

pub use ledger::{Granted, LedgerError, Refunded, grant_time, refund_time};
pub use lifecycle::{LIFECYCLE_MESSAGE_VERSION, LifecycleMessage, LifecycleWorker};
pub use live_link::settle_live_link;
pub use pace::{DEFAULT_TASKS_PER_SECOND, Pacer};
pub use sweeper::{SubscriptionSweeper, SweepReport, UNREADABLE_PARKED_FOR};
