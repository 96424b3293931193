//! NOWPayments invoices, as the bot asks for them: the port ([`InvoiceApi`], the HTTP
//! adapter lives in `telepay-shared`) and the request built from a directory tier. An
//! invoice is claimed once per (buyer, channel, tier, 10-minute window) before the API
//! is called, so a retried update or a second tap shows the same invoice.
//!
//! Tests: `functions/bot-webhook/src/tests/purchase.rs` (against the fake NOWPayments).

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::directory::{ChannelEntry, Tier};
use crate::order::{ChannelId, OrderRef, UserId};
use crate::store::{OnceKey, PartsTally};

/// How long a tap keeps showing the same invoice.
pub const INVOICE_WINDOW_SECONDS: i64 = 600;

/// `POST /v1/invoice`'s body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvoiceRequest {
    pub price_amount: f64,
    pub price_currency: String,
    pub order_id: String,
    pub order_description: String,
    pub ipn_callback_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_url: Option<String>,
}

/// What the bot keeps of a created invoice (the record's result, as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    pub id: String,
    pub invoice_url: String,
    /// When the bot made it (set by the bot, not the API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvoiceError {
    /// Network, timeout, 5xx, 429: try again later.
    #[error("NOWPayments did not create the invoice now: {0}")]
    Unavailable(String),
    /// 4xx: the API key, the currency or the amount is refused; an operator must look.
    #[error("NOWPayments refused the invoice: {0}")]
    Refused(String),
}

/// The NOWPayments invoice API.
pub trait InvoiceApi: Send + Sync {
    fn create_invoice(
        &self,
        request: &InvoiceRequest,
    ) -> impl Future<Output = Result<Invoice, InvoiceError>> + Send;
}

/// Where NOWPayments sends the IPNs and the buyer after paying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceUrls {
    /// Our `POST /np-webhook` URL.
    pub ipn_callback_url: String,
    /// Where the payment page sends the buyer when done (e.g. `https://t.me/YourBot`).
    pub success_url: Option<String>,
}

impl InvoiceRequest {
    /// `catalog_version`: the catalog the price comes from, named in the order so the
    /// payment is matched at this price (0: a catalog from the environment, not named).
    pub fn for_tier(
        user_id: UserId,
        entry: &ChannelEntry,
        tier: &Tier,
        catalog_version: u32,
        urls: &InvoiceUrls,
    ) -> Option<Self> {
        let channel_id = ChannelId::new(entry.channel_id).ok()?;
        Some(Self {
            price_amount: tier.price_amount,
            price_currency: tier.price_currency.clone(),
            order_id: OrderRef {
                user_id,
                channel_id,
                tier_seconds: Some(tier.access()?.seconds()),
                topup_of: None,
                catalog_version: Some(catalog_version).filter(|v| *v > 0),
            }
            .to_order_id(),
            order_description: format!(
                "{}, {}",
                super::menu::channel_title(entry),
                super::menu::duration(tier)
            ),
            ipn_callback_url: urls.ipn_callback_url.clone(),
            success_url: urls.success_url.clone(),
        })
    }
}

impl InvoiceRequest {
    /// The invoice for the rest of `purchase`: what is missing, in the price's currency,
    /// its order naming the purchase so its payment is counted in it ([`crate::topup`]).
    pub fn for_topup(
        user_id: UserId,
        entry: &ChannelEntry,
        tier_seconds: u64,
        purchase: &PartsTally,
        urls: &InvoiceUrls,
    ) -> Option<Self> {
        let channel_id = ChannelId::new(entry.channel_id).ok()?;
        Some(Self {
            price_amount: crate::topup::missing_to_ask(purchase),
            price_currency: purchase.price_currency.clone(),
            order_id: OrderRef {
                user_id,
                channel_id,
                tier_seconds: Some(tier_seconds),
                topup_of: Some(purchase.purchase_id),
                // The purchase holds its price: what is missing is counted against it.
                catalog_version: None,
            }
            .to_order_id(),
            order_description: format!(
                "{}, the rest of payment {}",
                super::menu::channel_title(entry),
                purchase.purchase_id
            ),
            ipn_callback_url: urls.ipn_callback_url.clone(),
            success_url: urls.success_url.clone(),
        })
    }
}

/// The record an invoice is claimed on: this window's, and the one before it (a tap
/// just after a window's turn still shows the invoice made just before it).
pub fn invoice_keys(
    user_id: i64,
    channel_id: i64,
    catalog_version: u32,
    tier: u32,
    now: DateTime<Utc>,
) -> [OnceKey; 2] {
    let window = now.timestamp().div_euclid(INVOICE_WINDOW_SECONDS);
    [window, window - 1].map(|window| OnceKey::Invoice {
        user_id,
        channel_id,
        catalog_version,
        tier,
        window,
    })
}

/// The record a top-up invoice is claimed on: this window's and the one before, like
/// [`invoice_keys`].
pub fn topup_keys(purchase_id: i64, now: DateTime<Utc>) -> [OnceKey; 2] {
    let window = now.timestamp().div_euclid(INVOICE_WINDOW_SECONDS);
    [window, window - 1].map(|window| OnceKey::TopUpInvoice {
        purchase_id,
        window,
    })
}

impl Invoice {
    /// The invoice a once-record's result holds, if any (none for a record this version
    /// cannot read).
    pub fn stored(result: Option<String>) -> Option<Self> {
        serde_json::from_str(&result?).ok()
    }

    /// Whether a tap at `now` still shows this invoice.
    pub fn fresh_at(&self, now: DateTime<Utc>) -> bool {
        self.created_at
            .is_some_and(|at| now - at < chrono::TimeDelta::seconds(INVOICE_WINDOW_SECONDS))
    }
}
