//! invite-sender: the exactly-once invite protocol.
//!
//! The Bot API has no idempotency key, so the store provides it:
//! 1. claim the payment with a fresh lease token (the fencing token), lease until just
//!    after this invocation's deadline;
//! 2. send the subscription's live link while it has at least half its lifetime left
//!    (one live link per subscription: a buyer's payments share it), else the payment's
//!    own stored link while good, else make one; before a stored link that may have
//!    reached the buyer is dropped, ask Telegram whether they are already in (then
//!    complete as `satisfied_by_membership`, no second link), else revoke it. A live
//!    link about to be replaced is revoked before its replacement is made (a revoke that
//!    may work later retries the message), so no crash between the two leaves the buyer
//!    two open links. A new link
//!    is persisted under the token (revoked if the lease was lost), then becomes the
//!    subscription's live link by one versioned write; a payment that loses that race
//!    revokes its own and sends the winner's;
//! 3. send it to the buyer;
//! 4. complete under the token.
//!
//! A renewal (the buyer had paid time before this payment's) with no link made yet asks
//! Telegram first whether the buyer is in the channel: if so, no link at all — one
//! "renewed until" message, and the payment completes as `renewed_in_place`.
//!
//! No link is made or sent for a subscription whose paid time (with the grace) is over,
//! and no link, new or reused, admits past it: the removal is claimed only after that
//! end, so whoever joins with a link joins before it and is removed by it. A payment
//! whose time ran out first ends `invite_failed` (`access_ended`), its owner told how
//! to give time; a refunded payment ends `invite_failed` (`refunded`), no link.
//!
//! Every handled failure releases the lease before the message is reported failed.
//!
//! The protocol lives in one file a job: `intake` (the message, its claim and how a
//! stop ends), `protocol` (the run and the owner's notice), `link` (which link is sent,
//! and the shared-link race), `renewal` (membership: renewed in place, satisfied by
//! membership), `call` (one Bot API call and the write after it). Its tests are in
//! `functions/invite-sender/src/tests/` (the handler drives them on the in-memory store).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::bot::BotTexts;
use crate::catalog::{Catalog, LiveCatalog};
use crate::clock::{SharedClock, system_clock};
use crate::payment::ProcessedPayment;
use crate::store::{InviteStore, StoreError, SubscriptionStore};
use crate::subscription::LifecycleSettings;
use crate::telegram::{TelegramError, TelegramInviter};

mod call;
mod intake;
mod link;
mod protocol;
mod renewal;
mod settings;

pub use settings::{
    BOT_API_CALLS_PER_MESSAGE, DEFAULT_CALL_TIMEOUT, DEFAULT_LINK_TTL, DEFAULT_MESSAGE,
    DEFAULT_RENEWED_MESSAGE, InviteSettings, MessageTemplate, STORE_TIME_PER_MESSAGE,
    TemplateWithoutLink,
};

pub struct InviteSender<S, T> {
    pub store: S,
    pub telegram: T,
    /// Channels and the bot's texts (read again as they change; the texts are those of
    /// held payments' notices, [`crate::held`]).
    pub catalog: LiveCatalog,
    pub settings: InviteSettings,
    /// The grace after a subscription's end (a link admits until then at most).
    pub lifecycle: LifecycleSettings,
    pub clock: SharedClock,
}

/// The link a payment sends, or why it sends none.
enum Chosen {
    Link(String),
    /// A stored link may have reached the buyer, and they are in: complete, no link.
    BuyerIsIn,
}

/// Why a claimed delivery stopped short.
#[derive(Debug)]
enum Stopped {
    Telegram(TelegramError),
    Store(StoreError),
    /// Another worker took the payment over: it will finish the job.
    LeaseLost,
    /// Configuration, not Telegram: the payment has no stored purchase (a seed row) and
    /// its channel is not in the directory, so its private channel is unknown.
    UnknownChannel(i64),
    /// The subscription's paid time (with the grace) ended before a link went out: a
    /// link now could only admit someone after the removal, so none is made or sent.
    AccessEnded {
        paid_until: DateTime<Utc>,
    },
    /// The payment was refunded (before its grant, or since): no invite is owed.
    Refunded,
}

impl From<TelegramError> for Stopped {
    fn from(e: TelegramError) -> Self {
        Self::Telegram(e)
    }
}

impl From<StoreError> for Stopped {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl<S: InviteStore + SubscriptionStore, T: TelegramInviter> InviteSender<S, T> {
    pub fn new(
        store: S,
        telegram: T,
        catalog: impl Into<LiveCatalog>,
        settings: InviteSettings,
    ) -> Self {
        Self {
            store,
            telegram,
            catalog: catalog.into(),
            settings,
            lifecycle: LifecycleSettings::default(),
            clock: system_clock(),
        }
    }

    /// The same channels with `texts` (a fixed catalog: the tests).
    pub fn with_bot_texts(mut self, texts: BotTexts) -> Self {
        let directory = self.catalog.now().directory.clone();
        self.catalog = LiveCatalog::fixed(Catalog::of(directory, texts));
        self
    }

    pub fn with_lifecycle(mut self, lifecycle: LifecycleSettings) -> Self {
        self.lifecycle = lifecycle;
        self
    }

    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The invocation's deadline on this sender's clock, from the time it has left.
    pub fn deadline_in(&self, time_left: Duration) -> DateTime<Utc> {
        self.clock.now() + TimeDelta::from_std(time_left).unwrap_or(TimeDelta::zero())
    }

    /// Whether one more message can be handled before `deadline`
    /// ([`InviteSettings::time_per_message`]). Past this, messages are left for SQS
    /// untouched.
    pub fn has_time_for_one(&self, deadline: DateTime<Utc>) -> bool {
        (deadline - self.clock.now())
            .to_std()
            .is_ok_and(|left| left >= self.settings.time_per_message())
    }

    fn private_channel(&self, record: &ProcessedPayment) -> Result<i64, Stopped> {
        record
            .private_channel(Some(&self.catalog.now().directory))
            .ok_or(Stopped::UnknownChannel(record.channel_id.get()))
    }
}
