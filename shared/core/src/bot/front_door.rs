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

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use tracing::{error, info, warn};

use super::admission::{Admission, AdmissionError, BotTiming, bounded};
use super::invoice::{
    Invoice, InvoiceApi, InvoiceError, InvoiceRequest, InvoiceUrls, invoice_keys,
};
use super::menu::{Choice, Menu, channel_named, channel_title, pay_menu, start_menu, tier_menu};
use super::secret::WebhookSecret;
use super::texts::{BotTexts, fill, format_time};
use super::update::{
    BotEvent, BotMembership, BotUpdate, ButtonPress, Command, PrivateMessage, UpdateError,
};
use crate::clock::{SharedClock, system_clock};
use crate::directory::{ChannelDirectory, ChannelEntry};
use crate::ipn::PaymentId;
use crate::metrics::{self, signal, stage};
use crate::operator::{Bot, Operator, OperatorError};
use crate::order::UserId;
use crate::owner::{OwnerNotice, tell_owner};
use crate::queue::{DelayedQueue, MessageQueue, QueueError};
use crate::store::{
    BotStore, Fenced, IngressStore, OnceClaim, OnceFound, OnceKey, OperatorStore, ReconcilerStore,
    StoreError, SubscriptionStore,
};
use crate::subscription::{GrantSource, LifecycleSettings, Subscription, SubscriptionKey};
use crate::telegram::{BotConversation, TelegramError, TelegramInviter};

/// How long a worker holds an update (longer than the function's timeout).
pub const UPDATE_LEASE: TimeDelta = TimeDelta::seconds(60);
/// How long an update's record is kept: Telegram stops redelivering long before.
pub const KEEP_RECORDS: TimeDelta = TimeDelta::hours(48);
/// A link /status sends must admit for at least this long yet.
const LINK_STILL_GOOD_FOR: TimeDelta = TimeDelta::minutes(10);
/// A 429 asking for at most this long is waited out within the update.
const SHORT_PAUSE: std::time::Duration = std::time::Duration::from_secs(2);
/// One re-issued invite per buyer and channel in this window.
const REINVITE_WINDOW_SECONDS: i64 = 600;

/// The parts of Telegram's request the bot looks at.
#[derive(Debug, Clone, Copy)]
pub struct BotRequest<'a> {
    pub method: &'a str,
    /// `X-Telegram-Bot-Api-Secret-Token`, found case-insensitively by the caller.
    pub secret: Option<&'a [u8]>,
    pub body: &'a [u8],
}

/// Every answer the bot webhook gives; [`BotOutcome::status`] is the one place they
/// become HTTP status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BotOutcome {
    Handled,
    /// Done before: a redelivery.
    AlreadyHandled,
    /// An update the bot leaves alone (another kind, a group, no text).
    Ignored,
    BadSecret,
    BadRequest,
    TooLarge,
    MethodNotAllowed,
    /// Another worker holds this update now: Telegram retries it later.
    Busy,
    /// The store, Telegram or NOWPayments failed for now: Telegram retries.
    Unavailable,
}

impl BotOutcome {
    pub fn status(self) -> u16 {
        match self {
            Self::Handled | Self::AlreadyHandled | Self::Ignored => 200,
            Self::BadRequest => 400,
            Self::BadSecret => 401,
            Self::MethodNotAllowed => 405,
            Self::TooLarge => 413,
            Self::Busy | Self::Unavailable => 500,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Self::Handled => "handled",
            Self::AlreadyHandled => "already_handled",
            Self::Ignored => "ignored",
            Self::BadSecret => "bad_secret",
            Self::BadRequest => "bad_request",
            Self::TooLarge => "too_large",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Busy => "busy",
            Self::Unavailable => "unavailable",
        }
    }

    /// The JSON body: the outcome word only.
    pub fn body(self) -> String {
        format!("{{\"outcome\":\"{}\"}}", self.word())
    }
}

/// Why the work on an update stopped.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Telegram(#[from] TelegramError),
    #[error(transparent)]
    Invoice(#[from] InvoiceError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Operator(#[from] OperatorError),
    #[error("another worker is making this invoice now")]
    InvoiceBusy,
}

impl From<AdmissionError> for BotError {
    fn from(error: AdmissionError) -> Self {
        match error {
            AdmissionError::Store(e) => Self::Store(e),
            AdmissionError::Telegram(e) => Self::Telegram(e),
            AdmissionError::Queue(e) => Self::Queue(e),
        }
    }
}

impl BotError {
    /// Whether Telegram redelivering the update can help.
    pub fn retry_helps(&self) -> bool {
        match self {
            Self::Store(StoreError::Unavailable(_)) | Self::Queue(_) | Self::InvoiceBusy => true,
            Self::Store(_) => false,
            Self::Telegram(e) => matches!(
                e,
                TelegramError::Transient(_) | TelegramError::RetryAfter(_)
            ),
            Self::Invoice(e) => matches!(e, InvoiceError::Unavailable(_)),
            Self::Operator(e) => matches!(
                e,
                OperatorError::Store(StoreError::Unavailable(_))
                    | OperatorError::Queue(_)
                    | OperatorError::Leased(_)
            ),
        }
    }
}

/// What the bot works with besides its ports.
#[derive(Debug, Clone)]
pub struct BotSetup {
    pub secret: WebhookSecret,
    pub directory: ChannelDirectory,
    pub texts: BotTexts,
    pub settings: LifecycleSettings,
    pub urls: InvoiceUrls,
    pub timing: BotTiming,
}

/// The store ports the bot uses: its once-records, subscriptions (`/status`,
/// admission) and the operator's re-issue of an invite (`/status`).
pub trait FrontDoorStore:
    BotStore + SubscriptionStore + OperatorStore + IngressStore + ReconcilerStore
{
}

impl<S> FrontDoorStore for S where
    S: BotStore + SubscriptionStore + OperatorStore + IngressStore + ReconcilerStore
{
}

impl BotSetup {
    /// A bot with the default texts, lifecycle settings and timing, and no success URL;
    /// set any field after.
    pub fn new(
        secret: WebhookSecret,
        directory: ChannelDirectory,
        ipn_callback_url: impl Into<String>,
    ) -> Self {
        Self {
            secret,
            directory,
            texts: BotTexts::default(),
            settings: LifecycleSettings::default(),
            urls: InvoiceUrls {
                ipn_callback_url: ipn_callback_url.into(),
                success_url: None,
            },
            timing: BotTiming::default(),
        }
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
    clock: SharedClock,
}

impl<S, T, I, Q, V> BotFrontDoor<S, T, I, Q, V>
where
    S: FrontDoorStore,
    T: BotConversation + TelegramInviter,
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
            setup,
            store,
            telegram,
            invoices,
            rechecks,
            invites,
            clock: system_clock(),
        }
    }

    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
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

    pub async fn receive(&self, request: BotRequest<'_>) -> BotOutcome {
        let outcome = self.answer(request).await;
        metrics::outcome(stage::BOT, outcome.word());
        outcome
    }

    async fn answer(&self, request: BotRequest<'_>) -> BotOutcome {
        if !request.method.eq_ignore_ascii_case("POST") {
            return BotOutcome::MethodNotAllowed;
        }
        if !self.setup.secret.matches(request.secret) {
            warn!("bot webhook call without the right secret token: refused");
            metrics::count(signal::BOT_WEBHOOK_SECRET_REJECTED);
            return BotOutcome::BadSecret;
        }
        let update = match BotUpdate::parse(request.body) {
            Ok(update) => update,
            Err(UpdateError::TooLarge) => return BotOutcome::TooLarge,
            Err(UpdateError::NotAnUpdate) => return BotOutcome::BadRequest,
        };
        if let BotEvent::Ignored(why) = update.event {
            info!(update_id = update.update_id, why, "update ignored");
            return BotOutcome::Ignored;
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

    async fn work(&self, event: &BotEvent) -> Result<(), BotError> {
        match event {
            BotEvent::Message(message) => self.on_message(message).await,
            BotEvent::Button(press) => self.on_button(press).await,
            BotEvent::JoinRequest(request) => {
                self.admission().decide(request, self.clock.now()).await?;
                Ok(())
            }
            BotEvent::BotMembership(change) => {
                self.on_bot_membership(change).await;
                Ok(())
            }
            BotEvent::Ignored(_) => Ok(()),
        }
    }

    pub fn admission(&self) -> Admission<'_, S, T, Q> {
        Admission {
            store: &self.store,
            telegram: &self.telegram,
            rechecks: &self.rechecks,
            directory: &self.setup.directory,
            texts: &self.setup.texts,
            settings: &self.setup.settings,
            timing: self.setup.timing,
        }
    }

    /// A claim on a once-record at `now` under a fresh token, leased for the update's
    /// lease and kept for `keep_for`.
    fn once_claim(&self, now: DateTime<Utc>, keep_for: TimeDelta) -> OnceClaim {
        OnceClaim {
            token: uuid::Uuid::new_v4().to_string(),
            lease_until: now + self.setup.timing.update_lease,
            keep_until: now + keep_for,
            now,
        }
    }

    async fn send(&self, chat_id: i64, menu: &Menu) -> Result<(), BotError> {
        let mut waited = false;
        loop {
            let send = self.telegram.send_menu(chat_id, &menu.text, &menu.buttons);
            match bounded(self.setup.timing.call_timeout, send).await {
                // The user blocked the bot: nothing to tell them, nothing to retry.
                Ok(()) | Err(TelegramError::UserUnreachable(_)) => return Ok(()),
                // A user tapping faster than Telegram's one message a second per chat:
                // a short pause beats a redelivery of the whole update.
                Err(TelegramError::RetryAfter(pause)) if !waited && pause <= SHORT_PAUSE => {
                    waited = true;
                    tokio::time::sleep(pause).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn say(&self, chat_id: i64, text: &str) -> Result<(), BotError> {
        self.send(
            chat_id,
            &Menu {
                text: text.to_owned(),
                buttons: Vec::new(),
            },
        )
        .await
    }

    async fn on_message(&self, message: &PrivateMessage) -> Result<(), BotError> {
        let texts = &self.setup.texts;
        match Command::parse(&message.text) {
            Command::Start(parameter) => {
                let named = parameter
                    .as_deref()
                    .and_then(|p| channel_named(&self.setup.directory, p));
                let menu = match named {
                    Some(entry) => tier_menu(entry, &texts.choose_tier, texts),
                    None => start_menu(&self.setup.directory, texts),
                };
                self.send(message.chat_id, &menu).await
            }
            Command::Help => self.say(message.chat_id, &texts.help).await,
            Command::Status => self.on_status(message).await,
            Command::Other => self.say(message.chat_id, &texts.unknown).await,
        }
    }

    async fn on_button(&self, press: &ButtonPress) -> Result<(), BotError> {
        let texts = &self.setup.texts;
        let directory = &self.setup.directory;
        let chosen = Choice::parse(&press.data).and_then(|choice| match choice {
            Choice::Channel(id) => channel_named(directory, &id.to_string()).map(|e| (e, None)),
            Choice::Tier { channel_id, tier } => {
                let entry = channel_named(directory, &channel_id.to_string())?;
                entry.tiers.get(tier as usize)?;
                Some((entry, Some(tier)))
            }
        });
        let notice = match chosen {
            None => Some(texts.stale_button.as_str()),
            Some((entry, None)) => {
                self.send(press.chat_id, &tier_menu(entry, &texts.choose_tier, texts))
                    .await?;
                None
            }
            Some((entry, Some(tier))) => match self.invoice(press.user_id, entry, tier).await {
                Ok(invoice) => {
                    let menu = pay_menu(
                        entry,
                        &entry.tiers[tier as usize],
                        &invoice.invoice_url,
                        texts,
                    );
                    self.send(press.chat_id, &menu).await?;
                    None
                }
                Err(BotError::Invoice(InvoiceError::Refused(why))) => {
                    error!(
                        channel_id = entry.channel_id,
                        why,
                        "NOWPayments refused an invoice: check the API key and the tier's currency"
                    );
                    metrics::count(signal::INVOICE_REFUSED);
                    Some(texts.invoice_later.as_str())
                }
                Err(e) => return Err(e),
            },
        };
        // Answered last, so a retried update still answers; an old query is no error.
        let answer = self.telegram.answer_button(&press.query_id, notice);
        match bounded(self.setup.timing.call_timeout, answer).await {
            Ok(()) => Ok(()),
            Err(e @ (TelegramError::Transient(_) | TelegramError::RetryAfter(_))) => {
                warn!(error = %e, "button not answered; the work is done");
                Ok(())
            }
            Err(_) => Ok(()),
        }
    }

    /// The invoice for this buyer, channel and tier in this 10-minute window: made once
    /// (claimed before NOWPayments is called), shown again after. One made less than 10
    /// minutes ago in the window before is shown too, and kept as this window's.
    async fn invoice(
        &self,
        user_id: i64,
        entry: &ChannelEntry,
        tier: u32,
    ) -> Result<Invoice, BotError> {
        let now = self.clock.now();
        // First, and on every tap: a buyer shown a Pay button always has their purchase
        // noted, even when an earlier attempt made the invoice and then failed.
        self.note_purchase(user_id, entry.channel_id, now).await?;
        let [key, previous] = invoice_keys(user_id, entry.channel_id, tier, now);
        let claim = self.once_claim(now, KEEP_RECORDS);
        let token = &claim.token;
        match self.store.claim_once(key, &claim).await? {
            OnceFound::Done { result } => {
                return Invoice::stored(result).ok_or(BotError::InvoiceBusy);
            }
            OnceFound::Leased { .. } => return Err(BotError::InvoiceBusy),
            OnceFound::Claimed => {}
        }
        let recent = self
            .store
            .read_once(previous)
            .await?
            .and_then(|record| Invoice::stored(record.result))
            .filter(|invoice| invoice.fresh_at(now));
        let invoice = match recent {
            Some(invoice) => invoice,
            None => match self.create_invoice(user_id, entry, tier, now).await {
                Ok(invoice) => invoice,
                Err(e) => {
                    let _ = self.store.release_once(key, token).await;
                    return Err(e);
                }
            },
        };
        let json = serde_json::to_string(&invoice).expect("an invoice serializes");
        let invoice = match self
            .store
            .finish_once(key, token, Some(&json), self.clock.now())
            .await?
        {
            Fenced::Done => invoice,
            // Our lease lapsed and another worker made one: show theirs, ours is never seen.
            Fenced::LeaseLost => self
                .store
                .read_once(key)
                .await?
                .and_then(|record| Invoice::stored(record.result))
                .unwrap_or(invoice),
        };
        info!(user_id, channel_id = entry.channel_id, invoice_id = %invoice.id, "invoice ready");
        Ok(invoice)
    }

    async fn create_invoice(
        &self,
        user_id: i64,
        entry: &ChannelEntry,
        tier: u32,
        now: DateTime<Utc>,
    ) -> Result<Invoice, BotError> {
        let request = UserId::new(user_id)
            .ok()
            .and_then(|user| {
                InvoiceRequest::for_tier(user, entry, &entry.tiers[tier as usize], &self.setup.urls)
            })
            .ok_or_else(|| InvoiceError::Refused("the order id cannot be formed".into()))?;
        let mut invoice = self.invoices.create_invoice(&request).await?;
        invoice.created_at = Some(now);
        Ok(invoice)
    }

    /// Notes that this buyer started a purchase of this channel (this hour), so that a
    /// join request from them waits for the payment.
    async fn note_purchase(
        &self,
        user_id: i64,
        channel_id: i64,
        now: DateTime<Utc>,
    ) -> Result<(), BotError> {
        let key = super::admission::purchase_keys(user_id, channel_id, now)[0];
        let claim = self.once_claim(now, TimeDelta::hours(2));
        if self.store.claim_once(key, &claim).await? == OnceFound::Claimed {
            // A lapsed lease means another worker finishes it: either way it is noted.
            let _ = self.store.finish_once(key, &claim.token, None, now).await?;
        }
        Ok(())
    }

    async fn on_status(&self, message: &PrivateMessage) -> Result<(), BotError> {
        let texts = &self.setup.texts;
        let Ok(user) = UserId::new(message.user_id) else {
            return self.say(message.chat_id, &texts.status_none).await;
        };
        let now = self.clock.now();
        let mut lines = Vec::new();
        let mut follow_ups = Vec::new();
        let mut seen = Vec::new();
        for entry in self.setup.directory.channels() {
            if seen.contains(&entry.private_channel_id) {
                continue;
            }
            seen.push(entry.private_channel_id);
            let key = SubscriptionKey::new(user, entry.private_channel_id);
            let Some(subscription) = self.store.get_subscription(key).await? else {
                continue;
            };
            let status = subscription.status(now, &self.setup.settings);
            let title = channel_title(entry);
            lines.push(fill(
                &texts.status_line,
                &[
                    ("channel", &title),
                    ("status", status.as_str()),
                    ("expires_at", &format_time(subscription.expires_at)),
                ],
            ));
            if subscription.is_active(now, &self.setup.settings)
                && !bounded(
                    self.setup.timing.call_timeout,
                    self.telegram
                        .is_member(entry.private_channel_id, message.user_id),
                )
                .await?
            {
                follow_ups.push(self.invite_again(&subscription, &title, now).await?);
            }
        }
        if lines.is_empty() {
            return self.say(message.chat_id, &texts.status_none).await;
        }
        self.say(message.chat_id, &lines.join("\n")).await?;
        for text in follow_ups {
            self.say(message.chat_id, &text).await?;
        }
        Ok(())
    }

    /// An active buyer who is not in the channel: the subscription's live link while it
    /// admits, else one re-issued invite (per 10 minutes) through the invite sender,
    /// which sends the live link or replaces it: never a second link.
    async fn invite_again(
        &self,
        subscription: &Subscription,
        title: &str,
        now: DateTime<Utc>,
    ) -> Result<String, BotError> {
        let texts = &self.setup.texts;
        if let Some(link) =
            subscription.sendable_link(|link| link.expires_at > now + LINK_STILL_GOOD_FOR)
        {
            return Ok(fill(
                &texts.status_link,
                &[("channel", title), ("link", &link.url)],
            ));
        }
        let payment = subscription
            .live_link
            .as_ref()
            .map(|link| link.made_for)
            .or_else(|| {
                subscription
                    .grants
                    .iter()
                    .rev()
                    .find_map(|grant| match grant.source {
                        GrantSource::Payment(id) => Some(id),
                        GrantSource::Operator(_) => None,
                    })
            })
            .and_then(|id| PaymentId::new(id).ok());
        let key = OnceKey::Reinvite {
            user_id: subscription.key.user_id.get(),
            channel_id: subscription.key.channel_id,
            window: now.timestamp().div_euclid(REINVITE_WINDOW_SECONDS),
        };
        let claim = self.once_claim(now, TimeDelta::seconds(REINVITE_WINDOW_SECONDS));
        let token = &claim.token;
        if let (Some(payment), OnceFound::Claimed) =
            (payment, self.store.claim_once(key, &claim).await?)
        {
            let operator = Operator::new(&self.store, self.clock.clone());
            let bot = Bot {
                telegram: Some(&self.telegram),
                directory: Some(&self.setup.directory),
            };
            match operator.reissue(payment, bot, &self.invites).await {
                Ok(_) | Err(OperatorError::RevokeFailed { .. }) => {}
                Err(e) => {
                    let _ = self.store.release_once(key, token).await;
                    return Err(e.into());
                }
            }
            // A lapsed lease means another worker finishes it: either way it is noted.
            let _ = self.store.finish_once(key, token, None, now).await?;
            info!(%payment, "invite re-issued for /status");
        }
        Ok(fill(&texts.status_link_coming, &[("channel", title)]))
    }

    async fn on_bot_membership(&self, change: &BotMembership) {
        if self.setup.directory.selling(change.chat_id).is_none() {
            info!(
                chat_id = change.chat_id,
                status = change.status,
                "bot membership changed in a chat not in the directory"
            );
        } else if change.can_manage() {
            info!(
                chat_id = change.chat_id,
                status = change.status,
                "bot can manage the channel"
            );
        } else {
            metrics::count(signal::BOT_RIGHTS_LOST);
            error!(
                chat_id = change.chat_id,
                status = change.status,
                "the bot lost its admin rights in a sold channel (or was removed): invites and removals fail until it is an admin that may invite and ban users again"
            );
            let notice = OwnerNotice::RightsLost {
                status: change.status.clone(),
            };
            tell_owner(
                &self.telegram,
                &self.setup.directory,
                change.chat_id,
                notice,
                self.setup.timing.call_timeout,
            )
            .await;
        }
    }
}
