//! The lifecycle's pace: bulk work (a burst of expiries) must stay within Telegram's
//! limits (about 30 messages a second per bot). Each consumer instance spaces its tasks
//! by a fixed interval; the deployment bounds how many instances run at once, so the
//! bot's total stays under the limit. A 429 pauses the rest of the batch for its
//! `retry_after`.
//!
//! Tests: below.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Tasks a second one consumer instance may start, by default.
pub const DEFAULT_TASKS_PER_SECOND: u32 = 10;

#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    pub fn per_second(tasks: u32) -> Self {
        Self {
            interval: Duration::from_secs(1) / tasks.max(1),
            next: Mutex::new(None),
        }
    }

    /// Unpaced: for tests that are not about pace.
    pub fn unlimited() -> Self {
        Self {
            interval: Duration::ZERO,
            next: Mutex::new(None),
        }
    }

    /// Waits for this task's slot.
    pub async fn wait_turn(&self) {
        let slot = {
            let mut next = self.next.lock().unwrap();
            let now = Instant::now();
            let slot = next.map_or(now, |at| at.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tasks_are_spaced_by_the_interval() {
        let pacer = Pacer::per_second(10);
        let started = Instant::now();
        for _ in 0..5 {
            pacer.wait_turn().await;
        }
        // The first goes at once, each next 100 ms later.
        assert_eq!(started.elapsed(), Duration::from_millis(400));
    }
}
