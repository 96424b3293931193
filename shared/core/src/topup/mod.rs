//! Top-ups: the rest of a short payment, paid by the buyer, adding up to the tier once.
//!
//! A payment that arrives short in a channel whose `partial` is `topup` (the default) is
//! held as `underpaid`, and a purchase is opened on its hold ([`PurchasePartsStore`]):
//! the price asked, what arrived. The buyer is told what arrived and what is missing and
//! sends `/topup`: the bot makes a NOWPayments invoice for the missing amount whose
//! `order_id` names the purchase (`PGP-{user}|{channel}|{tier}|{purchase_id}`). Its IPN
//! adds a part (once, however often it comes); the part that brings the parts to the
//! price settles the purchase (one conditional write deciding the first payment's hold
//! `topped_up`), and only that part's record grants the tier, with the whole purchase's
//! price and payout. A top-up that still falls short is held `underpaid` in turn (the
//! buyer told the new remainder); it is decided `topped_up` when the purchase completes.
//!
//! Why an invoice and not NOWPayments' `purchase_id`: `purchase_id` joins payments made
//! with `POST /v1/payment` (the merchant picks the coin; no hosted page), while the bot
//! sells through hosted invoices (`POST /v1/invoice`, the buyer picks the coin), which
//! take no `purchase_id`. The order id carries the link instead, and the parts are added
//! up here, where the once-guarantee lives.
//!
//! Tests: below (memory), `functions/np-webhook/src/tests.rs` (the handler),
//! `functions/bot-webhook/src/tests/topup.rs` (/topup against the fake NOWPayments), the
//! conformance suite (`parts_*` on every backend) and the chaos run's top-up leg.

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::directory::{ChannelDirectory, ChannelEntry, PartialPolicy, Tier};
use crate::ipn::{Ipn, PaymentStatus};
use crate::metrics::{self, signal};
use crate::order::OrderRef;
use crate::payment::{HoldReason, ProcessedPayment, Purchase, ReviewDecision, payload_hash};
use crate::store::{
    OpenPurchase, PartAdded, PartsSettled, PartsTally, PurchasePart, PurchasePartsStore, StoreError,
};
use crate::subscription::AccessDuration;

mod stale;
#[cfg(test)]
mod tests;

pub use stale::{PurchaseWaitNotice, StaleTeller};

/// Whether a short payment of this IPN's order may be topped up: its order names a tier
/// of a channel whose `partial` is `topup` (a top-up's own short part included).
pub fn offers_topup(ipn: &Ipn, directory: &ChannelDirectory) -> bool {
    OrderRef::parse(ipn.order_id.as_deref())
        .ok()
        .filter(|order| order.tier_seconds.is_some())
        .and_then(|order| directory.channel(order.channel_id))
        .is_some_and(|entry| entry.partial == PartialPolicy::TopUp)
}

/// The purchase a short payment's hold opens, if its channel offers top-ups and what was
/// asked and what arrived are known (else it is a plain hold, settled by a person).
pub fn opening(
    ipn: &Ipn,
    directory: &ChannelDirectory,
    now: DateTime<Utc>,
) -> Option<OpenPurchase> {
    let order = OrderRef::parse(ipn.order_id.as_deref()).ok()?;
    if order.topup_of.is_some() || order.tier_seconds.is_none() {
        return None;
    }
    let entry = directory.channel(order.channel_id)?;
    if entry.partial != PartialPolicy::TopUp {
        return None;
    }
    let price_amount = ipn.price_amount.filter(|price| *price > 0.0)?;
    let first_paid = ipn.paid_in_price_currency()?;
    Some(OpenPurchase {
        purchase_id: ipn.payment_id,
        user_id: order.user_id.get(),
        channel_id: order.channel_id.get(),
        price_amount,
        price_currency: ipn.price_currency.as_deref()?.to_lowercase(),
        first_paid: first_paid.min(price_amount),
        first_outcome: ipn.outcome_amount,
        opened_at: now,
    })
}

/// What a top-up's IPN comes to.
#[derive(Debug, Clone, PartialEq)]
pub enum PartVerdict {
    /// This part completed the purchase: its record grants the tier.
    Complete(Box<ProcessedPayment>),
    /// Counted towards a purchase another part completed: nothing more to grant.
    Counted,
    /// Counted, and still short: held `underpaid` so the buyer hears the new remainder.
    Short,
    /// Not part of an open purchase of this buyer: a person decides.
    Hold(HoldReason),
}

/// The rest of a purchase as the top-up invoice asks it, rounded up to the cent.
pub fn missing_to_ask(tally: &PartsTally) -> f64 {
    (tally.missing() * 100.0).ceil() / 100.0
}

/// Decides a top-up's IPN (`order.topup_of` is `Some`): adds it to its purchase once,
/// and settles the purchase when the parts reach the price.
pub async fn decide_part<S: PurchasePartsStore>(
    store: &S,
    directory: &ChannelDirectory,
    ipn: &Ipn,
    order: &OrderRef,
    now: DateTime<Utc>,
) -> Result<PartVerdict, StoreError> {
    let payment_id = ipn.payment_id;
    let Some(purchase_id) = order.topup_of else {
        return Ok(PartVerdict::Hold(HoldReason::UnparseableOrderId));
    };
    let Some(entry) = directory.channel(order.channel_id) else {
        return Ok(PartVerdict::Hold(HoldReason::UnknownChannel));
    };
    let tolerance = directory.tolerance_percent();
    // What this part brought: what arrived, or the price asked when NOWPayments does not
    // say (many finished IPNs carry 0) and the payment finished.
    let paid = match ipn.paid_in_price_currency() {
        Some(paid) => paid,
        None if ipn.payment_status == PaymentStatus::Finished => {
            ipn.price_amount.unwrap_or_default()
        }
        None => return Ok(PartVerdict::Hold(HoldReason::Underpaid)),
    };
    // A read to check what the part is added to (the add decides; this only refuses).
    let Some(before) = store.purchase_of(purchase_id).await? else {
        warn!(
            payment_id = payment_id.get(),
            purchase_id = purchase_id.get(),
            "top-up for no purchase"
        );
        return Ok(PartVerdict::Hold(HoldReason::PriceMismatch));
    };
    let currency = ipn
        .price_currency
        .as_deref()
        .unwrap_or_default()
        .to_lowercase();
    if before.user_id != order.user_id.get() || before.price_currency != currency || paid <= 0.0 {
        return Ok(PartVerdict::Hold(HoldReason::PriceMismatch));
    }
    let part = PurchasePart {
        payment_id,
        paid,
        outcome: ipn.outcome_amount,
    };
    let tally = match store.add_part(purchase_id, &part).await? {
        PartAdded::Added(tally) | PartAdded::Already(tally) => tally,
        PartAdded::Settled(tally) => {
            return Ok(settled_verdict(ipn, order, entry, &tally, directory, now));
        }
        PartAdded::NotFound => return Ok(PartVerdict::Hold(HoldReason::PriceMismatch)),
    };
    if !tally.is_paid_within(tolerance) {
        info!(
            payment_id = payment_id.get(),
            purchase_id = purchase_id.get(),
            missing = tally.missing(),
            "top-up counted; the purchase is still short"
        );
        return Ok(PartVerdict::Short);
    }
    match store.settle_purchase(purchase_id, payment_id, now).await? {
        PartsSettled::Now => {
            info!(
                payment_id = payment_id.get(),
                purchase_id = purchase_id.get(),
                "purchase completed by its top-up"
            );
            metrics::count(signal::PURCHASE_TOPPED_UP);
        }
        PartsSettled::Already { .. } => {
            // Read again: the settle's refusal says who, the tally says with what.
            let Some(tally) = store.purchase_of(purchase_id).await? else {
                return Ok(PartVerdict::Hold(HoldReason::PriceMismatch));
            };
            return Ok(settled_verdict(ipn, order, entry, &tally, directory, now));
        }
        PartsSettled::NotFound => return Ok(PartVerdict::Hold(HoldReason::PriceMismatch)),
    }
    Ok(completed_record(ipn, order, entry, &tally, directory, now))
}

/// Decides `topped_up` the holds of a completed purchase's short top-ups (each was held
/// so its buyer heard the remainder), the completing part's own among them: none is left
/// for a person.
pub async fn settle_part_holds<S: PurchasePartsStore>(
    store: &S,
    order: &OrderRef,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Some(purchase_id) = order.topup_of else {
        return Ok(());
    };
    let Some(tally) = store.purchase_of(purchase_id).await? else {
        return Ok(());
    };
    // The completing part's own hold too: an earlier delivery of it may have found the
    // purchase still short and held it before another part's add made it complete.
    for part in tally.parts {
        if part != purchase_id {
            store.settle_part_hold(part, now).await?;
        }
    }
    Ok(())
}

/// Settles a short top-up's own hold if its purchase completed meanwhile (another part
/// settled it between this part's add and its hold).
pub async fn settle_if_completed<S: PurchasePartsStore>(
    store: &S,
    ipn: &Ipn,
    order: &OrderRef,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Some(purchase_id) = order.topup_of else {
        return Ok(());
    };
    let completed = store
        .purchase_of(purchase_id)
        .await?
        .is_some_and(|p| p.decision == Some(ReviewDecision::ToppedUp));
    if completed {
        store.settle_part_hold(ipn.payment_id, now).await?;
    }
    Ok(())
}

/// A part's verdict on a purchase decided before its add or settle.
fn settled_verdict(
    ipn: &Ipn,
    order: &OrderRef,
    entry: &ChannelEntry,
    tally: &PartsTally,
    directory: &ChannelDirectory,
    now: DateTime<Utc>,
) -> PartVerdict {
    let payment_id = ipn.payment_id;
    match (tally.decision, tally.settled_by) {
        // This part completed it (a repeated IPN, or a crash after the settle): its
        // record again; the record's own conditional write keeps the grant once.
        (Some(ReviewDecision::ToppedUp), Some(by)) if by == payment_id => {
            completed_record(ipn, order, entry, tally, directory, now)
        }
        // Counted before another part completed it.
        (Some(ReviewDecision::ToppedUp), _) if tally.parts.contains(&payment_id) => {
            PartVerdict::Counted
        }
        // Money for a purchase an operator settled, or one completed without it: a
        // person decides what it is.
        _ => PartVerdict::Hold(HoldReason::PriceMismatch),
    }
}

/// The record the completing part grants: the order's tier, the whole purchase's price
/// and payout.
fn completed_record(
    ipn: &Ipn,
    order: &OrderRef,
    entry: &ChannelEntry,
    tally: &PartsTally,
    directory: &ChannelDirectory,
    now: DateTime<Utc>,
) -> PartVerdict {
    let access = order.tier_seconds.and_then(|seconds| {
        directory
            .tier_of_length(order.channel_id, seconds)
            .and_then(Tier::access)
            // A tier removed since the purchase began: the length the buyer paid for.
            .or_else(|| AccessDuration::from_seconds(seconds).ok())
    });
    let Some(access) = access else {
        return PartVerdict::Hold(HoldReason::UnparseableOrderId);
    };
    let mut purchase = Purchase::from_ipn(ipn, entry.private_channel_id, access);
    purchase.price_amount = tally.price_amount;
    purchase.price_currency = tally.price_currency.clone();
    if tally.outcome_total > 0.0 {
        purchase.outcome_amount = Some(tally.outcome_total);
    }
    PartVerdict::Complete(Box::new(ProcessedPayment::accepted(
        ipn.payment_id,
        order.user_id,
        order.channel_id,
        payload_hash(ipn),
        purchase,
        now,
    )))
}
