//! subscription-sweeper: every few minutes, queue the lifecycle tasks that are due.
//!
//! It reads the due index (never a scan), and for each subscription due now queues its
//! task, then moves its `next_due_at` past the quiet period (a versioned write), so a
//! task waiting in the queue is not queued again by every sweep; one whose message is
//! lost is queued again when the quiet period ends. Queue first, then mark: a failed
//! mark only queues a duplicate, which the consumer's claim refuses. A run reads page
//! after page while they come back full, until its deadline, so a burst of expiries is
//! queued at once and the consumers' pace, not the schedule, sets how fast it drains.
//!
//! Tests: `functions/subscription-sweeper/src/lib.rs`, `functions/subscription-lifecycle/src/tests.rs`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::{error, info, warn};

use super::lifecycle::LifecycleMessage;
use crate::clock::{SharedClock, system_clock};
use crate::queue::TaskQueue;
use crate::store::{StoreError, SubscriptionStore, Versioned};
use crate::subscription::LifecycleSettings;

/// What one sweep did.
/// How long an unreadable row stays off the due index before the sweep reads it again.
pub const UNREADABLE_PARKED_FOR: chrono::TimeDelta = chrono::TimeDelta::hours(24);

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub due: usize,
    pub reminders_queued: usize,
    pub removals_queued: usize,
    pub notices_queued: usize,
    /// Buyers marked `needs_invite` whose invite was queued.
    pub invites_queued: usize,
    /// Due by the index but nothing to do (a lapsed lease, changed settings): its
    /// `next_due_at` was corrected.
    pub settled: usize,
    /// Changed by someone else between the read and the mark: left for the next sweep.
    pub raced: usize,
    pub queue_failures: usize,
    pub unreadable: usize,
    /// Unreadable rows moved off the due index for [`UNREADABLE_PARKED_FOR`].
    pub parked: usize,
    /// Due-index pages read (a run goes on while pages come back full).
    pub pages: usize,
}

impl SweepReport {
    fn add(&mut self, page: &SweepReport) {
        self.due += page.due;
        self.reminders_queued += page.reminders_queued;
        self.removals_queued += page.removals_queued;
        self.notices_queued += page.notices_queued;
        self.invites_queued += page.invites_queued;
        self.parked += page.parked;
        self.settled += page.settled;
        self.raced += page.raced;
        self.queue_failures += page.queue_failures;
        self.unreadable += page.unreadable;
        self.pages += page.pages;
    }

    fn moved(&self) -> usize {
        self.reminders_queued
            + self.removals_queued
            + self.notices_queued
            + self.invites_queued
            + self.settled
            + self.parked
    }
}

pub struct SubscriptionSweeper<S, Q> {
    pub store: S,
    pub lifecycle_queue: Q,
    pub settings: LifecycleSettings,
    /// Subscriptions per due-index page ([`Self::sweep`]).
    pub batch: usize,
    pub clock: SharedClock,
}

impl<S: SubscriptionStore, Q: TaskQueue> SubscriptionSweeper<S, Q> {
    pub fn new(store: S, lifecycle_queue: Q, settings: LifecycleSettings, batch: usize) -> Self {
        Self {
            store,
            lifecycle_queue,
            settings,
            batch,
            clock: system_clock(),
        }
    }

    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Sweeps page after page while pages come back full and moved something, until
    /// `until` (the invocation's deadline less a margin): a burst of expiries is queued
    /// in one run instead of one batch per schedule tick. A failed page after the first
    /// ends the run with what was done (the schedule runs it again).
    pub async fn sweep_until(&self, until: DateTime<Utc>) -> Result<SweepReport, StoreError> {
        let mut total = self.sweep().await?;
        let mut last = total.clone();
        while last.due >= self.batch && last.moved() > 0 && self.clock.now() < until {
            match self.sweep().await {
                Ok(page) => {
                    total.add(&page);
                    last = page;
                }
                Err(err) => {
                    warn!(error = %err, "a later due-index page failed; the next run goes on");
                    break;
                }
            }
        }
        Ok(total)
    }

    /// One page of the due index. Fails only if the due index cannot be read (the
    /// schedule runs it again).
    pub async fn sweep(&self) -> Result<SweepReport, StoreError> {
        let now = self.clock.now();
        let due = self.store.due_subscriptions(now, self.batch).await?;
        let mut report = SweepReport {
            due: due.len(),
            pages: 1,
            ..SweepReport::default()
        };
        for row in due {
            let subscription = match row {
                Ok(subscription) => subscription,
                Err(unreadable) => {
                    // Counted (alarmed), then off the index for a while: left due, a
                    // thousand of them would fill every page and stall the sweep. Looked
                    // at again a day later (a fixed release reads it then).
                    error!(
                        ?unreadable,
                        "a subscription this version cannot read is due; parked for a day"
                    );
                    report.unreadable += 1;
                    let until = now + UNREADABLE_PARKED_FOR;
                    match self.store.park_unreadable(&unreadable, until).await {
                        Ok(Versioned::Written) => report.parked += 1,
                        Ok(Versioned::Conflict) => report.raced += 1,
                        Err(err) => {
                            warn!(error = %err, "could not park an unreadable subscription")
                        }
                    }
                    continue;
                }
            };
            let key = subscription.key;
            let next = match subscription.due_task(now, &self.settings) {
                Some(task) => {
                    let message = LifecycleMessage::new(key, task, subscription.expires_at);
                    if let Err(err) = self
                        .lifecycle_queue
                        .send_task(key, &message.to_json())
                        .await
                    {
                        warn!(error = %err, %key, "could not queue a lifecycle task; the next sweep tries again");
                        report.queue_failures += 1;
                        continue;
                    }
                    match task {
                        crate::subscription::Task::Reminder { .. } => report.reminders_queued += 1,
                        crate::subscription::Task::Removal => report.removals_queued += 1,
                        crate::subscription::Task::EndNotice => report.notices_queued += 1,
                        crate::subscription::Task::Invite => report.invites_queued += 1,
                    }
                    subscription.requeued(now, &self.settings)
                }
                None => match subscription.settled(now, &self.settings) {
                    Some(next) => {
                        report.settled += 1;
                        next
                    }
                    None => continue,
                },
            };
            match self.store.write_subscription(&next).await {
                Ok(Versioned::Written) => {}
                Ok(Versioned::Conflict) => report.raced += 1,
                Err(err) => {
                    warn!(error = %err, %key, "could not mark a queued task; it may be queued twice");
                    report.raced += 1;
                }
            }
        }
        info!(?report, "subscription sweep");
        Ok(report)
    }
}
