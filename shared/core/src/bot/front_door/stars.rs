//! The Stars rail in the bot (docs/stars.md): the ⭐ button's invoice link, the
//! pre-checkout answer, a successful payment handed to the processor, a refund's time
//! taken back, and /cancel.
//!
//! The pre-checkout query is answered from the catalog version its payload names
//! (`crate::stars::pre_checkout`), with nothing written, so the answer is at once,
//! inside Telegram's 10 seconds. A `successful_payment` goes to the processor queue as
//! what its charge's record would be (`crate::stars::StarsCharge`) with the charge
//! (`crate::stars::StarsPaid`); the bot writes no payment. The processor checks the
//! charge against the bot's Stars ledger, writes the record (one conditional write keyed
//! by the charge id), grants the time once in the same fold as crypto, and asks for the
//! invite; no payout. A payment nothing can be granted for is refunded at once. A
//! `refunded_payment` takes the charge's time out of the fold once (`refund_time`), and
//! /cancel stops the renewals of each 30-day Stars subscription, keeping the time paid.
//!
//! Tests: `functions/bot-webhook/src/tests/stars.rs`.

use tracing::{error, info, warn};

use super::outcome::BotError;
use super::status::ledger_error;
use super::{BotFrontDoor, FrontDoorStore};
use crate::access::{Refunded, refund_time};
use crate::bot::invoice::InvoiceApi;
use crate::bot::menu::{channel_title, duration, stars_pay_menu};
use crate::bot::texts::{BotTexts, fill, format_time};
use crate::bot::timing::bounded;
use crate::bot::update::{
    ButtonPress, PaymentReceived, PaymentRefunded, PreCheckout, PrivateMessage,
};
use crate::directory::ChannelEntry;
use crate::ipn::PaymentId;
use crate::metrics::{self, signal};
use crate::order::{ChannelId, UserId};
use crate::queue::{DelayedQueue, MessageQueue, ProcessorMessage};
use crate::stars::{
    Checkout, CheckoutRefusal, STARS_CURRENCY, SUBSCRIPTION_PERIOD_SECONDS, StarsCharge,
    StarsOrder, StarsPaid, charge_payment_id, is_stars_payment, pre_checkout,
};
use crate::store::StoreError;
use crate::subscription::{GrantSource, SubscriptionKey};
use crate::telegram::{
    BotConversation, MemberRemover, StarsInvoice, StarsPayments, TelegramError, TelegramInviter,
};

/// Said to a buyer whose purchase cannot be checked now (the catalog unreadable).
const CHECK_LATER: &str = "This purchase cannot be checked just now; please try again in a minute.";

impl<S, T, I, Q, V> BotFrontDoor<S, T, I, Q, V>
where
    S: FrontDoorStore,
    T: BotConversation + TelegramInviter + MemberRemover + StarsPayments,
    I: InvoiceApi,
    Q: DelayedQueue,
    V: MessageQueue,
{
    /// A tier's Stars button: a Stars invoice link for this buyer, in the Pay button.
    /// True when it could not be made now (the buyer is told to try again).
    pub(super) async fn offer_stars(
        &self,
        press: &ButtonPress,
        entry: &ChannelEntry,
        tier: u32,
        catalog_version: u32,
        texts: &BotTexts,
    ) -> Result<bool, BotError> {
        let sold = &entry.tiers[tier as usize];
        let (Some(stars), Some(access)) = (sold.stars, sold.access()) else {
            return Ok(true);
        };
        let (Ok(user_id), Ok(channel_id)) =
            (UserId::new(press.user_id), ChannelId::new(entry.channel_id))
        else {
            return Ok(true);
        };
        // A join request from this buyer waits for the payment, as for crypto.
        self.note_purchase(press.user_id, entry.private_channel_id, self.clock.now())
            .await?;
        // Telegram renews only 30-day subscriptions: a 30-day tier is sold as one.
        let recurring = access.seconds() == SUBSCRIPTION_PERIOD_SECONDS;
        let order = StarsOrder {
            user_id,
            channel_id,
            tier_seconds: access.seconds(),
            catalog_version,
            stars,
            recurring,
        };
        let title = channel_title(entry);
        let invoice = StarsInvoice {
            title: title.chars().take(32).collect(),
            description: format!("{} of access to {title}", duration(sold))
                .chars()
                .take(255)
                .collect(),
            payload: order.to_payload(),
            stars,
            recurring,
        };
        let made = self.telegram.create_stars_invoice_link(&invoice);
        match bounded(self.setup.timing.call_timeout, made).await {
            Ok(link) => {
                let menu = stars_pay_menu(entry, sold, stars, recurring, &link, texts);
                self.send(press.chat_id, &menu).await?;
                Ok(false)
            }
            Err(TelegramError::Misconfigured(why)) => {
                error!(
                    channel_id = entry.channel_id,
                    why, "Telegram refused a Stars invoice: check the tier's stars"
                );
                metrics::count(signal::INVOICE_REFUSED);
                Ok(true)
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn on_pre_checkout(&self, query: &PreCheckout) -> Result<(), BotError> {
        let version = StarsOrder::parse(&query.invoice_payload)
            .ok()
            .map(|order| order.catalog_version);
        let checkout = Checkout {
            user_id: query.user_id,
            currency: &query.currency,
            total_amount: query.total_amount,
            invoice_payload: &query.invoice_payload,
        };
        let verdict = match version {
            None => Err(CheckoutRefusal::NotOurs.to_string()),
            Some(version) => match self.setup.catalog.of_version(Some(version)).await {
                Ok(catalog) => pre_checkout(&checkout, &catalog.directory)
                    .map(drop)
                    .map_err(|why| why.to_string()),
                Err(why) => {
                    error!(version, %why, "the catalog a Stars purchase names cannot be read: refused for now");
                    Err(CHECK_LATER.to_owned())
                }
            },
        };
        if let Err(why) = &verdict {
            warn!(
                user_id = query.user_id,
                why, "Stars purchase refused before the charge"
            );
            metrics::count(signal::STARS_CHECKOUT_REFUSED);
        }
        let answer = self
            .telegram
            .answer_pre_checkout(&query.query_id, verdict.as_ref().err().map(String::as_str));
        match bounded(self.setup.timing.call_timeout, answer).await {
            Ok(()) => Ok(()),
            // Too late (Telegram cancelled it) or already answered: nothing to do.
            Err(TelegramError::Misconfigured(why)) => {
                warn!(why, "pre-checkout answer refused by Telegram");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn on_payment_received(&self, paid: &PaymentReceived) -> Result<(), BotError> {
        if paid.currency != STARS_CURRENCY {
            info!(
                currency = paid.currency,
                "a payment in another currency: not ours"
            );
            return Ok(());
        }
        let order = match StarsOrder::parse(&paid.invoice_payload) {
            Ok(order) if order.user_id.get() == paid.user_id => order,
            _ => {
                return self
                    .refund_unsold(paid, "a payload this bot did not write")
                    .await;
            }
        };
        let catalog = self
            .setup
            .catalog
            .of_version(Some(order.catalog_version))
            .await
            .map_err(|why| BotError::Store(crate::store::StoreError::Unavailable(why)))?;
        let Some(entry) = catalog.directory.channel(order.channel_id) else {
            return self
                .refund_unsold(paid, "a channel its catalog does not sell")
                .await;
        };
        let charge = StarsCharge {
            charge_id: paid.charge_id.clone(),
            order,
            stars_paid: u32::try_from(paid.total_amount).unwrap_or(u32::MAX),
            paid_at: self.clock.now(),
        };
        let Some(record) = charge.record(entry.private_channel_id) else {
            return self
                .refund_unsold(paid, "a tier length that is no duration")
                .await;
        };
        let Some(queue) = &self.processor else {
            error!(
                "a Stars payment arrived but the bot has no processor queue (TELEPAY_PROCESSOR_QUEUE_URL)"
            );
            return Err(BotError::Store(crate::store::StoreError::Unavailable(
                "no processor queue for Stars payments".into(),
            )));
        };
        let handed = StarsPaid {
            charge_id: paid.charge_id.clone(),
            invoice_payload: paid.invoice_payload.clone(),
            total_amount: charge.stars_paid,
        };
        let message = ProcessorMessage::stars_paid(&record, handed);
        queue.send(record.payment_id, &message.to_json()).await?;
        info!(
            user_id = paid.user_id,
            charge_id = paid.charge_id,
            payment_id = record.payment_id.get(),
            recurring = paid.recurring,
            "Stars payment handed to the processor, which checks it against the bot's ledger"
        );
        metrics::count(signal::STARS_PAYMENT_RECEIVED);
        Ok(())
    }

    /// A payment nothing can be granted for: its Stars go straight back, and the buyer
    /// is told (nothing paid ends unanswered).
    async fn refund_unsold(&self, paid: &PaymentReceived, why: &str) -> Result<(), BotError> {
        metrics::count(signal::STARS_PAYMENT_UNMATCHED);
        let refund = self
            .telegram
            .refund_star_payment(paid.user_id, &paid.charge_id);
        match bounded(self.setup.timing.call_timeout, refund).await {
            Ok(()) => {
                warn!(
                    user_id = paid.user_id,
                    charge_id = paid.charge_id,
                    why,
                    "a Stars payment nothing can be granted for: refunded at once"
                );
                let texts = &self.setup.catalog.now().texts;
                let stars = paid.total_amount.to_string();
                let said = fill(&texts.stars_refunded_unsold, &[("stars", &stars)]);
                self.say(paid.user_id, &said).await
            }
            Err(TelegramError::Misconfigured(refused)) => {
                error!(
                    user_id = paid.user_id,
                    charge_id = paid.charge_id,
                    why,
                    refused,
                    "a Stars payment nothing can be granted for, and Telegram refused its refund: see to it by hand"
                );
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Stars went back to the buyer (`refunded_payment`): the time that charge bought is
    /// taken out of their subscription, once, and they are told what is left.
    pub(super) async fn on_payment_refunded(
        &self,
        refund: &PaymentRefunded,
    ) -> Result<(), BotError> {
        if refund.currency != STARS_CURRENCY {
            return Ok(());
        }
        let payment_id = charge_payment_id(&refund.charge_id);
        // Where its grant went: the stored record's channel, else the payload's.
        let stored = self.store.get_payment(payment_id).await?;
        let key = match &stored {
            Some(record) => record
                .purchase
                .as_ref()
                .map(|purchase| SubscriptionKey::new(record.user_id, purchase.private_channel_id)),
            None => match StarsOrder::parse(&refund.invoice_payload) {
                Ok(order) => self
                    .setup
                    .catalog
                    .of_version(Some(order.catalog_version))
                    .await
                    .map_err(|why| BotError::Store(StoreError::Unavailable(why)))?
                    .directory
                    .channel(order.channel_id)
                    .map(|entry| SubscriptionKey::new(order.user_id, entry.private_channel_id)),
                Err(_) => None,
            },
        };
        let Some(key) = key else {
            info!(
                charge_id = refund.charge_id,
                "a Stars refund of a payment nothing was granted for"
            );
            return Ok(());
        };
        let now = self.clock.now();
        let source = GrantSource::Payment(payment_id.get());
        let refunded = Box::pin(refund_time(
            &self.store,
            key,
            &source,
            now,
            &self.setup.settings,
        ))
        .await
        .map_err(ledger_error)?;
        let expires_at = match refunded {
            Refunded::Already => {
                info!(charge_id = refund.charge_id, "Stars refund already applied");
                return Ok(());
            }
            Refunded::Now { expires_at } => expires_at,
            // Refunded before the processor recorded it: it will grant nothing.
            Refunded::AheadOfGrant => self
                .store
                .get_subscription(key)
                .await?
                .map_or(now, |subscription| subscription.expires_at),
        };
        warn!(
            user_id = key.user_id.get(),
            charge_id = refund.charge_id,
            %expires_at,
            "Stars refunded: the time they bought is taken back"
        );
        metrics::count(signal::STARS_REFUNDED);
        let catalog = self.setup.catalog.now();
        let channel = catalog
            .directory
            .selling(key.channel_id)
            .map_or_else(|| key.channel_id.to_string(), channel_title);
        let said = fill(
            &catalog.texts.stars_refunded,
            &[
                ("stars", &refund.total_amount.to_string()),
                ("channel", &channel),
                ("expires_at", &format_time(expires_at.max(now))),
            ],
        );
        self.say(key.user_id.get(), &said).await
    }

    /// /cancel: each Stars subscription of the buyer that Telegram renews stops renewing
    /// (`editUserStarSubscription`); the time paid runs to its end.
    pub(super) async fn on_cancel(&self, message: &PrivateMessage) -> Result<(), BotError> {
        let catalog = self.setup.catalog.now();
        let texts = &catalog.texts;
        let Ok(user) = UserId::new(message.user_id) else {
            return self
                .say(message.chat_id, &texts.stars_nothing_to_cancel)
                .await;
        };
        let now = self.clock.now();
        let mut cancelled = Vec::new();
        for (entry, subscription) in self.subscriptions_of(user, &catalog.directory).await? {
            let Some(charge_id) = self.renewing_charge(&subscription).await? else {
                continue;
            };
            let cancel = self
                .telegram
                .cancel_star_subscription(message.user_id, &charge_id);
            match bounded(self.setup.timing.call_timeout, cancel).await {
                Ok(()) => {}
                // Not a subscription Telegram renews (any more): nothing to stop.
                Err(TelegramError::Misconfigured(why)) => {
                    info!(why, "no Stars subscription to cancel there");
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            info!(
                user_id = message.user_id,
                charge_id, "Stars subscription cancelled"
            );
            metrics::count(signal::STARS_SUBSCRIPTION_CANCELLED);
            cancelled.push(fill(
                &texts.stars_cancelled,
                &[
                    ("channel", &channel_title(entry)),
                    ("expires_at", &format_time(subscription.expires_at.max(now))),
                ],
            ));
        }
        if cancelled.is_empty() {
            return self
                .say(message.chat_id, &texts.stars_nothing_to_cancel)
                .await;
        }
        self.say(message.chat_id, &cancelled.join("\n")).await
    }

    /// The charge of the subscription's newest Stars grant, if it is one Telegram renews
    /// (a 30-day Stars charge, not refunded: the bot sells those as subscriptions).
    async fn renewing_charge(
        &self,
        subscription: &crate::subscription::Subscription,
    ) -> Result<Option<String>, BotError> {
        let newest = subscription
            .grants
            .iter()
            .rev()
            .find_map(|grant| match grant.source {
                GrantSource::Payment(id) if grant.refunded_at.is_none() => {
                    PaymentId::new(id).ok().filter(|id| is_stars_payment(*id))
                }
                _ => None,
            });
        let Some(payment_id) = newest else {
            return Ok(None);
        };
        let record = self.store.get_payment(payment_id).await?;
        Ok(record
            .and_then(|record| record.purchase)
            .filter(|purchase| purchase.duration_seconds == Some(SUBSCRIPTION_PERIOD_SECONDS))
            .and_then(|purchase| purchase.star_charge_id))
    }
}
