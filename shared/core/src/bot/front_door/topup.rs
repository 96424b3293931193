//! /topup: the invoice for the rest of the buyer's newest purchase that arrived short
//! ([`crate::topup`]), made once per purchase in a 10-minute window (claimed before
//! NOWPayments is called), and the purchase noted so a join request from its buyer
//! waits for the grant.
//!
//! Tests: `functions/bot-webhook/src/tests/topup.rs`.

use tracing::{error, info};

use super::outcome::BotError;
use super::{BotFrontDoor, FrontDoorStore};
use crate::bot::invoice::{InvoiceApi, InvoiceError, InvoiceRequest, topup_keys};
use crate::bot::menu::{Menu, channel_title};
use crate::bot::texts::fill;
use crate::bot::update::PrivateMessage;
use crate::ipn::Ipn;
use crate::metrics::{self, signal};
use crate::order::{OrderRef, UserId};
use crate::queue::{DelayedQueue, MessageQueue};
use crate::telegram::{
    BotConversation, Button, ButtonAction, MemberRemover, StarsPayments, TelegramInviter,
};

impl<S, T, I, Q, V> BotFrontDoor<S, T, I, Q, V>
where
    S: FrontDoorStore,
    T: BotConversation + TelegramInviter + MemberRemover + StarsPayments,
    I: InvoiceApi,
    Q: DelayedQueue,
    V: MessageQueue,
{
    pub(super) async fn on_topup(&self, message: &PrivateMessage) -> Result<(), BotError> {
        let catalog = self.setup.catalog.now();
        let texts = &catalog.texts;
        let open = self.store.open_purchases_of(message.user_id, 1).await?;
        let Some(purchase) = open.into_iter().next() else {
            return self.say(message.chat_id, &texts.topup_none).await;
        };
        // The channel and tier from the first payment's order, as held.
        let order = self
            .store
            .get_review(purchase.purchase_id)
            .await?
            .and_then(|review| Ipn::parse(review.ipn.as_bytes()).ok())
            .and_then(|ipn| OrderRef::parse(ipn.order_id.as_deref()).ok());
        let found = order.and_then(|order| {
            let entry = catalog.directory.channel(order.channel_id)?;
            Some((entry, order.tier_seconds?))
        });
        let request = found.and_then(|(entry, tier_seconds)| {
            let user = UserId::new(message.user_id).ok()?;
            let request =
                InvoiceRequest::for_topup(user, entry, tier_seconds, &purchase, &self.setup.urls)?;
            Some((entry, request))
        });
        let Some((entry, request)) = request else {
            // A channel no longer sold: the hold is settled by a person, as told.
            return self.say(message.chat_id, &texts.topup_none).await;
        };
        let now = self.clock.now();
        self.note_purchase(message.user_id, entry.private_channel_id, now)
            .await?;
        let keys = topup_keys(purchase.purchase_id.get(), now);
        let made = self
            .invoice_once(keys, || self.make_invoice(&request, now))
            .await;
        let invoice = match made {
            Ok(invoice) => invoice,
            Err(BotError::Invoice(InvoiceError::Refused(why))) => {
                error!(
                    purchase_id = purchase.purchase_id.get(),
                    why, "NOWPayments refused a top-up invoice: check the API key and the currency"
                );
                metrics::count(signal::INVOICE_REFUSED);
                return self.say(message.chat_id, &texts.invoice_later).await;
            }
            Err(BotError::InvoicesCapped) => {
                return self.say(message.chat_id, &texts.invoice_later).await;
            }
            Err(e) => return Err(e),
        };
        info!(
            user_id = message.user_id,
            purchase_id = purchase.purchase_id.get(),
            invoice_id = %invoice.id,
            "top-up invoice ready"
        );
        let currency = purchase.price_currency.to_uppercase();
        let menu = Menu {
            text: fill(
                &texts.topup_pay,
                &[
                    ("channel", &channel_title(entry)),
                    ("missing", &format!("{} {currency}", request.price_amount)),
                    ("paid", &format!("{:.2} {currency}", purchase.paid_total)),
                    ("price", &format!("{} {currency}", purchase.price_amount)),
                ],
            ),
            buttons: vec![vec![Button {
                text: texts.pay_button.clone(),
                action: ButtonAction::Url(invoice.invoice_url.clone()),
            }]],
        };
        self.send(message.chat_id, &menu).await
    }
}
