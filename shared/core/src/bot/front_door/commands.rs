//! The buyer's commands and buttons: /start, /help, a channel's tiers, a tier's Pay
//! button (crypto here, Telegram Stars in `stars.rs`) (one small function a command or callback, as teloxide's examples do).
//!
//! Tests: `functions/bot-webhook/src/tests/commands.rs`.

use tracing::{error, warn};

use super::outcome::BotError;
use super::{BotFrontDoor, FrontDoorStore};
use crate::bot::invoice::{InvoiceApi, InvoiceError};
use crate::bot::menu::{Choice, channel_named, pay_menu, start_menu, tier_menu};
use crate::bot::timing::bounded;
use crate::bot::update::{ButtonPress, Command, PrivateMessage};
use crate::metrics::{self, signal};
use crate::queue::{DelayedQueue, MessageQueue};
use crate::telegram::{
    BotConversation, MemberRemover, StarsPayments, TelegramError, TelegramInviter,
};

impl<S, T, I, Q, V> BotFrontDoor<S, T, I, Q, V>
where
    S: FrontDoorStore,
    T: BotConversation + TelegramInviter + MemberRemover + StarsPayments,
    I: InvoiceApi,
    Q: DelayedQueue,
    V: MessageQueue,
{
    pub(super) async fn on_message(&self, message: &PrivateMessage) -> Result<(), BotError> {
        let catalog = self.setup.catalog.now();
        let texts = &catalog.texts;
        match Command::parse(&message.text) {
            Command::Start(parameter) => {
                let named = parameter
                    .as_deref()
                    .and_then(|p| channel_named(&catalog.directory, p));
                let menu = match named {
                    Some(entry) => tier_menu(entry, &texts.choose_tier, texts),
                    None => start_menu(&catalog.directory, texts),
                };
                self.send(message.chat_id, &menu).await
            }
            Command::Help => self.say(message.chat_id, &texts.help).await,
            Command::Status => self.on_status(message).await,
            Command::TopUp => self.on_topup(message).await,
            Command::Cancel => self.on_cancel(message).await,
            Command::Other => self.say(message.chat_id, &texts.unknown).await,
        }
    }

    pub(super) async fn on_button(&self, press: &ButtonPress) -> Result<(), BotError> {
        let catalog = self.setup.catalog.now();
        let texts = &catalog.texts;
        let directory = &catalog.directory;
        let chosen = Choice::parse(&press.data).and_then(|choice| match choice {
            Choice::Channel(id) => channel_named(directory, &id.to_string()).map(|e| (e, None)),
            Choice::Tier { channel_id, tier } | Choice::StarsTier { channel_id, tier } => {
                let entry = channel_named(directory, &channel_id.to_string())?;
                let sold = entry.tiers.get(tier as usize)?;
                let in_stars = matches!(choice, Choice::StarsTier { .. });
                // A Stars button of a tier no longer sold for Stars is stale.
                (!in_stars || sold.stars.is_some()).then_some((entry, Some((tier, in_stars))))
            }
        });
        let notice = match chosen {
            None => Some(texts.stale_button.as_str()),
            Some((entry, None)) => {
                self.send(press.chat_id, &tier_menu(entry, &texts.choose_tier, texts))
                    .await?;
                None
            }
            Some((entry, Some((tier, true)))) => self
                .offer_stars(press, entry, tier, catalog.version, texts)
                .await?
                .then_some(texts.invoice_later.as_str()),
            Some((entry, Some((tier, false)))) => match self
                .invoice(press.user_id, entry, tier, catalog.version)
                .await
            {
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
                Err(BotError::InvoicesCapped) => Some(texts.invoice_later.as_str()),
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
}
