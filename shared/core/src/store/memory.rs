//! An in-memory store with the same conditional semantics as the real backends: the
//! domain and handler tests run on it in microseconds.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Held, PaymentStore, Recorded, StoreError};
use crate::payment::{PaymentReview, ProcessedPayment};

#[derive(Debug, Default)]
pub struct MemoryPaymentStore {
    payments: Mutex<HashMap<i64, ProcessedPayment>>,
    reviews: Mutex<HashMap<i64, PaymentReview>>,
    unavailable: AtomicBool,
}

impl MemoryPaymentStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Simulates an outage: every call answers `Unavailable` until set back.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    pub fn payment(&self, payment_id: i64) -> Option<ProcessedPayment> {
        self.payments.lock().unwrap().get(&payment_id).cloned()
    }

    pub fn review(&self, payment_id: i64) -> Option<PaymentReview> {
        self.reviews.lock().unwrap().get(&payment_id).cloned()
    }

    pub fn payment_count(&self) -> usize {
        self.payments.lock().unwrap().len()
    }

    pub fn review_count(&self) -> usize {
        self.reviews.lock().unwrap().len()
    }

    /// Seeds or overwrites a record, as a test's GIVEN step.
    pub fn put_payment(&self, record: ProcessedPayment) {
        self.payments
            .lock()
            .unwrap()
            .insert(record.payment_id.get(), record);
    }

    fn check_available(&self) -> Result<(), StoreError> {
        if self.unavailable.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable(
                "in-memory store set unavailable".into(),
            ))
        } else {
            Ok(())
        }
    }
}

impl PaymentStore for MemoryPaymentStore {
    async fn record_accepted(&self, record: &ProcessedPayment) -> Result<Recorded, StoreError> {
        self.check_available()?;
        let mut payments = self.payments.lock().unwrap();
        match payments.get(&record.payment_id.get()) {
            Some(existing) => Ok(Recorded::Existing(Box::new(existing.clone()))),
            None => {
                payments.insert(record.payment_id.get(), record.clone());
                Ok(Recorded::New)
            }
        }
    }

    async fn hold_for_review(&self, review: &PaymentReview) -> Result<Held, StoreError> {
        self.check_available()?;
        let mut reviews = self.reviews.lock().unwrap();
        if reviews.contains_key(&review.payment_id.get()) {
            return Ok(Held::AlreadyHeld);
        }
        reviews.insert(review.payment_id.get(), review.clone());
        Ok(Held::New)
    }
}
