//! The lifecycle's pace: bulk work (a burst of expiries) must stay within Telegram's
//! limits (about 30 messages a second per bot). Each consumer instance spaces its tasks
//! by a fixed interval; the deployment bounds how many instances run at once, so the
//! bot's total stays under the limit. A 429 pauses the rest of the batch for its
//! `retry_after`.
//!
//! Where one process sends all of the bot's messages (`telepay serve`), invites and the
//! lifecycle share one pacer, and a buyer who just paid comes first: an invite books
//! the next free slot ([`Pacer::wait_turn`]), a reminder or removal takes only a slot no
//! invite has booked ([`Pacer::wait_spare_turn`]). Reminders are due days ahead and a
//! removal a minute late costs nothing, while a flash sale's buyers wait for their link.
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

    /// Waits for a slot that is free now, never booking ahead: while [`Self::wait_turn`]
    /// callers keep the pace booked, this waits behind all of them.
    pub async fn wait_spare_turn(&self) {
        while let Err(booked_for) = self.try_spare_turn() {
            tokio::time::sleep(booked_for).await;
        }
    }

    /// A spare turn now, or how long every booked turn still holds the pace: what
    /// a message that would rather give way than wait asks (the bot's menus in
    /// `telepay serve`: `crate::bot::paced`).
    pub fn try_spare_turn(&self) -> Result<(), Duration> {
        let mut next = self.next.lock().unwrap();
        let now = Instant::now();
        match *next {
            Some(at) if at > now => Err(at - now),
            _ => {
                *next = Some(now + self.interval);
                Ok(())
            }
        }
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

    #[tokio::test(start_paused = true)]
    async fn a_spare_turn_tried_is_refused_while_turns_are_booked_and_takes_one_after() {
        let pacer = Pacer::per_second(10);
        for _ in 0..3 {
            pacer.wait_turn().await;
        }
        // Three booked turns at 0, 100 and 200 ms: the pace is held until 300 ms.
        assert_eq!(pacer.try_spare_turn(), Err(Duration::from_millis(100)));
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(pacer.try_spare_turn(), Ok(()));
        // The spare turn taken is booked like any other.
        assert_eq!(pacer.try_spare_turn(), Err(Duration::from_millis(100)));
        assert_eq!(Pacer::unlimited().try_spare_turn(), Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn spare_turns_alone_keep_the_same_pace() {
        let pacer = Pacer::per_second(10);
        let started = Instant::now();
        for _ in 0..5 {
            pacer.wait_spare_turn().await;
        }
        assert_eq!(started.elapsed(), Duration::from_millis(400));
    }

    /// A flash sale's invites keep booking the pace; a removal waiting since before them
    /// goes only once they are all out, then at the pace.
    #[tokio::test(start_paused = true)]
    async fn a_spare_turn_waits_behind_every_booked_turn() {
        let pacer = std::sync::Arc::new(Pacer::per_second(10));
        let started = Instant::now();
        pacer.wait_turn().await; // the slot at 0 ms is taken
        let removal = tokio::spawn({
            let pacer = pacer.clone();
            async move {
                pacer.wait_spare_turn().await;
                started.elapsed()
            }
        });
        tokio::task::yield_now().await;
        // Ten invites arrive after the removal began to wait, booking 100..=1000 ms.
        let invites: Vec<_> = (0..10)
            .map(|_| {
                let pacer = pacer.clone();
                tokio::spawn(async move {
                    pacer.wait_turn().await;
                    started.elapsed()
                })
            })
            .collect();
        let mut sent = Vec::new();
        for invite in invites {
            sent.push(invite.await.unwrap());
        }
        assert_eq!(sent.last(), Some(&Duration::from_millis(1000)));
        // The removal takes the first slot after them, not one between.
        assert_eq!(removal.await.unwrap(), Duration::from_millis(1100));
    }
}
