//! Held payments and rows only an operator can move: approve (refused for a payment
//! NOWPayments refunded; the decision first, by one conditional write, then the accepted
//! record and the processor message), reject, and resolve.
//!
//! Tests: `super::tests`, `cli/tests/operator.rs`.

use super::{Operator, OperatorError};
use crate::directory::ChannelDirectory;
use crate::ipn::PaymentId;
use crate::payment::ReviewDecision;
use crate::queue::{MessageQueue, ProcessorMessage};
use crate::review::approved_record;
use crate::store::{
    Decided, IngressStore, OperatorStore, Recorded, Resolution, Resolved, SubscriptionStore,
};
use crate::subscription::{GrantSource, SubscriptionKey};

impl<S: OperatorStore + IngressStore + SubscriptionStore> Operator<'_, S> {
    /// Grants a held payment. The decision comes first, with one conditional write, so
    /// a concurrent reject either wins (nothing is granted) or loses; then the accepted
    /// record (the reconciler finds it if the send fails), then the processor message.
    /// A retry of an approval that stopped half-way completes it.
    pub async fn approve(
        &self,
        payment_id: PaymentId,
        directory: &ChannelDirectory,
        processor_queue: &impl MessageQueue,
    ) -> Result<(), OperatorError> {
        let review = self
            .store
            .get_review(payment_id)
            .await?
            .ok_or(OperatorError::ReviewNotFound(payment_id.get()))?;
        // A short top-up is a part of its purchase: approving it alone would grant the
        // tier beside the purchase's own completion.
        if let Some(purchase_id) = crate::ipn::Ipn::parse(review.ipn.as_bytes())
            .ok()
            .and_then(|ipn| crate::order::OrderRef::parse(ipn.order_id.as_deref()).ok())
            .and_then(|order| order.topup_of)
        {
            return Err(OperatorError::TopUpPart {
                payment_id: payment_id.get(),
                purchase_id: purchase_id.get(),
            });
        }
        // What it would become, checked before anything is decided.
        let approved = approved_record(&review, directory, self.clock.now())?;
        // A refund recorded ahead of the grant: nothing to grant. (One that lands after
        // this check is found by the processor's grant, which then pays nothing out.)
        if let Some(purchase) = &approved.purchase {
            let key = SubscriptionKey::new(approved.user_id, purchase.private_channel_id);
            let source = GrantSource::Payment(payment_id.get());
            if let Some(subscription) = self.store.get_subscription(key).await?
                && subscription.is_refunded(&source)
            {
                return Err(OperatorError::Refunded(payment_id.get()));
            }
        }
        match review.decision {
            None => self.decide(payment_id, ReviewDecision::Approved).await?,
            Some(ReviewDecision::Approved) => {
                if self.store.get_payment(payment_id).await?.is_some() {
                    return Err(OperatorError::AlreadyDecided {
                        payment_id: payment_id.get(),
                        decision: ReviewDecision::Approved.as_str(),
                    });
                }
                // Decided, never recorded: finish what the earlier approval started.
            }
            Some(decision) => {
                return Err(OperatorError::AlreadyDecided {
                    payment_id: payment_id.get(),
                    decision: decision.as_str(),
                });
            }
        }
        let purchase = approved
            .purchase
            .clone()
            .expect("an approved record carries its purchase");
        let record = match self.store.record_accepted(&approved).await? {
            Recorded::New => approved,
            Recorded::Existing(stored) => *stored,
        };
        let message = ProcessorMessage::from_record(&record, &purchase);
        processor_queue.send(payment_id, &message.to_json()).await?;
        Ok(())
    }
}

impl<S: OperatorStore> Operator<'_, S> {
    /// Settles a row only an operator can move: with the purchase it lacks (then queued
    /// for processing like any payment), or as handled outside this system.
    pub async fn resolve(
        &self,
        payment_id: PaymentId,
        resolution: &Resolution,
        processor_queue: &impl MessageQueue,
    ) -> Result<(), OperatorError> {
        // A purchase without a length would be invited and never removed: refused before
        // anything is written, as `extend` refuses it.
        if let Resolution::SupplyPurchase(purchase) = resolution
            && purchase.access().is_none()
        {
            return Err(OperatorError::BadLength(purchase.subscription_days));
        }
        match self
            .store
            .resolve_needs_operator(payment_id, resolution, self.clock.now())
            .await?
        {
            Resolved::Done => {}
            Resolved::NotNeeded => return Err(OperatorError::NoOperatorNeeded(payment_id.get())),
            Resolved::NotFound => return Err(OperatorError::PaymentNotFound(payment_id.get())),
        }
        if let Resolution::SupplyPurchase(purchase) = resolution {
            let record = self.payment(payment_id).await?;
            let message = ProcessorMessage::from_record(&record, purchase);
            processor_queue.send(payment_id, &message.to_json()).await?;
        }
        Ok(())
    }

    /// Records that a held payment is not granted; refused once it is granted.
    pub async fn reject(&self, payment_id: PaymentId) -> Result<(), OperatorError> {
        if self.store.get_payment(payment_id).await?.is_some() {
            return Err(OperatorError::AlreadyGranted(payment_id.get()));
        }
        self.decide(payment_id, ReviewDecision::Rejected).await
    }

    pub(super) async fn decide(
        &self,
        payment_id: PaymentId,
        decision: ReviewDecision,
    ) -> Result<(), OperatorError> {
        match self
            .store
            .decide_review(payment_id, decision, self.clock.now())
            .await?
        {
            Decided::Done => Ok(()),
            Decided::AlreadyDecided(Some(earlier)) if earlier == decision => Ok(()),
            Decided::AlreadyDecided(earlier) => Err(OperatorError::AlreadyDecided {
                payment_id: payment_id.get(),
                decision: earlier.map_or("decided", |d| d.as_str()),
            }),
            Decided::NotFound => Err(OperatorError::ReviewNotFound(payment_id.get())),
        }
    }
}
