//! Admission through join requests: the bot approves a request only from a user whose
//! subscription to the channel is active (`Subscription::is_active`, the rule removal
//! uses), so a forwarded link admits nobody else.
//!
//! Anyone else first gets the channel's tiers in the private chat Telegram opens for a
//! pending request (`user_chat_id`, usable for 5 minutes), then a decline. A request
//! from a user who started a purchase of that channel in the last hour or so (the bot
//! noted it when it made their invoice) may be a payment on its way: it is not declined
//! at once but re-checked every [`RECHECK_EVERY`] through a delayed queue message
//! ([`AdmissionRecheck`]) until [`WAIT_FOR_GRANT`] after the request, then decided as
//! above. A buyer declined this way still gets their own link when the payment is granted.
//!
//! Tests: `functions/bot-webhook/src/tests/admission.rs`, `functions/admission-recheck/src/tests.rs`;
//! under faults, `tests/src/chaos/admission.rs`.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::menu::tier_menu;
use super::timing::{BotTiming, bounded};
use super::update::JoinRequest;
use crate::catalog::LiveCatalog;
use crate::clock::{SharedClock, system_clock};
use crate::metrics::{self, stage};
use crate::order::UserId;
use crate::queue::{DelayedQueue, MalformedMessage, MessageOutcome, QueueError, parse_message};
use crate::store::{BotStore, OnceKey, StoreError, SubscriptionStore};
use crate::subscription::{LifecycleSettings, SubscriptionKey};
use crate::telegram::{BotConversation, TelegramError};

/// Telegram lets the bot write to `user_chat_id` this long after the request.
pub const MESSAGE_WINDOW: TimeDelta = TimeDelta::minutes(5);

pub const RECHECK_MESSAGE_VERSION: u32 = 1;

/// A join request to look at again later (a delayed queue message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionRecheck {
    pub v: u32,
    pub chat_id: i64,
    pub user_id: i64,
    pub user_chat_id: i64,
    pub requested_at: DateTime<Utc>,
}

impl AdmissionRecheck {
    pub fn of(request: &JoinRequest) -> Self {
        Self {
            v: RECHECK_MESSAGE_VERSION,
            chat_id: request.chat_id,
            user_id: request.user_id,
            user_chat_id: request.user_chat_id,
            requested_at: request.requested_at,
        }
    }

    pub fn parse(body: &str) -> Result<Self, MalformedMessage> {
        parse_message(body, RECHECK_MESSAGE_VERSION)
    }

    pub fn request(&self) -> JoinRequest {
        JoinRequest {
            chat_id: self.chat_id,
            user_id: self.user_id,
            user_chat_id: self.user_chat_id,
            requested_at: self.requested_at,
            invite_link: None,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a recheck always serializes")
    }
}

/// What became of a join request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted {
    Approved,
    /// A purchase is in progress: looked at again later.
    Waiting,
    Declined,
    /// A chat the directory does not sell: left for its admins.
    NotOurs,
}

impl Admitted {
    pub fn word(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Waiting => "waiting",
            Self::Declined => "declined",
            Self::NotOurs => "not_ours",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Telegram(#[from] TelegramError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// The purchase notes a join request looks for, by the private channel bought: this hour
/// and the one before.
pub fn purchase_keys(user_id: i64, channel_id: i64, now: DateTime<Utc>) -> [OnceKey; 2] {
    let hour = now.timestamp().div_euclid(3_600);
    [hour, hour - 1].map(|hour| OnceKey::PurchaseStarted {
        user_id,
        channel_id,
        hour,
    })
}

/// The join-request re-check as a stage of its own (the admission-recheck function):
/// what [`Admission`] borrows, owned, with the clock it decides on.
pub struct AdmissionStage<S, T, Q> {
    pub store: S,
    pub telegram: T,
    pub rechecks: Q,
    /// Channels and the bot's texts (read again as they change).
    pub catalog: LiveCatalog,
    pub settings: LifecycleSettings,
    pub timing: BotTiming,
    pub clock: SharedClock,
}

impl<S, T, Q> AdmissionStage<S, T, Q> {
    /// The re-check with the production timing and the system clock.
    pub fn new(
        store: S,
        telegram: T,
        rechecks: Q,
        catalog: impl Into<LiveCatalog>,
        settings: LifecycleSettings,
    ) -> Self {
        Self {
            store,
            telegram,
            rechecks,
            catalog: catalog.into(),
            settings,
            timing: BotTiming::default(),
            clock: system_clock(),
        }
    }

    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The bot's clocks, when not production's (the chaos run scales them down).
    pub fn with_timing(mut self, timing: BotTiming) -> Self {
        self.timing = timing;
        self
    }

    /// The admission rule over this stage's parts.
    pub fn admission(&self) -> Admission<'_, S, T, Q> {
        Admission {
            store: &self.store,
            telegram: &self.telegram,
            rechecks: &self.rechecks,
            catalog: &self.catalog,
            settings: &self.settings,
            timing: self.timing,
            courtesy_menu: true,
        }
    }
}

/// The admission rule and its effects, shared by the bot webhook and the re-check.
pub struct Admission<'a, S, T, Q> {
    pub store: &'a S,
    pub telegram: &'a T,
    pub rechecks: &'a Q,
    pub catalog: &'a LiveCatalog,
    pub settings: &'a LifecycleSettings,
    pub timing: BotTiming,
    /// Whether a decline comes with the channel's tiers (not to a user past their reply
    /// budget: `crate::bot::budget`).
    pub courtesy_menu: bool,
}

impl<S, T, Q> Admission<'_, S, T, Q>
where
    S: BotStore + SubscriptionStore,
    T: BotConversation,
    Q: DelayedQueue,
{
    pub async fn decide(
        &self,
        request: &JoinRequest,
        now: DateTime<Utc>,
    ) -> Result<Admitted, AdmissionError> {
        let decided = self.decide_once(request, now).await;
        let word = match &decided {
            Ok(admitted) => admitted.word(),
            Err(AdmissionError::Telegram(TelegramError::RetryAfter(_))) => "rate_limited",
            Err(_) => "retry",
        };
        metrics::outcome(stage::ADMISSION, word);
        decided
    }

    async fn decide_once(
        &self,
        request: &JoinRequest,
        now: DateTime<Utc>,
    ) -> Result<Admitted, AdmissionError> {
        let catalog = self.catalog.current().await;
        let Some(entry) = catalog.directory.selling(request.chat_id) else {
            info!(
                chat_id = request.chat_id,
                "join request for a chat not in the directory: left alone"
            );
            return Ok(Admitted::NotOurs);
        };
        let Ok(user) = UserId::new(request.user_id) else {
            return self.decline(request, entry, now).await;
        };
        let key = SubscriptionKey::new(user, request.chat_id);
        let active = self
            .store
            .get_subscription(key)
            .await?
            .is_some_and(|subscription| subscription.is_active(now, self.settings));
        if active {
            let approve = self
                .telegram
                .approve_join_request(request.chat_id, request.user_id);
            bounded(self.timing.call_timeout, approve).await?;
            info!(
                user_id = request.user_id,
                "join request approved: subscription active"
            );
            return Ok(Admitted::Approved);
        }
        if now < request.requested_at + self.timing.wait_for_grant
            && self.purchase_in_progress(request, now).await?
        {
            self.rechecks
                .send_later(
                    &AdmissionRecheck::of(request).to_json(),
                    self.timing.recheck_every,
                )
                .await?;
            info!(
                user_id = request.user_id,
                "join request waits: a purchase is in progress"
            );
            return Ok(Admitted::Waiting);
        }
        self.decline(request, entry, now).await
    }

    /// A delayed re-check from the queue: decided again as a fresh request would be (a
    /// wait that ran out is declined). Failures are retried, then dead-lettered.
    pub async fn recheck(&self, body: &str, now: DateTime<Utc>) -> MessageOutcome {
        let recheck = match AdmissionRecheck::parse(body) {
            Ok(recheck) => recheck,
            Err(e) => {
                warn!(error = %e, "admission re-check unreadable: retried, then dead-lettered");
                return MessageOutcome::Retry;
            }
        };
        match self.decide(&recheck.request(), now).await {
            Ok(admitted) => {
                info!(
                    user_id = recheck.user_id,
                    ?admitted,
                    "join request re-checked"
                );
                MessageOutcome::Done
            }
            Err(AdmissionError::Telegram(TelegramError::RetryAfter(delay))) => {
                MessageOutcome::RetryAfter(delay)
            }
            Err(e) => {
                warn!(user_id = recheck.user_id, error = %e, "join request re-check failed: retried");
                MessageOutcome::Retry
            }
        }
    }

    /// Whether the requester started a purchase of this private channel lately, through
    /// any directory entry selling it. Notes are keyed by the private channel; notes
    /// written before that were keyed by the entry's public channel id, and are read too.
    async fn purchase_in_progress(
        &self,
        request: &JoinRequest,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let public_ids: Vec<i64> = self
            .catalog
            .now()
            .directory
            .channels()
            .into_iter()
            .filter(|entry| entry.private_channel_id == request.chat_id)
            .map(|entry| entry.channel_id)
            .collect();
        let channels = std::iter::once(request.chat_id).chain(public_ids);
        let keys = channels.flat_map(|channel| purchase_keys(request.user_id, channel, now));
        for key in keys {
            if self
                .store
                .read_once(key)
                .await?
                .is_some_and(|note| note.keep_until > now)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn decline(
        &self,
        request: &JoinRequest,
        entry: &crate::directory::ChannelEntry,
        now: DateTime<Utc>,
    ) -> Result<Admitted, AdmissionError> {
        if self.courtesy_menu && now < request.requested_at + MESSAGE_WINDOW {
            let catalog = self.catalog.now();
            let menu = tier_menu(entry, &catalog.texts.join_declined, &catalog.texts);
            // The menu is a courtesy: a user who cannot be written to is still declined,
            // and at the bot's pace it gives way to invites and removals.
            let send = self
                .telegram
                .send_menu(request.user_chat_id, &menu.text, &menu.buttons);
            match bounded(self.timing.call_timeout, send).await {
                Ok(()) | Err(TelegramError::UserUnreachable(_)) => {}
                Err(TelegramError::RetryAfter(_)) => {
                    metrics::count(metrics::signal::BOT_REPLY_DROPPED);
                }
                Err(other) => return Err(other.into()),
            }
        }
        let decline = self
            .telegram
            .decline_join_request(request.chat_id, request.user_id);
        bounded(self.timing.call_timeout, decline).await?;
        warn!(
            user_id = request.user_id,
            chat_id = request.chat_id,
            "join request declined: no active subscription"
        );
        Ok(Admitted::Declined)
    }
}
