//! Reaching Telegram without a public bot URL: the server asks for its bot's updates
//! (`getUpdates`, long polling) instead of Telegram posting them to a webhook, so an
//! owner behind NAT needs a public URL only for NOWPayments' IPN.
//!
//! One poller per bot. Each round reads the stored offset (the next update id to ask
//! for), asks Telegram from there, hands each update in order to the bot exactly as a
//! webhook body (the same parsing and the same once-record per `update_id`), and moves
//! the offset past what was handled with one conditional write
//! ([`UpdateOffsetStore`]). An update the bot could not handle now (the store or Telegram
//! failed: what the webhook answers with a 500) stops the round there: the offset stays
//! before it, and Telegram, which keeps unconfirmed updates, gives it again next round.
//! An update the bot refuses for good (not an update, too large) is passed, as Telegram
//! stops redelivering such a webhook call after its attempts.
//!
//! A crash between handling and advancing hands the same updates over again; their
//! once-records make that change nothing. The offset saves the work, the once-records
//! keep the guarantee. Telegram's rules
//! ([getUpdates](https://core.telegram.org/bots/api#getupdates)): updates from `offset`
//! on, those below it confirmed and forgotten; no `getUpdates` while a webhook is set.
//!
//! Tests: below (a held-back update, a refused one), `local/tests/local_run.rs` (the
//! server polling the fake Bot API, across a `kill -9`), `tests/tests/offset_conformance.rs`
//! (the offset on every backend).

use std::future::Future;
use std::time::Duration;

use tracing::{info, warn};

use crate::bot::{BotFrontDoor, BotOutcome, FrontDoorStore, InvoiceApi};
use crate::queue::{DelayedQueue, MessageQueue};
use crate::store::{OffsetAdvance, StoreError, UpdateOffsetStore};
use crate::telegram::{
    BotConversation, MemberRemover, StarsPayments, TelegramError, TelegramInviter,
};

/// How long one `getUpdates` waits for an update before answering empty: under the Bot
/// API client's own 17 s request timeout.
pub const LONG_POLL: Duration = Duration::from_secs(10);

/// One update as `getUpdates` gave it: its id and its JSON, as a webhook would carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolledUpdate {
    pub update_id: i64,
    pub body: Vec<u8>,
}

/// Telegram's side of polling.
pub trait UpdateSource: Send + Sync {
    /// `getUpdates` from `offset` (`None`: Telegram's oldest unconfirmed update), waiting
    /// up to `wait` for one.
    fn updates(
        &self,
        offset: Option<i64>,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<PolledUpdate>, TelegramError>> + Send;

    /// `deleteWebhook`, keeping the updates waiting: `getUpdates` refuses while one is set.
    fn stop_webhook(&self) -> impl Future<Output = Result<(), TelegramError>> + Send;
}

/// Whatever handles a polled update: the bot's front door.
pub trait PolledUpdateHandler: Send + Sync {
    fn handle_polled(&self, body: &[u8]) -> impl Future<Output = BotOutcome> + Send;
}

impl<S, T, I, Q, V> PolledUpdateHandler for BotFrontDoor<S, T, I, Q, V>
where
    S: FrontDoorStore,
    T: BotConversation + TelegramInviter + MemberRemover + StarsPayments,
    I: InvoiceApi,
    Q: DelayedQueue,
    V: MessageQueue,
{
    async fn handle_polled(&self, body: &[u8]) -> BotOutcome {
        self.receive_polled(body).await
    }
}

impl<H: PolledUpdateHandler> PolledUpdateHandler for std::sync::Arc<H> {
    async fn handle_polled(&self, body: &[u8]) -> BotOutcome {
        (**self).handle_polled(body).await
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("the update offset could not be read or written: {0}")]
    Store(#[from] StoreError),
    #[error("getUpdates failed: {0}")]
    Telegram(#[from] TelegramError),
}

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PollRound {
    /// Updates handled (or passed for good) this round.
    pub handled: usize,
    /// The update the bot could not handle now, which the next round gets again.
    pub held_back: Option<i64>,
    /// The offset written, if it moved.
    pub advanced_to: Option<i64>,
    /// Another poller moved the offset first: this round's advance was not written.
    pub lost_race: bool,
}

pub struct UpdatePoller<S, U, H> {
    store: S,
    source: U,
    handler: H,
    wait: Duration,
}

impl<S: UpdateOffsetStore, U: UpdateSource, H: PolledUpdateHandler> UpdatePoller<S, U, H> {
    pub fn new(store: S, source: U, handler: H) -> Self {
        Self {
            store,
            source,
            handler,
            wait: LONG_POLL,
        }
    }

    /// How long each `getUpdates` waits (tests shorten it).
    pub fn with_wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// Before the first round: the webhook removed, since Telegram answers `getUpdates`
    /// only without one.
    pub async fn start(&self) -> Result<(), PollError> {
        self.source.stop_webhook().await?;
        info!("bot updates by polling (getUpdates): the webhook is removed");
        Ok(())
    }

    /// One round: ask from the stored offset, handle in order, advance past the handled.
    pub async fn poll_once(&self) -> Result<PollRound, PollError> {
        let seen = self.store.update_offset().await?;
        let mut updates = self.source.updates(seen, self.wait).await?;
        updates.sort_by_key(|u| u.update_id);
        let mut round = PollRound::default();
        let mut next = None;
        for update in updates {
            if seen.is_some_and(|offset| update.update_id < offset) {
                continue;
            }
            let outcome = self.handler.handle_polled(&update.body).await;
            if matches!(outcome, BotOutcome::Unavailable | BotOutcome::Busy) {
                round.held_back = Some(update.update_id);
                break;
            }
            round.handled += 1;
            next = Some(update.update_id + 1);
        }
        if let Some(next) = next {
            match self.store.advance_update_offset(seen, next).await? {
                OffsetAdvance::Advanced => round.advanced_to = Some(next),
                OffsetAdvance::Moved => {
                    warn!(
                        next,
                        "another poller moved the update offset first: is a second server polling this bot?"
                    );
                    round.lost_race = true;
                }
            }
        }
        Ok(round)
    }

    /// Rounds until `stop` resolves, pausing after a failed one (1 s, doubling to 30 s).
    pub async fn run(&self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut pause = Duration::from_secs(1);
        loop {
            let round = tokio::select! {
                _ = &mut stop => return,
                round = self.poll_once() => round,
            };
            match round {
                Ok(round) => {
                    pause = Duration::from_secs(1);
                    if round.held_back.is_some() {
                        // Give what failed a moment before asking for it again.
                        tokio::time::sleep(pause).await;
                    }
                }
                Err(err) => {
                    warn!(error = %err, ?pause, "polling Telegram failed; trying again");
                    tokio::select! {
                        _ = &mut stop => return,
                        _ = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(Duration::from_secs(30));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use super::*;
    use crate::store::memory::MemoryStore;

    /// Telegram's side as the Bot API keeps it: updates from `offset` on, those below it
    /// confirmed and forgotten.
    struct Updates(Mutex<Vec<i64>>);

    impl UpdateSource for Updates {
        async fn updates(
            &self,
            offset: Option<i64>,
            _wait: Duration,
        ) -> Result<Vec<PolledUpdate>, TelegramError> {
            let mut waiting = self.0.lock().unwrap();
            waiting.retain(|id| offset.is_none_or(|o| *id >= o));
            Ok(waiting
                .iter()
                .map(|id| PolledUpdate {
                    update_id: *id,
                    body: id.to_string().into_bytes(),
                })
                .collect())
        }
        async fn stop_webhook(&self) -> Result<(), TelegramError> {
            Ok(())
        }
    }

    /// The bot's answers in turn, and the update ids it was handed.
    struct Bot {
        answers: Mutex<VecDeque<BotOutcome>>,
        seen: Mutex<Vec<i64>>,
    }

    impl PolledUpdateHandler for Bot {
        async fn handle_polled(&self, body: &[u8]) -> BotOutcome {
            let id = std::str::from_utf8(body).unwrap().parse().unwrap();
            self.seen.lock().unwrap().push(id);
            self.answers
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(BotOutcome::Handled)
        }
    }

    fn poller(
        waiting: Vec<i64>,
        answers: Vec<BotOutcome>,
    ) -> UpdatePoller<MemoryStore, Updates, Bot> {
        let bot = Bot {
            answers: Mutex::new(answers.into()),
            seen: Mutex::new(Vec::new()),
        };
        UpdatePoller::new(MemoryStore::new(), Updates(Mutex::new(waiting)), bot)
    }

    #[tokio::test]
    async fn an_update_the_bot_cannot_handle_now_holds_the_offset_before_it_and_comes_again() {
        let poller = poller(
            vec![5, 6, 7],
            vec![BotOutcome::Handled, BotOutcome::Unavailable],
        );
        let first = poller.poll_once().await.unwrap();
        assert_eq!(first.handled, 1);
        assert_eq!(first.held_back, Some(6));
        assert_eq!(first.advanced_to, Some(6), "past 5 only");
        assert_eq!(poller.store.update_offset().await.unwrap(), Some(6));

        let second = poller.poll_once().await.unwrap();
        assert_eq!(second.handled, 2);
        assert_eq!(second.advanced_to, Some(8));
        assert_eq!(
            *poller.handler.seen.lock().unwrap(),
            [5, 6, 6, 7],
            "6 again, 5 not"
        );
    }

    #[tokio::test]
    async fn an_update_refused_for_good_is_passed_not_retried_forever() {
        let poller = poller(vec![9, 10], vec![BotOutcome::BadRequest]);
        let round = poller.poll_once().await.unwrap();
        assert_eq!((round.handled, round.held_back), (2, None));
        assert_eq!(round.advanced_to, Some(11));
    }
}
