//! The time port. Every stage reads "now" from one [`Clock`]: the system clock in
//! production, a [`ManualClock`] in tests and the chaos run, so that a test can move time
//! (a lease lapsing, a payment going stale, a subscription expiring) without sleeping.
//! Stores never read the time: every write takes the `now` its caller's clock gave.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};

pub trait Clock: Send + Sync + Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// The clock a stage holds: shared, cheap to clone.
pub type SharedClock = Arc<dyn Clock>;

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The production clock, as a [`SharedClock`].
pub fn system_clock() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock a test moves. Frozen at a time (`frozen_at`), it only moves when told;
/// following the system clock (`following_system`), it runs in real time, shifted by
/// whatever `advance` added (what the chaos run needs: real timeouts, simulated days).
#[derive(Debug, Default)]
pub struct ManualClock {
    state: Mutex<ManualState>,
}

#[derive(Debug, Default)]
struct ManualState {
    frozen: Option<DateTime<Utc>>,
    offset: TimeDelta,
}

impl ManualClock {
    pub fn frozen_at(at: DateTime<Utc>) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(ManualState {
                frozen: Some(at),
                offset: TimeDelta::zero(),
            }),
        })
    }

    pub fn following_system() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Moves the clock forward (or back, with a negative delta).
    pub fn advance(&self, by: TimeDelta) {
        let mut state = self.state.lock().expect("clock lock");
        match &mut state.frozen {
            Some(at) => *at += by,
            None => state.offset += by,
        }
    }

    /// Sets the time (a frozen clock stays frozen there).
    pub fn set(&self, at: DateTime<Utc>) {
        let mut state = self.state.lock().expect("clock lock");
        match &mut state.frozen {
            Some(frozen) => *frozen = at,
            None => state.offset = at - Utc::now(),
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        let state = self.state.lock().expect("clock lock");
        state.frozen.unwrap_or_else(|| Utc::now() + state.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_clock_moves_only_when_told() {
        let start: DateTime<Utc> = "2026-11-29T12:00:00Z".parse().unwrap();
        let clock = ManualClock::frozen_at(start);
        assert_eq!(clock.now(), start);
        clock.advance(TimeDelta::days(30));
        assert_eq!(clock.now(), start + TimeDelta::days(30));
        clock.set(start);
        assert_eq!(clock.now(), start);
    }

    #[test]
    fn a_following_clock_keeps_real_time_plus_its_offset() {
        let clock = ManualClock::following_system();
        clock.advance(TimeDelta::days(3));
        let ahead = clock.now() - Utc::now();
        assert!(ahead > TimeDelta::days(3) - TimeDelta::seconds(5) && ahead <= TimeDelta::days(3));
    }
}
