//! A successful Stars payment as a payment record: the same record an IPN makes, under
//! the charge's own payment id (`order::charge_payment_id`), its price in Stars (`xtr`),
//! no outcome and no payout, and the charge id kept for a refund. Recording it is the
//! one conditional write that makes an IPN count once, so every redelivery of a charge,
//! from Telegram or after a crash, meets the record already there.
//!
//! Tests: below; on every backend, `tests/tests/stars_conformance.rs`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ledger::ChargeInLedger;
use super::order::{StarsOrder, StarsOrderError, charge_payment_id};
use crate::ipn::PaymentId;
use crate::order::UserId;
use crate::payment::{ProcessedPayment, Purchase};
use crate::subscription::AccessDuration;

/// The currency a Stars price is recorded in.
pub const STARS_PRICE_CURRENCY: &str = "xtr";

/// A successful payment in Stars, as Telegram reports it (`successful_payment`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StarsCharge {
    /// `telegram_payment_charge_id`.
    pub charge_id: String,
    /// What its invoice payload names.
    pub order: StarsOrder,
    /// `total_amount`: whole Stars.
    pub stars_paid: u32,
    pub paid_at: DateTime<Utc>,
}

/// A Stars payment as the bot hands it to the processor, from its `successful_payment`.
/// The processor records it only once the bot's ledger vouches for it
/// ([`StarsPaid::vouched`]): anyone able to send to the queue could have written it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StarsPaid {
    /// `telegram_payment_charge_id`.
    pub charge_id: String,
    pub invoice_payload: String,
    /// `total_amount`: whole Stars.
    pub total_amount: u32,
}

/// Why the ledger does not vouch for a handed-over Stars payment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StarsUnvouched {
    #[error("the bot's Stars ledger lists no such charge")]
    NotListed,
    #[error("the ledger's charge was paid by another account, or for another invoice or amount")]
    OtherFacts,
    #[error("the charge was refunded before it was recorded: nothing to grant")]
    Refunded,
    #[error("{0}")]
    NotOurs(#[from] StarsOrderError),
}

impl StarsPaid {
    /// The charge, if the ledger lists it as paid by `buyer`, for this payload and
    /// amount (the price the payload names), and not refunded; paid when the ledger says.
    pub fn vouched(
        &self,
        buyer: UserId,
        ledger: &ChargeInLedger,
    ) -> Result<StarsCharge, StarsUnvouched> {
        let order = StarsOrder::parse(&self.invoice_payload)?;
        let ChargeInLedger::Listed {
            user_id,
            amount,
            invoice_payload,
            paid_at,
            refunded,
        } = ledger
        else {
            return Err(StarsUnvouched::NotListed);
        };
        let same = *user_id == buyer.get()
            && order.user_id == buyer
            && invoice_payload.as_deref() == Some(self.invoice_payload.as_str())
            && *amount == self.total_amount
            && order.stars == self.total_amount;
        if !same {
            return Err(StarsUnvouched::OtherFacts);
        }
        if *refunded {
            return Err(StarsUnvouched::Refunded);
        }
        Ok(StarsCharge {
            charge_id: self.charge_id.clone(),
            order,
            stars_paid: self.total_amount,
            paid_at: *paid_at,
        })
    }
}

impl StarsCharge {
    pub fn payment_id(&self) -> PaymentId {
        charge_payment_id(&self.charge_id)
    }

    /// The accepted payment record of this charge, granting the order's tier length in
    /// `private_channel_id`; `None` for an order whose tier length is not a duration.
    pub fn record(&self, private_channel_id: i64) -> Option<ProcessedPayment> {
        let access = AccessDuration::from_seconds(self.order.tier_seconds).ok()?;
        let purchase = Purchase {
            private_channel_id,
            subscription_days: access.whole_days(),
            duration_seconds: Some(access.seconds()),
            price_amount: f64::from(self.stars_paid),
            price_currency: STARS_PRICE_CURRENCY.into(),
            outcome_amount: None,
            outcome_currency: None,
            overpaid_by: None,
            prorated_from_seconds: None,
            recovered: false,
            star_charge_id: Some(self.charge_id.clone()),
        };
        Some(ProcessedPayment::accepted(
            self.payment_id(),
            self.order.user_id,
            self.order.channel_id,
            self.facts_hash(),
            purchase,
            self.paid_at,
        ))
    }

    /// What Telegram said of the charge, hashed: a redelivery saying otherwise is seen.
    fn facts_hash(&self) -> String {
        let facts = format!(
            "{}|{}|{}",
            self.charge_id,
            self.order.to_payload(),
            self.stars_paid
        );
        hex::encode(Sha256::digest(facts.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::{ChannelId, UserId};

    fn charge(id: &str) -> StarsCharge {
        StarsCharge {
            charge_id: id.into(),
            order: StarsOrder {
                user_id: UserId::new(6271402111).unwrap(),
                channel_id: ChannelId::new(-1003111266231).unwrap(),
                tier_seconds: 2_592_000,
                catalog_version: 3,
                stars: 250,
                recurring: true,
            },
            stars_paid: 250,
            paid_at: "2026-12-05T10:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn only_a_charge_the_ledger_lists_for_this_buyer_payload_and_amount_is_vouched_for() {
        let order = charge("stxA").order;
        let handed = StarsPaid {
            charge_id: "stxA".into(),
            invoice_payload: order.to_payload(),
            total_amount: 250,
        };
        let listed = |user_id, amount, payload: &str, refunded| ChargeInLedger::Listed {
            user_id,
            amount,
            invoice_payload: Some(payload.to_owned()),
            paid_at: "2026-12-05T10:00:00Z".parse().unwrap(),
            refunded,
        };
        let payload = order.to_payload();
        let vouched = handed
            .vouched(order.user_id, &listed(6271402111, 250, &payload, false))
            .unwrap();
        assert_eq!(vouched, charge("stxA"));
        let refusals = [
            (ChargeInLedger::NotListed, StarsUnvouched::NotListed),
            (listed(42, 250, &payload, false), StarsUnvouched::OtherFacts),
            (
                listed(6271402111, 1, &payload, false),
                StarsUnvouched::OtherFacts,
            ),
            (
                listed(6271402111, 250, "s1|another", false),
                StarsUnvouched::OtherFacts,
            ),
            (
                listed(6271402111, 250, &payload, true),
                StarsUnvouched::Refunded,
            ),
        ];
        for (ledger, why) in refusals {
            assert_eq!(handed.vouched(order.user_id, &ledger), Err(why));
        }
        // A message naming another buyer than the payload's is not vouched for either.
        let other = UserId::new(42).unwrap();
        assert_eq!(
            handed.vouched(other, &listed(42, 250, &payload, false)),
            Err(StarsUnvouched::OtherFacts)
        );
    }

    #[test]
    fn a_charge_records_as_a_stars_payment_for_its_buyer_with_its_charge_id() {
        let record = charge("stxA").record(-1002222222222).unwrap();
        assert_eq!(record.payment_id, charge_payment_id("stxA"));
        assert_eq!(record.user_id.get(), 6271402111);
        let purchase = record.purchase.as_ref().unwrap();
        assert_eq!(purchase.private_channel_id, -1002222222222);
        assert_eq!(purchase.duration_seconds, Some(2_592_000));
        assert_eq!(
            (purchase.price_amount, purchase.price_currency.as_str()),
            (250.0, "xtr")
        );
        assert_eq!(purchase.outcome_amount, None, "no payout");
        assert_eq!(purchase.star_charge_id.as_deref(), Some("stxA"));
        // The same charge, delivered again, is the same record.
        assert_eq!(charge("stxA").record(-1002222222222), Some(record.clone()));
        let mut other = charge("stxA");
        other.stars_paid = 1;
        assert_ne!(
            other.record(-1002222222222).unwrap().payload_hash,
            record.payload_hash,
            "a redelivery saying otherwise is seen"
        );
    }
}
