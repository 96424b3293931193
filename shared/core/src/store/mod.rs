//! The payment store: `processed_payments` and `payment_reviews`, in the payment domain's
//! words. Every state change is one conditional write in the backend; nothing here reads
//! before it writes. Backends: [`memory`] here, DynamoDB in `telepay-shared`.

pub mod memory;

use std::future::Future;

use crate::payment::{PaymentReview, ProcessedPayment};

/// What the ingress write found.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// The record did not exist and now does.
    New,
    /// A record with this payment_id was already there; it is returned as stored and left
    /// unchanged (no extra read: DynamoDB returns it with the failed condition).
    Existing(Box<ProcessedPayment>),
}

/// What holding a payment for review found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    New,
    /// An entry for this payment_id was already waiting; the first one is kept.
    AlreadyHeld,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend did not answer or refused for now (network, throttling, missing table):
    /// the caller must not proceed and the event must be retried.
    #[error("payment store unavailable: {0}")]
    Unavailable(String),
    /// A stored item this code cannot read: needs a human, never a guess.
    #[error("payment {payment_id} is stored in a shape this version cannot read: {detail}")]
    Corrupt { payment_id: i64, detail: String },
}

/// The `processed_payments` and `payment_reviews` tables.
pub trait PaymentStore: Send + Sync {
    /// Writes `record` only if no record with its payment_id exists (one conditional put).
    fn record_accepted(
        &self,
        record: &ProcessedPayment,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;

    /// Writes `review` only if no review with its payment_id exists.
    fn hold_for_review(
        &self,
        review: &PaymentReview,
    ) -> impl Future<Output = Result<Held, StoreError>> + Send;
}
