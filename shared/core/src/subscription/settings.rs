//! The lifecycle's settings: when reminders go out, how long after expiry a member is
//! removed, and the sweeper's and workers' timings. Read once at cold start.
//!
//! Tests: `super::tests`, and the configuration's in `telepay-shared`.

use chrono::TimeDelta;

pub const DEFAULT_REMINDER_POINTS: [TimeDelta; 2] = [TimeDelta::days(3), TimeDelta::days(1)];
pub const DEFAULT_GRACE: TimeDelta = TimeDelta::zero();
/// Longer than the lifecycle queue's visibility timeout (900 s: six times the consumer's
/// 150 s timeout, as AWS asks of an SQS event source), so a task a consumer holds is not
/// queued again while it waits; a message lost for good is queued again after it.
pub const DEFAULT_REQUEUE_QUIET: TimeDelta = TimeDelta::minutes(20);
/// A worker's lease on one task: a Bot API call or two.
pub const DEFAULT_TASK_LEASE: TimeDelta = TimeDelta::seconds(60);

#[derive(Debug, Clone, PartialEq)]
pub struct LifecycleSettings {
    /// How long before the expiry each reminder goes out, largest first, distinct.
    reminder_points: Vec<TimeDelta>,
    pub grace: TimeDelta,
    pub requeue_quiet: TimeDelta,
    pub lease: TimeDelta,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleSettingsError {
    #[error("a reminder point must be positive")]
    ReminderNotPositive,
    #[error("the grace after expiry must not be negative")]
    NegativeGrace,
}

impl Default for LifecycleSettings {
    fn default() -> Self {
        Self {
            reminder_points: DEFAULT_REMINDER_POINTS.to_vec(),
            grace: DEFAULT_GRACE,
            requeue_quiet: DEFAULT_REQUEUE_QUIET,
            lease: DEFAULT_TASK_LEASE,
        }
    }
}

impl LifecycleSettings {
    pub fn new(
        reminder_points: impl IntoIterator<Item = TimeDelta>,
        grace: TimeDelta,
    ) -> Result<Self, LifecycleSettingsError> {
        let mut points: Vec<TimeDelta> = reminder_points.into_iter().collect();
        if points.iter().any(|p| *p <= TimeDelta::zero()) {
            return Err(LifecycleSettingsError::ReminderNotPositive);
        }
        if grace < TimeDelta::zero() {
            return Err(LifecycleSettingsError::NegativeGrace);
        }
        points.sort_by(|a, b| b.cmp(a));
        points.dedup();
        Ok(Self {
            reminder_points: points,
            grace,
            ..Self::default()
        })
    }

    pub fn with_timings(mut self, requeue_quiet: TimeDelta, lease: TimeDelta) -> Self {
        self.requeue_quiet = requeue_quiet;
        self.lease = lease;
        self
    }

    pub fn reminder_points(&self) -> &[TimeDelta] {
        &self.reminder_points
    }

    /// The points in whole seconds, largest first.
    pub fn reminder_points_seconds(&self) -> impl DoubleEndedIterator<Item = u64> + '_ {
        self.reminder_points
            .iter()
            .map(|p| p.num_seconds().max(1) as u64)
    }
}
