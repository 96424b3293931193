//! The Stars rail in the bot (docs/stars.md): the pre-checkout answer, and a successful
//! payment recorded and handed to the processor.
//!
//! The pre-checkout query is answered from the catalog version its payload names
//! (`crate::stars::pre_checkout`), with nothing written, so the answer is at once,
//! inside Telegram's 10 seconds. A `successful_payment` goes to the processor queue as
//! what its charge's record would be (`crate::stars::StarsCharge`) with the charge
//! (`crate::stars::StarsPaid`); the bot writes no payment. The processor checks the
//! charge against the bot's Stars ledger, writes the record (one conditional write keyed
//! by the charge id), grants the time once in the same fold as crypto, and asks for the
//! invite; no payout.
//!
//! Tests: `functions/bot-webhook/src/tests/stars.rs`.

use tracing::{error, info, warn};

use super::outcome::BotError;
use super::{BotFrontDoor, FrontDoorStore};
use crate::bot::invoice::InvoiceApi;
use crate::bot::menu::{channel_title, duration, stars_pay_menu};
use crate::bot::texts::BotTexts;
use crate::bot::timing::bounded;
use crate::bot::update::{ButtonPress, PaymentReceived, PreCheckout};
use crate::directory::ChannelEntry;
use crate::metrics::{self, signal};
use crate::order::{ChannelId, UserId};
use crate::queue::{DelayedQueue, MessageQueue, ProcessorMessage};
use crate::stars::{
    Checkout, CheckoutRefusal, STARS_CURRENCY, SUBSCRIPTION_PERIOD_SECONDS, StarsCharge,
    StarsOrder, StarsPaid, pre_checkout,
};
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
                error!(
                    user_id = paid.user_id,
                    charge_id = paid.charge_id,
                    "a Stars payment this bot did not price: refund it by hand (telepay) if it is owed"
                );
                metrics::count(signal::STARS_PAYMENT_UNMATCHED);
                return Ok(());
            }
        };
        let catalog = self
            .setup
            .catalog
            .of_version(Some(order.catalog_version))
            .await
            .map_err(|why| BotError::Store(crate::store::StoreError::Unavailable(why)))?;
        let Some(entry) = catalog.directory.channel(order.channel_id) else {
            error!(
                charge_id = paid.charge_id,
                "a Stars payment for a channel its catalog does not sell"
            );
            metrics::count(signal::STARS_PAYMENT_UNMATCHED);
            return Ok(());
        };
        let charge = StarsCharge {
            charge_id: paid.charge_id.clone(),
            order,
            stars_paid: u32::try_from(paid.total_amount).unwrap_or(u32::MAX),
            paid_at: self.clock.now(),
        };
        let Some(record) = charge.record(entry.private_channel_id) else {
            metrics::count(signal::STARS_PAYMENT_UNMATCHED);
            return Ok(());
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
}
