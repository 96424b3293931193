//! Messages between the stages, and the queue port they travel through.

pub mod memory;

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::ipn::PaymentId;
use crate::order::{ChannelId, UserId};
use crate::payment::{ProcessedPayment, Purchase};

/// Bumped when a field changes meaning; consumers refuse versions they do not know.
pub const PROCESSOR_MESSAGE_VERSION: u32 = 1;

/// The np-webhook → payment-processor message. `payment_id` is the key every consumer
/// dedupes on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessorMessage {
    pub v: u32,
    pub payment_id: PaymentId,
    pub user_id: UserId,
    pub channel_id: ChannelId,
    pub purchase: Purchase,
}

impl ProcessorMessage {
    /// Built from the stored record (the source of truth once it exists); `fallback` fills
    /// the purchase for rows written before this project, which have none stored.
    pub fn from_record(record: &ProcessedPayment, fallback: &Purchase) -> Self {
        Self {
            v: PROCESSOR_MESSAGE_VERSION,
            payment_id: record.payment_id,
            user_id: record.user_id,
            channel_id: record.channel_id,
            purchase: record.purchase.clone().unwrap_or_else(|| fallback.clone()),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a processor message always serializes")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue did not take the message; the caller must not report success.
    #[error("queue unavailable: {0}")]
    Unavailable(String),
}

/// A queue that takes a message body keyed by payment id (SQS in Lambda).
pub trait MessageQueue: Send + Sync {
    fn send(
        &self,
        payment_id: PaymentId,
        body: &str,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
}
