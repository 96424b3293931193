//! A tier to an invoice: made once a buyer, channel and tier a 10-minute window
//! (claimed before NOWPayments is called), and the purchase noted so a join request from
//! its buyer waits for the grant.
//!
//! Tests: `functions/bot-webhook/src/tests/purchase.rs`.

use chrono::{DateTime, TimeDelta, Utc};
use tracing::{info, warn};

use super::outcome::BotError;
use super::{BotFrontDoor, FrontDoorStore};
use crate::bot::budget::Budget;
use crate::bot::invoice::{Invoice, InvoiceApi, InvoiceError, InvoiceRequest, invoice_keys};
use crate::bot::timing::KEEP_RECORDS;
use crate::directory::ChannelEntry;
use crate::metrics::{self, signal};
use crate::order::UserId;
use crate::queue::{DelayedQueue, MessageQueue};
use crate::store::{Fenced, OnceFound, OnceKey};
use crate::telegram::{BotConversation, MemberRemover, StarsPayments, TelegramInviter};

impl<S, T, I, Q, V> BotFrontDoor<S, T, I, Q, V>
where
    S: FrontDoorStore,
    T: BotConversation + TelegramInviter + MemberRemover + StarsPayments,
    I: InvoiceApi,
    Q: DelayedQueue,
    V: MessageQueue,
{
    /// The invoice for this buyer, channel and tier in this 10-minute window: made once
    /// (claimed before NOWPayments is called), shown again after.
    pub(super) async fn invoice(
        &self,
        user_id: i64,
        entry: &ChannelEntry,
        tier: u32,
        catalog_version: u32,
    ) -> Result<Invoice, BotError> {
        let now = self.clock.now();
        // First, and on every tap: a buyer shown a Pay button always has their purchase
        // noted, even when an earlier attempt made the invoice and then failed.
        // By the private channel: another entry selling it admits the same buyer.
        self.note_purchase(user_id, entry.private_channel_id, now)
            .await?;
        let keys = invoice_keys(user_id, entry.channel_id, catalog_version, tier, now);
        let invoice = self
            .invoice_once(keys, || {
                self.create_invoice(user_id, entry, tier, catalog_version, now)
            })
            .await?;
        info!(user_id, channel_id = entry.channel_id, invoice_id = %invoice.id, "invoice ready");
        Ok(invoice)
    }

    /// The invoice claimed on `keys` (this window's, the one before): made by `make` once,
    /// shown again after. One made less than 10 minutes ago in the window before is shown
    /// too, and kept as this window's; one the window before is still making answers
    /// "busy" (a retry shows it), never a second.
    pub(super) async fn invoice_once<F>(
        &self,
        [key, previous]: [OnceKey; 2],
        make: impl FnOnce() -> F,
    ) -> Result<Invoice, BotError>
    where
        F: std::future::Future<Output = Result<Invoice, BotError>>,
    {
        let now = self.clock.now();
        let claim = self.once_claim(now, KEEP_RECORDS);
        let token = &claim.token;
        match self.store.claim_once(key, &claim).await? {
            OnceFound::Done { result } => {
                return Invoice::stored(result).ok_or(BotError::InvoiceBusy);
            }
            OnceFound::Leased { .. } => return Err(BotError::InvoiceBusy),
            OnceFound::Claimed => {}
        }
        let previous = self.store.read_once(previous).await?;
        // A tap just before the window turned is still making its invoice: this one is
        // told to come back (Telegram redelivers it), never a second invoice.
        if previous
            .as_ref()
            .is_some_and(|record| !record.done && record.lease_until > now)
        {
            let _ = self.store.release_once(key, token).await;
            return Err(BotError::InvoiceBusy);
        }
        let recent = previous
            .and_then(|record| Invoice::stored(record.result))
            .filter(|invoice| invoice.fresh_at(now));
        let invoice = match recent {
            Some(invoice) => invoice,
            None => match make().await {
                Ok(invoice) => invoice,
                Err(e) => {
                    let _ = self.store.release_once(key, token).await;
                    return Err(e);
                }
            },
        };
        let json = serde_json::to_string(&invoice).expect("an invoice serializes");
        Ok(
            match self
                .store
                .finish_once(key, token, Some(&json), self.clock.now())
                .await?
            {
                Fenced::Done => invoice,
                // Our lease lapsed and another worker made one: show theirs, ours is
                // never seen.
                Fenced::LeaseLost => self
                    .store
                    .read_once(key)
                    .await?
                    .and_then(|record| Invoice::stored(record.result))
                    .unwrap_or(invoice),
            },
        )
    }

    pub(super) async fn create_invoice(
        &self,
        user_id: i64,
        entry: &ChannelEntry,
        tier: u32,
        catalog_version: u32,
        now: DateTime<Utc>,
    ) -> Result<Invoice, BotError> {
        let request = UserId::new(user_id)
            .ok()
            .and_then(|user| {
                InvoiceRequest::for_tier(
                    user,
                    entry,
                    &entry.tiers[tier as usize],
                    catalog_version,
                    &self.setup.urls,
                )
            })
            .ok_or_else(|| InvoiceError::Refused("the order id cannot be formed".into()))?;
        self.make_invoice(&request, now).await
    }

    /// One new NOWPayments invoice, within everyone's invoice budget for the minute
    /// (`crate::bot::budget`): past it, none is asked for.
    pub(super) async fn make_invoice(
        &self,
        request: &InvoiceRequest,
        now: DateTime<Utc>,
    ) -> Result<Invoice, BotError> {
        let budgets = self.setup.budgets;
        if budgets.spend_invoice(&self.store, now).await? == Budget::Spent {
            warn!(
                limit = budgets.invoices_per_minute,
                "this minute's new invoices are all made: the buyer is asked to tap again"
            );
            metrics::count(signal::INVOICES_CAPPED);
            return Err(BotError::InvoicesCapped);
        }
        let mut invoice = self.invoices.create_invoice(request).await?;
        invoice.created_at = Some(now);
        Ok(invoice)
    }

    /// Notes that this buyer started a purchase of this private channel (this hour), so
    /// that a join request from them waits for the payment.
    pub(super) async fn note_purchase(
        &self,
        user_id: i64,
        channel_id: i64,
        now: DateTime<Utc>,
    ) -> Result<(), BotError> {
        let key = crate::bot::admission::purchase_keys(user_id, channel_id, now)[0];
        let claim = self.once_claim(now, TimeDelta::hours(2));
        if self.store.claim_once(key, &claim).await? == OnceFound::Claimed {
            // A lapsed lease means another worker finishes it: either way it is noted.
            let _ = self.store.finish_once(key, &claim.token, None, now).await?;
        }
        Ok(())
    }
}
