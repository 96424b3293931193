//! One update from Telegram's request to its outcome: method, secret, shape, the
//! update's once-record claimed before the work and finished after it; the work routed
//! by kind; the once-claims and the one way a menu or a line reaches a chat.
//!
//! Tests: `functions/bot-webhook/src/tests/dispatch.rs`, `tests/tests/bot_bad_input.rs`.

use chrono::{DateTime, TimeDelta, Utc};
use tracing::{error, info, warn};

use super::outcome::{BotError, BotOutcome, BotRequest};
use super::{BotFrontDoor, FrontDoorStore};
use crate::bot::budget::Budget;
use crate::bot::invoice::InvoiceApi;
use crate::bot::menu::Menu;
use crate::bot::timing::{KEEP_RECORDS, bounded};
use crate::bot::update::{BotEvent, BotUpdate, UpdateError};
use crate::metrics::{self, signal, stage};
use crate::queue::{DelayedQueue, MessageQueue};
use crate::store::{Fenced, OnceClaim, OnceFound, OnceKey};
use crate::telegram::{
    BotConversation, MemberRemover, StarsPayments, TelegramError, TelegramInviter,
};

/// 429s asking for at most this long in all are waited out within the update.
const SHORT_PAUSE: std::time::Duration = std::time::Duration::from_secs(2);

impl<S, T, I, Q, V> BotFrontDoor<S, T, I, Q, V>
where
    S: FrontDoorStore,
    T: BotConversation + TelegramInviter + MemberRemover + StarsPayments,
    I: InvoiceApi,
    Q: DelayedQueue,
    V: MessageQueue,
{
    pub async fn receive(&self, request: BotRequest<'_>) -> BotOutcome {
        let outcome = self.answer(request).await;
        metrics::outcome(stage::BOT, outcome.word());
        outcome
    }

    pub(super) async fn answer(&self, request: BotRequest<'_>) -> BotOutcome {
        if !request.method.eq_ignore_ascii_case("POST") {
            return BotOutcome::MethodNotAllowed;
        }
        if !self.secret_accepts(request.secret).await {
            warn!("bot webhook call without the right secret token: refused");
            metrics::count(signal::BOT_WEBHOOK_SECRET_REJECTED);
            return BotOutcome::BadSecret;
        }
        self.handle_update(request.body).await
    }

    /// An update the server fetched itself with `getUpdates` (`crate::polling`): its own
    /// authenticated call brought it, so there is no method or secret to check; the rest
    /// is the webhook's path, once-record and all.
    pub async fn receive_polled(&self, body: &[u8]) -> BotOutcome {
        let outcome = self.handle_update(body).await;
        metrics::outcome(stage::BOT, outcome.word());
        outcome
    }

    /// One update's body, parsed, claimed once, worked and finished.
    async fn handle_update(&self, body: &[u8]) -> BotOutcome {
        // A catalog applied since is read here, at most once per refresh period.
        self.setup.catalog.current().await;
        let update = match BotUpdate::parse(body) {
            Ok(update) => update,
            Err(UpdateError::TooLarge) => return BotOutcome::TooLarge,
            Err(UpdateError::NotAnUpdate) => return BotOutcome::BadRequest,
        };
        if let BotEvent::Ignored(why) = update.event {
            info!(update_id = update.update_id, why, "update ignored");
            return BotOutcome::Ignored;
        }
        // A pre-checkout answer is due within Telegram's 10 seconds, and answering twice
        // is harmless (Telegram takes the first; the second is refused, which is no
        // error). So it skips the once-record: a store fault, or the lease of an attempt
        // that crashed, never makes a buyer's payment miss its window.
        if let BotEvent::PreCheckout(query) = &update.event {
            return match self.on_pre_checkout(query).await {
                Ok(()) => BotOutcome::Handled,
                Err(e) => {
                    warn!(update_id = update.update_id, error = %e, "pre-checkout not answered now: Telegram will retry");
                    BotOutcome::Unavailable
                }
            };
        }
        let key = OnceKey::Update(update.update_id);
        let claim = self.once_claim(self.clock.now(), KEEP_RECORDS);
        let token = &claim.token;
        match self.store.claim_once(key, &claim).await {
            Ok(OnceFound::Claimed) => {}
            Ok(OnceFound::Done { .. }) => return BotOutcome::AlreadyHandled,
            Ok(OnceFound::Leased { .. }) => return BotOutcome::Busy,
            Err(e) => {
                error!(error = %e, "update record not claimed: Telegram will retry");
                return BotOutcome::Unavailable;
            }
        }
        match self.work(&update.event).await {
            Ok(()) => {}
            Err(e) if e.retry_helps() => {
                warn!(update_id = update.update_id, error = %e, "update not handled now: Telegram will retry");
                // Best effort: a lease left behind lapses on its own.
                let _ = self.store.release_once(key, token).await;
                metrics::count(signal::BOT_UPDATE_RETRIED);
                return BotOutcome::Unavailable;
            }
            Err(e) => {
                error!(update_id = update.update_id, error = %e, "update cannot be handled; a retry would not help");
                metrics::count(signal::BOT_UPDATE_FAILED);
            }
        }
        match self
            .store
            .finish_once(key, token, None, self.clock.now())
            .await
        {
            Ok(Fenced::Done) => BotOutcome::Handled,
            // Another worker took over after our lease lapsed: it finishes it.
            Ok(Fenced::LeaseLost) => BotOutcome::Handled,
            Err(e) => {
                error!(error = %e, "update handled but not marked done: a redelivery runs it again");
                BotOutcome::Unavailable
            }
        }
    }

    pub(super) async fn work(&self, event: &BotEvent) -> Result<(), BotError> {
        let asker = match event {
            BotEvent::Message(message) => Some(message.user_id),
            BotEvent::Button(press) => Some(press.user_id),
            BotEvent::JoinRequest(request) => Some(request.user_id),
            // Payments are never a reply to spend a budget on: the buyer paid.
            BotEvent::BotMembership(_)
            | BotEvent::MemberJoined(_)
            | BotEvent::PreCheckout(_)
            | BotEvent::PaymentReceived(_)
            | BotEvent::PaymentRefunded(_)
            | BotEvent::Ignored(_) => None,
        };
        let answered = match asker {
            Some(user_id) => self.within_reply_budget(user_id).await?,
            None => true,
        };
        match event {
            // Past their budget a user hears nothing, and costs nothing more.
            BotEvent::Message(_) | BotEvent::Button(_) if !answered => Ok(()),
            BotEvent::Message(message) => self.on_message(message).await,
            BotEvent::Button(press) => self.on_button(press).await,
            // A join request is still decided; only the courtesy menu is left out.
            BotEvent::JoinRequest(request) => {
                let mut admission = self.admission();
                admission.courtesy_menu = answered;
                admission.decide(request, self.clock.now()).await?;
                Ok(())
            }
            BotEvent::BotMembership(change) => {
                self.on_bot_membership(change).await;
                Ok(())
            }
            BotEvent::MemberJoined(join) => self.on_member_joined(join).await,
            BotEvent::PreCheckout(query) => self.on_pre_checkout(query).await,
            BotEvent::PaymentReceived(paid) => self.on_payment_received(paid).await,
            BotEvent::PaymentRefunded(refund) => self.on_payment_refunded(refund).await,
            BotEvent::Ignored(_) => Ok(()),
        }
    }

    /// Counts one answered update against `user_id`'s reply budget; false past it.
    async fn within_reply_budget(&self, user_id: i64) -> Result<bool, BotError> {
        let budgets = self.setup.budgets;
        match budgets
            .spend_reply(&self.store, user_id, self.clock.now())
            .await?
        {
            Budget::Within => Ok(true),
            Budget::Spent => {
                info!(
                    user_id,
                    limit = budgets.replies_per_window,
                    "user past their reply budget: not answered"
                );
                metrics::count(signal::BOT_REPLIES_WITHHELD);
                Ok(false)
            }
        }
    }

    /// lease and kept for `keep_for`.
    pub(super) fn once_claim(&self, now: DateTime<Utc>, keep_for: TimeDelta) -> OnceClaim {
        OnceClaim {
            token: uuid::Uuid::new_v4().to_string(),
            lease_until: now + self.setup.timing.update_lease,
            keep_until: now + keep_for,
            now,
        }
    }

    pub(super) async fn send(&self, chat_id: i64, menu: &Menu) -> Result<(), BotError> {
        let mut waited = std::time::Duration::ZERO;
        loop {
            let send = self.telegram.send_menu(chat_id, &menu.text, &menu.buttons);
            match bounded(self.setup.timing.call_timeout, send).await {
                // The user blocked the bot: nothing to tell them, nothing to retry.
                Ok(()) | Err(TelegramError::UserUnreachable(_)) => return Ok(()),
                // A user tapping faster than Telegram's one message a second per chat, or
                // the server's pace a moment from a spare turn (`crate::bot::paced`): a
                // short pause beats a redelivery of the whole update.
                Err(TelegramError::RetryAfter(pause)) if waited + pause <= SHORT_PAUSE => {
                    waited += pause;
                    tokio::time::sleep(pause).await;
                }
                // The bot is at Telegram's pace: a menu gives way, so invites and
                // removals (which wait and retry) get the messages. The user may ask
                // again; the update is done, not redelivered into the same 429s.
                Err(TelegramError::RetryAfter(pause)) => {
                    warn!(
                        chat_id,
                        ?pause,
                        "menu reply dropped: the bot is at Telegram's pace"
                    );
                    metrics::count(signal::BOT_REPLY_DROPPED);
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    pub(super) async fn say(&self, chat_id: i64, text: &str) -> Result<(), BotError> {
        self.send(
            chat_id,
            &Menu {
                text: text.to_owned(),
                buttons: Vec::new(),
            },
        )
        .await
    }
}
