//! An operator's approval of a held payment: what record it becomes.
//!
//! Tests: below, and `super::operator`'s.

use chrono::{DateTime, Utc};

use crate::directory::{ChannelDirectory, Tier, TierMismatch};
use crate::ipn::Ipn;
use crate::order::OrderRef;
use crate::payment::{PaymentReview, ProcessedPayment, Purchase, payload_hash};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApproveError {
    #[error("the stored IPN is no longer readable: {0}")]
    Ipn(String),
    #[error("its order_id names no user and channel ({0}); it cannot be granted automatically")]
    OrderId(String),
    #[error("channel {0} is not in the channel directory: add it first, then approve again")]
    UnknownChannel(i64),
}

/// The accepted record an approved review becomes. The operator's approval overrides the
/// price check and the repeat-deposit rule; the buyer, channel and directory entry must
/// still be known. It grants the length of the tier its order names; an order from before
/// tiers were named, the tier its price matches, else the channel's first tier's length.
pub fn approved_record(
    review: &PaymentReview,
    directory: &ChannelDirectory,
    now: DateTime<Utc>,
) -> Result<ProcessedPayment, ApproveError> {
    let ipn = Ipn::parse(review.ipn.as_bytes()).map_err(|e| ApproveError::Ipn(e.to_string()))?;
    let order = OrderRef::parse(ipn.order_id.as_deref())
        .map_err(|e| ApproveError::OrderId(e.to_string()))?;
    let entry = directory
        .channel(order.channel_id)
        .ok_or(ApproveError::UnknownChannel(order.channel_id.get()))?;
    // The tier the order names (the buyer's choice, whatever was paid), else the tier
    // the price matches, else the channel's first.
    let ordered = order
        .tier_seconds
        .and_then(|seconds| directory.tier_of_length(order.channel_id, seconds))
        .and_then(Tier::access);
    let access = match ordered {
        Some(access) => access,
        None => match directory.match_payment(
            order.channel_id,
            None,
            ipn.price_amount,
            ipn.price_currency.as_deref(),
        ) {
            Ok(grant) => grant.access,
            Err(TierMismatch::PriceMismatch | TierMismatch::UnknownChannel) => entry.tiers[0]
                .access()
                .expect("the directory validated every tier's length"),
        },
    };
    let purchase = Purchase::from_ipn(&ipn, entry.private_channel_id, access);
    Ok(ProcessedPayment::accepted(
        ipn.payment_id,
        order.user_id,
        order.channel_id,
        payload_hash(&ipn),
        purchase,
        now,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{SAMPLE_DIRECTORY, SAMPLE_IPN};
    use crate::ipn::PaymentId;
    use crate::payment::HoldReason;

    fn review(ipn: String) -> PaymentReview {
        PaymentReview {
            payment_id: PaymentId::new(4492847470).unwrap(),
            reason: HoldReason::PriceMismatch,
            ipn,
            received_at: Utc::now(),
            decision: None,
            decided_at: None,
        }
    }

    #[test]
    fn an_approved_price_mismatch_becomes_an_accepted_record_for_the_buyer() {
        let directory = ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap();
        let cheap = SAMPLE_IPN.replace("\"price_amount\":3.21", "\"price_amount\":1.5");
        let record = approved_record(&review(cheap), &directory, Utc::now()).unwrap();
        assert_eq!(record.user_id.get(), 6271402111);
        let purchase = record.purchase.unwrap();
        assert_eq!(
            (purchase.price_amount, purchase.subscription_days),
            (1.5, 30)
        );
    }

    #[test]
    fn an_unknown_channel_or_unreadable_order_cannot_be_approved() {
        let directory = ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap();
        let elsewhere = SAMPLE_IPN.replace("-1003111266231", "-1009999999999");
        assert_eq!(
            approved_record(&review(elsewhere), &directory, Utc::now()),
            Err(ApproveError::UnknownChannel(-1009999999999))
        );
        let no_order = SAMPLE_IPN.replace("PGP-6271402111|-1003111266231", "ORDER-7");
        assert!(matches!(
            approved_record(&review(no_order), &directory, Utc::now()),
            Err(ApproveError::OrderId(_))
        ));
    }
}
