//! The bot webhook's decision: from Telegram's HTTP request to one outcome, with its
//! effects. Order: method, then the secret header (nothing else is read without it),
//! then size and shape, then the update's once-record, then the work.
//!
//! Each update is handled once: its record is claimed with a lease before any work and
//! marked done after it (kept 48 h). A redelivered update that is done does nothing; one
//! whose worker crashed half-way runs again once the lease lapses (its effects are safe
//! to repeat: menus and notices may be sent again, the invoice is claimed on its own
//! record, approving or declining a handled request is no error). The answer is 200 for
//! anything handled or deliberately ignored, 401 for a wrong secret, 4xx for a body that
//! is no update, and 500 only when a retry can help (the store, Telegram or NOWPayments
//! down for now, or another worker holding the update), because Telegram retries every
//! non-2xx answer.
//!
//! One job a file: `outcome` (the words, statuses and errors), `dispatch` (request to
//! outcome, once-records), `commands` (/start, /help, buttons), `purchase` (tier to
//! invoice), `status` (/status and its re-invite), `membership` (the bot's own rights),
//! `joins` (someone in through another buyer's link).
//! Its tests are in `functions/bot-webhook/src/tests/` (the handler on the in-memory
//! store, with the fake Bot API and fake NOWPayments).

use crate::bot::admission::Admission;
use crate::bot::budget::BotBudgets;
use crate::bot::invoice::{InvoiceApi, InvoiceUrls};
use crate::bot::secret::WebhookSecret;
use crate::bot::texts::BotTexts;
use crate::bot::timing::BotTiming;
use crate::catalog::{Catalog, LiveCatalog};
use crate::clock::{SharedClock, system_clock};
use crate::queue::{DelayedQueue, MessageQueue};
use crate::rotation::{Rotating, SecretSource};
use crate::store::{
    BotStore, HeldNoticeStore, OperatorStore, PaymentWatchStore, PurchasePartsStore,
    RateBudgetStore, SubscriptionStore,
};
use crate::subscription::LifecycleSettings;
use crate::telegram::{BotConversation, MemberRemover, StarsPayments, TelegramInviter};

mod commands;
mod dispatch;
mod joins;
mod membership;
mod outcome;
mod purchase;
mod stars;
mod status;
mod topup;

pub use outcome::{BotError, BotOutcome, BotRequest};

/// What the bot works with besides its ports.
#[derive(Debug, Clone)]
pub struct BotSetup {
    pub secret: WebhookSecret,
    /// Channels, tiers and the bot's texts (read again as they change).
    pub catalog: LiveCatalog,
    pub settings: LifecycleSettings,
    pub urls: InvoiceUrls,
    pub timing: BotTiming,
    /// Each user's replies and everyone's new invoices (`crate::bot::budget`).
    pub budgets: BotBudgets,
}

/// The store ports the bot uses: its once-records, subscriptions (`/status`,
/// admission), the operator's re-issue of an invite (`/status`), and the buyer's held
/// payments (`/status`), and their purchases waiting for the rest (`/topup`).
pub trait FrontDoorStore:
    BotStore
    + RateBudgetStore
    + SubscriptionStore
    + OperatorStore
    + HeldNoticeStore
    + PaymentWatchStore
    + PurchasePartsStore
{
}

impl<S> FrontDoorStore for S where
    S: BotStore
        + RateBudgetStore
        + SubscriptionStore
        + OperatorStore
        + HeldNoticeStore
        + PaymentWatchStore
        + PurchasePartsStore
{
}

impl BotSetup {
    /// A bot with the default texts, lifecycle settings and timing, and no success URL;
    /// set any field after.
    pub fn new(
        secret: WebhookSecret,
        catalog: impl Into<LiveCatalog>,
        ipn_callback_url: impl Into<String>,
    ) -> Self {
        Self {
            secret,
            catalog: catalog.into(),
            settings: LifecycleSettings::default(),
            urls: InvoiceUrls {
                ipn_callback_url: ipn_callback_url.into(),
                success_url: None,
            },
            timing: BotTiming::default(),
            budgets: BotBudgets::default(),
        }
    }

    /// The same channels with `texts` (a fixed catalog: the tests, a local run).
    pub fn with_texts(mut self, texts: BotTexts) -> Self {
        let directory = self.catalog.now().directory.clone();
        self.catalog = LiveCatalog::fixed(Catalog::of(directory, texts));
        self
    }
}

pub struct BotFrontDoor<S, T, I, Q, V> {
    setup: BotSetup,
    store: S,
    telegram: T,
    invoices: I,
    /// Delayed re-checks of join requests.
    rechecks: Q,
    /// The invite queue, for /status's re-issued invite.
    invites: V,
    /// The processor queue, for Telegram Stars payments (`stars.rs`): none, none taken.
    processor: Option<V>,
    clock: SharedClock,
    /// The setup's secret, read again from its store when a header does not match.
    webhook_secret: Rotating<WebhookSecret>,
}

impl<S, T, I, Q, V> BotFrontDoor<S, T, I, Q, V>
where
    S: FrontDoorStore,
    T: BotConversation + TelegramInviter + MemberRemover + StarsPayments,
    I: InvoiceApi,
    Q: DelayedQueue,
    V: MessageQueue,
{
    pub fn new(
        setup: BotSetup,
        store: S,
        telegram: T,
        invoices: I,
        rechecks: Q,
        invites: V,
    ) -> Self {
        Self {
            webhook_secret: Rotating::fixed(setup.secret.clone()),
            setup,
            store,
            telegram,
            invoices,
            rechecks,
            invites,
            processor: None,
            clock: system_clock(),
        }
    }

    /// Stars payments are handed to `queue` (the processor queue).
    pub fn with_processor_queue(mut self, queue: V) -> Self {
        self.processor = Some(queue);
        self
    }

    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The webhook secret is read again from `source` when Telegram's header does not
    /// match (at most once per `pause`), and at its next use once held `max_age`: a
    /// secret rotated in its store and given to Telegram reaches this warm function.
    pub fn with_secret_source(
        mut self,
        source: std::sync::Arc<dyn SecretSource>,
        pause: std::time::Duration,
        max_age: std::time::Duration,
    ) -> Self {
        self.webhook_secret = self.webhook_secret.renewing(source, pause, max_age);
        self
    }

    /// Whether the call carries our secret, reading it again once if it does not (the
    /// owner may have rotated it).
    pub(super) async fn secret_accepts(&self, given: Option<&[u8]>) -> bool {
        self.webhook_secret.refresh_if_due().await;
        if self.webhook_secret.current().matches(given) {
            return true;
        }
        given.is_some()
            && self
                .webhook_secret
                .renewed_after_refusal()
                .await
                .is_some_and(|renewed| renewed.matches(given))
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn rechecks(&self) -> &Q {
        &self.rechecks
    }

    pub fn invites(&self) -> &V {
        &self.invites
    }

    /// The processor queue Stars payments go to, if one was given.
    pub fn processor_queue(&self) -> Option<&V> {
        self.processor.as_ref()
    }

    pub fn admission(&self) -> Admission<'_, S, T, Q> {
        Admission {
            store: &self.store,
            telegram: &self.telegram,
            rechecks: &self.rechecks,
            catalog: &self.setup.catalog,
            settings: &self.setup.settings,
            timing: self.setup.timing,
            courtesy_menu: true,
        }
    }
}
