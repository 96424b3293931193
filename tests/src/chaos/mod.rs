//! The chaos run: the real handlers, a real store backend and the fake Bot API (through
//! the real teloxide adapter), driven by a seeded schedule of payments, repeated and
//! tampered IPNs, crashes at every step boundary, store, queue and Telegram faults, and
//! at-least-once queues with short visibility timeouts. After the system quiesces and
//! the reconciler has run, [`Report`] says what every paid payment became.

pub mod admission;
pub mod burst;
pub mod decorators;
pub mod dice;
mod driver;
pub mod faults;
pub mod lifecycle;
mod nowpayments;
pub mod report;
pub mod schedule;
pub mod sim_sqs;
pub mod stars;

use std::time::Duration;

pub use driver::run;
use faults::FaultRates;
pub use report::Report;
pub use report::RunFigures;
pub use schedule::{PaymentKind, PaymentPlan};

/// The knobs of one run. [`ChaosConfig::new`] gives the defaults of `make chaos`.
#[derive(Debug, Clone)]
pub struct ChaosConfig {
    pub seed: u64,
    pub payments: usize,
    /// Webhook deliveries in flight at once.
    pub in_flight: usize,
    /// Payments start this far apart on average (uniformly over `payments × interval`):
    /// a sustained rate the chain keeps up with, so "stuck" means stuck, not queued.
    pub arrival_interval: Duration,
    pub rates: FaultRates,
    /// NOWPayments retries a non-2xx answer this many times, then never again.
    pub np_retries: u32,
    /// The first retry interval; it doubles each time.
    pub np_retry_interval: Duration,
    /// Concurrent invocations per SQS-triggered function.
    pub consumers: usize,
    pub batch_size: usize,
    pub max_receives: u32,
    pub processor_timeout: Duration,
    pub processor_visibility: Duration,
    pub invite_timeout: Duration,
    pub invite_visibility: Duration,
    /// Bot API call timeout (the lease math scales with it).
    pub call_timeout: Duration,
    pub lease_grace: Duration,
    /// Invite link lifetime: short, so a retry after a send of unknown outcome often
    /// finds the stored link past half its life and must ask Telegram before replacing it.
    pub link_ttl: Duration,
    /// How old an unfinished payment must be before the scheduled reconciler requeues it.
    pub stuck_after: Duration,
    pub reconcile_every: Duration,
}

impl ChaosConfig {
    pub fn new(seed: u64, payments: usize) -> Self {
        Self {
            seed,
            payments,
            in_flight: 32,
            arrival_interval: Duration::from_millis(15),
            rates: FaultRates::default(),
            np_retries: 5,
            np_retry_interval: Duration::from_millis(100),
            consumers: 6,
            batch_size: 5,
            max_receives: 5,
            processor_timeout: Duration::from_millis(1500),
            processor_visibility: Duration::from_secs(2),
            invite_timeout: Duration::from_secs(4),
            invite_visibility: Duration::from_secs(5),
            call_timeout: Duration::from_millis(400),
            lease_grace: Duration::from_millis(300),
            link_ttl: Duration::from_secs(12),
            stuck_after: Duration::from_secs(8),
            reconcile_every: Duration::from_secs(2),
        }
    }
}
