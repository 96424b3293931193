//! The owner's refund of a Telegram Stars payment (`telepay payments refund`): the Stars
//! go back (`refundStarPayment`; one refunded before counts as done), then the time the
//! charge bought is taken out of its buyer's subscription, once. Telegram's
//! `refunded_payment`, which follows, finds it already applied. A crypto payment is
//! refunded in the NOWPayments dashboard, whose IPN takes its time back.
//!
//! Tests: `super::tests`, and through the fake Bot API in `cli/tests/operator.rs`.

use serde::Serialize;
use tracing::warn;

use super::{Operator, OperatorError};
use crate::access::{Refunded, refund_time};
use crate::ipn::PaymentId;
use crate::metrics::{self, signal};
use crate::store::{OperatorStore, SubscriptionStore};
use crate::subscription::{GrantSource, LifecycleSettings, SubscriptionKey};
use crate::telegram::StarsPayments;

/// What a Stars refund did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StarsRefund {
    pub payment_id: i64,
    pub charge_id: String,
    pub stars: f64,
    /// The subscription's end now; none when the charge had granted nothing yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// False when its time had been taken back before (a refund seen twice).
    pub time_taken_back: bool,
}

impl<S: OperatorStore + SubscriptionStore> Operator<'_, S> {
    pub async fn refund_stars<T: StarsPayments>(
        &self,
        payment_id: PaymentId,
        telegram: &T,
        settings: &LifecycleSettings,
    ) -> Result<StarsRefund, OperatorError> {
        let record = self.payment(payment_id).await?;
        let id = payment_id.get();
        let purchase = record
            .purchase
            .as_ref()
            .filter(|purchase| purchase.star_charge_id.is_some())
            .ok_or(OperatorError::NotStars(id))?;
        let charge_id = purchase.star_charge_id.clone().unwrap_or_default();
        telegram
            .refund_star_payment(record.user_id.get(), &charge_id)
            .await
            .map_err(|reason| OperatorError::Telegram {
                payment_id: id,
                reason,
            })?;
        let key = SubscriptionKey::new(record.user_id, purchase.private_channel_id);
        let source = GrantSource::Payment(id);
        let refunded = Box::pin(refund_time(
            self.store,
            key,
            &source,
            self.clock.now(),
            settings,
        ))
        .await
        .map_err(|err| match err {
            crate::access::LedgerError::Store(err) => OperatorError::Store(err),
            crate::access::LedgerError::Contended(key) => OperatorError::SubscriptionBusy(key),
        })?;
        let (expires_at, time_taken_back) = match refunded {
            Refunded::Now { expires_at } => (Some(expires_at), true),
            Refunded::AheadOfGrant => (None, true),
            Refunded::Already => (None, false),
        };
        warn!(payment_id = id, charge_id, "Stars refunded by the owner");
        metrics::count(signal::STARS_REFUNDED);
        Ok(StarsRefund {
            payment_id: id,
            charge_id,
            stars: purchase.price_amount,
            expires_at,
            time_taken_back,
        })
    }
}
